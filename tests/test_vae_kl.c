/* AutoencoderKL (vae/autoencoder_kl.c).
 *
 * Structure, without fixtures: small random models written here with sn_safetensors_write in
 * the three namings (diffusers, diffusers with legacy attention names, LDM with the
 * first_stage_model. prefix) must give the same encode and decode outputs; a decoder-only
 * file decodes like the full one; the family rules and latent scaling hold (SD vs SDXL,
 * FLUX.1 vs SD3, per-channel statistics); non-KL files are declined without an error and
 * inconsistent ones are refused with one.
 *
 * Parity, with fixtures from tools/reference/autoencoder_kl.py in tests/fixtures/vae_kl/
 * (skipped with a message when absent): encode (mean and posterior sample) and decode against
 * PyTorch float64, relative tolerance 1e-4 (f32 CPU). */
#include <stdint.h>
#include <sys/stat.h>

#pragma GCC diagnostic ignored "-Wformat-truncation" /* names are short */

#include "../core/context.h"
#include "../core/ops.h"
#include "../vae/vae.h"
#include "../weights/checkpoint.h"
#include "check.h"
#include "vae_synth.h"

static sn_ctx *ctx;
static char tmpdir[1024];

/* ----------------------------------------------------------------------------------------
 * Renaming, done here independently of the loader: plain substring rules */

enum { NAMES_DIFFUSERS, NAMES_LEGACY, NAMES_LDM };

static int replace(char *s, size_t cap, const char *from, const char *to) {
    char *p = strstr(s, from);
    if (!p) return 0;
    char rest[256];
    snprintf(rest, sizeof rest, "%s", p + strlen(from));
    *p = 0;
    size_t n = strlen(s);
    snprintf(s + n, cap - n, "%s%s", to, rest);
    return 1;
}

static void rename_to(int naming, int levels, const char *in, char *out, size_t cap) {
    snprintf(out, cap, "%s", in);
    if (naming == NAMES_LEGACY) {
        replace(out, cap, ".to_q.", ".query.");
        replace(out, cap, ".to_k.", ".key.");
        replace(out, cap, ".to_v.", ".value.");
        replace(out, cap, ".to_out.0.", ".proj_attn.");
    } else if (naming == NAMES_LDM) {
        int i, n = 0;
        if (sscanf(out, "decoder.up_blocks.%d.%n", &i, &n) == 1 && n > 0) {
            char rest[200];
            snprintf(rest, sizeof rest, "%s", out + n);
            snprintf(out, cap, "decoder.up.%d.%s", levels - 1 - i, rest);
        }
        replace(out, cap, ".down_blocks.", ".down.");
        replace(out, cap, ".mid_block.resnets.0.", ".mid.block_1.");
        replace(out, cap, ".mid_block.resnets.1.", ".mid.block_2.");
        replace(out, cap, ".mid_block.attentions.0.", ".mid.attn_1.");
        replace(out, cap, ".resnets.", ".block.");
        replace(out, cap, ".attentions.", ".attn.");
        replace(out, cap, ".downsamplers.0.", ".downsample.");
        replace(out, cap, ".upsamplers.0.", ".upsample.");
        replace(out, cap, ".conv_norm_out.", ".norm_out.");
        replace(out, cap, ".conv_shortcut.", ".nin_shortcut.");
        if (strstr(out, ".attn")) {
            replace(out, cap, ".group_norm.", ".norm.");
            replace(out, cap, ".to_q.", ".q.");
            replace(out, cap, ".to_k.", ".k.");
            replace(out, cap, ".to_v.", ".v.");
            replace(out, cap, ".to_out.0.", ".proj_out.");
        }
    }
}

typedef struct {
    int naming;
    const char *prefix;
    const char *const *meta; /* key, value pairs */
    int n_meta;
    const char *drop;  /* leave this (diffusers) name out */
    const char *bad;   /* write this one with a wrong shape (same element count) */
    const char *extra; /* add a tensor of this (file) name */
    const float *stats; /* latents_mean then latents_std, z numbers each, or NULL */
    int stats_c;
} syn_write_opts;

static const char *syn_write(const syn_list *l, int levels, const char *file, syn_write_opts o) {
    static char path[1200];
    snprintf(path, sizeof path, "%s/%s", tmpdir, file);
    static sn_named_tensor nt[1100];
    static char names[1100][200];
    static float one[1] = {0.5f};
    int n = 0;
    for (int i = 0; i < l->n; i++) {
        const syn_t *t = &l->t[i];
        if (o.drop && !strcmp(o.drop, t->name)) continue;
        char nm[200];
        rename_to(o.naming, levels, t->name, nm, sizeof nm);
        snprintf(names[n], sizeof names[n], "%s%s", o.prefix ? o.prefix : "", nm);
        int64_t shape[4] = {t->shape[0], t->shape[1], t->shape[2], t->shape[3]};
        int ndim = t->ndim;
        if (o.naming == NAMES_LDM && strstr(nm, ".attn") && ndim == 2 && !strstr(nm, "norm"))
            ndim = 4, shape[2] = shape[3] = 1; /* LDM stores q/k/v/proj_out as 1x1 convs */
        if (o.bad && !strcmp(o.bad, t->name) && ndim == 4) {
            if (shape[2] * shape[3] > 1) /* [o, i, 3, 3] -> [o, i, 9, 1] */
                shape[2] *= shape[3], shape[3] = 1;
            else /* [o, i, 1, 1] -> [i, o, 1, 1] */
                shape[0] = t->shape[1], shape[1] = t->shape[0];
        }
        nt[n].name = names[n];
        nt[n].t = sn_tensor_wrap(t->data, SN_F32, ndim, shape);
        n++;
    }
    if (o.extra) {
        snprintf(names[n], sizeof names[n], "%s", o.extra);
        nt[n].name = names[n];
        nt[n].t = sn_tensor_wrap(one, SN_F32, SN_SHAPE(1));
        n++;
    }
    if (o.stats) {
        snprintf(names[n], sizeof names[n], "%slatents_mean", o.prefix ? o.prefix : "");
        nt[n].name = names[n];
        nt[n].t = sn_tensor_wrap((float *)o.stats, SN_F32, SN_SHAPE(1, o.stats_c, 1, 1));
        n++;
        snprintf(names[n], sizeof names[n], "%slatents_std", o.prefix ? o.prefix : "");
        nt[n].name = names[n];
        nt[n].t = sn_tensor_wrap((float *)o.stats + o.stats_c, SN_F32, SN_SHAPE(o.stats_c));
        n++;
    }
    char err[512];
    int rc = sn_safetensors_write(path, nt, n, o.meta, o.n_meta, err, sizeof err);
    CHECKF(rc == 0, "%s", err);
    return path;
}

/* ----------------------------------------------------------------------------------------
 * Running */

typedef struct {
    sn_ckpt *ck;
    sn_vae *vae;
} loaded;

static loaded load(const char *path, const char *kind, const char **why) {
    loaded r = {0};
    char err[512];
    r.ck = sn_ckpt_open(path, err, sizeof err);
    CHECKF(r.ck != NULL, "%s", err);
    if (!r.ck) return r;
    const char *w = NULL;
    r.vae = sn_vae_load_kl(ctx, r.ck, kind, &w);
    if (why) *why = w;
    return r;
}

static void unload(loaded *l) {
    if (l->vae) l->vae->ops->destroy(l->vae->impl);
    free(l->vae);
    sn_ckpt_close(l->ck);
    l->vae = NULL;
    l->ck = NULL;
}

/* Runs encode (noise may be NULL) or decode on host data; returns malloc'd output and its
 * shape, or NULL with the context error set. */
static float *run(sn_vae *v, int enc, const float *in, const int64_t *shape, const float *noise,
                  int64_t *oshape) {
    sn_arena_reset(ctx);
    sn_tensor x = sn_from_host(ctx, sn_tensor_wrap((float *)in, SN_F32, 4, shape));
    sn_tensor y;
    size_t before = sn_arena_used(ctx);
    if (enc) {
        sn_tensor nz = sn_none();
        if (noise) {
            int f = v->info.downscale;
            nz = sn_from_host(ctx, sn_tensor_wrap((float *)noise, SN_F32,
                                                  SN_SHAPE(shape[0], v->info.latent_channels,
                                                           shape[2] / f, shape[3] / f)));
        }
        y = v->ops->encode(ctx, v->impl, x, nz);
    } else {
        y = v->ops->decode(ctx, v->impl, x);
    }
    if (!sn_ok(ctx) || !sn_has(y)) return NULL;
    /* the scopes leave only the result behind (plus the noise input) */
    size_t left = sn_arena_used(ctx) - before, want = (sn_nbytes(y) + 63) / 64 * 64;
    if (enc && noise) want += (sn_nbytes(y) + 63) / 64 * 64;
    CHECKF(left == want, "%s left %zu bytes in the arena, expected %zu", enc ? "encode" : "decode",
           left, want);
    for (int i = 0; i < 4; i++) oshape[i] = y.shape[i];
    float *out = malloc(sn_nbytes(y));
    sn_download(ctx, y, out);
    sn_arena_reset(ctx);
    return out;
}

static float *random_buf(long n) {
    float *p = malloc(n * sizeof(float));
    check_fill(p, n);
    return p;
}

/* ----------------------------------------------------------------------------------------
 * Structure tests */

static void test_namings(void) {
    /* 3 levels (f4), level attention on the deepest level, mid attention, quant convs */
    syn_cfg c = {.levels = 3, .boc = {8, 16, 16}, .enc_res = 1, .dec_res = 2,
                 .enc_attn = {0, 0, 1}, .dec_attn = {1, 0, 0}, .mid_attn = 1,
                 .z = 4, .quant = 1, .in = 3, .out = 3, .encoder = 1, .decoder = 1};
    static syn_list l;
    check_seed(1);
    syn_make(&l, &c);
    static const char *meta[] = {"sinter.vae.norm_num_groups", "4"};
    const int64_t xs[4] = {2, 3, 24, 16}, zs[4] = {2, 4, 6, 4};
    float *x = random_buf(2 * 3 * 24 * 16), *z = random_buf(2 * 4 * 6 * 4);
    float *noise = random_buf(2 * 4 * 6 * 4);
    float *ref_lat = NULL, *ref_smp = NULL, *ref_img = NULL;
    const char *files[3];
    files[0] = syn_write(&l, 3, "kl_diffusers.safetensors",
                         (syn_write_opts){.naming = NAMES_DIFFUSERS, .meta = meta, .n_meta = 1});
    files[0] = strdup(files[0]);
    files[1] = strdup(syn_write(&l, 3, "kl_legacy.safetensors",
                                (syn_write_opts){.naming = NAMES_LEGACY, .meta = meta, .n_meta = 1}));
    files[2] = strdup(syn_write(&l, 3, "kl_ldm.safetensors",
                                (syn_write_opts){.naming = NAMES_LDM, .prefix = "first_stage_model.",
                                                 .meta = meta, .n_meta = 1}));
    static const char *what[3] = {"diffusers", "legacy attention", "LDM + first_stage_model."};
    for (int k = 0; k < 3; k++) {
        loaded m = load(files[k], NULL, NULL);
        CHECKF(m.vae != NULL, "%s: %s", what[k], sn_error(ctx));
        if (!m.vae) {
            sn_clear_error(ctx);
            unload(&m);
            continue;
        }
        const sn_vae_info *in = &m.vae->info;
        CHECKF(!strcmp(in->family, "sd"), "%s: family %s", what[k], in->family);
        CHECK(in->latent_channels == 4 && in->downscale == 4 && in->has_encoder && in->has_decoder);
        CHECKF(in->n_params == syn_numel(&l), "%s: %lld params, expected %lld", what[k],
               (long long)in->n_params, (long long)syn_numel(&l));
        CHECKF(strstr(in->description, "AutoencoderKL") != NULL, "%s", in->description);
        int64_t os[4] = {0};
        float *lat = run(m.vae, 1, x, xs, NULL, os);
        CHECKF(lat != NULL, "%s encode: %s", what[k], sn_error(ctx));
        CHECK(os[0] == 2 && os[1] == 4 && os[2] == 6 && os[3] == 4);
        float *smp = run(m.vae, 1, x, xs, noise, os);
        float *img = run(m.vae, 0, z, zs, NULL, os);
        CHECKF(img != NULL, "%s decode: %s", what[k], sn_error(ctx));
        CHECK(os[0] == 2 && os[1] == 3 && os[2] == 24 && os[3] == 16);
        if (!lat || !smp || !img) {
            sn_clear_error(ctx);
        } else if (k == 0) {
            ref_lat = lat, ref_smp = smp, ref_img = img;
            lat = smp = img = NULL;
            /* the sample differs from the mean, and noise = 0 gives the mean */
            CHECK(check_rel_err(ref_smp, ref_lat, 2 * 4 * 6 * 4) > 1e-3);
            float *zero = calloc(2 * 4 * 6 * 4, sizeof(float));
            float *m0 = run(m.vae, 1, x, xs, zero, os);
            if (m0) CHECK_CLOSE(m0, ref_lat, 2 * 4 * 6 * 4, 1e-6, "encode with zero noise");
            free(zero), free(m0);
        } else if (ref_lat) {
            CHECK_CLOSE(lat, ref_lat, 2 * 4 * 6 * 4, 1e-6, what[k]);
            CHECK_CLOSE(smp, ref_smp, 2 * 4 * 6 * 4, 1e-6, what[k]);
            CHECK_CLOSE(img, ref_img, 2 * 3 * 24 * 16, 1e-6, what[k]);
        }
        free(lat), free(smp), free(img);
        unload(&m);
    }

    /* a decoder-only file decodes the same, and cannot encode */
    static syn_list ld; /* the decoder tensors of l, sharing their data */
    ld.n = 0;
    for (int i = 0; i < l.n; i++)
        if (!strncmp(l.t[i].name, "decoder.", 8) || !strncmp(l.t[i].name, "post_quant_conv.", 16))
            ld.t[ld.n++] = l.t[i];
    {
        const char *p = syn_write(&ld, 3, "kl_decoder_only.safetensors",
                                  (syn_write_opts){.naming = NAMES_LDM, .meta = meta, .n_meta = 1});
        loaded m = load(p, NULL, NULL);
        CHECKF(m.vae != NULL, "decoder only: %s", sn_error(ctx));
        if (m.vae) {
            CHECK(!m.vae->info.has_encoder && m.vae->info.has_decoder);
            CHECK(strstr(m.vae->info.description, "decoder only") != NULL);
            int64_t os[4];
            float *img = run(m.vae, 0, z, zs, NULL, os);
            CHECKF(img != NULL, "%s", sn_error(ctx));
            if (img && ref_img) CHECK_CLOSE(img, ref_img, 2 * 3 * 24 * 16, 1e-6, "decoder only");
            free(img);
            float *lat = run(m.vae, 1, x, xs, NULL, os);
            CHECK(lat == NULL && !sn_ok(ctx));
            free(lat);
        }
        sn_clear_error(ctx);
        unload(&m);
    }

    /* SDXL from the metadata: same weights, latents scaled by 0.13025 instead of 0.18215 */
    {
        static const char *mx[] = {"sinter.vae.norm_num_groups", "4", "sinter.vae.family", "sdxl"};
        const char *p = syn_write(&l, 3, "kl_sdxl.safetensors",
                                  (syn_write_opts){.naming = NAMES_DIFFUSERS, .meta = mx, .n_meta = 2});
        loaded m = load(p, NULL, NULL);
        CHECKF(m.vae && !strcmp(m.vae->info.family, "sdxl"), "sdxl: %s", sn_error(ctx));
        int64_t os[4];
        float *lat = m.vae ? run(m.vae, 1, x, xs, NULL, os) : NULL;
        if (lat && ref_lat) {
            for (int i = 0; i < 2 * 4 * 6 * 4; i++) lat[i] *= 0.18215f / 0.13025f;
            CHECK_CLOSE(lat, ref_lat, 2 * 4 * 6 * 4, 1e-5, "sdxl scale");
        }
        free(lat);
        unload(&m);
        /* a full SDXL checkpoint: two text encoders under conditioner.embedders. */
        p = syn_write(&l, 3, "kl_sdxl_full.safetensors",
                      (syn_write_opts){.naming = NAMES_LDM, .prefix = "first_stage_model.", .meta = meta,
                                       .n_meta = 1, .extra = "conditioner.embedders.1.model.ln_final.weight"});
        m = load(p, NULL, NULL);
        CHECKF(m.vae && !strcmp(m.vae->info.family, "sdxl"), "sdxl full: %s", sn_error(ctx));
        unload(&m);
        /* the kind insists on sdxl too */
        m = load(files[0], "sdxl", NULL);
        CHECK(m.vae && !strcmp(m.vae->info.family, "sdxl"));
        unload(&m);
        sn_clear_error(ctx);
    }

    /* refusals of a broken AutoencoderKL: context error set, naming the problem */
    {
        struct {
            syn_write_opts o;
            const char *expect;
        } bad[] = {
            {{.naming = NAMES_DIFFUSERS, .meta = meta, .n_meta = 1,
              .bad = "decoder.up_blocks.1.resnets.0.conv2.weight"},
             "decoder.up_blocks.1.resnets.0.conv2.weight"},
            {{.naming = NAMES_LDM, .meta = meta, .n_meta = 1,
              .bad = "encoder.down_blocks.1.resnets.0.conv_shortcut.weight"},
             "encoder.down.1.block.0.nin_shortcut.weight"},
            {{.naming = NAMES_DIFFUSERS, .meta = meta, .n_meta = 1, .drop = "decoder.conv_out.bias"},
             "decoder.conv_out.bias"},
            {{.naming = NAMES_DIFFUSERS, .meta = meta, .n_meta = 1,
              .extra = "encoder.down_blocks.0.resnets.0.time_emb_proj.weight"},
             "time_emb_proj"},
            {{.naming = NAMES_DIFFUSERS, .meta = (const char *[]){"sinter.vae.norm_num_groups", "3"},
              .n_meta = 1},
             "groups"},
            {{.naming = NAMES_DIFFUSERS, .meta = (const char *[]){"sinter.vae.norm_num_groups", "4",
                                                                  "sinter.vae.family", "flux1"},
              .n_meta = 2},
             "flux1"},
        };
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
            const char *p = syn_write(&l, 3, "kl_bad.safetensors", bad[i].o);
            const char *why = NULL;
            loaded m = load(p, NULL, &why);
            CHECKF(m.vae == NULL && !sn_ok(ctx) && strstr(sn_error(ctx), bad[i].expect),
                   "broken file %zu: expected an error naming '%s', got '%s'", i, bad[i].expect,
                   sn_error(ctx));
            sn_clear_error(ctx);
            unload(&m);
        }
        /* a 4-channel file loaded as sd3 */
        loaded m = load(files[0], "sd3", NULL);
        CHECK(m.vae == NULL && !sn_ok(ctx) && strstr(sn_error(ctx), "sd3"));
        sn_clear_error(ctx);
        unload(&m);
    }

    for (int k = 0; k < 3; k++) free((char *)files[k]);
    free(x), free(z), free(noise), free(ref_lat), free(ref_smp), free(ref_img);
    syn_free(&l);
}

/* Files that are not AutoencoderKLs are declined without an error. */
static void test_not_kl(void) {
    static syn_list l;
    l.n = 0;
    check_seed(2);
    add_conv(&l, "model.diffusion_model.conv_in", 8, 4, 3);
    add_conv(&l, "encoder.layers.0", 8, 3, 3); /* diffusers AutoencoderTiny */
    const char *p = syn_write(&l, 1, "not_kl.safetensors", (syn_write_opts){0});
    const char *why = NULL;
    loaded m = load(p, NULL, &why);
    CHECK(m.vae == NULL && sn_ok(ctx) && why && *why);
    unload(&m);
    /* conv_in without down blocks */
    syn_free(&l);
    add_conv(&l, "encoder.conv_in", 8, 3, 3);
    p = syn_write(&l, 1, "not_kl2.safetensors", (syn_write_opts){0});
    m = load(p, NULL, &why);
    CHECK(m.vae == NULL && sn_ok(ctx) && why && *why);
    unload(&m);
    /* a kind that is not a KL family */
    syn_cfg c = {.levels = 2, .boc = {8, 8}, .enc_res = 1, .dec_res = 1, .z = 4, .quant = 1,
                 .in = 3, .out = 3, .encoder = 1, .decoder = 1};
    static const char *meta[] = {"sinter.vae.norm_num_groups", "4"};
    syn_free(&l);
    syn_make(&l, &c);
    p = syn_write(&l, 2, "kl_small.safetensors", (syn_write_opts){.meta = meta, .n_meta = 1});
    why = NULL;
    m = load(p, "taesd", &why);
    CHECK(m.vae == NULL && sn_ok(ctx) && why && *why);
    unload(&m);
    m = load(p, "auto", &why);
    CHECKF(m.vae != NULL && !strcmp(m.vae->info.family, "sd") && m.vae->info.downscale == 2,
           "%s", sn_error(ctx));
    sn_clear_error(ctx);
    unload(&m);
    syn_free(&l);
}

/* 16 channels without quant convs: FLUX.1 by default, SD3 by kind or modelspec; per-channel
 * statistics for 32 channels (VA-VAE). */
static void test_families(void) {
    static syn_list l;
    syn_cfg c = {.levels = 2, .boc = {8, 16}, .enc_res = 2, .dec_res = 3, .mid_attn = 1,
                 .z = 16, .quant = 0, .in = 3, .out = 3, .encoder = 1, .decoder = 1};
    check_seed(3);
    syn_make(&l, &c);
    static const char *meta[] = {"sinter.vae.norm_num_groups", "8"};
    static const char *meta3[] = {"sinter.vae.norm_num_groups", "8", "modelspec.architecture",
                                  "stable-diffusion-v3-medium"};
    const int64_t xs[4] = {1, 3, 8, 6}, zs[4] = {1, 16, 4, 3};
    float *x = random_buf(3 * 8 * 6), *z = random_buf(16 * 4 * 3);
    const char *pf = strdup(syn_write(&l, 2, "kl_flux.safetensors",
                                      (syn_write_opts){.naming = NAMES_LDM, .meta = meta, .n_meta = 1}));
    const char *p3 = strdup(syn_write(&l, 2, "kl_sd3.safetensors",
                                      (syn_write_opts){.naming = NAMES_LDM, .meta = meta3, .n_meta = 2}));
    loaded f = load(pf, NULL, NULL), s3 = load(p3, NULL, NULL), s3k = load(pf, "sd3", NULL);
    CHECKF(f.vae && s3.vae && s3k.vae, "%s", sn_error(ctx));
    {   /* a full checkpoint: an MMDiT beside the VAE means SD3, double blocks mean FLUX.1 */
        const char *pj = syn_write(&l, 2, "kl_sd3_full.safetensors",
                                   (syn_write_opts){.naming = NAMES_LDM, .prefix = "first_stage_model.",
                                                    .meta = meta, .n_meta = 1,
                                                    .extra = "model.diffusion_model.joint_blocks.0.w"});
        loaded j = load(pj, NULL, NULL);
        CHECKF(j.vae && !strcmp(j.vae->info.family, "sd3"), "sd3 full: %s", sn_error(ctx));
        unload(&j);
        pj = syn_write(&l, 2, "kl_flux_full.safetensors",
                       (syn_write_opts){.naming = NAMES_LDM, .prefix = "vae.", .meta = meta, .n_meta = 1,
                                        .extra = "model.diffusion_model.double_blocks.0.w"});
        j = load(pj, NULL, NULL);
        CHECKF(j.vae && !strcmp(j.vae->info.family, "flux1"), "flux1 full: %s", sn_error(ctx));
        unload(&j);
        sn_clear_error(ctx);
    }
    if (f.vae && s3.vae && s3k.vae) {
        CHECK(!strcmp(f.vae->info.family, "flux1") && f.vae->info.latent_channels == 16);
        CHECK(!strcmp(s3.vae->info.family, "sd3") && !strcmp(s3k.vae->info.family, "sd3"));
        CHECK(strstr(f.vae->info.description, "FLUX.1 (16 channels, f2)") != NULL);
        int64_t os[4];
        float *lf = run(f.vae, 1, x, xs, NULL, os), *l3 = run(s3.vae, 1, x, xs, NULL, os);
        CHECK(lf && l3 && os[1] == 16 && os[2] == 4 && os[3] == 3);
        if (lf && l3) { /* the same raw latents under both scalings */
            for (int i = 0; i < 16 * 4 * 3; i++) {
                lf[i] = lf[i] / 0.3611f + 0.1159f;
                l3[i] = l3[i] / 1.5305f + 0.0609f;
            }
            CHECK_CLOSE(l3, lf, 16 * 4 * 3, 1e-5, "flux1 vs sd3 latents");
        }
        /* decode: z' for FLUX equals (z'/1.5305 + 0.0609 - 0.1159) * 0.3611 for SD3 */
        float *z3 = malloc(sizeof(float) * 16 * 4 * 3);
        for (int i = 0; i < 16 * 4 * 3; i++) z3[i] = ((z[i] / 0.3611f + 0.1159f) - 0.0609f) * 1.5305f;
        float *df = run(f.vae, 0, z, zs, NULL, os), *d3 = run(s3.vae, 0, z3, zs, NULL, os);
        CHECK(df && d3 && os[1] == 3 && os[2] == 8 && os[3] == 6);
        if (df && d3) CHECK_CLOSE(d3, df, 3 * 8 * 6, 1e-5, "flux1 vs sd3 decode");
        free(lf), free(l3), free(df), free(d3), free(z3);
    }
    sn_clear_error(ctx);
    unload(&f), unload(&s3), unload(&s3k);
    free((char *)pf), free((char *)p3);
    syn_free(&l);

    /* VA-VAE-like: 32 channels, quant convs, attention in the deepest level */
    syn_cfg v = {.levels = 3, .boc = {8, 8, 16}, .enc_res = 2, .dec_res = 3,
                 .enc_attn = {0, 0, 1}, .dec_attn = {1, 0, 0}, .mid_attn = 1,
                 .z = 32, .quant = 1, .in = 3, .out = 3, .encoder = 1, .decoder = 1};
    check_seed(4);
    syn_make(&l, &v);
    float stats[64];
    for (int i = 0; i < 32; i++) stats[i] = 0.3f * check_uniform(), stats[32 + i] = 0.7f + 0.5f * check_uniform();
    const char *pv = strdup(syn_write(&l, 3, "kl_vavae.safetensors",
                                      (syn_write_opts){.naming = NAMES_LDM, .prefix = "vae.", .meta = meta,
                                                       .n_meta = 1, .stats = stats, .stats_c = 32}));
    /* without statistics: refused; with identity statistics in metadata: raw latents */
    const char *pn = syn_write(&l, 3, "kl_vavae_nostats.safetensors",
                               (syn_write_opts){.naming = NAMES_LDM, .meta = meta, .n_meta = 1});
    loaded n = load(pn, NULL, NULL);
    CHECKF(n.vae == NULL && !sn_ok(ctx) && strstr(sn_error(ctx), "latents_mean"), "%s", sn_error(ctx));
    sn_clear_error(ctx);
    unload(&n);
    char mean0[400], std1[400];
    size_t a = 0, b = 0;
    for (int i = 0; i < 32; i++) {
        a += snprintf(mean0 + a, sizeof mean0 - a, "%s0", i ? "," : "[");
        b += snprintf(std1 + b, sizeof std1 - b, "%s1", i ? "," : "[");
    }
    snprintf(mean0 + a, sizeof mean0 - a, "]");
    snprintf(std1 + b, sizeof std1 - b, "]");
    const char *mraw[] = {"sinter.vae.norm_num_groups", "8", "sinter.vae.latents_mean", mean0,
                          "sinter.vae.latents_std", std1};
    const char *pr = strdup(syn_write(&l, 3, "kl_vavae_raw.safetensors",
                                      (syn_write_opts){.naming = NAMES_DIFFUSERS, .meta = mraw, .n_meta = 3}));
    loaded vv = load(pv, NULL, NULL), vr = load(pr, NULL, NULL);
    CHECKF(vv.vae && vr.vae, "%s", sn_error(ctx));
    if (vv.vae && vr.vae) {
        CHECK(!strcmp(vv.vae->info.family, "vavae") && vv.vae->info.latent_channels == 32 &&
              vv.vae->info.downscale == 4);
        const int64_t vx[4] = {1, 3, 12, 8}, vz[4] = {1, 32, 3, 2};
        float *xv = random_buf(3 * 12 * 8), *zv = random_buf(32 * 3 * 2);
        int64_t os[4];
        float *ln = run(vv.vae, 1, xv, vx, NULL, os), *lr = run(vr.vae, 1, xv, vx, NULL, os);
        CHECK(ln && lr && os[1] == 32 && os[2] == 3 && os[3] == 2);
        if (ln && lr) {
            for (int ch = 0; ch < 32; ch++)
                for (int i = 0; i < 6; i++) lr[ch * 6 + i] = (lr[ch * 6 + i] - stats[ch]) / stats[32 + ch];
            CHECK_CLOSE(ln, lr, 32 * 6, 1e-5, "vavae per-channel normalisation");
        }
        float *zr = malloc(sizeof(float) * 32 * 6);
        for (int ch = 0; ch < 32; ch++)
            for (int i = 0; i < 6; i++) zr[ch * 6 + i] = zv[ch * 6 + i] * stats[32 + ch] + stats[ch];
        float *dn = run(vv.vae, 0, zv, vz, NULL, os), *dr = run(vr.vae, 0, zr, vz, NULL, os);
        CHECK(dn && dr && os[2] == 12 && os[3] == 8);
        if (dn && dr) CHECK_CLOSE(dn, dr, 3 * 12 * 8, 1e-5, "vavae decode normalisation");
        /* statistics from a latents_stats file beside the checkpoint (tensors mean, std) */
        char dir[1200], err[512];
        snprintf(dir, sizeof dir, "%s/vavae_dir", tmpdir);
        mkdir(dir, 0777);
        const char *ps = strdup(syn_write(&l, 3, "vavae_dir/vavae.safetensors",
                                          (syn_write_opts){.naming = NAMES_LDM, .meta = meta, .n_meta = 1}));
        sn_named_tensor st[2] = {{"mean", sn_tensor_wrap(stats, SN_F32, SN_SHAPE(1, 32, 1, 1))},
                                 {"std", sn_tensor_wrap(stats + 32, SN_F32, SN_SHAPE(1, 32, 1, 1))}};
        char sp[1300];
        snprintf(sp, sizeof sp, "%s/latents_stats.safetensors", dir);
        CHECKF(sn_safetensors_write(sp, st, 2, NULL, 0, err, sizeof err) == 0, "%s", err);
        loaded vs = load(ps, NULL, NULL);
        CHECKF(vs.vae != NULL, "stats beside: %s", sn_error(ctx));
        float *ls = vs.vae ? run(vs.vae, 1, xv, vx, NULL, os) : NULL;
        if (ls && ln) CHECK_CLOSE(ls, ln, 32 * 6, 1e-6, "vavae statistics from latents_stats");
        free(ls);
        unload(&vs);
        sn_clear_error(ctx);
        free((char *)ps);
        free(xv), free(zv), free(ln), free(lr), free(zr), free(dn), free(dr);
    }
    sn_clear_error(ctx);
    unload(&vv), unload(&vr);
    free((char *)pv), free((char *)pr);
    free(x), free(z);
    syn_free(&l);
}

/* ----------------------------------------------------------------------------------------
 * Parity with PyTorch */

static const sn_ckpt_entry *io_get(sn_ckpt *io, const char *name) {
    const sn_ckpt_entry *e = sn_ckpt_find(io, name);
    CHECKF(e && e->dtype == SN_F32 && e->ndim == 4, "fixture tensor '%s' missing or not f32 4-D",
           name);
    return e && e->dtype == SN_F32 && e->ndim == 4 ? e : NULL;
}

static void compare(const float *got, const int64_t *gshape, const sn_ckpt_entry *ref,
                    const char *what) {
    int same = got != NULL;
    for (int i = 0; same && i < 4; i++) same = gshape[i] == ref->shape[i];
    CHECKF(same, "%s: missing output or wrong shape", what);
    if (!same) return;
    double e = check_rel_err(got, (const float *)ref->data, (long)sn_ckpt_entry_numel(ref));
    CHECKF(e <= 1e-4, "%s: relative error %.3g > 1e-4", what, e);
    printf("  %-24s relative error %.2g\n", what, e);
}

static int test_parity(const char *dir) {
    static const char *families[] = {"sd", "sdxl", "sd3", "flux1", "vavae"};
    int done = 0;
    for (int k = 0; k < 5; k++) {
        char mp[1200], iop[1200], err[512], what[64];
        snprintf(mp, sizeof mp, "%s/%s.safetensors", dir, families[k]);
        snprintf(iop, sizeof iop, "%s/%s_io.safetensors", dir, families[k]);
        sn_ckpt *io = sn_ckpt_open(iop, err, sizeof err);
        CHECKF(io != NULL, "%s", err);
        if (!io) continue;
        loaded m = load(mp, NULL, NULL);
        CHECKF(m.vae != NULL, "%s: %s", families[k], sn_error(ctx));
        if (m.vae) {
            CHECKF(!strcmp(m.vae->info.family, families[k]), "%s detected as %s", families[k],
                   m.vae->info.family);
            const sn_ckpt_entry *x = io_get(io, "x"), *lat = io_get(io, "latents"),
                                *noise = io_get(io, "noise"), *smp = io_get(io, "latents_sample"),
                                *z = io_get(io, "z"), *img = io_get(io, "decoded");
            int64_t os[4] = {0};
            if (x && lat) {
                float *got = run(m.vae, 1, x->data, x->shape, NULL, os);
                snprintf(what, sizeof what, "%s encode", families[k]);
                CHECKF(got != NULL, "%s: %s", what, sn_error(ctx));
                compare(got, os, lat, what);
                free(got);
            }
            if (x && noise && smp) {
                float *got = run(m.vae, 1, x->data, x->shape, noise->data, os);
                snprintf(what, sizeof what, "%s encode (sample)", families[k]);
                CHECKF(got != NULL, "%s: %s", what, sn_error(ctx));
                compare(got, os, smp, what);
                free(got);
            }
            if (z && img) {
                float *got = run(m.vae, 0, z->data, z->shape, NULL, os);
                snprintf(what, sizeof what, "%s decode", families[k]);
                CHECKF(got != NULL, "%s: %s", what, sn_error(ctx));
                compare(got, os, img, what);
                free(got);
            }
            printf("parity %-6s %s\n", families[k], m.vae->info.description);
            done++;
        }
        sn_clear_error(ctx);
        unload(&m);
        sn_ckpt_close(io);
    }
    return done;
}

int main(void) {
    char err[256];
    ctx = sn_ctx_new(&(sn_ctx_opts){.device = SN_CPU, .threads = 2}, err, sizeof err);
    CHECKF(ctx != NULL, "%s", err);
    if (!ctx) return check_summary("test_vae_kl");
    snprintf(tmpdir, sizeof tmpdir, "%s", check_tmpdir());

    test_namings();
    test_not_kl();
    test_families();

    const char *src = getenv("SINTER_SRC");
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/vae_kl", src && *src ? src : "..");
    struct stat st;
    if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
        test_parity(dir);
    else
        printf("parity: %s is absent; run python3 tools/reference/autoencoder_kl.py "
               "tests/fixtures/vae_kl on a machine with PyTorch (skipping the parity part)\n", dir);

    sn_ctx_free(ctx);
    return check_summary("test_vae_kl");
}
