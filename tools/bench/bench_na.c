/* Speed of neighborhood attention on CUDA (core/cuda/neighborhood.h) at the model-scale
 * problems of the NA issue, beside our dense fused kernel (core/cuda/flash_attention.h) at the
 * same token counts; the peers (PyTorch SDPA, FlexAttention) are tools/bench/bench_na_torch.py,
 * run on the same GPU in the same session by tools/device/na.sh.
 *
 * B = 1, 24 heads, d = 128, bf16, no extra tokens:
 *   FLUX-4K      2-D grid (256, 256), window (80, 80), stride 1 and (16, 16)
 *   HunyuanVideo 3-D grid (30, 48, 80), window (18, 24, 24), stride 1 and (16, 8, 8)
 * Inputs uniform in [-1, 1) (never zeros), two input sets alternated (each is > 1 GB, far over
 * L2); 2 warm-ups, then `reps` calls each between two stream synchronizations; the median is
 * printed. Our time includes the token permutation (gather) and the un-permute of y; the plan
 * (built once, cached) is not. Effective TFLOP/s = dense FLOPs 4 B H N^2 d / time. FLOP bound
 * = N / prod(window) (NA's FLOPs against dense); tile bound = all tile pairs / visited ones.
 *
 * Usage: bench_na [reps]   (default 10) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../core/backend.h"
#include "bench.h"
#include "../../core/context.h"
#include "../../core/half.h"
#include "../../core/neighborhood.h"
#ifdef SN_HAVE_CUDA
#include "../../core/cuda/flash_attention.h"
#include "../../core/cuda/neighborhood.h"
#endif

#ifdef SN_HAVE_CUDA
static sn_ctx *ctx;
static void sync_or_die(void) { bench_sync(ctx, "bench_na", "device"); }
typedef struct {
    const char *name;
    sn_na_params p;
} na_case;
#endif

int main(int argc, char **argv) {
#ifndef SN_HAVE_CUDA
    (void)argc, (void)argv;
    printf("bench_na: built without the CUDA backend\n");
    return 0;
#else
    int reps = argc > 1 ? atoi(argv[1]) : 10;
    if (reps < 1 || reps > 100) reps = 10;
    if (sn_cuda_device_count() == 0 || !sn_cuda_na_supported(SN_BF16, 128)) {
        printf("bench_na: no Hopper GPU\n");
        return 0;
    }
    char err[512], desc[256];
    ctx = sn_ctx_new(&(sn_ctx_opts){.device = SN_CUDA, .arena_bytes = (size_t)14 << 30}, err, sizeof err);
    if (!ctx) {
        fprintf(stderr, "bench_na: %s\n", err);
        return 1;
    }
    sn_cuda_describe(desc, sizeof desc);
    printf("device: %s\n", desc);
    na_case cases[4];
    memset(cases, 0, sizeof cases);
    cases[0].name = "flux-na", cases[1].name = "flux-gna", cases[2].name = "hunyuan-na", cases[3].name = "hunyuan-gna";
    for (int c = 0; c < 4; c++) {
        sn_na_params *p = &cases[c].p;
        const int flux = c < 2, strided = c % 2;
        p->axes = flux ? 2 : 3;
        for (int a = 0; a < p->axes; a++) {
            p->size[a] = flux ? 256 : (int[]){30, 48, 80}[a];
            p->window[a] = flux ? 80 : (int[]){18, 24, 24}[a];
            p->stride[a] = !strided ? 1 : flux ? 16 : (int[]){16, 8, 8}[a];
            p->dilation[a] = 1;
        }
    }
    const int H = 24, D = 128;
    const float scale = 1.0f / sqrtf((float)D);
    printf("%-12s %9s %9s %9s %9s %8s %8s %8s %9s\n", "case", "N", "ms", "TFLOP/s", "vs dense", "FLOPbnd", "tilebnd",
           "partial", "plan ms");
    /* a random pattern of 16 M values, repeated */
    const int64_t pat = (int64_t)1 << 24;
    uint16_t *pattern = malloc(pat * 2);
    unsigned long long seed = 0x9E3779B97F4A7C15ULL;
    for (int64_t i = 0; i < pat; i++) {
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        pattern[i] = sn_f32_to_bf16((float)((seed >> 11) * 0x1.0p-53 * 2.0 - 1.0));
    }
    double dense_ms[2] = {0, 0};
    for (int c = 0; c < 4; c++) {
        const sn_na_params *p = &cases[c].p;
        const int64_t N = sn_na_tokens(p), n = (int64_t)H * N * D;
        uint16_t *h = malloc(n * 2);
        for (int64_t i = 0; i < n; i++) h[i] = pattern[i & (pat - 1)] ^ (uint16_t)((i >> 24) & 3);
        sn_scope sc = sn_scope_begin(ctx);
        void *buf[2][4];
        for (int s = 0; s < 2; s++)
            for (int j = 0; j < 4; j++) {
                h[(s * 4 + j) % n] ^= 0x11; /* the sets differ */
                buf[s][j] = sn_from_host(ctx, sn_tensor_wrap(h, SN_BF16, 1, (int64_t[]){n})).data;
            }
        free(h);
        sync_or_die();
        double t0 = bench_now();
        sn_cuda_na_info info;
        if (sn_cuda_na_plan_info(ctx, p, N, N, &info)) sync_or_die();
        const double plan_ms = (bench_now() - t0) * 1e3;
        const double flops = 4.0 * H * (double)N * N * D;
        double win = 1;
        for (int a = 0; a < p->axes; a++) win *= p->window[a];
        double ms[100];
        for (int it = 0; it < reps + 2; it++) {
            void **b = buf[it % 2];
            t0 = bench_now();
            sn_cuda_na_attention(ctx, SN_BF16, b[0], b[1], b[2], b[3], H, N, N, D, scale, p);
            sync_or_die();
            if (it >= 2) ms[it - 2] = (bench_now() - t0) * 1e3;
        }
        qsort(ms, reps, sizeof(double), bench_cmp);
        const double med = ms[reps / 2];
        /* our dense kernel at the same N, once per grid */
        if (c % 2 == 0) {
            double dm[100];
            const int dreps = reps < 5 ? reps : 5;
            for (int it = 0; it < dreps + 1; it++) {
                void **b = buf[it % 2];
                t0 = bench_now();
                sn_cuda_flash_attention(ctx, SN_BF16, b[0], b[1], b[2], b[3], H, N, N, D, scale, 0, NULL);
                sync_or_die();
                if (it >= 1) dm[it - 1] = (bench_now() - t0) * 1e3;
            }
            qsort(dm, dreps, sizeof(double), bench_cmp);
            dense_ms[c / 2] = dm[dreps / 2];
            printf("%-12s %9lld %9.3f %9.1f %9s %8s %8s %8s %9s   (min %.3f)\n", c ? "hunyuan-fa" : "flux-fa",
                   (long long)N, dense_ms[c / 2], flops / dense_ms[c / 2] * 1e-9, "1.00x", "", "", "", "", dm[0]);
            printf("RESULT sinter-dense-%s %.4f\n", c ? "hunyuan" : "flux", dense_ms[c / 2]);
        }
        const double pairs = (double)info.q_tiles * info.grid_tiles;
        char a[16], b[16], t[16], pp[16];
        snprintf(a, sizeof a, "%.2fx", dense_ms[c / 2] / med);
        snprintf(b, sizeof b, "%.2fx", N / win);
        snprintf(t, sizeof t, "%.2fx", pairs / (double)info.entries);
        snprintf(pp, sizeof pp, "%.0f%%", 100.0 * info.partial / (double)info.entries);
        printf("%-12s %9lld %9.3f %9.1f %9s %8s %8s %8s %9.1f   (min %.3f; tile %dx%dx%d, %lld tiles visited)\n",
               cases[c].name, (long long)N, med, flops / med * 1e-9, a, b, t, pp, plan_ms, ms[0], info.tile[0],
               info.tile[1], info.tile[2], (long long)info.entries);
        printf("RESULT sinter-%s %.4f\n", cases[c].name, med);
        fflush(stdout);
        sn_scope_end(ctx, sc, sn_none());
    }
    free(pattern);
    sn_ctx_free(ctx);
    return 0;
#endif
}
