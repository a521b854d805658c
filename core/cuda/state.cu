// The CUDA backend's per-context state: one stream that every op of the context runs on, the
// cuBLASLt and cuDNN handles bound to it, the device's limits, and the plan caches of
// linear.cu and conv.cu. sn_ctx_new makes it (core/backend.h), sn_ctx_free releases it.
//
// The stream is an ordinary (blocking) stream, so the runtime's memory functions in
// device.cu, which use the legacy default stream, stay ordered with the ops without
// explicit synchronization.
#include <stdio.h>
#include <stdlib.h>

#include "common.cuh"

extern "C" void *sn_cuda_state_create(char *err, size_t errcap) {
    sn_cuda_state *st = (sn_cuda_state *)calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, errcap, "out of memory creating the CUDA backend state");
        return NULL;
    }
    cudaError_t e;
    cublasStatus_t bs;
    cudnnStatus_t ds;
    const char *call = NULL;
    if ((e = cudaGetDevice(&st->device)) != cudaSuccess) {
        call = "cudaGetDevice";
        goto cuda_fail;
    }
    if ((e = cudaDeviceGetAttribute(&st->sm_count, cudaDevAttrMultiProcessorCount, st->device)) !=
        cudaSuccess) {
        call = "cudaDeviceGetAttribute(MultiProcessorCount)";
        goto cuda_fail;
    }
    {
        int optin = 0;
        if ((e = cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin,
                                        st->device)) != cudaSuccess) {
            call = "cudaDeviceGetAttribute(MaxSharedMemoryPerBlockOptin)";
            goto cuda_fail;
        }
        st->smem_optin = (size_t)optin;
    }
    if ((e = cudaStreamCreate(&st->stream)) != cudaSuccess) {
        call = "cudaStreamCreate";
        goto cuda_fail;
    }
    if ((bs = cublasLtCreate(&st->lt)) != CUBLAS_STATUS_SUCCESS) {
        snprintf(err, errcap, "cuBLASLt: cublasLtCreate: status %d", (int)bs);
        sn_cuda_state_free(st);
        return NULL;
    }
    if ((ds = cudnnCreate(&st->dnn)) != CUDNN_STATUS_SUCCESS) {
        snprintf(err, errcap, "cuDNN: cudnnCreate: %s", cudnnGetErrorString(ds));
        sn_cuda_state_free(st);
        return NULL;
    }
    if ((ds = cudnnSetStream(st->dnn, st->stream)) != CUDNN_STATUS_SUCCESS) {
        snprintf(err, errcap, "cuDNN: cudnnSetStream: %s", cudnnGetErrorString(ds));
        sn_cuda_state_free(st);
        return NULL;
    }
    return st;
cuda_fail:
    snprintf(err, errcap, "CUDA: %s: %s", call, cudaGetErrorString(e));
    sn_cuda_state_free(st);
    return NULL;
}

extern "C" void sn_cuda_state_free(void *state) {
    sn_cuda_state *st = (sn_cuda_state *)state;
    if (!st) return;
    sn_cuda_warm_join(st);
    if (st->stream) cudaStreamSynchronize(st->stream);
    for (int i = 0; i < SN_CONV_PLANS; i++) {
        sn_conv_plan *p = &st->conv[i];
        if (!p->used) continue;
        cudnnDestroyTensorDescriptor(p->xd);
        cudnnDestroyTensorDescriptor(p->yd);
        cudnnDestroyFilterDescriptor(p->wd);
        cudnnDestroyConvolutionDescriptor(p->cd);
    }
    for (int i = 0; i < SN_GEMM_PLANS; i++) {
        sn_gemm_plan *p = &st->gemm[i];
        if (!p->used) continue;
        cublasLtMatmulDescDestroy(p->op);
        cublasLtMatrixLayoutDestroy(p->a);
        cublasLtMatrixLayoutDestroy(p->b);
        cublasLtMatrixLayoutDestroy(p->c);
    }
    if (st->dnn) cudnnDestroy(st->dnn);
    if (st->lt) cublasLtDestroy(st->lt);
    if (st->stream) cudaStreamDestroy(st->stream);
    free(st);
}

extern "C" int sn_cuda_state_sync(void *state, char *err, size_t errcap) {
    sn_cuda_state *st = (sn_cuda_state *)state;
    cudaError_t e = cudaStreamSynchronize(st->stream);
    if (e == cudaSuccess) return 0;
    snprintf(err, errcap, "CUDA: cudaStreamSynchronize: %s (an earlier kernel failed)",
             cudaGetErrorString(e));
    return -1;
}
