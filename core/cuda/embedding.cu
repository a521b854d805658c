// Device table lookups (core/cpu/embedding.c computes the same): embedding rows, and the
// sinusoidal timestep embedding with the argument rounded to f32 and cos/sin in double, as the
// CPU does, so both agree to the last bit but for the double functions' final rounding.
#include "common.cuh"

namespace {

__global__ void embedding_kernel(const char *__restrict__ table, const int32_t *__restrict__ ids,
                                 char *__restrict__ y, int64_t n, int64_t rows, int64_t row_bytes) {
    int64_t total = n * row_bytes;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t r = i / row_bytes, b = i % row_bytes;
        int32_t id = ids[r];
        y[i] = id >= 0 && id < rows ? table[id * row_bytes + b] : 0;
    }
}

__global__ void timestep_kernel(const float *__restrict__ t, const float *__restrict__ freqs,
                                float *__restrict__ y, int64_t n, int64_t half, int64_t dim) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n * dim;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t r = i / dim, k = i % dim;
        float v = 0.0f;
        if (k < 2 * half) {
            float arg = __fmul_rn(t[r], freqs[k % half]);
            v = k < half ? (float)cos((double)arg) : (float)sin((double)arg);
        }
        y[i] = v;
    }
}

} // namespace

extern "C" void sn_cuda_embedding(sn_ctx *ctx, const void *table, const int32_t *ids, void *y,
                                  int64_t n, int64_t rows, size_t row_bytes) {
    int64_t total = n * (int64_t)row_bytes;
    embedding_kernel<<<sn_blocks(total, 256), 256, 0, sn_cuda_stream(ctx)>>>(
        (const char *)table, ids, (char *)y, n, rows, (int64_t)row_bytes);
    LAUNCHED(ctx, "embedding");
}

extern "C" void sn_cuda_timestep_embedding(sn_ctx *ctx, const float *t, const float *freqs,
                                           float *y, int64_t n, int64_t half, int64_t dim) {
    timestep_kernel<<<sn_blocks(n * dim, 256), 256, 0, sn_cuda_stream(ctx)>>>(t, freqs, y, n,
                                                                             half, dim);
    LAUNCHED(ctx, "timestep_embedding");
}
