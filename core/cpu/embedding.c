/* Table lookups that models do on the device so that a step needs no host round trip (and
 * can be recorded into a CUDA graph): rows of an embedding table, and the sinusoidal timestep
 * embedding. core/cuda/embedding.cu computes the same. */
#include <math.h>
#include <string.h>

#include "cpu.h"

void sn_cpu_embedding(const void *table, const int32_t *ids, void *y, int64_t n, int64_t rows,
                      size_t row_bytes) {
    for (int64_t i = 0; i < n; i++) {
        char *dst = (char *)y + i * row_bytes;
        if (ids[i] >= 0 && ids[i] < rows)
            memcpy(dst, (const char *)table + ids[i] * row_bytes, row_bytes);
        else
            memset(dst, 0, row_bytes);
    }
}

void sn_cpu_timestep_embedding(const float *t, const float *freqs, float *y, int64_t n,
                               int64_t half, int64_t dim) {
    for (int64_t i = 0; i < n; i++) {
        float *row = y + i * dim;
        for (int64_t k = 0; k < half; k++) {
            float arg = t[i] * freqs[k]; /* rounded to f32, as the references compute it */
            row[k] = (float)cos((double)arg);
            row[half + k] = (float)sin((double)arg);
        }
        for (int64_t k = 2 * half; k < dim; k++) row[k] = 0.0f;
    }
}
