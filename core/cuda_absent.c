/* The CUDA entry points of a build without CUDA: no devices, and a clear message. */
#ifndef SN_HAVE_CUDA
#include <stdio.h>

#include "backend.h"

int sn_cuda_device_count(void) { return 0; }
void sn_cuda_describe(char *buf, size_t cap) {
    snprintf(buf, cap, "none (this sinter was built without CUDA)");
}
int sn_cuda_arena_create(char **base, size_t *capacity, size_t want, char *err, size_t errcap) {
    snprintf(err, errcap, "this sinter was built without CUDA; use --device cpu");
    return -1;
}
void *sn_cuda_malloc(size_t bytes) { return NULL; }
void sn_cuda_free(void *p) {}
int sn_cuda_copy_h2d(void *dst, const void *src, size_t bytes) { return -1; }
int sn_cuda_copy_d2h(void *dst, const void *src, size_t bytes) { return -1; }
const char *sn_cuda_last_error(void) { return "this sinter was built without CUDA"; }
void *sn_cuda_state_create(char *err, size_t errcap) {
    snprintf(err, errcap, "this sinter was built without CUDA; use --device cpu");
    return NULL;
}
void sn_cuda_state_free(void *state) {}
void sn_cuda_warm_start(void *state, int matmul, int conv) {}
int sn_cuda_state_sync(void *state, char *err, size_t errcap) { return 0; }
int sn_cuda_stream_memset0(void *state, void *p, size_t bytes) { return -1; }
int sn_cuda_stream_h2d(void *state, void *dst, const void *src, size_t bytes) { return -1; }
int sn_cuda_stream_memmove(void *state, void *dst, const void *src, size_t bytes, void *spare,
                           size_t spare_bytes) {
    return -1;
}
int sn_cuda_capture_begin(void *state) { return -1; }
void *sn_cuda_capture_end(void *state) { return NULL; }
int sn_cuda_graph_launch(void *state, void *graph) { return -1; }
void sn_cuda_graph_free(void *graph) {}
#endif
