/* Neighborhood attention, the plain way: for each query, list the keys of its window (a box
 * of prod(window) grid tokens, or fewer when causal) and the extra tokens, then one softmax
 * over them in double. It is the reference the CUDA kernel is checked against, so it is
 * written for clarity; it is fast enough for grids like 64x64 because it never looks at the
 * keys outside the window.
 *
 * Queries run in parallel in batches of `slots`; each query in flight owns one slot of the
 * scratch (its key list, scores and output accumulator), so the result does not depend on
 * the thread count. */
#include "neighborhood.h"

#include <math.h>

#define NA_MAX_SLOTS 1024
#define NA_WORK_BYTES ((size_t)32 << 20)

/* Keys one query can attend: the window box plus the extra tokens. */
static int64_t max_keys(const sn_na_params *p, int64_t lq, int64_t lk) {
    int64_t n = 1;
    for (int a = 0; a < p->axes; a++) n *= p->window[a];
    return n + (lk - lq);
}

/* Bytes of one slot: doubles first (scores, accumulator), then the int key list. */
static size_t slot_bytes(int64_t keys, int64_t dv) {
    size_t b = (size_t)(keys + dv) * sizeof(double) + (size_t)keys * sizeof(int);
    return (b + 15) & ~(size_t)15;
}

static int64_t slot_count(const sn_na_params *p, int64_t heads, int64_t lq, int64_t lk,
                          int64_t dv) {
    int64_t n = (int64_t)(NA_WORK_BYTES / slot_bytes(max_keys(p, lq, lk), dv));
    n = n < NA_MAX_SLOTS ? n : NA_MAX_SLOTS;
    n = n < heads * lq ? n : heads * lq;
    return n > 0 ? n : 1;
}

size_t sn_cpu_na_attention_work(const sn_na_params *p, int64_t heads, int64_t lq, int64_t lk,
                                int64_t dv) {
    return (size_t)slot_count(p, heads, lq, lk, dv) * slot_bytes(max_keys(p, lq, lk), dv);
}

/* Writes the grid keys of query q to keys[] in row-major order; returns how many. Axes past
 * p->axes act as a size-1 axis whose window is its one token. */
static int window_keys(const sn_na_params *p, int q, int *keys) {
    int c[SN_NA_MAX_AXES], size[SN_NA_MAX_AXES] = {1, 1, 1}, dil[SN_NA_MAX_AXES] = {1, 1, 1};
    sn_na_range r[SN_NA_MAX_AXES] = {{0, 1, 0}, {0, 1, 0}, {0, 1, 0}};
    sn_na_coords(p, q, c);
    for (int a = 0; a < p->axes; a++) {
        r[a] = sn_na_axis_range(p, a, c[a]);
        size[a] = p->size[a];
        dil[a] = p->dilation[a];
    }
    int n = 0;
    for (int y0 = r[0].start; y0 < r[0].end; y0++)
        for (int y1 = r[1].start; y1 < r[1].end; y1++)
            for (int y2 = r[2].start; y2 < r[2].end; y2++) /* back to grid coordinates */
                keys[n++] = ((y0 * dil[0] + r[0].group) * size[1] + y1 * dil[1] + r[1].group) *
                                size[2] + y2 * dil[2] + r[2].group;
    return n;
}

/* One query row: softmax over its keys, then the weighted sum of their values. */
static void na_row(const float *qi, const float *kh, const float *vh, float *yi, const int *keys,
                   int n, int64_t d, int64_t dv, double scale, double *s, double *acc) {
    double mx = -INFINITY;
    for (int j = 0; j < n; j++) {
        const float *kj = kh + (int64_t)keys[j] * d;
        double dot = 0;
        for (int64_t c = 0; c < d; c++) dot += (double)qi[c] * kj[c];
        s[j] = dot * scale;
        mx = s[j] > mx ? s[j] : mx;
    }
    double sum = 0;
    for (int j = 0; j < n; j++) sum += s[j] = exp(s[j] - mx);
    for (int64_t c = 0; c < dv; c++) acc[c] = 0;
    for (int j = 0; j < n; j++) {
        const float *vj = vh + (int64_t)keys[j] * dv;
        for (int64_t c = 0; c < dv; c++) acc[c] += s[j] * vj[c];
    }
    for (int64_t c = 0; c < dv; c++) yi[c] = (float)(acc[c] / sum);
}

void sn_cpu_na_attention(const float *q, const float *k, const float *v, float *y,
                         int64_t heads, int64_t lq, int64_t lk, int64_t d, int64_t dv,
                         float scale, const sn_na_params *p, void *work) {
    int64_t keys = max_keys(p, lq, lk), slots = slot_count(p, heads, lq, lk, dv);
    size_t bytes = slot_bytes(keys, dv);
    int64_t total = heads * lq;
    for (int64_t t0 = 0; t0 < total; t0 += slots) {
        int64_t nt = total - t0 < slots ? total - t0 : slots;
#pragma omp parallel for schedule(dynamic, 16) if (nt * keys * (d + dv) >= 65536)
        for (int64_t i = 0; i < nt; i++) {
            int64_t h = (t0 + i) / lq, qi = (t0 + i) % lq;
            double *s = (double *)((char *)work + i * bytes), *acc = s + keys;
            int *list = (int *)(acc + dv);
            int n = window_keys(p, (int)qi, list);
            for (int64_t j = lq; j < lk; j++) list[n++] = (int)j; /* extra tokens: all */
            na_row(q + (h * lq + qi) * d, k + h * lk * d, v + h * lk * dv,
                   y + (h * lq + qi) * dv, list, n, d, dv, scale, s, acc);
        }
    }
}
