/* The FID Inception (see inception.h), laid out as torchvision's Inception3 and pytorch-fid's
 * patched blocks: config and weights first, then the forward pass block by block.
 *
 * Every BasicConv2d is conv (no bias) -> BatchNorm(eps 0.001) -> ReLU; BatchNorm is folded
 * into the convolution at load (w * g / sqrt(v + eps), b - m * g / sqrt(v + eps), in double),
 * so the forward pass is conv + bias + ReLU. */
#include "inception.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../core/ops.h"
#include "../../weights/checkpoint.h"
#include "../lib/resize.h"
#include "formula.h"

#define BN_EPS 0.001

/* --- weights ------------------------------------------------------------------------------ */

typedef struct {
    sn_tensor w, b; /* BatchNorm folded in */
    int sh, sw, ph, pw;
} bconv;

typedef struct { /* FIDInceptionA: Mixed_5b, 5c, 5d */
    bconv b1x1, b5x5_1, b5x5_2, dbl_1, dbl_2, dbl_3, pool;
} block_a;
typedef struct { /* InceptionB: Mixed_6a */
    bconv b3x3, dbl_1, dbl_2, dbl_3;
} block_b;
typedef struct { /* FIDInceptionC: Mixed_6b-6e */
    bconv b1x1, b7_1, b7_2, b7_3, dbl_1, dbl_2, dbl_3, dbl_4, dbl_5, pool;
} block_c;
typedef struct { /* InceptionD: Mixed_7a */
    bconv b3_1, b3_2, b7_1, b7_2, b7_3, b7_4;
} block_d;
typedef struct { /* FIDInceptionE_1 / _2: Mixed_7b, 7c */
    bconv b1x1, b3_1, b3_2a, b3_2b, dbl_1, dbl_2, dbl_3a, dbl_3b, pool;
    int max_pool; /* 7c: the branch pool is a 3x3 max pool */
} block_e;

struct sn_inception {
    bconv c1a, c2a, c2b, c3b, c4a;
    block_a m5b, m5c, m5d;
    block_b m6a;
    block_c m6b, m6c, m6d, m6e;
    block_d m7a;
    block_e m7b, m7c;
    sn_inception_probe_fn probe;
    void *probe_user;
};

typedef struct {
    sn_ctx *ctx;
    sn_inception_param_fn fn;
    void *user;
    const char *what;
    float *w, *v; /* scratch: the largest weight, and the four BatchNorm vectors */
} loader;

/* Reads one tensor into dst; sets the context error on failure. */
static int fetch(loader *L, const char *name, int ndim, const int64_t *shape, float *dst) {
    if (!sn_ok(L->ctx)) return -1;
    char err[768];
    if (L->fn(L->user, name, ndim, shape, dst, err, sizeof err)) {
        sn_fail(L->ctx, "%s", err);
        return -1;
    }
    return 0;
}

/* BasicConv2d `name` (cin -> cout, kernel kh x kw) with BatchNorm folded; padding "same" for
 * stride 1 unless `valid`. */
static bconv basic(loader *L, const char *name, int cin, int cout, int kh, int kw, int stride,
                   int valid) {
    bconv c = {.sh = stride, .sw = stride, .ph = valid ? 0 : kh / 2, .pw = valid ? 0 : kw / 2};
    char key[160];
    snprintf(key, sizeof key, "%s.conv.weight", name);
    int64_t wshape[4] = {cout, cin, kh, kw};
    if (fetch(L, key, 4, wshape, L->w)) return c;
    static const char *const bn[4] = {"weight", "bias", "running_mean", "running_var"};
    for (int i = 0; i < 4; i++) {
        snprintf(key, sizeof key, "%s.bn.%s", name, bn[i]);
        if (fetch(L, key, 1, (int64_t[]){cout}, L->v + i * cout)) return c;
    }
    const float *g = L->v, *beta = L->v + cout, *mean = L->v + 2 * cout, *var = L->v + 3 * cout;
    float *bias = L->v + 4 * cout;
    int64_t per = (int64_t)cin * kh * kw;
    for (int o = 0; o < cout; o++) {
        double s = (double)g[o] / sqrt((double)var[o] + BN_EPS);
        for (int64_t i = 0; i < per; i++) L->w[o * per + i] = (float)(L->w[o * per + i] * s);
        bias[o] = (float)((double)beta[o] - (double)mean[o] * s);
    }
    sn_dtype dt = sn_ctx_dtype(L->ctx);
    c.w = sn_upload_as(L->ctx, sn_tensor_wrap(L->w, SN_F32, 4, wshape), dt);
    c.b = sn_upload_as(L->ctx, sn_tensor_wrap(bias, SN_F32, 1, (int64_t[]){cout}), dt);
    return c;
}

#define SUB(buf, block, sub) (snprintf(buf, sizeof buf, "%s.%s", block, sub), buf)

static block_a load_a(loader *L, const char *n, int cin, int pool_features) {
    char k[96];
    return (block_a){
        .b1x1 = basic(L, SUB(k, n, "branch1x1"), cin, 64, 1, 1, 1, 0),
        .b5x5_1 = basic(L, SUB(k, n, "branch5x5_1"), cin, 48, 1, 1, 1, 0),
        .b5x5_2 = basic(L, SUB(k, n, "branch5x5_2"), 48, 64, 5, 5, 1, 0),
        .dbl_1 = basic(L, SUB(k, n, "branch3x3dbl_1"), cin, 64, 1, 1, 1, 0),
        .dbl_2 = basic(L, SUB(k, n, "branch3x3dbl_2"), 64, 96, 3, 3, 1, 0),
        .dbl_3 = basic(L, SUB(k, n, "branch3x3dbl_3"), 96, 96, 3, 3, 1, 0),
        .pool = basic(L, SUB(k, n, "branch_pool"), cin, pool_features, 1, 1, 1, 0),
    };
}

static block_b load_b(loader *L, const char *n, int cin) {
    char k[96];
    return (block_b){
        .b3x3 = basic(L, SUB(k, n, "branch3x3"), cin, 384, 3, 3, 2, 1),
        .dbl_1 = basic(L, SUB(k, n, "branch3x3dbl_1"), cin, 64, 1, 1, 1, 0),
        .dbl_2 = basic(L, SUB(k, n, "branch3x3dbl_2"), 64, 96, 3, 3, 1, 0),
        .dbl_3 = basic(L, SUB(k, n, "branch3x3dbl_3"), 96, 96, 3, 3, 2, 1),
    };
}

static block_c load_c(loader *L, const char *n, int c7) {
    char k[96];
    return (block_c){
        .b1x1 = basic(L, SUB(k, n, "branch1x1"), 768, 192, 1, 1, 1, 0),
        .b7_1 = basic(L, SUB(k, n, "branch7x7_1"), 768, c7, 1, 1, 1, 0),
        .b7_2 = basic(L, SUB(k, n, "branch7x7_2"), c7, c7, 1, 7, 1, 0),
        .b7_3 = basic(L, SUB(k, n, "branch7x7_3"), c7, 192, 7, 1, 1, 0),
        .dbl_1 = basic(L, SUB(k, n, "branch7x7dbl_1"), 768, c7, 1, 1, 1, 0),
        .dbl_2 = basic(L, SUB(k, n, "branch7x7dbl_2"), c7, c7, 7, 1, 1, 0),
        .dbl_3 = basic(L, SUB(k, n, "branch7x7dbl_3"), c7, c7, 1, 7, 1, 0),
        .dbl_4 = basic(L, SUB(k, n, "branch7x7dbl_4"), c7, c7, 7, 1, 1, 0),
        .dbl_5 = basic(L, SUB(k, n, "branch7x7dbl_5"), c7, 192, 1, 7, 1, 0),
        .pool = basic(L, SUB(k, n, "branch_pool"), 768, 192, 1, 1, 1, 0),
    };
}

static block_d load_d(loader *L, const char *n, int cin) {
    char k[96];
    return (block_d){
        .b3_1 = basic(L, SUB(k, n, "branch3x3_1"), cin, 192, 1, 1, 1, 0),
        .b3_2 = basic(L, SUB(k, n, "branch3x3_2"), 192, 320, 3, 3, 2, 1),
        .b7_1 = basic(L, SUB(k, n, "branch7x7x3_1"), cin, 192, 1, 1, 1, 0),
        .b7_2 = basic(L, SUB(k, n, "branch7x7x3_2"), 192, 192, 1, 7, 1, 0),
        .b7_3 = basic(L, SUB(k, n, "branch7x7x3_3"), 192, 192, 7, 1, 1, 0),
        .b7_4 = basic(L, SUB(k, n, "branch7x7x3_4"), 192, 192, 3, 3, 2, 1),
    };
}

static block_e load_e(loader *L, const char *n, int cin, int max_pool) {
    char k[96];
    return (block_e){
        .b1x1 = basic(L, SUB(k, n, "branch1x1"), cin, 320, 1, 1, 1, 0),
        .b3_1 = basic(L, SUB(k, n, "branch3x3_1"), cin, 384, 1, 1, 1, 0),
        .b3_2a = basic(L, SUB(k, n, "branch3x3_2a"), 384, 384, 1, 3, 1, 0),
        .b3_2b = basic(L, SUB(k, n, "branch3x3_2b"), 384, 384, 3, 1, 1, 0),
        .dbl_1 = basic(L, SUB(k, n, "branch3x3dbl_1"), cin, 448, 1, 1, 1, 0),
        .dbl_2 = basic(L, SUB(k, n, "branch3x3dbl_2"), 448, 384, 3, 3, 1, 0),
        .dbl_3a = basic(L, SUB(k, n, "branch3x3dbl_3a"), 384, 384, 1, 3, 1, 0),
        .dbl_3b = basic(L, SUB(k, n, "branch3x3dbl_3b"), 384, 384, 3, 1, 1, 0),
        .pool = basic(L, SUB(k, n, "branch_pool"), cin, 192, 1, 1, 1, 0),
        .max_pool = max_pool,
    };
}

sn_inception *sn_inception_load_fn(sn_ctx *ctx, sn_inception_param_fn fn, void *user,
                                   const char *what) {
    if (!sn_ok(ctx)) return NULL;
    sn_inception *net = calloc(1, sizeof *net);
    /* the largest convolution is Mixed_7b/7c's 3x3 448 -> 384 */
    loader L = {ctx, fn, user, what, malloc(sizeof(float) * 384 * 448 * 9),
                malloc(sizeof(float) * 5 * 448)};
    if (!net || !L.w || !L.v) {
        sn_fail(ctx, "%s: out of memory loading the Inception network", what);
    } else {
        net->c1a = basic(&L, "Conv2d_1a_3x3", 3, 32, 3, 3, 2, 1);
        net->c2a = basic(&L, "Conv2d_2a_3x3", 32, 32, 3, 3, 1, 1);
        net->c2b = basic(&L, "Conv2d_2b_3x3", 32, 64, 3, 3, 1, 0);
        net->c3b = basic(&L, "Conv2d_3b_1x1", 64, 80, 1, 1, 1, 1);
        net->c4a = basic(&L, "Conv2d_4a_3x3", 80, 192, 3, 3, 1, 1);
        net->m5b = load_a(&L, "Mixed_5b", 192, 32);
        net->m5c = load_a(&L, "Mixed_5c", 256, 64);
        net->m5d = load_a(&L, "Mixed_5d", 288, 64);
        net->m6a = load_b(&L, "Mixed_6a", 288);
        net->m6b = load_c(&L, "Mixed_6b", 128);
        net->m6c = load_c(&L, "Mixed_6c", 160);
        net->m6d = load_c(&L, "Mixed_6d", 160);
        net->m6e = load_c(&L, "Mixed_6e", 192);
        net->m7a = load_d(&L, "Mixed_7a", 768);
        net->m7b = load_e(&L, "Mixed_7b", 1280, 0);
        net->m7c = load_e(&L, "Mixed_7c", 2048, 1);
    }
    free(L.w);
    free(L.v);
    if (!sn_ok(ctx)) {
        free(net);
        return NULL;
    }
    return net;
}

/* --- parameter sources -------------------------------------------------------------------- */

static int formula_param(void *user, const char *name, int ndim, const int64_t *shape,
                         float *dst, char *err, size_t errcap) {
    sn_formula_inception_param(name, ndim, shape, dst);
    return 0;
}

static int ckpt_param(void *user, const char *name, int ndim, const int64_t *shape, float *dst,
                      char *err, size_t errcap) {
    const sn_ckpt *ck = user;
    const sn_ckpt_entry *e = sn_ckpt_find(ck, name);
    char want[96], got[96];
    sn_shape_str(shape, ndim, want, sizeof want);
    if (!e) {
        snprintf(err, errcap,
                 "%s: no tensor '%s' %s; expected the FID Inception weights "
                 "(pt_inception-2015-12-05-6726825d.pth from pytorch-fid, or a safetensors copy)",
                 sn_ckpt_path(ck), name, want);
        return -1;
    }
    int same = e->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = e->shape[i] == shape[i];
    if (!same) {
        snprintf(err, errcap, "%s: tensor '%s' is %s; expected %s", sn_ckpt_path(ck), name,
                 sn_shape_str(e->shape, e->ndim, got, sizeof got), want);
        return -1;
    }
    if (sn_ckpt_entry_to_f32(e, dst)) {
        snprintf(err, errcap, "%s: tensor '%s' is %s, which does not convert to f32",
                 sn_ckpt_path(ck), name, sn_dtype_name(e->dtype));
        return -1;
    }
    return 0;
}

const char *sn_inception_default_path(char *buf, size_t cap) {
    const char *env = getenv("SINTER_INCEPTION");
    if (env && env[0]) {
        snprintf(buf, cap, "%s", env);
        return buf;
    }
    const char *torch = getenv("TORCH_HOME"), *xdg = getenv("XDG_CACHE_HOME"),
               *home = getenv("HOME");
    char dir[900];
    if (torch && torch[0])
        snprintf(dir, sizeof dir, "%s/hub/checkpoints", torch);
    else if (xdg && xdg[0])
        snprintf(dir, sizeof dir, "%s/torch/hub/checkpoints", xdg);
    else if (home && home[0])
        snprintf(dir, sizeof dir, "%s/.cache/torch/hub/checkpoints", home);
    else
        return NULL;
    /* a safetensors copy first (faster to open: memory-mapped), then the released .pth */
    snprintf(buf, cap, "%s/%s", dir, SN_INCEPTION_SAFETENSORS);
    if (access(buf, R_OK) == 0) return buf;
    snprintf(buf, cap, "%s/%s", dir, SN_INCEPTION_FILE);
    return access(buf, R_OK) == 0 ? buf : NULL;
}

sn_inception *sn_inception_load(sn_ctx *ctx, const char *path) {
    if (!sn_ok(ctx)) return NULL;
    if (!strcmp(path, SN_INCEPTION_FORMULA))
        return sn_inception_load_fn(ctx, formula_param, NULL, path);
    char err[1024];
    sn_ckpt *ck = sn_ckpt_open(path, err, sizeof err);
    if (!ck) {
        sn_fail(ctx, "%s", err);
        return NULL;
    }
    /* torchvision's ImageNet InceptionV3 has the same tensor names but other weights, 1000
     * classes and an auxiliary head: refuse it rather than compute a wrong FID */
    const sn_ckpt_entry *fc = sn_ckpt_find(ck, "fc.weight");
    if ((fc && fc->ndim == 2 && fc->shape[0] != 1008) ||
        sn_ckpt_find(ck, "AuxLogits.fc.weight")) {
        sn_fail(ctx,
                "%s: this is not the FID Inception (%s); FID needs the TensorFlow 2015-12-05 "
                "weights with 1008 classes and no auxiliary head "
                "(pt_inception-2015-12-05-6726825d.pth from pytorch-fid)",
                path, fc && fc->shape[0] != 1008 ? "its classifier has the wrong number of classes"
                                                 : "it has an auxiliary head");
        sn_ckpt_close(ck);
        return NULL;
    }
    sn_inception *net = sn_inception_load_fn(ctx, ckpt_param, ck, path);
    sn_ckpt_close(ck);
    return net;
}

void sn_inception_free(sn_inception *net) { free(net); } /* parameters belong to the context */

void sn_inception_set_probe(sn_inception *net, sn_inception_probe_fn fn, void *user) {
    net->probe = fn;
    net->probe_user = user;
}

/* --- forward ------------------------------------------------------------------------------ */

static sn_tensor conv(sn_ctx *ctx, const bconv *c, sn_tensor x) {
    sn_conv2d_params p = {.stride = {c->sh, c->sw}, .padding = {c->ph, c->pw}};
    return sn_relu(ctx, sn_conv2d(ctx, x, c->w, c->b, &p));
}

/* TensorFlow's 3x3 average pool: the padding is not counted in the mean */
static sn_tensor avg_pool_tf(sn_ctx *ctx, sn_tensor x) {
    return sn_avg_pool2d_ex(ctx, x, &(sn_pool2d_params){{3, 3}, {1, 1}, {1, 1}, 1});
}

static sn_tensor max_pool(sn_ctx *ctx, sn_tensor x, int stride) {
    int pad = stride == 1;
    return sn_max_pool2d(ctx, x, &(sn_pool2d_params){{3, 3}, {stride, stride}, {pad, pad}, 0});
}

static sn_tensor cat(sn_ctx *ctx, const sn_tensor *xs, int n) { return sn_concat(ctx, xs, n, 1); }

static sn_tensor forward_a(sn_ctx *ctx, const block_a *b, sn_tensor x) {
    sn_tensor b1 = conv(ctx, &b->b1x1, x);
    sn_tensor b5 = conv(ctx, &b->b5x5_2, conv(ctx, &b->b5x5_1, x));
    sn_tensor b3 = conv(ctx, &b->dbl_3, conv(ctx, &b->dbl_2, conv(ctx, &b->dbl_1, x)));
    sn_tensor bp = conv(ctx, &b->pool, avg_pool_tf(ctx, x));
    return cat(ctx, (sn_tensor[]){b1, b5, b3, bp}, 4);
}

static sn_tensor forward_b(sn_ctx *ctx, const block_b *b, sn_tensor x) {
    sn_tensor b3 = conv(ctx, &b->b3x3, x);
    sn_tensor bd = conv(ctx, &b->dbl_3, conv(ctx, &b->dbl_2, conv(ctx, &b->dbl_1, x)));
    return cat(ctx, (sn_tensor[]){b3, bd, max_pool(ctx, x, 2)}, 3);
}

static sn_tensor forward_c(sn_ctx *ctx, const block_c *b, sn_tensor x) {
    sn_tensor b1 = conv(ctx, &b->b1x1, x);
    sn_tensor b7 = conv(ctx, &b->b7_3, conv(ctx, &b->b7_2, conv(ctx, &b->b7_1, x)));
    sn_tensor bd = conv(ctx, &b->dbl_1, x);
    bd = conv(ctx, &b->dbl_3, conv(ctx, &b->dbl_2, bd));
    bd = conv(ctx, &b->dbl_5, conv(ctx, &b->dbl_4, bd));
    sn_tensor bp = conv(ctx, &b->pool, avg_pool_tf(ctx, x));
    return cat(ctx, (sn_tensor[]){b1, b7, bd, bp}, 4);
}

static sn_tensor forward_d(sn_ctx *ctx, const block_d *b, sn_tensor x) {
    sn_tensor b3 = conv(ctx, &b->b3_2, conv(ctx, &b->b3_1, x));
    sn_tensor b7 = conv(ctx, &b->b7_2, conv(ctx, &b->b7_1, x));
    b7 = conv(ctx, &b->b7_4, conv(ctx, &b->b7_3, b7));
    return cat(ctx, (sn_tensor[]){b3, b7, max_pool(ctx, x, 2)}, 3);
}

static sn_tensor forward_e(sn_ctx *ctx, const block_e *b, sn_tensor x) {
    sn_tensor b1 = conv(ctx, &b->b1x1, x);
    sn_tensor b3 = conv(ctx, &b->b3_1, x);
    b3 = cat(ctx, (sn_tensor[]){conv(ctx, &b->b3_2a, b3), conv(ctx, &b->b3_2b, b3)}, 2);
    sn_tensor bd = conv(ctx, &b->dbl_2, conv(ctx, &b->dbl_1, x));
    bd = cat(ctx, (sn_tensor[]){conv(ctx, &b->dbl_3a, bd), conv(ctx, &b->dbl_3b, bd)}, 2);
    sn_tensor bp = conv(ctx, &b->pool, b->max_pool ? max_pool(ctx, x, 1) : avg_pool_tf(ctx, x));
    return cat(ctx, (sn_tensor[]){b1, b3, bd, bp}, 4);
}

/* One stage in the arena scope `s`, which starts where the stage's input starts (or above the
 * caller's input, for the first stage): the input and every temporary go, the output moves
 * down to the scope's start. */
#define STAGE(name, expr)                                                                          \
    do {                                                                                           \
        x = sn_scope_end(ctx, s, (expr));                                                          \
        if (net->probe && sn_ok(ctx)) net->probe(net->probe_user, name, x);                        \
    } while (0)

sn_tensor sn_inception_pool3(sn_ctx *ctx, sn_inception *net, sn_tensor x) {
    if (!sn_ok(ctx)) return sn_none();
    if (x.ndim != 4 || x.shape[1] != 3 || x.shape[2] < 75 || x.shape[3] < 75) {
        char s[96];
        sn_fail(ctx, "inception: input %s is not (N, 3, H, W) with H, W >= 75",
                sn_shape_str(x.shape, x.ndim, s, sizeof s));
        return sn_none();
    }
    sn_scope s = sn_scope_begin(ctx); /* the network runs in the context's dtype */
    x = sn_to(ctx, x, sn_ctx_dtype(ctx));
    STAGE("Conv2d_1a_3x3", conv(ctx, &net->c1a, x));
    STAGE("Conv2d_2a_3x3", conv(ctx, &net->c2a, x));
    STAGE("Conv2d_2b_3x3", conv(ctx, &net->c2b, x));
    STAGE("maxpool1", max_pool(ctx, x, 2));
    STAGE("Conv2d_3b_1x1", conv(ctx, &net->c3b, x));
    STAGE("Conv2d_4a_3x3", conv(ctx, &net->c4a, x));
    STAGE("maxpool2", max_pool(ctx, x, 2));
    STAGE("Mixed_5b", forward_a(ctx, &net->m5b, x));
    STAGE("Mixed_5c", forward_a(ctx, &net->m5c, x));
    STAGE("Mixed_5d", forward_a(ctx, &net->m5d, x));
    STAGE("Mixed_6a", forward_b(ctx, &net->m6a, x));
    STAGE("Mixed_6b", forward_c(ctx, &net->m6b, x));
    STAGE("Mixed_6c", forward_c(ctx, &net->m6c, x));
    STAGE("Mixed_6d", forward_c(ctx, &net->m6d, x));
    STAGE("Mixed_6e", forward_c(ctx, &net->m6e, x));
    STAGE("Mixed_7a", forward_d(ctx, &net->m7a, x));
    STAGE("Mixed_7b", forward_e(ctx, &net->m7b, x));
    STAGE("Mixed_7c", forward_e(ctx, &net->m7c, x));
    if (!sn_ok(ctx)) return sn_none();
    /* pool3: the global average pool */
    sn_tensor p = sn_to(ctx, sn_avg_pool2d(ctx, x, (int)x.shape[2], (int)x.shape[3]), SN_F32);
    p = sn_scope_end(ctx, s, p);
    return sn_has(p) ? sn_reshape(p, 2, (int64_t[]){p.shape[0], p.shape[1]}) : p;
}

/* --- preprocessing ------------------------------------------------------------------------ */

int sn_fid_prep_parse(const char *name, sn_fid_prep *p) {
    if (!strcmp(name, "pytorch-fid") || !strcmp(name, "pytorch")) *p = SN_FID_PREP_PYTORCH;
    else if (!strcmp(name, "clean")) *p = SN_FID_PREP_CLEAN;
    else return -1;
    return 0;
}

const char *sn_fid_prep_name(sn_fid_prep p) {
    return p == SN_FID_PREP_CLEAN ? "clean" : "pytorch-fid";
}

sn_tensor sn_inception_prepare(sn_ctx *ctx, const sn_image *img, sn_fid_prep prep) {
    if (!sn_ok(ctx)) return sn_none();
    const int S = SN_INCEPTION_SIZE;
    size_t plane = (size_t)img->width * img->height, oplane = (size_t)S * S;
    float *chw = malloc(sizeof(float) * 3 * (prep == SN_FID_PREP_CLEAN ? plane + oplane : plane));
    if (!chw) {
        sn_fail(ctx, "inception: out of memory preparing a %dx%d image", img->width, img->height);
        return sn_none();
    }
    sn_tensor y;
    if (prep == SN_FID_PREP_PYTORCH) {
        /* ToTensor, F.interpolate(size=299, bilinear, align_corners=False), 2x - 1 */
        sn_image_to_chw(img, chw, 0, 1);
        sn_scope s = sn_scope_begin(ctx);
        sn_tensor x = sn_from_host(
            ctx, sn_tensor_wrap(chw, SN_F32, 4, (int64_t[]){1, 3, img->height, img->width}));
        y = sn_scope_end(ctx, s, sn_affine(ctx, sn_resize_bilinear(ctx, x, S, S), 2.0f, -1.0f));
    } else {
        /* Pillow bicubic on float planes of 0..255, clipped, (x - 128) / 128 */
        float *out = chw + 3 * plane;
        sn_image_to_chw(img, chw, 0, 255);
        int bad = 0;
        for (int c = 0; c < 3 && !bad; c++)
            bad = sn_pil_resize_f32(chw + c * plane, img->width, img->height, out + c * oplane, S,
                                    S, SN_PIL_BICUBIC);
        for (size_t i = 0; i < 3 * oplane; i++) {
            float v = out[i] < 0.0f ? 0.0f : out[i] > 255.0f ? 255.0f : out[i];
            out[i] = (v - 128.0f) / 128.0f;
        }
        y = bad ? sn_none()
                : sn_from_host(ctx, sn_tensor_wrap(out, SN_F32, 4, (int64_t[]){1, 3, S, S}));
        if (bad) sn_fail(ctx, "inception: out of memory resizing a %dx%d image", img->width,
                         img->height);
    }
    free(chw);
    return y;
}

int sn_inception_features(sn_ctx *ctx, sn_inception *net, const sn_image *imgs, int n,
                          sn_fid_prep prep, float *feats) {
    if (!sn_ok(ctx) || n < 1) return sn_ok(ctx) ? 0 : -1;
    sn_scope s = sn_scope_begin(ctx);
    sn_tensor *xs = calloc((size_t)n, sizeof *xs);
    if (!xs) sn_fail(ctx, "inception: out of memory");
    for (int i = 0; i < n && sn_ok(ctx); i++) xs[i] = sn_inception_prepare(ctx, &imgs[i], prep);
    sn_tensor batch = n == 1 ? (xs ? xs[0] : sn_none()) : sn_concat(ctx, xs, n, 0);
    free(xs);
    sn_tensor f = sn_inception_pool3(ctx, net, batch);
    if (sn_ok(ctx)) sn_download(ctx, f, feats);
    sn_scope_end(ctx, s, sn_none());
    return sn_ok(ctx) ? 0 : -1;
}
