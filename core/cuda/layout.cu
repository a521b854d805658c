// Data movement and resampling: permute, block copies (concat, slice, split), zero padding,
// nearest upsampling, pools and bilinear resizing. One thread per output element (grid-stride),
// so every write is coalesced; the reads of a permute are as scattered as the permutation.
// Axes are merged as on the CPU (core/cpu/layout.c): output axes of size 1 dropped,
// neighbours that are neighbours in the input fused, so a permute keeps only the index
// arithmetic of the axes that move. Block copies move 16, 8, 4, 2 or 1 bytes per thread,
// the widest that every address, stride and length allows. Resampling follows the CPU's f32
// arithmetic (sums in window order, index math without contraction into FMAs) so results
// agree to rounding and the chosen source pixels are the same.
#include "common.cuh"

namespace {

#define PERM_DIMS SN_CPU_PERMUTE_DIMS
struct perm_geom {
    int64_t len[PERM_DIMS], stride[PERM_DIMS];
    int m;
};

// I: the index type, 32-bit whenever the tensor allows (64-bit division is slow).
template <typename E, typename I>
__global__ void permute_kernel(const E *__restrict__ x, E *__restrict__ y, I n, perm_geom g) {
    for (I i = blockIdx.x * (I)blockDim.x + threadIdx.x; i < n; i += (I)gridDim.x * blockDim.x) {
        I r = i, off = 0;
#pragma unroll
        for (int d = PERM_DIMS - 1; d >= 0; d--) {
            if (d >= g.m) continue;
            I len = (I)g.len[d];
            off += r % len * (I)g.stride[d];
            r /= len;
        }
        y[i] = x[off];
    }
}

template <typename E>
__global__ void copy_blocks_kernel(char *__restrict__ dst, int64_t dst_stride,
                                   const char *__restrict__ src, int64_t src_stride, int64_t per,
                                   int64_t total) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t blk = i / per, j = i % per;
        ((E *)(dst + blk * dst_stride))[j] = ((const E *)(src + blk * src_stride))[j];
    }
}

template <typename E>
__global__ void pad2d_kernel(const E *__restrict__ x, E *__restrict__ y, int64_t total, int64_t h,
                             int64_t w, int64_t oh, int64_t ow, int64_t left, int64_t top) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t ox = i % ow, oy = i / ow % oh, p = i / (ow * oh);
        int64_t iy = oy - top, ix = ox - left;
        E v;
        if (iy >= 0 && iy < h && ix >= 0 && ix < w)
            v = x[(p * h + iy) * w + ix];
        else
            memset(&v, 0, sizeof v);
        y[i] = v;
    }
}

template <typename T>
__global__ void upsample_kernel(const T *__restrict__ x, T *__restrict__ y, int64_t total,
                                int64_t h, int64_t w, int64_t fh, int64_t fw) {
    int64_t oh = h * fh, ow = w * fw;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t ox = i % ow, oy = i / ow % oh, p = i / (ow * oh);
        y[i] = x[(p * h + oy / fh) * w + ox / fw]; // a copy: any element type
    }
}

template <typename T>
__global__ void avg_pool_kernel(const T *__restrict__ x, T *__restrict__ y, int64_t total,
                                int64_t h, int64_t w, int64_t kh, int64_t kw) {
    int64_t oh = h / kh, ow = w / kw;
    float area = (float)(kh * kw);
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t ox = i % ow, oy = i / ow % oh, p = i / (ow * oh);
        const T *src = x + (p * h + oy * kh) * w + ox * kw;
        float sum = 0;
        for (int64_t a = 0; a < kh; a++)
            for (int64_t b = 0; b < kw; b++) sum = __fadd_rn(sum, sn_ld(src, a * w + b));
        sn_st(y, i, sum / area);
    }
}

template <typename T>
__global__ void max_pool_kernel(sn_cpu_pool2d_geom g, const T *__restrict__ x,
                                T *__restrict__ y, int64_t total) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t ox = i % g.ow, oy = i / g.ow % g.oh, p = i / (g.ow * g.oh);
        const T *src = x + p * g.h * g.w;
        int64_t y0 = oy * g.sh - g.ph, x0 = ox * g.sw - g.pw;
        int64_t ys = max(y0, (int64_t)0), ye = min(y0 + g.kh, g.h);
        int64_t xs = max(x0, (int64_t)0), xe = min(x0 + g.kw, g.w);
        float m = -INFINITY;
        for (int64_t a = ys; a < ye && !isnan(m); a++)
            for (int64_t b = xs; b < xe; b++) {
                float v = sn_ld(src, a * g.w + b);
                if (v > m || isnan(v)) m = v;
                if (isnan(m)) break;
            }
        sn_st(y, i, m);
    }
}

template <typename T>
__global__ void avg_pool_ex_kernel(sn_cpu_pool2d_geom g, const T *__restrict__ x,
                                   T *__restrict__ y, int64_t total) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t ox = i % g.ow, oy = i / g.ow % g.oh, p = i / (g.ow * g.oh);
        const T *src = x + p * g.h * g.w;
        int64_t y0 = oy * g.sh - g.ph, y1 = min(y0 + g.kh, g.h + g.ph);
        int64_t ys = max(y0, (int64_t)0), ye = min(y1, g.h);
        int64_t x0 = ox * g.sw - g.pw, x1 = min(x0 + g.kw, g.w + g.pw);
        int64_t xs = max(x0, (int64_t)0), xe = min(x1, g.w);
        int64_t count = g.exclude_pad ? (ye - ys) * (xe - xs) : (y1 - y0) * (x1 - x0);
        float sum = 0;
        for (int64_t a = ys; a < ye; a++)
            for (int64_t b = xs; b < xe; b++) sum = __fadd_rn(sum, sn_ld(src, a * g.w + b));
        sn_st(y, i, count > 0 ? sum / (float)count : 0.0f);
    }
}

// torch's source coordinate, as the CPU computes it: max(scale (i + 0.5) - 0.5, 0), the lower
// neighbour clamped to the last pixel, the weight of the upper one clamped to [0, 1].
__device__ __forceinline__ void bilinear_src(float scale, int64_t i, int64_t n, int64_t *i0,
                                             int64_t *i1, float *l1) {
    float src = __fsub_rn(__fmul_rn(scale, __fadd_rn((float)i, 0.5f)), 0.5f);
    if (src < 0) src = 0;
    int64_t a = (int64_t)src;
    if (a > n - 1) a = n - 1;
    float l = __fsub_rn(src, (float)a);
    *i0 = a;
    *i1 = a + (a < n - 1 ? 1 : 0);
    *l1 = l < 0 ? 0 : l > 1 ? 1 : l;
}

template <typename T>
__global__ void resize_bilinear_kernel(const T *__restrict__ x, T *__restrict__ y,
                                       int64_t total, int64_t h, int64_t w, int64_t oh,
                                       int64_t ow, float sh, float sw) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t ox = i % ow, oy = i / ow % oh, p = i / (ow * oh);
        int64_t y0, y1, x0, x1;
        float h1, w1;
        bilinear_src(sh, oy, h, &y0, &y1, &h1);
        bilinear_src(sw, ox, w, &x0, &x1, &w1);
        float h0 = 1.0f - h1, w0 = 1.0f - w1;
        const T *r0 = x + (p * h + y0) * w, *r1 = x + (p * h + y1) * w;
        float top = __fadd_rn(__fmul_rn(w0, sn_ld(r0, x0)), __fmul_rn(w1, sn_ld(r0, x1)));
        float bot = __fadd_rn(__fmul_rn(w0, sn_ld(r1, x0)), __fmul_rn(w1, sn_ld(r1, x1)));
        sn_st(y, i, __fadd_rn(__fmul_rn(h0, top), __fmul_rn(h1, bot)));
    }
}

// (batch, a, b) -> (batch, b, a) through 32 x 32 tiles in shared memory, so that both the reads
// and the writes are coalesced (the general permute's reads would be strided here). Blocks of
// 32 x 8 threads; grid-stride over the tile rows and the batch, whose grid axes are limited.
template <typename E>
__global__ void transpose_kernel(const E *__restrict__ x, E *__restrict__ y, int64_t batch,
                                 int64_t a, int64_t b) {
    __shared__ E tile[32][33];
    int64_t b0 = (int64_t)blockIdx.x * 32;
    for (int64_t n = blockIdx.z; n < batch; n += gridDim.z)
        for (int64_t a0 = (int64_t)blockIdx.y * 32; a0 < a; a0 += (int64_t)gridDim.y * 32) {
            const E *src = x + n * a * b;
            E *dst = y + n * a * b;
            for (int i = threadIdx.y; i < 32; i += 8)
                if (a0 + i < a && b0 + threadIdx.x < b)
                    tile[i][threadIdx.x] = src[(a0 + i) * b + b0 + threadIdx.x];
            __syncthreads();
            for (int i = threadIdx.y; i < 32; i += 8)
                if (b0 + i < b && a0 + threadIdx.x < a)
                    dst[(b0 + i) * a + a0 + threadIdx.x] = tile[threadIdx.x][i];
            __syncthreads();
        }
}

// Runs f with E the unsigned integer type of `elsize` bytes; 0 (error set) for other sizes.
template <typename F> static int by_elsize(sn_ctx *ctx, size_t elsize, const char *op, F f) {
    switch (elsize) {
    case 1: f((uint8_t *)0); return 1;
    case 2: f((uint16_t *)0); return 1;
    case 4: f((uint32_t *)0); return 1;
    case 8: f((uint64_t *)0); return 1;
    case 16: f((uint4 *)0); return 1;
    default: sn_fail(ctx, "%s: element size %zu is not supported on CUDA", op, elsize); return 0;
    }
}

} // namespace

extern "C" void sn_cuda_permute(sn_ctx *ctx, const void *x, void *y, size_t elsize, int nd,
                                const int64_t *shape, const int *perm) {
    int64_t in_stride[PERM_DIMS], s = 1, n = 1;
    for (int i = nd - 1; i >= 0; i--) {
        in_stride[i] = s;
        s *= shape[i];
        n *= shape[i];
    }
    perm_geom g = {};
    int m = 0;
    for (int i = 0; i < nd; i++) {
        int64_t len = shape[perm[i]], st = in_stride[perm[i]];
        if (len == 1) continue;
        if (m && g.stride[m - 1] == st * len) {
            g.len[m - 1] *= len;
            g.stride[m - 1] = st;
        } else {
            g.len[m] = len;
            g.stride[m] = st;
            m++;
        }
    }
    if (m == 0) {
        g.len[0] = 1;
        g.stride[0] = 1;
        m = 1;
    }
    g.m = m;
    if (m == 1 && g.stride[0] == 1) { // the identity: one copy
        CU(ctx, cudaMemcpyAsync(y, x, n * elsize, cudaMemcpyDeviceToDevice, sn_cuda_stream(ctx)));
        return;
    }
    // When the innermost output axis is contiguous in the input too (a head's features moving
    // as a block), move it in the widest units its length, every stride and both addresses
    // allow: one 16-byte copy instead of eight 2-byte ones.
    if (g.stride[m - 1] == 1)
        for (size_t w = 16; w > elsize; w /= 2) {
            int64_t k = (int64_t)(w / elsize);
            int fits = g.len[m - 1] % k == 0 && ((uintptr_t)x | (uintptr_t)y) % w == 0;
            for (int d = 0; fits && d < m - 1; d++) fits = g.stride[d] % k == 0;
            if (!fits) continue;
            for (int d = 0; d < m - 1; d++) g.stride[d] /= k;
            g.len[m - 1] /= k;
            n /= k;
            elsize = w;
            break;
        }
    by_elsize(ctx, elsize, "permute", [&](auto *tag) {
        using E = std::remove_pointer_t<decltype(tag)>;
        if (n < (1LL << 31))
            permute_kernel<E, uint32_t><<<sn_blocks(n, 256), 256, 0, sn_cuda_stream(ctx)>>>(
                (const E *)x, (E *)y, (uint32_t)n, g);
        else
            permute_kernel<E, int64_t><<<sn_blocks(n, 256), 256, 0, sn_cuda_stream(ctx)>>>(
                (const E *)x, (E *)y, n, g);
    });
    LAUNCHED(ctx, "permute");
}

extern "C" void sn_cuda_copy_blocks(sn_ctx *ctx, void *dst, size_t dst_stride, const void *src,
                                    size_t src_stride, size_t bytes, int64_t count) {
    if (bytes == 0 || count == 0) return;
    uintptr_t all = (uintptr_t)dst | (uintptr_t)src | bytes | (count > 1 ? dst_stride | src_stride : 0);
    size_t v = all % 16 == 0 ? 16 : all % 8 == 0 ? 8 : all % 4 == 0 ? 4 : all % 2 == 0 ? 2 : 1;
    int64_t per = (int64_t)(bytes / v), total = per * count;
    cudaStream_t s = sn_cuda_stream(ctx);
    unsigned g = sn_blocks(total, 256);
    char *d = (char *)dst;
    const char *sr = (const char *)src;
    switch (v) {
    case 16: copy_blocks_kernel<uint4><<<g, 256, 0, s>>>(d, dst_stride, sr, src_stride, per, total); break;
    case 8: copy_blocks_kernel<uint2><<<g, 256, 0, s>>>(d, dst_stride, sr, src_stride, per, total); break;
    case 4: copy_blocks_kernel<uint32_t><<<g, 256, 0, s>>>(d, dst_stride, sr, src_stride, per, total); break;
    case 2: copy_blocks_kernel<uint16_t><<<g, 256, 0, s>>>(d, dst_stride, sr, src_stride, per, total); break;
    default: copy_blocks_kernel<uint8_t><<<g, 256, 0, s>>>(d, dst_stride, sr, src_stride, per, total); break;
    }
    LAUNCHED(ctx, "copy_blocks");
}

extern "C" void sn_cuda_pad2d(sn_ctx *ctx, const void *x, void *y, size_t elsize, int64_t planes,
                              int64_t h, int64_t w, int64_t left, int64_t right, int64_t top,
                              int64_t bottom) {
    int64_t oh = h + top + bottom, ow = w + left + right, total = planes * oh * ow;
    by_elsize(ctx, elsize, "pad2d", [&](auto *tag) {
        using E = std::remove_pointer_t<decltype(tag)>;
        pad2d_kernel<E><<<sn_blocks(total, 256), 256, 0, sn_cuda_stream(ctx)>>>(
            (const E *)x, (E *)y, total, h, w, oh, ow, left, top);
    });
    LAUNCHED(ctx, "pad2d");
}

#define FLOAT_LAUNCH(name, kernel, ...)                                                           \
    sn_float_dispatch(ctx, dt, name, [&](auto *tag) {                                              \
        using T = std::remove_pointer_t<decltype(tag)>;                                            \
        kernel<T><<<sn_blocks(total, 256), 256, 0, sn_cuda_stream(ctx)>>>(__VA_ARGS__);            \
    });                                                                                            \
    LAUNCHED(ctx, name)

extern "C" void sn_cuda_upsample_nearest(sn_ctx *ctx, sn_dtype dt, const void *x, void *y,
                                         int64_t planes, int64_t h, int64_t w, int64_t fh,
                                         int64_t fw) {
    int64_t total = planes * h * fh * w * fw;
    FLOAT_LAUNCH("upsample_nearest", upsample_kernel, (const T *)x, (T *)y, total, h, w, fh, fw);
}

extern "C" void sn_cuda_avg_pool2d(sn_ctx *ctx, sn_dtype dt, const void *x, void *y,
                                   int64_t planes, int64_t h, int64_t w, int64_t kh, int64_t kw) {
    int64_t total = planes * (h / kh) * (w / kw);
    FLOAT_LAUNCH("avg_pool2d", avg_pool_kernel, (const T *)x, (T *)y, total, h, w, kh, kw);
}

extern "C" void sn_cuda_max_pool2d(sn_ctx *ctx, sn_dtype dt, const sn_cpu_pool2d_geom *g,
                                   const void *x, void *y) {
    int64_t total = g->planes * g->oh * g->ow;
    FLOAT_LAUNCH("max_pool2d", max_pool_kernel, *g, (const T *)x, (T *)y, total);
}

extern "C" void sn_cuda_avg_pool2d_ex(sn_ctx *ctx, sn_dtype dt, const sn_cpu_pool2d_geom *g,
                                      const void *x, void *y) {
    int64_t total = g->planes * g->oh * g->ow;
    FLOAT_LAUNCH("avg_pool2d_ex", avg_pool_ex_kernel, *g, (const T *)x, (T *)y, total);
}

extern "C" void sn_cuda_resize_bilinear(sn_ctx *ctx, sn_dtype dt, const void *x, void *y,
                                        int64_t planes, int64_t h, int64_t w, int64_t oh,
                                        int64_t ow) {
    int64_t total = planes * oh * ow;
    float sh = (float)h / (float)oh, sw = (float)w / (float)ow;
    FLOAT_LAUNCH("resize_bilinear", resize_bilinear_kernel, (const T *)x, (T *)y, total, h, w,
                 oh, ow, sh, sw);
}

extern "C" void sn_cuda_transpose(sn_ctx *ctx, const void *x, void *y, size_t elsize,
                                  int64_t batch, int64_t a, int64_t b) {
    if (batch < 1 || a < 1 || b < 1) return;
    int64_t bx = (b + 31) / 32, by = (a + 31) / 32;
    if (bx > 0x7fffffff) {
        sn_fail(ctx, "transpose: %lld columns exceed the grid", (long long)b);
        return;
    }
    dim3 grid((unsigned)bx, (unsigned)(by < 65535 ? by : 65535),
              (unsigned)(batch < 65535 ? batch : 65535));
    by_elsize(ctx, elsize, "transpose", [&](auto *tag) {
        using E = std::remove_pointer_t<decltype(tag)>;
        transpose_kernel<E><<<grid, dim3(32, 8), 0, sn_cuda_stream(ctx)>>>((const E *)x, (E *)y,
                                                                             batch, a, b);
    });
    LAUNCHED(ctx, "transpose");
}
