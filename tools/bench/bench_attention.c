/* Speed of the fused bf16 attention kernel (core/cuda/flash_attention.h) at the shapes of the
 * attention issue; the peer is tools/bench/bench_attention_torch.py (PyTorch's
 * scaled_dot_product_attention, every backend) run on the same GPU in the same session:
 * tools/device/attention.sh full runs both.
 *
 * Each shape: inputs uniform in [-1, 1) (never zeros), several input sets rotated so that L2
 * (60 MB on an H200) holds none of them, 3 warm-ups, then 15 batches of back-to-back launches
 * (at least 5 ms each) between two stream synchronizations; the median batch time over its
 * launches is printed. FLOPs = 4 B H L^2 d (two products; half that with --causal).
 *
 * Usage: bench_attention [--causal] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../core/backend.h"
#include "bench.h"
#include "../../core/context.h"
#include "../../core/half.h"
#ifdef SN_HAVE_CUDA
#include "../../core/cuda/flash_attention.h"
#endif

#ifdef SN_HAVE_CUDA
static sn_ctx *ctx;
static void sync_or_die(void) { bench_sync(ctx, "bench_attention", "device"); }
#endif

int main(int argc, char **argv) {
#ifndef SN_HAVE_CUDA
    (void)argc, (void)argv;
    printf("bench_attention: built without the CUDA backend\n");
    return 0;
#else
    int causal = argc > 1 && !strcmp(argv[1], "--causal");
    if (sn_cuda_device_count() == 0 || !sn_fa_supported(SN_BF16, 128)) {
        printf("bench_attention: no Hopper GPU\n");
        return 0;
    }
    char err[512], desc[256];
    ctx = sn_ctx_new(&(sn_ctx_opts){.device = SN_CUDA, .arena_bytes = (size_t)8 << 30}, err, sizeof err);
    if (!ctx) {
        fprintf(stderr, "bench_attention: %s\n", err);
        return 1;
    }
    sn_cuda_describe(desc, sizeof desc);
    printf("device: %s, causal=%d\n", desc, causal);
    printf("%-12s %-22s %10s %10s\n", "kernel", "B x H x L x d", "ms", "TFLOP/s");
    static const int shapes[][4] = {{8, 16, 1024, 72}, {4, 16, 4096, 72}, {1, 24, 4096, 128}, {1, 24, 16384, 128},
                                    {1, 12, 32760, 128}};
    unsigned long long seed = 0x9E3779B97F4A7C15ULL;
    for (int si = 0; si < 5; si++) {
        const int B = shapes[si][0], H = shapes[si][1], L = shapes[si][2], D = shapes[si][3];
        const int64_t bh = (int64_t)B * H, n = bh * L * D;
        const size_t bytes = (size_t)n * 2;
        int sets = (int)((400u << 20) / (4 * bytes)) + 1;
        if (sets < 2) sets = 2;
        uint16_t *h = malloc(bytes);
        sn_scope sc = sn_scope_begin(ctx);
        void *buf[64][4];
        if (sets > 64) sets = 64;
        for (int s = 0; s < sets; s++)
            for (int j = 0; j < 4; j++) {
                for (int64_t i = 0; i < n; i++) {
                    seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
                    h[i] = sn_f32_to_bf16((float)((seed >> 11) * 0x1.0p-53 * 2.0 - 1.0));
                }
                buf[s][j] = sn_from_host(ctx, sn_tensor_wrap(h, SN_BF16, 1, (int64_t[]){n})).data;
            }
        free(h);
        sync_or_die();
        const float scale = 1.0f / sqrtf((float)D);
        double flops = 4.0 * bh * (double)L * L * D;
        if (causal) flops /= 2;
        int it = 0;
#define LAUNCH()                                                                                                  \
    do {                                                                                                          \
        void **b_ = buf[it++ % sets];                                                                             \
        sn_cuda_flash_attention(ctx, SN_BF16, b_[0], b_[1], b_[2], b_[3], bh, L, L, D, scale, causal, NULL);   \
    } while (0)
        for (int i = 0; i < 3; i++) LAUNCH();
        sync_or_die();
        double t0 = bench_now();
        LAUNCH();
        sync_or_die();
        double one = bench_now() - t0;
        int per = (int)(5e-3 / (one > 1e-6 ? one : 1e-6)) + 1;
        if (per > 200) per = 200;
        double ms[15];
        for (int r = 0; r < 15; r++) {
            t0 = bench_now();
            for (int i = 0; i < per; i++) LAUNCH();
            sync_or_die();
            ms[r] = (bench_now() - t0) * 1e3 / per;
        }
#undef LAUNCH
        qsort(ms, 15, sizeof(double), bench_cmp);
        char shape[64];
        snprintf(shape, sizeof shape, "%dx%dx%dx%d", B, H, L, D);
        printf("%-12s %-22s %10.3f %10.1f   (min %.3f)\n", "sinter-fa", shape, ms[7], flops / ms[7] * 1e-9, ms[0]);
        sn_scope_end(ctx, sc, sn_none());
    }
    sn_ctx_free(ctx);
    return 0;
#endif
}
