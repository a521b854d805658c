/* Neighborhood attention on CUDA (core/cuda/neighborhood.h) against the CPU oracle
 * (sn_cpu_na_attention, double accumulation) on the same bf16 / fp16 inputs: 1-, 2- and 3-D
 * grids, odd and even windows, strides, dilations, causal axes, grids that are not tile
 * multiples, with and without extra (text) tokens, both dtypes, every head size, plus random
 * configurations. Every case draws fresh inputs and poisons the output with NaN first, so an
 * unwritten element fails.
 *
 * Tolerance: ||out - ref|| / ||ref|| <= 1e-2 per case (bf16 rounding of P and of the output
 * gives about 3e-3, fp16 about 5e-4); the largest absolute error is printed beside it, and
 * the worst of each class (1-D, 2-D, 3-D x dtype) at the end.
 *
 * No GPU, a non-Hopper GPU, or a build without CUDA: exits 77 (skipped). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/backend.h"
#include "../core/context.h"
#include "../core/cpu/neighborhood.h"
#include "../core/half.h"
#include "../core/neighborhood.h"
#ifdef SN_HAVE_CUDA
#include "../core/cuda/neighborhood.h"
#endif
#include "check.h"

#define TOL 1e-2

#ifdef SN_HAVE_CUDA
static sn_ctx *gpu;
static double worst[3][2], worst_max[3][2];
static int ncases[3][2];
static int npath[3]; /* cases per permutation path: identity, direct loads, gather */

static int rnd(int n) { return (int)(check_u64() % (unsigned long long)n); }
static uint16_t to16(sn_dtype dt, float f) { return dt == SN_BF16 ? sn_f32_to_bf16(f) : sn_f32_to_f16(f); }
static float from16(sn_dtype dt, uint16_t h) { return dt == SN_BF16 ? sn_bf16_to_f32(h) : sn_f16_to_f32(h); }
static sn_tensor up(const void *host, sn_dtype dt, int64_t n) {
    return sn_from_host(gpu, sn_tensor_wrap((void *)host, dt, 1, (int64_t[]){n}));
}

static sn_na_params mk(int axes, const int *size, const int *window, const int *stride, const int *dil,
                       const int *causal) {
    sn_na_params p;
    memset(&p, 0, sizeof p);
    p.axes = axes;
    for (int a = 0; a < axes; a++) {
        p.size[a] = size[a], p.window[a] = window[a];
        p.stride[a] = stride ? stride[a] : 1, p.dilation[a] = dil ? dil[a] : 1, p.causal[a] = causal ? causal[a] : 0;
    }
    return p;
}

static void run_case(sn_na_params pv, sn_dtype dt, int d, int bh, int extra, float scale) {
    const sn_na_params *p = &pv;
    char err[256], what[200];
    if (sn_na_check(p, err, sizeof err)) {
        CHECKF(0, "bad test parameters: %s", err);
        return;
    }
    const int64_t lq = sn_na_tokens(p), lk = lq + extra;
    const int64_t nq = (int64_t)bh * lq * d, nk = (int64_t)bh * lk * d;
    uint16_t *hq = malloc(nq * 2), *hk = malloc(nk * 2), *hv = malloc(nk * 2), *hy = malloc(nq * 2);
    float *fq = malloc(nq * 4), *fk = malloc(nk * 4), *fv = malloc(nk * 4), *ref = malloc(nq * 4);
    for (int64_t i = 0; i < nq; i++) hq[i] = to16(dt, check_uniform()), fq[i] = from16(dt, hq[i]);
    for (int64_t i = 0; i < nk; i++) hk[i] = to16(dt, check_uniform()), fk[i] = from16(dt, hk[i]);
    for (int64_t i = 0; i < nk; i++) hv[i] = to16(dt, check_uniform()), fv[i] = from16(dt, hv[i]);
    memset(hy, 0xFF, nq * 2); /* NaN in both formats */
    void *work = malloc(sn_cpu_na_attention_work(p, bh, lq, lk, d));
    sn_cpu_na_attention(fq, fk, fv, ref, bh, lq, lk, d, d, scale, p, work);
    free(work);

    sn_scope s = sn_scope_begin(gpu);
    sn_tensor q = up(hq, dt, nq), k = up(hk, dt, nk), v = up(hv, dt, nk), y = up(hy, dt, nq);
    sn_cuda_na_attention(gpu, dt, q.data, k.data, v.data, y.data, bh, lq, lk, d, scale, p);
    sn_download(gpu, y, hy);
    sn_scope_end(gpu, s, sn_none());
    sn_cuda_na_info info = {0};
    sn_cuda_na_plan_info(gpu, p, lq, lk, &info);

    int n = snprintf(what, sizeof what, "%s d=%d bh=%d extra=%d size=", sn_dtype_name(dt), d, bh, extra);
    for (int a = 0; a < p->axes; a++) n += snprintf(what + n, sizeof what - n, "%s%d", a ? "x" : "", p->size[a]);
    n += snprintf(what + n, sizeof what - n, " ");
    sn_na_format(p, what + n, sizeof what - n);
    if (!sn_ok(gpu)) {
        CHECKF(0, "%s: %s", what, sn_error(gpu));
        sn_clear_error(gpu);
    } else {
        double num = 0, den = 0, mx = 0;
        int finite = 1;
        for (int64_t i = 0; i < nq; i++) {
            double o = from16(dt, hy[i]), r = ref[i], e = fabs(o - r);
            if (!isfinite(o)) finite = 0;
            if (!(e <= mx)) mx = e;
            num += (o - r) * (o - r), den += r * r;
        }
        double rel = sqrt(num / (den > 0 ? den : 1e-300));
        const int path = info.identity ? 0 : info.direct ? 1 : 2;
        npath[path]++;
        printf("%-96s rel %.2e max %.2e  tiles %lld/%lld partial %lld %s\n", what, rel, mx, (long long)info.entries,
               (long long)(info.q_tiles * info.grid_tiles), (long long)info.partial,
               (const char *[]){"identity", "direct", "gather"}[path]);
        CHECKF(finite, "%s: output has NaN/Inf (unwritten elements?)", what);
        CHECKF(rel <= TOL, "%s: relative error %.3g > %.3g", what, rel, TOL);
        int c = p->axes - 1, t = dt == SN_F16;
        if (!(rel <= worst[c][t])) worst[c][t] = rel;
        if (!(mx <= worst_max[c][t])) worst_max[c][t] = mx;
        ncases[c][t]++;
    }
    free(hq), free(hk), free(hv), free(hy), free(fq), free(fk), free(fv), free(ref);
}

/* A random valid configuration of `axes` axes with at most max_tokens tokens. */
static sn_na_params random_params(int axes, int max_size, int causal_pct) {
    sn_na_params p;
    memset(&p, 0, sizeof p);
    p.axes = axes;
    for (int a = 0; a < axes; a++) {
        int L = 2 + rnd(max_size - 1);
        int dl = rnd(3) ? 1 : 1 + rnd(L / 2);
        int kk = 2 + rnd(L / dl - 1);
        p.size[a] = L, p.dilation[a] = dl, p.window[a] = kk;
        p.stride[a] = 1 + rnd(kk);
        p.causal[a] = rnd(100) < causal_pct;
    }
    return p;
}
#endif

int main(void) {
#ifndef SN_HAVE_CUDA
    check_skip("built without the CUDA backend");
#else
    gpu = check_cuda_ctx((size_t)2 << 30, SN_F32);
    if (!sn_cuda_na_supported(SN_BF16, 128)) {
        sn_ctx_free(gpu);
        check_skip("the fused attention kernel needs a Hopper GPU (sm_90a)");
    }
    check_seed(20261124);
    CHECK(!sn_cuda_na_supported(SN_F32, 128) && !sn_cuda_na_supported(SN_BF16, 48));
    static const int dims[] = {64, 72, 80, 96, 128};
    const sn_dtype B = SN_BF16, H = SN_F16;

    /* 1-D */
    run_case(mk(1, (int[]){1000}, (int[]){33}, NULL, NULL, NULL), B, 128, 2, 0, 0.088f);
    run_case(mk(1, (int[]){1000}, (int[]){16}, (int[]){4}, (int[]){3}, NULL), H, 64, 2, 0, 0.125f);
    run_case(mk(1, (int[]){777}, (int[]){100}, (int[]){7}, NULL, (int[]){1}), B, 80, 2, 50, 0.11f);
    run_case(mk(1, (int[]){1024}, (int[]){256}, (int[]){64}, NULL, NULL), H, 96, 2, 77, 0.1f); /* identity */
    run_case(mk(1, (int[]){1000}, (int[]){200}, NULL, (int[]){2}, (int[]){1}), B, 72, 1, 130, 0.12f);
    run_case(mk(1, (int[]){512}, (int[]){128}, (int[]){128}, NULL, NULL), B, 128, 2, 0, 0.09f); /* blocked */
    /* 2-D */
    run_case(mk(2, (int[]){37, 45}, (int[]){7, 9}, NULL, NULL, NULL), B, 128, 2, 0, 0.088f);
    run_case(mk(2, (int[]){37, 45}, (int[]){6, 10}, (int[]){2, 3}, (int[]){2, 1}, NULL), H, 72, 2, 33, 0.12f);
    run_case(mk(2, (int[]){48, 40}, (int[]){16, 16}, (int[]){16, 8}, NULL, NULL), B, 64, 2, 0, 0.125f);
    run_case(mk(2, (int[]){30, 50}, (int[]){8, 12}, (int[]){3, 1}, (int[]){1, 3}, (int[]){1, 0}), B, 96, 2, 0, 0.1f);
    run_case(mk(2, (int[]){33, 29}, (int[]){5, 4}, NULL, NULL, (int[]){1, 1}), H, 80, 2, 200, 0.11f);
    run_case(mk(2, (int[]){64, 64}, (int[]){24, 24}, NULL, NULL, NULL), B, 128, 1, 0, 0.088f);
    run_case(mk(2, (int[]){64, 64}, (int[]){24, 24}, NULL, NULL, NULL), B, 128, 1, 0, -0.07f); /* negative scale */
    run_case(mk(2, (int[]){20, 24}, (int[]){20, 24}, NULL, NULL, NULL), H, 128, 2, 10, 0.088f); /* full */
    /* 3-D */
    run_case(mk(3, (int[]){7, 13, 19}, (int[]){3, 5, 6}, (int[]){1, 2, 3}, (int[]){1, 2, 1}, (int[]){1, 0, 0}), B,
             128, 2, 0, 0.088f);
    run_case(mk(3, (int[]){6, 16, 24}, (int[]){4, 8, 8}, (int[]){2, 8, 8}, NULL, NULL), H, 64, 2, 0, 0.125f);
    run_case(mk(3, (int[]){9, 10, 11}, (int[]){9, 10, 11}, NULL, NULL, NULL), B, 80, 1, 100, 0.11f);
    run_case(mk(3, (int[]){10, 12, 20}, (int[]){6, 6, 8}, NULL, NULL, NULL), B, 96, 2, 0, 0.1f);
    run_case(mk(3, (int[]){10, 12, 20}, (int[]){6, 7, 8}, (int[]){5, 4, 8}, (int[]){1, 1, 2}, (int[]){0, 1, 0}), H,
             72, 2, 60, 0.12f);
    run_case(mk(3, (int[]){8, 24, 40}, (int[]){4, 12, 12}, NULL, NULL, NULL), B, 128, 1, 0, 0.088f);
    /* random configurations: every head size, both dtypes, extra tokens half the time */
    for (int i = 0; i < 24; i++) {
        int axes = 1 + i % 3;
        sn_na_params p = random_params(axes, axes == 1 ? 700 : axes == 2 ? 48 : 16, 25);
        run_case(p, i % 2 ? H : B, dims[i % 5], 1 + rnd(2), rnd(2) ? rnd(150) : 0, 0.05f + 0.1f * (float)rnd(2));
    }
    printf("worst per class (relative / max abs):\n");
    for (int a = 0; a < 3; a++)
        for (int t = 0; t < 2; t++)
            printf("  %d-D %s: %d cases, rel %.2e, max %.2e\n", a + 1, t ? "f16" : "bf16", ncases[a][t], worst[a][t],
                   worst_max[a][t]);
    sn_ctx_free(gpu);
    /* every permutation path ran (a plan change that stops taking one would go unnoticed) */
    CHECKF(npath[0] && npath[1] && npath[2], "cases per path: identity %d, direct %d, gather %d", npath[0], npath[1],
           npath[2]);
    return check_summary("test_na_cuda");
#endif
}
