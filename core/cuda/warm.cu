// Setting up cuBLASLt and cuDNN in the background. The first heuristic queries of a process
// initialize the library's engines and heuristics: on the H200 cuDNN's first 1x1 and first
// 3x3 convolution queries took 90-160 and 130-220 ms (later ones 2-4 ms; mapping its
// libraries is only 25 ms of that), and cuBLASLt's first queries most of its 85 ms of plan
// lookups (measured 2026-11-23; docs/benchmarks.md). A command whose first products or
// convolutions come after loading and other stages (t2i, generate) would pay that in the
// middle of its work with the GPU idle. sn_cuda_warm_start asks those first questions from a
// thread per library, on private handles, with no GPU memory and no kernel, so the set-up
// overlaps the work before; the libraries serialize it themselves, so a real query that comes
// first only waits as it would have. sn_cuda_state_free joins the threads (so a command that
// will not use cuDNN should not ask for it: it would wait for its set-up at exit).
#include <pthread.h>

#include "common.cuh"

namespace {

// Each thread makes the context's device current first; errors are ignored: a failure here
// only means the real call pays the initialization (and reports what went wrong).
void *warm_cublaslt(void *arg) {
    cudaSetDevice(*(int *)arg);
    cublasLtHandle_t lt = NULL;
    cublasLtMatmulDesc_t op = NULL;
    cublasLtMatrixLayout_t a = NULL, b = NULL, c = NULL;
    cublasLtMatmulPreference_t pref = NULL;
    if (cublasLtCreate(&lt) == CUBLAS_STATUS_SUCCESS &&
        cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F) == CUBLAS_STATUS_SUCCESS &&
        cublasLtMatrixLayoutCreate(&a, CUDA_R_16BF, 256, 256, 256) == CUBLAS_STATUS_SUCCESS &&
        cublasLtMatrixLayoutCreate(&b, CUDA_R_16BF, 256, 256, 256) == CUBLAS_STATUS_SUCCESS &&
        cublasLtMatrixLayoutCreate(&c, CUDA_R_16BF, 256, 256, 256) == CUBLAS_STATUS_SUCCESS &&
        cublasLtMatmulPreferenceCreate(&pref) == CUBLAS_STATUS_SUCCESS) {
        cublasLtMatmulHeuristicResult_t res;
        int found = 0;
        cublasLtMatmulAlgoGetHeuristic(lt, op, a, b, c, c, pref, 1, &res, &found);
    }
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    if (c) cublasLtMatrixLayoutDestroy(c);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (op) cublasLtMatmulDescDestroy(op);
    if (lt) cublasLtDestroy(lt);
    return NULL;
}

void query_conv(cudnnHandle_t h, int channels, int k, cudnnTensorFormat_t fmt) {
    cudnnTensorDescriptor_t xd = NULL, yd = NULL;
    cudnnFilterDescriptor_t wd = NULL;
    cudnnConvolutionDescriptor_t cd = NULL;
    const cudnnDataType_t t = CUDNN_DATA_BFLOAT16;
    if (cudnnCreateTensorDescriptor(&xd) == CUDNN_STATUS_SUCCESS &&
        cudnnCreateTensorDescriptor(&yd) == CUDNN_STATUS_SUCCESS &&
        cudnnCreateFilterDescriptor(&wd) == CUDNN_STATUS_SUCCESS &&
        cudnnCreateConvolutionDescriptor(&cd) == CUDNN_STATUS_SUCCESS &&
        cudnnSetTensor4dDescriptor(xd, fmt, t, 1, channels, 32, 32) == CUDNN_STATUS_SUCCESS &&
        cudnnSetTensor4dDescriptor(yd, fmt, t, 1, channels, 32, 32) == CUDNN_STATUS_SUCCESS &&
        cudnnSetFilter4dDescriptor(wd, t, fmt, channels, channels, k, k) == CUDNN_STATUS_SUCCESS &&
        cudnnSetConvolution2dDescriptor(cd, k / 2, k / 2, 1, 1, 1, 1, CUDNN_CROSS_CORRELATION,
                                        CUDNN_DATA_FLOAT) == CUDNN_STATUS_SUCCESS &&
        cudnnSetConvolutionMathType(cd, CUDNN_TENSOR_OP_MATH) == CUDNN_STATUS_SUCCESS) {
        cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
        int found = 0;
        cudnnGetConvolutionForwardAlgorithm_v7(h, xd, wd, cd, yd, CUDNN_CONVOLUTION_FWD_ALGO_COUNT,
                                               &found, perf);
    }
    if (cd) cudnnDestroyConvolutionDescriptor(cd);
    if (wd) cudnnDestroyFilterDescriptor(wd);
    if (yd) cudnnDestroyTensorDescriptor(yd);
    if (xd) cudnnDestroyTensorDescriptor(xd);
}

void *warm_cudnn(void *arg) {
    cudaSetDevice(*(int *)arg);
    cudnnHandle_t h = NULL;
    if (cudnnCreate(&h) != CUDNN_STATUS_SUCCESS) return NULL;
    // a 1x1 and a 3x3 convolution (each kind's first query is slow), in both layouts conv.cu
    // hands cuDNN (NHWC up to 256 channels, NCHW above)
    query_conv(h, 64, 1, CUDNN_TENSOR_NHWC);
    query_conv(h, 64, 3, CUDNN_TENSOR_NHWC);
    query_conv(h, 512, 3, CUDNN_TENSOR_NCHW);
    cudnnDestroy(h);
    return NULL;
}

} // namespace

extern "C" void sn_cuda_warm_start(void *state, int matmul, int conv) {
    sn_cuda_state *st = (sn_cuda_state *)state;
    if (!st || st->warming) return;
    if (matmul && pthread_create(&st->warmer[st->warming], NULL, warm_cublaslt, &st->device) == 0)
        st->warming++;
    if (conv && pthread_create(&st->warmer[st->warming], NULL, warm_cudnn, &st->device) == 0)
        st->warming++;
}

void sn_cuda_warm_join(sn_cuda_state *st) {
    for (int i = 0; i < st->warming; i++) pthread_join(st->warmer[i], NULL);
    st->warming = 0;
}
