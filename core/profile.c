#include "profile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"

#define MAX_NAMES 64

static struct {
    const char *name;
    double seconds;
    long calls;
} totals[MAX_NAMES];
static int ntotals, state; /* 0 unknown, 1 on, -1 off */

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int by_time(const void *a, const void *b) {
    double x = ((const typeof(totals[0]) *)a)->seconds, y = ((const typeof(totals[0]) *)b)->seconds;
    return x < y ? 1 : x > y ? -1 : 0;
}

static void report(void) {
    double all = 0;
    for (int i = 0; i < ntotals; i++) all += totals[i].seconds;
    qsort(totals, ntotals, sizeof totals[0], by_time);
    fprintf(stderr, "sinter profile: %.3f s in ops\n", all);
    for (int i = 0; i < ntotals; i++)
        fprintf(stderr, "  %-20s %9.3f ms %5.1f%% %8ld calls\n", totals[i].name,
                totals[i].seconds * 1e3, all > 0 ? 100 * totals[i].seconds / all : 0,
                totals[i].calls);
}

double sn_prof_begin(sn_ctx *ctx) {
    if (!state) {
        const char *e = getenv("SINTER_PROFILE");
        state = e && *e && strcmp(e, "0") ? 1 : -1;
        if (state > 0) atexit(report);
    }
    if (state < 0 || sn_ctx_capturing(ctx)) return 0;
    sn_ctx_wait(ctx);
    return now();
}

void sn_prof_end(sn_ctx *ctx, const char *op, double start) {
    if (start == 0) return;
    sn_ctx_wait(ctx);
    double dt = now() - start;
    int i = 0;
    while (i < ntotals && strcmp(totals[i].name, op)) i++;
    if (i == ntotals) {
        if (ntotals == MAX_NAMES) return;
        totals[ntotals++].name = op; /* op names are string literals */
    }
    totals[i].seconds += dt;
    totals[i].calls++;
}
