// Device discovery and memory for the CUDA backend, behind the C interface of core/backend.h.
// The ops live beside this file (core/cuda/cuda_ops.h); their per-context state (stream,
// library handles) in state.cu.
#include <cuda_runtime.h>
#include <stdio.h>

#include "common.cuh"

extern "C" int sn_cuda_device_count(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return n;
}

extern "C" void sn_cuda_describe(char *buf, size_t cap) {
    int n = sn_cuda_device_count();
    cudaDeviceProp p;
    if (n == 0 || cudaGetDeviceProperties(&p, 0) != cudaSuccess) {
        snprintf(buf, cap, "none (built with CUDA, no usable GPU found)");
        return;
    }
    snprintf(buf, cap, "%s (sm_%d%d, %.0f GiB), %d device%s", p.name, p.major, p.minor,
             p.totalGlobalMem / 1073741824.0, n, n == 1 ? "" : "s");
}

extern "C" int sn_cuda_arena_create(char **base, size_t *capacity, size_t want, char *err,
                                    size_t errcap) {
    if (sn_cuda_device_count() == 0) {
        snprintf(err, errcap, "no CUDA device found; use --device cpu");
        return -1;
    }
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    // Default: half of what is free, leaving room for parameters and library workspaces.
    size_t bytes = want ? want : free_b / 2;
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes);
    if (e != cudaSuccess) {
        snprintf(err, errcap, "cannot allocate %.1f GiB of GPU scratch memory: %s",
                 bytes / 1073741824.0, cudaGetErrorString(e));
        return -1;
    }
    *base = (char *)p;
    *capacity = bytes;
    return 0;
}

extern "C" void *sn_cuda_malloc(size_t bytes) {
    void *p = NULL;
    return cudaMalloc(&p, bytes) == cudaSuccess ? p : NULL;
}
extern "C" void sn_cuda_free(void *p) { cudaFree(p); }

// The message of the last failed memory call of this thread.
static __thread char last_error[256];
extern "C" const char *sn_cuda_last_error(void) { return last_error; }
static int fail(cudaError_t e, const char *call) {
    if (e == cudaSuccess) return 0;
    snprintf(last_error, sizeof last_error, "CUDA: %s: %s", call, cudaGetErrorString(e));
    return -1;
}

extern "C" int sn_cuda_copy_h2d(void *dst, const void *src, size_t bytes) {
    return fail(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice), "cudaMemcpy host to device");
}
extern "C" int sn_cuda_copy_d2h(void *dst, const void *src, size_t bytes) {
    // The legacy default stream waits for the context's (blocking) stream, so this also
    // reports an earlier kernel's failure.
    return fail(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy device to host");
}

// --- memory work on the context's stream: ordered with the ops, no synchronization, and so
// recordable into a CUDA graph -------------------------------------------------------------

static cudaStream_t stream_of(void *state) { return ((sn_cuda_state *)state)->stream; }

extern "C" int sn_cuda_stream_memset0(void *state, void *p, size_t bytes) {
    return fail(cudaMemsetAsync(p, 0, bytes, stream_of(state)), "cudaMemsetAsync");
}

extern "C" int sn_cuda_stream_h2d(void *state, void *dst, const void *src, size_t bytes) {
    return fail(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_of(state)),
                "cudaMemcpyAsync host to device");
}

// cudaMemcpy on overlapping device ranges is undefined. When the ranges overlap, the data
// bounces through `spare` (free arena memory, so nothing is allocated), or, without room for
// that, moves in pieces no longer than the distance, in the order in which no piece
// overwrites source data still to be read (stream order keeps the pieces in sequence).
extern "C" int sn_cuda_stream_memmove(void *state, void *dst, const void *src, size_t bytes,
                                      void *spare, size_t spare_bytes) {
    char *d = (char *)dst;
    const char *s = (const char *)src;
    cudaStream_t st = stream_of(state);
    if (bytes == 0 || d == s) return 0;
    size_t dist = d < s ? (size_t)(s - d) : (size_t)(d - s);
    if (dist >= bytes)
        return fail(cudaMemcpyAsync(d, s, bytes, cudaMemcpyDeviceToDevice, st), "cudaMemcpyAsync");
    if (spare && spare_bytes >= bytes) {
        if (fail(cudaMemcpyAsync(spare, s, bytes, cudaMemcpyDeviceToDevice, st), "cudaMemcpyAsync"))
            return -1;
        return fail(cudaMemcpyAsync(d, spare, bytes, cudaMemcpyDeviceToDevice, st), "cudaMemcpyAsync");
    }
    if (d > s) { // moving up: back to front
        for (size_t end = bytes; end > 0;) {
            size_t n = end < dist ? end : dist;
            end -= n;
            if (fail(cudaMemcpyAsync(d + end, s + end, n, cudaMemcpyDeviceToDevice, st), "cudaMemcpyAsync"))
                return -1;
        }
        return 0;
    }
    for (size_t at = 0; at < bytes; at += dist) { // moving down: front to back
        size_t n = bytes - at < dist ? bytes - at : dist;
        if (fail(cudaMemcpyAsync(d + at, s + at, n, cudaMemcpyDeviceToDevice, st), "cudaMemcpyAsync"))
            return -1;
    }
    return 0;
}

// --- CUDA graphs of the context's stream ------------------------------------------------------

extern "C" int sn_cuda_capture_begin(void *state) {
    return fail(cudaStreamBeginCapture(stream_of(state), cudaStreamCaptureModeThreadLocal),
                "cudaStreamBeginCapture");
}

extern "C" void *sn_cuda_capture_end(void *state) {
    cudaGraph_t g = NULL;
    cudaGraphExec_t exec = NULL;
    cudaError_t e = cudaStreamEndCapture(stream_of(state), &g);
    if (fail(e, "cudaStreamEndCapture (an op during the capture was not capturable)")) {
        if (g) cudaGraphDestroy(g);
        cudaGetLastError();
        return NULL;
    }
    e = cudaGraphInstantiate(&exec, g, 0);
    cudaGraphDestroy(g);
    if (fail(e, "cudaGraphInstantiate")) return NULL;
    return exec;
}

extern "C" int sn_cuda_graph_launch(void *state, void *graph) {
    return fail(cudaGraphLaunch((cudaGraphExec_t)graph, stream_of(state)), "cudaGraphLaunch");
}

extern "C" void sn_cuda_graph_free(void *graph) {
    if (graph) cudaGraphExecDestroy((cudaGraphExec_t)graph);
}
