/* The op set's entry points: validate the arguments, allocate the output from the arena,
 * dispatch to the context's backend. Validation lives here, once for every backend, so a
 * kernel only ever sees consistent shapes and never fails. Each op has one DISPATCH line
 * naming its CPU kernel and its CUDA launcher (core/cuda/cuda_ops.h); a build without CUDA
 * compiles the CUDA half away. */
#include "ops.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>

#include "cpu/cpu.h"
#include "profile.h"
#include "cpu/neighborhood.h"
#ifdef SN_HAVE_CUDA
#include "cuda/cuda_ops.h"
#include "cuda/flash_attention.h"
#include "cuda/neighborhood.h"
#endif

/* --- validation ---------------------------------------------------------------------- */

static sn_tensor failf(sn_ctx *ctx, const char *op, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sets "<op>: <message>" (unless an earlier error stands) and yields the empty tensor. */
static sn_tensor failf(sn_ctx *ctx, const char *op, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sn_fail(ctx, "%s: %s", op, msg);
    return sn_none();
}

/* A shape as text that can sit inline in a message: SHP(t) lives until the statement ends. */
typedef struct {
    char s[128];
} shape_text;
static shape_text shape_of(sn_tensor t) {
    shape_text r;
    sn_shape_str(t.shape, t.ndim, r.s, sizeof r.s);
    return r;
}
#define SHP(t) (shape_of(t).s)

static const char *device_name(sn_device d) { return d == SN_CUDA ? "cuda" : "cpu"; }

/* F32_ONLY: f32 on every backend (masks); FLOAT: f32, f16 or bf16, and f32 only on the CPU;
 * ANY_DTYPE: the compute dtypes f32, f16, bf16, i32, u8. */
enum { F32_ONLY, FLOAT, ANY_DTYPE };

static int is_float(sn_dtype dt) { return dt == SN_F32 || dt == SN_F16 || dt == SN_BF16; }

static int arg_ok(sn_ctx *ctx, const char *op, const char *name, sn_tensor t, int dtypes) {
    if (!sn_ok(ctx)) return 0;
    if (!sn_has(t)) {
        failf(ctx, op, "%s is empty", name);
        return 0;
    }
    int fits = dtypes == F32_ONLY ? t.dtype == SN_F32
               : dtypes == FLOAT  ? is_float(t.dtype)
                                  : (unsigned)t.dtype <= SN_U8;
    if (!fits) {
        failf(ctx, op, "%s is %s; expected %s", name, sn_dtype_name(t.dtype),
              dtypes == F32_ONLY ? "f32"
              : dtypes == FLOAT  ? "f32, f16 or bf16"
                                 : "f32, f16, bf16, i32 or u8");
        return 0;
    }
    if (dtypes == FLOAT && t.dtype != SN_F32 && t.device == SN_CPU) {
        failf(ctx, op, "%s is %s; the CPU backend computes in f32", name, sn_dtype_name(t.dtype));
        return 0;
    }
    if (t.device != sn_ctx_device(ctx)) {
        failf(ctx, op, "%s is on the %s but the context runs on the %s", name,
              device_name(t.device), device_name(sn_ctx_device(ctx)));
        return 0;
    }
    if (t.ndim < 0 || t.ndim > SN_MAX_DIMS) {
        failf(ctx, op, "%s has %d dimensions; at most %d", name, t.ndim, SN_MAX_DIMS);
        return 0;
    }
    for (int i = 0; i < t.ndim; i++)
        if (t.shape[i] < 1) {
            failf(ctx, op, "%s has shape %s; every dimension must be at least 1", name, SHP(t));
            return 0;
        }
    return 1;
}

/* Validation steps inside an op, which names its context `ctx` and itself `op`: a failed step
 * sets the error and returns the empty tensor from the op. */
#define ARG(t, dtypes)                                                                             \
    do {                                                                                           \
        if (!arg_ok(ctx, op, #t, t, dtypes)) return sn_none();                                     \
    } while (0)
/* t is a float tensor of x's dtype (LIKE), or that or absent (OPT). */
#define LIKE(t, x)                                                                                 \
    do {                                                                                           \
        ARG(t, FLOAT);                                                                             \
        NEED(t.dtype == x.dtype, "%s is %s but %s is %s", #t, sn_dtype_name(t.dtype), #x,          \
             sn_dtype_name(x.dtype));                                                              \
    } while (0)
#define OPT(t, x)                                                                                  \
    do {                                                                                           \
        if (sn_has(t)) LIKE(t, x);                                                                 \
    } while (0)
#define NEED(cond, ...)                                                                            \
    do {                                                                                           \
        if (!(cond)) return failf(ctx, op, __VA_ARGS__);                                           \
    } while (0)

/* The one place per op that picks the backend. A CUDA launcher only queues work; when one
 * of its CUDA/cuBLASLt/cuDNN calls fails it sets the context error and the op returns the
 * empty tensor. */
#ifdef SN_HAVE_CUDA
#define DISPATCH(cpu_call, cuda_call)                                                              \
    do {                                                                                           \
        double t0_ = sn_prof_begin(ctx);                                                           \
        if (sn_ctx_device(ctx) == SN_CUDA) {                                                       \
            cuda_call;                                                                             \
        } else {                                                                                   \
            cpu_call;                                                                              \
        }                                                                                          \
        sn_prof_end(ctx, op, t0_);                                                                 \
        if (!sn_ok(ctx)) return sn_none();                                                         \
    } while (0)
#else
#define DISPATCH(cpu_call, cuda_call)                                                              \
    do {                                                                                           \
        if (sn_ctx_device(ctx) != SN_CPU)                                                          \
            return failf(ctx, op, "this sinter was built without CUDA");                           \
        double t0_ = sn_prof_begin(ctx);                                                           \
        cpu_call;                                                                                  \
        sn_prof_end(ctx, op, t0_);                                                                 \
    } while (0)
#endif

/* An optional per-feature vector: absent, or (n). */
static int vec_ok(sn_tensor t, int64_t n) { return !sn_has(t) || (t.ndim == 1 && t.shape[0] == n); }

/* cblas takes int dimensions. */
static int blas_ok(int64_t m, int64_t n, int64_t k) {
    return m <= INT_MAX && n <= INT_MAX && k <= INT_MAX;
}

static int axis_of(int axis, int ndim) { return axis < 0 ? axis + ndim : axis; }

static int64_t prod(const int64_t *shape, int from, int to) {
    int64_t p = 1;
    for (int i = from; i < to; i++) p *= shape[i];
    return p;
}

static int64_t last(sn_tensor t) { return t.shape[t.ndim - 1]; }

/* --- data movement ------------------------------------------------------------------- */

sn_tensor sn_copy(sn_ctx *ctx, sn_tensor x) {
    const char *op = "copy";
    ARG(x, ANY_DTYPE);
    sn_tensor y = sn_empty(ctx, x.dtype, x.ndim, x.shape);
    if (!sn_has(y)) return y;
    DISPATCH(sn_cpu_copy_blocks(y.data, 0, x.data, 0, sn_nbytes(x), 1),
             sn_cuda_copy_blocks(ctx, y.data, 0, x.data, 0, sn_nbytes(x), 1));
    return y;
}

sn_tensor sn_cast(sn_ctx *ctx, sn_tensor x, sn_dtype to) {
    const char *op = "cast";
    ARG(x, ANY_DTYPE);
    NEED((unsigned)to <= SN_U8, "cannot cast to %s; the targets are f32, f16, bf16, i32 and u8",
         sn_dtype_name(to));
    sn_tensor y = sn_empty(ctx, to, x.ndim, x.shape);
    if (!sn_has(y)) return y;
    DISPATCH(sn_cpu_cast(x.data, x.dtype, y.data, to, sn_numel(x)),
             sn_cuda_cast(ctx, x.data, x.dtype, y.data, to, sn_numel(x)));
    return y;
}

static int is_permutation(const int *perm, int n) {
    int seen[SN_MAX_DIMS] = {0};
    for (int i = 0; i < n; i++) {
        if (perm[i] < 0 || perm[i] >= n || seen[perm[i]]) return 0;
        seen[perm[i]] = 1;
    }
    return 1;
}

sn_tensor sn_to(sn_ctx *ctx, sn_tensor x, sn_dtype to) {
    if (sn_ok(ctx) && sn_has(x) && x.dtype == to) return x;
    return sn_cast(ctx, x, to);
}

sn_tensor sn_permute(sn_ctx *ctx, sn_tensor x, const int *perm) {
    const char *op = "permute";
    ARG(x, ANY_DTYPE);
    NEED(perm && is_permutation(perm, x.ndim), "perm is not a permutation of the axes of x %s",
         SHP(x));
    int64_t shape[SN_MAX_DIMS];
    for (int i = 0; i < x.ndim; i++) shape[i] = x.shape[perm[i]];
    sn_tensor y = sn_empty(ctx, x.dtype, x.ndim, shape);
    if (!sn_has(y)) return y;
    DISPATCH(sn_cpu_permute(x.data, y.data, sn_dtype_size(x.dtype), x.ndim, x.shape, perm),
             sn_cuda_permute(ctx, x.data, y.data, sn_dtype_size(x.dtype), x.ndim, x.shape, perm));
    return y;
}

/* Each input is one block per index of the axes before `axis`. */
static void cpu_concat(const sn_tensor *xs, int n, int axis, sn_tensor y) {
    size_t inner = prod(y.shape, axis + 1, y.ndim) * sn_dtype_size(y.dtype), at = 0;
    for (int i = 0; i < n; i++) {
        size_t bytes = xs[i].shape[axis] * inner;
        sn_cpu_copy_blocks((char *)y.data + at, y.shape[axis] * inner, xs[i].data, bytes, bytes,
                           prod(y.shape, 0, axis));
        at += bytes;
    }
}

#ifdef SN_HAVE_CUDA
static void cuda_concat(sn_ctx *ctx, const sn_tensor *xs, int n, int axis, sn_tensor y) {
    size_t inner = prod(y.shape, axis + 1, y.ndim) * sn_dtype_size(y.dtype), at = 0;
    for (int i = 0; i < n; i++) {
        size_t bytes = xs[i].shape[axis] * inner;
        sn_cuda_copy_blocks(ctx, (char *)y.data + at, y.shape[axis] * inner, xs[i].data, bytes,
                            bytes, prod(y.shape, 0, axis));
        at += bytes;
    }
}
#endif

sn_tensor sn_concat(sn_ctx *ctx, const sn_tensor *xs, int n, int axis) {
    const char *op = "concat";
    if (!sn_ok(ctx)) return sn_none();
    NEED(xs && n >= 1, "needs at least one tensor, got %d", n);
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "tensor %d", i);
        if (!arg_ok(ctx, op, name, xs[i], ANY_DTYPE)) return sn_none();
    }
    sn_tensor x = xs[0];
    int ax = axis_of(axis, x.ndim);
    NEED(ax >= 0 && ax < x.ndim, "axis %d is outside the axes of %s", axis, SHP(x));
    int64_t shape[SN_MAX_DIMS];
    for (int d = 0; d < x.ndim; d++) shape[d] = x.shape[d];
    for (int i = 1; i < n; i++) {
        int fits = xs[i].dtype == x.dtype && xs[i].ndim == x.ndim;
        for (int d = 0; fits && d < x.ndim; d++) fits = d == ax || xs[i].shape[d] == x.shape[d];
        NEED(fits, "tensor %d (%s %s) does not match tensor 0 (%s %s) outside axis %d", i,
             sn_dtype_name(xs[i].dtype), SHP(xs[i]), sn_dtype_name(x.dtype), SHP(x), axis);
        shape[ax] += xs[i].shape[ax];
    }
    sn_tensor y = sn_empty(ctx, x.dtype, x.ndim, shape);
    if (!sn_has(y)) return y;
    DISPATCH(cpu_concat(xs, n, ax, y), cuda_concat(ctx, xs, n, ax, y));
    return y;
}

sn_tensor sn_slice(sn_ctx *ctx, sn_tensor x, int axis, int64_t start, int64_t len) {
    const char *op = "slice";
    ARG(x, ANY_DTYPE);
    int ax = axis_of(axis, x.ndim);
    NEED(ax >= 0 && ax < x.ndim, "axis %d is outside the axes of %s", axis, SHP(x));
    NEED(start >= 0 && len >= 1 && start + len <= x.shape[ax],
         "[%lld, %lld) is not a non-empty range inside axis %d of %s", (long long)start,
         (long long)(start + len), axis, SHP(x));
    int64_t shape[SN_MAX_DIMS];
    for (int d = 0; d < x.ndim; d++) shape[d] = d == ax ? len : x.shape[d];
    sn_tensor y = sn_empty(ctx, x.dtype, x.ndim, shape);
    if (!sn_has(y)) return y;
    size_t inner = prod(x.shape, ax + 1, x.ndim) * sn_dtype_size(x.dtype);
    DISPATCH(sn_cpu_copy_blocks(y.data, len * inner, (char *)x.data + start * inner,
                                x.shape[ax] * inner, len * inner, prod(x.shape, 0, ax)),
             sn_cuda_copy_blocks(ctx, y.data, len * inner, (char *)x.data + start * inner,
                                 x.shape[ax] * inner, len * inner, prod(x.shape, 0, ax)));
    return y;
}

void sn_split(sn_ctx *ctx, sn_tensor x, int axis, int n, sn_tensor *out) {
    const char *op = "split";
    for (int i = 0; out && i < n; i++) out[i] = sn_none();
    if (!out || n < 1) {
        failf(ctx, op, "needs n >= 1 outputs, got %d", n);
        return;
    }
    if (!arg_ok(ctx, op, "x", x, ANY_DTYPE)) return;
    int ax = axis_of(axis, x.ndim);
    if (ax < 0 || ax >= x.ndim || x.shape[ax] % n) {
        failf(ctx, op, "axis %d of %s does not split into %d equal parts", axis, SHP(x), n);
        return;
    }
    int64_t len = x.shape[ax] / n;
    for (int i = 0; i < n; i++) out[i] = sn_slice(ctx, x, ax, i * len, len);
    for (int i = 0; !sn_ok(ctx) && i < n; i++) out[i] = sn_none();
}

/* --- elementwise --------------------------------------------------------------------- */

static sn_tensor binary(sn_ctx *ctx, const char *op, sn_tensor a, sn_tensor b,
                        sn_cpu_binary_op kind) {
    ARG(a, FLOAT);
    LIKE(b, a);
    int nd = a.ndim > b.ndim ? a.ndim : b.ndim;
    int64_t as[SN_MAX_DIMS], bs[SN_MAX_DIMS], ys[SN_MAX_DIMS];
    for (int i = 0; i < nd; i++) { /* trailing axes aligned; missing leading axes are 1 */
        int ia = i - (nd - a.ndim), ib = i - (nd - b.ndim);
        as[i] = ia >= 0 ? a.shape[ia] : 1;
        bs[i] = ib >= 0 ? b.shape[ib] : 1;
        NEED(as[i] == bs[i] || as[i] == 1 || bs[i] == 1, "shapes %s and %s do not broadcast",
             SHP(a), SHP(b));
        ys[i] = as[i] == 1 ? bs[i] : as[i];
    }
    sn_tensor y = sn_empty(ctx, a.dtype, nd, ys);
    if (!sn_has(y)) return y;
    DISPATCH(sn_cpu_binary(kind, a.data, as, b.data, bs, y.data, ys, nd),
             sn_cuda_binary(ctx, a.dtype, kind, a.data, as, b.data, bs, y.data, ys, nd));
    return y;
}

sn_tensor sn_add(sn_ctx *ctx, sn_tensor a, sn_tensor b) {
    return binary(ctx, "add", a, b, SN_CPU_ADD);
}
sn_tensor sn_sub(sn_ctx *ctx, sn_tensor a, sn_tensor b) {
    return binary(ctx, "sub", a, b, SN_CPU_SUB);
}
sn_tensor sn_mul(sn_ctx *ctx, sn_tensor a, sn_tensor b) {
    return binary(ctx, "mul", a, b, SN_CPU_MUL);
}
sn_tensor sn_div(sn_ctx *ctx, sn_tensor a, sn_tensor b) {
    return binary(ctx, "div", a, b, SN_CPU_DIV);
}

static sn_tensor unary(sn_ctx *ctx, const char *op, sn_tensor x, sn_cpu_unary_op kind, float a,
                       float b) {
    ARG(x, FLOAT);
    sn_tensor y = sn_empty(ctx, x.dtype, x.ndim, x.shape);
    if (!sn_has(y)) return y;
    DISPATCH(sn_cpu_unary(kind, x.data, y.data, sn_numel(x), a, b),
             sn_cuda_unary(ctx, x.dtype, kind, x.data, y.data, sn_numel(x), a, b));
    return y;
}

sn_tensor sn_affine(sn_ctx *ctx, sn_tensor x, float a, float b) {
    return unary(ctx, "affine", x, SN_CPU_AFFINE, a, b);
}
sn_tensor sn_clamp(sn_ctx *ctx, sn_tensor x, float lo, float hi) {
    return unary(ctx, "clamp", x, SN_CPU_CLAMP, lo, hi);
}
sn_tensor sn_silu(sn_ctx *ctx, sn_tensor x) { return unary(ctx, "silu", x, SN_CPU_SILU, 0, 0); }
sn_tensor sn_relu(sn_ctx *ctx, sn_tensor x) { return unary(ctx, "relu", x, SN_CPU_RELU, 0, 0); }
sn_tensor sn_tanh(sn_ctx *ctx, sn_tensor x) { return unary(ctx, "tanh", x, SN_CPU_TANH, 0, 0); }
sn_tensor sn_exp(sn_ctx *ctx, sn_tensor x) { return unary(ctx, "exp", x, SN_CPU_EXP, 0, 0); }

sn_tensor sn_gelu(sn_ctx *ctx, sn_tensor x, sn_gelu_kind kind) {
    if (kind != SN_GELU_EXACT && kind != SN_GELU_TANH)
        return failf(ctx, "gelu", "unknown kind %d", (int)kind);
    return unary(ctx, "gelu", x, kind == SN_GELU_TANH ? SN_CPU_GELU_TANH : SN_CPU_GELU, 0, 0);
}

sn_tensor sn_softmax(sn_ctx *ctx, sn_tensor x) {
    const char *op = "softmax";
    ARG(x, FLOAT);
    NEED(x.ndim >= 1, "x is a scalar; softmax needs an axis");
    sn_tensor y = sn_empty(ctx, x.dtype, x.ndim, x.shape);
    if (!sn_has(y)) return y;
    DISPATCH(sn_cpu_softmax(x.data, y.data, sn_numel(x) / last(x), last(x)),
             sn_cuda_softmax(ctx, x.dtype, x.data, y.data, sn_numel(x) / last(x), last(x)));
    return y;
}

/* --- normalization ------------------------------------------------------------------- */

sn_tensor sn_layer_norm(sn_ctx *ctx, sn_tensor x, sn_tensor weight, sn_tensor bias, float eps) {
    const char *op = "layer_norm";
    ARG(x, FLOAT);
    OPT(weight, x);
    OPT(bias, x);
    NEED(x.ndim >= 1, "x is a scalar; layer_norm needs an axis");
    NEED(vec_ok(weight, last(x)) && vec_ok(bias, last(x)),
         "weight %s and bias %s must be absent or (%lld) for x %s", SHP(weight), SHP(bias),
         (long long)last(x), SHP(x));
    sn_tensor y = sn_empty(ctx, x.dtype, x.ndim, x.shape);
    if (!sn_has(y)) return y;
    DISPATCH(sn_cpu_layer_norm(x.data, weight.data, bias.data, y.data, sn_numel(x) / last(x),
                               last(x), eps),
             sn_cuda_layer_norm(ctx, x.dtype, x.data, weight.data, bias.data, y.data,
                                sn_numel(x) / last(x), last(x), eps));
    return y;
}

sn_tensor sn_rms_norm(sn_ctx *ctx, sn_tensor x, sn_tensor weight, float eps) {
    const char *op = "rms_norm";
    ARG(x, FLOAT);
    OPT(weight, x);
    NEED(x.ndim >= 1, "x is a scalar; rms_norm needs an axis");
    NEED(vec_ok(weight, last(x)), "weight %s must be absent or (%lld) for x %s", SHP(weight),
         (long long)last(x), SHP(x));
    sn_tensor y = sn_empty(ctx, x.dtype, x.ndim, x.shape);
    if (!sn_has(y)) return y;
    DISPATCH(sn_cpu_rms_norm(x.data, weight.data, y.data, sn_numel(x) / last(x), last(x), eps),
             sn_cuda_rms_norm(ctx, x.dtype, x.data, weight.data, y.data, sn_numel(x) / last(x),
                              last(x), eps));
    return y;
}

static sn_tensor group_norm(sn_ctx *ctx, const char *op, sn_tensor x, int groups,
                            sn_tensor weight, sn_tensor bias, float eps, int silu) {
    ARG(x, FLOAT);
    OPT(weight, x);
    OPT(bias, x);
    NEED(x.ndim >= 2, "x %s must be (N, C, ...)", SHP(x));
    int64_t c = x.shape[1];
    NEED(groups >= 1 && c % groups == 0, "%d groups do not divide the %lld channels of x %s",
         groups, (long long)c, SHP(x));
    NEED(vec_ok(weight, c) && vec_ok(bias, c),
         "weight %s and bias %s must be absent or (%lld) for x %s", SHP(weight), SHP(bias),
         (long long)c, SHP(x));
    sn_tensor y = sn_empty(ctx, x.dtype, x.ndim, x.shape);
    if (!sn_has(y)) return y;
    int64_t n = x.shape[0], s = prod(x.shape, 2, x.ndim);
    DISPATCH((sn_cpu_group_norm(x.data, weight.data, bias.data, y.data, n, c, s, groups, eps),
              silu ? sn_cpu_unary(SN_CPU_SILU, y.data, y.data, sn_numel(y), 0, 0) : (void)0),
             sn_cuda_group_norm(ctx, x.dtype, x.data, weight.data, bias.data, y.data, n, c, s,
                                groups, eps, silu));
    return y;
}

sn_tensor sn_group_norm(sn_ctx *ctx, sn_tensor x, int groups, sn_tensor weight, sn_tensor bias,
                        float eps) {
    return group_norm(ctx, "group_norm", x, groups, weight, bias, eps, 0);
}

sn_tensor sn_group_norm_silu(sn_ctx *ctx, sn_tensor x, int groups, sn_tensor weight,
                             sn_tensor bias, float eps) {
    return group_norm(ctx, "group_norm_silu", x, groups, weight, bias, eps, 1);
}

/* adaLN's modulation, after a LayerNorm without affine when `norm` (eps its epsilon). */
static sn_tensor modulate(sn_ctx *ctx, const char *op, sn_tensor x, sn_tensor shift,
                          sn_tensor scale, int norm, float eps) {
    ARG(x, FLOAT);
    LIKE(shift, x);
    LIKE(scale, x);
    NEED(x.ndim == 3 && sn_same_shape(shift, scale) && shift.ndim == 2 &&
             shift.shape[0] == x.shape[0] && shift.shape[1] == x.shape[2],
         "x %s must be (N, L, D) with shift %s and scale %s (N, D)", SHP(x), SHP(shift),
         SHP(scale));
    sn_tensor y = sn_empty(ctx, x.dtype, x.ndim, x.shape);
    if (!sn_has(y)) return y;
    int64_t n = x.shape[0], l = x.shape[1], d = x.shape[2];
    if (norm)
        DISPATCH(sn_cpu_layer_norm_modulate(x.data, shift.data, scale.data, y.data, n, l, d, eps),
                 sn_cuda_layer_norm_modulate(ctx, x.dtype, x.data, shift.data, scale.data, y.data,
                                             n, l, d, eps));
    else
        DISPATCH(sn_cpu_modulate(x.data, shift.data, scale.data, y.data, n, l, d),
                 sn_cuda_modulate(ctx, x.dtype, x.data, shift.data, scale.data, y.data, n, l, d));
    return y;
}

sn_tensor sn_modulate(sn_ctx *ctx, sn_tensor x, sn_tensor shift, sn_tensor scale) {
    return modulate(ctx, "modulate", x, shift, scale, 0, 0.0f);
}

sn_tensor sn_layer_norm_modulate(sn_ctx *ctx, sn_tensor x, sn_tensor shift, sn_tensor scale,
                                 float eps) {
    return modulate(ctx, "layer_norm_modulate", x, shift, scale, 1, eps);
}

sn_tensor sn_rope(sn_ctx *ctx, sn_tensor x, sn_tensor cos, sn_tensor sin) {
    const char *op = "rope";
    ARG(x, FLOAT);
    LIKE(cos, x);
    LIKE(sin, x);
    NEED(x.ndim >= 2 && last(x) % 2 == 0 && sn_same_shape(cos, sin) && cos.ndim == 2 &&
             cos.shape[0] == x.shape[x.ndim - 2] && cos.shape[1] == last(x),
         "x %s must be (..., T, D) with D even and cos %s, sin %s (T, D)", SHP(x), SHP(cos),
         SHP(sin));
    sn_tensor y = sn_empty(ctx, x.dtype, x.ndim, x.shape);
    if (!sn_has(y)) return y;
    int64_t d = last(x), t = cos.shape[0], rows = sn_numel(x) / d;
    DISPATCH(sn_cpu_rope(x.data, cos.data, sin.data, y.data, rows, t, d),
             sn_cuda_rope(ctx, x.dtype, x.data, cos.data, sin.data, y.data, rows, t, d));
    return y;
}

sn_tensor sn_gated_add(sn_ctx *ctx, sn_tensor x, sn_tensor a, sn_tensor gate) {
    const char *op = "gated_add";
    ARG(x, FLOAT);
    LIKE(a, x);
    LIKE(gate, x);
    NEED(x.ndim == 3 && sn_same_shape(x, a) && gate.ndim == 2 && gate.shape[0] == x.shape[0] &&
             gate.shape[1] == x.shape[2],
         "x %s and a %s must be (N, L, D) with gate %s (N, D)", SHP(x), SHP(a), SHP(gate));
    sn_tensor y = sn_empty(ctx, x.dtype, x.ndim, x.shape);
    if (!sn_has(y)) return y;
    DISPATCH(sn_cpu_gated_add(x.data, a.data, gate.data, y.data, x.shape[0], x.shape[1],
                              x.shape[2]),
             sn_cuda_gated_add(ctx, x.dtype, x.data, a.data, gate.data, y.data, x.shape[0],
                               x.shape[1], x.shape[2]));
    return y;
}

/* --- products ------------------------------------------------------------------------ */

/* The product with an optional GELU (tanh form) after it; the CPU applies it as sn_gelu does. */
static sn_tensor linear(sn_ctx *ctx, const char *op, sn_tensor x, sn_tensor w, sn_tensor b,
                        int gelu) {
    ARG(x, FLOAT);
    LIKE(w, x);
    OPT(b, x);
    NEED(x.ndim >= 1 && w.ndim == 2 && last(x) == w.shape[1], "x %s does not fit w %s (out, in)",
         SHP(x), SHP(w));
    NEED(vec_ok(b, w.shape[0]), "b %s must be absent or (%lld)", SHP(b), (long long)w.shape[0]);
    int64_t rows = sn_numel(x) / last(x), in = w.shape[1], out = w.shape[0];
    NEED(blas_ok(rows, out, in), "x %s is too large for one BLAS call", SHP(x));
    int64_t shape[SN_MAX_DIMS];
    for (int i = 0; i < x.ndim; i++) shape[i] = i == x.ndim - 1 ? out : x.shape[i];
    sn_tensor y = sn_empty(ctx, x.dtype, x.ndim, shape);
    if (!sn_has(y)) return y;
    if (gelu)
        DISPATCH((sn_cpu_linear(x.data, w.data, b.data, y.data, rows, in, out),
                  sn_cpu_unary(SN_CPU_GELU_TANH, y.data, y.data, rows * out, 0, 0)),
                 sn_cuda_linear_gelu(ctx, x.dtype, x.data, w.data, b.data, y.data, rows, in, out));
    else
        DISPATCH(sn_cpu_linear(x.data, w.data, b.data, y.data, rows, in, out),
                 sn_cuda_linear(ctx, x.dtype, x.data, w.data, b.data, y.data, rows, in, out));
    return y;
}

sn_tensor sn_linear(sn_ctx *ctx, sn_tensor x, sn_tensor w, sn_tensor b) {
    return linear(ctx, "linear", x, w, b, 0);
}

sn_tensor sn_linear_gelu(sn_ctx *ctx, sn_tensor x, sn_tensor w, sn_tensor b) {
    return linear(ctx, "linear_gelu", x, w, b, 1);
}

sn_tensor sn_matmul(sn_ctx *ctx, sn_tensor a, sn_tensor b) {
    const char *op = "matmul";
    ARG(a, FLOAT);
    LIKE(b, a);
    int nd = a.ndim;
    int fits = nd >= 2 && b.ndim == nd && a.shape[nd - 1] == b.shape[nd - 2];
    for (int i = 0; fits && i < nd - 2; i++) fits = a.shape[i] == b.shape[i];
    NEED(fits, "a %s and b %s are not (..., M, K) and (..., K, N) with equal leading axes", SHP(a),
         SHP(b));
    int64_t m = a.shape[nd - 2], k = a.shape[nd - 1], n = b.shape[nd - 1];
    NEED(blas_ok(m, n, k), "a %s and b %s are too large for one BLAS call", SHP(a), SHP(b));
    int64_t shape[SN_MAX_DIMS];
    for (int i = 0; i < nd; i++) shape[i] = i == nd - 1 ? n : a.shape[i];
    sn_tensor y = sn_empty(ctx, a.dtype, nd, shape);
    if (!sn_has(y)) return y;
    DISPATCH(sn_cpu_matmul(a.data, b.data, y.data, prod(a.shape, 0, nd - 2), m, k, n),
             sn_cuda_matmul(ctx, a.dtype, a.data, b.data, y.data, prod(a.shape, 0, nd - 2), m, k, n));
    return y;
}

/* The column buffer comes from the arena and goes back to it before the op returns. */
static void cpu_conv2d(sn_ctx *ctx, const sn_cpu_conv2d_geom *g, sn_tensor x, sn_tensor w,
                       sn_tensor b, sn_tensor y) {
    sn_scope s = sn_scope_begin(ctx);
    float *work = sn_alloc(ctx, sn_cpu_conv2d_work(g) * sizeof(float));
    if (work) sn_cpu_conv2d(g, x.data, w.data, b.data, y.data, work);
    sn_scope_end(ctx, s, sn_none());
}

sn_tensor sn_conv2d(sn_ctx *ctx, sn_tensor x, sn_tensor w, sn_tensor b, const sn_conv2d_params *p) {
    const char *op = "conv2d";
    ARG(x, FLOAT);
    LIKE(w, x);
    OPT(b, x);
    sn_conv2d_params q = {0};
    if (p) q = *p;
    sn_cpu_conv2d_geom g = {
        .sh = q.stride[0] ? q.stride[0] : 1,
        .sw = q.stride[1] ? q.stride[1] : 1,
        .ph = q.padding[0],
        .pw = q.padding[1],
        .dh = q.dilation[0] ? q.dilation[0] : 1,
        .dw = q.dilation[1] ? q.dilation[1] : 1,
        .groups = q.groups ? q.groups : 1,
    };
    NEED(g.sh > 0 && g.sw > 0 && g.ph >= 0 && g.pw >= 0 && g.dh > 0 && g.dw > 0 && g.groups > 0,
         "stride (%d, %d), padding (%d, %d), dilation (%d, %d) or groups %d is negative",
         q.stride[0], q.stride[1], q.padding[0], q.padding[1], q.dilation[0], q.dilation[1],
         q.groups);
    NEED(x.ndim == 4 && w.ndim == 4,
         "x %s and w %s must be (N, C, H, W) and (Cout, C/groups, kh, kw)", SHP(x), SHP(w));
    g.n = x.shape[0], g.cin = x.shape[1], g.h = x.shape[2], g.w = x.shape[3];
    g.cout = w.shape[0], g.kh = w.shape[2], g.kw = w.shape[3];
    NEED(g.cin % g.groups == 0 && g.cout % g.groups == 0 && w.shape[1] == g.cin / g.groups,
         "x %s and w %s do not fit %lld groups", SHP(x), SHP(w), (long long)g.groups);
    NEED(vec_ok(b, g.cout), "b %s must be absent or (%lld)", SHP(b), (long long)g.cout);
    int64_t span_h = g.dh * (g.kh - 1) + 1, span_w = g.dw * (g.kw - 1) + 1;
    NEED(span_h <= g.h + 2 * g.ph && span_w <= g.w + 2 * g.pw,
         "the %lldx%lld kernel (dilated) does not fit x %s padded by (%lld, %lld)",
         (long long)span_h, (long long)span_w, SHP(x), (long long)g.ph, (long long)g.pw);
    g.oh = (g.h + 2 * g.ph - span_h) / g.sh + 1;
    g.ow = (g.w + 2 * g.pw - span_w) / g.sw + 1;
    NEED(blas_ok(g.cout, g.oh * g.ow, g.cin * g.kh * g.kw),
         "x %s and w %s are too large for one BLAS call", SHP(x), SHP(w));
    sn_tensor y = sn_empty(ctx, x.dtype, SN_SHAPE(g.n, g.cout, g.oh, g.ow));
    if (!sn_has(y)) return y;
    DISPATCH(cpu_conv2d(ctx, &g, x, w, b, y),
             sn_cuda_conv2d(ctx, x.dtype, &g, x.data, w.data, b.data, y.data));
    return sn_ok(ctx) ? y : sn_none();
}

sn_tensor sn_pad2d(sn_ctx *ctx, sn_tensor x, int left, int right, int top, int bottom) {
    const char *op = "pad2d";
    ARG(x, ANY_DTYPE);
    NEED(x.ndim >= 2, "x %s has fewer than two axes", SHP(x));
    NEED(left >= 0 && right >= 0 && top >= 0 && bottom >= 0, "padding (%d, %d, %d, %d) is negative",
         left, right, top, bottom);
    int nd = x.ndim;
    int64_t shape[SN_MAX_DIMS];
    for (int i = 0; i < nd; i++) shape[i] = x.shape[i];
    shape[nd - 2] += top + bottom;
    shape[nd - 1] += left + right;
    sn_tensor y = sn_empty(ctx, x.dtype, nd, shape);
    if (!sn_has(y)) return y;
    DISPATCH(sn_cpu_pad2d(x.data, y.data, sn_dtype_size(x.dtype), prod(x.shape, 0, nd - 2),
                          x.shape[nd - 2], x.shape[nd - 1], left, right, top, bottom),
             sn_cuda_pad2d(ctx, x.data, y.data, sn_dtype_size(x.dtype), prod(x.shape, 0, nd - 2),
                           x.shape[nd - 2], x.shape[nd - 1], left, right, top, bottom));
    return y;
}

/* --- attention ----------------------------------------------------------------------- */

/* The per-query scratch comes from the arena and goes back to it before the op returns. */
static void cpu_na_attention(sn_ctx *ctx, sn_tensor q, sn_tensor k, sn_tensor v, float scale,
                             const sn_attn_spec *spec, sn_tensor y) {
    int64_t heads = q.shape[0] * q.shape[1], lq = q.shape[2], lk = k.shape[2];
    sn_scope s = sn_scope_begin(ctx);
    void *work = sn_alloc(ctx, sn_cpu_na_attention_work(&spec->na, heads, lq, lk, v.shape[3]));
    if (work)
        sn_cpu_na_attention(q.data, k.data, v.data, y.data, heads, lq, lk, q.shape[3], v.shape[3],
                            scale, &spec->na, work);
    sn_scope_end(ctx, s, sn_none());
}

/* The score block comes from the arena and goes back to it before the op returns. */
static void cpu_attention(sn_ctx *ctx, sn_tensor q, sn_tensor k, sn_tensor v, float scale,
                          const sn_attn_spec *spec, sn_tensor y) {
    int64_t lq = q.shape[2], lk = k.shape[2];
    sn_cpu_attn_mask mask = {.bias = spec->bias.data, .heads_per_batch = q.shape[1],
                             .causal = spec->causal != 0};
    if (mask.bias) { /* row-major strides of the bias, 0 on its broadcast axes */
        const int64_t *b = spec->bias.shape;
        int64_t st = 1;
        for (int i = 3; i >= 0; st *= b[i], i--) mask.stride[i] = b[i] == 1 ? 0 : st;
    }
    sn_scope s = sn_scope_begin(ctx);
    float *work = sn_alloc(ctx, sn_cpu_attention_work(lq, lk) * sizeof(float));
    if (work)
        sn_cpu_attention(q.data, k.data, v.data, y.data, q.shape[0] * q.shape[1], lq, lk,
                         q.shape[3], v.shape[3], scale, &mask, work);
    sn_scope_end(ctx, s, sn_none());
}

#ifdef SN_HAVE_CUDA
static sn_cpu_attn_mask attn_mask(sn_tensor q, const sn_attn_spec *spec) {
    sn_cpu_attn_mask mask = {.bias = spec->bias.data, .heads_per_batch = q.shape[1],
                             .causal = spec->causal != 0};
    if (mask.bias) { /* row-major strides of the bias, 0 on its broadcast axes */
        const int64_t *b = spec->bias.shape;
        int64_t st = 1;
        for (int i = 3; i >= 0; st *= b[i], i--) mask.stride[i] = b[i] == 1 ? 0 : st;
    }
    return mask;
}

/* Head sizes beyond the kernels' (the SD-family VAEs attend with one 512-wide head): the
 * scores through a matrix product, a softmax and the weighted sum, in query chunks that keep
 * the score block under 256 MiB. Unmasked only: those models need no mask. */
static void cuda_attention_unfused(sn_ctx *ctx, sn_tensor q, sn_tensor k, sn_tensor v,
                                   float scale, const sn_attn_spec *spec, sn_tensor y) {
    if (spec->causal || sn_has(spec->bias)) {
        sn_fail(ctx, "attention: head dimension %lld with a mask exceeds the CUDA kernels' %d",
                (long long)(q.shape[3] > v.shape[3] ? q.shape[3] : v.shape[3]), SN_CUDA_ATTN_MAX_DIM);
        return;
    }
    int64_t n = q.shape[0], h = q.shape[1], lq = q.shape[2], lk = k.shape[2], dv = v.shape[3];
    size_t es = sn_dtype_size(q.dtype);
    int64_t rows = ((int64_t)256 << 20) / (n * h * lk * 4);
    if (rows < 1) rows = 1;
    sn_scope s = sn_scope_begin(ctx);
    sn_tensor kt = sn_permute(ctx, k, (const int[]){0, 1, 3, 2}); /* (N, H, D, Lk) */
    for (int64_t at = 0; at < lq && sn_ok(ctx); at += rows) {
        int64_t c = lq - at < rows ? lq - at : rows;
        sn_scope cs = sn_scope_begin(ctx);
        sn_tensor p = sn_softmax(ctx, sn_affine(ctx, sn_matmul(ctx, sn_slice(ctx, q, 2, at, c), kt),
                                                scale, 0.0f));
        sn_tensor o = sn_matmul(ctx, p, v); /* (N, H, c, Dv) */
        if (sn_ok(ctx))
            sn_cuda_copy_blocks(ctx, (char *)y.data + at * dv * es, lq * dv * es, o.data,
                                c * dv * es, c * dv * es, n * h);
        sn_scope_end(ctx, cs, sn_none());
    }
    sn_scope_end(ctx, s, sn_none());
}

/* f16/bf16 attention goes to the fused kernel (core/cuda/flash_attention.cu) when it takes
 * the head size and needs no bias; anything else runs the f32 kernel on upcast copies. */
static void cuda_attention(sn_ctx *ctx, sn_tensor q, sn_tensor k, sn_tensor v, float scale,
                           const sn_attn_spec *spec, sn_tensor y) {
    sn_cpu_attn_mask mask = attn_mask(q, spec);
    int64_t bh = q.shape[0] * q.shape[1], lq = q.shape[2], lk = k.shape[2];
    int64_t d = q.shape[3], dv = v.shape[3];
    if (d > SN_CUDA_ATTN_MAX_DIM || dv > SN_CUDA_ATTN_MAX_DIM) {
        cuda_attention_unfused(ctx, q, k, v, scale, spec, y);
        return;
    }
    if (q.dtype == SN_F32) {
        sn_cuda_attention(ctx, q.data, k.data, v.data, y.data, bh, lq, lk, d, dv, scale, &mask);
        return;
    }
    if (!mask.bias && d == dv && sn_fa_supported(q.dtype, d)) {
        sn_cuda_flash_attention(ctx, q.dtype, q.data, k.data, v.data, y.data, bh, lq, lk, d,
                                scale, mask.causal, NULL);
        return;
    }
    sn_scope s = sn_scope_begin(ctx);
    sn_tensor q32 = sn_cast(ctx, q, SN_F32), k32 = sn_cast(ctx, k, SN_F32);
    sn_tensor v32 = sn_cast(ctx, v, SN_F32), y32 = sn_empty(ctx, SN_F32, y.ndim, y.shape);
    if (sn_ok(ctx)) {
        sn_cuda_attention(ctx, q32.data, k32.data, v32.data, y32.data, bh, lq, lk, d, dv, scale,
                          &mask);
        sn_cuda_cast(ctx, y32.data, SN_F32, y.data, y.dtype, sn_numel(y));
    }
    sn_scope_end(ctx, s, sn_none());
}
#endif

sn_tensor sn_attention(sn_ctx *ctx, sn_tensor q, sn_tensor k, sn_tensor v,
                       const sn_attn_spec *spec) {
    const char *op = "attention";
    ARG(q, FLOAT);
    LIKE(k, q);
    LIKE(v, q);
    sn_attn_spec s = spec ? *spec : (sn_attn_spec){.kind = SN_ATTN_FULL};
    NEED(s.kind == SN_ATTN_FULL || s.kind == SN_ATTN_NEIGHBORHOOD, "unknown attention kind %d",
         (int)s.kind);
    NEED(q.ndim == 4 && k.ndim == 4 && v.ndim == 4 && q.shape[0] == k.shape[0] &&
             q.shape[1] == k.shape[1] && q.shape[3] == k.shape[3] && k.shape[0] == v.shape[0] &&
             k.shape[1] == v.shape[1] && k.shape[2] == v.shape[2],
         "q %s, k %s and v %s are not (N, H, Lq, D), (N, H, Lk, D) and (N, H, Lk, Dv)", SHP(q),
         SHP(k), SHP(v));
    NEED(blas_ok(q.shape[2], k.shape[2], q.shape[3] > v.shape[3] ? q.shape[3] : v.shape[3]),
         "q %s, k %s and v %s are too large for one BLAS call", SHP(q), SHP(k), SHP(v));
    if (sn_has(s.bias)) {
        sn_tensor bias = s.bias;
        ARG(bias, F32_ONLY);
        const int64_t full[4] = {q.shape[0], q.shape[1], q.shape[2], k.shape[2]};
        int fits = bias.ndim == 4;
        for (int i = 0; fits && i < 4; i++) fits = bias.shape[i] == 1 || bias.shape[i] == full[i];
        NEED(fits, "bias %s does not broadcast to (N, H, Lq, Lk) = [%lld, %lld, %lld, %lld]; "
             "each of its 4 axes must be 1 or the full size", SHP(bias), (long long)full[0],
             (long long)full[1], (long long)full[2], (long long)full[3]);
    }
    if (s.kind == SN_ATTN_NEIGHBORHOOD) {
        char why[256];
        NEED(sn_na_check(&s.na, why, sizeof why) == 0, "%s", why);
        NEED(q.shape[2] == sn_na_tokens(&s.na) && k.shape[2] >= q.shape[2] && k.shape[2] <= INT_MAX,
             "q %s and k %s: neighborhood attention needs Lq = %d grid tokens and Lk >= Lq", SHP(q),
             SHP(k), sn_na_tokens(&s.na));
        NEED(!s.causal && !sn_has(s.bias), "neighborhood attention takes no causal flag or bias "
             "(causality is per axis: na.causal)");
    }
    float scale = s.scale != 0 ? s.scale : 1.0f / sqrtf((float)q.shape[3]);
    sn_tensor y = sn_empty(ctx, q.dtype, SN_SHAPE(q.shape[0], q.shape[1], q.shape[2], v.shape[3]));
    if (!sn_has(y)) return y;
    if (s.kind == SN_ATTN_NEIGHBORHOOD) {
        if (sn_ctx_device(ctx) == SN_CPU) {
            cpu_na_attention(ctx, q, k, v, scale, &s, y);
            return sn_ok(ctx) ? y : sn_none();
        }
#ifdef SN_HAVE_CUDA
        NEED(q.shape[3] == v.shape[3] && sn_cuda_na_supported(q.dtype, q.shape[3]),
             "neighborhood attention on CUDA takes bf16 or f16 with head size 64, 72, 80, 96 or "
             "128 (equal for q and v) on a Hopper GPU; got %s q %s, v %s",
             sn_dtype_name(q.dtype), SHP(q), SHP(v));
        double t0 = sn_prof_begin(ctx);
        sn_cuda_na_attention(ctx, q.dtype, q.data, k.data, v.data, y.data, q.shape[0] * q.shape[1],
                             q.shape[2], k.shape[2], q.shape[3], scale, &s.na);
        sn_prof_end(ctx, op, t0);
#endif
        return sn_ok(ctx) ? y : sn_none();
    }
    DISPATCH(cpu_attention(ctx, q, k, v, scale, &s, y),
             cuda_attention(ctx, q, k, v, scale, &s, y));
    return sn_ok(ctx) ? y : sn_none();
}

/* --- lookups ------------------------------------------------------------------------ */

sn_tensor sn_embedding(sn_ctx *ctx, sn_tensor table, sn_tensor ids) {
    const char *op = "embedding";
    ARG(table, ANY_DTYPE);
    ARG(ids, ANY_DTYPE);
    NEED(table.ndim == 2 && ids.ndim == 1 && ids.dtype == SN_I32,
         "table %s must be (V, D) and ids %s i32 (N)", SHP(table), SHP(ids));
    int64_t n = ids.shape[0];
    sn_tensor y = sn_empty(ctx, table.dtype, SN_SHAPE(n, table.shape[1]));
    if (!sn_has(y)) return y;
    size_t row = table.shape[1] * sn_dtype_size(table.dtype);
    DISPATCH(sn_cpu_embedding(table.data, ids.data, y.data, n, table.shape[0], row),
             sn_cuda_embedding(ctx, table.data, ids.data, y.data, n, table.shape[0], row));
    return y;
}

sn_tensor sn_timestep_embedding(sn_ctx *ctx, sn_tensor t, sn_tensor freqs, int dim) {
    const char *op = "timestep_embedding";
    ARG(t, F32_ONLY);
    ARG(freqs, F32_ONLY);
    NEED(t.ndim == 1 && freqs.ndim == 1 && dim >= 2 * freqs.shape[0],
         "t %s must be (N) and freqs %s (H) with dim %d >= 2H", SHP(t), SHP(freqs), dim);
    int64_t n = t.shape[0], half = freqs.shape[0];
    sn_tensor y = sn_empty(ctx, SN_F32, SN_SHAPE(n, dim));
    if (!sn_has(y)) return y;
    DISPATCH(sn_cpu_timestep_embedding(t.data, freqs.data, y.data, n, half, dim),
             sn_cuda_timestep_embedding(ctx, t.data, freqs.data, y.data, n, half, dim));
    return y;
}

/* --- resampling and layout ---------------------------------------------------------- */

sn_tensor sn_upsample_nearest(sn_ctx *ctx, sn_tensor x, int fh, int fw) {
    const char *op = "upsample_nearest";
    ARG(x, FLOAT);
    NEED(x.ndim >= 2 && fh >= 1 && fw >= 1, "cannot upsample x %s by (%d, %d)", SHP(x), fh, fw);
    int nd = x.ndim;
    int64_t shape[SN_MAX_DIMS];
    for (int i = 0; i < nd; i++) shape[i] = x.shape[i];
    shape[nd - 2] *= fh;
    shape[nd - 1] *= fw;
    sn_tensor y = sn_empty(ctx, x.dtype, nd, shape);
    if (!sn_has(y)) return y;
    DISPATCH(sn_cpu_upsample_nearest(x.data, y.data, prod(x.shape, 0, nd - 2), x.shape[nd - 2],
                                     x.shape[nd - 1], fh, fw),
             sn_cuda_upsample_nearest(ctx, x.dtype, x.data, y.data, prod(x.shape, 0, nd - 2),
                                      x.shape[nd - 2], x.shape[nd - 1], fh, fw));
    return y;
}

sn_tensor sn_avg_pool2d(sn_ctx *ctx, sn_tensor x, int kh, int kw) {
    const char *op = "avg_pool2d";
    ARG(x, FLOAT);
    int nd = x.ndim;
    NEED(nd >= 2 && kh >= 1 && kw >= 1 && kh <= x.shape[nd - 2] && kw <= x.shape[nd - 1],
         "cannot pool x %s with a (%d, %d) kernel", SHP(x), kh, kw);
    int64_t shape[SN_MAX_DIMS];
    for (int i = 0; i < nd; i++) shape[i] = x.shape[i];
    shape[nd - 2] /= kh;
    shape[nd - 1] /= kw;
    sn_tensor y = sn_empty(ctx, x.dtype, nd, shape);
    if (!sn_has(y)) return y;
    DISPATCH(sn_cpu_avg_pool2d(x.data, y.data, prod(x.shape, 0, nd - 2), x.shape[nd - 2],
                               x.shape[nd - 1], kh, kw),
             sn_cuda_avg_pool2d(ctx, x.dtype, x.data, y.data, prod(x.shape, 0, nd - 2), x.shape[nd - 2],
                                x.shape[nd - 1], kh, kw));
    return y;
}

/* Resolves pooling parameters against x's two last axes into *g; NULL when they fit, else why. */
static const char *pool_geom(sn_tensor x, const sn_pool2d_params *p, sn_cpu_pool2d_geom *g) {
    int nd = x.ndim;
    g->kh = p->kernel[0], g->kw = p->kernel[1];
    g->sh = p->stride[0] ? p->stride[0] : g->kh;
    g->sw = p->stride[1] ? p->stride[1] : g->kw;
    g->ph = p->padding[0], g->pw = p->padding[1];
    g->exclude_pad = p->exclude_pad != 0;
    if (g->kh < 1 || g->kw < 1 || g->sh < 1 || g->sw < 1) return "kernel and stride must be positive";
    if (g->ph < 0 || g->pw < 0 || 2 * g->ph > g->kh || 2 * g->pw > g->kw)
        return "padding must be between 0 and half the kernel";
    g->planes = prod(x.shape, 0, nd - 2), g->h = x.shape[nd - 2], g->w = x.shape[nd - 1];
    if (g->h + 2 * g->ph < g->kh || g->w + 2 * g->pw < g->kw) return "the kernel does not fit";
    g->oh = (g->h + 2 * g->ph - g->kh) / g->sh + 1;
    g->ow = (g->w + 2 * g->pw - g->kw) / g->sw + 1;
    return NULL;
}

static sn_tensor pool2d(sn_ctx *ctx, const char *op, sn_tensor x, const sn_pool2d_params *p,
                        int is_max) {
    ARG(x, FLOAT);
    NEED(p, "needs pooling parameters");
    NEED(x.ndim >= 2, "x %s has fewer than two axes", SHP(x));
    sn_cpu_pool2d_geom g;
    const char *why = pool_geom(x, p, &g);
    NEED(!why, "cannot pool x %s with kernel (%d, %d), stride (%d, %d), padding (%d, %d): %s",
         SHP(x), p->kernel[0], p->kernel[1], p->stride[0], p->stride[1], p->padding[0],
         p->padding[1], why);
    int64_t shape[SN_MAX_DIMS];
    for (int i = 0; i < x.ndim; i++) shape[i] = x.shape[i];
    shape[x.ndim - 2] = g.oh;
    shape[x.ndim - 1] = g.ow;
    sn_tensor y = sn_empty(ctx, x.dtype, x.ndim, shape);
    if (!sn_has(y)) return y;
    DISPATCH(is_max ? sn_cpu_max_pool2d(&g, x.data, y.data) : sn_cpu_avg_pool2d_ex(&g, x.data, y.data),
             is_max ? sn_cuda_max_pool2d(ctx, x.dtype, &g, x.data, y.data)
                    : sn_cuda_avg_pool2d_ex(ctx, x.dtype, &g, x.data, y.data));
    return y;
}

sn_tensor sn_max_pool2d(sn_ctx *ctx, sn_tensor x, const sn_pool2d_params *p) {
    return pool2d(ctx, "max_pool2d", x, p, 1);
}

sn_tensor sn_avg_pool2d_ex(sn_ctx *ctx, sn_tensor x, const sn_pool2d_params *p) {
    return pool2d(ctx, "avg_pool2d_ex", x, p, 0);
}

/* The column weights come from the arena and go back to it before the op returns. */
static void cpu_resize_bilinear(sn_ctx *ctx, sn_tensor x, sn_tensor y) {
    int nd = x.ndim;
    int64_t ow = y.shape[nd - 1];
    sn_scope s = sn_scope_begin(ctx);
    int64_t *ix = sn_alloc(ctx, ow * (sizeof(int64_t) + sizeof(float)));
    if (ix)
        sn_cpu_resize_bilinear(x.data, y.data, prod(x.shape, 0, nd - 2), x.shape[nd - 2],
                               x.shape[nd - 1], y.shape[nd - 2], ow, ix, (float *)(ix + ow));
    sn_scope_end(ctx, s, sn_none());
}

sn_tensor sn_resize_bilinear(sn_ctx *ctx, sn_tensor x, int oh, int ow) {
    const char *op = "resize_bilinear";
    ARG(x, FLOAT);
    NEED(x.ndim >= 2 && oh >= 1 && ow >= 1, "cannot resize x %s to (%d, %d)", SHP(x), oh, ow);
    int64_t shape[SN_MAX_DIMS];
    for (int i = 0; i < x.ndim; i++) shape[i] = x.shape[i];
    shape[x.ndim - 2] = oh;
    shape[x.ndim - 1] = ow;
    sn_tensor y = sn_empty(ctx, x.dtype, x.ndim, shape);
    if (!sn_has(y)) return y;
    DISPATCH(cpu_resize_bilinear(ctx, x, y),
             sn_cuda_resize_bilinear(ctx, x.dtype, x.data, y.data, prod(x.shape, 0, x.ndim - 2),
                                     x.shape[x.ndim - 2], x.shape[x.ndim - 1], oh, ow));
    return sn_ok(ctx) ? y : sn_none();
}

/* Both patch layouts are a permute of a 6-axis view of the input. */
sn_tensor sn_patchify(sn_ctx *ctx, sn_tensor x, int p) {
    const char *op = "patchify";
    ARG(x, ANY_DTYPE);
    NEED(x.ndim == 4 && p >= 1 && x.shape[2] % p == 0 && x.shape[3] % p == 0,
         "x %s is not (N, C, H, W) with H and W multiples of the patch size %d", SHP(x), p);
    int64_t n = x.shape[0], c = x.shape[1], h = x.shape[2] / p, w = x.shape[3] / p;
    sn_tensor y = sn_empty(ctx, x.dtype, SN_SHAPE(n, h * w, c * p * p));
    if (!sn_has(y)) return y;
    const int64_t view[] = {n, c, h, p, w, p}; /* -> (n, h, w, c, p, p) */
    const int perm[] = {0, 2, 4, 1, 3, 5};
    DISPATCH(sn_cpu_permute(x.data, y.data, sn_dtype_size(x.dtype), 6, view, perm),
             sn_cuda_permute(ctx, x.data, y.data, sn_dtype_size(x.dtype), 6, view, perm));
    return y;
}

sn_tensor sn_unpatchify(sn_ctx *ctx, sn_tensor x, int p, int h, int w, int c) {
    const char *op = "unpatchify";
    ARG(x, ANY_DTYPE);
    NEED(p >= 1 && h >= 1 && w >= 1 && c >= 1 && x.ndim == 3 && x.shape[1] == (int64_t)h * w &&
             x.shape[2] == (int64_t)p * p * c,
         "x %s is not (N, h w, p p C) for p %d, h %d, w %d, C %d", SHP(x), p, h, w, c);
    int64_t n = x.shape[0];
    sn_tensor y = sn_empty(ctx, x.dtype, SN_SHAPE(n, c, (int64_t)h * p, (int64_t)w * p));
    if (!sn_has(y)) return y;
    const int64_t view[] = {n, h, w, p, p, c}; /* -> (n, c, h, p, w, p) */
    const int perm[] = {0, 5, 1, 3, 2, 4};
    DISPATCH(sn_cpu_permute(x.data, y.data, sn_dtype_size(x.dtype), 6, view, perm),
             sn_cuda_permute(ctx, x.data, y.data, sn_dtype_size(x.dtype), 6, view, perm));
    return y;
}
