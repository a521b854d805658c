/* Per-op wall time, for finding where a forward spends it: with SINTER_PROFILE=1 in the
 * environment every op waits for the device before and after it runs, its time is added to
 * its name's total, and the totals are printed to stderr at exit (largest first). Off (and
 * free) otherwise, and off while a CUDA graph records. Names in parentheses time a part of
 * an op (the library setup of a cuDNN or cuBLASLt call, a new shape's heuristic query
 * included), which is also in the op's own total. */
#ifndef SN_PROFILE_H
#define SN_PROFILE_H

#include "context.h"

/* A start time, or 0 when not profiling. */
double sn_prof_begin(sn_ctx *ctx);
void sn_prof_end(sn_ctx *ctx, const char *op, double start);

#endif
