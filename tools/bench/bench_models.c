/* Whole-model CUDA benchmarks, ours beside tools/bench/bench_models_torch.py (PyTorch eager,
 * torch.compile) on the same GPU and the same random weights, which that script writes first:
 *
 *   1. the DiT-XL/2 256px denoiser step (28 blocks, width 1152, 16 heads, 256 tokens) at batch
 *      1, 8, 64, 256, bf16: eager (every op launched) and replayed as a CUDA graph;
 *   2. the SD-VAE decode (AutoencoderKL 128-256-512-512) of a 512x512 and a 1024x1024 image;
 *   3. end to end: 50 DDIM steps of DiT-XL/2 at batch 64 with classifier-free guidance
 *      (scale 4: 128 rows per forward) and the SD-VAE decode of the 64 latents, images/s.
 *
 * Timing: after warm-up runs, each repetition is timed alone between stream synchronizations
 * and the median is printed (ms). Inputs are uniform random, never zeros.
 *
 * Usage: bench_models DIR [dtype: bf16 (default) | fp16 | fp32] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../core/backend.h"
#include "bench.h"
#include "../../core/ops.h"
#include "../../core/rng.h"
#include "../../dit/dit.h"
#include "../../dit/step.h"
#include "../../samplers/sampler.h"
#include "../../vae/vae.h"

static sn_ctx *ctx;

static void sync_or_die(const char *what) { bench_sync(ctx, "bench_models", what); }

static sn_tensor rnd(float lo, float hi, int nd, const int64_t *shape) {
    sn_tensor h = sn_tensor_wrap(NULL, SN_F32, nd, shape);
    float *p = malloc(sn_nbytes(h));
    static unsigned long long s = 0x9E3779B97F4A7C15ULL;
    for (int64_t i = 0; i < sn_numel(h); i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        p[i] = lo + (hi - lo) * (float)((s >> 11) * 0x1.0p-53);
    }
    h.data = p;
    sn_tensor t = sn_from_host(ctx, h);
    free(p);
    return t;
}

/* Median of up to `reps` timed calls of f (after `warm` untimed ones), at most ~3 s. */
typedef void (*body)(void *user);
static double median_ms(body f, void *user, int warm, int reps, const char *what) {
    double t[64];
    int n = 0;
    for (int i = 0; i < warm; i++) {
        sn_scope s = sn_scope_begin(ctx);
        f(user);
        sync_or_die(what);
        sn_scope_end(ctx, s, sn_none());
    }
    double start = bench_now();
    while (n < reps && n < 64 && (n < 3 || bench_now() - start < 3.0)) {
        sn_scope s = sn_scope_begin(ctx);
        double t0 = bench_now();
        f(user);
        sync_or_die(what);
        t[n++] = (bench_now() - t0) * 1e3;
        sn_scope_end(ctx, s, sn_none());
    }
    qsort(t, n, sizeof *t, bench_cmp);
    return t[n / 2];
}

/* --- 1. the DiT step ---------------------------------------------------------------------- */

typedef struct {
    sn_dit *m;
    sn_tensor x, t, y;
    sn_dit_step *step;
} dit_args;

static void dit_eager(void *u) {
    dit_args *a = u;
    sn_dit_forward(ctx, a->m, a->x, a->t, a->y);
}

static void dit_graph(void *u) {
    dit_args *a = u;
    sn_tensor c;
    sn_dit_step_eval(ctx, a->step, a->x, 500.0, &c, NULL);
}

static void bench_dit(sn_dit *m) {
    printf("\n1. DiT-XL/2 256px denoiser step (%s)\n", m->info.description);
    printf("%-6s %12s %12s %14s\n", "batch", "eager ms", "graph ms", "graph TFLOP/s");
    const int batches[] = {1, 8, 64, 256};
    for (int i = 0; i < 4; i++) {
        int b = batches[i];
        sn_scope s = sn_scope_begin(ctx);
        dit_args a = {.m = m};
        a.x = rnd(-1, 1, SN_SHAPE(b, 4, 32, 32));
        float *th = malloc(sizeof(float) * b);
        int32_t *yh = malloc(sizeof(int32_t) * b);
        for (int j = 0; j < b; j++) th[j] = 500.0f, yh[j] = (j * 37) % 1000;
        a.t = sn_from_host(ctx, sn_tensor_wrap(th, SN_F32, SN_SHAPE(b)));
        a.y = sn_from_host(ctx, sn_tensor_wrap(yh, SN_I32, SN_SHAPE(b)));
        double eager = median_ms(dit_eager, &a, 2, 20, "dit eager");
        a.step = sn_dit_step_new(ctx, m, yh, b, 1);
        double graph = median_ms(dit_graph, &a, 3, 20, "dit graph");
        /* forward FLOPs: 2 x params-weighted tokens (linear layers) + attention */
        double d = 1152, tok = 256, layers = 28;
        double lin = 2.0 * b * tok * layers * (d * 3 * d + d * d + 2 * d * 4 * d) +
                     2.0 * b * layers * d * 6 * d;
        double att = 4.0 * b * layers * tok * tok * d;
        printf("%-6d %12.3f %12.3f %14.1f\n", b, eager, graph, (lin + att) / (graph * 1e9));
        sn_dit_step_free(a.step);
        free(th), free(yh);
        sn_scope_end(ctx, s, sn_none());
    }
}

/* --- 2. the VAE decode --------------------------------------------------------------------- */

typedef struct {
    sn_vae *v;
    sn_tensor z;
} vae_args;

static void vae_decode(void *u) {
    vae_args *a = u;
    sn_vae_decode(ctx, a->v, a->z);
}

static void bench_vae(sn_vae *v) {
    printf("\n2. SD-VAE decode, batch 1 (%s)\n", v->info.description);
    printf("%-10s %12s\n", "image", "ms");
    const int sides[] = {512, 1024};
    for (int i = 0; i < 2; i++) {
        sn_scope s = sn_scope_begin(ctx);
        vae_args a = {v, rnd(-2, 2, SN_SHAPE(1, 4, sides[i] / 8, sides[i] / 8))};
        double ms = median_ms(vae_decode, &a, 2, 10, "vae decode");
        printf("%4dx%-5d %12.3f\n", sides[i], sides[i], ms);
        sn_scope_end(ctx, s, sn_none());
    }
}

/* --- 3. end to end -------------------------------------------------------------------------- */

static void eval_cb(sn_ctx *c, void *user, sn_tensor x, double t, sn_tensor *cond, sn_tensor *uncond) {
    sn_dit_step_eval(c, user, x, t, cond, uncond);
}

typedef struct {
    sn_dit *m;
    sn_vae *v;
    int n, steps;
} e2e_args;

static void e2e(void *u) {
    e2e_args *a = u;
    int32_t *labels = malloc(sizeof(int32_t) * a->n);
    for (int i = 0; i < a->n; i++) labels[i] = (i * 97) % 1000;
    sn_dit_step *step = sn_dit_step_new(ctx, a->m, labels, a->n, 1);
    sn_sampler_cfg cfg;
    sn_sampler_cfg_default(&cfg, SN_SAMPLER_DDIM); /* eta 0, DiT's linear betas */
    cfg.guidance.scale = 4.0;
    cfg.guidance.channels = 3;
    cfg.steps = a->steps;
    sn_rng rng;
    sn_rng_init(&rng, SN_RNG_CPU, 0);
    sn_tensor xT = rnd(-1, 1, SN_SHAPE(a->n, 4, 32, 32));
    sn_noise noise = sn_noise_from_rng(&rng);
    sn_denoiser den = {step, eval_cb, SN_PRED_EPS, 1};
    sn_tensor z = sn_sample(ctx, &cfg, &den, xT, &noise, NULL);
    sn_vae_decode(ctx, a->v, z);
    sn_dit_step_free(step);
    free(labels);
}

static void bench_e2e(sn_dit *m, sn_vae *v) {
    printf("\n3. end to end: DDIM 50 steps, cfg 4 (batch 64 doubled), DiT-XL/2 + SD-VAE decode, 256px\n");
    e2e_args warm = {m, v, 64, 2}, full = {m, v, 64, 50};
    sn_scope s = sn_scope_begin(ctx);
    e2e(&warm);
    sync_or_die("e2e warm-up");
    sn_scope_end(ctx, s, sn_none());
    double ms = median_ms(e2e, &full, 0, 3, "e2e");
    printf("%-10s %12.1f ms  %8.1f images/s\n", "batch 64", ms, 64 * 1e3 / ms);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_models DIR [bf16|fp16|fp32]\n");
        return 2;
    }
    if (sn_cuda_device_count() == 0) {
        fprintf(stderr, "bench_models: no CUDA device\n");
        return 1;
    }
    const char *dt = argc > 2 ? argv[2] : "bf16";
    sn_dtype dtype = !strcmp(dt, "fp32") ? SN_F32 : !strcmp(dt, "fp16") ? SN_F16 : SN_BF16;
    char err[512], path[1024], desc[256];
    ctx = sn_ctx_new(&(sn_ctx_opts){.device = SN_CUDA, .dtype = dtype}, err, sizeof err);
    if (!ctx) {
        fprintf(stderr, "bench_models: %s\n", err);
        return 1;
    }
    sn_cuda_describe(desc, sizeof desc);
    printf("sinter bench_models, %s, compute %s\n", desc, sn_dtype_name(dtype));
    snprintf(path, sizeof path, "%s/dit_xl2.safetensors", argv[1]);
    sn_dit *m = sn_dit_load(ctx, path, NULL);
    snprintf(path, sizeof path, "%s/sd_vae.safetensors", argv[1]);
    sn_vae *v = m ? sn_vae_load(ctx, path, NULL) : NULL;
    if (!m || !v) {
        fprintf(stderr, "bench_models: %s\n", sn_error(ctx));
        return 1;
    }
    const char *which = argc > 3 ? argv[3] : "all";
    if (!strcmp(which, "all") || !strcmp(which, "dit")) bench_dit(m);
    if (!strcmp(which, "all") || !strcmp(which, "vae")) bench_vae(v);
    if (!strcmp(which, "all") || !strcmp(which, "e2e")) bench_e2e(m, v);
    sn_vae_free(v);
    sn_dit_free(m);
    sn_ctx_free(ctx);
    return 0;
}
