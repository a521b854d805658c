/* The CPU op set against naive loops. Each reference is the op's definition written as plain
 * nested loops in double precision, run on random data (uniform in [-1, 1) unless a case says
 * otherwise) and odd shapes: primes, 1s, non-square, batch > 1.
 *
 * Tolerance: TOL = 1e-5 relative error, measured as check.h does (the largest |ours - ref|
 * over the largest |ref|), for every op that computes. Ops that only move data (permute,
 * concat, slice, split, copy, pad, upsample, patchify, casts) must match exactly.
 *
 * Inputs live in heap memory (sn_persist_tensor) so AddressSanitizer sees a kernel that reads
 * past one; outputs come from the arena, which is reset after each test. */
#include <stdint.h>

#include "../core/half.h"
#include "../core/ops.h"
#include "check.h"

#define TOL 1e-5

static sn_ctx *ctx;

/* --- helpers ------------------------------------------------------------------------- */

typedef struct {
    int nd;
    int64_t d[SN_MAX_DIMS];
} shape_t;

static int64_t numel_of(int nd, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < nd; i++) n *= shape[i];
    return n;
}

/* A heap f32 tensor, uniform in [lo, hi). */
static sn_tensor uniform(float lo, float hi, int nd, const int64_t *shape) {
    sn_tensor t = sn_persist_tensor(ctx, SN_F32, nd, shape);
    float *p = t.data;
    for (int64_t i = 0; p && i < sn_numel(t); i++)
        p[i] = lo + (hi - lo) * (check_uniform() + 1) / 2;
    return t;
}
#define RND(...) uniform(-1, 1, SN_SHAPE(__VA_ARGS__))

static float *F(sn_tensor t) { return t.data; }
static float *ref_buf(int64_t n) { return calloc(n ? n : 1, sizeof(float)); }

static int has_shape(sn_tensor t, int nd, const int64_t *shape) {
    if (!sn_has(t) || t.ndim != nd) return 0;
    for (int i = 0; i < nd; i++)
        if (t.shape[i] != shape[i]) return 0;
    return 1;
}

/* y has the expected shape and is within tol of ref. */
static void expect(sn_tensor y, const float *ref, double tol, const char *what, int nd,
                   const int64_t *shape) {
    char want[96], got[96];
    int ok = has_shape(y, nd, shape) && y.dtype == SN_F32;
    CHECKF(ok, "%s: got %s, expected %s (error: %s)", what, sn_shape_str(y.shape, y.ndim, got, 96),
           sn_shape_str(shape, nd, want, 96), sn_error(ctx));
    if (ok) CHECK_CLOSE(F(y), ref, sn_numel(y), tol, what);
}
#define EXPECT(y, ref, tol, what, ...) expect(y, ref, tol, what, SN_SHAPE(__VA_ARGS__))

/* Same shape, dtype and bytes. */
static void expect_bytes(sn_tensor y, sn_tensor ref, const char *what) {
    int ok = sn_has(y) && y.dtype == ref.dtype && sn_same_shape(y, ref);
    CHECKF(ok && memcmp(y.data, ref.data, sn_nbytes(y)) == 0, "%s (error: %s)", what,
           sn_error(ctx));
}

/* Offsets of element `i` of shape `out` in two operands broadcast to it (NumPy rules). */
static void broadcast_offsets(int64_t i, int nd, const int64_t *out, const shape_t *a,
                              const shape_t *b, int64_t *oa, int64_t *ob) {
    *oa = *ob = 0;
    int64_t sa = 1, sb = 1;
    for (int d = nd - 1; d >= 0; d--) {
        int64_t idx = i % out[d];
        i /= out[d];
        int da = d - (nd - a->nd), db = d - (nd - b->nd);
        if (da >= 0) {
            *oa += (a->d[da] == 1 ? 0 : idx) * sa;
            sa *= a->d[da];
        }
        if (db >= 0) {
            *ob += (b->d[db] == 1 ? 0 : idx) * sb;
            sb *= b->d[db];
        }
    }
}

/* --- elementwise --------------------------------------------------------------------- */

static double ref_unary(int op, double v) {
    switch (op) {
    case 0: return v / (1 + exp(-v));
    case 1: return v > 0 ? v : 0;
    case 2: return tanh(v);
    case 3: return exp(v);
    case 4: return 0.5 * v * (1 + erf(v / sqrt(2.0)));
    case 5: return 0.5 * v * (1 + tanh(sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
    case 6: return v * 1.5 - 0.25;
    default: return v < -0.5 ? -0.5 : v > 0.75 ? 0.75 : v;
    }
}

static sn_tensor run_unary(int op, sn_tensor x) {
    switch (op) {
    case 0: return sn_silu(ctx, x);
    case 1: return sn_relu(ctx, x);
    case 2: return sn_tanh(ctx, x);
    case 3: return sn_exp(ctx, x);
    case 4: return sn_gelu(ctx, x, SN_GELU_EXACT);
    case 5: return sn_gelu(ctx, x, SN_GELU_TANH);
    case 6: return sn_affine(ctx, x, 1.5f, -0.25f);
    default: return sn_clamp(ctx, x, -0.5f, 0.75f);
    }
}

static void test_unary(void) {
    static const char *names[] = {"silu", "relu",      "tanh",   "exp",
                                  "gelu", "gelu_tanh", "affine", "clamp"};
    const shape_t shapes[] = {{3, {3, 7, 13}}, {1, {1}}, {1, {100003}}};
    for (int s = 0; s < 3; s++) {
        sn_tensor x = uniform(-4, 4, shapes[s].nd, shapes[s].d);
        float *ref = ref_buf(sn_numel(x));
        for (int op = 0; op < 8; op++) {
            for (int64_t i = 0; i < sn_numel(x); i++) ref[i] = (float)ref_unary(op, F(x)[i]);
            char what[64];
            snprintf(what, sizeof what, "%s numel %lld", names[op], (long long)sn_numel(x));
            expect(run_unary(op, x), ref, TOL, what, x.ndim, x.shape);
        }
        free(ref);
    }
}

static double ref_binary(int op, double a, double b) {
    return op == 0 ? a + b : op == 1 ? a - b : op == 2 ? a * b : a / b;
}

static sn_tensor run_binary(int op, sn_tensor a, sn_tensor b) {
    switch (op) {
    case 0: return sn_add(ctx, a, b);
    case 1: return sn_sub(ctx, a, b);
    case 2: return sn_mul(ctx, a, b);
    default: return sn_div(ctx, a, b);
    }
}

static void test_binary(void) {
    const shape_t pairs[][2] = {
        {{4, {2, 3, 4, 5}}, {4, {2, 3, 4, 5}}}, /* equal */
        {{4, {2, 3, 4, 5}}, {0, {0}}},          /* 0-d scalar */
        {{3, {7, 13, 5}}, {1, {1}}},            /* one-element scalar */
        {{4, {2, 3, 4, 5}}, {1, {5}}},          /* row */
        {{4, {2, 3, 4, 5}}, {3, {3, 1, 1}}},    /* per channel */
        {{2, {4, 1}}, {3, {3, 1, 5}}},          /* both stretched */
        {{1, {1}}, {2, {2, 7}}},                /* a is the scalar */
        {{5, {2, 1, 3, 1, 5}}, {5, {1, 4, 1, 6, 1}}},
        {{3, {13, 1, 7}}, {3, {13, 1, 7}}},
        {{2, {1, 1}}, {2, {1, 1}}},
        {{3, {2, 7, 1}}, {3, {2, 1, 13}}},
        {{2, {3, 70001}}, {1, {70001}}}, /* long rows, cut into pieces */
        {{1, {200003}}, {1, {200003}}},
        {{2, {40000, 3}}, {2, {40000, 1}}},
    };
    int npairs = sizeof pairs / sizeof pairs[0];
    for (int p = 0; p < npairs; p++) {
        const shape_t *sa = &pairs[p][0], *sb = &pairs[p][1];
        sn_tensor a = uniform(-1, 1, sa->nd, sa->d), b = uniform(-1, 1, sb->nd, sb->d);
        for (int64_t i = 0; i < sn_numel(b); i++) /* keep divisors away from zero */
            F(b)[i] += F(b)[i] < 0 ? -0.5f : 0.5f;
        int nd = sa->nd > sb->nd ? sa->nd : sb->nd;
        int64_t out[SN_MAX_DIMS];
        for (int d = 0; d < nd; d++) {
            int da = d - (nd - sa->nd), db = d - (nd - sb->nd);
            int64_t x = da >= 0 ? sa->d[da] : 1, y = db >= 0 ? sb->d[db] : 1;
            out[d] = x == 1 ? y : x;
        }
        int64_t n = numel_of(nd, out);
        float *ref = ref_buf(n);
        for (int op = 0; op < 4; op++) {
            for (int64_t i = 0; i < n; i++) {
                int64_t oa, ob;
                broadcast_offsets(i, nd, out, sa, sb, &oa, &ob);
                ref[i] = (float)ref_binary(op, F(a)[oa], F(b)[ob]);
            }
            char what[64], s1[48], s2[48];
            snprintf(what, sizeof what, "binary op %d %s %s", op,
                     sn_shape_str(sa->d, sa->nd, s1, 48), sn_shape_str(sb->d, sb->nd, s2, 48));
            expect(run_binary(op, a, b), ref, TOL, what, nd, out);
        }
        free(ref);
    }
}

static void test_softmax(void) {
    const shape_t shapes[] = {{3, {3, 7, 13}}, {2, {1, 1}}, {2, {2, 1000}}, {1, {5}}};
    for (int s = 0; s < 4; s++) {
        /* large logits: exp would overflow without the max subtraction */
        sn_tensor x = uniform(-40, 60, shapes[s].nd, shapes[s].d);
        int64_t n = shapes[s].d[shapes[s].nd - 1], rows = sn_numel(x) / n;
        float *ref = ref_buf(sn_numel(x));
        for (int64_t r = 0; r < rows; r++) {
            const float *xr = F(x) + r * n;
            double mx = xr[0], sum = 0;
            for (int64_t i = 0; i < n; i++) mx = xr[i] > mx ? xr[i] : mx;
            for (int64_t i = 0; i < n; i++) sum += exp(xr[i] - mx);
            for (int64_t i = 0; i < n; i++) ref[r * n + i] = (float)(exp(xr[i] - mx) / sum);
        }
        expect(sn_softmax(ctx, x), ref, TOL, "softmax", x.ndim, x.shape);
        free(ref);
    }
}

/* --- normalization ------------------------------------------------------------------- */

/* Mean and biased variance of n contiguous values. */
static void ref_moments(const float *x, int64_t n, double *mean, double *var) {
    double s = 0, q = 0;
    for (int64_t i = 0; i < n; i++) s += x[i];
    *mean = s / n;
    for (int64_t i = 0; i < n; i++) q += (x[i] - *mean) * (x[i] - *mean);
    *var = q / n;
}

static void test_layer_and_rms_norm(void) {
    const shape_t shapes[] = {{3, {3, 7, 33}}, {2, {5, 1}}, {1, {13}}};
    for (int s = 0; s < 3; s++) {
        /* an offset mean: a one-pass variance would lose digits here */
        sn_tensor x = uniform(2, 4, shapes[s].nd, shapes[s].d);
        int64_t n = shapes[s].d[shapes[s].nd - 1], rows = sn_numel(x) / n;
        sn_tensor w = RND(n), b = RND(n);
        float *ref = ref_buf(sn_numel(x));
        for (int affine = 0; affine < 2; affine++) {
            for (int64_t r = 0; r < rows; r++) {
                double mean, var;
                ref_moments(F(x) + r * n, n, &mean, &var);
                for (int64_t i = 0; i < n; i++) {
                    double v = (F(x)[r * n + i] - mean) / sqrt(var + 1e-5);
                    ref[r * n + i] = (float)(affine ? v * F(w)[i] + F(b)[i] : v);
                }
            }
            sn_tensor y = affine ? sn_layer_norm(ctx, x, w, b, 1e-5f)
                                 : sn_layer_norm(ctx, x, sn_none(), sn_none(), 1e-5f);
            expect(y, ref, TOL, affine ? "layer_norm affine" : "layer_norm", x.ndim, x.shape);

            for (int64_t r = 0; r < rows; r++) {
                double q = 0;
                for (int64_t i = 0; i < n; i++) q += (double)F(x)[r * n + i] * F(x)[r * n + i];
                for (int64_t i = 0; i < n; i++) {
                    double v = F(x)[r * n + i] / sqrt(q / n + 1e-6);
                    ref[r * n + i] = (float)(affine ? v * F(w)[i] : v);
                }
            }
            y = sn_rms_norm(ctx, x, affine ? w : sn_none(), 1e-6f);
            expect(y, ref, TOL, affine ? "rms_norm weight" : "rms_norm", x.ndim, x.shape);
        }
        free(ref);
    }
}

static void test_group_norm(void) {
    const struct {
        shape_t s;
        int groups, weight, bias;
    } cases[] = {
        {{4, {2, 6, 5, 7}}, 3, 1, 1},     {{3, {1, 4, 13}}, 4, 0, 0}, /* one channel per group */
        {{5, {2, 8, 3, 4, 5}}, 2, 1, 0},  {{2, {3, 4}}, 2, 0, 1},     /* no spatial axes */
        {{4, {1, 32, 64, 64}}, 32, 1, 1}, {{4, {2, 6, 5, 7}}, 1, 1, 1},
    };
    for (int k = 0; k < 6; k++) {
        const shape_t *s = &cases[k].s;
        sn_tensor x = uniform(-3, 5, s->nd, s->d);
        int64_t n = s->d[0], c = s->d[1], sp = sn_numel(x) / (n * c), g = cases[k].groups;
        int64_t cg = c / g;
        sn_tensor w = cases[k].weight ? RND(c) : sn_none(), b = cases[k].bias ? RND(c) : sn_none();
        float *ref = ref_buf(sn_numel(x));
        for (int64_t t = 0; t < n * g; t++) {
            double mean, var;
            ref_moments(F(x) + t * cg * sp, cg * sp, &mean, &var);
            for (int64_t j = 0; j < cg * sp; j++) {
                int64_t ch = t % g * cg + j / sp;
                double v = (F(x)[t * cg * sp + j] - mean) / sqrt(var + 1e-6);
                if (sn_has(w)) v *= F(w)[ch];
                if (sn_has(b)) v += F(b)[ch];
                ref[t * cg * sp + j] = (float)v;
            }
        }
        char what[64];
        snprintf(what, sizeof what, "group_norm case %d", k);
        expect(sn_group_norm(ctx, x, (int)g, w, b, 1e-6f), ref, TOL, what, x.ndim, x.shape);
        free(ref);
    }
}

static void test_modulate(void) {
    sn_tensor x = RND(3, 7, 13), shift = RND(3, 13), scale = RND(3, 13);
    float *ref = ref_buf(sn_numel(x));
    for (int n = 0; n < 3; n++)
        for (int l = 0; l < 7; l++)
            for (int d = 0; d < 13; d++)
                ref[(n * 7 + l) * 13 + d] =
                    (float)((double)F(x)[(n * 7 + l) * 13 + d] * (1.0 + F(scale)[n * 13 + d]) +
                            F(shift)[n * 13 + d]);
    EXPECT(sn_modulate(ctx, x, shift, scale), ref, TOL, "modulate", 3, 7, 13);
    free(ref);
}

/* --- products ------------------------------------------------------------------------ */

static void test_linear(void) {
    const struct {
        shape_t x;
        int64_t out;
        int bias;
    } cases[] = {
        {{3, {2, 7, 13}}, 5, 1},
        {{1, {13}}, 1, 0},
        {{5, {3, 1, 1, 2, 31}}, 17, 1},
        {{2, {257, 64}}, 96, 1},
    };
    for (int k = 0; k < 4; k++) {
        sn_tensor x = uniform(-1, 1, cases[k].x.nd, cases[k].x.d);
        int64_t in = x.shape[x.ndim - 1], out = cases[k].out, rows = sn_numel(x) / in;
        sn_tensor w = RND(out, in), b = cases[k].bias ? RND(out) : sn_none();
        float *ref = ref_buf(rows * out);
        for (int64_t r = 0; r < rows; r++)
            for (int64_t o = 0; o < out; o++) {
                double s = sn_has(b) ? F(b)[o] : 0;
                for (int64_t i = 0; i < in; i++) s += (double)F(x)[r * in + i] * F(w)[o * in + i];
                ref[r * out + o] = (float)s;
            }
        int64_t shape[SN_MAX_DIMS];
        memcpy(shape, x.shape, sizeof shape);
        shape[x.ndim - 1] = out;
        char what[32];
        snprintf(what, sizeof what, "linear case %d", k);
        expect(sn_linear(ctx, x, w, b), ref, TOL, what, x.ndim, shape);
        free(ref);
    }
}

static void test_matmul(void) {
    const struct {
        shape_t lead;
        int64_t m, k, n;
    } cases[] = {
        {{2, {2, 3}}, 7, 13, 5},
        {{0, {0}}, 7, 13, 1},
        {{0, {0}}, 1, 1, 1},
        {{1, {4}}, 65, 33, 70},
    };
    for (int c = 0; c < 4; c++) {
        int nd = cases[c].lead.nd + 2;
        int64_t m = cases[c].m, k = cases[c].k, n = cases[c].n, sa[5], sb[5], so[5];
        for (int i = 0; i < nd - 2; i++) sa[i] = sb[i] = so[i] = cases[c].lead.d[i];
        sa[nd - 2] = m, sa[nd - 1] = k, sb[nd - 2] = k, sb[nd - 1] = n, so[nd - 2] = m,
                so[nd - 1] = n;
        sn_tensor a = uniform(-1, 1, nd, sa), b = uniform(-1, 1, nd, sb);
        int64_t batch = numel_of(nd - 2, sa);
        float *ref = ref_buf(batch * m * n);
        for (int64_t t = 0; t < batch; t++)
            for (int64_t i = 0; i < m; i++)
                for (int64_t j = 0; j < n; j++) {
                    double s = 0;
                    for (int64_t l = 0; l < k; l++)
                        s += (double)F(a)[(t * m + i) * k + l] * F(b)[(t * k + l) * n + j];
                    ref[(t * m + i) * n + j] = (float)s;
                }
        char what[32];
        snprintf(what, sizeof what, "matmul case %d", c);
        expect(sn_matmul(ctx, a, b), ref, TOL, what, nd, so);
        free(ref);
    }
}

typedef struct {
    int64_t n, cin, h, w, cout, kh, kw;
    sn_conv2d_params p;
    int bias;
} conv_case;

static void ref_conv2d(const conv_case *c, const float *x, const float *w, const float *b, float *y,
                       int64_t oh, int64_t ow) {
    int sh = c->p.stride[0] ? c->p.stride[0] : 1, sw = c->p.stride[1] ? c->p.stride[1] : 1;
    int dh = c->p.dilation[0] ? c->p.dilation[0] : 1, dw = c->p.dilation[1] ? c->p.dilation[1] : 1;
    int g = c->p.groups ? c->p.groups : 1;
    int64_t cg = c->cin / g, og = c->cout / g;
    for (int64_t n = 0; n < c->n; n++)
        for (int64_t co = 0; co < c->cout; co++)
            for (int64_t oy = 0; oy < oh; oy++)
                for (int64_t ox = 0; ox < ow; ox++) {
                    double s = b ? b[co] : 0;
                    for (int64_t ci = 0; ci < cg; ci++)
                        for (int64_t ky = 0; ky < c->kh; ky++)
                            for (int64_t kx = 0; kx < c->kw; kx++) {
                                int64_t iy = oy * sh - c->p.padding[0] + ky * dh;
                                int64_t ix = ox * sw - c->p.padding[1] + kx * dw;
                                if (iy < 0 || iy >= c->h || ix < 0 || ix >= c->w) continue;
                                s += (double)
                                         x[((n * c->cin + co / og * cg + ci) * c->h + iy) * c->w +
                                           ix] *
                                     w[((co * cg + ci) * c->kh + ky) * c->kw + kx];
                            }
                    y[((n * c->cout + co) * oh + oy) * ow + ox] = (float)s;
                }
}

static void test_conv2d(void) {
    const conv_case cases[] = {
        {2, 3, 13, 7, 5, 3, 3, {.padding = {1, 1}}, 1},
        {1, 3, 17, 11, 4, 3, 2, {.stride = {2, 2}, .padding = {0, 2}, .dilation = {2, 1}}, 1},
        {2,
         4,
         9,
         10,
         6,
         3,
         3,
         {.stride = {1, 2}, .padding = {1, 1}, .dilation = {2, 2}, .groups = 2},
         0},
        {2, 6, 11, 8, 6, 5, 5, {.padding = {2, 2}, .groups = 6}, 1}, /* depthwise */
        {1, 3, 7, 9, 6, 3, 3, {.stride = {2, 3}, .padding = {1, 2}, .groups = 3}, 1}, /* x2 */
        {2, 7, 9, 11, 13, 1, 1, {.groups = 1}, 1},     /* pointwise */
        {1, 6, 5, 7, 4, 1, 1, {.groups = 2}, 0},       /* pointwise, grouped */
        {1, 5, 9, 8, 3, 1, 1, {.stride = {2, 2}}, 1},  /* 1x1 strided */
        {1, 5, 4, 3, 3, 1, 1, {.padding = {1, 2}}, 1}, /* 1x1 padded */
        {1, 2, 4, 5, 3, 4, 5, {.groups = 1}, 1},       /* kernel = input */
        {1, 1, 1, 1, 1, 1, 1, {.padding = {3, 0}, .stride = {3, 1}}, 1},
        {1, 32, 33, 31, 32, 3, 3, {.padding = {1, 1}}, 1},
        /* more columns than fit the 32 MiB buffer: chunks of whole output rows */
        {1, 2, 1001, 999, 4, 3, 3, {.padding = {1, 1}, .groups = 2}, 1},
        /* one pixel's columns alone exceed it: chunks of single pixels within a row */
        {1, 2, 2050, 2052, 1, 2050, 2050, {.groups = 1}, 1},
    };
    int ncases = sizeof cases / sizeof cases[0];
    for (int k = 0; k < ncases; k++) {
        const conv_case *c = &cases[k];
        int g = c->p.groups ? c->p.groups : 1;
        int sh = c->p.stride[0] ? c->p.stride[0] : 1, sw = c->p.stride[1] ? c->p.stride[1] : 1;
        int dh = c->p.dilation[0] ? c->p.dilation[0] : 1,
            dw = c->p.dilation[1] ? c->p.dilation[1] : 1;
        int64_t oh = (c->h + 2 * c->p.padding[0] - dh * (c->kh - 1) - 1) / sh + 1;
        int64_t ow = (c->w + 2 * c->p.padding[1] - dw * (c->kw - 1) - 1) / sw + 1;
        sn_tensor x = RND(c->n, c->cin, c->h, c->w), w = RND(c->cout, c->cin / g, c->kh, c->kw);
        sn_tensor b = c->bias ? RND(c->cout) : sn_none();
        float *ref = ref_buf(c->n * c->cout * oh * ow);
        ref_conv2d(c, F(x), F(w), sn_has(b) ? F(b) : NULL, ref, oh, ow);
        char what[32];
        snprintf(what, sizeof what, "conv2d case %d", k);
        EXPECT(sn_conv2d(ctx, x, w, b, &c->p), ref, TOL, what, c->n, c->cout, oh, ow);
        free(ref);
        sn_arena_reset(ctx);
    }
    /* params may be NULL: stride 1, no padding, no dilation, one group */
    sn_tensor x = RND(1, 2, 5, 6), w = RND(3, 2, 3, 3);
    conv_case c = {1, 2, 5, 6, 3, 3, 3, {.groups = 1}, 0};
    float ref[3 * 3 * 4];
    ref_conv2d(&c, F(x), F(w), NULL, ref, 3, 4);
    EXPECT(sn_conv2d(ctx, x, w, sn_none(), NULL), ref, TOL, "conv2d NULL params", 1, 3, 3, 4);
}

/* --- attention ----------------------------------------------------------------------- */

/* One output row: softmax(q k^T * scale) v for query row q. */
static void ref_attention_row(const float *q, const float *k, const float *v, float *y, int64_t lk,
                              int64_t d, int64_t dv, double scale) {
    double *s = malloc(lk * sizeof *s), mx = -INFINITY, sum = 0;
    for (int64_t j = 0; j < lk; j++) {
        double dot = 0;
        for (int64_t i = 0; i < d; i++) dot += (double)q[i] * k[j * d + i];
        s[j] = dot * scale;
        mx = s[j] > mx ? s[j] : mx;
    }
    for (int64_t j = 0; j < lk; j++) sum += s[j] = exp(s[j] - mx);
    for (int64_t i = 0; i < dv; i++) {
        double o = 0;
        for (int64_t j = 0; j < lk; j++) o += s[j] * v[j * dv + i];
        y[i] = (float)(o / sum);
    }
    free(s);
}

static void test_attention(void) {
    const struct {
        int64_t n, h, lq, lk, d, dv;
        float scale; /* 0: default */
        int null_spec;
    } cases[] = {
        {2, 3, 17, 29, 13, 13, 0, 0},    /* Lq != Lk */
        {1, 2, 1, 1, 8, 8, 0, 1},        /* L = 1, spec NULL */
        {1, 1, 300, 300, 7, 7, 0.3f, 0}, /* L not a multiple of the 256-row block */
        {2, 1, 513, 40, 5, 9, 0, 0},     /* Dv != D, several blocks */
        {1, 4, 64, 257, 64, 64, 0, 1},
    };
    for (int c = 0; c < 5; c++) {
        int64_t n = cases[c].n, h = cases[c].h, lq = cases[c].lq, lk = cases[c].lk;
        int64_t d = cases[c].d, dv = cases[c].dv;
        sn_tensor q = uniform(-2, 2, SN_SHAPE(n, h, lq, d)),
                  k = uniform(-2, 2, SN_SHAPE(n, h, lk, d));
        sn_tensor v = RND(n, h, lk, dv);
        double scale = cases[c].scale ? cases[c].scale : 1 / sqrt((double)d);
        float *ref = ref_buf(n * h * lq * dv);
        for (int64_t t = 0; t < n * h; t++)
            for (int64_t r = 0; r < lq; r++)
                ref_attention_row(F(q) + (t * lq + r) * d, F(k) + t * lk * d, F(v) + t * lk * dv,
                                  ref + (t * lq + r) * dv, lk, d, dv, scale);
        sn_attn_spec spec = {.kind = SN_ATTN_FULL, .scale = cases[c].scale};
        sn_tensor y = sn_attention(ctx, q, k, v, cases[c].null_spec ? NULL : &spec);
        char what[32];
        snprintf(what, sizeof what, "attention case %d", c);
        EXPECT(y, ref, TOL, what, n, h, lq, dv);
        free(ref);
    }
}

/* 16k tokens in a 128 MiB arena: a full score matrix (1 GiB) cannot fit. Checked on a
 * sample of query rows, including both sides of block boundaries. */
static void test_attention_long(void) {
    enum { L = 16384, D = 8 };
    char err[256];
    sn_ctx *small = sn_ctx_new(
        &(sn_ctx_opts){.device = SN_CPU, .threads = 2, .arena_bytes = 128 << 20}, err, sizeof err);
    CHECK(small != NULL);
    if (!small) return;
    sn_tensor q = uniform(-2, 2, SN_SHAPE(1, 1, L, D)), k = uniform(-2, 2, SN_SHAPE(1, 1, L, D));
    sn_tensor v = RND(1, 1, L, D);
    sn_tensor y = sn_attention(small, q, k, v, NULL);
    CHECKF(sn_has(y), "long attention: %s", sn_error(small));
    CHECK(sn_arena_peak(small) <= (size_t)L * D * 4 + (40u << 20));
    const int64_t rows[] = {0, 1, 255, 256, 257, 511, 512, 4097, 8191, 12345, L - 2, L - 1};
    float got[12 * D], ref[12 * D];
    for (int i = 0; sn_has(y) && i < 12; i++) {
        ref_attention_row(F(q) + rows[i] * D, F(k), F(v), ref + i * D, L, D, D, 1 / sqrt(D));
        memcpy(got + i * D, F(y) + rows[i] * D, D * sizeof(float));
    }
    if (sn_has(y)) CHECK_CLOSE(got, ref, 12 * D, TOL, "attention L=16384");
    sn_ctx_free(small);
}

/* Causal masking and an additive bias against the definition in double: scores
 * s_ij = scale q_i.k_j + bias[n, h, i, j] (broadcast on its size-1 axes), keys j > i dropped
 * when causal (top-left: row i of Lq sees keys 0..min(i, Lk - 1), as torch's is_causal), then
 * softmax and v. A row whose scores are all -inf is defined to give zeros. */
static void ref_attention_masked(sn_tensor q, sn_tensor k, sn_tensor v, sn_tensor bias,
                                 int causal, double scale, float *y) {
    int64_t n = q.shape[0], h = q.shape[1], lq = q.shape[2], lk = k.shape[2], d = q.shape[3];
    int64_t dv = v.shape[3];
    double *s = malloc(lk * sizeof *s);
    for (int64_t b = 0; b < n; b++)
        for (int64_t hh = 0; hh < h; hh++)
            for (int64_t i = 0; i < lq; i++) {
                const float *qi = F(q) + ((b * h + hh) * lq + i) * d;
                const float *kb = F(k) + (b * h + hh) * lk * d, *vb = F(v) + (b * h + hh) * lk * dv;
                float *yi = y + ((b * h + hh) * lq + i) * dv;
                double mx = -INFINITY, sum = 0;
                for (int64_t j = 0; j < lk; j++) {
                    double dot = 0;
                    for (int64_t t = 0; t < d; t++) dot += (double)qi[t] * kb[j * d + t];
                    s[j] = dot * scale;
                    if (sn_has(bias)) {
                        const int64_t *bs = bias.shape;
                        int64_t at = (((bs[0] == 1 ? 0 : b) * bs[1] + (bs[1] == 1 ? 0 : hh)) * bs[2] +
                                      (bs[2] == 1 ? 0 : i)) * bs[3] + (bs[3] == 1 ? 0 : j);
                        s[j] += F(bias)[at];
                    }
                    if (causal && j > i) s[j] = -INFINITY;
                    mx = s[j] > mx ? s[j] : mx;
                }
                for (int64_t t = 0; t < dv; t++) yi[t] = 0;
                if (mx == -INFINITY) continue;
                for (int64_t j = 0; j < lk; j++) sum += s[j] = exp(s[j] - mx);
                for (int64_t t = 0; t < dv; t++) {
                    double o = 0;
                    for (int64_t j = 0; j < lk; j++) o += s[j] * vb[j * dv + t];
                    yi[t] = (float)(o / sum);
                }
            }
    free(s);
}

static void test_attention_masked(void) {
    const struct {
        int64_t n, h, lq, lk, d, dv;
        int causal;
        int64_t bias[4]; /* 0: no bias */
        float scale;
        int mask_keys;   /* fill the bias with -1e30 on some keys (a padding mask) */
        const char *what;
    } cases[] = {
        {2, 3, 300, 300, 8, 8, 1, {0}, 0, 0, "causal, 2 blocks"},
        {1, 2, 600, 600, 5, 7, 1, {0}, 0, 0, "causal, 3 blocks, packed score width"},
        {2, 2, 17, 29, 6, 6, 1, {0}, 0, 0, "causal Lq < Lk"},
        {2, 2, 29, 17, 6, 6, 1, {0}, 0, 0, "causal Lq > Lk"},
        {2, 3, 19, 23, 8, 5, 0, {2, 3, 19, 23}, 0, 0, "full bias"},
        {2, 4, 40, 40, 16, 16, 0, {1, 4, 40, 40}, 1.0f, 0, "T5 position bias, scale 1"},
        {3, 2, 21, 21, 8, 8, 0, {3, 1, 1, 21}, 0, 1, "key padding mask"},
        {2, 2, 300, 300, 8, 8, 1, {2, 1, 1, 300}, 0, 1, "causal + key padding mask"},
        {1, 2, 13, 300, 4, 4, 0, {1, 1, 13, 1}, 0, 0, "per-row bias (no effect after softmax)"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t n = cases[c].n, h = cases[c].h, lq = cases[c].lq, lk = cases[c].lk;
        sn_tensor q = uniform(-2, 2, SN_SHAPE(n, h, lq, cases[c].d));
        sn_tensor k = uniform(-2, 2, SN_SHAPE(n, h, lk, cases[c].d));
        sn_tensor v = RND(n, h, lk, cases[c].dv), bias = sn_none();
        if (cases[c].bias[0]) {
            bias = uniform(-3, 3, 4, cases[c].bias);
            for (int64_t i = 0; cases[c].mask_keys && i < sn_numel(bias); i++)
                if (i % cases[c].bias[3] % 5 == 3 || i % cases[c].bias[3] >= cases[c].bias[3] - 4)
                    F(bias)[i] = -1e30f; /* never key 0, so no row is fully masked */
        }
        double scale = cases[c].scale ? cases[c].scale : 1 / sqrt((double)cases[c].d);
        float *ref = ref_buf(n * h * lq * cases[c].dv);
        ref_attention_masked(q, k, v, bias, cases[c].causal, scale, ref);
        sn_attn_spec spec = {.kind = SN_ATTN_FULL, .scale = cases[c].scale,
                             .causal = cases[c].causal, .bias = bias};
        EXPECT(sn_attention(ctx, q, k, v, &spec), ref, TOL, cases[c].what, n, h, lq, cases[c].dv);
        free(ref);
        sn_arena_reset(ctx);
    }

    /* -inf entries: row 1 of each head is fully masked and must come out as zeros, not NaN;
     * the other rows lose keys 2 and 4 only. */
    sn_tensor q = RND(1, 2, 5, 4), k = RND(1, 2, 6, 4), v = RND(1, 2, 6, 3);
    sn_tensor bias = sn_persist_tensor(ctx, SN_F32, SN_SHAPE(1, 1, 5, 6));
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 6; j++)
            F(bias)[i * 6 + j] = i == 1 || j == 2 || j == 4 ? -INFINITY : 0.0f;
    float ref[2 * 5 * 3];
    ref_attention_masked(q, k, v, bias, 0, 0.5, ref);
    sn_attn_spec spec = {.kind = SN_ATTN_FULL, .bias = bias};
    sn_tensor y = sn_attention(ctx, q, k, v, &spec);
    EXPECT(y, ref, TOL, "-inf bias with a fully masked row", 1, 2, 5, 3);
    int zero = sn_has(y);
    for (int hh = 0; zero && hh < 2; hh++)
        for (int t = 0; t < 3; t++) zero &= F(y)[(hh * 5 + 1) * 3 + t] == 0.0f;
    CHECKF(zero, "a fully masked row must be zeros");
    /* causal with every visible key at -inf is fully masked too */
    for (int j = 0; j < 6; j++) F(bias)[j] = j == 0 ? -INFINITY : 0.0f;
    spec.causal = 1;
    ref_attention_masked(q, k, v, bias, 1, 0.5, ref);
    EXPECT(sn_attention(ctx, q, k, v, &spec), ref, TOL, "causal row 0 masked", 1, 2, 5, 3);
}

/* --- layout -------------------------------------------------------------------------- */

static void ref_permute(const char *x, char *y, size_t es, int nd, const int64_t *shape,
                        const int *perm) {
    int64_t stride[SN_MAX_DIMS], n = numel_of(nd, shape);
    for (int i = nd - 1, s = 1; i >= 0; s *= shape[i], i--) stride[i] = s;
    for (int64_t o = 0; o < n; o++) {
        int64_t rest = o, off = 0;
        for (int i = nd - 1; i >= 0; i--) {
            off += rest % shape[perm[i]] * stride[perm[i]];
            rest /= shape[perm[i]];
        }
        memcpy(y + o * es, x + off * es, es);
    }
}

/* Every permutation of nd axes, as the base-nd numbers with distinct digits. */
static void check_all_permutations(sn_tensor x) {
    int nd = x.ndim, total = 1, checked = 0, factorial = 1;
    for (int i = 0; i < nd; i++) total *= nd, factorial *= i + 1;
    sn_tensor ref = sn_persist_tensor(ctx, x.dtype, x.ndim, x.shape);
    for (int code = 0; code < total; code++) {
        int perm[SN_MAX_DIMS], used = 0, ok = 1;
        for (int i = 0, c = code; i < nd; i++, c /= nd) {
            perm[i] = c % nd;
            ok &= !(used >> perm[i] & 1);
            used |= 1 << perm[i];
        }
        if (!ok) continue;
        ref_permute(x.data, ref.data, sn_dtype_size(x.dtype), nd, x.shape, perm);
        for (int i = 0; i < nd; i++) ref.shape[i] = x.shape[perm[i]];
        char what[64];
        snprintf(what, sizeof what, "permute %s rank %d code %d", sn_dtype_name(x.dtype), nd, code);
        expect_bytes(sn_permute(ctx, x, perm), ref, what);
        checked++;
    }
    CHECK(checked == factorial);
    sn_arena_reset(ctx);
}

static sn_tensor random_of(sn_dtype dt, int nd, const int64_t *shape) {
    sn_tensor t = sn_persist_tensor(ctx, dt, nd, shape);
    unsigned char *p = t.data;
    for (size_t i = 0; i < sn_nbytes(t); i++) p[i] = (unsigned char)check_u64();
    return t;
}

static void test_permute(void) {
    check_all_permutations(RND(2, 3, 5, 7));
    check_all_permutations(RND(2, 3, 1, 4, 5));
    check_all_permutations(random_of(SN_F16, SN_SHAPE(3, 1, 5, 2, 7)));
    check_all_permutations(random_of(SN_U8, SN_SHAPE(2, 9, 3, 5)));
    check_all_permutations(RND(13, 7));
    check_all_permutations(RND(300, 257)); /* large enough to run threaded */
    check_all_permutations(RND(1));
}

static void test_concat_slice_split(void) {
    /* three tensors of (2, 3, 4) with the joined axis resized to 1, 2 and 3 */
    for (int axis = -1; axis < 3; axis++) {
        int ax = axis < 0 ? 2 : axis;
        sn_tensor xs[3];
        int64_t shape[3] = {2, 3, 4}, out[3] = {2, 3, 4};
        out[ax] = 6;
        for (int i = 0; i < 3; i++) {
            shape[ax] = i + 1;
            xs[i] = random_of(SN_I32, 3, shape);
        }
        sn_tensor ref = sn_persist_tensor(ctx, SN_I32, 3, out);
        for (int64_t i = 0; i < numel_of(3, out); i++) {
            int64_t idx[3] = {i / (out[1] * out[2]), i / out[2] % out[1], i % out[2]};
            int piece = idx[ax] < 1 ? 0 : idx[ax] < 3 ? 1 : 2;
            idx[ax] -= piece == 0 ? 0 : piece == 1 ? 1 : 3;
            const sn_tensor *p = &xs[piece];
            ((int32_t *)ref.data)[i] =
                ((int32_t *)p->data)[(idx[0] * p->shape[1] + idx[1]) * p->shape[2] + idx[2]];
        }
        char what[32];
        snprintf(what, sizeof what, "concat axis %d", axis);
        expect_bytes(sn_concat(ctx, xs, 3, axis), ref, what);

        /* slicing the pieces back out of the result */
        sn_tensor y = sn_concat(ctx, xs, 3, axis);
        for (int i = 0; i < 3; i++) {
            snprintf(what, sizeof what, "slice axis %d piece %d", axis, i);
            expect_bytes(sn_slice(ctx, y, axis, i == 0 ? 0 : i == 1 ? 1 : 3, i + 1), xs[i], what);
        }
    }
    sn_tensor one = RND(5, 7);
    expect_bytes(sn_concat(ctx, &one, 1, 0), one, "concat of one");
    expect_bytes(sn_slice(ctx, one, 1, 0, 7), one, "slice of everything");
    expect_bytes(sn_copy(ctx, one), one, "copy");

    /* split (2, 6, 5) along axis 1 into three (2, 2, 5) */
    sn_tensor x = RND(2, 6, 5), parts[5];
    sn_split(ctx, x, 1, 3, parts);
    for (int i = 0; i < 3; i++) {
        sn_tensor ref = sn_persist_tensor(ctx, SN_F32, SN_SHAPE(2, 2, 5));
        for (int a = 0; a < 2; a++)
            for (int b = 0; b < 2; b++)
                for (int c = 0; c < 5; c++)
                    F(ref)[(a * 2 + b) * 5 + c] = F(x)[(a * 6 + 2 * i + b) * 5 + c];
        expect_bytes(parts[i], ref, "split");
    }
    sn_split(ctx, x, -1, 5, parts);
    CHECK(sn_ok(ctx) && parts[4].shape[2] == 1 && F(parts[4])[0] == F(x)[4]);
}

static void test_pad_upsample_pool(void) {
    sn_tensor x = RND(2, 3, 5, 7);
    const int pads[][4] = {{1, 2, 3, 0}, {0, 0, 0, 0}, {4, 0, 0, 1}};
    for (int k = 0; k < 3; k++) {
        int l = pads[k][0], r = pads[k][1], t = pads[k][2], b = pads[k][3];
        int64_t oh = 5 + t + b, ow = 7 + l + r;
        float *ref = ref_buf(6 * oh * ow);
        for (int p = 0; p < 6; p++)
            for (int64_t y = 0; y < oh; y++)
                for (int64_t z = 0; z < ow; z++) {
                    int64_t iy = y - t, iz = z - l;
                    ref[(p * oh + y) * ow + z] =
                        iy < 0 || iy >= 5 || iz < 0 || iz >= 7 ? 0 : F(x)[(p * 5 + iy) * 7 + iz];
                }
        EXPECT(sn_pad2d(ctx, x, l, r, t, b), ref, 0, "pad2d", 2, 3, oh, ow);
        free(ref);
    }

    const int factors[][2] = {{2, 3}, {1, 1}, {3, 1}};
    for (int k = 0; k < 3; k++) {
        int fh = factors[k][0], fw = factors[k][1];
        float *ref = ref_buf(6 * 5 * fh * 7 * fw);
        for (int p = 0; p < 6; p++)
            for (int y = 0; y < 5 * fh; y++)
                for (int z = 0; z < 7 * fw; z++)
                    ref[(p * 5 * fh + y) * 7 * fw + z] = F(x)[(p * 5 + y / fh) * 7 + z / fw];
        EXPECT(sn_upsample_nearest(ctx, x, fh, fw), ref, 0, "upsample_nearest", 2, 3, 5 * fh,
               7 * fw);
        free(ref);
    }
    sn_tensor x2 = RND(3, 4);
    float up2[3 * 2 * 4 * 2];
    for (int y = 0; y < 6; y++)
        for (int z = 0; z < 8; z++) up2[y * 8 + z] = F(x2)[y / 2 * 4 + z / 2];
    EXPECT(sn_upsample_nearest(ctx, x2, 2, 2), up2, 0, "upsample_nearest 2-d", 6, 8);

    const int kernels[][2] = {{3, 2}, {1, 1}, {13, 11}, {2, 2}};
    sn_tensor xp = RND(2, 3, 13, 11);
    for (int k = 0; k < 4; k++) {
        int kh = kernels[k][0], kw = kernels[k][1], oh = 13 / kh, ow = 11 / kw;
        float *ref = ref_buf(6 * oh * ow);
        for (int p = 0; p < 6; p++)
            for (int y = 0; y < oh; y++)
                for (int z = 0; z < ow; z++) {
                    double s = 0;
                    for (int i = 0; i < kh; i++)
                        for (int j = 0; j < kw; j++)
                            s += F(xp)[(p * 13 + y * kh + i) * 11 + z * kw + j];
                    ref[(p * oh + y) * ow + z] = (float)(s / (kh * kw));
                }
        EXPECT(sn_avg_pool2d(ctx, xp, kh, kw), ref, TOL, "avg_pool2d", 2, 3, oh, ow);
        free(ref);
    }
}

static void test_patchify(void) {
    const struct {
        int64_t n, c, h, w;
        int p;
    } cases[] = {{2, 3, 8, 12, 4}, {1, 4, 6, 4, 2}, {1, 1, 5, 3, 1}, {3, 2, 7, 7, 7}};
    for (int k = 0; k < 4; k++) {
        int64_t n = cases[k].n, c = cases[k].c, H = cases[k].h, W = cases[k].w;
        int p = cases[k].p;
        int64_t h = H / p, w = W / p;
        sn_tensor x = RND(n, c, H, W);
        float *ref = ref_buf(sn_numel(x));
        for (int64_t b = 0; b < n; b++)
            for (int64_t ch = 0; ch < c; ch++)
                for (int64_t i = 0; i < h; i++)
                    for (int64_t j = 0; j < w; j++)
                        for (int py = 0; py < p; py++)
                            for (int px = 0; px < p; px++)
                                ref[(b * h * w + i * w + j) * c * p * p + (ch * p + py) * p + px] =
                                    F(x)[((b * c + ch) * H + i * p + py) * W + j * p + px];
        EXPECT(sn_patchify(ctx, x, p), ref, 0, "patchify", n, h * w, c * p * p);

        /* unpatchify reads features as (py, px, c) */
        sn_tensor t = RND(n, h * w, p * p * c);
        for (int64_t b = 0; b < n; b++)
            for (int64_t ch = 0; ch < c; ch++)
                for (int64_t i = 0; i < h; i++)
                    for (int64_t j = 0; j < w; j++)
                        for (int py = 0; py < p; py++)
                            for (int px = 0; px < p; px++)
                                ref[((b * c + ch) * H + i * p + py) * W + j * p + px] =
                                    F(t)[(b * h * w + i * w + j) * p * p * c + (py * p + px) * c +
                                         ch];
        EXPECT(sn_unpatchify(ctx, t, p, (int)h, (int)w, (int)c), ref, 0, "unpatchify", n, c, H, W);
        free(ref);
    }
}

/* --- casts --------------------------------------------------------------------------- */

static sn_tensor wrap(void *data, sn_dtype dt, int64_t n) {
    return sn_tensor_wrap(data, dt, 1, &n);
}

static void test_cast(void) {
    enum { N = 200003 }; /* several parallel slices */
    sn_tensor x = uniform(-70000, 70000, SN_SHAPE(N));
    const float special[] = {0.0f,     -0.0f,     1.0f, 65504.0f, 65520.0f, 1e-8f, 6e-5f, -3e-7f,
                             INFINITY, -INFINITY, NAN,  1e10f,    3.0e38f,  0.1f,  -2.5f};
    memcpy(F(x), special, sizeof special);
    for (int i = 16; i < 1000; i++) F(x)[i] *= 1e-6f; /* subnormal f16 range */
    uint16_t *h = malloc(N * 2), *bf = malloc(N * 2);
    float *back = malloc(N * 4), *bback = malloc(N * 4);
    for (int i = 0; i < N; i++) {
        h[i] = sn_f32_to_f16(F(x)[i]);
        bf[i] = sn_f32_to_bf16(F(x)[i]);
        back[i] = sn_f16_to_f32(h[i]);
        bback[i] = sn_bf16_to_f32(bf[i]);
    }
    sn_tensor y16 = sn_cast(ctx, x, SN_F16), yb = sn_cast(ctx, x, SN_BF16);
    expect_bytes(y16, wrap(h, SN_F16, N), "cast f32 -> f16");
    expect_bytes(sn_cast(ctx, y16, SN_F32), wrap(back, SN_F32, N), "cast f32 -> f16 -> f32");
    expect_bytes(yb, wrap(bf, SN_BF16, N), "cast f32 -> bf16");
    expect_bytes(sn_cast(ctx, yb, SN_F32), wrap(bback, SN_F32, N), "cast f32 -> bf16 -> f32");
    for (int i = 0; i < N; i++) bf[i] = sn_f32_to_bf16(sn_f16_to_f32(h[i]));
    expect_bytes(sn_cast(ctx, y16, SN_BF16), wrap(bf, SN_BF16, N), "cast f16 -> bf16");
    expect_bytes(sn_cast(ctx, x, SN_F32), x, "cast f32 -> f32");
    free(h), free(bf), free(back), free(bback);

    /* to integers: truncation toward zero, saturated (NaN gives 0) */
    float f[] = {-2.7f, 2.7f, -0.5f, 1e10f, -1e10f, NAN, 3.0f, 254.99f, 300.0f, 7.5f};
    int32_t want_i[] = {-2, 2, 0, INT32_MAX, INT32_MIN, 0, 3, 254, 300, 7};
    uint8_t want_u[] = {0, 2, 0, 255, 0, 0, 3, 254, 255, 7};
    sn_tensor tf = wrap(f, SN_F32, 10);
    expect_bytes(sn_cast(ctx, tf, SN_I32), wrap(want_i, SN_I32, 10), "cast f32 -> i32");
    expect_bytes(sn_cast(ctx, tf, SN_U8), wrap(want_u, SN_U8, 10), "cast f32 -> u8");
    int32_t ints[] = {-1, 256, 100, 16777217, -7};
    uint8_t ints_u8[] = {0, 255, 100, 255, 0};
    float ints_f[] = {-1, 256, 100, 16777216, -7};
    expect_bytes(sn_cast(ctx, wrap(ints, SN_I32, 5), SN_U8), wrap(ints_u8, SN_U8, 5), "i32 -> u8");
    expect_bytes(sn_cast(ctx, wrap(ints, SN_I32, 5), SN_F32), wrap(ints_f, SN_F32, 5),
                 "i32 -> f32");
    uint8_t bytes[] = {0, 1, 127, 255};
    float bytes_f[] = {0, 1, 127, 255};
    int32_t bytes_i[] = {0, 1, 127, 255};
    uint16_t bytes_h[4];
    for (int i = 0; i < 4; i++) bytes_h[i] = sn_f32_to_f16(bytes_f[i]);
    expect_bytes(sn_cast(ctx, wrap(bytes, SN_U8, 4), SN_F32), wrap(bytes_f, SN_F32, 4),
                 "u8 -> f32");
    expect_bytes(sn_cast(ctx, wrap(bytes, SN_U8, 4), SN_I32), wrap(bytes_i, SN_I32, 4),
                 "u8 -> i32");
    expect_bytes(sn_cast(ctx, wrap(bytes, SN_U8, 4), SN_F16), wrap(bytes_h, SN_F16, 4),
                 "u8 -> f16");
    expect_bytes(sn_cast(ctx, wrap(bytes_h, SN_F16, 4), SN_U8), wrap(bytes, SN_U8, 4), "f16 -> u8");
}

/* --- errors -------------------------------------------------------------------------- */

/* The op failed, left the empty tensor, and its message starts with the op's name and
 * contains `detail`; then the error is cleared. */
static void expect_error(sn_tensor y, const char *op, const char *detail) {
    const char *e = sn_error(ctx);
    CHECKF(!sn_has(y) && !sn_ok(ctx) && strncmp(e, op, strlen(op)) == 0 && e[strlen(op)] == ':' &&
               strstr(e, detail) != NULL,
           "expected a '%s' error naming '%s', got '%s'", op, detail, e);
    sn_clear_error(ctx);
}

static void test_errors(void) {
    sn_tensor a = RND(2, 3), b = RND(4, 3), x4 = RND(1, 4, 5, 5), w = RND(2, 2, 3, 3);

    sn_tensor y = sn_add(ctx, a, b);
    CHECK(!sn_has(y) && !sn_ok(ctx));
    CHECK(strstr(sn_error(ctx), "add") && strstr(sn_error(ctx), "[2, 3]") &&
          strstr(sn_error(ctx), "[4, 3]"));
    /* sticky: later ops do nothing and keep the first message */
    CHECK(!sn_has(sn_silu(ctx, a)) && !sn_has(sn_conv2d(ctx, x4, w, sn_none(), NULL)));
    sn_tensor parts[3] = {a, a, a};
    sn_split(ctx, a, 1, 3, parts);
    CHECK(!sn_has(parts[0]) && !sn_has(parts[1]) && !sn_has(parts[2]));
    CHECK(strncmp(sn_error(ctx), "add:", 4) == 0);
    sn_clear_error(ctx);
    CHECK(sn_ok(ctx) && sn_has(sn_silu(ctx, a)));

    expect_error(sn_mul(ctx, RND(3, 1, 5), RND(2, 4)), "mul", "do not broadcast");
    expect_error(sn_silu(ctx, sn_none()), "silu", "empty");
    sn_tensor elsewhere = a;
    elsewhere.device = SN_CUDA;
    expect_error(sn_relu(ctx, elsewhere), "relu", "on the cuda");
    expect_error(sn_gelu(ctx, random_of(SN_F16, SN_SHAPE(4)), SN_GELU_EXACT), "gelu", "f16");
    expect_error(sn_gelu(ctx, a, (sn_gelu_kind)7), "gelu", "kind");
    expect_error(sn_linear(ctx, a, RND(5, 4), sn_none()), "linear", "[5, 4]");
    expect_error(sn_linear(ctx, a, RND(5, 3), RND(4)), "linear", "[4]");
    expect_error(sn_matmul(ctx, RND(2, 3, 4), RND(3, 4, 5)), "matmul", "[3, 4, 5]");
    expect_error(sn_conv2d(ctx, x4, RND(2, 3, 3, 3), sn_none(), &(sn_conv2d_params){.groups = 2}),
                 "conv2d", "groups");
    expect_error(sn_conv2d(ctx, x4, RND(2, 4, 7, 3), sn_none(), NULL), "conv2d", "does not fit");
    expect_error(
        sn_conv2d(ctx, x4, RND(2, 4, 3, 3), sn_none(), &(sn_conv2d_params){.dilation = {3, 1}}),
        "conv2d", "does not fit");
    expect_error(
        sn_conv2d(ctx, x4, RND(2, 4, 3, 3), sn_none(), &(sn_conv2d_params){.stride = {-1, 1}}),
        "conv2d", "negative");
    expect_error(sn_conv2d(ctx, RND(4, 5, 5), w, sn_none(), NULL), "conv2d", "(N, C, H, W)");
    expect_error(sn_group_norm(ctx, x4, 3, sn_none(), sn_none(), 1e-5f), "group_norm", "3 groups");
    expect_error(sn_group_norm(ctx, x4, 2, RND(5), sn_none(), 1e-5f), "group_norm", "[5]");
    expect_error(sn_layer_norm(ctx, a, RND(2), sn_none(), 1e-5f), "layer_norm", "[2]");
    expect_error(sn_modulate(ctx, RND(2, 3, 4), RND(2, 4), RND(2, 3)), "modulate", "[2, 3]");
    expect_error(sn_attention(ctx, RND(1, 2, 3, 4), RND(1, 2, 5, 4), RND(1, 2, 6, 4), NULL),
                 "attention", "[1, 2, 6, 4]");
    expect_error(sn_attention(ctx, RND(1, 2, 3, 4), RND(1, 2, 5, 4), RND(1, 2, 5, 4),
                              &(sn_attn_spec){.kind = (sn_attn_kind)7}),
                 "attention", "kind 7");
    expect_error(sn_attention(ctx, RND(1, 2, 3, 4), RND(1, 2, 5, 4), RND(1, 2, 5, 4),
                              &(sn_attn_spec){.kind = SN_ATTN_NEIGHBORHOOD}),
                 "attention", "0 axes");
    expect_error(sn_attention(ctx, RND(2, 3, 4, 5), RND(2, 3, 6, 5), RND(2, 3, 6, 5),
                              &(sn_attn_spec){.bias = RND(2, 1, 1, 4)}),
                 "attention", "bias [2, 1, 1, 4]");
    expect_error(sn_attention(ctx, RND(2, 3, 4, 5), RND(2, 3, 6, 5), RND(2, 3, 6, 5),
                              &(sn_attn_spec){.bias = RND(3, 4, 6)}),
                 "attention", "bias [3, 4, 6]");
    expect_error(sn_permute(ctx, a, (int[]){0, 0}), "permute", "[2, 3]");
    expect_error(sn_slice(ctx, a, 1, 2, 2), "slice", "[2, 4)");
    expect_error(sn_slice(ctx, a, 2, 0, 1), "slice", "axis 2");
    expect_error(sn_concat(ctx, (sn_tensor[]){a, RND(2, 4)}, 2, 0), "concat", "[2, 4]");
    expect_error(sn_concat(ctx, (sn_tensor[]){a, random_of(SN_U8, SN_SHAPE(1, 3))}, 2, 0), "concat",
                 "u8");
    expect_error(sn_avg_pool2d(ctx, a, 3, 1), "avg_pool2d", "(3, 1)");
    expect_error(sn_upsample_nearest(ctx, a, 0, 1), "upsample_nearest", "(0, 1)");
    expect_error(sn_pad2d(ctx, a, -1, 0, 0, 0), "pad2d", "negative");
    expect_error(sn_patchify(ctx, x4, 2), "patchify", "patch size 2");
    expect_error(sn_unpatchify(ctx, RND(1, 6, 12), 2, 2, 2, 3), "unpatchify", "[1, 6, 12]");
    expect_error(sn_cast(ctx, a, SN_I64), "cast", "i64");
    float scalar = 1;
    expect_error(sn_softmax(ctx, sn_tensor_wrap(&scalar, SN_F32, 0, NULL)), "softmax", "scalar");
    expect_error(sn_exp(ctx, RND(2, 0)), "exp", "at least 1");
    sn_split(ctx, RND(2, 5), 1, 2, parts);
    CHECK(!sn_has(parts[0]) && strstr(sn_error(ctx), "split:") == sn_error(ctx) &&
          strstr(sn_error(ctx), "2 equal parts"));
    sn_clear_error(ctx);
    CHECK(sn_ok(ctx));
}

/* --- windowed pooling and bilinear resizing ----------------------------------------- */

/* Max and average pooling with padding as torch defines them, written as loops over the padded
 * window; the resize reference is torch's bilinear formula (align_corners=False) in double. */
static void ref_pool(const float *x, float *y, int64_t planes, int64_t h, int64_t w,
                     const sn_pool2d_params *p, int is_max, int64_t oh, int64_t ow) {
    int kh = p->kernel[0], kw = p->kernel[1];
    int sh = p->stride[0] ? p->stride[0] : kh, sw = p->stride[1] ? p->stride[1] : kw;
    for (int64_t pl = 0; pl < planes; pl++)
        for (int64_t oy = 0; oy < oh; oy++)
            for (int64_t ox = 0; ox < ow; ox++) {
                double m = -INFINITY, s = 0;
                int n_in = 0, n_all = 0;
                for (int i = 0; i < kh; i++)
                    for (int j = 0; j < kw; j++) {
                        int64_t yy = oy * sh - p->padding[0] + i, xx = ox * sw - p->padding[1] + j;
                        if (yy >= h + p->padding[0] || xx >= w + p->padding[1]) continue;
                        n_all++;
                        if (yy < 0 || xx < 0 || yy >= h || xx >= w) continue;
                        double v = x[(pl * h + yy) * w + xx];
                        n_in++, s += v;
                        if (v > m) m = v;
                    }
                y[(pl * oh + oy) * ow + ox] =
                    (float)(is_max ? m : s / (p->exclude_pad ? n_in : n_all));
            }
}

static void test_pool_resize(void) {
    sn_tensor x = RND(2, 3, 13, 11);
    const sn_pool2d_params cases[] = {
        {{3, 3}, {1, 1}, {1, 1}, 1}, /* the FID Inception's branch pools */
        {{3, 3}, {1, 1}, {1, 1}, 0},
        {{3, 3}, {2, 2}, {0, 0}, 0}, /* its stride-2 max pools */
        {{5, 2}, {2, 3}, {2, 1}, 1},
        {{4, 4}, {0, 0}, {2, 0}, 0}, /* stride 0: the kernel */
        {{1, 1}, {1, 1}, {0, 0}, 0},
        {{13, 11}, {1, 1}, {0, 0}, 1},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const sn_pool2d_params *p = &cases[k];
        int sh = p->stride[0] ? p->stride[0] : p->kernel[0];
        int sw = p->stride[1] ? p->stride[1] : p->kernel[1];
        int64_t oh = (13 + 2 * p->padding[0] - p->kernel[0]) / sh + 1;
        int64_t ow = (11 + 2 * p->padding[1] - p->kernel[1]) / sw + 1;
        float *ref = ref_buf(6 * oh * ow);
        ref_pool(F(x), ref, 6, 13, 11, p, 1, oh, ow);
        EXPECT(sn_max_pool2d(ctx, x, p), ref, 0, "max_pool2d", 2, 3, oh, ow);
        ref_pool(F(x), ref, 6, 13, 11, p, 0, oh, ow);
        EXPECT(sn_avg_pool2d_ex(ctx, x, p), ref, TOL, "avg_pool2d_ex", 2, 3, oh, ow);
        free(ref);
    }
    /* padding is -inf for max: an all-negative corner is not raised to 0 */
    sn_tensor neg = uniform(-2, -1, SN_SHAPE(1, 1, 2, 2));
    sn_tensor m = sn_max_pool2d(ctx, neg, &(sn_pool2d_params){{3, 3}, {1, 1}, {1, 1}, 0});
    CHECK(sn_has(m) && F(m)[0] < -1);
    /* NaN propagates through max pooling, as torch's */
    sn_tensor nanx = RND(1, 1, 3, 3);
    F(nanx)[4] = NAN;
    m = sn_max_pool2d(ctx, nanx, &(sn_pool2d_params){{2, 2}, {1, 1}, {0, 0}, 0});
    CHECK(sn_has(m) && isnan(F(m)[0]) && isnan(F(m)[3]));

    /* bilinear: up, down, mixed, identity, to and from a single pixel */
    const int sizes[][4] = {{13, 11, 29, 31}, {13, 11, 5, 4}, {13, 11, 7, 23},
                            {13, 11, 13, 11}, {13, 11, 1, 1}, {1, 1, 3, 2}};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        int h = sizes[k][0], w = sizes[k][1], oh = sizes[k][2], ow = sizes[k][3];
        sn_tensor xi = RND(2, 3, h, w);
        float *ref = ref_buf(6 * oh * ow);
        for (int pl = 0; pl < 6; pl++)
            for (int i = 0; i < oh; i++)
                for (int j = 0; j < ow; j++) {
                    double sy = fmax((double)h / oh * (i + 0.5) - 0.5, 0);
                    double sx = fmax((double)w / ow * (j + 0.5) - 0.5, 0);
                    int y0 = (int)sy < h - 1 ? (int)sy : h - 1, x0 = (int)sx < w - 1 ? (int)sx : w - 1;
                    int y1 = y0 + (y0 < h - 1), x1 = x0 + (x0 < w - 1);
                    double ly = fmin(sy - y0, 1), lx = fmin(sx - x0, 1);
                    const float *s = F(xi) + pl * h * w;
                    ref[(pl * oh + i) * ow + j] =
                        (float)((1 - ly) * ((1 - lx) * s[y0 * w + x0] + lx * s[y0 * w + x1]) +
                                ly * ((1 - lx) * s[y1 * w + x0] + lx * s[y1 * w + x1]));
                }
        EXPECT(sn_resize_bilinear(ctx, xi, oh, ow), ref, TOL, "resize_bilinear", 2, 3, oh, ow);
        if (oh == h && ow == w)
            EXPECT(sn_resize_bilinear(ctx, xi, oh, ow), F(xi), 0, "resize_bilinear identity", 2, 3,
                   oh, ow);
        free(ref);
    }
    /* torch: F.interpolate([a, b], size=4, mode="bilinear") = [a, .75a+.25b, .25a+.75b, b] */
    float ab[2] = {1, 5}, want[4] = {1, 2, 4, 5};
    EXPECT(sn_resize_bilinear(ctx, sn_tensor_wrap(ab, SN_F32, 2, (int64_t[]){1, 2}), 1, 4), want,
           0, "resize_bilinear [1, 5] -> 4", 1, 4);

    expect_error(sn_max_pool2d(ctx, x, &(sn_pool2d_params){{3, 3}, {1, 1}, {2, 1}, 0}),
                 "max_pool2d", "half the kernel");
    expect_error(sn_avg_pool2d_ex(ctx, x, &(sn_pool2d_params){{15, 3}, {1, 1}, {0, 0}, 0}),
                 "avg_pool2d_ex", "does not fit");
    expect_error(sn_avg_pool2d_ex(ctx, x, NULL), "avg_pool2d_ex", "parameters");
    expect_error(sn_max_pool2d(ctx, x, &(sn_pool2d_params){{0, 3}, {1, 1}, {0, 0}, 0}),
                 "max_pool2d", "positive");
    expect_error(sn_resize_bilinear(ctx, x, 0, 4), "resize_bilinear", "(0, 4)");
}

int main(void) {
    char err[256];
    ctx = sn_ctx_new(&(sn_ctx_opts){.device = SN_CPU, .threads = 2, .arena_bytes = 1 << 30}, err,
                     sizeof err);
    if (!ctx) {
        fprintf(stderr, "test_ops: %s\n", err);
        return 1;
    }
    void (*tests[])(void) = {test_unary,
                             test_binary,
                             test_softmax,
                             test_layer_and_rms_norm,
                             test_group_norm,
                             test_modulate,
                             test_linear,
                             test_matmul,
                             test_conv2d,
                             test_attention,
                             test_attention_long,
                             test_attention_masked,
                             test_permute,
                             test_concat_slice_split,
                             test_pad_upsample_pool,
                             test_pool_resize,
                             test_patchify,
                             test_cast,
                             test_errors};
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        tests[i]();
        CHECKF(sn_ok(ctx), "test %zu left an error: %s", i, sn_error(ctx));
        sn_clear_error(ctx);
        sn_arena_reset(ctx);
    }
    sn_ctx_free(ctx);
    return check_summary("test_ops");
}
