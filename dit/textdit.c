/* Text-conditioned DiT in the style of PixArt-alpha (PixArt-alpha/PixArt-alpha,
 * diffusion/model/nets/PixArt.py and PixArt_blocks.py): DiT blocks with cross-attention to
 * the text tokens and adaLN-single conditioning on time (and, optionally, pooled text).
 *
 *   h   = x_embedder(x) + pos                       patchify + linear; PixArt's sin-cos table
 *   t   = t_embedder(time_scale t)                  [cos | sin] frequencies (f32), MLP
 *         (+ pool_embedder(masked mean of text))    sinter extension, when the file has it
 *   t0  = t_block(t) = Linear(SiLU(t))              (N, 6 D), shared by every block
 *   y   = y_proj(text) = fc2(GELU-tanh(fc1(text)))  (N, L, D)
 *   for each block:
 *       shift1, scale1, gate1, shift2, scale2, gate2 = scale_shift_table + t0   (6, D) + (N, 6, D)
 *       h = h + gate1 * self_attn(LN(h) (1 + scale1) + shift1)      the model's sn_attn_spec
 *       h = h + cross_attn(h, y, mask)                               no norm, no gate (PixArt)
 *       h = h + gate2 * mlp(LN(h) (1 + scale2) + shift2)            fc1, GELU-tanh, fc2
 *   shift, scale = final_layer.scale_shift_table + t                (2, D) + (N, 1, D)
 *   out = unpatchify(linear(LN(h) (1 + scale) + shift))
 *
 * LN is LayerNorm without affine, eps 1e-6. Self-attention is timm's (qkv rows [q | k | v]);
 * cross-attention takes q = q_linear(h) and [k | v] = kv_linear(y), heads contiguous, scale
 * 1/sqrt(head_dim), always full attention (the spec's kernels are for the token grid), with
 * the padding keys at -inf through sn_attn_spec.bias, (N, 1, 1, L). PixArt packs the valid
 * tokens of all items into one sequence under xformers' BlockDiagonalMask; per-item attention
 * with masked keys computes the same thing.
 *
 * Positions: the file's pos_embed on the grid it was made for; on any other grid PixArt's
 * get_2d_sincos_pos_embed with positions i / (G / base_size) / pe_interpolation in f32 and the
 * sin-cos in double (dit.h lists the metadata). PixArt-alpha's own checkpoints should load as
 * they are (same names, pred_sigma as learn_sigma, heads by the DiT size rule: XL 1152 -> 16);
 * that is untested here: only small random models written by tools/reference/textdit.py are
 * checked, and PixArt's 512/1024 multi-scale variants (PixArtMS: csize/ar embedders) are not
 * supported. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dit.h"

#define TD_LN_EPS 1e-6f

/* =========================================================================================
 * Config and weights */

typedef struct {
    sn_tensor qkv_w, qkv_b, proj_w, proj_b;                 /* attn */
    sn_tensor q_w, q_b, kv_w, kv_b, cproj_w, cproj_b;       /* cross_attn */
    sn_tensor fc1_w, fc1_b, fc2_w, fc2_b;                   /* mlp */
    sn_tensor table;                                        /* scale_shift_table (6, D) */
} td_block;

typedef struct {
    sn_dit_shape s; /* patch, channels, hidden, depth, freq_dim, input_size */
    int heads, mlp_hidden, text_dim, pool;
    float time_scale;
    double base_size; /* 0: pos_embed's side, else the grid itself */
    double lewei;     /* pe_interpolation */
    sn_dit_stem stem; /* x_w/x_b, pos_embed/pos_grid, t_w0..t_b2, f_lin_w/f_lin_b */
    sn_tensor tb_w, tb_b;                 /* t_block.1 */
    sn_tensor y1_w, y1_b, y2_w, y2_b;     /* y_embedder.y_proj.fc1/fc2 */
    sn_tensor null_text;                  /* y_embedder.y_embedding or empty */
    sn_tensor p_w0, p_b0, p_w2, p_b2;     /* pool_embedder.mlp.0/2 or empty */
    sn_tensor f_table;                    /* final_layer.scale_shift_table (2, D) */
    td_block *blocks;
    sn_tensor pos_cache; /* a computed table for another grid */
    int cache_gh, cache_gw;
} td_model;

/* =========================================================================================
 * Positions */

/* PixArt's get_2d_sincos_pos_embed on a gh x gw grid: (gh*gw, dim), token n = i*gw + j;
 * columns [0, dim/4) sin(pj w), [dim/4, dim/2) cos(pj w), then sin(pi w), cos(pi w), with
 * pi = i / (gh / base_h) / lewei in f32 (as NumPy computes it on float32 positions) and
 * w_k = 10000^(-k/(dim/4)) in double. */
static void pixart_pos_table(float *dst, int gh, int gw, int dim, double base_h, double base_w,
                             double lewei) {
    int q = dim / 4;
    for (int i = 0; i < gh; i++)
        for (int j = 0; j < gw; j++) {
            float pi = (float)i / (float)(gh / base_h), pj = (float)j / (float)(gw / base_w);
            pi = pi / (float)lewei, pj = pj / (float)lewei;
            float *row = dst + ((size_t)i * gw + j) * dim;
            for (int k = 0; k < q; k++) {
                double w = 1.0 / pow(10000.0, (double)k / q);
                row[k] = (float)sin(pj * w);
                row[q + k] = (float)cos(pj * w);
                row[2 * q + k] = (float)sin(pi * w);
                row[3 * q + k] = (float)cos(pi * w);
            }
        }
}

static sn_tensor pos_for_grid(sn_ctx *ctx, td_model *tm, int gh, int gw) {
    sn_dit_stem *st = &tm->stem;
    if (st->pos_grid && gh == st->pos_grid && gw == st->pos_grid) return st->pos_embed;
    if (sn_has(tm->pos_cache) && tm->cache_gh == gh && tm->cache_gw == gw) return tm->pos_cache;
    int d = tm->s.hidden;
    double bh = tm->base_size > 0 ? tm->base_size : st->pos_grid ? st->pos_grid : gh;
    double bw = tm->base_size > 0 ? tm->base_size : st->pos_grid ? st->pos_grid : gw;
    float *tab = malloc((size_t)gh * gw * d * sizeof(float));
    if (!tab) {
        sn_fail(ctx, "out of memory computing a position table");
        return sn_none();
    }
    pixart_pos_table(tab, gh, gw, d, bh, bw, tm->lewei);
    tm->pos_cache = sn_upload_as(ctx, sn_tensor_wrap(tab, SN_F32, SN_SHAPE((int64_t)gh * gw, d)),
                                 sn_ctx_dtype(ctx));
    tm->cache_gh = gh, tm->cache_gw = gw;
    free(tab);
    return tm->pos_cache;
}

/* =========================================================================================
 * Load */


static int read_shape(sn_ctx *ctx, const sn_ckpt *ck, td_model *tm) {
    sn_dit_shape *s = &tm->s;
    if (sn_dit_read_shape(ctx, ck, "scale_shift_table", s)) return -1;
    const sn_ckpt_entry *e = sn_dit_need(ctx, ck, "y_embedder.y_proj.fc1.weight", 2);
    if (!e) return -1;
    tm->text_dim = (int)e->shape[1];
    e = sn_ckpt_find(ck, "blocks.0.mlp.fc1.weight");
    tm->mlp_hidden = e && e->ndim == 2 ? (int)e->shape[0] : 4 * s->hidden;
    tm->pool = sn_ckpt_find(ck, "pool_embedder.mlp.0.weight") != NULL;
    return 0;
}

/* A positive finite number from metadata; 0 when absent; -1 with the error set when bad. */
static double meta_number(sn_ctx *ctx, const sn_ckpt *ck, const char *key) {
    const char *v = sn_ckpt_meta(ck, key);
    if (!v) return 0;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (!*v || *end || errno || !isfinite(x) || x <= 0) {
        sn_fail(ctx, "%s: metadata %s '%s' is not a positive number", sn_ckpt_path(ck), key, v);
        return -1;
    }
    return x;
}

/* The time convention and prediction type from metadata (dit.h). */
static int read_conventions(sn_ctx *ctx, const sn_ckpt *ck, td_model *tm, sn_dit_info *in) {
    const char *path = sn_ckpt_path(ck);
    const char *tv = sn_ckpt_meta(ck, "sinter.dit.time");
    in->time = SN_DIT_TIME_STEPS;
    if (tv && !strcmp(tv, "flow")) in->time = SN_DIT_TIME_FLOW;
    else if (tv && !strcmp(tv, "sigma")) in->time = SN_DIT_TIME_SIGMA;
    else if (tv && strcmp(tv, "steps")) {
        sn_fail(ctx, "%s: metadata sinter.dit.time '%s' is not steps, flow or sigma", path, tv);
        return -1;
    }
    in->t_max = in->time == SN_DIT_TIME_STEPS ? 999.0f : 1.0f;
    const char *pv = sn_ckpt_meta(ck, "sinter.dit.prediction");
    in->pred = in->time == SN_DIT_TIME_STEPS ? SN_DIT_PRED_EPS : SN_DIT_PRED_FLOW;
    if (pv) {
        static const char *const names[] = {"eps", "v", "x0", "flow"};
        int k = -1;
        for (int i = 0; i < 4; i++)
            if (!strcmp(pv, names[i])) k = i;
        if (k < 0) {
            sn_fail(ctx, "%s: metadata sinter.dit.prediction '%s' is not eps, v, x0 or flow", path, pv);
            return -1;
        }
        in->pred = (sn_dit_pred)k;
    }
    if (in->pred == SN_DIT_PRED_FLOW && in->time == SN_DIT_TIME_STEPS) {
        sn_fail(ctx, "%s: a flow-velocity model needs a flow time convention (metadata "
                "sinter.dit.time flow or sigma)", path);
        return -1;
    }
    double ts = meta_number(ctx, ck, "sinter.dit.time_scale");
    double bs = meta_number(ctx, ck, "sinter.dit.base_size");
    double pe = meta_number(ctx, ck, "sinter.dit.pe_interpolation");
    if (ts < 0 || bs < 0 || pe < 0) return -1;
    tm->time_scale = ts > 0 ? (float)ts : 1.0f;
    tm->base_size = bs;
    tm->lewei = pe > 0 ? pe : 1.0;
    return 0;
}


static void load_block(sn_dit_loader *ld, td_block *b, int i, int64_t d, int64_t mlp) {
    char p[96];
    snprintf(p, sizeof p, "blocks.%d.attn.qkv", i), sn_dit_bind_linear(ld, &b->qkv_w, &b->qkv_b, p, 3 * d, d);
    snprintf(p, sizeof p, "blocks.%d.attn.proj", i), sn_dit_bind_linear(ld, &b->proj_w, &b->proj_b, p, d, d);
    snprintf(p, sizeof p, "blocks.%d.cross_attn.q_linear", i), sn_dit_bind_linear(ld, &b->q_w, &b->q_b, p, d, d);
    snprintf(p, sizeof p, "blocks.%d.cross_attn.kv_linear", i),
        sn_dit_bind_linear(ld, &b->kv_w, &b->kv_b, p, 2 * d, d);
    snprintf(p, sizeof p, "blocks.%d.cross_attn.proj", i),
        sn_dit_bind_linear(ld, &b->cproj_w, &b->cproj_b, p, d, d);
    snprintf(p, sizeof p, "blocks.%d.mlp.fc1", i), sn_dit_bind_linear(ld, &b->fc1_w, &b->fc1_b, p, mlp, d);
    snprintf(p, sizeof p, "blocks.%d.mlp.fc2", i), sn_dit_bind_linear(ld, &b->fc2_w, &b->fc2_b, p, d, mlp);
    snprintf(p, sizeof p, "blocks.%d.scale_shift_table", i), b->table = sn_dit_bind(ld, p, SN_SHAPE(6, d));
}

static void bind_weights(sn_dit_loader *ld, td_model *tm) {
    const sn_dit_shape *s = &tm->s;
    sn_dit_stem *st = &tm->stem;
    int64_t d = s->hidden, c = s->in_channels, p = s->patch, dt = tm->text_dim;
    st->x_w = sn_reshape(sn_dit_bind(ld, "x_embedder.proj.weight", SN_SHAPE(d, c, p, p)),
                         SN_SHAPE(d, c * p * p));
    st->x_b = sn_dit_bind(ld, "x_embedder.proj.bias", SN_SHAPE(d));
    st->pos_grid = s->input_size / s->patch;
    if (st->pos_grid) {
        int64_t tk = (int64_t)st->pos_grid * st->pos_grid;
        const sn_ckpt_entry *e = sn_ckpt_find(ld->ck, "pos_embed");
        sn_tensor pe = e->ndim == 2 ? sn_dit_bind(ld, "pos_embed", SN_SHAPE(tk, d))
                                    : sn_dit_bind(ld, "pos_embed", SN_SHAPE(1, tk, d));
        if (sn_has(pe)) ld->n_params -= sn_numel(pe); /* a fixed table */
        st->pos_embed = sn_reshape(pe, SN_SHAPE(tk, d));
    }
    sn_dit_bind_linear(ld, &st->t_w0, &st->t_b0, "t_embedder.mlp.0", d, s->freq_dim);
    sn_dit_bind_linear(ld, &st->t_w2, &st->t_b2, "t_embedder.mlp.2", d, d);
    sn_dit_bind_linear(ld, &tm->tb_w, &tm->tb_b, "t_block.1", 6 * d, d);
    sn_dit_bind_linear(ld, &tm->y1_w, &tm->y1_b, "y_embedder.y_proj.fc1", d, dt);
    sn_dit_bind_linear(ld, &tm->y2_w, &tm->y2_b, "y_embedder.y_proj.fc2", d, d);
    const sn_ckpt_entry *ne = sn_ckpt_find(ld->ck, "y_embedder.y_embedding");
    if (ne) {
        int64_t rows = ne->ndim == 2 ? ne->shape[0] : 0; /* shape errors reported by the bind */
        tm->null_text = sn_dit_bind(ld, "y_embedder.y_embedding", SN_SHAPE(rows > 0 ? rows : 1, dt));
        if (sn_has(tm->null_text)) ld->n_params -= sn_numel(tm->null_text); /* a buffer */
    }
    if (tm->pool) {
        sn_dit_bind_linear(ld, &tm->p_w0, &tm->p_b0, "pool_embedder.mlp.0", d, dt);
        sn_dit_bind_linear(ld, &tm->p_w2, &tm->p_b2, "pool_embedder.mlp.2", d, d);
    }
    for (int i = 0; i < s->depth && sn_ok(ld->ctx); i++)
        load_block(ld, &tm->blocks[i], i, d, tm->mlp_hidden);
    tm->f_table = sn_dit_bind(ld, "final_layer.scale_shift_table", SN_SHAPE(2, d));
    int64_t fo = p * p * s->out_channels;
    sn_dit_bind_linear(ld, &st->f_lin_w, &st->f_lin_b, "final_layer.linear", fo, d);
}

static void td_destroy(void *impl) {
    td_model *tm = impl;
    if (tm) free(tm->blocks);
    free(tm);
}
/* No class-conditional forward: sn_dit_forward refuses a model without one. */
static const sn_dit_ops td_ops = {NULL, td_destroy};

sn_dit *sn_dit_load_textdit(sn_ctx *ctx, sn_ckpt *ck, const sn_dit_opts *o) {
    const char *path = sn_ckpt_path(ck);
    sn_dit_loader ld = {ctx, ck, 0, NULL, 0, 0};
    td_model *tm = calloc(1, sizeof *tm);
    sn_dit *m = calloc(1, sizeof *m);
    if (!tm || !m) {
        sn_fail(ctx, "out of memory loading %s", path);
        goto fail;
    }
    if (read_shape(ctx, ck, tm) || read_conventions(ctx, ck, tm, &m->info)) goto fail;
    const sn_dit_shape *s = &tm->s;
    tm->heads = sn_dit_pick_heads(ctx, ck, o, s->hidden, 0, "textdit");
    if (tm->heads < 0) goto fail;
    tm->blocks = calloc(s->depth, sizeof *tm->blocks);
    if (!tm->blocks) {
        sn_fail(ctx, "out of memory loading %s", path);
        goto fail;
    }
    bind_weights(&ld, tm);
    sn_dit_loader_check_all_used(&ld, "text DiT");
    if (!sn_ok(ctx)) goto fail;

    sn_dit_info *in = &m->info;
    snprintf(in->family, sizeof in->family, "textdit");
    in->input_size = s->input_size ? s->input_size
                                   : tm->base_size > 0 ? (int)llround(tm->base_size) * s->patch : 0;
    in->patch = s->patch;
    in->in_channels = s->in_channels;
    in->out_channels = s->out_channels;
    in->hidden = s->hidden;
    in->depth = s->depth;
    in->heads = tm->heads;
    in->head_dim = s->hidden / tm->heads;
    in->mlp_hidden = tm->mlp_hidden;
    in->learn_sigma = s->out_channels == 2 * s->in_channels;
    in->n_params = ld.n_params;
    in->text_dim = tm->text_dim;
    in->text_pool = tm->pool;
    in->null_text_len = sn_has(tm->null_text) ? (int)tm->null_text.shape[0] : 0;
    in->time_scale = tm->time_scale;
    static const char *const preds[] = {"eps", "v", "x0", "velocity"};
    static const char *const times[] = {"t 0..999", "flow t", "sigma t"};
    snprintf(in->description, sizeof in->description,
             "text DiT/%d: %d block%s, hidden %d, %d heads, %d -> %d channels, text width %d%s, "
             "%s, %s, %.1fM parameters", in->patch, in->depth, in->depth == 1 ? "" : "s",
             in->hidden, in->heads, in->in_channels, in->out_channels, in->text_dim,
             tm->pool ? " + pooled" : "", preds[in->pred], times[in->time], in->n_params / 1e6);
    m->attn = (sn_attn_spec){.kind = SN_ATTN_FULL}; /* self-attention; scale 1/sqrt(head_dim) */
    m->ops = &td_ops;
    m->impl = tm;
    sn_dit_loader_free(&ld);
    return m;
fail:
    sn_dit_loader_free(&ld);
    td_destroy(tm);
    free(m);
    return NULL;
}

sn_tensor sn_textdit_null_text(const sn_dit *m) {
    if (!m || m->ops != &td_ops) return sn_none();
    const td_model *tm = m->impl;
    if (!sn_has(tm->null_text)) return sn_none();
    return sn_reshape(tm->null_text, SN_SHAPE(1, tm->null_text.shape[0], tm->null_text.shape[1]));
}

/* =========================================================================================
 * Forward */

static int check_inputs(sn_ctx *ctx, const sn_dit *m, sn_tensor x, sn_tensor t, sn_tensor text,
                        sn_tensor mask) {
    const sn_dit_info *in = &m->info;
    char a[96], b[96], c[96];
    if (x.dtype != SN_F32 || x.ndim != 4 || x.shape[1] != in->in_channels || x.shape[2] < 1 ||
        x.shape[3] < 1 || x.shape[2] % in->patch || x.shape[3] % in->patch) {
        sn_fail(ctx, "textdit forward: x is %s %s; expected f32 (N, %d, H, W) with H and W "
                "multiples of the patch size %d", sn_dtype_name(x.dtype),
                sn_shape_str(x.shape, x.ndim, a, sizeof a), in->in_channels, in->patch);
        return 0;
    }
    int64_t n = x.shape[0];
    if (t.dtype != SN_F32 || t.ndim != 1 || t.shape[0] != n) {
        sn_fail(ctx, "textdit forward: t is %s %s; expected f32 (%lld) for x %s",
                sn_dtype_name(t.dtype), sn_shape_str(t.shape, t.ndim, b, sizeof b), (long long)n,
                sn_shape_str(x.shape, x.ndim, a, sizeof a));
        return 0;
    }
    if (text.dtype != SN_F32 || text.ndim != 3 || text.shape[0] != n || text.shape[1] < 1 ||
        text.shape[2] != in->text_dim) {
        sn_fail(ctx, "textdit forward: text is %s %s; expected f32 (%lld, L, %d): the model "
                "takes text tokens of width %d", sn_dtype_name(text.dtype),
                sn_shape_str(text.shape, text.ndim, b, sizeof b), (long long)n, in->text_dim,
                in->text_dim);
        return 0;
    }
    if (sn_has(mask) && ((mask.dtype != SN_I32 && mask.dtype != SN_F32) || mask.ndim != 2 ||
                         mask.shape[0] != n || mask.shape[1] != text.shape[1])) {
        sn_fail(ctx, "textdit forward: mask is %s %s; expected i32 or f32 (N, L) = (%lld, %lld) "
                "as the text", sn_dtype_name(mask.dtype), sn_shape_str(mask.shape, mask.ndim, c, sizeof c),
                (long long)n, (long long)text.shape[1]);
        return 0;
    }
    return 1;
}

/* The mask on the host as 0/1 floats (n x L); all ones when absent. NULL with the error set
 * when out of memory. */
static float *host_mask(sn_ctx *ctx, sn_tensor mask, int64_t n, int64_t len) {
    float *f = malloc((size_t)n * len * sizeof *f);
    int32_t *iv = sn_has(mask) && mask.dtype == SN_I32 ? malloc((size_t)n * len * sizeof *iv) : NULL;
    if (!f || (sn_has(mask) && mask.dtype == SN_I32 && !iv)) {
        free(f), free(iv);
        sn_fail(ctx, "out of memory reading the text mask");
        return NULL;
    }
    if (!sn_has(mask)) {
        for (int64_t i = 0; i < n * len; i++) f[i] = 1.0f;
    } else if (iv) {
        sn_download(ctx, mask, iv);
        for (int64_t i = 0; i < n * len; i++) f[i] = iv[i] != 0;
    } else {
        sn_download(ctx, mask, f);
        for (int64_t i = 0; i < n * len; i++) f[i] = f[i] != 0.0f;
    }
    free(iv);
    return f;
}

/* Masked mean of the text tokens (N, Dtxt) as one batched product: w (N, 1, L) @ text. */
static sn_tensor pooled_text(sn_ctx *ctx, sn_tensor text, const float *m01) {
    int64_t n = text.shape[0], len = text.shape[1];
    float *w = malloc((size_t)n * len * sizeof *w);
    if (!w) {
        sn_fail(ctx, "out of memory pooling the text");
        return sn_none();
    }
    for (int64_t i = 0; i < n; i++) {
        double cnt = 0;
        for (int64_t l = 0; l < len; l++) cnt += m01[i * len + l];
        for (int64_t l = 0; l < len; l++)
            w[i * len + l] = (float)(m01[i * len + l] / (cnt > 1 ? cnt : 1));
    }
    sn_tensor wt = sn_from_host(ctx, sn_tensor_wrap(w, SN_F32, SN_SHAPE(n, 1, len)));
    wt = sn_to(ctx, wt, text.dtype);
    free(w);
    sn_tensor p = sn_matmul(ctx, wt, text);
    return sn_reshape(p, SN_SHAPE(n, text.shape[2]));
}

/* The key padding bias (N, 1, 1, L): 0 for tokens, -inf for padding. */
static sn_tensor padding_bias(sn_ctx *ctx, const float *m01, int64_t n, int64_t len) {
    float *b = malloc((size_t)n * len * sizeof *b);
    if (!b) {
        sn_fail(ctx, "out of memory building the text mask");
        return sn_none();
    }
    for (int64_t i = 0; i < n * len; i++) b[i] = m01[i] != 0.0f ? 0.0f : -INFINITY;
    sn_tensor t = sn_from_host(ctx, sn_tensor_wrap(b, SN_F32, SN_SHAPE(n, 1, 1, len)));
    free(b);
    return t;
}

static sn_tensor self_attention(sn_ctx *ctx, const td_block *b, int heads,
                                const sn_attn_spec *spec, sn_tensor x) {
    sn_tensor q, k, v;
    sn_dit_split_heads(ctx, sn_linear(ctx, x, b->qkv_w, b->qkv_b), heads, &q, &k, &v);
    sn_tensor o = sn_dit_merge_heads(ctx, sn_attention(ctx, q, k, v, spec));
    return sn_linear(ctx, o, b->proj_w, b->proj_b);
}

/* q from the image tokens x (N, T, D), [k | v] from the projected text y (N, L, D). */
static sn_tensor cross_attention(sn_ctx *ctx, const td_block *b, int heads, sn_tensor x,
                                 sn_tensor y, sn_tensor bias) {
    int64_t n = x.shape[0], tk = x.shape[1], d = x.shape[2], len = y.shape[1], hd = d / heads;
    sn_tensor q = sn_permute(ctx, sn_reshape(sn_linear(ctx, x, b->q_w, b->q_b), SN_SHAPE(n, tk, heads, hd)),
                             (const int[]){0, 2, 1, 3});
    sn_tensor kv = sn_permute(ctx, sn_reshape(sn_linear(ctx, y, b->kv_w, b->kv_b),
                                              SN_SHAPE(n, len, 2, heads, hd)),
                              (const int[]){2, 0, 3, 1, 4}); /* (2, N, H, L, hd) */
    sn_tensor k = sn_reshape(sn_index(kv, 0), SN_SHAPE(n, heads, len, hd)); /* views */
    sn_tensor v = sn_reshape(sn_index(kv, 1), SN_SHAPE(n, heads, len, hd));
    sn_attn_spec spec = {.kind = SN_ATTN_FULL, .bias = bias};
    sn_tensor o = sn_dit_merge_heads(ctx, sn_attention(ctx, q, k, v, &spec));
    return sn_linear(ctx, o, b->cproj_w, b->cproj_b);
}

static sn_tensor mlp(sn_ctx *ctx, const td_block *b, sn_tensor x) {
    return sn_linear(ctx, sn_linear_gelu(ctx, x, b->fc1_w, b->fc1_b), b->fc2_w, b->fc2_b);
}

/* table (k, D) + v (N, k D) viewed as (N, k, D), split into k tensors (N, 1, D): PixArt's
 * (scale_shift_table[None] + t0.reshape(N, 6, -1)).chunk(6, dim=1). */
static void table_chunks(sn_ctx *ctx, sn_tensor table, sn_tensor v, int k, sn_tensor *out) {
    int64_t n = v.shape[0], d = table.shape[1];
    sn_split(ctx, sn_add(ctx, sn_reshape(v, SN_SHAPE(n, k, d)), table), 1, k, out);
}

static sn_tensor flat(sn_tensor v) { return sn_reshape(v, SN_SHAPE(v.shape[0], v.shape[2])); }

static sn_tensor block_forward(sn_ctx *ctx, const td_model *tm, const td_block *b,
                               const sn_attn_spec *spec, sn_tensor x, sn_tensor t0, sn_tensor y,
                               sn_tensor bias) {
    sn_tensor mod[6];
    table_chunks(ctx, b->table, t0, 6, mod);
    sn_tensor shift_msa = flat(mod[0]), scale_msa = flat(mod[1]), gate_msa = flat(mod[2]);
    sn_tensor shift_mlp = flat(mod[3]), scale_mlp = flat(mod[4]), gate_mlp = flat(mod[5]);

    sn_tensor a = sn_layer_norm_modulate(ctx, x, shift_msa, scale_msa, TD_LN_EPS);
    x = sn_gated_add(ctx, x, self_attention(ctx, b, tm->heads, spec, a), gate_msa);
    x = sn_add(ctx, x, cross_attention(ctx, b, tm->heads, x, y, bias));
    sn_tensor f = sn_layer_norm_modulate(ctx, x, shift_mlp, scale_mlp, TD_LN_EPS);
    return sn_gated_add(ctx, x, mlp(ctx, b, f), gate_mlp);
}

static sn_tensor td_forward(sn_ctx *ctx, sn_dit *m, sn_tensor x, sn_tensor t, sn_tensor text,
                            sn_tensor mask) {
    td_model *tm = m->impl;
    const sn_dit_shape *s = &tm->s;
    int64_t n = x.shape[0], len = text.shape[1];
    int gh = (int)x.shape[2] / s->patch, gw = (int)x.shape[3] / s->patch;
    float *m01 = host_mask(ctx, mask, n, len);
    if (!m01) return sn_none();

    /* conditioning, computed once */
    sn_tensor tt = tm->time_scale != 1.0f ? sn_affine(ctx, t, tm->time_scale, 0.0f) : t;
    sn_tensor temb = sn_dit_embed_time(ctx, &tm->stem, s, tt);
    if (tm->pool) {
        sn_tensor p = pooled_text(ctx, text, m01);
        p = sn_linear(ctx, sn_silu(ctx, sn_linear(ctx, p, tm->p_w0, tm->p_b0)), tm->p_w2, tm->p_b2);
        temb = sn_add(ctx, temb, p);
    }
    sn_tensor t0 = sn_linear(ctx, sn_silu(ctx, temb), tm->tb_w, tm->tb_b); /* (N, 6D) */
    sn_tensor y = sn_linear(ctx, sn_linear_gelu(ctx, text, tm->y1_w, tm->y1_b),
                            tm->y2_w, tm->y2_b);
    sn_tensor bias = sn_has(mask) ? padding_bias(ctx, m01, n, len) : sn_none();
    free(m01);

    sn_attn_spec spec = sn_dit_grid_attention(ctx, m, gh, gw);
    sn_scope sc = sn_scope_begin(ctx); /* h lives at this mark, block after block */
    sn_tensor pos = pos_for_grid(ctx, tm, gh, gw);
    sn_tensor h = sn_linear(ctx, sn_patchify(ctx, x, s->patch), tm->stem.x_w, tm->stem.x_b);
    h = sn_scope_end(ctx, sc, sn_add(ctx, h, pos));
    for (int i = 0; i < s->depth; i++)
        h = sn_scope_end(ctx, sc, block_forward(ctx, tm, &tm->blocks[i],
                                                sn_dit_block_attention(m, i, &spec), h, t0, y,
                                                bias));

    sn_tensor fm[2]; /* shift, scale = table (2, D) + t (N, 1, D) */
    sn_split(ctx, sn_add(ctx, sn_reshape(temb, SN_SHAPE(n, 1, s->hidden)), tm->f_table), 1, 2, fm);
    sn_tensor hn = sn_layer_norm(ctx, h, sn_none(), sn_none(), TD_LN_EPS);
    sn_tensor out = sn_linear(ctx, sn_modulate(ctx, hn, flat(fm[0]), flat(fm[1])), tm->stem.f_lin_w,
                              tm->stem.f_lin_b);
    return sn_unpatchify(ctx, out, s->patch, gh, gw, s->out_channels);
}

sn_tensor sn_textdit_forward(sn_ctx *ctx, sn_dit *m, sn_tensor x, sn_tensor t, sn_tensor text,
                             sn_tensor mask) {
    if (!sn_ok(ctx)) return sn_none();
    if (!m || m->ops != &td_ops) {
        sn_fail(ctx, "textdit forward: %s", m ? "not a text-conditioned model (use sn_dit_forward)"
                                              : "no model");
        return sn_none();
    }
    if (!check_inputs(ctx, m, x, t, text, mask)) return sn_none();
    sn_scope s = sn_scope_begin(ctx); /* the model runs in the context's dtype, answers in f32 */
    sn_dtype dt = sn_ctx_dtype(ctx);
    sn_dit_count_forward(m);
    sn_tensor out = td_forward(ctx, m, sn_to(ctx, x, dt), t, sn_to(ctx, text, dt), mask);
    return sn_scope_end(ctx, s, sn_to(ctx, out, SN_F32));
}
