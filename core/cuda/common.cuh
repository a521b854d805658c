// What every CUDA op file shares: the backend state hung off the context (stream, library
// handles, caches), error reporting into the context, launch-size helpers and the element
// load/store helpers through which f16/bf16 storage will join f32 (math is always f32).
#ifndef SN_CUDA_COMMON_CUH
#define SN_CUDA_COMMON_CUH

#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <pthread.h>
#include <stdint.h>

#include <type_traits>

extern "C" {
#include "../backend.h"
#include "../profile.h"
#include "cuda_ops.h"
}

// One cached convolution: its shape, cuDNN descriptors and chosen algorithm.
#define SN_CONV_KEY 15
struct sn_conv_plan {
    int64_t key[SN_CONV_KEY];
    cudnnTensorDescriptor_t xd, yd;
    cudnnFilterDescriptor_t wd;
    cudnnConvolutionDescriptor_t cd;
    cudnnConvolutionFwdAlgo_t algo;
    size_t workspace;
    int used;
};
#define SN_CONV_PLANS 64

// One cached cuBLASLt matrix product: shape, descriptors and the heuristic's algorithm.
#define SN_GEMM_KEY 11
struct sn_gemm_plan {
    int64_t key[SN_GEMM_KEY];
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t a, b, c;
    cublasLtMatmulAlgo_t algo;
    size_t workspace;
    int used;
};
#define SN_GEMM_PLANS 64

struct sn_cuda_state {
    int device;
    cudaStream_t stream;
    cublasLtHandle_t lt;
    cudnnHandle_t dnn;
    int sm_count;
    size_t smem_optin; // largest dynamic shared memory a block may ask for
    sn_conv_plan conv[SN_CONV_PLANS];
    int conv_next;
    sn_gemm_plan gemm[SN_GEMM_PLANS];
    int gemm_next;
    pthread_t warmer[2]; // warm.cu: initialize cuBLASLt and cuDNN in the background
    int warming;         // threads started
};
void sn_cuda_warm_join(sn_cuda_state *st);

static inline sn_cuda_state *sn_cuda_st(sn_ctx *ctx) { return (sn_cuda_state *)sn_ctx_backend(ctx); }
static inline cudaStream_t sn_cuda_stream(sn_ctx *ctx) { return sn_cuda_st(ctx)->stream; }

// Each returns 1 when the call succeeded, else sets the context error ("<function>: <message>")
// and returns 0. `call` is the call's text; its function name is what the message shows.
static inline int sn_call_len(const char *call) {
    int n = 0;
    while (call[n] && call[n] != '(') n++;
    return n;
}
static inline int sn_cu_ok(sn_ctx *ctx, cudaError_t e, const char *call) {
    if (e == cudaSuccess) return 1;
    sn_fail(ctx, "CUDA: %.*s: %s (%s)", sn_call_len(call), call, cudaGetErrorString(e),
            cudaGetErrorName(e));
    return 0;
}
static inline int sn_lt_ok(sn_ctx *ctx, cublasStatus_t s, const char *call) {
    if (s == CUBLAS_STATUS_SUCCESS) return 1;
    sn_fail(ctx, "cuBLASLt: %.*s: %s (%s)", sn_call_len(call), call, cublasGetStatusString(s),
            cublasGetStatusName(s));
    return 0;
}
static inline int sn_dnn_ok(sn_ctx *ctx, cudnnStatus_t s, const char *call) {
    if (s == CUDNN_STATUS_SUCCESS) return 1;
    sn_fail(ctx, "cuDNN: %.*s: %s", sn_call_len(call), call, cudnnGetErrorString(s));
    return 0;
}
#define CU(ctx, call) sn_cu_ok((ctx), (call), #call)
#define LT(ctx, call) sn_lt_ok((ctx), (call), #call)
#define DNN(ctx, call) sn_dnn_ok((ctx), (call), #call)
// After a kernel launch: a bad configuration shows up here, not later.
#define LAUNCHED(ctx, name) sn_cu_ok((ctx), cudaGetLastError(), name " launch")

// Library workspace from the arena, aligned to 256 bytes as cuBLASLt and cuDNN want it; lives
// until the caller's scope ends. NULL (error set) when the arena is full; NULL and no error
// for 0 bytes.
static inline void *sn_cuda_workspace(sn_ctx *ctx, size_t bytes) {
    if (!bytes) return NULL;
    char *p = (char *)sn_alloc(ctx, bytes + 256);
    if (!p) return NULL;
    return p + (256 - (uintptr_t)p % 256) % 256;
}

// Blocks for n threads' worth of work, capped so a grid-stride loop covers the rest.
static inline unsigned sn_blocks(int64_t n, int threads) {
    int64_t b = (n + threads - 1) / threads;
    if (b < 1) b = 1;
    if (b > 65535LL * 32) b = 65535LL * 32;
    return (unsigned)b;
}

// Element load/store as f32.
__device__ __forceinline__ float sn_ld(const float *p, int64_t i) { return p[i]; }
__device__ __forceinline__ float sn_ld(const __half *p, int64_t i) { return __half2float(p[i]); }
__device__ __forceinline__ float sn_ld(const __nv_bfloat16 *p, int64_t i) {
    return __bfloat162float(p[i]);
}
__device__ __forceinline__ void sn_st(float *p, int64_t i, float v) { p[i] = v; }
__device__ __forceinline__ void sn_st(__half *p, int64_t i, float v) { p[i] = __float2half_rn(v); }
__device__ __forceinline__ void sn_st(__nv_bfloat16 *p, int64_t i, float v) {
    p[i] = __float2bfloat16_rn(v);
}

// Calls F.template operator()<T>() with T the storage type of dt; the float dtypes only.
// Returns 0 (with the error set) for other dtypes.
template <typename F> static inline int sn_float_dispatch(sn_ctx *ctx, sn_dtype dt, const char *op, F f) {
    switch (dt) {
    case SN_F32: f((float *)0); return 1;
    case SN_F16: f((__half *)0); return 1;
    case SN_BF16: f((__nv_bfloat16 *)0); return 1;
    default: sn_fail(ctx, "%s: %s is not a floating-point dtype", op, sn_dtype_name(dt)); return 0;
    }
}

// Block-wide sum of one double per thread (blockDim.x a multiple of 32, at most 1024); every
// thread gets the total. `sh` holds 32 doubles.
__device__ __forceinline__ double sn_block_sum(double v, double *sh) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nw = blockDim.x >> 5;
    __syncthreads(); // sh may still be read from a previous call
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    v = lane < nw ? sh[lane] : 0.0;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float sn_block_max(float v, float *sh) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nw = blockDim.x >> 5;
    __syncthreads();
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    v = lane < nw ? sh[lane] : -INFINITY;
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

#endif
