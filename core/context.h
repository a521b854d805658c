/* The execution context: which backend runs the ops, its scratch arena, thread count, and a
 * sticky error.
 *
 * Ops allocate their outputs from the arena. After the first error every op is a no-op that
 * returns the empty tensor, so a forward pass is a straight list of ops and the caller checks
 * sn_ok() once at the end.
 *
 * The arena is a stack: sn_scope_begin() marks it, sn_scope_end() frees everything allocated
 * since the mark except one result tensor, which it moves down to the mark. A model block
 * wrapped in a scope leaves only its output behind, so memory stays bounded by the largest
 * block, and a denoising step wrapped in a scope reuses the same addresses every step. */
#ifndef SN_CONTEXT_H
#define SN_CONTEXT_H

#include <stdarg.h>
#include <stddef.h>

#include "tensor.h"

typedef struct sn_ctx sn_ctx;

typedef struct {
    sn_device device;   /* SN_CPU (default) or SN_CUDA */
    int threads;        /* 0: all cores */
    size_t arena_bytes; /* 0: default (CPU: the machine's physical memory, reserved lazily) */
    /* The compute dtype models bind their parameters in and run their activations in: f32
     * (the default, and the only one of the CPU backend), bf16 or f16 on CUDA, where the
     * matrix products and attention accumulate in f32. */
    sn_dtype dtype;
} sn_ctx_opts;

/* Returns NULL and writes a message into err when the context cannot be made. */
sn_ctx *sn_ctx_new(const sn_ctx_opts *opts, char *err, size_t errcap);
void sn_ctx_free(sn_ctx *ctx);

sn_device sn_ctx_device(const sn_ctx *ctx);
int sn_ctx_threads(const sn_ctx *ctx);
sn_dtype sn_ctx_dtype(const sn_ctx *ctx);
/* Nonzero while a CUDA graph records the context's ops (core/graph.h): code must then not read
 * device data on the host nor upload. */
int sn_ctx_capturing(const sn_ctx *ctx);
/* Waits until the device has finished the context's work, for timing; a failure of that work
 * becomes the context's error. A no-op on the CPU and while a CUDA graph records. */
void sn_ctx_wait(sn_ctx *ctx);
/* Starts setting up the GPU libraries in the background, for a command whose first uses of
 * them come after other work (a text encoder and a denoiser before the decoder): cuBLASLt's
 * matrix products (SN_WARM_MATMUL) and cuDNN's convolutions (SN_WARM_CONV; the large ones,
 * core/cuda/conv.cu). A no-op on the CPU; a context warms up once (a later call does nothing). */
enum { SN_WARM_MATMUL = 1, SN_WARM_CONV = 2 };
void sn_ctx_warm_up(sn_ctx *ctx, int what);
/* The backend's own state: for a CUDA context its stream, library handles and caches
 * (core/cuda/); NULL for the CPU. */
void *sn_ctx_backend(const sn_ctx *ctx);

/* Sticky error. sn_fail keeps the first message; later ones are dropped. */
int sn_ok(const sn_ctx *ctx);
const char *sn_error(const sn_ctx *ctx);
void sn_fail(sn_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sn_clear_error(sn_ctx *ctx);

/* Scratch arena. sn_alloc returns memory aligned to 64 bytes, or NULL (with the error set)
 * when the arena is full or the context has failed. */
void *sn_alloc(sn_ctx *ctx, size_t bytes);
sn_tensor sn_empty(sn_ctx *ctx, sn_dtype dt, int ndim, const int64_t *shape);
sn_tensor sn_zeros(sn_ctx *ctx, sn_dtype dt, int ndim, const int64_t *shape);
size_t sn_arena_used(const sn_ctx *ctx);
size_t sn_arena_peak(const sn_ctx *ctx);
void sn_arena_reset(sn_ctx *ctx);

typedef struct { size_t mark; } sn_scope;
sn_scope sn_scope_begin(sn_ctx *ctx);
/* Frees what was allocated since the scope began; `keep` (which may be empty) survives and
 * is returned at its new address. */
sn_tensor sn_scope_end(sn_ctx *ctx, sn_scope s, sn_tensor keep);

/* Long-lived memory (model parameters): freed with the context. NULL with the error set on
 * failure. */
void *sn_persist_alloc(sn_ctx *ctx, size_t bytes);
sn_tensor sn_persist_tensor(sn_ctx *ctx, sn_dtype dt, int ndim, const int64_t *shape);

/* Copies a host tensor into a new persistent tensor on the context's device. */
sn_tensor sn_upload(sn_ctx *ctx, sn_tensor host);
/* sn_upload of f32 host data converted to dt (f32, f16 or bf16) on the way. */
sn_tensor sn_upload_as(sn_ctx *ctx, sn_tensor host, sn_dtype dt);
/* Copies a host tensor into a new arena tensor on the context's device. */
sn_tensor sn_from_host(sn_ctx *ctx, sn_tensor host);
/* Copies a tensor into caller-owned host memory of sn_nbytes(t) bytes. */
void sn_download(sn_ctx *ctx, sn_tensor t, void *dst);

#endif
