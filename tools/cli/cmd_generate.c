/* sinter generate: class-conditional images from a DiT or LightningDiT checkpoint.
 *
 * seed -> x_T (torch.randn from the chosen generator) -> sampler loop around the denoiser
 * (with classifier-free guidance) -> autoencoder decode -> PNG. The denoiser wrapper below is
 * the only place that knows both the sampler's callback and the model's forward.
 * --save-tensor also writes the decoded images and the final latents as f32 tensors, which is
 * what tests/test_generate.c compares with the PyTorch pipeline (tools/reference/
 * generate_e2e.py): 8-bit PNGs would hide differences below half a grey level. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/log.h"
#include "../../core/ops.h"
#include "../../core/rng.h"
#include "../../dit/dit.h"
#include "../../dit/step.h"
#include "../../samplers/sampler.h"
#include "../../vae/vae.h"
#include "../lib/image.h"
#include "cli.h"
#include "pipeline.h"

/* --- the denoiser callback: dit/step.c (guidance batching, CUDA graphs) ------------------ */

static void dit_eval(sn_ctx *ctx, void *user, sn_tensor x, double t, sn_tensor *cond,
                     sn_tensor *uncond) {
    sn_dit_step_eval(ctx, user, x, t, cond, uncond);
}

/* --- output ----------------------------------------------------------------------------- */

/* --save-tensor: "image" (N, 3, H, W) in [-1, 1], not clamped, and "latents" (N, C, h, w) in
 * the model's latent space (before the autoencoder's scaling), f32; params as metadata. */
static int save_tensors(sn_ctx *ctx, const char *path, sn_tensor y, sn_tensor z, const char *params) {
    float *hy = malloc(sn_nbytes(y)), *hz = malloc(sn_nbytes(z));
    int r;
    if (!hy || !hz) {
        r = sn_fail_exit("out of memory");
    } else {
        sn_download(ctx, y, hy);
        sn_download(ctx, z, hz);
        char err[1024];
        const sn_named_tensor ts[2] = {{"image", sn_tensor_wrap(hy, SN_F32, 4, y.shape)},
                                       {"latents", sn_tensor_wrap(hz, SN_F32, 4, z.shape)}};
        const char *meta[] = {"parameters", params};
        r = sn_safetensors_write(path, ts, 2, meta, 1, err, sizeof err) ? sn_fail_exit("%s", err)
                                                                        : SN_EXIT_OK;
        if (r == SN_EXIT_OK) sn_info("wrote %s", path);
    }
    free(hy);
    free(hz);
    return r;
}

static int parse_labels(const char *s, int32_t *out, int cap) {
    int n = 0;
    while (s && *s && n < cap) {
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (end == s || errno || v < 0 || v > 1 << 30 || (*end && *end != ',')) return -1;
        out[n++] = (int32_t)v;
        s = *end ? end + 1 : end;
    }
    return n;
}

/* --- the command ------------------------------------------------------------------------ */

typedef struct {
    sn_common_opts common;
    const char *model, *model_kind, *vae, *vae_kind, *out, *classes, *sampler, *rng, *save, *attention;
    int steps, n, size, grid, no_graph;
    double cfg, eta, shift;
    const char *seed_text;
} gen_opts;

static int run(int argc, char **argv) {
    gen_opts o = {.cfg = -1, .eta = -1, .shift = -1, .steps = 0, .rng = "cpu"};
    const sn_opt opts[] = {
        {"--model", NULL, OPT_STR, &o.model, "FILE", "DiT or LightningDiT checkpoint (.pt or .safetensors)"},
        {"--model-kind", NULL, OPT_STR, &o.model_kind, "KIND", "auto (default), dit, lightningdit; options as ':heads=N'"},
        {"--vae", NULL, OPT_STR, &o.vae, "FILE", "autoencoder for the model's latents"},
        {"--vae-kind", NULL, OPT_STR, &o.vae_kind, "KIND", "as for 'sinter recon' (default auto)"},
        {"--attention", NULL, OPT_STR, &o.attention, "SPEC", "full (default) or neighborhood:window=K[xK][,stride=S][,dilation=D][,causal=C] over the token grid"},
        {"--class", "-c", OPT_STR, &o.classes, "N[,N...]", "class labels (ImageNet ids 0-999 for the released models)"},
        {"--n", NULL, OPT_INT, &o.n, "N", "images (default: one per class; classes repeat)"},
        {"--sampler", NULL, OPT_STR, &o.sampler, "NAME", "ddpm, ddim, euler, heun (default: the model family's)"},
        {"--steps", NULL, OPT_INT, &o.steps, "N", "sampling steps (default: the model family's)"},
        {"--cfg", NULL, OPT_FLOAT, &o.cfg, "SCALE", "classifier-free guidance scale; 1 turns it off"},
        {"--eta", NULL, OPT_FLOAT, &o.eta, "ETA", "DDIM eta (default 0)"},
        {"--shift", NULL, OPT_FLOAT, &o.shift, "S", "flow time shift (euler/heun)"},
        {"--seed", NULL, OPT_STR, &o.seed_text, "N", "random seed, 0 to 2^64-1 (default 0)"},
        {"--rng", NULL, OPT_STR, &o.rng, "cpu|cuda", "which torch generator the noise reproduces (default cpu)"},
        {"--size", NULL, OPT_INT, &o.size, "PIXELS", "image side (default: the model's trained size)"},
        {"--grid", NULL, OPT_FLAG, &o.grid, NULL, "write all images as one grid instead of numbered files"},
        {"--no-graph", NULL, OPT_FLAG, &o.no_graph, NULL, "CUDA: launch every op of every step (default: record one step as a CUDA graph and replay it)"},
        {"--output", "-o", OPT_STR, &o.out, "FILE.png", "output image"},
        {"--save-tensor", NULL, OPT_STR, &o.save, "FILE.safetensors",
         "write the f32 'image' (N,3,H,W) in [-1,1] and 'latents' (-o is then optional)"},
        SN_COMMON_OPTS(o.common),
    };
    char *pos[1];
    int npos, r = sn_parse(&sn_cmd_generate, argc, argv, opts, sizeof opts / sizeof opts[0], pos, 0, &npos);
    if (r >= 0) return r;
    if (!o.model) return sn_usage_error(&sn_cmd_generate, "--model FILE is required");
    if (!o.vae) return sn_usage_error(&sn_cmd_generate, "--vae FILE is required");
    if (!o.out && !o.save)
        return sn_usage_error(&sn_cmd_generate, "-o FILE.png (or --save-tensor FILE) is required");
    if (!o.classes) return sn_usage_error(&sn_cmd_generate, "--class N is required");
    int32_t given[1024];
    int ng = parse_labels(o.classes, given, 1024);
    if (ng <= 0) return sn_usage_error(&sn_cmd_generate, "--class expects labels like 207 or 207,360");
    if (o.n < 0 || o.n > 1024) return sn_usage_error(&sn_cmd_generate, "--n must be 1..1024");
    if (o.steps < 0) return sn_usage_error(&sn_cmd_generate, "--steps must be positive");
    if (o.size < 0) return sn_usage_error(&sn_cmd_generate, "--size must be positive");
    sn_dit_step *step = NULL;
    sn_sampler_kind skind = SN_SAMPLER_DDPM;
    if (o.sampler && sn_sampler_parse(o.sampler, &skind) != 0)
        return sn_usage_error(&sn_cmd_generate, "unknown sampler '%s' (ddpm, ddim, euler, heun)", o.sampler);
    uint64_t seed = 0;
    if ((r = sn_pl_parse_seed(&sn_cmd_generate, o.seed_text, &seed)) >= 0) return r;
    sn_rng_kind rkind = sn_rng_kind_parse(o.rng);
    if (rkind == SN_RNG_INVALID) return sn_usage_error(&sn_cmd_generate, "--rng must be cpu or cuda");
    int n = o.n ? o.n : ng;
    int32_t *labels = malloc(sizeof(int32_t) * n);
    for (int i = 0; i < n; i++) labels[i] = given[i % ng];

    sn_ctx *ctx = NULL;
    sn_dit *model = NULL;
    sn_vae *vae = NULL;
    sn_image *imgs = NULL;
    r = sn_cli_context(&sn_cmd_generate, &o.common, &ctx);
    if (r >= 0) goto done;
    sn_ctx_warm_up(ctx, SN_WARM_MATMUL | SN_WARM_CONV); /* the decoder comes after the sampling */
    r = SN_EXIT_FAIL;
    if (!(model = sn_dit_load(ctx, o.model, o.model_kind)) ||
        sn_dit_set_attention(ctx, model, o.attention) ||
        !(vae = sn_vae_load(ctx, o.vae, o.vae_kind))) {
        sn_fail_exit("%s", sn_error(ctx));
        goto done;
    }
    const sn_dit_info *mi = &model->info;
    sn_info("model: %s", mi->description);
    sn_info("autoencoder: %s", vae->info.description);
    if (!strcmp(mi->family, "textdit")) {
        sn_fail_exit("%s is a text-to-image model; use 'sinter t2i \"prompt\" --model %s'", o.model, o.model);
        goto done;
    }
    if (mi->in_channels != vae->info.latent_channels) {
        sn_fail_exit("%s has %d latent channels but %s makes %d: they do not belong together",
                     o.model, mi->in_channels, o.vae, vae->info.latent_channels);
        goto done;
    }
    for (int i = 0; i < ng; i++)
        if (given[i] >= mi->num_classes) {
            sn_fail_exit("class %d is outside this model's 0..%d", given[i], mi->num_classes - 1);
            goto done;
        }
    int f = vae->info.downscale;
    int size = o.size ? o.size : (mi->input_size ? mi->input_size * f : 256);
    if (size % (f * mi->patch)) {
        sn_fail_exit("--size %d is not a multiple of %d (autoencoder %d x patch %d)", size,
                     f * mi->patch, f, mi->patch);
        goto done;
    }
    int ls = size / f;

    sn_sampler_cfg cfg;
    sn_sampler_cfg_default(&cfg, skind);
    if (sn_sampler_preset(&cfg, mi->family) == 0 && o.sampler && cfg.kind != skind) {
        sn_sampler_cfg preset = cfg; /* another sampler than the family's: keep its guidance */
        sn_sampler_cfg_default(&cfg, skind);
        cfg.guidance = preset.guidance;
        if (skind >= SN_SAMPLER_EULER && preset.kind >= SN_SAMPLER_EULER) {
            cfg.conv = preset.conv, cfg.shift = preset.shift, cfg.shift_base = preset.shift_base;
            cfg.t_start = preset.t_start, cfg.t_end = preset.t_end;
        }
    }
    if ((cfg.kind >= SN_SAMPLER_EULER) != (mi->time == SN_DIT_TIME_FLOW)) {
        sn_fail_exit("sampler %s does not fit a %s model (%s)", sn_sampler_name(cfg.kind),
                     mi->time == SN_DIT_TIME_FLOW ? "flow-matching" : "diffusion", mi->family);
        goto done;
    }
    if (o.steps) cfg.steps = o.steps;
    if (o.cfg >= 0) cfg.guidance.scale = o.cfg;
    if (o.eta >= 0) cfg.eta = o.eta;
    if (o.shift >= 0) cfg.shift = o.shift;

    /* x_T = torch.randn(n, C, ls, ls) from a generator seeded with --seed */
    sn_rng rng;
    sn_rng_init(&rng, rkind, seed);
    sn_tensor xT = sn_pl_initial_noise(ctx, &rng, SN_SHAPE(n, mi->in_channels, ls, ls));
    if (!sn_ok(ctx)) {
        sn_fail_exit("%s", sn_error(ctx));
        goto done;
    }

    step = sn_dit_step_new(ctx, model, labels, n, !o.no_graph);
    if (!step) {
        sn_fail_exit("%s", sn_error(ctx));
        goto done;
    }
    sn_denoiser den = {step, dit_eval, mi->time == SN_DIT_TIME_FLOW ? SN_PRED_VELOCITY : SN_PRED_EPS,
                       mi->learn_sigma};
    sn_noise src = sn_noise_from_rng(&rng);
    sn_progress prog = {0};
    sn_sample_progress sp = {&prog, sn_pl_on_step};
    sn_info("%d image%s of %dx%d, %s, %d steps, cfg %g, seed %llu (%s generator)", n, n == 1 ? "" : "s",
            size, size, sn_sampler_name(cfg.kind), cfg.steps, cfg.guidance.scale, (unsigned long long)seed, o.rng);
    sn_tensor z = sn_sample(ctx, &cfg, &den, xT, &src, &sp);
    sn_progress_end(&prog);
    sn_tensor y = sn_vae_decode(ctx, vae, z);
    imgs = calloc(n, sizeof *imgs);
    if (!sn_ok(ctx) || !imgs || (o.out && sn_pl_to_images(ctx, y, imgs))) {
        sn_fail_exit("%s", sn_ok(ctx) ? "out of memory" : sn_error(ctx));
        goto done;
    }

    char extra[256];
    snprintf(extra, sizeof extra, "Class: %s, RNG: %s", o.classes, o.rng);
    sn_gen_params gp = {.sampler = sn_sampler_name(cfg.kind), .model = sn_pl_basename(o.model),
                        .steps = cfg.steps, .width = size, .height = size,
                        .cfg = cfg.guidance.scale, .seed = seed, .extra = extra};
    char *params = sn_params_format(&gp);
    r = o.save ? save_tensors(ctx, o.save, y, z, params ? params : "") : SN_EXIT_OK;
    if (!o.out || r != SN_EXIT_OK) {
        /* only the tensors were asked for (or writing them failed) */
    } else {
        r = sn_pl_write_images(o.out, imgs, n, o.grid, params);
    }
    free(params);

done:
    for (int i = 0; imgs && i < n; i++) sn_image_free(&imgs[i]);
    free(imgs);
    free(labels);
    sn_dit_step_free(step);
    sn_dit_free(model);
    sn_vae_free(vae);
    sn_ctx_free(ctx);
    return r;
}

const sn_command sn_cmd_generate = {
    "generate", "--model FILE --vae FILE --class N[,N...] [options] -o OUT.png",
    "class-conditional images from a DiT or LightningDiT checkpoint",
    "Defaults follow each family's released sampling script: DiT ddpm 250 steps, cfg 4 on 3\n"
    "channels; LightningDiT euler on a 250-point grid with shift 0.3, cfg 6.7 from t=0.125.\n"
    "With the same seed and --rng cuda, the noise equals torch.randn on an H200 (the reference\n"
    "scripts draw on the GPU); --rng cpu reproduces a CPU generator.",
    run,
};
