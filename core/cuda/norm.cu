// Normalizations, with the CPU backend's arithmetic (core/cpu/norm.c): statistics in double,
// applied in f32 with the mean and 1/std rounded to f32 first.
//
// Layer and RMS norm: one block per row (grid-stride over rows); a row is at most a few
// thousand values, so the later passes read it from cache. Group norm: a group of a VAE
// feature map holds millions of values, too many for one block, so each group is cut into
// chunks (enough blocks to fill the GPU) and two kernels run: per-chunk sums and sums of
// squares (one pass, double); apply (optionally with SiLU fused). The apply kernel first
// reduces the per-chunk partials (at most GN_MAX_CHUNKS doubles per group) itself, so no
// separate finishing launch is needed. The partials live in arena scratch.
#include "common.cuh"

namespace {

template <typename T>
__global__ void layer_norm_kernel(const T *__restrict__ x, const T *__restrict__ w,
                                  const T *__restrict__ b, T *__restrict__ y, int64_t rows,
                                  int64_t n, float eps) {
    __shared__ double sh[32];
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const T *xr = x + r * n;
        T *yr = y + r * n;
        double sum = 0;
        for (int64_t i = threadIdx.x; i < n; i += blockDim.x) sum += sn_ld(xr, i);
        double mean = sn_block_sum(sum, sh) / n;
        double sq = 0;
        for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
            double d = sn_ld(xr, i) - mean;
            sq += d * d;
        }
        sq = sn_block_sum(sq, sh);
        float fm = (float)mean, rstd = (float)(1.0 / sqrt(sq / n + eps));
        for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
            float v = (sn_ld(xr, i) - fm) * rstd;
            sn_st(yr, i, (w ? v * sn_ld(w, i) : v) + (b ? sn_ld(b, i) : 0.0f));
        }
    }
}

template <typename T>
__global__ void rms_norm_kernel(const T *__restrict__ x, const T *__restrict__ w,
                                T *__restrict__ y, int64_t rows, int64_t n, float eps) {
    __shared__ double sh[32];
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const T *xr = x + r * n;
        T *yr = y + r * n;
        double sq = 0;
        for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
            double v = sn_ld(xr, i);
            sq += v * v;
        }
        sq = sn_block_sum(sq, sh);
        float rs = (float)(1.0 / sqrt(sq / n + eps));
        for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
            float v = sn_ld(xr, i);
            sn_st(yr, i, w ? v * rs * sn_ld(w, i) : v * rs);
        }
    }
}

#define GN_MAX_CHUNKS 1024
#define GN_THREADS 256

// Block (chunk, group t) of a group of e elements: its element range.
__device__ __forceinline__ void gn_range(int64_t e, int chunks, int64_t *lo, int64_t *hi) {
    *lo = e * blockIdx.x / chunks;
    *hi = e * (blockIdx.x + 1) / chunks;
}

// Sum of the group's partials (chunks of them), for every thread of the block.
__device__ __forceinline__ double gn_total(const double *part, int chunks, double *sh) {
    double v = 0;
    for (int i = threadIdx.x; i < chunks; i += blockDim.x) v += part[i];
    return sn_block_sum(v, sh);
}

// One pass: each block's partial sum and sum of squares, in double (so the variance as
// E[x^2] - E[x]^2 loses nothing that matters: the CPU's two-pass value to ~1e-12).
template <typename T>
__global__ void gn_stats(const T *__restrict__ x, int64_t e, int chunks, double *__restrict__ sums,
                         double *__restrict__ sqs) {
    __shared__ double sh[32];
    int64_t t = blockIdx.y, lo, hi;
    gn_range(e, chunks, &lo, &hi);
    const T *xg = x + t * e;
    double acc = 0, acc2 = 0;
    for (int64_t i = lo + threadIdx.x; i < hi; i += blockDim.x) {
        double v = sn_ld(xg, i);
        acc += v;
        acc2 += v * v;
    }
    acc = sn_block_sum(acc, sh);
    acc2 = sn_block_sum(acc2, sh);
    if (threadIdx.x == 0) sums[t * chunks + blockIdx.x] = acc, sqs[t * chunks + blockIdx.x] = acc2;
}

// Normalizes, applies the affine and, for the VAEs' GN -> SiLU, the SiLU (SILU = 1). The
// index arithmetic is 32-bit: one group of one image holds under 2^31 values.
template <typename T, int SILU>
__global__ void gn_apply(const T *__restrict__ x, const T *__restrict__ w,
                         const T *__restrict__ b, T *__restrict__ y, int64_t e, int64_t s,
                         int64_t cg, int64_t groups, int chunks, const double *__restrict__ sums,
                         const double *__restrict__ sqs, float eps) {
    __shared__ double sh[32];
    int64_t t = blockIdx.y, lo, hi;
    gn_range(e, chunks, &lo, &hi);
    double mean = gn_total(sums + t * chunks, chunks, sh) / e;
    double var = gn_total(sqs + t * chunks, chunks, sh) / e - mean * mean;
    float fm = (float)mean, rstd = (float)(1.0 / sqrt((var > 0 ? var : 0) + eps));
    const T *xg = x + t * e;
    T *yg = y + t * e;
    int64_t ch0 = (t % groups) * cg;
    uint32_t ss = (uint32_t)s;
    for (uint32_t i = (uint32_t)lo + threadIdx.x; i < (uint32_t)hi; i += blockDim.x) {
        int64_t ch = ch0 + i / ss;
        float scale = rstd * (w ? sn_ld(w, ch) : 1.0f);
        float shift = (b ? sn_ld(b, ch) : 0.0f) - fm * scale;
        float v = sn_ld(xg, i) * scale + shift;
        if (SILU) v = v / (1.0f + __expf(-v));
        sn_st(yg, i, v);
    }
}

static int row_threads(int64_t n) { return n >= 256 ? 256 : (int)((n + 31) / 32 * 32); }
static unsigned row_grid(int64_t rows) { return (unsigned)(rows < (1 << 20) ? rows : (1 << 20)); }

} // namespace

extern "C" void sn_cuda_layer_norm(sn_ctx *ctx, sn_dtype dt, const void *x, const void *w,
                                   const void *b, void *y, int64_t rows, int64_t n, float eps) {
    sn_float_dispatch(ctx, dt, "layer_norm", [&](auto *tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        layer_norm_kernel<T><<<row_grid(rows), row_threads(n), 0, sn_cuda_stream(ctx)>>>(
            (const T *)x, (const T *)w, (const T *)b, (T *)y, rows, n, eps);
    });
    LAUNCHED(ctx, "layer_norm");
}

extern "C" void sn_cuda_rms_norm(sn_ctx *ctx, sn_dtype dt, const void *x, const void *w, void *y,
                                 int64_t rows, int64_t n, float eps) {
    sn_float_dispatch(ctx, dt, "rms_norm", [&](auto *tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        rms_norm_kernel<T><<<row_grid(rows), row_threads(n), 0, sn_cuda_stream(ctx)>>>(
            (const T *)x, (const T *)w, (T *)y, rows, n, eps);
    });
    LAUNCHED(ctx, "rms_norm");
}

extern "C" void sn_cuda_group_norm(sn_ctx *ctx, sn_dtype dt, const void *x, const void *w,
                                   const void *b, void *y, int64_t n, int64_t c, int64_t s,
                                   int64_t groups, float eps, int silu) {
    int64_t cg = c / groups, e = cg * s, ng = n * groups;
    sn_cuda_state *st = sn_cuda_st(ctx);
    // enough blocks for four waves over the GPU, but chunks of at least 2048 elements
    int64_t want = (4 * (int64_t)st->sm_count + ng - 1) / ng;
    int64_t most = (e + 2047) / 2048;
    int chunks = (int)(want < most ? want : most);
    if (chunks < 1) chunks = 1;
    if (chunks > GN_MAX_CHUNKS) chunks = GN_MAX_CHUNKS;
    if (ng > 65535 || e >= (1LL << 31)) { // grid.y limit; 32-bit indices within a group
        sn_fail(ctx, "group_norm: %lld (image, group) pairs of %lld values exceed the CUDA kernel",
                (long long)ng, (long long)e);
        return;
    }
    sn_scope sc = sn_scope_begin(ctx);
    double *part = (double *)sn_alloc(ctx, 2 * ng * chunks * sizeof(double));
    if (part) {
        double *sums = part, *sqs = part + ng * chunks;
        dim3 grid(chunks, (unsigned)ng);
        cudaStream_t stream = st->stream;
        sn_float_dispatch(ctx, dt, "group_norm", [&](auto *tag) {
            using T = std::remove_pointer_t<decltype(tag)>;
            gn_stats<T><<<grid, GN_THREADS, 0, stream>>>((const T *)x, e, chunks, sums, sqs);
            if (silu)
                gn_apply<T, 1><<<grid, GN_THREADS, 0, stream>>>((const T *)x, (const T *)w,
                    (const T *)b, (T *)y, e, s, cg, groups, chunks, sums, sqs, eps);
            else
                gn_apply<T, 0><<<grid, GN_THREADS, 0, stream>>>((const T *)x, (const T *)w,
                    (const T *)b, (T *)y, e, s, cg, groups, chunks, sums, sqs, eps);
        });
        LAUNCHED(ctx, "group_norm");
    }
    sn_scope_end(ctx, sc, sn_none());
}
