/* Context internals for the runtime's own modules (core/graph.c), not for model code. */
#ifndef SN_CONTEXT_INTERNAL_H
#define SN_CONTEXT_INTERNAL_H

#include "context.h"

void sn_ctx_set_capturing(sn_ctx *ctx, int on);
/* Moves the arena's top to `used` (a replayed graph's allocations become live again). */
void sn_arena_set_used(sn_ctx *ctx, size_t used);

#endif
