/* The fused ops of core/ops.h on the CPU: the same arithmetic as the unfused sequence (so the
 * CPU stays the reference for both), in one pass where that is free. */
#include "cpu.h"

void sn_cpu_layer_norm_modulate(const float *x, const float *shift, const float *scale, float *y,
                                int64_t n, int64_t l, int64_t d, float eps) {
    sn_cpu_layer_norm(x, NULL, NULL, y, n * l, d, eps);
    sn_cpu_modulate(y, shift, scale, y, n, l, d);
}

void sn_cpu_gated_add(const float *x, const float *a, const float *gate, float *y, int64_t n,
                      int64_t l, int64_t d) {
#pragma omp parallel for collapse(2) if (n * l * d > (1 << 16))
    for (int64_t i = 0; i < n; i++)
        for (int64_t t = 0; t < l; t++) {
            const float *xr = x + (i * l + t) * d, *ar = a + (i * l + t) * d, *g = gate + i * d;
            float *yr = y + (i * l + t) * d;
            for (int64_t c = 0; c < d; c++) yr[c] = xr[c] + ar[c] * g[c];
        }
}
