/* CUDA graphs: the ops a function queues on a CUDA context, recorded once and replayed.
 *
 * A denoising step launches hundreds of small kernels; replaying them as one graph removes the
 * launch gaps. The recorded kernels keep the addresses they were given, so a replay must see
 * the arena as the capture did: sn_graph_replay checks that the arena's top is where it was
 * when the capture began, and leaves it where the capture left it, so tensors the function
 * returned (at arena addresses) are valid again after each replay. Inputs that change between
 * replays live at fixed addresses the caller refills before replaying (sn_copy_into).
 *
 * While capturing, sn_ctx_capturing() is nonzero: code that would read device data on the
 * host (input checks, host-side table lookups) must skip it or use device ops, and nothing
 * may be uploaded; sn_graph_capture fails with a clear message when something was not
 * capturable. Caches (weights converted, position tables, library plans) should be warmed by
 * one eager call before capturing. */
#ifndef SN_GRAPH_H
#define SN_GRAPH_H

#include "context.h"

typedef struct sn_graph sn_graph;

/* Runs fn(ctx, user) once, recording instead of executing its work (nothing runs until the
 * first replay). Returns the graph, or NULL with the context error set. CUDA contexts only. */
sn_graph *sn_graph_capture(sn_ctx *ctx, void (*fn)(sn_ctx *ctx, void *user), void *user);
/* Queues the recorded work on the context's stream. 0, or -1 with the error set. */
int sn_graph_replay(sn_ctx *ctx, sn_graph *g);
void sn_graph_free(sn_graph *g);

/* Copies src's data into dst (same dtype and element count) on the context's stream, as a
 * fixed-address graph input is refilled. */
void sn_copy_into(sn_ctx *ctx, sn_tensor dst, sn_tensor src);
/* Copies host data (sn_nbytes(dst) bytes) into dst on the context's stream. */
void sn_copy_from_host(sn_ctx *ctx, sn_tensor dst, const void *src);

#endif
