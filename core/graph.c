#include "graph.h"

#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "context_internal.h"

struct sn_graph {
    void *exec;              /* cudaGraphExec_t */
    size_t mark_in, mark_out; /* the arena's top when the capture began and ended */
};

sn_graph *sn_graph_capture(sn_ctx *ctx, void (*fn)(sn_ctx *ctx, void *user), void *user) {
    if (!sn_ok(ctx)) return NULL;
    if (sn_ctx_device(ctx) != SN_CUDA) {
        sn_fail(ctx, "CUDA graphs need a CUDA context");
        return NULL;
    }
    sn_graph *g = calloc(1, sizeof *g);
    if (!g) {
        sn_fail(ctx, "out of memory");
        return NULL;
    }
    g->mark_in = sn_arena_used(ctx);
    if (sn_cuda_capture_begin(sn_ctx_backend(ctx))) {
        sn_fail(ctx, "%s", sn_cuda_last_error());
        free(g);
        return NULL;
    }
    sn_ctx_set_capturing(ctx, 1);
    fn(ctx, user);
    sn_ctx_set_capturing(ctx, 0);
    g->mark_out = sn_arena_used(ctx);
    sn_arena_set_used(ctx, g->mark_in); /* nothing ran yet: the replay makes those tensors */
    g->exec = sn_cuda_capture_end(sn_ctx_backend(ctx)); /* ends the capture even after an error */
    if (!g->exec || !sn_ok(ctx)) {
        if (sn_ok(ctx)) sn_fail(ctx, "%s", sn_cuda_last_error());
        sn_graph_free(g);
        return NULL;
    }
    return g;
}

int sn_graph_replay(sn_ctx *ctx, sn_graph *g) {
    if (!sn_ok(ctx)) return -1;
    if (sn_arena_used(ctx) != g->mark_in) {
        sn_fail(ctx, "graph replay: the arena's top is at %zu bytes, the capture began at %zu",
                sn_arena_used(ctx), g->mark_in);
        return -1;
    }
    if (sn_cuda_graph_launch(sn_ctx_backend(ctx), g->exec)) {
        sn_fail(ctx, "%s", sn_cuda_last_error());
        return -1;
    }
    sn_arena_set_used(ctx, g->mark_out);
    return 0;
}

void sn_graph_free(sn_graph *g) {
    if (!g) return;
    sn_cuda_graph_free(g->exec);
    free(g);
}

void sn_copy_into(sn_ctx *ctx, sn_tensor dst, sn_tensor src) {
    if (!sn_ok(ctx)) return;
    if (dst.dtype != src.dtype || sn_numel(dst) != sn_numel(src) || dst.device != src.device) {
        sn_fail(ctx, "copy_into: %s tensor of %lld values into a %s one of %lld",
                sn_dtype_name(src.dtype), (long long)sn_numel(src), sn_dtype_name(dst.dtype),
                (long long)sn_numel(dst));
        return;
    }
    if (dst.device == SN_CUDA) {
        if (sn_cuda_stream_memmove(sn_ctx_backend(ctx), dst.data, src.data, sn_nbytes(src), NULL, 0))
            sn_fail(ctx, "%s", sn_cuda_last_error());
    } else {
        memmove(dst.data, src.data, sn_nbytes(src));
    }
}

void sn_copy_from_host(sn_ctx *ctx, sn_tensor dst, const void *src) {
    if (!sn_ok(ctx)) return;
    if (dst.device == SN_CUDA) {
        if (sn_cuda_stream_h2d(sn_ctx_backend(ctx), dst.data, src, sn_nbytes(dst)))
            sn_fail(ctx, "%s", sn_cuda_last_error());
    } else {
        memcpy(dst.data, src, sn_nbytes(dst));
    }
}
