// Loading cuDNN and cuBLASLt in the background. The first heuristic query of a process loads
// the library's engine and heuristic code: on the H200 the first cuDNN convolution query took
// 0.16 to 0.6 s (later ones about 2 ms) and cuBLASLt's first query most of its 85 ms of plan
// lookups (measured 2026-11-23, docs/benchmarks.md). A command that runs a text
// encoder and a denoiser before its first convolution (t2i, generate) would pay that in the
// middle of its work with the GPU idle. sn_cuda_warm_start asks one question of each library
// from a thread, on private handles, with no GPU memory and no kernel, so the loading overlaps
// the work before; the libraries serialize their own loading, so a real query that comes
// first only waits as it would have. sn_cuda_state_free joins the thread.
#include <pthread.h>

#include "common.cuh"

namespace {

void ask_cublaslt() {
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
}

void ask_cudnn() {
    cudnnHandle_t h = NULL;
    cudnnTensorDescriptor_t xd = NULL, yd = NULL;
    cudnnFilterDescriptor_t wd = NULL;
    cudnnConvolutionDescriptor_t cd = NULL;
    const cudnnDataType_t t = CUDNN_DATA_BFLOAT16;
    if (cudnnCreate(&h) == CUDNN_STATUS_SUCCESS &&
        cudnnCreateTensorDescriptor(&xd) == CUDNN_STATUS_SUCCESS &&
        cudnnCreateTensorDescriptor(&yd) == CUDNN_STATUS_SUCCESS &&
        cudnnCreateFilterDescriptor(&wd) == CUDNN_STATUS_SUCCESS &&
        cudnnCreateConvolutionDescriptor(&cd) == CUDNN_STATUS_SUCCESS &&
        cudnnSetTensor4dDescriptor(xd, CUDNN_TENSOR_NCHW, t, 1, 64, 32, 32) == CUDNN_STATUS_SUCCESS &&
        cudnnSetTensor4dDescriptor(yd, CUDNN_TENSOR_NCHW, t, 1, 64, 32, 32) == CUDNN_STATUS_SUCCESS &&
        cudnnSetFilter4dDescriptor(wd, t, CUDNN_TENSOR_NCHW, 64, 64, 3, 3) == CUDNN_STATUS_SUCCESS &&
        cudnnSetConvolution2dDescriptor(cd, 1, 1, 1, 1, 1, 1, CUDNN_CROSS_CORRELATION,
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
    if (h) cudnnDestroy(h);
}

void *warm(void *arg) {
    // the context's device is current in this thread too; errors are ignored: a failure here
    // only means the real call pays the loading (and reports what went wrong)
    cudaSetDevice(((sn_cuda_state *)arg)->device);
    ask_cublaslt(); // needed first: the text encoder's matrix products
    ask_cudnn();
    return NULL;
}

} // namespace

extern "C" void sn_cuda_warm_start(void *state) {
    sn_cuda_state *st = (sn_cuda_state *)state;
    if (!st || st->warming) return;
    st->warming = pthread_create(&st->warmer, NULL, warm, st) == 0;
}

void sn_cuda_warm_join(sn_cuda_state *st) {
    if (st->warming) pthread_join(st->warmer, NULL);
    st->warming = 0;
}
