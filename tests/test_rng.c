/* core/rng against torch.randn: every recorded call must match bit for bit.
 *
 * tests/fixtures/rng/rng_{cpu,cuda}.safetensors come from tools/reference/rng_fixtures.py
 * (PyTorch 2.11 on an H200). Each case seeds one generator and calls torch.randn(n) several
 * times in a row; small calls are stored whole, large ones as head, tail and a strided sample,
 * and every call's CRC-32 over all its values is in the metadata, so each call is checked in
 * full. The CUDA cases use the recorded GPU's multiprocessor count and threads per
 * multiprocessor. */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../core/rng.h"
#include "../weights/checkpoint.h"
#include "check.h"

static uint32_t crc32_of(const void *data, size_t n) {
    static uint32_t table[256];
    if (!table[1])
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
    const uint8_t *p = data;
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

/* Compares got[first + k*step] with the stored tensor; returns the number of differing values. */
static long compare(const char *what, const float *got, int64_t first, int64_t step,
                    const sn_ckpt_entry *e) {
    const int64_t m = sn_ckpt_entry_numel(e);
    const uint32_t *want = (const uint32_t *)e->data;
    long bad = 0;
    for (int64_t k = 0; k < m; k++) {
        uint32_t g;
        memcpy(&g, &got[first + k * step], 4);
        if (g != want[k]) {
            if (!bad) {
                float w;
                memcpy(&w, &want[k], 4);
                fprintf(stderr, "  %s: first difference at element %" PRId64 ": %.9g (%08x), torch %.9g (%08x)\n",
                        what, first + k * step, got[first + k * step], g, w, want[k]);
            }
            bad++;
        }
    }
    return bad;
}

static void run_file(const char *dir, const char *kind_name) {
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/rng_%s.safetensors", dir, kind_name);
    sn_ckpt *ck = sn_ckpt_open(path, err, sizeof err);
    CHECKF(ck != NULL, "%s", err);
    if (!ck) return;
    const sn_rng_kind kind = sn_rng_kind_parse(kind_name);
    const char *cases_json = sn_ckpt_meta(ck, "cases");
    const char *ht = sn_ckpt_meta(ck, "head_tail"), *st = sn_ckpt_meta(ck, "sample_stride");
    cJSON *cases = cases_json ? cJSON_Parse(cases_json) : NULL;
    CHECKF(cases && cJSON_IsArray(cases) && ht && st, "%s: metadata 'cases' missing or bad", path);
    if (!cases || !ht || !st) {
        cJSON_Delete(cases);
        sn_ckpt_close(ck);
        return;
    }
    const int64_t head_tail = atoll(ht), stride = atoll(st);
    int sms = 132, threads = 2048;
    if (sn_ckpt_meta(ck, "sm_count")) sms = atoi(sn_ckpt_meta(ck, "sm_count"));
    if (sn_ckpt_meta(ck, "max_threads_per_sm")) threads = atoi(sn_ckpt_meta(ck, "max_threads_per_sm"));
    int ncalls = 0, nvalues = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(c, "name"));
        const char *seed_s = cJSON_GetStringValue(cJSON_GetObjectItem(c, "seed"));
        const cJSON *calls = cJSON_GetObjectItem(c, "calls"), *crcs = cJSON_GetObjectItem(c, "crc32");
        CHECKF(name && seed_s && cJSON_IsArray(calls) && cJSON_IsArray(crcs), "%s: bad case", path);
        if (!name || !seed_s || !cJSON_IsArray(calls) || !cJSON_IsArray(crcs)) continue;
        sn_rng rng;
        sn_rng_init(&rng, kind, strtoull(seed_s, NULL, 10));
        sn_rng_set_cuda_device(&rng, sms, threads);
        for (int i = 0; i < cJSON_GetArraySize(calls); i++) {
            const int64_t n = (int64_t)cJSON_GetArrayItem(calls, i)->valuedouble;
            float *x = malloc((size_t)n * sizeof *x);
            sn_rng_randn(&rng, x, n);
            char key[256], what[300];
            snprintf(what, sizeof what, "%s %s call %d (n=%" PRId64 ")", kind_name, name, i, n);
            long bad = 0;
            snprintf(key, sizeof key, "%s/%d", name, i);
            const sn_ckpt_entry *full = sn_ckpt_find(ck, key);
            if (full) {
                CHECKF(sn_ckpt_entry_numel(full) == n, "%s: stored %" PRId64 " values", what, sn_ckpt_entry_numel(full));
                if (sn_ckpt_entry_numel(full) == n) bad += compare(what, x, 0, 1, full);
            } else {
                snprintf(key, sizeof key, "%s/%d/head", name, i);
                const sn_ckpt_entry *h = sn_ckpt_find(ck, key);
                snprintf(key, sizeof key, "%s/%d/tail", name, i);
                const sn_ckpt_entry *t = sn_ckpt_find(ck, key);
                snprintf(key, sizeof key, "%s/%d/strided", name, i);
                const sn_ckpt_entry *s = sn_ckpt_find(ck, key);
                CHECKF(h && t && s, "%s: no stored values", what);
                if (h && t && s) {
                    bad += compare(what, x, 0, 1, h);
                    bad += compare(what, x, n - head_tail, 1, t);
                    bad += compare(what, x, 0, stride, s);
                }
            }
            const uint32_t want_crc = (uint32_t)cJSON_GetArrayItem(crcs, i)->valuedouble;
            const uint32_t crc = crc32_of(x, (size_t)n * sizeof *x);
            CHECKF(bad == 0, "%s: %ld stored values differ from torch.randn", what, bad);
            CHECKF(crc == want_crc, "%s: CRC-32 of all values %08x, torch %08x", what, crc, want_crc);
            ncalls++;
            nvalues += (int)n;
            free(x);
        }
    }
    printf("%s: %d torch.randn calls, %d values compared\n", kind_name, ncalls, nvalues);
    cJSON_Delete(cases);
    sn_ckpt_close(ck);
}

/* Properties that need no fixture. */
static void test_basics(void) {
    CHECK(sn_rng_kind_parse("cpu") == SN_RNG_CPU);
    CHECK(sn_rng_kind_parse("cuda") == SN_RNG_CUDA);
    CHECK(sn_rng_kind_parse("gpu") == SN_RNG_INVALID);
    CHECK(sn_rng_kind_parse("") == SN_RNG_INVALID);
    CHECK(sn_rng_kind_parse(NULL) == SN_RNG_INVALID);
    CHECK(!strcmp(sn_rng_kind_name(SN_RNG_CUDA), "cuda"));

    /* The CPU generator sees only the seed's low 32 bits; the CUDA generator the whole seed. */
    float a[40], b[40];
    sn_rng r1, r2;
    for (int k = 0; k < 2; k++) {
        sn_rng_kind kind = k ? SN_RNG_CUDA : SN_RNG_CPU;
        sn_rng_init(&r1, kind, 5);
        sn_rng_init(&r2, kind, (1ull << 32) + 5);
        sn_rng_randn(&r1, a, 40);
        sn_rng_randn(&r2, b, 40);
        CHECK((memcmp(a, b, sizeof a) == 0) == (kind == SN_RNG_CPU));
    }

    /* Reseeding restarts the stream (and drops the CPU generator's cached normal). */
    for (int k = 0; k < 2; k++) {
        sn_rng_kind kind = k ? SN_RNG_CUDA : SN_RNG_CPU;
        sn_rng_init(&r1, kind, 42);
        sn_rng_randn(&r1, a, 3);
        sn_rng_randn(&r1, a + 3, 37);
        sn_rng_init(&r1, kind, 42);
        sn_rng_randn(&r1, b, 3);
        sn_rng_randn(&r1, b + 3, 37);
        CHECK(memcmp(a, b, sizeof a) == 0);
    }

    /* The CUDA launch geometry matters only once n exceeds one value per thread. */
    static float c[300000], d[300000];
    sn_rng_init(&r1, SN_RNG_CUDA, 7);
    sn_rng_init(&r2, SN_RNG_CUDA, 7);
    sn_rng_set_cuda_device(&r2, 108, 2048); /* an A100 */
    sn_rng_randn(&r1, c, 200000);
    sn_rng_randn(&r2, d, 200000);
    CHECK(memcmp(c, d, 200000 * sizeof *c) == 0);
    sn_rng_randn(&r1, c, 300000);
    sn_rng_randn(&r2, d, 300000);
    CHECK(memcmp(c, d, 300000 * sizeof *c) != 0);
    CHECK(memcmp(c, d, 108 * 2048 * sizeof *c) == 0); /* the first value of every thread */

    /* Sanity of the distribution: mean ~ 0, variance ~ 1. */
    for (int k = 0; k < 2; k++) {
        sn_rng_init(&r1, k ? SN_RNG_CUDA : SN_RNG_CPU, 1234);
        sn_rng_randn(&r1, c, 300000);
        double s = 0, s2 = 0;
        for (int i = 0; i < 300000; i++) s += c[i], s2 += (double)c[i] * c[i];
        const double mean = s / 300000, var = s2 / 300000 - mean * mean;
        CHECKF(fabs(mean) < 0.01 && fabs(var - 1) < 0.01, "%s: mean %g variance %g",
               k ? "cuda" : "cpu", mean, var);
    }
}

int main(void) {
    test_basics();
    char dir[1024];
    check_fixture_dir("rng", "run python3 tools/reference/rng_fixtures.py tests/fixtures/rng on "
                      "a machine with PyTorch and a CUDA GPU", dir, sizeof dir);
    run_file(dir, "cpu");
    run_file(dir, "cuda");
    return check_summary("test_rng");
}
