/* The fused bf16/fp16 attention kernel (core/cuda/flash_attention.h) against an f64 host
 * reference that sees the same bf16/fp16 inputs: every head size (64, 72, 80, 96, 128), both
 * dtypes, causal and not, lq and lk that are not tile multiples and differ, a random
 * block-sparse schedule (the reference sees only the scheduled tiles), query tiles with an
 * empty schedule (fully masked rows must come back as exact zeros), a single key, a negative
 * scale. Every case draws fresh inputs and poisons the output with NaN first, so an unwritten
 * element fails.
 *
 * Tolerance: ||out - ref|| / ||ref|| <= 1e-2 over the whole output (bf16 rounding of P and
 * of the output gives about 2-3e-3; fp16 about 3e-4); the largest absolute error per case is
 * printed beside it.
 *
 * No GPU, or a build without CUDA: exits 77 (skipped). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/backend.h"
#include "../core/context.h"
#include "../core/half.h"
#ifdef SN_HAVE_CUDA
#include "../core/cuda/flash_attention.h"
#endif
#include "check.h"

#define TOL 1e-2

#ifdef SN_HAVE_CUDA
static sn_ctx *gpu;

typedef struct {
    sn_dtype dt;
    int d, bh, lq, lk, causal;
    int sched; /* 0 dense, 1 random subset of tiles with random partial flags, 2 as 1 plus empty query tiles */
    float scale;
} fa_case;

static uint16_t to16(sn_dtype dt, float f) { return dt == SN_BF16 ? sn_f32_to_bf16(f) : sn_f32_to_f16(f); }
static double from16(sn_dtype dt, uint16_t h) { return dt == SN_BF16 ? sn_bf16_to_f32(h) : sn_f16_to_f32(h); }

static sn_tensor up(const void *host, sn_dtype dt, int64_t n) {
    return sn_from_host(gpu, sn_tensor_wrap((void *)host, dt, 1, (int64_t[]){n}));
}

static void run_case(const fa_case *c) {
    const int64_t nq = (int64_t)c->bh * c->lq * c->d, nk = (int64_t)c->bh * c->lk * c->d;
    int tq, tk;
    sn_fa_tile_shape(c->d, c->dt, &tq, &tk);
    const int nqt = (c->lq + tq - 1) / tq, nkt = (c->lk + tk - 1) / tk;
    uint16_t *hq = malloc(nq * 2), *hk = malloc(nk * 2), *hv = malloc(nk * 2), *hy = malloc(nq * 2);
    int32_t *off = calloc(nqt + 1, 4), *kv = malloc((size_t)nqt * nkt * 4 + 4);
    uint8_t *part = malloc((size_t)nqt * nkt + 1), *allowed = calloc((size_t)nqt * nkt, 1);
    double *sc = malloc(sizeof(double) * c->lk), *acc = malloc(sizeof(double) * c->d);
    for (int64_t i = 0; i < nq; i++) hq[i] = to16(c->dt, check_uniform());
    for (int64_t i = 0; i < nk; i++) hk[i] = to16(c->dt, check_uniform());
    for (int64_t i = 0; i < nk; i++) hv[i] = to16(c->dt, check_uniform());
    memset(hy, 0xFF, nq * 2); /* NaN in both formats */
    int n = 0;
    for (int i = 0; i < nqt; i++) {
        for (int j = 0; j < nkt; j++) {
            int take = c->sched == 0 || (check_u64() % 10 < 6 && !(c->sched == 2 && i % 3 == 1));
            if (!take) continue;
            allowed[(size_t)i * nkt + j] = 1;
            if (c->sched) kv[n] = j, part[n] = (uint8_t)(check_u64() % 2), n++;
        }
        off[i + 1] = n;
    }

    sn_scope s = sn_scope_begin(gpu);
    sn_tensor q = up(hq, c->dt, nq), k = up(hk, c->dt, nk), v = up(hv, c->dt, nk), y = up(hy, c->dt, nq);
    sn_fa_schedule sched = {0};
    if (c->sched) {
        sched.offset = up(off, SN_I32, nqt + 1).data;
        sched.kv_tile = up(kv, SN_I32, n ? n : 1).data;
        sched.partial = up(part, SN_U8, n ? n : 1).data;
    }
    sn_cuda_flash_attention(gpu, c->dt, q.data, k.data, v.data, y.data, c->bh, c->lq, c->lk, c->d, c->scale,
                            c->causal, c->sched ? &sched : NULL);
    sn_download(gpu, y, hy);
    sn_scope_end(gpu, s, sn_none());
    CHECKF(sn_ok(gpu), "%s", sn_error(gpu));

    double num = 0, den = 0, maxerr = 0;
    int zero_rows_ok = 1, finite = 1;
    for (int b = 0; b < c->bh; b++)
        for (int i = 0; i < c->lq; i++) {
            const uint16_t *qr = hq + ((int64_t)b * c->lq + i) * c->d;
            double m = -INFINITY;
            for (int j = 0; j < c->lk; j++) {
                sc[j] = -INFINITY;
                if (!allowed[(size_t)(i / tq) * nkt + j / tk] || (c->causal && j > i)) continue;
                const uint16_t *kr = hk + ((int64_t)b * c->lk + j) * c->d;
                double dot = 0;
                for (int x = 0; x < c->d; x++) dot += from16(c->dt, qr[x]) * from16(c->dt, kr[x]);
                sc[j] = dot * c->scale;
                if (sc[j] > m) m = sc[j];
            }
            double l = 0;
            for (int x = 0; x < c->d; x++) acc[x] = 0;
            if (m > -INFINITY)
                for (int j = 0; j < c->lk; j++) {
                    if (sc[j] == -INFINITY) continue;
                    double w = exp(sc[j] - m);
                    const uint16_t *vr = hv + ((int64_t)b * c->lk + j) * c->d;
                    l += w;
                    for (int x = 0; x < c->d; x++) acc[x] += w * from16(c->dt, vr[x]);
                }
            const uint16_t *yr = hy + ((int64_t)b * c->lq + i) * c->d;
            for (int x = 0; x < c->d; x++) {
                double ref = l > 0 ? acc[x] / l : 0.0, out = from16(c->dt, yr[x]), e = fabs(out - ref);
                if (!isfinite(out)) finite = 0;
                if (l == 0 && out != 0.0) zero_rows_ok = 0;
                if (!(e <= maxerr)) maxerr = e;
                num += (out - ref) * (out - ref), den += ref * ref;
            }
        }
    double rel = sqrt(num / (den > 0 ? den : 1e-300));
    char what[160];
    snprintf(what, sizeof what, "%s d=%d bh=%d lq=%d lk=%d causal=%d sched=%d scale=%g", sn_dtype_name(c->dt), c->d,
             c->bh, c->lq, c->lk, c->causal, c->sched, c->scale);
    printf("%-62s rel %.2e  max %.2e\n", what, rel, maxerr);
    CHECKF(finite, "%s: output has NaN/Inf (unwritten elements?)", what);
    CHECKF(rel <= TOL, "%s: relative error %.3g > %.3g", what, rel, TOL);
    CHECKF(zero_rows_ok, "%s: a fully masked row is not zero", what);
    free(hq), free(hk), free(hv), free(hy), free(off), free(kv), free(part), free(allowed), free(sc), free(acc);
}
#endif

int main(void) {
#ifndef SN_HAVE_CUDA
    check_skip("built without the CUDA backend");
#else
    gpu = check_cuda_ctx((size_t)1 << 30, SN_F32);
    if (!sn_fa_supported(SN_BF16, 128)) {
        sn_ctx_free(gpu);
        check_skip("the fused attention kernel needs a Hopper GPU (sm_90a)");
    }
    check_seed(20261123);
    CHECK(!sn_fa_supported(SN_F32, 128) && !sn_fa_supported(SN_BF16, 48) && sn_fa_supported(SN_F16, 72));

    static const int dims[] = {64, 72, 80, 96, 128};
    for (int t = 0; t < 2; t++) {
        sn_dtype dt = t ? SN_F16 : SN_BF16;
        for (int i = 0; i < 5; i++) {
            int d = dims[i];
            run_case(&(fa_case){dt, d, 3, 300, 300, 0, 0, 1.0f / sqrtf((float)d)});
            run_case(&(fa_case){dt, d, 2, 257, 391, 1, 0, 0.125f});
            run_case(&(fa_case){dt, d, 2, 333, 270, 0, 1, 0.11f});
        }
    }
    run_case(&(fa_case){SN_BF16, 128, 2, 200, 1000, 0, 0, 0.09f});  /* lq < lk */
    run_case(&(fa_case){SN_BF16, 128, 2, 1000, 130, 1, 0, 0.09f});  /* lq > lk, causal */
    run_case(&(fa_case){SN_BF16, 72, 2, 777, 555, 1, 1, 0.12f});    /* schedule + causal */
    run_case(&(fa_case){SN_F16, 96, 2, 600, 700, 0, 2, 0.1f});      /* empty query tiles */
    run_case(&(fa_case){SN_BF16, 64, 3, 520, 640, 1, 2, 0.125f});
    run_case(&(fa_case){SN_BF16, 128, 1, 1, 1, 0, 0, 0.2f});        /* one key */
    run_case(&(fa_case){SN_BF16, 80, 1, 5, 2000, 0, 0, -0.1f});     /* negative scale */
    run_case(&(fa_case){SN_F16, 128, 1, 300, 300, 0, 0, 0.0f});     /* zero scale: the mean of v */
    run_case(&(fa_case){SN_BF16, 128, 2, 1024, 1024, 1, 0, 0.088f}); /* whole tiles */
    /* more work units than multiprocessors: dense non-causal runs on a persistent grid, each
       block taking several units (the ring and the Q buffer carried across units) */
    run_case(&(fa_case){SN_BF16, 128, 150, 129, 200, 0, 0, 0.09f});
    run_case(&(fa_case){SN_F16, 72, 40, 1000, 333, 0, 0, 0.12f});
    run_case(&(fa_case){SN_BF16, 64, 64, 700, 300, 0, 0, 0.125f});
    sn_ctx_free(gpu);
    return check_summary("test_flash_attention");
#endif
}
