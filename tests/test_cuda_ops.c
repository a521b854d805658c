/* The CUDA backend against the CPU backend: every op of core/ops.h on random inputs with odd
 * shapes (primes, 1s, sizes that are not multiples of any tile), then whole models through
 * the same model code on a CUDA context: the DiT and LightningDiT fixtures, the SD-structured
 * KL autoencoder fixture, and the pretrained TAEF2 autoencoder on a real photograph (when the
 * shared data is beside the clone).
 *
 * Tolerances, measured as check.h does (largest |cuda - cpu| over the largest |cpu|):
 *   - ops that only move data (copy, cast, permute, concat, slice, split, pad, upsample,
 *     patchify, unpatchify, max pool) must match bit for bit;
 *   - every op that computes in f32: TOL = 1e-4 relative. cuBLASLt runs with
 *     CUBLAS_COMPUTE_32F and cuDNN with CUDNN_FMA_MATH (no TF32), so matrix products and
 *     convolutions differ from OpenBLAS only by summation order (about 1e-6); elementwise
 *     ops differ by the last bits of CUDA's expf/tanhf/erff and by fused multiply-adds;
 *   - whole models: 1e-4 relative on the output (errors compound through the layers but stay
 *     near 1e-6 per op).
 * Then all of it again with the GPU in bf16 and in f16 (the CPU in f32 on the same inputs,
 * rounded to that dtype first, so only the GPU's half-precision arithmetic differs), the error
 * measured as ||cuda - cpu|| / ||cpu|| (METHOD.md's measure; one bf16 rounding already moves a
 * single value by up to 2^-9 of itself, and deep networks compound it):
 *   - every op: 1e-2;
 *   - whole models, their weights bound in bf16/f16 (as the CLI's --dtype does): 1e-2, but
 *     5e-2 for the autoencoders in bf16 (see VAE_TOL);
 *   - a guided DiT step recorded as a CUDA graph and replayed, against the same step run
 *     eagerly: 1e-6 (the same kernels: in practice bit for bit);
 *   - the CLIP and T5 text encoders and the FID Inception, against the transformers
 *     reference outputs of tests/fixtures and the CPU: 1e-2.
 * The largest error seen per op is printed at the end ("parity" lines).
 *
 * No GPU (CI): exits 77, which ctest reports as skipped. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../core/backend.h"
#include "../core/ops.h"
#ifdef SN_HAVE_CUDA
#include "../core/cuda/cuda_ops.h" /* sn_cuda_attention_version */
#endif
#include "../core/graph.h"
#include "../core/half.h"
#include "../dit/dit.h"
#include "../dit/step.h"
#include "../tokenizers/text_encoder.h"
#include "../tools/eval/inception.h"
#include "../tools/lib/image.h"
#include "../vae/vae.h"
#include "check.h"

#define EXACT -1.0

/* gpu is the context of the current pass: f32, then bf16, then f16 (half_dt). */
static sn_ctx *cpu, *gpu;
static sn_dtype half_dt = SN_F32;
#define TOL (half_dt == SN_F32 ? 1e-4 : 1e-2)

static const char *pass_prefix(void) {
    return half_dt == SN_BF16 ? "bf16_" : half_dt == SN_F16 ? "f16_" : "";
}

/* --- the largest error per op, printed at the end ------------------------------------- */

#define MAX_OPS 256
static struct {
    char name[32];
    double worst, tol;
    int cases;
} table[MAX_OPS];
static int ntable;

static void record(const char *what, double err, double tol) {
    char name[32];
    size_t n = strcspn(what, " ");
    snprintf(name, sizeof name, "%s%.*s", pass_prefix(), (int)(n < 26 ? n : 26), what);
    int i = 0;
    while (i < ntable && strcmp(table[i].name, name)) i++;
    if (i == ntable) {
        if (ntable == MAX_OPS) return;
        snprintf(table[ntable].name, sizeof table[ntable].name, "%s", name);
        table[ntable].tol = tol;
        ntable++;
    }
    if (!(err <= table[i].worst)) table[i].worst = err; /* NaN sticks */
    table[i].cases++;
}

/* f32 passes: the largest error over the largest value (check.h); half passes: the norm of
 * the error over the norm of the reference (METHOD.md's measure), since one bf16 rounding
 * already moves single values by 2^-9 of themselves. */
static double rel_err(const float *got, const float *ref, long n) {
    if (half_dt == SN_F32) return check_rel_err(got, ref, n);
    double num = 0, den = 0;
    for (long i = 0; i < n; i++) {
        double d = (double)got[i] - ref[i];
        num += d * d;
        den += (double)ref[i] * ref[i];
    }
    return num == 0 ? 0 : den == 0 ? 1.0 / 0.0 : sqrt(num / den); /* NaN stays NaN */
}

/* --- host inputs, freed after each case ------------------------------------------------ */

#define MAX_HOST 16
static void *host_bufs[MAX_HOST];
static int nhost;

static void free_host(void) {
    for (int i = 0; i < nhost; i++) free(host_bufs[i]);
    nhost = 0;
}

/* A host tensor of `dt` with uniform values in [lo, hi) (converted to the dtype). */
static sn_tensor host_t(sn_dtype dt, float lo, float hi, int nd, const int64_t *shape) {
    sn_tensor t = sn_tensor_wrap(NULL, dt, nd, shape);
    float *f = malloc(sizeof(float) * (sn_numel(t) ? sn_numel(t) : 1));
    for (int64_t i = 0; i < sn_numel(t); i++) f[i] = lo + (hi - lo) * (check_uniform() + 1) / 2;
    if (dt == SN_F32) {
        t.data = f;
    } else { /* convert on a CPU context (sn_cast is itself checked elsewhere) */
        sn_tensor src = sn_tensor_wrap(f, SN_F32, nd, shape);
        sn_scope s = sn_scope_begin(cpu);
        sn_tensor c = sn_cast(cpu, src, dt);
        t.data = malloc(sn_nbytes(t) ? sn_nbytes(t) : 1);
        memcpy(t.data, c.data, sn_nbytes(t));
        sn_scope_end(cpu, s, sn_none());
        free(f);
    }
    if (nhost < MAX_HOST) host_bufs[nhost++] = t.data;
    return t;
}
#define H(...) host_t(SN_F32, -1, 1, SN_SHAPE(__VA_ARGS__))

/* --- one case: the same op on both contexts, outputs compared ------------------------- */

typedef struct {
    int i[8];
    float f[4];
    const int *perm;
    sn_tensor extra; /* an attention bias, uploaded like the inputs */
} params;
typedef sn_tensor (*op_fn)(sn_ctx *c, const sn_tensor *in, int n, const params *p);

static void compare(const char *what, sn_tensor yc, sn_tensor yg, double tol) {
    CHECKF(sn_ok(cpu) && sn_has(yc), "%s: cpu: %s", what, sn_error(cpu));
    CHECKF(sn_ok(gpu) && sn_has(yg), "%s: cuda: %s", what, sn_error(gpu));
    if (!sn_has(yc) || !sn_has(yg)) {
        record(what, 1.0 / 0.0, tol);
        return;
    }
    if (half_dt != SN_F32 && yg.dtype == half_dt && yc.dtype == SN_F32) {
        yg = sn_cast(gpu, yg, SN_F32); /* compared in f32 */
        CHECKF(sn_ok(gpu), "%s: cast: %s", what, sn_error(gpu));
    }
    CHECKF(yc.dtype == yg.dtype && sn_same_shape(yc, yg) && yg.device == SN_CUDA,
           "%s: output dtype, shape or device differ", what);
    void *got = malloc(sn_nbytes(yg) ? sn_nbytes(yg) : 1);
    memset(got, 0xff, sn_nbytes(yg)); /* poisoned: an unwritten output cannot pass */
    sn_download(gpu, yg, got);
    CHECKF(sn_ok(gpu), "%s: download: %s", what, sn_error(gpu));
    double err;
    if (tol == EXACT)
        err = memcmp(got, yc.data, sn_nbytes(yc)) ? 1.0 : 0.0;
    else
        err = rel_err(got, yc.data, (long)sn_numel(yc));
    record(what, err, tol);
    if (tol == EXACT)
        CHECKF(err == 0, "%s: outputs differ", what);
    else
        CHECKF(err <= tol, "%s: relative error %.3g > %.3g", what, err, tol);
    free(got);
}

static void both(const char *what, op_fn f, const sn_tensor *in, int n, const params *p,
                 double tol) {
    sn_tensor ci[8], gi[8];
    params pc = *p, pg = *p;
    for (int i = 0; i < n; i++) {
        if (half_dt != SN_F32 && sn_has(in[i]) && in[i].dtype == SN_F32) {
            /* both backends see values the half dtype holds exactly; the GPU gets that dtype */
            float *f = in[i].data;
            for (int64_t j = 0; j < sn_numel(in[i]); j++)
                f[j] = half_dt == SN_BF16 ? sn_bf16_to_f32(sn_f32_to_bf16(f[j]))
                                          : sn_f16_to_f32(sn_f32_to_f16(f[j]));
        }
        ci[i] = sn_has(in[i]) ? sn_from_host(cpu, in[i]) : sn_none();
        gi[i] = sn_has(in[i]) ? sn_from_host(gpu, in[i]) : sn_none();
        if (half_dt != SN_F32 && sn_has(gi[i]) && gi[i].dtype == SN_F32)
            gi[i] = sn_cast(gpu, gi[i], half_dt);
    }
    if (sn_has(p->extra)) {
        pc.extra = sn_from_host(cpu, p->extra);
        pg.extra = sn_from_host(gpu, p->extra);
    }
    sn_tensor yc = f(cpu, ci, n, &pc), yg = f(gpu, gi, n, &pg);
    compare(what, yc, yg, tol);
    sn_clear_error(cpu);
    sn_clear_error(gpu);
    sn_arena_reset(cpu);
    sn_arena_reset(gpu);
    free_host();
}

/* --- elementwise ------------------------------------------------------------------------ */

static sn_tensor f_unary(sn_ctx *c, const sn_tensor *in, int n, const params *p) {
    sn_tensor x = in[0];
    switch (p->i[0]) {
    case 0: return sn_silu(c, x);
    case 1: return sn_relu(c, x);
    case 2: return sn_tanh(c, x);
    case 3: return sn_exp(c, x);
    case 4: return sn_gelu(c, x, SN_GELU_EXACT);
    case 5: return sn_gelu(c, x, SN_GELU_TANH);
    case 6: return sn_affine(c, x, 1.5f, -0.25f);
    default: return sn_clamp(c, x, -0.5f, 0.75f);
    }
}

static void test_unary(void) {
    static const char *names[] = {"silu", "relu", "tanh", "exp", "gelu", "gelu_tanh", "affine", "clamp"};
    const int64_t shapes[][3] = {{3, 7, 13}, {1, 1, 1}, {1, 1, 100003}};
    for (int op = 0; op < 8; op++)
        for (int s = 0; s < 3; s++) {
            sn_tensor x = host_t(SN_F32, -4, 4, 3, shapes[s]);
            char what[64];
            snprintf(what, sizeof what, "%s numel %lld", names[op], (long long)sn_numel(x));
            both(what, f_unary, &x, 1, &(params){.i = {op}}, TOL);
        }
}

static sn_tensor f_binary(sn_ctx *c, const sn_tensor *in, int n, const params *p) {
    switch (p->i[0]) {
    case 0: return sn_add(c, in[0], in[1]);
    case 1: return sn_sub(c, in[0], in[1]);
    case 2: return sn_mul(c, in[0], in[1]);
    default: return sn_div(c, in[0], in[1]);
    }
}

typedef struct {
    int nd;
    int64_t d[SN_MAX_DIMS];
} shape_t;

static void test_binary(void) {
    static const char *names[] = {"add", "sub", "mul", "div"};
    const shape_t pairs[][2] = {
        {{4, {2, 3, 4, 5}}, {4, {2, 3, 4, 5}}}, {{4, {2, 3, 4, 5}}, {0, {0}}},
        {{3, {7, 13, 5}}, {1, {1}}},            {{4, {2, 3, 4, 5}}, {1, {5}}},
        {{4, {2, 3, 4, 5}}, {3, {3, 1, 1}}},    {{2, {4, 1}}, {3, {3, 1, 5}}},
        {{1, {1}}, {2, {2, 7}}},                {{5, {2, 1, 3, 1, 5}}, {5, {1, 4, 1, 6, 1}}},
        {{3, {2, 7, 1}}, {3, {2, 1, 13}}},      {{2, {3, 70001}}, {1, {70001}}},
        {{2, {40000, 3}}, {2, {40000, 1}}},     {{4, {2, 320, 17, 19}}, {4, {2, 320, 1, 1}}},
    };
    int np = sizeof pairs / sizeof pairs[0];
    for (int op = 0; op < 4; op++)
        for (int k = 0; k < np; k++) {
            sn_tensor in[2] = {host_t(SN_F32, -1, 1, pairs[k][0].nd, pairs[k][0].d),
                               host_t(SN_F32, 0.5f, 1.5f, pairs[k][1].nd, pairs[k][1].d)};
            char what[64];
            snprintf(what, sizeof what, "%s case %d", names[op], k);
            both(what, f_binary, in, 2, &(params){.i = {op}}, TOL);
        }
}

static sn_tensor f_softmax(sn_ctx *c, const sn_tensor *in, int n, const params *p) {
    return sn_softmax(c, in[0]);
}

static void test_softmax(void) {
    const int64_t shapes[][3] = {{3, 7, 13}, {1, 1, 1}, {2, 3, 1000}, {1, 5, 40000}};
    for (int s = 0; s < 4; s++) {
        sn_tensor x = host_t(SN_F32, -30, 30, 3, shapes[s]);
        both("softmax", f_softmax, &x, 1, &(params){0}, TOL);
    }
}

/* --- normalization ---------------------------------------------------------------------- */

static sn_tensor f_norm(sn_ctx *c, const sn_tensor *in, int n, const params *p) {
    switch (p->i[0]) {
    case 0: return sn_layer_norm(c, in[0], in[1], in[2], 1e-5f);
    case 1: return sn_rms_norm(c, in[0], in[1], 1e-6f);
    case 2: return sn_group_norm(c, in[0], p->i[1], in[1], in[2], 1e-6f);
    default: return sn_group_norm_silu(c, in[0], p->i[1], in[1], in[2], 1e-6f);
    }
}

static void test_norms(void) {
    const int64_t rows[][3] = {{2, 17, 64}, {1, 1, 7}, {3, 5, 1152}, {1, 3, 4099}};
    for (int s = 0; s < 4; s++)
        for (int affine = 0; affine < 2; affine++) {
            int64_t d = rows[s][2];
            sn_tensor x = host_t(SN_F32, -2, 3, 3, rows[s]);
            sn_tensor w = affine ? H(d) : sn_none(), b = affine ? H(d) : sn_none();
            both("layer_norm", f_norm, (sn_tensor[]){x, w, b}, 3, &(params){.i = {0}}, TOL);
            x = host_t(SN_F32, -2, 3, 3, rows[s]);
            w = affine ? H(d) : sn_none();
            both("rms_norm", f_norm, (sn_tensor[]){x, w}, 2, &(params){.i = {1}}, TOL);
        }
    /* group norm: VAE-like maps (a mean offset to test the two-pass variance), 1-D, big */
    const shape_t gs[] = {{4, {2, 64, 37, 29}}, {3, {3, 12, 101}}, {4, {1, 128, 128, 130}},
                          {5, {1, 6, 3, 5, 7}}, {4, {1, 4, 1, 1}}};
    const int groups[] = {32, 4, 32, 3, 2};
    for (int s = 0; s < 5; s++)
        for (int affine = 0; affine < 2; affine++) {
            sn_tensor x = host_t(SN_F32, 4, 6, gs[s].nd, gs[s].d);
            int64_t c = gs[s].d[1];
            sn_tensor w = affine ? H(c) : sn_none(), b = affine ? H(c) : sn_none();
            both("group_norm", f_norm, (sn_tensor[]){x, w, b}, 3, &(params){.i = {2, groups[s]}},
                 TOL);
            x = host_t(SN_F32, -3, 3, gs[s].nd, gs[s].d);
            w = affine ? H(c) : sn_none(), b = affine ? H(c) : sn_none();
            both("group_norm_silu", f_norm, (sn_tensor[]){x, w, b}, 3,
                 &(params){.i = {3, groups[s]}}, TOL);
        }
}

static sn_tensor f_modulate(sn_ctx *c, const sn_tensor *in, int n, const params *p) {
    switch (p->i[0]) {
    case 0: return sn_modulate(c, in[0], in[1], in[2]);
    case 1: return sn_layer_norm_modulate(c, in[0], in[1], in[2], 1e-6f);
    case 2: return sn_gated_add(c, in[0], in[1], in[2]);
    default: return sn_rope(c, in[0], in[1], in[2]);
    }
}

static void test_modulate(void) {
    const int64_t s[][3] = {{2, 17, 64}, {1, 1, 1}, {3, 257, 1152}, {2, 5, 300}, {1, 3, 2500}};
    static const char *names[] = {"modulate", "layer_norm_modulate", "gated_add"};
    for (int op = 0; op < 3; op++)
        for (int k = 0; k < 5; k++) {
            if (op == 1 && s[k][2] == 1) continue; /* a one-value row normalizes to 0 */
            sn_tensor in[3] = {host_t(SN_F32, -1, 1, 3, s[k]),
                               op == 2 ? host_t(SN_F32, -1, 1, 3, s[k]) : H(s[k][0], s[k][2]),
                               H(s[k][0], s[k][2])};
            both(names[op], f_modulate, in, 3, &(params){.i = {op}}, TOL);
        }
    const int64_t rs[][4] = {{2, 3, 17, 64}, {1, 16, 256, 72}, {1, 1, 1, 2}}; /* N, H, T, hd */
    for (int k = 0; k < 3; k++) {
        sn_tensor in[3] = {H(rs[k][0], rs[k][1], rs[k][2], rs[k][3]), H(rs[k][2], rs[k][3]),
                           H(rs[k][2], rs[k][3])};
        both("rope", f_modulate, in, 3, &(params){.i = {3}}, TOL);
    }
}

/* --- products ------------------------------------------------------------------------------ */

static sn_tensor f_linear(sn_ctx *c, const sn_tensor *in, int n, const params *p) {
    return p->i[0] ? sn_linear_gelu(c, in[0], in[1], in[2]) : sn_linear(c, in[0], in[1], in[2]);
}
static sn_tensor f_matmul(sn_ctx *c, const sn_tensor *in, int n, const params *p) {
    return sn_matmul(c, in[0], in[1]);
}

static void test_products(void) {
    const int64_t lin[][4] = {/* batch, rows, in, out */
                              {1, 1, 1, 1},    {2, 77, 129, 67}, {1, 1000, 64, 384},
                              {3, 5, 1152, 7}, {1, 256, 1152, 3456}};
    for (int k = 0; k < 5; k++)
        for (int bias = 0; bias < 2; bias++) {
            sn_tensor in[3] = {H(lin[k][0], lin[k][1], lin[k][2]), H(lin[k][3], lin[k][2]),
                               bias ? H(lin[k][3]) : sn_none()};
            both("linear", f_linear, in, 3, &(params){0}, TOL);
            sn_tensor in2[3] = {H(lin[k][0], lin[k][1], lin[k][2]), H(lin[k][3], lin[k][2]),
                                bias ? H(lin[k][3]) : sn_none()};
            both("linear_gelu", f_linear, in2, 3, &(params){.i = {1}}, TOL);
        }
    const int64_t mm[][4] = {/* batch, m, k, n */
                             {1, 1, 1, 1}, {3, 7, 13, 5}, {12, 65, 33, 130}, {2, 256, 72, 256}};
    for (int k = 0; k < 4; k++) {
        sn_tensor in[2] = {H(mm[k][0], mm[k][1], mm[k][2]), H(mm[k][0], mm[k][2], mm[k][3])};
        both("matmul", f_matmul, in, 2, &(params){0}, TOL);
    }
    /* 4-D batch */
    sn_tensor in[2] = {H(2, 3, 9, 11), H(2, 3, 11, 4)};
    both("matmul 4d", f_matmul, in, 2, &(params){0}, TOL);
}

static sn_tensor f_conv(sn_ctx *c, const sn_tensor *in, int n, const params *p) {
    sn_conv2d_params cp = {.stride = {p->i[0], p->i[1]}, .padding = {p->i[2], p->i[3]},
                           .dilation = {p->i[4], p->i[5]}, .groups = p->i[6]};
    return sn_conv2d(c, in[0], in[1], in[2], &cp);
}

static void test_conv(void) {
    typedef struct {
        int64_t n, cin, h, w, cout, kh, kw;
        int sh, sw, ph, pw, dh, dw, groups;
    } cv;
    const cv cases[] = {
        {2, 3, 17, 19, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1},     /* the usual 3x3 */
        {1, 64, 33, 31, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1},   /* VAE-like */
        {2, 16, 29, 23, 32, 3, 3, 2, 2, 0, 0, 1, 1, 1},   /* downsampling, no padding */
        {1, 5, 20, 21, 7, 1, 1, 1, 1, 0, 0, 1, 1, 1},     /* 1x1 */
        {1, 8, 19, 17, 12, 3, 3, 1, 1, 2, 2, 2, 2, 4},    /* dilated, grouped */
        {2, 12, 15, 14, 12, 3, 3, 1, 1, 1, 1, 1, 1, 12},  /* depthwise */
        {1, 4, 16, 24, 6, 5, 3, 2, 3, 2, 1, 1, 1, 2},     /* non-square everything */
        {1, 4, 32, 32, 96, 2, 2, 2, 2, 0, 0, 1, 1, 1},    /* patch embedding */
        {1, 3, 1, 1, 5, 1, 1, 1, 1, 0, 0, 1, 1, 1},       /* 1x1 image */
        {3, 7, 9, 11, 5, 3, 3, 3, 2, 1, 0, 1, 2, 1},
        {1, 264, 9, 10, 264, 3, 3, 1, 1, 1, 1, 1, 1, 1}, /* > 256 channels: NCHW in bf16/f16 */
        {2, 32, 12, 13, 48, 3, 3, 1, 1, 1, 1, 1, 1, 1},  /* multiples of 8: NHWC in bf16/f16 */
    };
    /* both routes of core/cuda/conv.cu for every case: cuDNN, and im2col + cuBLASLt (which
     * takes groups 1 only; grouped cases stay with cuDNN) */
    const char *routes[] = {"cudnn", "gemm"};
    for (int r = 0; r < 2; r++)
        for (int k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++)
            for (int bias = 0; bias < 2; bias++) {
                const cv *c = &cases[k];
                sn_tensor in[3] = {H(c->n, c->cin, c->h, c->w),
                                   H(c->cout, c->cin / c->groups, c->kh, c->kw),
                                   bias ? H(c->cout) : sn_none()};
                char what[64];
                snprintf(what, sizeof what, "conv2d case %d (%s)", k,
                         c->groups > 1 ? "cudnn" : routes[r]);
                setenv("SINTER_CUDA_CONV", routes[r], 1);
                both(what, f_conv, in, 3,
                     &(params){.i = {c->sh, c->sw, c->ph, c->pw, c->dh, c->dw, c->groups}}, TOL);
            }
    unsetenv("SINTER_CUDA_CONV");
}

/* --- attention ------------------------------------------------------------------------------ */

/* p->i[1]: neighborhood attention over a 12 x 10 grid, window (5, 4), stride (2, 1),
 * dilation (1, 2), the second axis causal; keys past the grid are extra (text) tokens. */
static sn_tensor f_attn(sn_ctx *c, const sn_tensor *in, int n, const params *p) {
    sn_attn_spec s = {.kind = SN_ATTN_FULL, .scale = p->f[0], .causal = p->i[0], .bias = p->extra};
    if (p->i[1]) {
        s.kind = SN_ATTN_NEIGHBORHOOD;
        s.na = (sn_na_params){.axes = 2, .size = {12, 10}, .window = {5, 4}, .stride = {2, 1},
                              .dilation = {1, 2}, .causal = {0, 1}};
    }
    return sn_attention(c, in[0], in[1], in[2], &s);
}

static void test_attention(void) {
    typedef struct {
        int64_t n, h, lq, lk, d, dv;
        int causal, bias; /* bias: 0 none, 1 full, 2 (1, H, Lq, Lk), 3 key mask (N, 1, 1, Lk) */
    } at;
    const at cases[] = {
        {2, 3, 17, 17, 16, 16, 0, 0},    {1, 2, 1, 1, 8, 8, 0, 0},
        {2, 4, 100, 77, 64, 64, 0, 0},   {1, 6, 256, 256, 72, 72, 0, 0},
        {1, 2, 129, 300, 80, 80, 0, 0},  {1, 2, 65, 65, 128, 128, 0, 0},
        {1, 1, 70, 90, 256, 256, 0, 0},  {1, 2, 33, 50, 40, 96, 0, 0},
        {2, 2, 100, 100, 64, 64, 1, 0},  {1, 3, 40, 97, 32, 32, 1, 0},   /* causal, Lq < Lk */
        {1, 3, 97, 40, 32, 32, 1, 0},    {2, 3, 31, 45, 64, 64, 0, 1},   /* causal, Lq > Lk */
        {2, 3, 31, 45, 64, 64, 0, 2},    {2, 3, 31, 45, 64, 64, 1, 3},
        {1, 16, 1024, 1024, 72, 72, 0, 0}, {1, 2, 37, 41, 13, 7, 1, 1}, /* odd head sizes */
    };
    int oldest = half_dt == SN_F32 ? 2 : 3; /* the f32 versions matter once */
    for (int version = 3; version >= oldest; version--) /* the default kernel, then older ones */
    for (int k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++) {
#ifdef SN_HAVE_CUDA
        sn_cuda_attention_version(version);
#endif
        const at *c = &cases[k];
        sn_tensor in[3] = {H(c->n, c->h, c->lq, c->d), H(c->n, c->h, c->lk, c->d),
                           H(c->n, c->h, c->lk, c->dv)};
        params p = {.i = {c->causal}, .f = {k == 1 ? 0.3f : 0.0f}};
        if (c->bias == 1) p.extra = host_t(SN_F32, -3, 3, SN_SHAPE(c->n, c->h, c->lq, c->lk));
        if (c->bias == 2) p.extra = host_t(SN_F32, -3, 3, SN_SHAPE(1, c->h, c->lq, c->lk));
        if (c->bias == 3) { /* a padding mask: the last keys of image 1 masked by -inf */
            p.extra = host_t(SN_F32, 0, 0, SN_SHAPE(c->n, 1, 1, c->lk));
            float *m = p.extra.data;
            for (int64_t j = c->lk - 9; j < c->lk; j++) m[c->lk + j] = -1.0f / 0.0f;
        }
        char what[64];
        snprintf(what, sizeof what, "attention%s case %d",
                 version == 3 ? "" : "_v2", k);
        both(what, f_attn, in, 3, &p, TOL);
    }
#ifdef SN_HAVE_CUDA
    sn_cuda_attention_version(3);
#endif
    /* rows that see only -inf give zeros on both backends */
    {
        sn_tensor in[3] = {H(1, 1, 5, 8), H(1, 1, 6, 8), H(1, 1, 6, 8)};
        params p = {.extra = host_t(SN_F32, 0, 0, SN_SHAPE(1, 1, 5, 6))};
        float *m = p.extra.data;
        for (int j = 0; j < 6; j++) m[2 * 6 + j] = -1.0f / 0.0f; /* row 2 fully masked */
        both("attention masked-row", f_attn, in, 3, &p, TOL);
    }
    /* neighborhood attention: the CUDA kernel takes f16/bf16 (the f32 pass checks the error) */
    for (int extra = 0; extra <= 7; extra += 7) {
        sn_tensor in[3] = {H(2, 3, 120, 64), H(2, 3, 120 + extra, 64), H(2, 3, 120 + extra, 64)};
        if (half_dt != SN_F32) {
            both("attention_na", f_attn, in, 3, &(params){.i = {0, 1}}, TOL);
        } else {
            sn_tensor g[3];
            for (int i = 0; i < 3; i++) g[i] = sn_from_host(gpu, in[i]);
            sn_tensor y = f_attn(gpu, g, 3, &(params){.i = {0, 1}});
            CHECKF(!sn_has(y) && strstr(sn_error(gpu), "takes bf16 or f16"), "%s", sn_error(gpu));
            sn_clear_error(gpu);
            sn_arena_reset(gpu);
            free_host();
        }
    }
    /* heads wider than the kernels' 256 (the SD VAE's 512) go through matrix products */
    {
        sn_tensor in[3] = {H(1, 1, 300, 512), H(1, 1, 257, 512), H(1, 1, 257, 512)};
        both("attention wide-head", f_attn, in, 3, &(params){0}, TOL);
    }
    /* ... but not with a mask: a message, not a crash */
    sn_tensor q = sn_zeros(gpu, SN_F32, SN_SHAPE(1, 1, 4, 300));
    sn_tensor y = sn_attention(gpu, q, q, q, &(sn_attn_spec){.causal = 1});
    CHECKF(!sn_has(y) && strstr(sn_error(gpu), "head dimension"), "%s", sn_error(gpu));
    sn_clear_error(gpu);
    sn_arena_reset(gpu);
}

/* --- lookups ---------------------------------------------------------------------------------- */

static sn_tensor f_lookup(sn_ctx *c, const sn_tensor *in, int n, const params *p) {
    if (p->i[0] == 0) return sn_embedding(c, in[0], in[1]);
    return sn_timestep_embedding(c, in[0], in[1], p->i[1]);
}

static void test_lookups(void) {
    sn_tensor table = H(11, 37);
    sn_tensor ids = host_t(SN_I32, 0, 0, SN_SHAPE(6));
    const int32_t pick[6] = {3, 0, 10, 3, -1, 11}; /* the last two outside: zero rows */
    memcpy(ids.data, pick, sizeof pick);
    both("embedding", f_lookup, (sn_tensor[]){table, ids}, 2, &(params){.i = {0}}, EXACT);
    for (int dim = 256; dim <= 257; dim++) { /* an odd size pads a zero column */
        sn_tensor t = host_t(SN_F32, 0, 999, SN_SHAPE(5));
        sn_tensor f = host_t(SN_F32, 0, 1, SN_SHAPE(128));
        both("timestep_embedding", f_lookup, (sn_tensor[]){t, f}, 2, &(params){.i = {1, dim}}, TOL);
    }
}

/* --- data movement ---------------------------------------------------------------------------- */

static sn_tensor f_move(sn_ctx *c, const sn_tensor *in, int n, const params *p) {
    switch (p->i[0]) {
    case 0: return sn_copy(c, in[0]);
    case 1: return sn_cast(c, in[0], (sn_dtype)p->i[1]);
    case 2: return sn_permute(c, in[0], p->perm);
    case 3: return sn_concat(c, in, n, p->i[1]);
    case 4: return sn_slice(c, in[0], p->i[1], p->i[2], p->i[3]);
    case 5: { /* split: the parts joined back, so one tensor holds them all */
        sn_tensor parts[4];
        sn_split(c, in[0], p->i[1], p->i[2], parts);
        return sn_ok(c) ? sn_concat(c, parts, p->i[2], p->i[1] + 1 < in[0].ndim ? p->i[1] + 1 : 0)
                        : sn_none();
    }
    case 6: return sn_pad2d(c, in[0], p->i[1], p->i[2], p->i[3], p->i[4]);
    case 7: return sn_patchify(c, in[0], p->i[1]);
    default: return sn_unpatchify(c, in[0], p->i[1], p->i[2], p->i[3], p->i[4]);
    }
}

static void test_movement(void) {
    static const sn_dtype dts[] = {SN_F32, SN_F16, SN_BF16, SN_I32, SN_U8};
    for (int a = 0; a < 5; a++) {
        sn_tensor x = host_t(dts[a], -300, 300, SN_SHAPE(3, 7, 13));
        both("copy", f_move, &x, 1, &(params){.i = {0}}, EXACT);
        for (int b = 0; b < 5; b++) {
            x = host_t(dts[a], -300, 300, SN_SHAPE(5, 1001));
            both("cast", f_move, &x, 1, &(params){.i = {1, dts[b]}}, EXACT);
        }
    }
    /* f32 -> ints saturate and truncate; f32 -> halves round to nearest even */
    {
        sn_tensor x = host_t(SN_F32, -1e10f, 1e10f, SN_SHAPE(4097));
        for (int b = 1; b < 5; b++) both("cast", f_move, &x, 1, &(params){.i = {1, dts[b]}}, EXACT);
        free_host();
    }
    static const int p3[] = {2, 0, 1}, p4[] = {0, 2, 3, 1}, p4b[] = {3, 1, 0, 2},
                     p5[] = {4, 2, 0, 3, 1}, p4id[] = {0, 1, 2, 3};
    const int *perms[] = {p3, p4, p4b, p5, p4id};
    const shape_t ps[] = {{3, {7, 13, 5}}, {4, {2, 64, 9, 11}}, {4, {3, 1, 5, 7}},
                          {5, {2, 3, 4, 5, 6}}, {4, {2, 3, 4, 5}}};
    for (int k = 0; k < 5; k++)
        for (int a = 0; a < 5; a += 2) { /* f32, bf16 (2 bytes), u8 */
            sn_tensor x = host_t(dts[a], -100, 100, ps[k].nd, ps[k].d);
            both("permute", f_move, &x, 1, &(params){.i = {2}, .perm = perms[k]}, EXACT);
        }
    for (int axis = -1; axis < 3; axis++)
        for (int a = 0; a < 5; a += 4) {
            sn_tensor in[3] = {host_t(dts[a], -9, 9, SN_SHAPE(2, 3, 5)),
                               host_t(dts[a], -9, 9, SN_SHAPE(2, 3, 5)),
                               host_t(dts[a], -9, 9, SN_SHAPE(2, 3, 5))};
            int ax = axis < 0 ? 2 : axis;
            in[1].shape[ax] = 1; /* unequal parts along the axis */
            in[2].shape[ax] = 4;
            in[2].data = realloc(in[2].data, sn_nbytes(in[2]));
            host_bufs[nhost - 1] = in[2].data;
            memset(in[2].data, 7, sn_nbytes(in[2]));
            both("concat", f_move, in, 3, &(params){.i = {3, axis}}, EXACT);
        }
    {
        sn_tensor x = host_t(SN_F32, -9, 9, SN_SHAPE(4, 6, 10));
        both("slice", f_move, &x, 1, &(params){.i = {4, 1, 2, 3}}, EXACT);
        x = host_t(SN_U8, 0, 200, SN_SHAPE(4, 6, 11));
        both("slice", f_move, &x, 1, &(params){.i = {4, 2, 3, 7}}, EXACT);
        x = host_t(SN_F32, -9, 9, SN_SHAPE(4, 6, 10));
        both("split", f_move, &x, 1, &(params){.i = {5, 1, 3}}, EXACT);
        x = host_t(SN_F32, -9, 9, SN_SHAPE(4, 6, 10));
        both("split", f_move, &x, 1, &(params){.i = {5, 0, 2}}, EXACT);
        x = host_t(SN_F32, -9, 9, SN_SHAPE(2, 3, 7, 5));
        both("pad2d", f_move, &x, 1, &(params){.i = {6, 1, 2, 3, 0}}, EXACT);
        x = host_t(SN_U8, 0, 200, SN_SHAPE(3, 7, 5));
        both("pad2d", f_move, &x, 1, &(params){.i = {6, 0, 1, 1, 1}}, EXACT);
        x = host_t(SN_F32, -9, 9, SN_SHAPE(2, 4, 6, 10));
        both("patchify", f_move, &x, 1, &(params){.i = {7, 2}}, EXACT);
        x = host_t(SN_F32, -9, 9, SN_SHAPE(2, 3 * 5, 2 * 2 * 7));
        both("unpatchify", f_move, &x, 1, &(params){.i = {8, 2, 3, 5, 7}}, EXACT);
    }
}

/* sn_cuda_transpose (the channels-last copies around cuDNN's convolutions), checked byte for
 * byte against the host: every element size, sizes off the 32-wide tiles, and more tile rows
 * and batches than one grid covers (its loops over grid.y and grid.z). */
static void test_transpose(void) {
#ifdef SN_HAVE_CUDA
    static const int64_t shapes[][3] = {{3, 37, 45}, {1, 65535 * 32 + 40, 2}, {70000, 2, 3}};
    static const size_t sizes[] = {1, 2, 4, 8, 16};
    for (int s = 0; s < 3; s++)
        for (int e = 0; e < 5; e++) {
            int64_t n = shapes[s][0], a = shapes[s][1], b = shapes[s][2];
            size_t es = sizes[e], bytes = (size_t)(n * a * b) * es;
            unsigned char *x = malloc(bytes), *want = malloc(bytes), *got = malloc(bytes);
            void *dx = sn_cuda_malloc(bytes), *dy = sn_cuda_malloc(bytes);
            CHECK(x && want && got && dx && dy);
            for (size_t i = 0; i < bytes; i++) x[i] = (unsigned char)((i * 2654435761u) >> 13);
            for (int64_t k = 0; k < n; k++)
                for (int64_t i = 0; i < a; i++)
                    for (int64_t j = 0; j < b; j++)
                        memcpy(want + ((k * b + j) * a + i) * es, x + ((k * a + i) * b + j) * es, es);
            CHECK(sn_cuda_copy_h2d(dx, x, bytes) == 0);
            sn_cuda_transpose(gpu, dx, dy, es, n, a, b);
            CHECKF(sn_ok(gpu), "transpose: %s", sn_error(gpu));
            CHECK(sn_cuda_copy_d2h(got, dy, bytes) == 0);
            CHECKF(!memcmp(got, want, bytes), "transpose (%lld, %lld, %lld) of %zu-byte elements differs",
                   (long long)n, (long long)a, (long long)b, es);
            record("transpose", memcmp(got, want, bytes) != 0, EXACT);
            sn_cuda_free(dx);
            sn_cuda_free(dy);
            free(x);
            free(want);
            free(got);
        }
#endif
}

/* --- resampling ------------------------------------------------------------------------------ */

static sn_tensor f_resample(sn_ctx *c, const sn_tensor *in, int n, const params *p) {
    sn_pool2d_params pp = {.kernel = {p->i[1], p->i[2]}, .stride = {p->i[3], p->i[4]},
                           .padding = {p->i[5], p->i[6]}, .exclude_pad = p->i[7]};
    switch (p->i[0]) {
    case 0: return sn_upsample_nearest(c, in[0], p->i[1], p->i[2]);
    case 1: return sn_avg_pool2d(c, in[0], p->i[1], p->i[2]);
    case 2: return sn_max_pool2d(c, in[0], &pp);
    case 3: return sn_avg_pool2d_ex(c, in[0], &pp);
    default: return sn_resize_bilinear(c, in[0], p->i[1], p->i[2]);
    }
}

static void test_resampling(void) {
    sn_tensor x = H(2, 3, 7, 5);
    both("upsample_nearest", f_resample, &x, 1, &(params){.i = {0, 2, 3}}, EXACT);
    x = H(1, 1, 1, 1);
    both("upsample_nearest", f_resample, &x, 1, &(params){.i = {0, 1, 2}}, EXACT);
    x = H(2, 3, 9, 10);
    both("avg_pool2d", f_resample, &x, 1, &(params){.i = {1, 2, 3}}, TOL);
    x = H(1, 5, 8, 8);
    both("avg_pool2d", f_resample, &x, 1, &(params){.i = {1, 8, 8}}, TOL);
    const int pools[][7] = {/* kh kw sh sw ph pw exclude */
                            {3, 3, 2, 2, 1, 1, 0}, {3, 3, 1, 1, 1, 1, 1}, {2, 2, 0, 0, 0, 0, 0},
                            {5, 3, 2, 1, 2, 1, 1}, {3, 3, 3, 2, 0, 1, 0}};
    for (int k = 0; k < 5; k++)
        for (int kind = 2; kind <= 3; kind++) {
            x = H(2, 3, 17, 13);
            params p = {.i = {kind}};
            memcpy(&p.i[1], pools[k], sizeof pools[k]);
            both(kind == 2 ? "max_pool2d" : "avg_pool2d_ex", f_resample, &x, 1, &p,
                 kind == 2 ? EXACT : TOL);
        }
    const int sizes[][2] = {{299, 299}, {7, 5}, {64, 33}, {1, 1}, {17, 13}};
    for (int k = 0; k < 5; k++) {
        x = H(2, 3, 17, 13);
        both("resize_bilinear", f_resample, &x, 1, &(params){.i = {4, sizes[k][0], sizes[k][1]}},
             TOL);
    }
}

/* --- models through the same code on both backends ------------------------------------------- */

static char srcdir[1024];

static sn_tensor io_up(sn_ctx *c, const sn_ckpt *io, const char *name) {
    const sn_ckpt_entry *e = sn_ckpt_find(io, name);
    if (!e) return sn_none();
    return sn_from_host(c, sn_tensor_wrap((void *)e->data, e->dtype, e->ndim, e->shape));
}

static void test_dit(const char *file, const char *kind) {
    char path[1200], iopath[1200], err[512], what[96];
    snprintf(path, sizeof path, "%s/tests/fixtures/dit/%s", srcdir, file);
    const char *dot = strrchr(file, '.');
    snprintf(iopath, sizeof iopath, "%s/tests/fixtures/dit/%.*s_io.safetensors", srcdir,
             (int)(dot - file), file);
    struct stat st;
    if (stat(path, &st) || stat(iopath, &st)) {
        printf("note: %s or its _io file absent; DiT parity not run\n", path);
        return;
    }
    sn_ckpt *io = sn_ckpt_open(iopath, err, sizeof err);
    CHECKF(io != NULL, "%s", err);
    if (!io) return;
    sn_dit *mc = sn_dit_load(cpu, path, kind), *mg = sn_dit_load(gpu, path, kind);
    CHECKF(mc && mg, "%s: cpu: %s; cuda: %s", file, sn_error(cpu), sn_error(gpu));
    if (mc && mg) {
        sn_tensor yc = sn_dit_forward(cpu, mc, io_up(cpu, io, "x"), io_up(cpu, io, "t"),
                                      io_up(cpu, io, "y"));
        sn_tensor yg = sn_dit_forward(gpu, mg, io_up(gpu, io, "x"), io_up(gpu, io, "t"),
                                      io_up(gpu, io, "y"));
        snprintf(what, sizeof what, "model_%s", file);
        compare(what, yc, yg, TOL);
    }
    sn_dit_free(mc);
    sn_dit_free(mg);
    sn_ckpt_close(io);
    sn_clear_error(cpu);
    sn_clear_error(gpu);
    sn_arena_reset(cpu);
    sn_arena_reset(gpu);
}

/* A guided DiT evaluation recorded as a CUDA graph and replayed on new latents and times
 * gives what the same evaluation run eagerly gives: three calls (eager, record + replay,
 * replay), each compared with an eager forward of the doubled batch. */
static void test_graph(const char *file, const char *kind) {
    char path[1200];
    snprintf(path, sizeof path, "%s/tests/fixtures/dit/%s", srcdir, file);
    sn_dit *m = sn_dit_load(gpu, path, kind);
    CHECKF(m != NULL, "%s: %s", file, sn_error(gpu));
    if (!m) return;
    const sn_dit_info *in = &m->info;
    int n = 2, side = in->input_size ? in->input_size : 8;
    const int32_t labels[2] = {1, 3};
    sn_dit_step *st = sn_dit_step_new(gpu, m, labels, n, 1);
    sn_scope outer = sn_scope_begin(gpu);
    sn_tensor x = sn_zeros(gpu, SN_F32, SN_SHAPE(n, in->in_channels, side, side));
    for (int call = 0; call < 3 && st; call++) {
        sn_tensor hx = host_t(SN_F32, -2, 2, SN_SHAPE(n, in->in_channels, side, side));
        sn_copy_from_host(gpu, x, hx.data);
        double t = in->time == SN_DIT_TIME_FLOW ? 0.2 + 0.3 * call : 100.0 + 250 * call;
        sn_scope s = sn_scope_begin(gpu);
        sn_tensor c, u;
        sn_dit_step_eval(gpu, st, x, t, &c, &u);
        /* eager reference: the doubled batch through sn_dit_forward */
        float th[4] = {(float)t, (float)t, (float)t, (float)t};
        int32_t yh[4] = {1, 3, in->num_classes, in->num_classes};
        sn_tensor xx = sn_concat(gpu, (sn_tensor[]){x, x}, 2, 0);
        sn_tensor ref = sn_dit_forward(gpu, m, xx, sn_from_host(gpu, sn_tensor_wrap(th, SN_F32, SN_SHAPE(4))),
                                       sn_from_host(gpu, sn_tensor_wrap(yh, SN_I32, SN_SHAPE(4))));
        CHECKF(sn_ok(gpu), "graph call %d: %s", call, sn_error(gpu));
        if (sn_ok(gpu)) {
            sn_tensor both_out = sn_concat(gpu, (sn_tensor[]){c, u}, 2, 0);
            size_t nb = sn_nbytes(ref);
            float *a = malloc(nb), *b = malloc(nb);
            sn_download(gpu, both_out, a);
            sn_download(gpu, ref, b);
            double e = rel_err(a, b, (long)sn_numel(ref));
            char what[64];
            snprintf(what, sizeof what, "graph_%s", file);
            record(what, e, TOL);
            CHECKF(e <= (half_dt == SN_F32 ? 1e-6 : 1e-3), "graph call %d: relative error %.3g vs eager", call, e);
            free(a), free(b);
        }
        sn_scope_end(gpu, s, sn_none());
        free_host();
    }
    CHECKF(sn_dit_step_replays(st) == 2, "%d replays (expected 2)", sn_dit_step_replays(st));
    sn_scope_end(gpu, outer, sn_none());
    sn_dit_step_free(st);
    sn_dit_free(m);
    sn_clear_error(gpu);
    sn_arena_reset(gpu);
}

/* The autoencoders in bf16 miss 1e-2: the random-weight SD fixture (one channel per
 * GroupNorm group) reaches 4.5e-2 on its decode and TAEF2 1.2e-2 on its encode, while the same
 * models in f16 stay 9x under (5.0e-3, 3.6e-3): the 3 mantissa bits bf16 lacks, compounded
 * over ~30 layers, not a defect. TAEF2's reconstructions in bf16 move by 0.02 dB PSNR. */
#define VAE_TOL (half_dt == SN_BF16 ? 5e-2 : TOL)

/* Encode then decode x (host, (N, 3, H, W) in [-1, 1]) on both backends. */
static void vae_both(const char *name, const char *path, sn_tensor x) {
    char what[96];
    sn_vae *vc = sn_vae_load(cpu, path, NULL), *vg = sn_vae_load(gpu, path, NULL);
    CHECKF(vc && vg, "%s: cpu: %s; cuda: %s", path, sn_error(cpu), sn_error(gpu));
    if (vc && vg) {
        sn_tensor zc = sn_vae_encode(cpu, vc, sn_from_host(cpu, x), sn_none());
        sn_tensor zg = sn_vae_encode(gpu, vg, sn_from_host(gpu, x), sn_none());
        snprintf(what, sizeof what, "model_%s_encode", name);
        compare(what, zc, zg, VAE_TOL);
        /* decode the CPU's latents on both, so the decoders see the same input */
        sn_tensor zh = sn_tensor_wrap(zc.data, SN_F32, zc.ndim, zc.shape);
        sn_tensor yc = sn_vae_decode(cpu, vc, zc);
        sn_tensor yg = sn_vae_decode(gpu, vg, sn_has(zc) ? sn_from_host(gpu, zh) : sn_none());
        snprintf(what, sizeof what, "model_%s_decode", name);
        compare(what, yc, yg, VAE_TOL);
    }
    sn_vae_free(vc);
    sn_vae_free(vg);
    sn_clear_error(cpu);
    sn_clear_error(gpu);
    sn_arena_reset(cpu);
    sn_arena_reset(gpu);
}

static void test_vaes(void) {
    char path[1200], err[512];
    /* the SD-structured KL fixture (random weights, GroupNorm, attention, up/down sampling) */
    snprintf(path, sizeof path, "%s/tests/fixtures/vae_kl/sd.safetensors", srcdir);
    struct stat st;
    if (!stat(path, &st)) {
        sn_tensor x = host_t(SN_F32, -1, 1, SN_SHAPE(2, 3, 40, 48));
        vae_both("sd_fixture", path, x);
        free_host();
    }
    /* TAEF2 with its real weights on a real photograph */
    const char *shared = getenv("SINTER_SHARED");
    char enc[1200], img[1200];
    snprintf(enc, sizeof enc, "%s/weights/taef2/taef2_encoder.pth", shared ? shared : "");
    snprintf(img, sizeof img, "%s/images/crop256/astronaut.png", shared ? shared : "");
    if (!shared || stat(enc, &st) || stat(img, &st)) {
        printf("note: the shared TAEF2 weights are absent; TAEF2 parity not run\n");
        return;
    }
    sn_image im;
    if (sn_image_read(img, &im, err, sizeof err)) {
        CHECKF(0, "%s", err);
        return;
    }
    float *chw = malloc(sizeof(float) * 3 * im.width * im.height);
    sn_image_to_chw(&im, chw, -1, 1);
    vae_both("taef2", enc, sn_tensor_wrap(chw, SN_F32, SN_SHAPE(1, 3, im.height, im.width)));
    free(chw);
    sn_image_free(&im);
}

/* --- text encoders and the FID Inception ---------------------------------------------------- */

static float *io_f32(const sn_ckpt *io, const char *name, int64_t *n) {
    const sn_ckpt_entry *e = sn_ckpt_find(io, name);
    if (!e) return NULL;
    *n = sn_ckpt_entry_numel(e);
    float *f = malloc(sizeof(float) * (*n ? *n : 1));
    if (f && sn_ckpt_entry_to_f32(e, f)) free(f), f = NULL;
    return f;
}

/* The encoder on the GPU against transformers' output in the fixture (and the CPU's). */
static void test_text_encoder(const char *name) {
    char path[1200], iopath[1200], err[512], what[96];
    snprintf(path, sizeof path, "%s/tests/fixtures/text_encoders/%s.safetensors", srcdir, name);
    snprintf(iopath, sizeof iopath, "%s/tests/fixtures/text_encoders/%s_io.safetensors", srcdir,
             name);
    sn_ckpt *io = sn_ckpt_open(iopath, err, sizeof err);
    CHECKF(io != NULL, "%s", err);
    if (!io) return;
    const sn_ckpt_entry *ide = sn_ckpt_find(io, "ids"), *me = sn_ckpt_find(io, "mask");
    int n = (int)ide->shape[0], len = (int)ide->shape[1];
    sn_text_encoder *ec = sn_text_encoder_load(cpu, path, NULL), *eg = sn_text_encoder_load(gpu, path, NULL);
    CHECKF(ec && eg, "%s: cpu: %s; cuda: %s", name, sn_error(cpu), sn_error(gpu));
    if (ec && eg) {
        sn_text_output oc, og;
        const int32_t *ids = ide->data, *mask = me ? me->data : NULL;
        CHECK(sn_text_encode(cpu, ec, ids, mask, n, len, NULL, &oc) == 0);
        CHECK(sn_text_encode(gpu, eg, ids, mask, n, len, NULL, &og) == 0);
        snprintf(what, sizeof what, "model_%s", name);
        compare(what, oc.hidden, og.hidden, TOL);
        int64_t k = 0;
        float *ref = io_f32(io, "last", &k);
        if (ref && sn_has(og.hidden) && k == sn_numel(og.hidden)) {
            float *got = malloc(sizeof(float) * k);
            sn_download(gpu, og.hidden, got);
            double e = rel_err(got, ref, (long)k);
            snprintf(what, sizeof what, "ref_%s", name);
            record(what, e, TOL);
            CHECKF(e <= TOL, "%s: cuda vs transformers: relative error %.3g", name, e);
            free(got);
        }
        free(ref);
    }
    sn_text_encoder_free(ec);
    sn_text_encoder_free(eg);
    sn_ckpt_close(io);
    sn_clear_error(cpu);
    sn_clear_error(gpu);
    sn_arena_reset(cpu);
    sn_arena_reset(gpu);
}

/* pool3 features of the FID Inception (its formula weights) for a batch of random images. */
static void test_inception(void) {
    sn_inception *nc = sn_inception_load(cpu, SN_INCEPTION_FORMULA);
    sn_inception *ng = sn_inception_load(gpu, SN_INCEPTION_FORMULA);
    CHECKF(nc && ng, "inception: cpu: %s; cuda: %s", sn_error(cpu), sn_error(gpu));
    if (nc && ng) {
        enum { N = 3, W = 96, HH = 80 };
        sn_image imgs[N];
        for (int i = 0; i < N; i++) {
            imgs[i].width = W, imgs[i].height = HH, imgs[i].channels = 3;
            imgs[i].pixels = malloc(W * HH * 3);
            for (int j = 0; j < W * HH * 3; j++) imgs[i].pixels[j] = (unsigned char)((check_uniform() + 1) * 127.9);
        }
        for (int prep = 0; prep < 2; prep++) {
            sn_fid_prep p = prep ? SN_FID_PREP_CLEAN : SN_FID_PREP_PYTORCH;
            float *fc = malloc(sizeof(float) * N * SN_INCEPTION_DIM);
            float *fg = malloc(sizeof(float) * N * SN_INCEPTION_DIM);
            CHECK(sn_inception_features(cpu, nc, imgs, N, p, fc) == 0);
            CHECKF(sn_inception_features(gpu, ng, imgs, N, p, fg) == 0, "%s", sn_error(gpu));
            double e = rel_err(fg, fc, N * SN_INCEPTION_DIM);
            record(prep ? "model_inception_clean" : "model_inception_pytorch", e, TOL);
            CHECKF(e <= TOL, "inception pool3 (prep %d): relative error %.3g", prep, e);
            free(fc);
            free(fg);
        }
        for (int i = 0; i < N; i++) free(imgs[i].pixels);
    }
    sn_inception_free(nc);
    sn_inception_free(ng);
    sn_clear_error(cpu);
    sn_clear_error(gpu);
    sn_arena_reset(cpu);
    sn_arena_reset(gpu);
}

/* Every op and model on the current GPU context (gpu, half_dt). */
static void run_all(void) {
    test_unary();
    test_binary();
    test_softmax();
    test_norms();
    test_modulate();
    test_products();
    test_conv();
    test_attention();
    if (half_dt == SN_F32) test_lookups(); /* f32 in, f32 (or table dtype) out */
    if (half_dt == SN_F32) test_movement(); /* dtype-agnostic: every dtype is covered there */
    if (half_dt == SN_F32) test_transpose();
    test_resampling();
    test_dit("dit.pt", "dit:heads=4");
    test_dit("dit_p1.safetensors", NULL);
    test_dit("lightningdit.pt", NULL);
    test_dit("lightningdit_b.safetensors", "lightningdit");
    test_graph("dit.pt", "dit:heads=4");
    test_graph("lightningdit.pt", NULL);
    test_vaes();
    test_text_encoder("clip_quick");
    test_text_encoder("clip_gelu_proj");
    test_text_encoder("t5_gated");
    test_text_encoder("umt5");
    test_inception();
}

int main(void) {
    gpu = check_cuda_ctx((size_t)8 << 30, SN_F32);
    char err[512];
    cpu = sn_ctx_new(&(sn_ctx_opts){.device = SN_CPU}, err, sizeof err);
    CHECKF(cpu != NULL, "%s", err);
    if (!cpu) return check_summary("test_cuda_ops");
    const char *src = getenv("SINTER_SRC");
    snprintf(srcdir, sizeof srcdir, "%s", src && *src ? src : "..");
    check_seed(20261123);

    run_all();
    sn_ctx *gpu32 = gpu;
    const sn_dtype halves[2] = {SN_BF16, SN_F16};
    for (int h = 0; h < 2; h++) {
        half_dt = halves[h];
        gpu = check_cuda_ctx((size_t)8 << 30, half_dt);
        run_all();
        sn_ctx_free(gpu);
    }
    gpu = gpu32;

    for (int i = 0; i < ntable; i++) {
        char tol[16];
        snprintf(tol, sizeof tol, table[i].tol == EXACT ? "exact" : "%.0e", table[i].tol);
        printf("parity %-28s max relative error %.2e over %3d cases (tolerance %s)\n",
               table[i].name, table[i].worst, table[i].cases, tol);
    }
    sn_ctx_free(gpu);
    sn_ctx_free(cpu);
    return check_summary("test_cuda_ops");
}
