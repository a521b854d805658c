/* The fused ops of core/ops.h on the CPU: the same arithmetic as the unfused sequence (so the
 * CPU stays the reference for both), in one pass where that is free. */
#include "cpu.h"

void sn_cpu_layer_norm_modulate(const float *x, const float *shift, const float *scale, float *y,
                                int64_t n, int64_t l, int64_t d, float eps) {
    sn_cpu_layer_norm(x, NULL, NULL, y, n * l, d, eps);
    sn_cpu_modulate(y, shift, scale, y, n, l, d);
}

void sn_cpu_rope(const float *x, const float *cos, const float *sin, float *y, int64_t rows,
                 int64_t t, int64_t d) {
#pragma omp parallel for if (rows * d > (1 << 16))
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * d, *c = cos + (r % t) * d, *s = sin + (r % t) * d;
        float *yr = y + r * d;
        for (int64_t i = 0; i < d; i += 2) {
            float a0 = xr[i] * c[i], a1 = xr[i + 1] * c[i + 1];
            float b0 = -xr[i + 1] * s[i], b1 = xr[i] * s[i + 1];
            yr[i] = a0 + b0, yr[i + 1] = a1 + b1;
        }
    }
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
