#include "context.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backend.h"
#include "context_internal.h"
#include "half.h"

#define SN_ALIGN 64

typedef struct persist_block {
    struct persist_block *next;
    void *ptr;
    sn_device device;
} persist_block;

struct sn_ctx {
    sn_device device;
    sn_dtype dtype;
    int threads;
    char *arena;      /* host: an mmap reservation; cuda: a device allocation */
    size_t capacity;
    size_t used, peak;
    persist_block *persist;
    int capturing;    /* a CUDA graph is being recorded (core/graph.h) */
    void *backend;    /* cuda: the backend state (stream, library handles; core/backend.h) */
    int failed;
    char err[1024];
};

static size_t physical_memory(void) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return (pages > 0 && page > 0) ? (size_t)pages * (size_t)page : (size_t)8 << 30;
}

sn_ctx *sn_ctx_new(const sn_ctx_opts *opts, char *err, size_t errcap) {
    sn_ctx_opts o = {0};
    if (opts) o = *opts;
    sn_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        snprintf(err, errcap, "out of memory creating the context");
        return NULL;
    }
    if (o.dtype != SN_F32 && o.dtype != SN_BF16 && o.dtype != SN_F16) {
        snprintf(err, errcap, "the compute dtype must be f32, bf16 or f16, not %s",
                 sn_dtype_name(o.dtype));
        free(ctx);
        return NULL;
    }
    if (o.dtype != SN_F32 && o.device != SN_CUDA) {
        snprintf(err, errcap, "%s compute runs on CUDA; the CPU backend computes in f32",
                 sn_dtype_name(o.dtype));
        free(ctx);
        return NULL;
    }
    ctx->device = o.device;
    ctx->dtype = o.dtype;
    ctx->threads = o.threads > 0 ? o.threads : omp_get_num_procs();
    omp_set_num_threads(ctx->threads);
    openblas_set_num_threads(ctx->threads);
    if (ctx->device == SN_CUDA) {
        if (sn_cuda_arena_create(&ctx->arena, &ctx->capacity, o.arena_bytes, err, errcap) != 0) {
            free(ctx);
            return NULL;
        }
        ctx->backend = sn_cuda_state_create(err, errcap);
        if (!ctx->backend) {
            sn_cuda_free(ctx->arena);
            free(ctx);
            return NULL;
        }
        return ctx;
    }
    /* Reserve address space only; pages are committed when first touched, so a large
     * capacity costs nothing until used. */
    ctx->capacity = o.arena_bytes ? o.arena_bytes : physical_memory();
    void *p = mmap(NULL, ctx->capacity, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        snprintf(err, errcap, "cannot reserve %.1f GiB of scratch memory",
                 ctx->capacity / 1073741824.0);
        free(ctx);
        return NULL;
    }
    ctx->arena = p;
    return ctx;
}

void sn_ctx_free(sn_ctx *ctx) {
    if (!ctx) return;
    sn_cuda_state_free(ctx->backend); /* waits for the queued ops first */
    for (persist_block *b = ctx->persist, *next; b; b = next) {
        next = b->next;
        if (b->device == SN_CUDA)
            sn_cuda_free(b->ptr);
        else
            free(b->ptr);
        free(b);
    }
    if (ctx->device == SN_CUDA)
        sn_cuda_free(ctx->arena);
    else if (ctx->arena)
        munmap(ctx->arena, ctx->capacity);
    free(ctx);
}

sn_device sn_ctx_device(const sn_ctx *ctx) { return ctx->device; }
int sn_ctx_threads(const sn_ctx *ctx) { return ctx->threads; }
sn_dtype sn_ctx_dtype(const sn_ctx *ctx) { return ctx->dtype; }
int sn_ctx_capturing(const sn_ctx *ctx) { return ctx->capturing; }
void sn_ctx_wait(sn_ctx *ctx) {
    char err[256];
    if (ctx->device != SN_CUDA || ctx->capturing) return; /* a sync would break a capture */
    if (sn_cuda_state_sync(ctx->backend, err, sizeof err)) sn_fail(ctx, "%s", err);
}
void sn_ctx_set_capturing(sn_ctx *ctx, int on) { ctx->capturing = on; }
void sn_arena_set_used(sn_ctx *ctx, size_t used) {
    ctx->used = used < ctx->capacity ? used : ctx->capacity;
    if (ctx->used > ctx->peak) ctx->peak = ctx->used;
}
void *sn_ctx_backend(const sn_ctx *ctx) { return ctx->backend; }
void sn_ctx_warm_up(sn_ctx *ctx, int what) {
    if (ctx->device == SN_CUDA && !getenv("SINTER_NO_WARM_UP"))
        sn_cuda_warm_start(ctx->backend, what & SN_WARM_MATMUL, what & SN_WARM_CONV);
}

/* A failed device memory call sets the context error. */
static void cuda_check(sn_ctx *ctx, int r) {
    if (r != 0) sn_fail(ctx, "%s", sn_cuda_last_error());
}

int sn_ok(const sn_ctx *ctx) { return !ctx->failed; }
const char *sn_error(const sn_ctx *ctx) { return ctx->failed ? ctx->err : ""; }
void sn_clear_error(sn_ctx *ctx) {
    ctx->failed = 0;
    ctx->err[0] = 0;
}

void sn_fail(sn_ctx *ctx, const char *fmt, ...) {
    if (ctx->failed) return;
    ctx->failed = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->err, sizeof ctx->err, fmt, ap);
    va_end(ap);
}

static size_t round_up(size_t n) { return (n + SN_ALIGN - 1) & ~(size_t)(SN_ALIGN - 1); }

void *sn_alloc(sn_ctx *ctx, size_t bytes) {
    if (ctx->failed) return NULL;
    size_t need = round_up(bytes ? bytes : 1);
    if (need > ctx->capacity - ctx->used) {
        sn_fail(ctx, "out of scratch memory: %.1f MiB more needed, %.1f of %.1f MiB in use",
                need / 1048576.0, ctx->used / 1048576.0, ctx->capacity / 1048576.0);
        return NULL;
    }
    void *p = ctx->arena + ctx->used;
    ctx->used += need;
    if (ctx->used > ctx->peak) ctx->peak = ctx->used;
    return p;
}

static int check_shape(sn_ctx *ctx, int ndim, const int64_t *shape) {
    if (ndim < 0 || ndim > SN_MAX_DIMS) {
        sn_fail(ctx, "tensor rank %d outside 0..%d", ndim, SN_MAX_DIMS);
        return 0;
    }
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0) {
            sn_fail(ctx, "negative tensor dimension %lld", (long long)shape[i]);
            return 0;
        }
    return 1;
}

sn_tensor sn_empty(sn_ctx *ctx, sn_dtype dt, int ndim, const int64_t *shape) {
    if (ctx->failed || !check_shape(ctx, ndim, shape)) return sn_none();
    sn_tensor t = sn_tensor_wrap(NULL, dt, ndim, shape);
    t.device = ctx->device;
    t.data = sn_alloc(ctx, sn_nbytes(t));
    return t.data ? t : sn_none();
}

sn_tensor sn_zeros(sn_ctx *ctx, sn_dtype dt, int ndim, const int64_t *shape) {
    sn_tensor t = sn_empty(ctx, dt, ndim, shape);
    if (!sn_has(t)) return t;
    if (ctx->device == SN_CUDA)
        cuda_check(ctx, sn_cuda_stream_memset0(ctx->backend, t.data, sn_nbytes(t)));
    else
        memset(t.data, 0, sn_nbytes(t));
    return t;
}

size_t sn_arena_used(const sn_ctx *ctx) { return ctx->used; }
size_t sn_arena_peak(const sn_ctx *ctx) { return ctx->peak; }
void sn_arena_reset(sn_ctx *ctx) { ctx->used = 0; }

sn_scope sn_scope_begin(sn_ctx *ctx) { return (sn_scope){ctx->used}; }

sn_tensor sn_scope_end(sn_ctx *ctx, sn_scope s, sn_tensor keep) {
    char *lo = ctx->arena + s.mark, *hi = ctx->arena + ctx->used;
    if (!sn_has(keep) || ctx->failed || (char *)keep.data < lo || (char *)keep.data >= hi) {
        /* nothing to keep, or it lives elsewhere (a parameter, an older allocation) */
        if (s.mark <= ctx->used) ctx->used = s.mark;
        return ctx->failed ? sn_none() : keep;
    }
    size_t n = sn_nbytes(keep);
    if ((char *)keep.data != lo) {
        if (ctx->device == SN_CUDA)
            cuda_check(ctx, sn_cuda_stream_memmove(ctx->backend, lo, keep.data, n, hi,
                                                   ctx->capacity - ctx->used));
        else
            memmove(lo, keep.data, n);
    }
    keep.data = lo;
    ctx->used = s.mark + round_up(n ? n : 1);
    return keep;
}

void *sn_persist_alloc(sn_ctx *ctx, size_t bytes) {
    if (ctx->failed) return NULL;
    persist_block *b = calloc(1, sizeof *b);
    void *p = NULL;
    if (b) {
        b->device = ctx->device;
        if (ctx->device == SN_CUDA)
            p = sn_cuda_malloc(bytes ? bytes : 1);
        else
            p = aligned_alloc(SN_ALIGN, round_up(bytes ? bytes : 1));
    }
    if (!p) {
        free(b);
        sn_fail(ctx, "out of memory allocating %.1f MiB for parameters", bytes / 1048576.0);
        return NULL;
    }
    b->ptr = p;
    b->next = ctx->persist;
    ctx->persist = b;
    return p;
}

sn_tensor sn_persist_tensor(sn_ctx *ctx, sn_dtype dt, int ndim, const int64_t *shape) {
    if (ctx->failed || !check_shape(ctx, ndim, shape)) return sn_none();
    sn_tensor t = sn_tensor_wrap(NULL, dt, ndim, shape);
    t.device = ctx->device;
    t.data = sn_persist_alloc(ctx, sn_nbytes(t));
    return t.data ? t : sn_none();
}

sn_tensor sn_upload(sn_ctx *ctx, sn_tensor host) {
    sn_tensor t = sn_persist_tensor(ctx, host.dtype, host.ndim, host.shape);
    if (!sn_has(t)) return t;
    if (ctx->device == SN_CUDA)
        cuda_check(ctx, sn_cuda_copy_h2d(t.data, host.data, sn_nbytes(t)));
    else
        memcpy(t.data, host.data, sn_nbytes(t));
    return t;
}

sn_tensor sn_upload_as(sn_ctx *ctx, sn_tensor host, sn_dtype dt) {
    if (host.dtype == dt || ctx->failed) return sn_upload(ctx, host);
    if (host.dtype != SN_F32 || (dt != SN_F16 && dt != SN_BF16)) {
        sn_fail(ctx, "cannot upload %s data as %s", sn_dtype_name(host.dtype), sn_dtype_name(dt));
        return sn_none();
    }
    int64_t n = sn_numel(host);
    uint16_t *tmp = malloc(n ? n * sizeof *tmp : 1);
    if (!tmp) {
        sn_fail(ctx, "out of memory converting %lld values to %s", (long long)n, sn_dtype_name(dt));
        return sn_none();
    }
    const float *src = host.data;
    for (int64_t i = 0; i < n; i++) tmp[i] = dt == SN_BF16 ? sn_f32_to_bf16(src[i]) : sn_f32_to_f16(src[i]);
    sn_tensor t = sn_upload(ctx, sn_tensor_wrap(tmp, dt, host.ndim, host.shape));
    free(tmp);
    return t;
}

sn_tensor sn_from_host(sn_ctx *ctx, sn_tensor host) {
    sn_tensor t = sn_empty(ctx, host.dtype, host.ndim, host.shape);
    if (!sn_has(t)) return t;
    if (ctx->device == SN_CUDA)
        cuda_check(ctx, sn_cuda_copy_h2d(t.data, host.data, sn_nbytes(t)));
    else
        memcpy(t.data, host.data, sn_nbytes(t));
    return t;
}

void sn_download(sn_ctx *ctx, sn_tensor t, void *dst) {
    if (ctx->failed || !sn_has(t)) return;
    if (t.device == SN_CUDA)
        cuda_check(ctx, sn_cuda_copy_d2h(dst, t.data, sn_nbytes(t)));
    else
        memcpy(dst, t.data, sn_nbytes(t));
}
