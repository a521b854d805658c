/* The TAESD family of tiny autoencoders (madebyollin/taesd): TAESD, TAESDXL, TAESD3, TAEF1,
 * TAEF2 and the f32 variant (TAESANA).
 *
 * Each network is an nn.Sequential in the original code, and the checkpoints name tensors by
 * its indices ("3.conv.2.weight"), so the model here is the same list of layers, written out
 * as tables below. Images are [0, 1] inside these networks; the sn_vae interface speaks
 * [-1, 1], so encode and decode convert at the edges. Latents are the diffusion model's own
 * (no scale or shift). */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../core/ops.h"
#include "vae.h"

typedef enum { L_CONV, L_CONV_S2, L_BLOCK, L_RELU, L_UP, L_CLAMP } layer_kind;

typedef struct {
    layer_kind kind;
    int in, out; /* channels; 0 stands for the latent channel count */
    int bias;    /* conv layers */
} layer_spec;

/* Block(n, n): relu(conv(relu(conv(relu(conv(x))))) + skip(x)); TAEF2 adds a pool branch. */
typedef struct {
    sn_tensor w[3], b[3];
    sn_tensor skip;                      /* 1x1, no bias; empty when in == out */
    sn_tensor pool_in, gn_w, gn_b, pool_out; /* TAEF2 "midblock GN"; empty otherwise */
} block_w;

typedef struct {
    layer_spec spec;
    sn_tensor w, b; /* conv layers */
    block_w blk;
} layer;

typedef struct {
    layer *layers;
    int n;
} net;

typedef struct {
    net enc, dec;
} taesd;

#define CONV(i, o) {L_CONV, i, o, 1}
#define CONV_NB(i, o) {L_CONV, i, o, 0}
#define CONV_S2(i, o, b) {L_CONV_S2, i, o, b}
#define BLOCK(c) {L_BLOCK, c, c, 0}
#define RELU {L_RELU, 0, 0, 0}
#define UP {L_UP, 0, 0, 0}
#define CLAMP {L_CLAMP, 0, 0, 0}
#define STAGE_DOWN BLOCK(64), BLOCK(64), BLOCK(64)

static const layer_spec enc_base[] = {
    CONV(3, 64), BLOCK(64),
    CONV_S2(64, 64, 0), STAGE_DOWN,
    CONV_S2(64, 64, 0), STAGE_DOWN,
    CONV_S2(64, 64, 0), STAGE_DOWN,
    CONV(64, 0),
};
static const layer_spec dec_base[] = {
    CLAMP, CONV(0, 64), RELU,
    BLOCK(64), BLOCK(64), BLOCK(64), UP, CONV_NB(64, 64),
    BLOCK(64), BLOCK(64), BLOCK(64), UP, CONV_NB(64, 64),
    BLOCK(64), BLOCK(64), BLOCK(64), UP, CONV_NB(64, 64),
    BLOCK(64), CONV(64, 3),
};
static const layer_spec enc_f32[] = {
    CONV_S2(3, 32, 1), RELU, CONV_S2(32, 64, 1), RELU, BLOCK(64),
    CONV_S2(64, 64, 0), STAGE_DOWN,
    CONV_S2(64, 64, 0), STAGE_DOWN,
    CONV_S2(64, 64, 0), STAGE_DOWN,
    CONV(64, 0),
};
static const layer_spec dec_f32[] = {
    CLAMP, CONV(0, 256), RELU,
    BLOCK(256), BLOCK(256), BLOCK(256), UP, CONV_NB(256, 128),
    BLOCK(128), BLOCK(128), BLOCK(128), UP, CONV_NB(128, 64),
    BLOCK(64), BLOCK(64), BLOCK(64), UP, CONV_NB(64, 64),
    BLOCK(64), BLOCK(64), BLOCK(64), UP, CONV_NB(64, 64),
    BLOCK(64), BLOCK(64), BLOCK(64), UP, CONV_NB(64, 64),
    BLOCK(64), CONV(64, 3),
};
#define N_OF(a) (int)(sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------------------------------ */
/* Loading                                                                              */

typedef struct {
    const sn_ckpt *ck;
    const char *prefix; /* "" for the original .pth files, "encoder.layers." for diffusers */
    int index_shift;    /* diffusers' decoder has no Clamp layer, so its indices are one less */
} names;

static sn_tensor bind(sn_ctx *ctx, const names *nm, int i, const char *rest, int optional,
                      int ndim, const int64_t *shape) {
    char key[160];
    snprintf(key, sizeof key, "%s%d.%s", nm->prefix, i + nm->index_shift, rest);
    sn_dtype dt = sn_ctx_dtype(ctx);
    return optional ? sn_ckpt_bind_opt(ctx, nm->ck, key, dt, ndim, shape)
                    : sn_ckpt_bind(ctx, nm->ck, key, dt, ndim, shape);
}

static void load_block(sn_ctx *ctx, const names *nm, int i, int c_in, int c_out, block_w *b) {
    for (int k = 0; k < 3; k++) {
        char w[32], bi[32];
        snprintf(w, sizeof w, "conv.%d.weight", 2 * k);
        snprintf(bi, sizeof bi, "conv.%d.bias", 2 * k);
        b->w[k] = bind(ctx, nm, i, w, 0, SN_SHAPE(c_out, k ? c_out : c_in, 3, 3));
        b->b[k] = bind(ctx, nm, i, bi, 0, SN_SHAPE(c_out));
    }
    if (c_in != c_out) b->skip = bind(ctx, nm, i, "skip.weight", 0, SN_SHAPE(c_out, c_in, 1, 1));
    b->pool_in = bind(ctx, nm, i, "pool.0.weight", 1, SN_SHAPE(4 * c_out, c_in, 1, 1));
    if (sn_has(b->pool_in)) {
        b->gn_w = bind(ctx, nm, i, "pool.1.weight", 0, SN_SHAPE(4 * c_out));
        b->gn_b = bind(ctx, nm, i, "pool.1.bias", 0, SN_SHAPE(4 * c_out));
        b->pool_out = bind(ctx, nm, i, "pool.3.weight", 0, SN_SHAPE(c_out, 4 * c_out, 1, 1));
    }
}

static int load_net(sn_ctx *ctx, const names *nm, const layer_spec *spec, int n, int latent,
                    net *out) {
    out->layers = calloc(n, sizeof *out->layers);
    if (!out->layers) {
        sn_fail(ctx, "out of memory");
        return -1;
    }
    out->n = n;
    for (int i = 0; i < n; i++) {
        layer *l = &out->layers[i];
        l->spec = spec[i];
        if (!l->spec.in) l->spec.in = latent;
        if (!l->spec.out) l->spec.out = latent;
        if (l->spec.kind == L_CONV || l->spec.kind == L_CONV_S2) {
            l->w = bind(ctx, nm, i, "weight", 0, SN_SHAPE(l->spec.out, l->spec.in, 3, 3));
            if (l->spec.bias) l->b = bind(ctx, nm, i, "bias", 0, SN_SHAPE(l->spec.out));
        } else if (l->spec.kind == L_BLOCK) {
            load_block(ctx, nm, i, l->spec.in, l->spec.out, &l->blk);
        }
    }
    return sn_ok(ctx) ? 0 : -1;
}

/* ------------------------------------------------------------------------------------ */
/* Forward                                                                              */

static sn_tensor conv3(sn_ctx *ctx, sn_tensor x, sn_tensor w, sn_tensor b, int stride) {
    sn_conv2d_params p = {.stride = {stride, stride}, .padding = {1, 1}};
    return sn_conv2d(ctx, x, w, b, &p);
}

static sn_tensor conv1(sn_ctx *ctx, sn_tensor x, sn_tensor w) {
    sn_conv2d_params p = {0};
    return sn_conv2d(ctx, x, w, sn_none(), &p);
}

static sn_tensor block_forward(sn_ctx *ctx, const block_w *b, sn_tensor x) {
    if (sn_has(b->pool_in)) { /* TAEF2: x + conv(relu(GroupNorm4(conv(x)))), global statistics */
        sn_tensor p = conv1(ctx, x, b->pool_in);
        p = sn_relu(ctx, sn_group_norm(ctx, p, 4, b->gn_w, b->gn_b, 1e-5f));
        x = sn_add(ctx, x, conv1(ctx, p, b->pool_out));
    }
    sn_tensor h = sn_relu(ctx, conv3(ctx, x, b->w[0], b->b[0], 1));
    h = sn_relu(ctx, conv3(ctx, h, b->w[1], b->b[1], 1));
    h = conv3(ctx, h, b->w[2], b->b[2], 1);
    sn_tensor skip = sn_has(b->skip) ? conv1(ctx, x, b->skip) : x;
    return sn_relu(ctx, sn_add(ctx, h, skip));
}

static sn_tensor net_forward(sn_ctx *ctx, const net *nt, sn_tensor x) {
    for (int i = 0; i < nt->n && sn_ok(ctx); i++) {
        const layer *l = &nt->layers[i];
        sn_scope s = sn_scope_begin(ctx);
        switch (l->spec.kind) {
        case L_CONV: x = conv3(ctx, x, l->w, l->b, 1); break;
        case L_CONV_S2: x = conv3(ctx, x, l->w, l->b, 2); break;
        case L_BLOCK: x = block_forward(ctx, &l->blk, x); break;
        case L_RELU: x = sn_relu(ctx, x); break;
        case L_UP: x = sn_upsample_nearest(ctx, x, 2, 2); break;
        case L_CLAMP: x = sn_affine(ctx, sn_tanh(ctx, sn_affine(ctx, x, 1 / 3.0f, 0)), 3, 0); break;
        }
        x = sn_scope_end(ctx, s, x);
    }
    return x;
}

static sn_tensor tiny_encode(sn_ctx *ctx, void *impl, sn_tensor x, sn_tensor noise) {
    taesd *m = impl;
    if (!m->enc.n) {
        sn_fail(ctx, "this tiny autoencoder has no encoder (only a decoder file was found)");
        return sn_none();
    }
    sn_scope s = sn_scope_begin(ctx);
    sn_tensor x01 = sn_affine(ctx, sn_to(ctx, x, sn_ctx_dtype(ctx)), 0.5f, 0.5f); /* [-1,1] -> [0,1] */
    return sn_scope_end(ctx, s, sn_to(ctx, net_forward(ctx, &m->enc, x01), SN_F32));
}

static sn_tensor tiny_decode(sn_ctx *ctx, void *impl, sn_tensor z) {
    taesd *m = impl;
    if (!m->dec.n) {
        sn_fail(ctx, "this tiny autoencoder has no decoder (only an encoder file was found)");
        return sn_none();
    }
    sn_scope s = sn_scope_begin(ctx);
    sn_tensor y = net_forward(ctx, &m->dec, sn_to(ctx, z, sn_ctx_dtype(ctx)));
    y = sn_affine(ctx, sn_to(ctx, y, SN_F32), 2, -1); /* [0,1] -> [-1,1] */
    return sn_scope_end(ctx, s, y);
}

static void tiny_destroy(void *impl) {
    taesd *m = impl;
    free(m->enc.layers);
    free(m->dec.layers);
    free(m);
}

static const sn_vae_ops tiny_ops = {tiny_encode, tiny_decode, tiny_destroy};

/* ------------------------------------------------------------------------------------ */
/* Finding the files and telling the variants apart                                     */

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}
static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* Replaces the last "_encoder"/"_decoder" in a path with the other one. */
static int sibling(const char *path, const char *from, const char *to, char *out, size_t cap) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *hit = NULL;
    for (const char *p = strstr(base, from); p; p = strstr(p + 1, from)) hit = p;
    if (!hit) return 0;
    snprintf(out, cap, "%.*s%s%s", (int)(hit - path), path, to, hit + strlen(from));
    return 1;
}

/* Finds *_encoder.* and *_decoder.* files in a folder (the first of each, by name). */
static void find_in_dir(const char *dir, char *enc, char *dec, size_t cap) {
    static const char *const stems[] = {"taef2", "taef1", "taesd3", "taesdxl", "taesd", "taesana", "tae"};
    static const char *const exts[] = {".pth", ".safetensors", ".pt"};
    for (int s = 0; s < N_OF(stems) && !*enc && !*dec; s++)
        for (int e = 0; e < N_OF(exts); e++) {
            char a[4096], b[4096];
            snprintf(a, sizeof a, "%s/%s_encoder%s", dir, stems[s], exts[e]);
            snprintf(b, sizeof b, "%s/%s_decoder%s", dir, stems[s], exts[e]);
            if (is_file(a) && !*enc) snprintf(enc, cap, "%s", a);
            if (is_file(b) && !*dec) snprintf(dec, cap, "%s", b);
        }
}

static const char *family_from_name(const char *path, int latent, int f32) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    static const char *const fams[] = {"taef2", "taef1", "taesd3", "taesdxl", "taesana", "taesd"};
    for (int i = 0; i < N_OF(fams); i++)
        if (strstr(base, fams[i])) return fams[i];
    if (f32) return "taesana";
    return latent == 4 ? "taesd" : latent == 16 ? "taef1" : "taef2";
}

/* Which layout a checkpoint holds: 'e' encoder or 'd' decoder of the original .pth files,
 * 'b' both in diffusers AutoencoderTiny naming, or 0. Sets *f32 and *latent. */
static int classify(const sn_ckpt *ck, int *f32, int *latent) {
    const sn_ckpt_entry *e;
    if ((e = sn_ckpt_find(ck, "encoder.layers.0.weight")) && e->ndim == 4) {
        *f32 = e->shape[0] == 32;
        const sn_ckpt_entry *d = sn_ckpt_find(ck, "decoder.layers.0.weight");
        *latent = d && d->ndim == 4 ? (int)d->shape[1] : 0;
        return 'b';
    }
    if ((e = sn_ckpt_find(ck, "0.weight")) && e->ndim == 4 && e->shape[1] == 3) {
        *f32 = e->shape[0] == 32;
        const sn_ckpt_entry *last = sn_ckpt_find(ck, *f32 ? "17.weight" : "14.weight");
        *latent = last && last->ndim == 4 ? (int)last->shape[0] : 0;
        return 'e';
    }
    if ((e = sn_ckpt_find(ck, "1.weight")) && e->ndim == 4 && !sn_ckpt_find(ck, "0.weight")) {
        *f32 = e->shape[0] == 256;
        *latent = (int)e->shape[1];
        return 'd';
    }
    return 0;
}

sn_vae *sn_vae_load_tiny(sn_ctx *ctx, const char *path, const char *kind, const char **why) {
    char enc_path[4096] = "", dec_path[4096] = "", err[1024];
    if (is_dir(path)) {
        find_in_dir(path, enc_path, dec_path, sizeof enc_path);
        if (!*enc_path && !*dec_path) {
            *why = "no *_encoder/*_decoder files of a tiny autoencoder in this folder";
            return NULL;
        }
    } else {
        snprintf(enc_path, sizeof enc_path, "%s", path); /* which one it is is decided below */
    }

    sn_ckpt *cks[2] = {0};
    int kinds[2] = {0}, f32 = 0, latent = 0;
    const char *paths[2] = {*enc_path ? enc_path : dec_path, *enc_path && *dec_path ? dec_path : NULL};
    for (int k = 0; k < 2 && paths[k]; k++) {
        if (!(cks[k] = sn_ckpt_open(paths[k], err, sizeof err))) {
            sn_fail(ctx, "%s", err);
            goto fail;
        }
        int kf32, klat;
        kinds[k] = classify(cks[k], &kf32, &klat);
        if (!kinds[k]) {
            if (k == 0 && !is_dir(path)) {
                *why = "not a tiny autoencoder (no TAESD layer names)";
                sn_ckpt_close(cks[0]);
                return NULL;
            }
            sn_fail(ctx, "%s: not a TAESD encoder or decoder", paths[k]);
            goto fail;
        }
        if (k && (kf32 != f32 || klat != latent)) {
            sn_fail(ctx, "%s and %s are not halves of the same tiny autoencoder", paths[0], paths[1]);
            goto fail;
        }
        f32 = kf32, latent = klat;
    }
    if (latent <= 0) {
        sn_fail(ctx, "%s: cannot tell the latent channel count", paths[0]);
        goto fail;
    }
    /* A single .pth given: pick up its other half beside it. */
    if (!paths[1] && kinds[0] != 'b') {
        char other[4096];
        int found = kinds[0] == 'e' ? sibling(paths[0], "encoder", "decoder", other, sizeof other)
                                    : sibling(paths[0], "decoder", "encoder", other, sizeof other);
        if (found && is_file(other)) {
            if (!(cks[1] = sn_ckpt_open(other, err, sizeof err))) {
                sn_fail(ctx, "%s", err);
                goto fail;
            }
            int kf32, klat;
            kinds[1] = classify(cks[1], &kf32, &klat);
            if (kinds[1] == kinds[0] || !kinds[1] || kf32 != f32 || klat != latent) {
                sn_fail(ctx, "%s does not match %s as the other half of a tiny autoencoder",
                        other, paths[0]);
                goto fail;
            }
        }
    }

    taesd *m = calloc(1, sizeof *m);
    sn_vae *vae = calloc(1, sizeof *vae);
    if (!m || !vae) {
        free(m), free(vae);
        sn_fail(ctx, "out of memory");
        goto fail;
    }
    for (int k = 0; k < 2; k++) {
        if (!cks[k]) continue;
        if (kinds[k] == 'e' || kinds[k] == 'b') {
            names nm = {cks[k], kinds[k] == 'b' ? "encoder.layers." : "", 0};
            load_net(ctx, &nm, f32 ? enc_f32 : enc_base, f32 ? N_OF(enc_f32) : N_OF(enc_base), latent, &m->enc);
        }
        if (kinds[k] == 'd' || kinds[k] == 'b') {
            /* diffusers keeps the Clamp in forward(), so its layer i is our layer i + 1 */
            names nm = {cks[k], kinds[k] == 'b' ? "decoder.layers." : "", kinds[k] == 'b' ? -1 : 0};
            load_net(ctx, &nm, f32 ? dec_f32 : dec_base, f32 ? N_OF(dec_f32) : N_OF(dec_base), latent, &m->dec);
        }
    }
    int64_t params = 0;
    for (int k = 0; k < 2; k++)
        for (int i = 0; cks[k] && i < sn_ckpt_count(cks[k]); i++) params += sn_ckpt_entry_numel(sn_ckpt_at(cks[k], i));
    sn_ckpt_close(cks[0]);
    sn_ckpt_close(cks[1]);
    vae->ops = &tiny_ops;
    vae->impl = m;
    if (!sn_ok(ctx)) {
        sn_vae_free(vae);
        return NULL;
    }
    const char *fam = kind && strcmp(kind, "auto") ? kind : family_from_name(paths[0], latent, f32);
    snprintf(vae->info.family, sizeof vae->info.family, "%s", fam);
    vae->info.latent_channels = latent;
    vae->info.downscale = f32 ? 32 : 8;
    vae->info.has_encoder = m->enc.n > 0;
    vae->info.has_decoder = m->dec.n > 0;
    vae->info.n_params = params;
    snprintf(vae->info.description, sizeof vae->info.description,
             "tiny autoencoder %s (%d channels, f%d%s%s)", fam, latent, vae->info.downscale,
             vae->info.has_encoder ? "" : ", decoder only",
             vae->info.has_decoder ? "" : ", encoder only");
    return vae;

fail:
    sn_ckpt_close(cks[0]);
    sn_ckpt_close(cks[1]);
    return NULL;
}
