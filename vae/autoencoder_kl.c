/* AutoencoderKL: the Stable Diffusion VAE family (SD 1.x/2.x, SDXL, SD3, FLUX.1) and the LDM
 * "VQGAN-KL" VA-VAE f16d32 of LightningDiT, as one model with options
 * (reference: /work/shared/reference/models.md sections 2.3, 2.4 and 4).
 *
 *   encode: x -> conv_in -> down blocks (resnets [+ attention], downsample) -> mid (resnet,
 *           attention, resnet) -> GN, SiLU, conv_out -> [quant_conv] -> mean | logvar
 *           -> z = mean [+ exp(logvar/2) * noise] -> model latents (z - m) * a
 *   decode: model latents -> z = z' / a + m -> [post_quant_conv] -> conv_in -> mid -> up
 *           blocks (resnets [+ attention], upsample) -> GN, SiLU, conv_out
 * with m, a per channel: m = shift (or the per-channel latent mean), a = scale (/ the
 * per-channel latent std). GroupNorm eps 1e-6 throughout.
 *
 * Configuration is read from the tensors:
 *   levels            number of encoder down blocks (or decoder up blocks); f = 2^(levels-1)
 *   block_out_channels  conv1 output channels of each level's first resnet
 *   layers_per_block  resnets per encoder level; decoder levels have their own count (+1)
 *   attention         mid-block attention when its tensors exist; per-level attention (after
 *                     every resnet of that level, VA-VAE's attn_resolutions) likewise
 *   latent channels   decoder conv_in input (= encoder conv_out output / 2), or the
 *                     quant_conv / post_quant_conv embedding width when those exist
 * and from the safetensors metadata (flat keys win over the `config` JSON):
 *   sinter.vae.family            sd | sdxl | sd3 | flux1 | vavae
 *   sinter.vae.norm_num_groups   GroupNorm groups (default 32)
 *   sinter.vae.scaling_factor    overrides the family constant
 *   sinter.vae.shift_factor      overrides the family constant
 *   sinter.vae.latents_mean/std  JSON arrays, per-channel latent statistics
 *   config                       a diffusers config.json as JSON; reads norm_num_groups,
 *                                scaling_factor, shift_factor, latents_mean, latents_std
 *   modelspec.architecture       (full checkpoints) "...xl..." -> sdxl, "...v3..."/"sd3" ->
 *                                sd3, when the shapes leave it open
 * and, in a full checkpoint (the VAE under a prefix), from the other models' names: a
 * denoiser with joint_blocks (MMDiT) -> sd3, double_blocks -> flux1, conditioner.embedders.
 * (two text encoders) -> sdxl.
 *
 * Family rules (the shapes cannot tell SD from SDXL nor SD3 from FLUX.1):
 *   4 latent channels with quant convs   -> sd (scale 0.18215); sdxl (0.13025) when the kind,
 *                                          the metadata family, modelspec.architecture, a
 *                                          metadata scaling_factor of 0.13025 or the rest of
 *                                          a full checkpoint says so
 *   16 latent channels, no quant convs   -> flux1 (scale 0.3611, shift 0.1159); sd3 (1.5305,
 *                                          0.0609) when the kind, the metadata family,
 *                                          modelspec.architecture, a metadata scaling_factor
 *                                          of 1.5305 or the rest of the checkpoint says so
 *   32 latent channels with quant convs  -> vavae: per-channel (z - mean) / std, mean and std
 *                                          taken from, in order: tensors `latents_mean` and
 *                                          `latents_std` in the checkpoint (any shape with C
 *                                          elements, under the same prefix as the VAE), the
 *                                          metadata arrays above, or a `latents_stats.pt` /
 *                                          `latents_stats.safetensors` file beside the
 *                                          checkpoint holding tensors `mean` and `std` (the
 *                                          file LightningDiT ships). Loading fails without.
 * Any other combination is refused with the reason. Other families may carry latents
 * mean/std too (diffusers semantics: (z - mean) * scaling_factor / std).
 *
 * Names: the loader asks for diffusers paths (encoder.down_blocks.i.resnets.j.conv1.weight,
 * mid_block.attentions.0.to_q.weight, ...). kl_name() translates them once into what the
 * file uses: diffusers, diffusers with legacy attention names (query, key, value,
 * proj_attn), or LDM/CompVis (down.i.block.j, nin_shortcut, mid.block_1, mid.attn_1.{norm,
 * q,k,v,proj_out}, norm_out, up.(levels-1-i)). Attention projections may be stored as
 * [C, C] or as 1x1 convs [C, C, 1, 1]. Prefixes tried: none, first_stage_model., vae.,
 * state_dict., state_dict.first_stage_model. (a .ckpt's dict, as weights/pytorch.c names
 * it). Every tensor under encoder./decoder./quant_conv./post_quant_conv. must be used,
 * so a file with structure this model does not know is refused rather than half-run. */
#include <cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/ops.h"
#include "vae.h"

#define KL_MAX_LEVELS 8
#define KL_MAX_RES 8
#define KL_EPS 1e-6f

/* ---------------------------------------------------------------------------------------
 * Families */

typedef struct {
    const char *name, *title;
    int latent_channels;
    int quant_convs;   /* 1: has quant_conv / post_quant_conv */
    float scale, shift;
    int needs_stats;   /* per-channel latent mean/std are part of the model latents */
} kl_family;

static const kl_family kl_families[] = {
    {"sd", "SD 1.x/2.x", 4, 1, 0.18215f, 0.0f, 0},
    {"sdxl", "SDXL", 4, 1, 0.13025f, 0.0f, 0},
    {"sd3", "SD3", 16, 0, 1.5305f, 0.0609f, 0},
    {"flux1", "FLUX.1", 16, 0, 0.3611f, 0.1159f, 0},
    {"vavae", "VA-VAE", 32, 1, 1.0f, 0.0f, 1},
};

static const kl_family *kl_family_named(const char *s) {
    static const struct { const char *alias, *name; } aliases[] = {
        {"sd1", "sd"}, {"sd2", "sd"}, {"sd15", "sd"}, {"sd21", "sd"}, {"sd35", "sd3"},
        {"flux", "flux1"}, {"va-vae", "vavae"},
    };
    for (size_t i = 0; i < sizeof aliases / sizeof *aliases; i++)
        if (!strcmp(s, aliases[i].alias)) s = aliases[i].name;
    for (size_t i = 0; i < sizeof kl_families / sizeof *kl_families; i++)
        if (!strcmp(s, kl_families[i].name)) return &kl_families[i];
    return NULL;
}

/* ---------------------------------------------------------------------------------------
 * Config and weights */

typedef enum { KL_NAMES_DIFFUSERS, KL_NAMES_LEGACY_ATTN, KL_NAMES_LDM } kl_naming;

typedef struct {
    const kl_family *family;
    int levels;
    int block_out[KL_MAX_LEVELS];
    int enc_res, dec_res;                 /* resnets per encoder / decoder level */
    int enc_attn[KL_MAX_LEVELS];          /* level i has attention (diffusers order) */
    int dec_attn[KL_MAX_LEVELS];
    int enc_mid_attn, dec_mid_attn;
    int in_channels, out_channels;
    int z_channels;                       /* decoder conv_in input, encoder conv_out / 2 */
    int latent_channels;                  /* what crosses the interface */
    int has_encoder, has_decoder;
    int quant_conv, post_quant_conv;
    int groups;
    float scale, shift;
} kl_config;

typedef struct { sn_tensor weight, bias; } kl_param; /* conv, linear or norm */

typedef struct {
    kl_param norm1, conv1, norm2, conv2;
    kl_param shortcut; /* empty when in == out channels */
} kl_resnet;

typedef struct { kl_param norm, q, k, v, out; } kl_attn; /* single head over all H*W tokens */

typedef struct {
    kl_resnet res[KL_MAX_RES];
    kl_attn attn[KL_MAX_RES]; /* after res[j], when the level has attention */
    kl_param resample;        /* downsample / upsample conv; empty on the last level */
} kl_level;

typedef struct {
    kl_resnet res[2];
    kl_attn attn; /* empty when the config has no mid attention */
} kl_mid;

typedef struct {
    kl_param conv_in;
    kl_level down[KL_MAX_LEVELS];
    kl_mid mid;
    kl_param norm_out, conv_out;
} kl_encoder;

typedef struct {
    kl_param conv_in;
    kl_mid mid;
    kl_level up[KL_MAX_LEVELS]; /* diffusers order: up[0] is the deepest level */
    kl_param norm_out, conv_out;
} kl_decoder;

typedef struct {
    kl_config cfg;
    kl_encoder enc;
    kl_decoder dec;
    kl_param quant_conv, post_quant_conv;
    sn_tensor lat_mean, lat_mul; /* (1, C, 1, 1): model latents = (z - lat_mean) * lat_mul */
} kl_model;

/* ---------------------------------------------------------------------------------------
 * Names: diffusers path -> the file's name */

static void kl_name(kl_naming nm, int levels, const char *path, char *out, size_t cap) {
    char buf[256], num[16];
    char *tok[24];
    int n = 0;
    snprintf(buf, sizeof buf, "%s", path);
    tok[n++] = buf;
    for (char *p = buf; *p && n < 24; p++)
        if (*p == '.') *p = 0, tok[n++] = p + 1;
    const char *o[24];
    int k = 0, in_attn = 0;
    for (int i = 0; i < n; i++) {
        const char *t = tok[i], *next = i + 1 < n ? tok[i + 1] : "";
        int mid = i > 0 && !strcmp(tok[i - 1], "mid_block");
        if (!strcmp(t, "attentions")) in_attn = 1;
        if (nm == KL_NAMES_LDM) {
            if (!strcmp(t, "down_blocks")) {
                o[k++] = "down";
            } else if (!strcmp(t, "up_blocks")) {
                o[k++] = "up";
                snprintf(num, sizeof num, "%d", levels - 1 - atoi(next));
                o[k++] = num;
                i++;
            } else if (!strcmp(t, "mid_block")) {
                o[k++] = "mid";
            } else if (!strcmp(t, "resnets")) {
                if (mid) o[k++] = !strcmp(next, "0") ? "block_1" : "block_2", i++;
                else o[k++] = "block";
            } else if (!strcmp(t, "attentions")) {
                if (mid) o[k++] = "attn_1", i++;
                else o[k++] = "attn";
            } else if (!strcmp(t, "downsamplers")) {
                o[k++] = "downsample", i++;
            } else if (!strcmp(t, "upsamplers")) {
                o[k++] = "upsample", i++;
            } else if (!strcmp(t, "conv_norm_out")) {
                o[k++] = "norm_out";
            } else if (!strcmp(t, "conv_shortcut")) {
                o[k++] = "nin_shortcut";
            } else if (in_attn && !strcmp(t, "group_norm")) {
                o[k++] = "norm";
            } else if (in_attn && !strcmp(t, "to_q")) {
                o[k++] = "q";
            } else if (in_attn && !strcmp(t, "to_k")) {
                o[k++] = "k";
            } else if (in_attn && !strcmp(t, "to_v")) {
                o[k++] = "v";
            } else if (in_attn && !strcmp(t, "to_out")) {
                o[k++] = "proj_out", i++;
            } else {
                o[k++] = t;
            }
        } else if (nm == KL_NAMES_LEGACY_ATTN && in_attn) {
            if (!strcmp(t, "to_q")) o[k++] = "query";
            else if (!strcmp(t, "to_k")) o[k++] = "key";
            else if (!strcmp(t, "to_v")) o[k++] = "value";
            else if (!strcmp(t, "to_out")) o[k++] = "proj_attn", i++;
            else o[k++] = t;
        } else {
            o[k++] = t;
        }
    }
    size_t len = 0;
    out[0] = 0;
    for (int i = 0; i < k; i++)
        len += snprintf(out + len, len < cap ? cap - len : 0, "%s%s", i ? "." : "", o[i]);
}

/* ---------------------------------------------------------------------------------------
 * Load */

typedef struct {
    sn_ctx *ctx;
    sn_ckpt *ck;
    kl_naming naming;
    int levels;
    const sn_ckpt_entry **used;
    int n_used, cap_used;
    int64_t n_params;
} kl_loader;

static const sn_ckpt_entry *kl_entry(kl_loader *ld, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static const sn_ckpt_entry *kl_entry(kl_loader *ld, const char *fmt, ...) {
    char path[256], name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    kl_name(ld->naming, ld->levels, path, name, sizeof name);
    return sn_ckpt_find(ld->ck, name);
}

static void kl_mark_used(kl_loader *ld, const char *name) {
    const sn_ckpt_entry *e = sn_ckpt_find(ld->ck, name);
    if (!e) return;
    if (ld->n_used == ld->cap_used) {
        int nc = ld->cap_used ? 2 * ld->cap_used : 256;
        const sn_ckpt_entry **p = realloc(ld->used, nc * sizeof *p);
        if (!p) {
            sn_fail(ld->ctx, "out of memory loading %s", sn_ckpt_path(ld->ck));
            return;
        }
        ld->used = p;
        ld->cap_used = nc;
    }
    ld->used[ld->n_used++] = e;
}

/* Binds `<prefix>.<leaf>` (a diffusers path) with the given shape. */
static sn_tensor kl_bind(kl_loader *ld, const char *prefix, const char *leaf, int ndim,
                         const int64_t *shape) {
    char path[256], name[256];
    snprintf(path, sizeof path, "%s.%s", prefix, leaf);
    kl_name(ld->naming, ld->levels, path, name, sizeof name);
    sn_tensor t = sn_ckpt_bind(ld->ctx, ld->ck, name, sn_ctx_dtype(ld->ctx), ndim, shape);
    if (sn_has(t)) {
        kl_mark_used(ld, name);
        ld->n_params += sn_numel(t);
    }
    return t;
}

static void bind_conv(kl_loader *ld, kl_param *p, int cout, int cin, int k, const char *prefix) {
    p->weight = kl_bind(ld, prefix, "weight", SN_SHAPE(cout, cin, k, k));
    p->bias = kl_bind(ld, prefix, "bias", SN_SHAPE(cout));
}

static void bind_norm(kl_loader *ld, kl_param *p, int c, const char *prefix) {
    p->weight = kl_bind(ld, prefix, "weight", SN_SHAPE(c));
    p->bias = kl_bind(ld, prefix, "bias", SN_SHAPE(c));
}

/* An attention projection: Linear [C, C] (diffusers) or 1x1 Conv2d [C, C, 1, 1] (LDM). */
static void bind_proj(kl_loader *ld, kl_param *p, int c, const char *prefix) {
    const sn_ckpt_entry *e = kl_entry(ld, "%s.weight", prefix);
    if (e && e->ndim == 4)
        p->weight = sn_reshape(kl_bind(ld, prefix, "weight", SN_SHAPE(c, c, 1, 1)), SN_SHAPE(c, c));
    else
        p->weight = kl_bind(ld, prefix, "weight", SN_SHAPE(c, c));
    p->bias = kl_bind(ld, prefix, "bias", SN_SHAPE(c));
}

static void load_resnet(kl_loader *ld, kl_resnet *r, int cin, int cout, const char *prefix) {
    char p[200];
    snprintf(p, sizeof p, "%s.norm1", prefix), bind_norm(ld, &r->norm1, cin, p);
    snprintf(p, sizeof p, "%s.conv1", prefix), bind_conv(ld, &r->conv1, cout, cin, 3, p);
    snprintf(p, sizeof p, "%s.norm2", prefix), bind_norm(ld, &r->norm2, cout, p);
    snprintf(p, sizeof p, "%s.conv2", prefix), bind_conv(ld, &r->conv2, cout, cout, 3, p);
    if (cin != cout)
        snprintf(p, sizeof p, "%s.conv_shortcut", prefix),
            bind_conv(ld, &r->shortcut, cout, cin, 1, p);
}

static void load_attn(kl_loader *ld, kl_attn *a, int c, const char *prefix) {
    char p[200];
    snprintf(p, sizeof p, "%s.group_norm", prefix), bind_norm(ld, &a->norm, c, p);
    snprintf(p, sizeof p, "%s.to_q", prefix), bind_proj(ld, &a->q, c, p);
    snprintf(p, sizeof p, "%s.to_k", prefix), bind_proj(ld, &a->k, c, p);
    snprintf(p, sizeof p, "%s.to_v", prefix), bind_proj(ld, &a->v, c, p);
    snprintf(p, sizeof p, "%s.to_out.0", prefix), bind_proj(ld, &a->out, c, p);
}

static void load_mid(kl_loader *ld, kl_mid *m, int c, int attn, const char *side) {
    char p[200];
    snprintf(p, sizeof p, "%s.mid_block.resnets.0", side), load_resnet(ld, &m->res[0], c, c, p);
    if (attn) snprintf(p, sizeof p, "%s.mid_block.attentions.0", side), load_attn(ld, &m->attn, c, p);
    snprintf(p, sizeof p, "%s.mid_block.resnets.1", side), load_resnet(ld, &m->res[1], c, c, p);
}

static void load_encoder(kl_loader *ld, kl_encoder *e, const kl_config *c) {
    char p[200];
    int ch = c->block_out[0];
    bind_conv(ld, &e->conv_in, ch, c->in_channels, 3, "encoder.conv_in");
    for (int i = 0; i < c->levels; i++) {
        int out = c->block_out[i];
        for (int j = 0; j < c->enc_res; j++) {
            snprintf(p, sizeof p, "encoder.down_blocks.%d.resnets.%d", i, j);
            load_resnet(ld, &e->down[i].res[j], j ? out : ch, out, p);
            if (c->enc_attn[i])
                snprintf(p, sizeof p, "encoder.down_blocks.%d.attentions.%d", i, j),
                    load_attn(ld, &e->down[i].attn[j], out, p);
        }
        ch = out;
        if (i < c->levels - 1)
            snprintf(p, sizeof p, "encoder.down_blocks.%d.downsamplers.0.conv", i),
                bind_conv(ld, &e->down[i].resample, ch, ch, 3, p);
    }
    load_mid(ld, &e->mid, ch, c->enc_mid_attn, "encoder");
    bind_norm(ld, &e->norm_out, ch, "encoder.conv_norm_out");
    bind_conv(ld, &e->conv_out, 2 * c->z_channels, ch, 3, "encoder.conv_out");
}

static void load_decoder(kl_loader *ld, kl_decoder *d, const kl_config *c) {
    char p[200];
    int ch = c->block_out[c->levels - 1];
    bind_conv(ld, &d->conv_in, ch, c->z_channels, 3, "decoder.conv_in");
    load_mid(ld, &d->mid, ch, c->dec_mid_attn, "decoder");
    for (int i = 0; i < c->levels; i++) {
        int out = c->block_out[c->levels - 1 - i];
        for (int j = 0; j < c->dec_res; j++) {
            snprintf(p, sizeof p, "decoder.up_blocks.%d.resnets.%d", i, j);
            load_resnet(ld, &d->up[i].res[j], j ? out : ch, out, p);
            if (c->dec_attn[i])
                snprintf(p, sizeof p, "decoder.up_blocks.%d.attentions.%d", i, j),
                    load_attn(ld, &d->up[i].attn[j], out, p);
        }
        ch = out;
        if (i < c->levels - 1)
            snprintf(p, sizeof p, "decoder.up_blocks.%d.upsamplers.0.conv", i),
                bind_conv(ld, &d->up[i].resample, ch, ch, 3, p);
    }
    bind_norm(ld, &d->norm_out, ch, "decoder.conv_norm_out");
    bind_conv(ld, &d->conv_out, c->out_channels, ch, 3, "decoder.conv_out");
}

/* --- metadata ----------------------------------------------------------------------------- */

typedef struct {
    const sn_ckpt *ck;
    cJSON *config;          /* the `config` metadata JSON, or NULL */
    const char *file_hint;  /* "sdxl", "sd3", "flux1" from a full checkpoint's other names */
} kl_meta;

/* The flat key "sinter.vae.<key>" as a string, or NULL. */
static const char *meta_flat(const kl_meta *m, const char *key) {
    char k[96];
    snprintf(k, sizeof k, "sinter.vae.%s", key);
    return sn_ckpt_meta(m->ck, k);
}

/* A number from the flat key or the config JSON. Returns 1 if found, 0 if absent, -1 if
 * present but not a number. */
static int meta_number(const kl_meta *m, const char *key, double *v) {
    const char *s = meta_flat(m, key);
    if (s) {
        char *end;
        *v = strtod(s, &end);
        return end != s && *end == 0 ? 1 : -1;
    }
    const cJSON *j = m->config ? cJSON_GetObjectItemCaseSensitive(m->config, key) : NULL;
    if (!j || cJSON_IsNull(j)) return 0;
    if (!cJSON_IsNumber(j)) return -1;
    *v = j->valuedouble;
    return 1;
}

/* n floats from a JSON array (flat key holding JSON text, or config JSON). 1 found, 0
 * absent, -1 malformed. */
static int meta_array(const kl_meta *m, const char *key, float *dst, int n) {
    const char *s = meta_flat(m, key);
    cJSON *parsed = s ? cJSON_Parse(s) : NULL;
    const cJSON *arr = s ? parsed
                         : (m->config ? cJSON_GetObjectItemCaseSensitive(m->config, key) : NULL);
    int r = 0;
    if (s || (arr && !cJSON_IsNull(arr))) {
        r = -1;
        if (cJSON_IsArray(arr) && cJSON_GetArraySize(arr) == n) {
            r = 1;
            for (int i = 0; i < n; i++) {
                const cJSON *e = cJSON_GetArrayItem(arr, i);
                if (!cJSON_IsNumber(e)) r = -1;
                else dst[i] = (float)e->valuedouble;
            }
        }
    }
    cJSON_Delete(parsed);
    return r;
}

/* Per-channel latent statistics (module comment: where they are looked for). Returns 1 with
 * mean/std filled, 0 when there are none, -1 with the context error set when malformed. */
static int load_latent_stats(sn_ctx *ctx, const sn_ckpt *ck, const kl_meta *m, int c,
                             float *mean, float *std) {
    const sn_ckpt_entry *em = sn_ckpt_find(ck, "latents_mean"), *es = sn_ckpt_find(ck, "latents_std");
    const char *where = sn_ckpt_path(ck);
    sn_ckpt *side = NULL;
    int found = 0;
    if (em || es) {
        found = 1;
    } else {
        int a = meta_array(m, "latents_mean", mean, c), b = meta_array(m, "latents_std", std, c);
        if (a < 0 || b < 0 || a != b) {
            sn_fail(ctx, "%s: metadata latents_mean/latents_std must both be arrays of %d numbers",
                    where, c);
            return -1;
        }
        if (a == 1) return 1;
        /* a latents_stats file beside the checkpoint (LightningDiT ships latents_stats.pt) */
        const char *path = sn_ckpt_path(ck);
        const char *slash = strrchr(path, '/');
        size_t dir = slash ? (size_t)(slash - path + 1) : 0;
        static const char *names[] = {"latents_stats.safetensors", "latents_stats.pt"};
        for (int i = 0; i < 2 && !side; i++) {
            char p[4096], err[512];
            snprintf(p, sizeof p, "%.*s%s", (int)dir, path, names[i]);
            FILE *f = fopen(p, "rb");
            if (!f) continue;
            fclose(f);
            side = sn_ckpt_open(p, err, sizeof err);
            if (!side) {
                sn_fail(ctx, "%s", err);
                return -1;
            }
        }
        if (!side) return 0;
        em = sn_ckpt_find(side, "mean");
        es = sn_ckpt_find(side, "std");
        where = sn_ckpt_path(side);
        found = 1;
    }
    int ok = found && em && es && sn_ckpt_entry_numel(em) == c && sn_ckpt_entry_numel(es) == c &&
             !sn_ckpt_entry_to_f32(em, mean) && !sn_ckpt_entry_to_f32(es, std);
    if (!ok)
        sn_fail(ctx, "%s: latent statistics must be two tensors (%s) of %d numbers each", where,
                side ? "mean, std" : "latents_mean, latents_std", c);
    sn_ckpt_close(side);
    return ok ? 1 : -1;
}

/* --- config inference ---------------------------------------------------------------------- */

static int count_entries(kl_loader *ld, const char *fmt, int a, int b_max) {
    int n = 0;
    while (n <= b_max && kl_entry(ld, fmt, a, n)) n++;
    return n;
}

/* Reads the structure from the tensors. Returns 0, or -1 with the context error set. */
static int infer_structure(kl_loader *ld, kl_config *c) {
    sn_ctx *ctx = ld->ctx;
    const char *path = sn_ckpt_path(ld->ck);
    const sn_ckpt_entry *e;
    c->has_encoder = kl_entry(ld, "encoder.conv_in.weight") != NULL;
    c->has_decoder = kl_entry(ld, "decoder.conv_in.weight") != NULL;

    /* levels: the encoder's down blocks (no index reversal), the decoder's up blocks counted
     * under the file's own index (reversed in LDM naming, same count) */
    int lenc = 0, ldec = 0;
    while (lenc <= KL_MAX_LEVELS && kl_entry(ld, "encoder.down_blocks.%d.resnets.0.conv1.weight", lenc))
        lenc++;
    {
        const char *fmt = ld->naming == KL_NAMES_LDM ? "decoder.up.%d.block.0.conv1.weight"
                                                     : "decoder.up_blocks.%d.resnets.0.conv1.weight";
        char name[128];
        for (;;) {
            snprintf(name, sizeof name, fmt, ldec);
            if (ldec > KL_MAX_LEVELS || !sn_ckpt_find(ld->ck, name)) break;
            ldec++;
        }
    }
    if ((c->has_encoder && !lenc) || (c->has_decoder && !ldec)) {
        sn_fail(ctx, "%s: the %s has conv_in but no blocks", path, c->has_encoder && !lenc ? "encoder" : "decoder");
        return -1;
    }
    if (lenc > KL_MAX_LEVELS || ldec > KL_MAX_LEVELS) {
        sn_fail(ctx, "%s: more than %d resolution levels", path, KL_MAX_LEVELS);
        return -1;
    }
    if (c->has_encoder && c->has_decoder && lenc != ldec) {
        sn_fail(ctx, "%s: encoder has %d levels, decoder %d", path, lenc, ldec);
        return -1;
    }
    c->levels = ld->levels = c->has_encoder ? lenc : ldec;

    /* channels per level */
    for (int i = 0; i < c->levels; i++) {
        int ce = 0, cd = 0;
        if (c->has_encoder && (e = kl_entry(ld, "encoder.down_blocks.%d.resnets.0.conv1.weight", i)))
            ce = (int)e->shape[0];
        if (c->has_decoder &&
            (e = kl_entry(ld, "decoder.up_blocks.%d.resnets.0.conv1.weight", c->levels - 1 - i)))
            cd = (int)e->shape[0];
        if (ce && cd && ce != cd) {
            sn_fail(ctx, "%s: level %d has %d channels in the encoder, %d in the decoder", path, i, ce, cd);
            return -1;
        }
        c->block_out[i] = ce ? ce : cd;
        if (c->block_out[i] <= 0) {
            sn_fail(ctx, "%s: level %d: no resnet tensors", path, i);
            return -1;
        }
    }

    /* resnets and attention per level */
    if (c->has_encoder) {
        c->enc_res = count_entries(ld, "encoder.down_blocks.%d.resnets.%d.conv1.weight", 0, KL_MAX_RES);
        for (int i = 0; i < c->levels; i++)
            c->enc_attn[i] = kl_entry(ld, "encoder.down_blocks.%d.attentions.0.group_norm.weight", i) != NULL;
        c->enc_mid_attn = kl_entry(ld, "encoder.mid_block.attentions.0.group_norm.weight") != NULL;
    }
    if (c->has_decoder) {
        c->dec_res = count_entries(ld, "decoder.up_blocks.%d.resnets.%d.conv1.weight", 0, KL_MAX_RES);
        for (int i = 0; i < c->levels; i++)
            c->dec_attn[i] = kl_entry(ld, "decoder.up_blocks.%d.attentions.0.group_norm.weight", i) != NULL;
        c->dec_mid_attn = kl_entry(ld, "decoder.mid_block.attentions.0.group_norm.weight") != NULL;
    }
    if (c->enc_res > KL_MAX_RES || c->dec_res > KL_MAX_RES) {
        sn_fail(ctx, "%s: more than %d resnets per level", path, KL_MAX_RES);
        return -1;
    }

    /* image and latent channels */
    int z_enc = 0, z_dec = 0;
    if (c->has_encoder) {
        e = kl_entry(ld, "encoder.conv_in.weight");
        c->in_channels = e->ndim == 4 ? (int)e->shape[1] : 0;
        e = kl_entry(ld, "encoder.conv_out.weight");
        if (!e || e->ndim != 4 || e->shape[0] % 2) {
            sn_fail(ctx, "%s: encoder conv_out is missing or does not hold mean and logvar", path);
            return -1;
        }
        z_enc = (int)e->shape[0] / 2;
    }
    if (c->has_decoder) {
        e = kl_entry(ld, "decoder.conv_in.weight");
        z_dec = e->ndim == 4 ? (int)e->shape[1] : 0;
        e = kl_entry(ld, "decoder.conv_out.weight");
        c->out_channels = e && e->ndim == 4 ? (int)e->shape[0] : 0;
    }
    if (z_enc && z_dec && z_enc != z_dec) {
        sn_fail(ctx, "%s: encoder makes %d latent channels, decoder takes %d", path, z_enc, z_dec);
        return -1;
    }
    c->z_channels = z_enc ? z_enc : z_dec;
    if (c->z_channels <= 0 || (c->has_encoder && c->in_channels <= 0) ||
        (c->has_decoder && c->out_channels <= 0)) {
        sn_fail(ctx, "%s: cannot read the image/latent channels from conv_in/conv_out", path);
        return -1;
    }

    /* quant convs: the latents live in their embedding space */
    const sn_ckpt_entry *q = c->has_encoder ? sn_ckpt_find(ld->ck, "quant_conv.weight") : NULL;
    const sn_ckpt_entry *pq = c->has_decoder ? sn_ckpt_find(ld->ck, "post_quant_conv.weight") : NULL;
    c->quant_conv = q != NULL;
    c->post_quant_conv = pq != NULL;
    int emb_q = q && q->ndim == 4 && q->shape[0] % 2 == 0 ? (int)q->shape[0] / 2 : 0;
    int emb_pq = pq && pq->ndim == 4 ? (int)pq->shape[1] : 0;
    if ((q && !emb_q) || (pq && !emb_pq) || (emb_q && emb_pq && emb_q != emb_pq)) {
        sn_fail(ctx, "%s: quant_conv and post_quant_conv disagree on the latent channels", path);
        return -1;
    }
    c->latent_channels = emb_q ? emb_q : emb_pq ? emb_pq : c->z_channels;
    if (c->has_encoder && c->has_decoder && c->quant_conv != c->post_quant_conv) {
        sn_fail(ctx, "%s: has %s but not %s", path, c->quant_conv ? "quant_conv" : "post_quant_conv",
                c->quant_conv ? "post_quant_conv" : "quant_conv");
        return -1;
    }
    return 0;
}

/* Picks the family from the kind, metadata and shapes (module comment). */
static const kl_family *pick_family(sn_ctx *ctx, const sn_ckpt *ck, const kl_meta *m,
                                    const kl_family *asked, const kl_config *c) {
    const char *path = sn_ckpt_path(ck);
    int quant = c->quant_conv || c->post_quant_conv;
    const kl_family *f = asked;
    const char *source = "kind";
    if (!f && meta_flat(m, "family")) {
        f = kl_family_named(meta_flat(m, "family"));
        source = "metadata sinter.vae.family";
        if (!f) {
            sn_fail(ctx, "%s: metadata sinter.vae.family '%s' is not an AutoencoderKL family "
                    "(sd, sdxl, sd3, flux1, vavae)", path, meta_flat(m, "family"));
            return NULL;
        }
    }
    if (!f) {
        source = "tensor shapes";
        if (c->latent_channels == 4 && quant) f = kl_family_named("sd");
        else if (c->latent_channels == 16 && !quant) f = kl_family_named("flux1");
        else if (c->latent_channels == 32 && quant) f = kl_family_named("vavae");
        if (!f) {
            sn_fail(ctx, "%s: AutoencoderKL with %d latent channels and %s matches no known "
                    "family (sd/sdxl: 4 with quant convs; sd3/flux1: 16 without; vavae: 32 with)",
                    path, c->latent_channels, quant ? "quant convs" : "no quant convs");
            return NULL;
        }
        /* hints that tell SD from SDXL and FLUX.1 from SD3 */
        const char *arch = sn_ckpt_meta(ck, "modelspec.architecture");
        double scale = 0;
        int has_scale = meta_number(m, "scaling_factor", &scale) == 1;
        const char *hint = m->file_hint ? m->file_hint : "";
        if (!strcmp(f->name, "sd") && ((arch && strstr(arch, "xl")) || !strcmp(hint, "sdxl") ||
                                       (has_scale && fabs(scale - 0.13025) < 1e-6)))
            f = kl_family_named("sdxl");
        if (!strcmp(f->name, "flux1") && ((arch && (strstr(arch, "v3") || strstr(arch, "sd3"))) ||
                                          !strcmp(hint, "sd3") ||
                                          (has_scale && fabs(scale - 1.5305) < 1e-6)))
            f = kl_family_named("sd3");
    }
    if (f->latent_channels != c->latent_channels || f->quant_convs != quant) {
        sn_fail(ctx, "%s: %s says %s (%d latent channels, %s), but the file has %d latent "
                "channels and %s", path, source, f->name, f->latent_channels,
                f->quant_convs ? "quant convs" : "no quant convs", c->latent_channels,
                quant ? "quant convs" : "none");
        return NULL;
    }
    return f;
}

/* ---------------------------------------------------------------------------------------
 * Forward */

static sn_tensor conv(sn_ctx *ctx, sn_tensor x, const kl_param *p, int stride, int pad) {
    sn_conv2d_params cp = {{stride, stride}, {pad, pad}, {1, 1}, 1};
    return sn_conv2d(ctx, x, p->weight, p->bias, &cp);
}

static sn_tensor norm(sn_ctx *ctx, sn_tensor x, const kl_param *p, int groups) {
    return sn_group_norm(ctx, x, groups, p->weight, p->bias, KL_EPS);
}

static sn_tensor norm_silu(sn_ctx *ctx, sn_tensor x, const kl_param *p, int groups) {
    return sn_group_norm_silu(ctx, x, groups, p->weight, p->bias, KL_EPS);
}

/* ResnetBlock2D without time embedding: x' + conv2(SiLU(GN(conv1(SiLU(GN(x)))))). The inner
 * scope drops each half's GN and SiLU outputs once its conv has run (at full resolution
 * every activation counts). */
static sn_tensor resnet_forward(sn_ctx *ctx, const kl_resnet *r, int g, sn_tensor x) {
    sn_scope s = sn_scope_begin(ctx);
    sn_tensor h = conv(ctx, norm_silu(ctx, x, &r->norm1, g), &r->conv1, 1, 1);
    h = sn_scope_end(ctx, s, h);
    h = conv(ctx, norm_silu(ctx, h, &r->norm2, g), &r->conv2, 1, 1);
    sn_tensor skip = sn_has(r->shortcut.weight) ? conv(ctx, x, &r->shortcut, 1, 0) : x;
    return sn_add(ctx, skip, h);
}

/* Single-head self-attention over the H*W positions, with the residual. */
static sn_tensor attn_forward(sn_ctx *ctx, const kl_attn *a, int g, sn_tensor x) {
    int64_t n = x.shape[0], c = x.shape[1], hh = x.shape[2], ww = x.shape[3], l = hh * ww;
    sn_tensor h = norm(ctx, x, &a->norm, g);
    h = sn_permute(ctx, sn_reshape(h, SN_SHAPE(n, c, l)), (const int[]){0, 2, 1}); /* N,HW,C */
    sn_tensor q = sn_reshape(sn_linear(ctx, h, a->q.weight, a->q.bias), SN_SHAPE(n, 1, l, c));
    sn_tensor k = sn_reshape(sn_linear(ctx, h, a->k.weight, a->k.bias), SN_SHAPE(n, 1, l, c));
    sn_tensor v = sn_reshape(sn_linear(ctx, h, a->v.weight, a->v.bias), SN_SHAPE(n, 1, l, c));
    sn_attn_spec spec = {.kind = SN_ATTN_FULL}; /* scale 1/sqrt(C) */
    sn_tensor o = sn_reshape(sn_attention(ctx, q, k, v, &spec), SN_SHAPE(n, l, c));
    o = sn_linear(ctx, o, a->out.weight, a->out.bias);
    o = sn_reshape(sn_permute(ctx, o, (const int[]){0, 2, 1}), SN_SHAPE(n, c, hh, ww));
    return sn_add(ctx, x, o);
}

/* Downsample2D: zero pad right and bottom by one, conv 3x3 stride 2. */
static sn_tensor downsample(sn_ctx *ctx, const kl_param *p, sn_tensor x) {
    return conv(ctx, sn_pad2d(ctx, x, 0, 1, 0, 1), p, 2, 0);
}

/* Upsample2D: nearest x2, conv 3x3. */
static sn_tensor upsample(sn_ctx *ctx, const kl_param *p, sn_tensor x) {
    return conv(ctx, sn_upsample_nearest(ctx, x, 2, 2), p, 1, 1);
}

/* Each block's output replaces its input at the scope's mark, so memory stays bounded by the
 * largest block. `s` must have begun just below `h`. */
static sn_tensor mid_forward(sn_ctx *ctx, const kl_mid *m, int g, sn_scope s, sn_tensor h) {
    h = sn_scope_end(ctx, s, resnet_forward(ctx, &m->res[0], g, h));
    if (sn_has(m->attn.norm.weight)) h = sn_scope_end(ctx, s, attn_forward(ctx, &m->attn, g, h));
    return sn_scope_end(ctx, s, resnet_forward(ctx, &m->res[1], g, h));
}

static sn_tensor level_forward(sn_ctx *ctx, const kl_level *lv, int n_res, int has_attn, int g,
                               sn_scope s, sn_tensor h) {
    for (int j = 0; j < n_res; j++) {
        h = sn_scope_end(ctx, s, resnet_forward(ctx, &lv->res[j], g, h));
        if (has_attn) h = sn_scope_end(ctx, s, attn_forward(ctx, &lv->attn[j], g, h));
    }
    return h;
}

/* x (N, Cin, H, W) -> moments (N, 2 * latent_channels, H/f, W/f). */
static sn_tensor encoder_forward(sn_ctx *ctx, const kl_model *m, sn_tensor x) {
    const kl_config *c = &m->cfg;
    const kl_encoder *e = &m->enc;
    int g = c->groups;
    sn_scope s = sn_scope_begin(ctx);
    sn_tensor h = conv(ctx, x, &e->conv_in, 1, 1);
    for (int i = 0; i < c->levels; i++) {
        h = level_forward(ctx, &e->down[i], c->enc_res, c->enc_attn[i], g, s, h);
        if (i < c->levels - 1) h = sn_scope_end(ctx, s, downsample(ctx, &e->down[i].resample, h));
    }
    h = mid_forward(ctx, &e->mid, g, s, h);
    h = conv(ctx, norm_silu(ctx, h, &e->norm_out, g), &e->conv_out, 1, 1);
    if (c->quant_conv) h = conv(ctx, h, &m->quant_conv, 1, 0);
    return sn_scope_end(ctx, s, h);
}

/* z (N, latent_channels, h, w), unnormalised -> image (N, Cout, h f, w f). */
static sn_tensor decoder_forward(sn_ctx *ctx, const kl_model *m, sn_tensor z) {
    const kl_config *c = &m->cfg;
    const kl_decoder *d = &m->dec;
    int g = c->groups;
    sn_scope s = sn_scope_begin(ctx);
    if (c->post_quant_conv) z = conv(ctx, z, &m->post_quant_conv, 1, 0);
    sn_tensor h = sn_scope_end(ctx, s, conv(ctx, z, &d->conv_in, 1, 1));
    h = mid_forward(ctx, &d->mid, g, s, h);
    for (int i = 0; i < c->levels; i++) {
        h = level_forward(ctx, &d->up[i], c->dec_res, c->dec_attn[i], g, s, h);
        if (i < c->levels - 1) h = sn_scope_end(ctx, s, upsample(ctx, &d->up[i].resample, h));
    }
    h = conv(ctx, norm_silu(ctx, h, &d->norm_out, g), &d->conv_out, 1, 1);
    return sn_scope_end(ctx, s, h);
}

static int downscale(const kl_config *c) { return 1 << (c->levels - 1); }

static sn_tensor kl_encode(sn_ctx *ctx, void *impl, sn_tensor x, sn_tensor noise) {
    const kl_model *m = impl;
    const kl_config *c = &m->cfg;
    if (!sn_ok(ctx)) return sn_none();
    int f = downscale(c);
    if (!c->has_encoder) {
        sn_fail(ctx, "this AutoencoderKL file has no encoder (decoder only)");
        return sn_none();
    }
    if (x.dtype != SN_F32 || x.ndim != 4 || x.shape[1] != c->in_channels || x.shape[2] % f ||
        x.shape[3] % f || !x.shape[2] || !x.shape[3]) {
        char b[96];
        sn_fail(ctx, "AutoencoderKL encode: image %s must be f32 (N, %d, H, W) with H and W "
                "multiples of %d", sn_shape_str(x.shape, x.ndim, b, sizeof b), c->in_channels, f);
        return sn_none();
    }
    int64_t lc = c->latent_channels;
    sn_scope s = sn_scope_begin(ctx);
    /* the network runs in the context's dtype; the latent arithmetic stays in f32 */
    sn_tensor moments = sn_to(ctx, encoder_forward(ctx, m, sn_to(ctx, x, sn_ctx_dtype(ctx))), SN_F32);
    sn_tensor z = sn_slice(ctx, moments, 1, 0, lc);
    if (sn_has(noise)) {
        if (!sn_same_shape(noise, z) || noise.dtype != SN_F32) {
            char a[96], b[96];
            sn_fail(ctx, "AutoencoderKL encode: noise %s must be f32 shaped like the latents %s",
                    sn_shape_str(noise.shape, noise.ndim, a, sizeof a),
                    sn_shape_str(z.shape, z.ndim, b, sizeof b));
            return sn_scope_end(ctx, s, sn_none());
        }
        sn_tensor logvar = sn_clamp(ctx, sn_slice(ctx, moments, 1, lc, lc), -30.0f, 20.0f);
        sn_tensor std = sn_exp(ctx, sn_affine(ctx, logvar, 0.5f, 0.0f));
        z = sn_add(ctx, z, sn_mul(ctx, std, noise));
    }
    z = sn_mul(ctx, sn_sub(ctx, z, m->lat_mean), m->lat_mul);
    return sn_scope_end(ctx, s, z);
}

static sn_tensor kl_decode(sn_ctx *ctx, void *impl, sn_tensor z) {
    const kl_model *m = impl;
    const kl_config *c = &m->cfg;
    if (!sn_ok(ctx)) return sn_none();
    if (!c->has_decoder) {
        sn_fail(ctx, "this AutoencoderKL file has no decoder (encoder only)");
        return sn_none();
    }
    if (z.dtype != SN_F32 || z.ndim != 4 || z.shape[1] != c->latent_channels || !z.shape[2] ||
        !z.shape[3]) {
        char b[96];
        sn_fail(ctx, "AutoencoderKL decode: latents %s must be f32 (N, %d, h, w)",
                sn_shape_str(z.shape, z.ndim, b, sizeof b), c->latent_channels);
        return sn_none();
    }
    sn_scope s = sn_scope_begin(ctx);
    sn_tensor u = sn_add(ctx, sn_div(ctx, z, m->lat_mul), m->lat_mean);
    sn_tensor y = decoder_forward(ctx, m, sn_to(ctx, u, sn_ctx_dtype(ctx)));
    return sn_scope_end(ctx, s, sn_to(ctx, y, SN_F32));
}

static void kl_destroy(void *impl) { free(impl); }

static const sn_vae_ops kl_ops = {kl_encode, kl_decode, kl_destroy};

/* ---------------------------------------------------------------------------------------
 * Entry point */

static const char *const kl_prefixes[] = {"", "first_stage_model.", "vae.", "state_dict.",
                                           "state_dict.first_stage_model."};

static const sn_ckpt_entry *find_pre(const sn_ckpt *ck, const char *pre, const char *name) {
    char b[256];
    snprintf(b, sizeof b, "%s%s", pre, name);
    return sn_ckpt_find(ck, b);
}

/* Everything under the parts this model owns must have been bound. */
static void check_all_used(kl_loader *ld) {
    static const char *const owned[] = {"encoder.", "decoder.", "quant_conv.", "post_quant_conv."};
    for (int i = 0; i < sn_ckpt_count(ld->ck) && sn_ok(ld->ctx); i++) {
        const sn_ckpt_entry *e = sn_ckpt_at(ld->ck, i);
        int mine = 0, used = 0;
        for (int k = 0; k < 4; k++) mine |= !strncmp(e->name, owned[k], strlen(owned[k]));
        if (!mine) continue;
        for (int k = 0; k < ld->n_used && !used; k++) used = !strcmp(ld->used[k]->name, e->name);
        if (!used)
            sn_fail(ld->ctx, "%s: tensor '%s' has no place in the AutoencoderKL structure read "
                    "from the file (unsupported variant?)", sn_ckpt_path(ld->ck), e->name);
    }
}

sn_vae *sn_vae_load_kl(sn_ctx *ctx, sn_ckpt *ck, const char *kind, const char **why) {
    static const char *dummy;
    if (!why) why = &dummy;
    *why = NULL;
    if (!sn_ok(ctx)) return NULL;
    const kl_family *asked = NULL;
    if (kind && *kind && strcmp(kind, "auto")) {
        asked = kl_family_named(kind);
        if (!asked) {
            *why = "the kind is not an AutoencoderKL family (sd, sdxl, sd3, flux1, vavae)";
            return NULL;
        }
    }

    /* is it an AutoencoderKL, under which prefix and which naming? */
    const char *pre = NULL;
    for (size_t i = 0; i < sizeof kl_prefixes / sizeof *kl_prefixes && !pre; i++)
        if (find_pre(ck, kl_prefixes[i], "encoder.conv_in.weight") ||
            find_pre(ck, kl_prefixes[i], "decoder.conv_in.weight"))
            pre = kl_prefixes[i];
    if (!pre) {
        *why = "no encoder.conv_in.weight or decoder.conv_in.weight";
        return NULL;
    }
    int ldm = find_pre(ck, pre, "encoder.down.0.block.0.conv1.weight") ||
              find_pre(ck, pre, "decoder.up.0.block.0.conv1.weight");
    int dif = find_pre(ck, pre, "encoder.down_blocks.0.resnets.0.conv1.weight") ||
              find_pre(ck, pre, "decoder.up_blocks.0.resnets.0.conv1.weight");
    if (!ldm && !dif) {
        *why = "conv_in without AutoencoderKL down/up blocks";
        return NULL;
    }
    if (ldm && dif) {
        sn_fail(ctx, "%s: mixes LDM (down.i.block.j) and diffusers (down_blocks.i.resnets.j) "
                "VAE names", sn_ckpt_path(ck));
        return NULL;
    }
    /* a full checkpoint: the denoiser beside the VAE tells the family (module comment) */
    const char *hint = NULL;
    for (int i = 0; *pre && !hint && i < sn_ckpt_count(ck); i++) {
        const char *nm = sn_ckpt_at(ck, i)->name;
        if (strstr(nm, "diffusion_model.joint_blocks.")) hint = "sd3";
        else if (strstr(nm, "diffusion_model.double_blocks.")) hint = "flux1";
        else if (!strncmp(nm, "conditioner.embedders.", 22) ||
                 strstr(nm, ".conditioner.embedders.")) hint = "sdxl";
    }
    if (*pre) sn_ckpt_set_prefix(ck, pre);

    kl_loader ld = {ctx, ck, ldm ? KL_NAMES_LDM : KL_NAMES_DIFFUSERS, 0, NULL, 0, 0, 0};
    if (!ldm)
        for (int i = 0; i < sn_ckpt_count(ck); i++) {
            const char *nm = sn_ckpt_at(ck, i)->name;
            if (strstr(nm, ".attentions.") && strstr(nm, ".query.")) ld.naming = KL_NAMES_LEGACY_ATTN;
        }

    kl_meta meta = {ck, NULL, hint};
    const char *cfg_json = sn_ckpt_meta(ck, "config");
    if (cfg_json && !(meta.config = cJSON_Parse(cfg_json))) {
        sn_fail(ctx, "%s: metadata 'config' is not valid JSON", sn_ckpt_path(ck));
        return NULL;
    }

    kl_model *m = calloc(1, sizeof *m);
    kl_config *c = m ? &m->cfg : NULL;
    sn_vae *vae = NULL;
    float *stats = NULL;
    if (!m) {
        sn_fail(ctx, "out of memory loading %s", sn_ckpt_path(ck));
        goto done;
    }
    if (infer_structure(&ld, c)) goto done;

    /* GroupNorm groups */
    double v = 32;
    int r = meta_number(&meta, "norm_num_groups", &v);
    c->groups = (int)v;
    if (r < 0 || v != c->groups || c->groups <= 0) {
        sn_fail(ctx, "%s: metadata norm_num_groups is not a positive integer", sn_ckpt_path(ck));
        goto done;
    }
    for (int i = 0; i < c->levels; i++)
        if (c->block_out[i] % c->groups) {
            sn_fail(ctx, "%s: %d channels at level %d do not split into %d GroupNorm groups "
                    "(set metadata sinter.vae.norm_num_groups)", sn_ckpt_path(ck),
                    c->block_out[i], i, c->groups);
            goto done;
        }

    c->family = pick_family(ctx, ck, &meta, asked, c);
    if (!c->family) goto done;
    c->scale = c->family->scale;
    c->shift = c->family->shift;
    if (meta_number(&meta, "scaling_factor", &v) == 1) c->scale = (float)v;
    if (meta_number(&meta, "shift_factor", &v) == 1) c->shift = (float)v;
    if (meta_number(&meta, "scaling_factor", &v) < 0 || meta_number(&meta, "shift_factor", &v) < 0 ||
        !(c->scale != 0 && isfinite(c->scale))) {
        sn_fail(ctx, "%s: metadata scaling_factor/shift_factor must be numbers (scale non-zero)",
                sn_ckpt_path(ck));
        goto done;
    }

    /* weights */
    if (c->has_encoder) load_encoder(&ld, &m->enc, c);
    if (c->has_decoder) load_decoder(&ld, &m->dec, c);
    if (c->quant_conv)
        bind_conv(&ld, &m->quant_conv, 2 * c->latent_channels, 2 * c->z_channels, 1, "quant_conv");
    if (c->post_quant_conv)
        bind_conv(&ld, &m->post_quant_conv, c->z_channels, c->latent_channels, 1, "post_quant_conv");
    check_all_used(&ld);
    if (!sn_ok(ctx)) goto done;

    /* latent normalisation: model latents = (z - mean) * mul */
    int lc = c->latent_channels;
    stats = malloc(4 * sizeof(float) * lc);
    if (!stats) {
        sn_fail(ctx, "out of memory loading %s", sn_ckpt_path(ck));
        goto done;
    }
    float *mean = stats, *std = stats + lc, *mul = stats + 2 * lc, *shift = stats + 3 * lc;
    int have = load_latent_stats(ctx, ck, &meta, lc, mean, std);
    if (have < 0) goto done;
    if (!have && c->family->needs_stats) {
        sn_fail(ctx, "%s: %s latents need per-channel mean and std: put tensors latents_mean and "
                "latents_std in the checkpoint, metadata sinter.vae.latents_mean/latents_std, or "
                "latents_stats.pt (mean, std) beside it", sn_ckpt_path(ck), c->family->title);
        goto done;
    }
    for (int i = 0; i < lc; i++) {
        if (have && !(std[i] > 0 && isfinite(std[i]) && isfinite(mean[i]))) {
            sn_fail(ctx, "%s: latent std of channel %d is %g (must be positive)", sn_ckpt_path(ck),
                    i, std[i]);
            goto done;
        }
        mul[i] = have ? (float)((double)c->scale / std[i]) : c->scale;
        shift[i] = have ? mean[i] : c->shift;
    }
    m->lat_mean = sn_upload(ctx, sn_tensor_wrap(shift, SN_F32, SN_SHAPE(1, lc, 1, 1)));
    m->lat_mul = sn_upload(ctx, sn_tensor_wrap(mul, SN_F32, SN_SHAPE(1, lc, 1, 1)));
    if (!sn_ok(ctx)) goto done;

    vae = calloc(1, sizeof *vae);
    if (!vae) {
        sn_fail(ctx, "out of memory loading %s", sn_ckpt_path(ck));
        goto done;
    }
    sn_vae_info *info = &vae->info;
    snprintf(info->family, sizeof info->family, "%s", c->family->name);
    snprintf(info->description, sizeof info->description, "AutoencoderKL %s (%d channels, f%d%s)",
             c->family->title, lc, downscale(c),
             !c->has_encoder ? ", decoder only" : !c->has_decoder ? ", encoder only" : "");
    info->latent_channels = lc;
    info->downscale = downscale(c);
    info->has_encoder = c->has_encoder;
    info->has_decoder = c->has_decoder;
    info->n_params = ld.n_params;
    vae->ops = &kl_ops;
    vae->impl = m;
    m = NULL;

done:
    cJSON_Delete(meta.config);
    free(ld.used);
    free(stats);
    free(m);
    return vae;
}
