/* What the benchmark programs share: a monotonic clock, a comparison for medians, and a
 * synchronization of the context's device that ends the program on any error. */
#ifndef SN_BENCH_H
#define SN_BENCH_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../../core/backend.h"
#include "../../core/context.h"

static inline double bench_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* qsort comparison of doubles (ascending). */
static inline int bench_cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Waits for the context's device; any error ends the program with "<who>: <what>: message". */
static inline void bench_sync(sn_ctx *ctx, const char *who, const char *what) {
    char err[512] = "";
    if (!sn_ok(ctx) || (sn_ctx_device(ctx) == SN_CUDA &&
                        sn_cuda_state_sync(sn_ctx_backend(ctx), err, sizeof err))) {
        fprintf(stderr, "%s: %s: %s%s\n", who, what, sn_error(ctx), err);
        exit(1);
    }
}

#endif
