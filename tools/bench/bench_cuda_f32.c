/* f32 baselines of the CUDA backend's phase-1 kernels, for the later phases to beat:
 * attention (the online-softmax f32 kernel of core/cuda/attention.cu) at the shapes of
 * issue 5, and linear (cuBLASLt, CUBLAS_COMPUTE_32F, no TF32). The peer figures come from
 * tools/bench/bench_cuda_f32_torch.py run on the same GPU in the same session (PyTorch's
 * scaled_dot_product_attention and linear in f32 with TF32 off); tools/device/build_and_test.sh
 * runs both (BENCH=1).
 *
 * Each case: inputs uniform in [-1, 1) (never zeros), 2 warm-up runs, then runs until 1 s
 * or 50 runs have passed, each timed alone between two stream synchronizations; the median
 * is printed. FLOPs: attention 4 B H Lq Lk D (two products), linear 2 M N K.
 *
 * Usage: bench_cuda_f32 [attention|linear|all] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../core/backend.h"
#include "bench.h"
#include "../../core/ops.h"
#ifdef SN_HAVE_CUDA
#include "../../core/cuda/cuda_ops.h" /* sn_cuda_attention_version */
#endif

static sn_ctx *ctx;

static void sync_or_die(void) { bench_sync(ctx, "bench_cuda_f32", "device"); }

static sn_tensor rnd(int nd, const int64_t *shape) {
    sn_tensor h = sn_tensor_wrap(NULL, SN_F32, nd, shape);
    float *p = malloc(sn_nbytes(h));
    unsigned long long s = 0x9E3779B97F4A7C15ULL ^ (unsigned long long)sn_numel(h);
    for (int64_t i = 0; i < sn_numel(h); i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        p[i] = (float)((s >> 11) * 0x1.0p-53 * 2.0 - 1.0);
    }
    h.data = p;
    sn_tensor t = sn_from_host(ctx, h); /* arena: freed with the caller's scope */
    free(p);
    return t;
}

typedef sn_tensor (*run_fn)(const sn_tensor *in);
static double median_ms(run_fn f, const sn_tensor *in) {
    double t[64];
    int n = 0;
    for (int i = 0; i < 2; i++) {
        sn_scope s = sn_scope_begin(ctx);
        f(in);
        sn_scope_end(ctx, s, sn_none());
    }
    sync_or_die();
    double start = bench_now();
    while (n < 50 && (n < 3 || bench_now() - start < 1.0)) {
        sn_scope s = sn_scope_begin(ctx);
        double t0 = bench_now();
        f(in);
        sync_or_die();
        t[n++] = (bench_now() - t0) * 1e3;
        sn_scope_end(ctx, s, sn_none());
    }
    qsort(t, n, sizeof *t, bench_cmp);
    return t[n / 2];
}

static sn_tensor run_attention(const sn_tensor *in) { return sn_attention(ctx, in[0], in[1], in[2], NULL); }
static sn_tensor run_linear(const sn_tensor *in) { return sn_linear(ctx, in[0], in[1], in[2]); }

int main(int argc, char **argv) {
    const char *what = argc > 1 ? argv[1] : "all";
    char err[512], desc[256];
    if (sn_cuda_device_count() == 0) {
        fprintf(stderr, "bench_cuda_f32: no CUDA device\n");
        return 1;
    }
    ctx = sn_ctx_new(&(sn_ctx_opts){.device = SN_CUDA, .arena_bytes = (size_t)16 << 30}, err,
                     sizeof err);
    if (!ctx) {
        fprintf(stderr, "bench_cuda_f32: %s\n", err);
        return 1;
    }
    sn_cuda_describe(desc, sizeof desc);
    printf("sinter f32 kernels on %s\n", desc);
    if (!strcmp(what, "all") || !strcmp(what, "attention")) {
        static const int64_t shapes[][4] = {{8, 16, 1024, 72},   {4, 16, 4096, 72},
                                            {1, 24, 4096, 128},  {1, 24, 16384, 128},
                                            {1, 12, 32760, 128}, {1, 16, 1024, 64}};
        for (int version = 3; version >= 2; version--) /* every kernel version, newest first */
            for (int k = 0; k < 6; k++) {
#ifdef SN_HAVE_CUDA
                sn_cuda_attention_version(version);
#endif
                const int64_t *s = shapes[k];
                sn_scope sc = sn_scope_begin(ctx);
                sn_tensor in[3] = {rnd(SN_SHAPE(s[0], s[1], s[2], s[3])),
                                   rnd(SN_SHAPE(s[0], s[1], s[2], s[3])),
                                   rnd(SN_SHAPE(s[0], s[1], s[2], s[3]))};
                double ms = median_ms(run_attention, in);
                double flop = 4.0 * s[0] * s[1] * (double)s[2] * s[2] * s[3];
                printf("ours  attention f32 v%d %2lldx%2lldx%5lldx%3lld  %9.3f ms  %6.2f TFLOP/s\n",
                       version, (long long)s[0], (long long)s[1], (long long)s[2],
                       (long long)s[3], ms, flop / ms * 1e-9);
                sn_scope_end(ctx, sc, sn_none());
            }
    }
    if (!strcmp(what, "all") || !strcmp(what, "linear")) {
        static const int64_t shapes[][3] = {{8192, 8192, 8192}, {4096, 1152, 4608}, {256, 1152, 1152}};
        for (int k = 0; k < 3; k++) {
            const int64_t *s = shapes[k]; /* rows, in, out */
            sn_tensor in[3] = {rnd(SN_SHAPE(s[0], s[1])), rnd(SN_SHAPE(s[2], s[1])), rnd(SN_SHAPE(s[2]))};
            double ms = median_ms(run_linear, in);
            double flop = 2.0 * s[0] * s[1] * s[2];
            printf("ours  linear f32 %5lldx%5lldx%5lld (+bias)  %9.3f ms  %6.2f TFLOP/s\n",
                   (long long)s[0], (long long)s[1], (long long)s[2], ms, flop / ms * 1e-9);
        }
    }
    sn_ctx_free(ctx);
    return 0;
}
