// Fused kernels for the transformer blocks' elementwise work, each one pass over memory where
// the unfused ops take two or three (core/cpu/fused.c computes the same unfused):
//   layer_norm_modulate: LayerNorm without affine, then (1 + scale) and shift per item: one
//     warp per row, the row held in registers (rows up to 32 x 64 values), statistics in f32
//     in two passes over the registers; longer rows fall back to the two separate kernels;
//   gated_add: x + a * gate, the gate per item and channel (adaLN-Zero's residual);
//   rope: x cos + rotate_half(x) sin, one thread per feature pair (products and the sum
//     rounded as the CPU's unfused ops round them).
#include "common.cuh"

namespace {

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

template <typename T, int E>
__global__ void ln_modulate_kernel(const T *__restrict__ x, const T *__restrict__ shift,
                                   const T *__restrict__ scale, T *__restrict__ y, int64_t rows,
                                   int64_t l, int d, float eps) {
    int lane = threadIdx.x & 31;
    int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int64_t warps = ((int64_t)gridDim.x * blockDim.x) >> 5;
    for (int64_t r = warp; r < rows; r += warps) {
        const T *xr = x + r * d;
        float v[E], s = 0;
#pragma unroll
        for (int j = 0; j < E; j++) {
            int i = lane + 32 * j;
            v[j] = i < d ? sn_ld(xr, i) : 0.0f;
            s += v[j];
        }
        float mean = warp_sum(s) / d, q = 0;
#pragma unroll
        for (int j = 0; j < E; j++) {
            float t = lane + 32 * j < d ? v[j] - mean : 0.0f;
            q += t * t;
        }
        float rstd = rsqrtf(warp_sum(q) / d + eps);
        const T *sh = shift + (r / l) * d, *sc = scale + (r / l) * d;
        T *yr = y + r * d;
#pragma unroll
        for (int j = 0; j < E; j++) {
            int i = lane + 32 * j;
            if (i < d) sn_st(yr, i, (v[j] - mean) * rstd * (1.0f + sn_ld(sc, i)) + sn_ld(sh, i));
        }
    }
}

template <typename T, typename I>
__global__ void gated_add_kernel(const T *__restrict__ x, const T *__restrict__ a,
                                 const T *__restrict__ gate, T *__restrict__ y, I total, I l, I d) {
    for (I i = blockIdx.x * (I)blockDim.x + threadIdx.x; i < total; i += (I)gridDim.x * blockDim.x) {
        I row = i / d, c = i - row * d;
        sn_st(y, i, sn_ld(x, i) + sn_ld(a, i) * sn_ld(gate, (row / l) * d + c));
    }
}

template <typename T>
__global__ void rope_kernel(const T *__restrict__ x, const T *__restrict__ cos,
                            const T *__restrict__ sin, T *__restrict__ y, int64_t pairs,
                            int64_t t, int64_t d) {
    int64_t half = d / 2;
    for (int64_t p = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; p < pairs;
         p += (int64_t)gridDim.x * blockDim.x) {
        int64_t r = p / half, i = 2 * (p - r * half), o = (r % t) * d + i, at = r * d + i;
        float x0 = sn_ld(x, at), x1 = sn_ld(x, at + 1);
        float a0 = __fmul_rn(x0, sn_ld(cos, o)), a1 = __fmul_rn(x1, sn_ld(cos, o + 1));
        float b0 = __fmul_rn(-x1, sn_ld(sin, o)), b1 = __fmul_rn(x0, sn_ld(sin, o + 1));
        sn_st(y, at, __fadd_rn(a0, b0));
        sn_st(y, at + 1, __fadd_rn(a1, b1));
    }
}

template <typename T, int E>
void launch_ln(sn_ctx *ctx, const void *x, const void *shift, const void *scale, void *y,
               int64_t rows, int64_t l, int64_t d, float eps) {
    int64_t blocks = (rows + 7) / 8; // 8 warps (rows) per block
    if (blocks > 65535LL * 16) blocks = 65535LL * 16;
    ln_modulate_kernel<T, E><<<(unsigned)blocks, 256, 0, sn_cuda_stream(ctx)>>>(
        (const T *)x, (const T *)shift, (const T *)scale, (T *)y, rows, l, (int)d, eps);
}

} // namespace

extern "C" void sn_cuda_layer_norm_modulate(sn_ctx *ctx, sn_dtype dt, const void *x,
                                            const void *shift, const void *scale, void *y,
                                            int64_t n, int64_t l, int64_t d, float eps) {
    if (d > 32 * 64) { // too long for registers: the two kernels
        sn_cuda_layer_norm(ctx, dt, x, NULL, NULL, y, n * l, d, eps);
        sn_cuda_modulate(ctx, dt, y, shift, scale, y, n, l, d);
        return;
    }
    int64_t rows = n * l;
    sn_float_dispatch(ctx, dt, "layer_norm_modulate", [&](auto *tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        if (d <= 32 * 8) launch_ln<T, 8>(ctx, x, shift, scale, y, rows, l, d, eps);
        else if (d <= 32 * 16) launch_ln<T, 16>(ctx, x, shift, scale, y, rows, l, d, eps);
        else if (d <= 32 * 36) launch_ln<T, 36>(ctx, x, shift, scale, y, rows, l, d, eps);
        else if (d <= 32 * 48) launch_ln<T, 48>(ctx, x, shift, scale, y, rows, l, d, eps);
        else launch_ln<T, 64>(ctx, x, shift, scale, y, rows, l, d, eps);
    });
    LAUNCHED(ctx, "layer_norm_modulate");
}

extern "C" void sn_cuda_rope(sn_ctx *ctx, sn_dtype dt, const void *x, const void *cos,
                             const void *sin, void *y, int64_t rows, int64_t t, int64_t d) {
    int64_t pairs = rows * d / 2;
    sn_float_dispatch(ctx, dt, "rope", [&](auto *tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        rope_kernel<T><<<sn_blocks(pairs, 256), 256, 0, sn_cuda_stream(ctx)>>>(
            (const T *)x, (const T *)cos, (const T *)sin, (T *)y, pairs, t, d);
    });
    LAUNCHED(ctx, "rope");
}

extern "C" void sn_cuda_gated_add(sn_ctx *ctx, sn_dtype dt, const void *x, const void *a,
                                  const void *gate, void *y, int64_t n, int64_t l, int64_t d) {
    int64_t total = n * l * d;
    sn_float_dispatch(ctx, dt, "gated_add", [&](auto *tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        if (total < (1LL << 31))
            gated_add_kernel<T, uint32_t><<<sn_blocks(total, 256), 256, 0, sn_cuda_stream(ctx)>>>(
                (const T *)x, (const T *)a, (const T *)gate, (T *)y, (uint32_t)total, (uint32_t)l,
                (uint32_t)d);
        else
            gated_add_kernel<T, int64_t><<<sn_blocks(total, 256), 256, 0, sn_cuda_stream(ctx)>>>(
                (const T *)x, (const T *)a, (const T *)gate, (T *)y, total, l, d);
    });
    LAUNCHED(ctx, "gated_add");
}
