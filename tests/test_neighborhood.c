/* Neighborhood attention (core/neighborhood.h, core/cpu/neighborhood.c):
 *   - the CPU oracle against dense attention (sn_cpu_attention) with an additive -inf mask
 *     built from sn_na_is_neighbor, on random 1-3-D configurations with extra tokens;
 *   - the window math against tools/reference/neighborhood.py, which writes NATTEN's mask
 *     from its Flex mask_mod form in NumPy: masks must match exactly, outputs (float64
 *     there) within TOL;
 *   - properties of the definition (window sizes, full and blocked attention, edge cases);
 *   - the option parser and the checks;
 *   - the tile helpers against brute force over every (query tile, key tile) pair.
 * Tolerance: TOL = 1e-5 relative error as check.h measures it. */
#include <stdint.h>

#include "../core/cpu/cpu.h"
#include "../core/cpu/neighborhood.h"
#include "../core/neighborhood.h"
#include "../weights/checkpoint.h"
#include "check.h"

#define TOL 1e-5

static int rnd(int n) { return (int)(check_u64() % (unsigned long long)n); }

/* --- helpers ------------------------------------------------------------------------- */

static sn_na_params make(int axes, const int *size, const int *window, const int *stride,
                         const int *dilation, const int *causal) {
    sn_na_params p = {.axes = axes};
    for (int a = 0; a < axes; a++) {
        p.size[a] = size[a];
        p.window[a] = window[a];
        p.stride[a] = stride ? stride[a] : 1;
        p.dilation[a] = dilation ? dilation[a] : 1;
        p.causal[a] = causal ? causal[a] : 0;
    }
    return p;
}

/* A random valid configuration: sizes 2..max_size, any window, stride and dilation that fit;
 * causal on an axis with probability `causal_pct` percent. */
static sn_na_params random_params(int axes, int max_size, int causal_pct) {
    sn_na_params p = {.axes = axes};
    for (int a = 0; a < axes; a++) {
        int L = 2 + rnd(max_size - 1);
        int d = 1 + rnd(L / 2);     /* a window of 2 must fit: 2 d <= L */
        int k = 2 + rnd(L / d - 1); /* 2 .. L / d */
        p.size[a] = L, p.dilation[a] = d, p.window[a] = k;
        p.stride[a] = 1 + rnd(k);
        p.causal[a] = rnd(100) < causal_pct;
    }
    return p;
}

static const char *describe(const sn_na_params *p) {
    static char buf[256];
    int n = snprintf(buf, sizeof buf, "size=");
    for (int a = 0; a < p->axes; a++)
        n += snprintf(buf + n, sizeof buf - n, "%s%d", a ? "x" : "", p->size[a]);
    n += snprintf(buf + n, sizeof buf - n, " ");
    sn_na_format(p, buf + n, sizeof buf - n);
    return buf;
}

static float *randoms(int64_t n) {
    float *x = malloc((size_t)(n ? n : 1) * sizeof(float));
    check_fill(x, n);
    return x;
}

/* Dense attention over all keys with bias 0 / -inf from sn_na_is_neighbor. */
static void brute_force(const float *q, const float *k, const float *v, float *y, int64_t heads,
                        int64_t lq, int64_t lk, int64_t d, int64_t dv, float scale,
                        const sn_na_params *p) {
    float *bias = malloc((size_t)(lq * lk) * sizeof(float));
    for (int64_t i = 0; i < lq; i++)
        for (int64_t j = 0; j < lk; j++)
            bias[i * lk + j] = sn_na_is_neighbor(p, (int)i, (int)j) ? 0.0f : -INFINITY;
    sn_cpu_attn_mask m = {.bias = bias, .stride = {0, 0, lk, 1}, .heads_per_batch = heads};
    float *work = malloc(sn_cpu_attention_work(lq, lk) * sizeof(float));
    sn_cpu_attention(q, k, v, y, heads, lq, lk, d, dv, scale, &m, work);
    free(work);
    free(bias);
}

static void oracle(const float *q, const float *k, const float *v, float *y, int64_t heads,
                   int64_t lq, int64_t lk, int64_t d, int64_t dv, float scale,
                   const sn_na_params *p) {
    void *work = malloc(sn_cpu_na_attention_work(p, heads, lq, lk, dv));
    sn_cpu_na_attention(q, k, v, y, heads, lq, lk, d, dv, scale, p, work);
    free(work);
}

/* Oracle vs brute force on random data for one configuration. */
static void compare_dense(const sn_na_params *p, int extra, int heads, int d, int dv) {
    char why[256];
    CHECKF(sn_na_check(p, why, sizeof why) == 0, "%s: %s", describe(p), why);
    int64_t lq = sn_na_tokens(p), lk = lq + extra;
    float *q = randoms(heads * lq * d), *k = randoms(heads * lk * d), *v = randoms(heads * lk * dv);
    float *y = malloc((size_t)(heads * lq * dv) * sizeof(float));
    float *ref = malloc((size_t)(heads * lq * dv) * sizeof(float));
    float scale = 1.0f / sqrtf((float)d);
    oracle(q, k, v, y, heads, lq, lk, d, dv, scale, p);
    brute_force(q, k, v, ref, heads, lq, lk, d, dv, scale, p);
    double e = check_rel_err(y, ref, heads * lq * dv);
    CHECKF(e <= TOL, "%s extra=%d heads=%d d=%d dv=%d: relative error %.3g", describe(p), extra,
           heads, d, dv, e);
    free(q), free(k), free(v), free(y), free(ref);
}

/* --- the oracle against dense masked attention ------------------------------------------ */

static void test_oracle(void) {
    /* attention.md 10's configurations, odd grids, and a 64x64 image grid */
    {
        sn_na_params p =
            make(2, (int[]){20, 24}, (int[]){7, 9}, (int[]){2, 3}, (int[]){1, 2}, NULL);
        compare_dense(&p, 0, 2, 16, 16);
        compare_dense(&p, 7, 2, 16, 16);
    }
    {
        sn_na_params p = make(3, (int[]){6, 10, 12}, (int[]){3, 5, 6}, (int[]){1, 2, 3}, NULL,
                              (int[]){1, 0, 0});
        compare_dense(&p, 3, 2, 8, 5);
    }
    {
        sn_na_params p = make(1, (int[]){64}, (int[]){17}, (int[]){4}, (int[]){2}, NULL);
        compare_dense(&p, 0, 3, 8, 8);
    }
    {
        sn_na_params p = make(2, (int[]){64, 64}, (int[]){7, 7}, NULL, NULL, NULL);
        compare_dense(&p, 5, 1, 32, 32);
    }
    {   /* even windows and strides, causal on one axis, odd sizes */
        sn_na_params p = make(2, (int[]){17, 23}, (int[]){6, 8}, (int[]){4, 2}, (int[]){2, 1},
                              (int[]){0, 1});
        compare_dense(&p, 2, 2, 12, 7);
    }
    /* random: 1-3 axes, everything random, with and without extra tokens */
    for (int t = 0; t < 150; t++) {
        int axes = 1 + t % 3;
        sn_na_params p = random_params(axes, axes == 1 ? 40 : axes == 2 ? 14 : 8, 30);
        compare_dense(&p, rnd(2) ? 0 : 1 + rnd(6), 1 + rnd(3), 1 + rnd(16), 1 + rnd(9));
    }
}

/* --- NumPy reference fixture --------------------------------------------------------------- */

static float *entry_f32(const sn_ckpt *ck, const char *name, int64_t *n) {
    const sn_ckpt_entry *e = sn_ckpt_find(ck, name);
    CHECKF(e != NULL, "fixture tensor %s is missing", name);
    if (!e) return NULL;
    *n = sn_ckpt_entry_numel(e);
    float *x = malloc((size_t)(*n ? *n : 1) * sizeof(float));
    sn_ckpt_entry_to_f32(e, x);
    return x;
}

static void fixture_case(const sn_ckpt *ck, const char *name) {
    char key[128];
    int64_t n, nq, nk, nv, nm, ny;
    snprintf(key, sizeof key, "%s/config", name);
    float *cfg = entry_f32(ck, key, &n);
    if (!cfg || n != 20) {
        CHECKF(0, "%s: config has %lld values, expected 20", name, (long long)n);
        free(cfg);
        return;
    }
    int c[20];
    for (int i = 0; i < 20; i++) c[i] = (int)cfg[i];
    free(cfg);
    int axes = c[0], extra = c[1], heads = c[2], d = c[3], dv = c[4];
    sn_na_params p = make(axes, c + 5, c + 8, c + 11, c + 14, c + 17);
    char why[256];
    CHECKF(sn_na_check(&p, why, sizeof why) == 0, "%s: %s", name, why);
    int64_t lq = sn_na_tokens(&p), lk = lq + extra;
    float *q, *k, *v, *mask, *yref;
    snprintf(key, sizeof key, "%s/q", name), q = entry_f32(ck, key, &nq);
    snprintf(key, sizeof key, "%s/k", name), k = entry_f32(ck, key, &nk);
    snprintf(key, sizeof key, "%s/v", name), v = entry_f32(ck, key, &nv);
    snprintf(key, sizeof key, "%s/mask", name), mask = entry_f32(ck, key, &nm);
    snprintf(key, sizeof key, "%s/y", name), yref = entry_f32(ck, key, &ny);
    int sizes_ok = q && k && v && mask && yref && nq == heads * lq * d && nk == heads * lk * d &&
                   nv == heads * lk * dv && nm == lq * lk && ny == heads * lq * dv;
    CHECKF(sizes_ok, "%s: fixture tensors do not match the config", name);
    if (sizes_ok) {
        int64_t wrong = 0, first = -1;
        for (int64_t i = 0; i < lq; i++)
            for (int64_t j = 0; j < lk; j++)
                if (sn_na_is_neighbor(&p, (int)i, (int)j) != (mask[i * lk + j] != 0)) {
                    if (first < 0) first = i * lk + j;
                    wrong++;
                }
        CHECKF(wrong == 0, "%s (%s): %lld mask entries differ from NATTEN's, first query %lld "
               "key %lld", name, describe(&p), (long long)wrong, (long long)(first / lk),
               (long long)(first % lk));
        float *y = malloc((size_t)ny * sizeof(float));
        oracle(q, k, v, y, heads, lq, lk, d, dv, 1.0f / sqrtf((float)d), &p);
        double e = check_rel_err(y, yref, ny);
        CHECKF(e <= TOL, "%s: relative error %.3g against the float64 reference", name, e);
        free(y);
    }
    free(q), free(k), free(v), free(mask), free(yref);
}

static void test_fixture(void) {
    const char *src = getenv("SINTER_SRC");
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/tests/fixtures/neighborhood/neighborhood.safetensors",
             src && *src ? src : "..");
    sn_ckpt *ck = sn_ckpt_open(path, err, sizeof err);
    CHECKF(ck != NULL, "%s", err);
    if (!ck) return;
    const char *cases = sn_ckpt_meta(ck, "cases");
    CHECKF(cases && *cases, "%s: no 'cases' metadata", path);
    int count = 0;
    for (const char *s = cases ? cases : ""; *s;) {
        size_t len = strcspn(s, ",");
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)len, s);
        fixture_case(ck, name);
        count++;
        s += len + (s[len] == ',');
    }
    CHECKF(count >= 8, "only %d fixture cases", count);
    sn_ckpt_close(ck);
}

/* --- properties of the definition ------------------------------------------------------ */

/* Grid keys query i attends. */
static int neighbors(const sn_na_params *p, int i) {
    int n = 0;
    for (int j = 0, lq = sn_na_tokens(p); j < lq; j++) n += sn_na_is_neighbor(p, i, j);
    return n;
}

static int window_of(int n, int k, int s, int causal, int x, int start, int end) {
    sn_na_span w = sn_na_window(n, k, s, causal, x);
    return w.start == start && w.end == end;
}

static void test_properties(void) {
    /* Non-causal: exactly prod(window) keys for every query (inward clamping). */
    for (int t = 0; t < 120; t++) {
        sn_na_params p = random_params(1 + t % 3, 9, 0);
        int want = 1, bad = 0;
        for (int a = 0; a < p.axes; a++) want *= p.window[a];
        for (int i = 0; i < sn_na_tokens(&p); i++) bad += neighbors(&p, i) != want;
        CHECKF(bad == 0, "%s: %d queries do not see %d keys", describe(&p), bad, want);
    }
    /* Causal axes: never a later key along them, never more than the window, and the last
     * query of each full stride group sees a whole window once it is past the start. */
    for (int t = 0; t < 120; t++) {
        sn_na_params p = random_params(1 + t % 3, 9, 60);
        int bad = 0, lq = sn_na_tokens(&p), qc[3], kc[3];
        for (int i = 0; i < lq; i++)
            for (int j = 0; j < lq; j++) {
                if (!sn_na_is_neighbor(&p, i, j)) continue;
                sn_na_coords(&p, i, qc);
                sn_na_coords(&p, j, kc);
                for (int a = 0; a < p.axes; a++) bad += p.causal[a] && kc[a] > qc[a];
            }
        CHECKF(bad == 0, "%s: %d causal violations", describe(&p), bad);
        for (int a = 0; a < p.axes; a++) {
            for (int x = 0; x < p.size[a]; x++) {
                sn_na_range r = sn_na_axis_range(&p, a, x);
                CHECKF(r.end - r.start >= 1 && r.end - r.start <= p.window[a], "%s: axis %d x %d: "
                       "window [%d, %d)", describe(&p), a, x, r.start, r.end);
            }
        }
    }
    /* window == size everywhere (non-causal): full attention, mask and output */
    {
        sn_na_params p = make(2, (int[]){5, 7}, (int[]){5, 7}, (int[]){2, 3}, NULL, NULL);
        CHECK(neighbors(&p, 0) == 35 && neighbors(&p, 34) == 35 && neighbors(&p, 17) == 35);
        int64_t heads = 2, lq = 35, lk = 38, d = 8;
        float *q = randoms(heads * lq * d), *k = randoms(heads * lk * d);
        float *v = randoms(heads * lk * d);
        float *y = malloc(heads * lq * d * sizeof(float));
        float *ref = malloc(heads * lq * d * sizeof(float));
        float *work = malloc(sn_cpu_attention_work(lq, lk) * sizeof(float));
        oracle(q, k, v, y, heads, lq, lk, d, d, 0.3f, &p);
        sn_cpu_attention(q, k, v, ref, heads, lq, lk, d, d, 0.3f, NULL, work);
        CHECK_CLOSE(y, ref, heads * lq * d, TOL, "window = grid is full attention");
        free(q), free(k), free(v), free(y), free(ref), free(work);
    }
    /* 1-D causal with window == size: ordinary causal attention */
    {
        sn_na_params p = make(1, (int[]){11}, (int[]){11}, NULL, NULL, (int[]){1});
        int bad = 0;
        for (int i = 0; i < 11; i++)
            for (int j = 0; j < 11; j++) bad += sn_na_is_neighbor(&p, i, j) != (j <= i);
        CHECKF(bad == 0, "causal full window: %d entries differ from j <= i", bad);
    }
    /* stride == window, size % window == 0: blocked (Swin-style) attention */
    for (int t = 0; t < 30; t++) {
        int axes = 1 + t % 3, size[3], win[3];
        for (int a = 0; a < axes; a++) win[a] = 2 + rnd(3), size[a] = win[a] * (1 + rnd(3));
        sn_na_params p = make(axes, size, win, win, NULL, NULL);
        int bad = 0, lq = sn_na_tokens(&p), qc[3], kc[3];
        for (int i = 0; i < lq; i++)
            for (int j = 0; j < lq; j++) {
                sn_na_coords(&p, i, qc);
                sn_na_coords(&p, j, kc);
                int same = 1;
                for (int a = 0; a < axes; a++) same &= qc[a] / win[a] == kc[a] / win[a];
                bad += sn_na_is_neighbor(&p, i, j) != same;
            }
        CHECKF(bad == 0, "%s: %d entries differ from blocked attention", describe(&p), bad);
    }
    /* Worked examples of NATTEN's rules, one axis (group coordinates) */
    CHECK(window_of(10, 4, 1, 0, 5, 3, 7));  /* even k: 2 keys left, 1 right of the query */
    CHECK(window_of(10, 5, 1, 0, 5, 3, 8));  /* odd k: symmetric */
    CHECK(window_of(10, 4, 1, 0, 0, 0, 4));  /* shifted inward at the left edge */
    CHECK(window_of(10, 4, 1, 0, 9, 6, 10)); /* and at the right edge */
    CHECK(window_of(10, 4, 2, 0, 2, 1, 5));  /* stride 2: group {2, 3}, leader 3 (right centre) */
    CHECK(window_of(10, 4, 2, 0, 3, 1, 5));
    CHECK(window_of(10, 4, 4, 0, 5, 4, 8));  /* blocked: group {4..7} */
    CHECK(window_of(10, 4, 4, 0, 8, 6, 10)); /* partial last group {8, 9}: leader 9, shifted */
    CHECK(window_of(10, 3, 3, 0, 9, 7, 10)); /* group {9}: leader clamped to L - 1 */
    CHECK(window_of(10, 4, 2, 1, 2, 0, 3));  /* causal, stride 2: group {2, 3}, leader 3 */
    CHECK(window_of(10, 4, 2, 1, 3, 0, 4));
    CHECK(window_of(10, 4, 2, 1, 6, 4, 7));  /* leader 7: keys from 7 - 4 + 1 up to the query */
    CHECK(window_of(10, 4, 1, 1, 0, 0, 1));  /* the first query sees itself only */
    CHECK(window_of(10, 4, 3, 1, 9, 6, 10)); /* group {9}: leader clamped to 9 */
    {   /* dilation 2 on 7 tokens: groups {0, 2, 4, 6} and {1, 3, 5} */
        sn_na_params p = make(1, (int[]){7}, (int[]){2}, NULL, (int[]){2}, NULL);
        sn_na_range r = sn_na_axis_range(&p, 0, 5);
        CHECK(r.group == 1 && r.start == 1 && r.end == 3); /* keys 3 and 5 */
        CHECK(sn_na_group_len(7, 2, 0) == 4 && sn_na_group_len(7, 2, 1) == 3);
        CHECK(sn_na_is_neighbor(&p, 5, 3) && sn_na_is_neighbor(&p, 5, 5));
        CHECK(!sn_na_is_neighbor(&p, 5, 4) && !sn_na_is_neighbor(&p, 5, 1));
        CHECK(sn_na_is_neighbor(&p, 5, 7)); /* an extra token */
    }
}

/* --- options ------------------------------------------------------------------------------- */

static int parses(const char *text, sn_na_params *p) {
    char err[256] = "";
    int rc = sn_na_parse(text, p, err, sizeof err);
    CHECKF(rc == 0, "'%s' was rejected: %s", text, err);
    return rc == 0;
}

static void rejects(const char *text, const char *why) {
    char err[256] = "";
    sn_na_params p;
    int rc = sn_na_parse(text, &p, err, sizeof err);
    CHECKF(rc == -1 && strstr(err, "neighborhood") && strstr(err, why),
           "'%s': rc %d, message '%s' (expected one naming '%s')", text, rc, err, why);
}

static void test_options(void) {
    sn_na_params p;
    char err[256], text[256];
    if (parses("window=7", &p)) {
        CHECK(p.axes == 0 && p.size[0] == 0 && p.size[2] == 0);
        CHECK(p.window[0] == 7 && p.window[2] == 7 && p.stride[1] == 1 && p.dilation[2] == 1 &&
              p.causal[0] == 0);
        sn_na_format(&p, text, sizeof text);
        CHECKF(!strcmp(text, "window=7,stride=1,dilation=1,causal=0"), "format: %s", text);
        /* the model gives the grid; single values fit any number of axes */
        sn_na_params img = p, vid = p;
        CHECK(sn_na_resolve(&img, 2, (int[]){32, 48}, err, sizeof err) == 0);
        CHECK(img.axes == 2 && img.size[1] == 48 && img.window[1] == 7 && img.size[2] == 0);
        CHECK(sn_na_resolve(&vid, 3, (int[]){16, 32, 32}, err, sizeof err) == 0 && vid.axes == 3);
        sn_na_params small = p;
        CHECK(sn_na_resolve(&small, 2, (int[]){32, 6}, err, sizeof err) == -1 &&
              strstr(err, "axis 1") && strstr(err, "size 6"));
    }
    if (parses("window=80x80,stride=16x16,dilation=1x1,causal=0x0", &p)) {
        CHECK(p.axes == 2 && p.window[1] == 80 && p.stride[0] == 16 && p.window[2] == 0);
        sn_na_format(&p, text, sizeof text);
        CHECKF(!strcmp(text, "window=80x80,stride=16x16,dilation=1x1,causal=0x0"), "format: %s",
               text);
        sn_na_params q;
        CHECK(sn_na_resolve(&p, 3, (int[]){4, 256, 256}, err, sizeof err) == -1 &&
              strstr(err, "2 axes"));
        CHECK(parses(text, &q) && !memcmp(&q.window, &p.window, sizeof q.window));
    }
    if (parses("causal=1x0x0,window=8x24x24,stride=8", &p)) { /* stride broadcast to 3 axes */
        CHECK(p.axes == 3 && p.causal[0] == 1 && p.causal[1] == 0 && p.stride[2] == 8);
        CHECK(sn_na_resolve(&p, 3, (int[]){30, 48, 80}, err, sizeof err) == 0);
        CHECK(sn_na_resolve(&p, 3, (int[]){7, 48, 80}, err, sizeof err) == -1 &&
              strstr(err, "axis 0"));
    }
    rejects("", "window= is required");
    rejects("stride=2", "window= is required");
    rejects("window=", "expected one integer");
    rejects("window=1", "at least 2");
    rejects("window=0", "at least 2");
    rejects("window=-3", "expected one integer");
    rejects("window=7x", "expected one integer");
    rejects("window=x7", "expected one integer");
    rejects("window=7x7x7x7", "expected one integer");
    rejects("window=1234567890", "expected one integer");
    rejects("window=7 ", "expected one integer");
    rejects("window=7,stride=8", "stride 8");
    rejects("window=7,stride=0", "stride 0");
    rejects("window=7,dilation=0", "dilation 0");
    rejects("window=7,causal=2", "causal 2");
    rejects("window=7x7,stride=2x2x2", "3 values");
    rejects("window=7,window=5", "twice");
    rejects("size=5,window=7", "unknown option 'size=5'");
    rejects("window", "no value");
    rejects("window=7,", "ends with a comma");
    rejects(",window=7", "empty option");
    /* sn_na_check on hand-made parameters */
    sn_na_params bad = make(2, (int[]){8, 9}, (int[]){4, 5}, NULL, (int[]){2, 2}, NULL);
    CHECK(sn_na_check(&bad, err, sizeof err) == -1 && strstr(err, "axis 1") &&
          strstr(err, "dilation 2"));
    bad = make(1, (int[]){8}, (int[]){4}, (int[]){5}, NULL, NULL);
    CHECK(sn_na_check(&bad, err, sizeof err) == -1 && strstr(err, "stride 5"));
    bad.axes = 0;
    CHECK(sn_na_check(&bad, err, sizeof err) == -1 && strstr(err, "0 axes"));
    bad = make(1, (int[]){8}, (int[]){8}, (int[]){8}, NULL, NULL);
    CHECK(sn_na_check(&bad, err, sizeof err) == 0);
}

/* --- tiles ------------------------------------------------------------------------------------ */

/* Token index of in-group coordinates xi[] of dilation group g[]. */
static int token_of(const sn_na_params *p, const int *g, const int *xi) {
    int t = 0;
    for (int a = 0; a < p->axes; a++) t = t * p->size[a] + xi[a] * p->dilation[a] + g[a];
    return t;
}

/* Brute force over a box pair: sets *any (some pair is a neighbor pair) and *all (every one). */
static void box_pairs(const sn_na_params *p, const sn_na_box *qb, const sn_na_box *kb, int *any,
                      int *all) {
    *any = 0, *all = 1;
    int qi[3], ki[3], nq = 1, nk = 1;
    for (int a = 0; a < p->axes; a++)
        nq *= qb->hi[a] - qb->lo[a], nk *= kb->hi[a] - kb->lo[a];
    for (int i = 0; i < nq; i++) {
        for (int a = p->axes - 1, r = i; a >= 0; r /= qb->hi[a] - qb->lo[a], a--)
            qi[a] = qb->lo[a] + r % (qb->hi[a] - qb->lo[a]);
        for (int j = 0; j < nk; j++) {
            for (int a = p->axes - 1, r = j; a >= 0; r /= kb->hi[a] - kb->lo[a], a--)
                ki[a] = kb->lo[a] + r % (kb->hi[a] - kb->lo[a]);
            int nb = sn_na_is_neighbor(p, token_of(p, qb->group, qi), token_of(p, kb->group, ki));
            *any |= nb, *all &= nb;
        }
    }
}

/* Every (query tile, key tile) pair of every dilation group of one configuration: a key tile
 * is in sn_na_kv_tiles's range exactly when some pair is a neighbor pair (so no neighbor pair
 * is missed and no empty tile visited), sn_na_box_touches says the same, and sn_na_box_full
 * holds exactly when every pair is a neighbor pair. */
static void tiles_case(const sn_na_params *p, const int *qt, const int *kt) {
    int miss = 0, extra = 0, touch = 0, full_wrong = 0, fulls = 0, ngroups = 1;
    for (int a = 0; a < p->axes; a++) ngroups *= p->dilation[a];
    for (int gi = 0; gi < ngroups; gi++) {
        int g[3] = {0, 0, 0}, n[3] = {1, 1, 1}, nqt[3] = {1, 1, 1}, nkt[3] = {1, 1, 1};
        for (int a = p->axes - 1, r = gi; a >= 0; r /= p->dilation[a], a--) {
            g[a] = r % p->dilation[a];
            n[a] = sn_na_group_len(p->size[a], p->dilation[a], g[a]);
            nqt[a] = (n[a] + qt[a] - 1) / qt[a];
            nkt[a] = (n[a] + kt[a] - 1) / kt[a];
        }
        int tq = nqt[0] * nqt[1] * nqt[2], tk = nkt[0] * nkt[1] * nkt[2];
        for (int i = 0; i < tq; i++) {
            int qc[3] = {i / (nqt[1] * nqt[2]), i / nqt[2] % nqt[1], i % nqt[2]};
            sn_na_box qb = sn_na_tile_box(p, g, qt, qc);
            int t0[3], t1[3];
            sn_na_kv_tiles(p, &qb, kt, t0, t1);
            for (int j = 0; j < tk; j++) {
                int kc[3] = {j / (nkt[1] * nkt[2]), j / nkt[2] % nkt[1], j % nkt[2]};
                sn_na_box kb = sn_na_tile_box(p, g, kt, kc);
                int any, all, in = 1;
                box_pairs(p, &qb, &kb, &any, &all);
                for (int a = 0; a < p->axes; a++) in &= kc[a] >= t0[a] && kc[a] < t1[a];
                miss += any && !in;
                extra += in && !any;
                touch += sn_na_box_touches(p, &qb, &kb) != any;
                int full = sn_na_box_full(p, &qb, &kb);
                full_wrong += full != all;
                fulls += full;
            }
        }
    }
    CHECKF(!miss && !extra && !touch && !full_wrong,
           "%s tiles q %dx%dx%d kv %dx%dx%d: %d neighbor tiles missed, %d empty tiles "
           "visited, %d wrong touches, %d wrong full tests", describe(p), qt[0], qt[1], qt[2],
           kt[0], kt[1], kt[2], miss, extra, touch, full_wrong);
}

static void test_tiles(void) {
    for (int t = 0; t < 150; t++) {
        int axes = 1 + t % 3;
        sn_na_params p = random_params(axes, axes == 1 ? 40 : axes == 2 ? 14 : 8, 30);
        int qt[3] = {1, 1, 1}, kt[3] = {1, 1, 1};
        for (int a = 0; a < axes; a++) qt[a] = 1 + rnd(5), kt[a] = 1 + rnd(5);
        tiles_case(&p, qt, kt);
    }
    /* The GNA recipe of attention.md 2.10, scaled down: stride a multiple of the query tile
     * and window a multiple of the key tile make every visited pair full. */
    sn_na_params p = make(2, (int[]){32, 32}, (int[]){16, 16}, (int[]){8, 8}, NULL, NULL);
    int qt[3] = {8, 4, 1}, kt[3] = {4, 4, 1}, g[3] = {0, 0, 0}, partial = 0;
    tiles_case(&p, qt, kt);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 8; j++) { /* the 4 x 8 query tiles */
            sn_na_box qb = sn_na_tile_box(&p, g, qt, (int[]){i, j, 0});
            int t0[3], t1[3];
            sn_na_kv_tiles(&p, &qb, kt, t0, t1);
            for (int x = t0[0]; x < t1[0]; x++)
                for (int y = t0[1]; y < t1[1]; y++) {
                    sn_na_box kb = sn_na_tile_box(&p, g, kt, (int[]){x, y, 0});
                    partial += !sn_na_box_full(&p, &qb, &kb);
                }
        }
    CHECKF(partial == 0, "GNA recipe: %d partial tile pairs", partial);
}

int main(void) {
    check_seed(6);
    test_oracle();
    test_fixture();
    test_properties();
    test_options();
    test_tiles();
    return check_summary("test_neighborhood");
}
