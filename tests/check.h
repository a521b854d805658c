/* A minimal test harness: CHECK records a failure and goes on; main ends with
 * `return check_summary("name");`, which prints "N passed, N failed" and returns the exit
 * status. A test that cannot run (missing shared data, no GPU) calls check_skip(), which
 * exits with 77, the code ctest reports as skipped. */
#ifndef SN_TEST_CHECK_H
#define SN_TEST_CHECK_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int check_passed_, check_failed_;

/* Test programs get the same OpenBLAS/OpenMP settings as sinter itself (core/cpu_tune.h):
 * a constructor runs after the libraries have loaded and re-executes once if needed. */
#include "../core/backend.h"
#include "../core/context.h"
#include "../core/cpu_tune.h"
__attribute__((constructor)) static void check_tune_(void) {
    static char buf[4096];
    static char *argv[64];
    FILE *f = fopen("/proc/self/cmdline", "rb");
    if (!f) return;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    int argc = 0;
    for (size_t i = 0; i < n && argc < 63; i += strlen(buf + i) + 1) argv[argc++] = buf + i;
    argv[argc] = NULL;
    if (argc) sn_cpu_tune(argv);
}

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (cond) {                                                                  \
            check_passed_++;                                                         \
        } else {                                                                     \
            check_failed_++;                                                         \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                            \
    } while (0)

#define CHECKF(cond, ...)                                                            \
    do {                                                                             \
        if (cond) {                                                                  \
            check_passed_++;                                                         \
        } else {                                                                     \
            check_failed_++;                                                         \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                            \
            fputc('\n', stderr);                                                     \
        }                                                                            \
    } while (0)

/* Largest |a-b| / max(|b|_inf, tiny): relative error against the reference's scale. */
static inline double check_rel_err(const float *a, const float *ref, long n) {
    double maxdiff = 0, maxref = 0;
    for (long i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)ref[i]);
        if (!(d <= maxdiff)) maxdiff = d; /* NaN propagates */
        if (fabs(ref[i]) > maxref) maxref = fabs(ref[i]);
    }
    return maxdiff / (maxref > 1e-30 ? maxref : 1e-30);
}

#define CHECK_CLOSE(a, ref, n, tol, what)                                                \
    do {                                                                                 \
        double e_ = check_rel_err((a), (ref), (n));                                      \
        CHECKF(e_ <= (tol), "%s: relative error %.3g > %.3g", (what), e_, (double)(tol)); \
    } while (0)

static inline void check_skip(const char *why) {
    printf("SKIP: %s\n", why);
    exit(77);
}

/* The scratch folder: $SINTER_TMP (ctest sets it), else /tmp; made when missing. */
static inline const char *check_tmpdir(void) {
    const char *t = getenv("SINTER_TMP");
    if (!t || !*t) t = "/tmp";
    mkdir(t, 0777);
    return t;
}

/* tests/fixtures/<name> under $SINTER_SRC (else ".."), written into dir; skips (exit 77),
 * saying which script makes the fixtures (`how`), when the folder is absent. */
static inline void check_fixture_dir(const char *name, const char *how, char *dir, size_t cap) {
    const char *src = getenv("SINTER_SRC");
    snprintf(dir, cap, "%s/tests/fixtures/%s", src && *src ? src : "..", name);
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        char why[600];
        snprintf(why, sizeof why, "tests/fixtures/%s is absent; %s", name, how);
        check_skip(why);
    }
}

/* A CUDA context with `arena` bytes of scratch (and the device named on stdout); skips (exit 77)
 * when no CUDA device is usable, ends the test (exit 1) when the context cannot be made. */
static inline sn_ctx *check_cuda_ctx(size_t arena, sn_dtype dtype) {
    char d[256], why[300], err[512];
    sn_cuda_describe(d, sizeof d);
    if (sn_cuda_device_count() == 0) {
        snprintf(why, sizeof why, "no CUDA device: %s", d);
        check_skip(why);
    }
    sn_ctx *c = sn_ctx_new(&(sn_ctx_opts){.device = SN_CUDA, .arena_bytes = arena, .dtype = dtype},
                           err, sizeof err);
    if (!c) {
        printf("FAIL: cannot make a CUDA context: %s\n", err);
        exit(1);
    }
    printf("device: %s\n", d);
    return c;
}

static inline int check_summary(const char *name) {
    printf("%s: %d passed, %d failed\n", name, check_passed_, check_failed_);
    return check_failed_ ? 1 : 0;
}

/* A deterministic generator for test data (splitmix64), independent of core/rng. */
static unsigned long long check_rng_state_ = 0x9E3779B97F4A7C15ULL;
static inline void check_seed(unsigned long long s) { check_rng_state_ = s; }
static inline unsigned long long check_u64(void) {
    unsigned long long z = (check_rng_state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
/* Uniform in [-1, 1). */
static inline float check_uniform(void) { return (float)((check_u64() >> 11) * 0x1.0p-53 * 2.0 - 1.0); }
static inline void check_fill(float *x, long n) {
    for (long i = 0; i < n; i++) x[i] = check_uniform();
}

#endif
