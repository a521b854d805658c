/* What the runtime needs from the CUDA backend. Without a CUDA build these report that the
 * backend is absent (core/cuda_absent.c); with one they live in core/cuda/device.cu. */
#ifndef SN_BACKEND_H
#define SN_BACKEND_H

#include <stddef.h>

/* Number of usable CUDA devices (0 without a CUDA build or without a GPU). */
int sn_cuda_device_count(void);
/* One line naming device 0, or why there is none. */
void sn_cuda_describe(char *buf, size_t cap);

int sn_cuda_arena_create(char **base, size_t *capacity, size_t want, char *err, size_t errcap);
void *sn_cuda_malloc(size_t bytes);
void sn_cuda_free(void *p);
/* Each returns 0, or -1 with the failed call and its message in sn_cuda_last_error(). The copy
 * to the host waits for the ops queued before it, so it also reports a kernel that failed. */
int sn_cuda_copy_h2d(void *dst, const void *src, size_t bytes);
int sn_cuda_copy_d2h(void *dst, const void *src, size_t bytes);
const char *sn_cuda_last_error(void);

/* The CUDA backend's per-context state (its stream, the cuBLASLt and cuDNN handles, plan
 * caches; core/cuda/state.cu), made by sn_ctx_new for a CUDA context and reached by the op
 * launchers through sn_ctx_backend(). NULL with a message in err when it cannot be made. */
void *sn_cuda_state_create(char *err, size_t errcap);
void sn_cuda_state_free(void *state);
/* Starts setting up cuBLASLt and/or cuDNN in background threads (core/cuda/warm.cu), for a
 * context whose first uses of them come after other work; sn_cuda_state_free joins them. */
void sn_cuda_warm_start(void *state, int matmul, int conv);
/* Waits for the state's stream: 0, or -1 with a message when a queued op failed. */
int sn_cuda_state_sync(void *state, char *err, size_t errcap);

/* Memory work on the state's stream: ordered with the ops without synchronizing, and so
 * recordable into a CUDA graph. The memmove may overlap; it bounces through `spare` (free
 * device memory of spare_bytes, may be NULL) when the ranges overlap and it fits. Each
 * returns 0, or -1 with the message in sn_cuda_last_error(). */
int sn_cuda_stream_memset0(void *state, void *p, size_t bytes);
int sn_cuda_stream_h2d(void *state, void *dst, const void *src, size_t bytes);
int sn_cuda_stream_memmove(void *state, void *dst, const void *src, size_t bytes, void *spare,
                           size_t spare_bytes);

/* CUDA graphs of the state's stream: begin capturing (0 or -1), end into an executable graph
 * (NULL on failure, e.g. when a captured call was not capturable), launch, free. */
int sn_cuda_capture_begin(void *state);
void *sn_cuda_capture_end(void *state);
int sn_cuda_graph_launch(void *state, void *graph);
void sn_cuda_graph_free(void *graph);

#endif
