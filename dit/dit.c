/* DiT: "Scalable Diffusion Models with Transformers" (facebookresearch/DiT, models.py), and the
 * interface every class-conditional DiT-style denoiser loads through
 * (reference: /work/shared/reference/models.md section 1).
 *
 *   h   = x_embedder(x) + pos_embed            conv k = s = p as patchify + linear; (N, T, D)
 *   c   = t_embedder(t) + y_embedder(y)        [cos | sin] of t * 10000^(-k/128), MLP; label row
 *   for each block (adaLN-Zero):
 *       shift1, scale1, gate1, shift2, scale2, gate2 = Linear(SiLU(c))      6 chunks of D
 *       h = h + gate1 * attn(LN(h) * (1 + scale1) + shift1)                 LN eps 1e-6, no affine
 *       h = h + gate2 * mlp (LN(h) * (1 + scale2) + shift2)                 fc1, GELU-tanh, fc2
 *   shift, scale = Linear(SiLU(c));  out = Linear(LN(h) * (1 + scale) + shift)
 *   out = unpatchify(out)                      features (py, px, c) -> (N, C_out, H, W)
 *
 * attn is timm's: qkv rows [q | k | v], heads contiguous, softmax(q k^T / sqrt(head_dim)) v,
 * proj. Checkpoint names are the original ones (x_embedder.proj.weight, t_embedder.mlp.0.weight,
 * y_embedder.embedding_table.weight, blocks.i.attn.qkv.weight, blocks.i.mlp.fc1.weight,
 * blocks.i.adaLN_modulation.1.weight, final_layer.linear.weight, pos_embed).
 *
 * This file also holds what both families share: the loader (family detection, key prefixes,
 * heads), the stem (patch, position, time and label embeddings) and the final layer. The
 * LightningDiT blocks are in lightningdit.c. */
#include "dit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIT_LN_EPS 1e-6f

/* =========================================================================================
 * Shared: position tables */

void sn_dit_sincos_pos_embed(float *dst, int gh, int gw, int dim) {
    int q = dim / 4; /* frequencies per (axis, sin|cos) */
    for (int i = 0; i < gh; i++)
        for (int j = 0; j < gw; j++) {
            float *row = dst + ((size_t)i * gw + j) * dim;
            for (int k = 0; k < q; k++) {
                double w = 1.0 / pow(10000.0, (double)k / q);
                row[k] = (float)sin(j * w);         /* first half: the column (x) index */
                row[q + k] = (float)cos(j * w);
                row[2 * q + k] = (float)sin(i * w); /* second half: the row (y) index */
                row[3 * q + k] = (float)cos(i * w);
            }
        }
}

void sn_dit_rope_tables(float *cos_out, float *sin_out, int gh, int gw, int head_dim) {
    int dim = head_dim / 2, nf = dim / 2; /* per axis: dim values, nf frequencies */
    for (int i = 0; i < gh; i++)
        for (int j = 0; j < gw; j++) {
            size_t n = (size_t)i * gw + j;
            /* positions as arange(G) / G * G in f32 */
            float pi = (float)i / (float)gh * (float)gh, pj = (float)j / (float)gw * (float)gw;
            for (int a = 0; a < 2; a++) {
                float p = a ? pj : pi; /* first half rotates with the row, second with the column */
                for (int k = 0; k < nf; k++) {
                    /* 1 / theta^(arange(0, dim, 2) / dim), in f32 */
                    float freq = 1.0f / powf(10000.0f, (float)(2 * k) / (float)dim);
                    float ang = p * freq;
                    float c = (float)cos((double)ang), s = (float)sin((double)ang);
                    size_t at = n * head_dim + a * dim + 2 * k;
                    cos_out[at] = cos_out[at + 1] = c;
                    sin_out[at] = sin_out[at + 1] = s;
                }
            }
        }
}

/* =========================================================================================
 * Shared: binding tensors */

static void mark_used(sn_dit_loader *ld, const char *name) {
    const sn_ckpt_entry *e = sn_ckpt_find(ld->ck, name);
    if (!e) return;
    if (ld->n_used == ld->cap_used) {
        int nc = ld->cap_used ? 2 * ld->cap_used : 256;
        const char **p = realloc(ld->used, nc * sizeof *p);
        if (!p) {
            sn_fail(ld->ctx, "out of memory loading %s", sn_ckpt_path(ld->ck));
            return;
        }
        ld->used = p;
        ld->cap_used = nc;
    }
    ld->used[ld->n_used++] = e->name;
}

sn_tensor sn_dit_bind(sn_dit_loader *ld, const char *name, int ndim, const int64_t *shape) {
    sn_tensor t = sn_ckpt_bind(ld->ctx, ld->ck, name, sn_ctx_dtype(ld->ctx), ndim, shape);
    if (sn_has(t)) {
        mark_used(ld, name);
        ld->n_params += sn_numel(t);
    }
    return t;
}

void sn_dit_bind_linear(sn_dit_loader *ld, sn_tensor *w, sn_tensor *b, const char *prefix,
                        int64_t out, int64_t in) {
    char n[160];
    snprintf(n, sizeof n, "%s.weight", prefix), *w = sn_dit_bind(ld, n, SN_SHAPE(out, in));
    snprintf(n, sizeof n, "%s.bias", prefix), *b = sn_dit_bind(ld, n, SN_SHAPE(out));
}

void sn_dit_loader_check_all_used(sn_dit_loader *ld, const char *family) {
    for (int i = 0; i < sn_ckpt_count(ld->ck) && sn_ok(ld->ctx); i++) {
        const char *name = sn_ckpt_at(ld->ck, i)->name;
        int used = 0;
        for (int k = 0; k < ld->n_used && !used; k++) used = ld->used[k] == name;
        if (!used)
            sn_fail(ld->ctx, "%s: tensor '%s' has no place in the %s structure read from the "
                    "file (another variant, or another kind of model?)", sn_ckpt_path(ld->ck),
                    name, family);
    }
}

void sn_dit_loader_free(sn_dit_loader *ld) {
    free(ld->used);
    ld->used = NULL;
    ld->n_used = ld->cap_used = 0;
}

/* =========================================================================================
 * Shared: structure from the shapes */

const sn_ckpt_entry *sn_dit_need(sn_ctx *ctx, const sn_ckpt *ck, const char *name, int ndim) {
    const sn_ckpt_entry *e = sn_ckpt_find(ck, name);
    if (!e) {
        sn_fail(ctx, "%s: tensor '%s' is missing (is this a DiT checkpoint?)", sn_ckpt_path(ck),
                name);
        return NULL;
    }
    if (e->ndim != ndim) {
        char a[96];
        sn_fail(ctx, "%s: tensor '%s' has shape %s, expected %d dimensions", sn_ckpt_path(ck),
                name, sn_shape_str(e->shape, e->ndim, a, sizeof a), ndim);
        return NULL;
    }
    return e;
}

int sn_dit_read_shape(sn_ctx *ctx, const sn_ckpt *ck, const char *block_marker, sn_dit_shape *s) {
    const char *path = sn_ckpt_path(ck);
    memset(s, 0, sizeof *s);
    const sn_ckpt_entry *e = sn_dit_need(ctx, ck, "x_embedder.proj.weight", 4);
    if (!e) return -1;
    s->hidden = (int)e->shape[0];
    s->in_channels = (int)e->shape[1];
    s->patch = (int)e->shape[2];
    if (e->shape[2] != e->shape[3] || s->patch < 1 || s->hidden < 4 || s->hidden % 4) {
        char a[96];
        sn_fail(ctx, "%s: x_embedder.proj.weight %s is not (hidden, C, p, p) with square "
                "patches and hidden a multiple of 4", path, sn_shape_str(e->shape, 4, a, sizeof a));
        return -1;
    }
    char name[96];
    for (;;) {
        snprintf(name, sizeof name, "blocks.%d.%s", s->depth, block_marker);
        if (!sn_ckpt_find(ck, name)) break;
        s->depth++;
    }
    if (!s->depth) {
        sn_fail(ctx, "%s: tensor 'blocks.0.%s' is missing (no transformer blocks)", path,
                block_marker);
        return -1;
    }
    /* class-conditional models: the label table, with the null class as its last row */
    if ((e = sn_ckpt_find(ck, "y_embedder.embedding_table.weight")) &&
        !(e = sn_dit_need(ctx, ck, "y_embedder.embedding_table.weight", 2)))
        return -1;
    s->num_classes = e ? (int)e->shape[0] - 1 : 0;
    if (e && s->num_classes < 1) {
        sn_fail(ctx, "%s: y_embedder.embedding_table.weight has %lld rows; expected the classes "
                "and the null class", path, (long long)e->shape[0]);
        return -1;
    }
    if (!(e = sn_dit_need(ctx, ck, "t_embedder.mlp.0.weight", 2))) return -1;
    s->freq_dim = (int)e->shape[1];
    if (s->freq_dim < 2 || s->freq_dim > 4096) {
        sn_fail(ctx, "%s: t_embedder.mlp.0.weight has %d inputs; expected the 256 frequencies",
                path, s->freq_dim);
        return -1;
    }
    if (!(e = sn_dit_need(ctx, ck, "final_layer.linear.weight", 2))) return -1;
    int pp = s->patch * s->patch;
    s->out_channels = (int)(e->shape[0] / pp);
    if (e->shape[0] % pp || !s->out_channels) {
        sn_fail(ctx, "%s: final_layer.linear.weight has %lld outputs, not a multiple of p*p = %d",
                path, (long long)e->shape[0], pp);
        return -1;
    }
    if ((e = sn_ckpt_find(ck, "pos_embed"))) {
        int64_t tk = e->ndim == 3 ? e->shape[1] : e->ndim == 2 ? e->shape[0] : 0;
        int g = (int)llround(sqrt((double)tk));
        if (tk < 1 || (int64_t)g * g != tk) {
            char a[96];
            sn_fail(ctx, "%s: pos_embed %s is not (1, T, D) for a square grid of T tokens", path,
                    sn_shape_str(e->shape, e->ndim, a, sizeof a));
            return -1;
        }
        s->input_size = g * s->patch;
    }
    return 0;
}

/* The published configs: hidden size -> heads. */
static int heads_by_size(int hidden, const char *family) {
    static const int dit[][2] = {{1152, 16}, {1024, 16}, {768, 12}, {384, 6}};
    static const int ldit[][2] = {{1152, 16}, {1024, 16}, {768, 12}, {1536, 24}, {1792, 28}};
    int lightning = !strcmp(family, "lightningdit");
    int n = lightning ? 5 : 4;
    for (int i = 0; i < n; i++) {
        const int *r = lightning ? ldit[i] : dit[i];
        if (r[0] == hidden) return r[1];
    }
    return 0;
}

int sn_dit_pick_heads(sn_ctx *ctx, const sn_ckpt *ck, const sn_dit_opts *o, int hidden,
                      int head_dim_from_tensors, const char *family) {
    const char *path = sn_ckpt_path(ck);
    int heads = o->heads;
    const char *from = o->heads_from;
    if (heads > 0 && head_dim_from_tensors > 0 && heads * head_dim_from_tensors != hidden) {
        sn_fail(ctx, "%s: %s says %d heads, but the tensors hold head_dim %d (%d heads of hidden "
                "size %d)", path, from, heads, head_dim_from_tensors,
                hidden / head_dim_from_tensors, hidden);
        return -1;
    }
    if (heads <= 0 && head_dim_from_tensors > 0) {
        heads = hidden / head_dim_from_tensors;
        from = "head_dim of the RoPE / qk-norm tensors";
    }
    if (heads <= 0) {
        heads = heads_by_size(hidden, family);
        from = "the published configs";
    }
    if (heads <= 0) {
        sn_fail(ctx, "%s: cannot tell the number of attention heads for hidden size %d (not a "
                "published %s size); give it as kind '%s:heads=N' or metadata "
                "sinter.dit.num_heads", path, hidden, family, family);
        return -1;
    }
    if (hidden % heads) {
        sn_fail(ctx, "%s: %d heads (from %s) do not divide the hidden size %d", path, heads, from,
                hidden);
        return -1;
    }
    return heads;
}

void sn_dit_bind_stem(sn_dit_loader *ld, sn_dit_stem *st, const sn_dit_shape *s, int rmsnorm) {
    int64_t d = s->hidden, c = s->in_channels, p = s->patch;
    st->x_w = sn_reshape(sn_dit_bind(ld, "x_embedder.proj.weight", SN_SHAPE(d, c, p, p)),
                         SN_SHAPE(d, c * p * p)); /* patchify orders features (c, py, px) */
    st->x_b = sn_dit_bind(ld, "x_embedder.proj.bias", SN_SHAPE(d));
    st->pos_grid = s->input_size / s->patch;
    if (st->pos_grid) {
        int64_t tk = (int64_t)st->pos_grid * st->pos_grid;
        const sn_ckpt_entry *e = sn_ckpt_find(ld->ck, "pos_embed");
        sn_tensor pe = e->ndim == 2 ? sn_dit_bind(ld, "pos_embed", SN_SHAPE(tk, d))
                                    : sn_dit_bind(ld, "pos_embed", SN_SHAPE(1, tk, d));
        if (sn_has(pe)) ld->n_params -= sn_numel(pe); /* a fixed table, not a learned weight */
        st->pos_embed = sn_reshape(pe, SN_SHAPE(tk, d));
    }
    st->t_w0 = sn_dit_bind(ld, "t_embedder.mlp.0.weight", SN_SHAPE(d, s->freq_dim));
    st->t_b0 = sn_dit_bind(ld, "t_embedder.mlp.0.bias", SN_SHAPE(d));
    st->t_w2 = sn_dit_bind(ld, "t_embedder.mlp.2.weight", SN_SHAPE(d, d));
    st->t_b2 = sn_dit_bind(ld, "t_embedder.mlp.2.bias", SN_SHAPE(d));
    st->y_table = sn_dit_bind(ld, "y_embedder.embedding_table.weight",
                              SN_SHAPE(s->num_classes + 1, d));
    st->f_ada_w = sn_dit_bind(ld, "final_layer.adaLN_modulation.1.weight", SN_SHAPE(2 * d, d));
    st->f_ada_b = sn_dit_bind(ld, "final_layer.adaLN_modulation.1.bias", SN_SHAPE(2 * d));
    if (rmsnorm) st->f_norm_w = sn_dit_bind(ld, "final_layer.norm_final.weight", SN_SHAPE(d));
    int64_t fo = p * p * s->out_channels;
    st->f_lin_w = sn_dit_bind(ld, "final_layer.linear.weight", SN_SHAPE(fo, d));
    st->f_lin_b = sn_dit_bind(ld, "final_layer.linear.bias", SN_SHAPE(fo));
}

/* =========================================================================================
 * Shared: forward pieces */

int sn_dit_check_inputs(sn_ctx *ctx, const sn_dit *m, sn_tensor x, sn_tensor t, sn_tensor y) {
    if (!sn_ok(ctx)) return 0;
    const sn_dit_info *in = &m->info;
    char a[96], b[96], c[96];
    if (x.dtype != SN_F32 || x.ndim != 4 || x.shape[1] != in->in_channels ||
        x.shape[2] % in->patch || x.shape[3] % in->patch || x.shape[2] < 1 || x.shape[3] < 1) {
        sn_fail(ctx, "%s forward: x is %s %s; expected f32 (N, %d, H, W) with H and W multiples of "
                "the patch size %d", in->family, sn_dtype_name(x.dtype),
                sn_shape_str(x.shape, x.ndim, a, sizeof a), in->in_channels, in->patch);
        return 0;
    }
    int64_t n = x.shape[0];
    if (t.dtype != SN_F32 || t.ndim != 1 || t.shape[0] != n || y.dtype != SN_I32 || y.ndim != 1 ||
        y.shape[0] != n) {
        sn_fail(ctx, "%s forward: t (%s %s) and y (%s %s) must be f32 (N) and i32 (N) for x %s",
                in->family, sn_dtype_name(t.dtype), sn_shape_str(t.shape, t.ndim, b, sizeof b),
                sn_dtype_name(y.dtype), sn_shape_str(y.shape, y.ndim, c, sizeof c),
                sn_shape_str(x.shape, x.ndim, a, sizeof a));
        return 0;
    }
    if (sn_ctx_capturing(ctx)) return 1; /* no host reads while a graph records: the caller
                                            checked the labels before capturing */
    int32_t *lab = malloc(n * sizeof *lab);
    if (!lab) {
        sn_fail(ctx, "%s forward: out of memory", in->family);
        return 0;
    }
    sn_download(ctx, y, lab);
    int ok = 1;
    for (int64_t i = 0; i < n && ok; i++)
        if (lab[i] < 0 || lab[i] > in->num_classes) {
            sn_fail(ctx, "%s forward: label %d (item %lld) is outside [0, %d] (%d = the null "
                    "class)", in->family, lab[i], (long long)i, in->num_classes, in->num_classes);
            ok = 0;
        }
    free(lab);
    return ok;
}

/* A position table for a grid the checkpoint's does not cover, computed once per grid. */
static sn_tensor pos_for_grid(sn_ctx *ctx, sn_dit_stem *st, int gh, int gw, int d) {
    if (st->pos_grid && gh == st->pos_grid && gw == st->pos_grid) return st->pos_embed;
    if (sn_has(st->pos_cache) && st->cache_gh == gh && st->cache_gw == gw) return st->pos_cache;
    float *tab = malloc((size_t)gh * gw * d * sizeof(float));
    if (!tab) {
        sn_fail(ctx, "out of memory computing a position table");
        return sn_none();
    }
    sn_dit_sincos_pos_embed(tab, gh, gw, d);
    st->pos_cache = sn_upload_as(ctx, sn_tensor_wrap(tab, SN_F32, SN_SHAPE((int64_t)gh * gw, d)),
                                 sn_ctx_dtype(ctx));
    st->cache_gh = gh, st->cache_gw = gw;
    free(tab);
    return st->pos_cache;
}

sn_tensor sn_dit_embed_patches(sn_ctx *ctx, sn_dit_stem *st, const sn_dit_shape *s, sn_tensor x) {
    int p = s->patch, gh = (int)x.shape[2] / p, gw = (int)x.shape[3] / p;
    sn_tensor pos = pos_for_grid(ctx, st, gh, gw, s->hidden);
    sn_tensor h = sn_linear(ctx, sn_patchify(ctx, x, p), st->x_w, st->x_b); /* (N, T, D) */
    return sn_add(ctx, h, pos);
}

/* freqs_k = exp(-ln(10000) k / half) in f32 as the original computes it; the embedding is
 * [cos | sin] of t * freqs with f32 arguments (they reach ~1000 rad, so the f32 rounding is
 * part of the function), computed on the device (sn_timestep_embedding). The table is made on
 * the first call and kept, so later calls (and CUDA graphs) upload nothing. */
static sn_tensor timestep_freqs(sn_ctx *ctx, sn_dit_stem *st, int dim) {
    int half = dim / 2;
    if (sn_has(st->t_freqs) && st->t_freqs.shape[0] == half) return st->t_freqs;
    float *f = malloc((half ? half : 1) * sizeof *f);
    if (!f) {
        sn_fail(ctx, "out of memory embedding the time");
        return sn_none();
    }
    const float neg_log = (float)-log(10000.0);
    for (int k = 0; k < half; k++) f[k] = expf(neg_log * (float)k / (float)half);
    st->t_freqs = sn_upload(ctx, sn_tensor_wrap(f, SN_F32, SN_SHAPE(half)));
    free(f);
    return st->t_freqs;
}

sn_tensor sn_dit_embed_time(sn_ctx *ctx, sn_dit_stem *st, const sn_dit_shape *s, sn_tensor t) {
    sn_tensor freq = sn_timestep_embedding(ctx, t, timestep_freqs(ctx, st, s->freq_dim), s->freq_dim);
    freq = sn_to(ctx, freq, sn_ctx_dtype(ctx));
    return sn_linear(ctx, sn_silu(ctx, sn_linear(ctx, freq, st->t_w0, st->t_b0)), st->t_w2, st->t_b2);
}

sn_tensor sn_dit_embed_condition(sn_ctx *ctx, sn_dit_stem *st, const sn_dit_shape *s,
                                 sn_tensor t, sn_tensor y) {
    return sn_add(ctx, sn_dit_embed_time(ctx, st, s, t), sn_embedding(ctx, st->y_table, y));
}

sn_tensor sn_dit_final(sn_ctx *ctx, const sn_dit_stem *st, const sn_dit_shape *s, sn_tensor h,
                       sn_tensor silu_c, int gh, int gw) {
    sn_tensor mod[2]; /* shift, scale */
    sn_split(ctx, sn_linear(ctx, silu_c, st->f_ada_w, st->f_ada_b), 1, 2, mod);
    sn_tensor hn = sn_has(st->f_norm_w) ? sn_rms_norm(ctx, h, st->f_norm_w, DIT_LN_EPS)
                                        : sn_layer_norm(ctx, h, sn_none(), sn_none(), DIT_LN_EPS);
    sn_tensor out = sn_linear(ctx, sn_modulate(ctx, hn, mod[0], mod[1]), st->f_lin_w, st->f_lin_b);
    return sn_unpatchify(ctx, out, s->patch, gh, gw, s->out_channels);
}

void sn_dit_split_heads(sn_ctx *ctx, sn_tensor qkv, int heads, sn_tensor *q, sn_tensor *k,
                        sn_tensor *v) {
    int64_t n = qkv.shape[0], tk = qkv.shape[1], d = qkv.shape[2] / 3, hd = d / heads;
    /* (N, T, 3, H, hd) -> (3, N, H, T, hd) */
    sn_tensor all = sn_permute(ctx, sn_reshape(qkv, SN_SHAPE(n, tk, 3, heads, hd)),
                               (const int[]){2, 0, 3, 1, 4});
    sn_tensor *out[3] = {q, k, v};
    for (int i = 0; i < 3; i++) /* views into `all`: no copies */
        *out[i] = sn_reshape(sn_index(all, i), SN_SHAPE(n, heads, tk, hd));
}

sn_tensor sn_dit_merge_heads(sn_ctx *ctx, sn_tensor o) {
    int64_t n = o.shape[0], h = o.shape[1], tk = o.shape[2], hd = o.shape[3];
    return sn_reshape(sn_permute(ctx, o, (const int[]){0, 2, 1, 3}), SN_SHAPE(n, tk, h * hd));
}

/* =========================================================================================
 * DiT: config and weights */

typedef struct {
    sn_tensor qkv_w, qkv_b, proj_w, proj_b; /* attn */
    sn_tensor fc1_w, fc1_b, fc2_w, fc2_b;   /* mlp */
    sn_tensor ada_w, ada_b;                 /* adaLN_modulation.1: (6D, D) */
} dit_block;

typedef struct {
    sn_dit_shape s;
    int heads, mlp_hidden;
    sn_dit_stem stem;
    dit_block *blocks;
} dit_model;

/* =========================================================================================
 * DiT: load */


static void load_block(sn_dit_loader *ld, dit_block *b, int i, int64_t d, int64_t mlp) {
    char p[96];
    snprintf(p, sizeof p, "blocks.%d.attn.qkv", i), sn_dit_bind_linear(ld, &b->qkv_w, &b->qkv_b, p, 3 * d, d);
    snprintf(p, sizeof p, "blocks.%d.attn.proj", i), sn_dit_bind_linear(ld, &b->proj_w, &b->proj_b, p, d, d);
    snprintf(p, sizeof p, "blocks.%d.mlp.fc1", i), sn_dit_bind_linear(ld, &b->fc1_w, &b->fc1_b, p, mlp, d);
    snprintf(p, sizeof p, "blocks.%d.mlp.fc2", i), sn_dit_bind_linear(ld, &b->fc2_w, &b->fc2_b, p, d, mlp);
    snprintf(p, sizeof p, "blocks.%d.adaLN_modulation.1", i),
        sn_dit_bind_linear(ld, &b->ada_w, &b->ada_b, p, 6 * d, d);
}

static const char *size_name(int depth, int hidden, int lightning) {
    static const struct { int depth, hidden, lightning; const char *name; } names[] = {
        {28, 1152, 0, "XL"}, {24, 1024, 0, "L"}, {12, 768, 0, "B"}, {12, 384, 0, "S"},
        {28, 1152, 1, "XL"}, {24, 1024, 1, "L"}, {12, 768, 1, "B"}, {24, 1536, 1, "1p0B"},
        {28, 1792, 1, "1p6B"},
    };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (names[i].depth == depth && names[i].hidden == hidden && names[i].lightning == lightning)
            return names[i].name;
    return NULL;
}

void sn_dit_describe(sn_dit_info *in) {
    const char *fam = !strcmp(in->family, "dit") ? "DiT" : "LightningDiT";
    const char *sz = size_name(in->depth, in->hidden, strcmp(in->family, "dit") != 0);
    char name[48];
    if (sz) snprintf(name, sizeof name, "%s-%s/%d", fam, sz, in->patch);
    else snprintf(name, sizeof name, "%s (custom size, patch %d)", fam, in->patch);
    snprintf(in->description, sizeof in->description,
             "%s: %d block%s, hidden %d, %d heads, %d -> %d channels, %d classes, %.1fM parameters",
             name, in->depth, in->depth == 1 ? "" : "s", in->hidden, in->heads, in->in_channels, in->out_channels,
             in->num_classes, in->n_params / 1e6);
}

static sn_tensor dit_forward(sn_ctx *ctx, sn_dit *m, sn_tensor x, sn_tensor t, sn_tensor y);
static void dit_destroy(void *impl) {
    dit_model *dm = impl;
    if (dm) free(dm->blocks);
    free(dm);
}
static const sn_dit_ops dit_ops = {dit_forward, dit_destroy};

sn_dit *sn_dit_load_dit(sn_ctx *ctx, sn_ckpt *ck, const sn_dit_opts *o) {
    sn_dit_loader ld = {ctx, ck, 0, NULL, 0, 0};
    dit_model *dm = calloc(1, sizeof *dm);
    sn_dit *m = NULL;
    if (!dm) {
        sn_fail(ctx, "out of memory loading %s", sn_ckpt_path(ck));
        goto done;
    }
    if (sn_dit_read_shape(ctx, ck, "adaLN_modulation.1.weight", &dm->s)) goto done;
    /* class-conditional: the label table must be there */
    if (!dm->s.num_classes && !sn_dit_need(ctx, ck, "y_embedder.embedding_table.weight", 2)) goto done;
    const sn_dit_shape *s = &dm->s;
    const sn_ckpt_entry *e = sn_ckpt_find(ck, "blocks.0.mlp.fc1.weight");
    dm->mlp_hidden = e && e->ndim == 2 ? (int)e->shape[0] : 4 * s->hidden;
    dm->heads = sn_dit_pick_heads(ctx, ck, o, s->hidden, 0, "dit");
    if (dm->heads < 0) goto done;
    dm->blocks = calloc(s->depth, sizeof *dm->blocks);
    if (!dm->blocks) {
        sn_fail(ctx, "out of memory loading %s", sn_ckpt_path(ck));
        goto done;
    }
    sn_dit_bind_stem(&ld, &dm->stem, s, 0);
    for (int i = 0; i < s->depth; i++) load_block(&ld, &dm->blocks[i], i, s->hidden, dm->mlp_hidden);
    sn_dit_loader_check_all_used(&ld, "DiT");
    if (!sn_ok(ctx)) goto done;

    m = calloc(1, sizeof *m);
    if (!m) {
        sn_fail(ctx, "out of memory loading %s", sn_ckpt_path(ck));
        goto done;
    }
    sn_dit_info *in = &m->info;
    snprintf(in->family, sizeof in->family, "dit");
    in->input_size = s->input_size;
    in->patch = s->patch;
    in->in_channels = s->in_channels;
    in->out_channels = s->out_channels;
    in->hidden = s->hidden;
    in->depth = s->depth;
    in->heads = dm->heads;
    in->head_dim = s->hidden / dm->heads;
    in->mlp_hidden = dm->mlp_hidden;
    in->num_classes = s->num_classes;
    in->learn_sigma = s->out_channels == 2 * s->in_channels;
    in->n_params = ld.n_params;
    in->time = SN_DIT_TIME_STEPS;
    in->t_max = 999.0f;
    sn_dit_describe(in);
    m->attn = (sn_attn_spec){.kind = SN_ATTN_FULL}; /* scale 1/sqrt(head_dim) */
    m->ops = &dit_ops;
    m->impl = dm;
    dm = NULL;
done:
    sn_dit_loader_free(&ld);
    dit_destroy(dm);
    return m;
}

/* =========================================================================================
 * DiT: forward */

/* timm Attention: qkv, heads, softmax(q k^T / sqrt(head_dim)) v, proj. */
static sn_tensor attention(sn_ctx *ctx, const dit_block *b, int heads, const sn_attn_spec *spec,
                           sn_tensor x) {
    sn_tensor q, k, v;
    sn_dit_split_heads(ctx, sn_linear(ctx, x, b->qkv_w, b->qkv_b), heads, &q, &k, &v);
    sn_tensor o = sn_dit_merge_heads(ctx, sn_attention(ctx, q, k, v, spec));
    return sn_linear(ctx, o, b->proj_w, b->proj_b);
}

static sn_tensor mlp(sn_ctx *ctx, const dit_block *b, sn_tensor x) {
    return sn_linear(ctx, sn_linear_gelu(ctx, x, b->fc1_w, b->fc1_b), b->fc2_w, b->fc2_b);
}

/* adaLN-Zero block. */
static sn_tensor block_forward(sn_ctx *ctx, const dit_block *b, int heads,
                               const sn_attn_spec *spec, sn_tensor x, sn_tensor silu_c) {
    sn_tensor mod[6];
    sn_split(ctx, sn_linear(ctx, silu_c, b->ada_w, b->ada_b), 1, 6, mod);
    sn_tensor shift_msa = mod[0], scale_msa = mod[1], gate_msa = mod[2];
    sn_tensor shift_mlp = mod[3], scale_mlp = mod[4], gate_mlp = mod[5];

    sn_tensor a = sn_layer_norm_modulate(ctx, x, shift_msa, scale_msa, DIT_LN_EPS);
    x = sn_gated_add(ctx, x, attention(ctx, b, heads, spec, a), gate_msa);
    sn_tensor f = sn_layer_norm_modulate(ctx, x, shift_mlp, scale_mlp, DIT_LN_EPS);
    return sn_gated_add(ctx, x, mlp(ctx, b, f), gate_mlp);
}

static sn_tensor dit_forward(sn_ctx *ctx, sn_dit *m, sn_tensor x, sn_tensor t, sn_tensor y) {
    dit_model *dm = m->impl;
    const sn_dit_shape *s = &dm->s;
    int gh = (int)x.shape[2] / s->patch, gw = (int)x.shape[3] / s->patch;
    sn_tensor silu_c = sn_silu(ctx, sn_dit_embed_condition(ctx, &dm->stem, s, t, y));
    sn_scope sc = sn_scope_begin(ctx); /* h lives at this mark, block after block */
    sn_attn_spec spec = sn_dit_grid_attention(ctx, m, gh, gw);
    sn_tensor h = sn_scope_end(ctx, sc, sn_dit_embed_patches(ctx, &dm->stem, s, x));
    for (int i = 0; i < s->depth; i++)
        h = sn_scope_end(ctx, sc, block_forward(ctx, &dm->blocks[i], dm->heads,
                                                sn_dit_block_attention(m, i, &spec), h, silu_c));
    return sn_dit_final(ctx, &dm->stem, s, h, silu_c, gh, gw);
}

/* =========================================================================================
 * The interface: kind, prefix, family */

typedef struct {
    char family[16]; /* "", "dit", "lightningdit", "textdit" */
    int heads;
    int rope;        /* -1 unknown */
} dit_kind;

static int parse_uint(const char *s, size_t len, int *out) {
    if (!len || len > 6) return -1;
    int v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* "auto" | "dit" | "lightningdit" | "textdit", then optionally ":heads=N" and ",rope=0|1". */
static int parse_kind(sn_ctx *ctx, const char *kind, dit_kind *k) {
    memset(k, 0, sizeof *k);
    k->rope = -1;
    if (!kind) return 0;
    const char *colon = strchr(kind, ':');
    size_t flen = colon ? (size_t)(colon - kind) : strlen(kind);
    if (!(flen == 0 || (flen == 4 && !strncmp(kind, "auto", 4)) ||
          (flen == 3 && !strncmp(kind, "dit", 3)) ||
          (flen == 12 && !strncmp(kind, "lightningdit", 12)) ||
          (flen == 13 && !strncmp(kind, "lightning-dit", 13)) ||
          (flen == 7 && !strncmp(kind, "textdit", 7)))) {
        sn_fail(ctx, "unknown diffusion transformer kind '%s' (expected auto, dit, "
                "lightningdit or textdit, optionally followed by :heads=N)", kind);
        return -1;
    }
    if (flen == 3) snprintf(k->family, sizeof k->family, "dit");
    else if (flen == 7) snprintf(k->family, sizeof k->family, "textdit");
    else if (flen >= 12) snprintf(k->family, sizeof k->family, "lightningdit");
    for (const char *p = colon ? colon + 1 : NULL; p && *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        int v = 0, bad = 1;
        if (len > 6 && !strncmp(p, "heads=", 6))
            bad = parse_uint(p + 6, len - 6, &v) || v < 1 || (k->heads = v, 0);
        else if (len > 5 && !strncmp(p, "rope=", 5))
            bad = parse_uint(p + 5, len - 5, &v) || v > 1 || (k->rope = v, 0);
        if (bad) {
            sn_fail(ctx, "diffusion transformer kind '%s': cannot read option '%.*s' (expected "
                    "heads=N or rope=0|1)", kind, (int)len, p);
            return -1;
        }
        p = end ? end + 1 : NULL;
    }
    return 0;
}

/* Names that only LightningDiT has; NULL if none. */
static const char *lightning_feature(const sn_ckpt *ck, int hidden) {
    static const char *const names[] = {"blocks.0.norm1.weight", "blocks.0.mlp.w12.weight",
                                        "blocks.0.attn.q_norm.weight", "feat_rope.freqs_cos",
                                        "final_layer.norm_final.weight"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (sn_ckpt_find(ck, names[i])) return names[i];
    const sn_ckpt_entry *e = sn_ckpt_find(ck, "blocks.0.adaLN_modulation.1.weight");
    if (e && e->ndim == 2 && e->shape[0] == 4 * (int64_t)hidden)
        return "blocks.0.adaLN_modulation.1.weight (4-way adaLN, wo_shift)";
    return NULL;
}

sn_dit *sn_dit_load(sn_ctx *ctx, const char *path, const char *kind) {
    if (!sn_ok(ctx)) return NULL;
    dit_kind k;
    if (parse_kind(ctx, kind, &k)) return NULL;
    char err[1024];
    sn_ckpt *ck = sn_ckpt_open(path, err, sizeof err);
    if (!ck) {
        sn_fail(ctx, "%s", err);
        return NULL;
    }
    sn_dit *m = NULL;
    /* where the weights are: train.py checkpoints keep {"model", "ema", "opt"}; use the EMA */
    static const char *const prefixes[] = {"ema.", "", "model.", "module.", "model.module.",
                                           "state_dict."};
    const char *pre = NULL;
    for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes && !pre; i++) {
        char name[64];
        snprintf(name, sizeof name, "%sx_embedder.proj.weight", prefixes[i]);
        if (sn_ckpt_find(ck, name)) pre = prefixes[i];
    }
    if (!pre) {
        sn_fail(ctx, "%s: not a DiT or LightningDiT checkpoint (no x_embedder.proj.weight at the "
                "top level or under ema., model., module. or state_dict.)", path);
        goto done;
    }
    if (*pre) sn_ckpt_set_prefix(ck, pre);

    /* the options: kind first, then the file's metadata */
    sn_dit_opts o = {k.heads, "the kind string", k.rope};
    const char *mh = sn_ckpt_meta(ck, "sinter.dit.num_heads");
    if (!o.heads && mh) {
        if (parse_uint(mh, strlen(mh), &o.heads) || o.heads < 1) {
            sn_fail(ctx, "%s: metadata sinter.dit.num_heads '%s' is not a positive integer", path, mh);
            goto done;
        }
        o.heads_from = "metadata sinter.dit.num_heads";
    }
    const char *mr = sn_ckpt_meta(ck, "sinter.dit.rope");
    if (o.rope < 0 && mr) o.rope = !strcmp(mr, "1") || !strcmp(mr, "true") || !strcmp(mr, "True");

    const char *family = k.family[0] ? k.family : NULL;
    const char *mf = sn_ckpt_meta(ck, "sinter.dit.family");
    if (!family && mf) {
        if (strcmp(mf, "dit") && strcmp(mf, "lightningdit") && strcmp(mf, "textdit")) {
            sn_fail(ctx, "%s: metadata sinter.dit.family '%s' is not dit, lightningdit or "
                    "textdit", path, mf);
            goto done;
        }
        family = mf;
    }
    const sn_ckpt_entry *xe = sn_ckpt_find(ck, "x_embedder.proj.weight");
    const char *feature = lightning_feature(ck, xe->ndim == 4 ? (int)xe->shape[0] : 0);
    /* PixArt-style text DiTs: adaLN-single (t_block) and cross-attention */
    int text = sn_ckpt_find(ck, "t_block.1.weight") || sn_ckpt_find(ck, "blocks.0.cross_attn.q_linear.weight");
    if (!family) family = text ? "textdit" : feature ? "lightningdit" : "dit";
    if (strcmp(family, "textdit") && text) {
        sn_fail(ctx, "%s: has %s, which %s does not have: this looks like a text DiT (PixArt-style) "
                "checkpoint (kind textdit)", path,
                sn_ckpt_find(ck, "t_block.1.weight") ? "t_block.1.weight" : "cross-attention",
                family);
        goto done;
    }
    if (!strcmp(family, "dit") && feature) {
        sn_fail(ctx, "%s: has %s, which DiT does not have: this looks like a LightningDiT "
                "checkpoint (kind lightningdit)", path, feature);
        goto done;
    }
    if (!strcmp(family, "textdit")) {
        m = sn_dit_load_textdit(ctx, ck, &o);
    } else {
        m = !strcmp(family, "dit") ? sn_dit_load_dit(ctx, ck, &o) : sn_dit_load_lightning(ctx, ck, &o);
        if (m) {
            m->info.pred = m->info.time == SN_DIT_TIME_FLOW ? SN_DIT_PRED_FLOW : SN_DIT_PRED_EPS;
            m->info.time_scale = 1.0f;
        }
    }
done:
    sn_ckpt_close(ck);
    return m;
}

void sn_dit_free(sn_dit *m) {
    if (!m) return;
    if (m->ops && m->impl) m->ops->destroy(m->impl);
    free(m);
}

/* "0-1+27" -> bits 0, 1, 27 of *mask. 0, or -1 when malformed or beyond 63. */
static int parse_blocks(const char *s, uint64_t *mask) {
    *mask = 0;
    while (*s) {
        char *end;
        long lo = strtol(s, &end, 10), hi = lo;
        if (end == s || lo < 0 || lo > 63) return -1;
        if (*end == '-') {
            s = end + 1;
            hi = strtol(s, &end, 10);
            if (end == s || hi < lo || hi > 63) return -1;
        }
        for (long i = lo; i <= hi; i++) *mask |= (uint64_t)1 << i;
        if (*end && *end != '+') return -1;
        s = *end ? end + 1 : end;
    }
    return 0;
}

int sn_dit_set_attention(sn_ctx *ctx, sn_dit *m, const char *text) {
    if (!sn_ok(ctx)) return -1;
    char err[256], na[512] = "", item[128];
    sn_attn_spec s = {.kind = SN_ATTN_FULL};
    m->dense_blocks = 0, m->dense_steps = 0;
    if (!text || !strcmp(text, "full")) {
        m->attn = s;
        return 0;
    }
    const char *pre = "neighborhood:";
    if (strncmp(text, pre, strlen(pre))) {
        sn_fail(ctx, "attention '%s': expected full or neighborhood:window=K,...", text);
        return -1;
    }
    /* the dense-* items are the model's; the rest is NATTEN's (sn_na_parse) */
    for (const char *p = text + strlen(pre); *p;) {
        size_t len = strcspn(p, ",");
        snprintf(item, sizeof item, "%.*s", (int)(len < sizeof item - 1 ? len : sizeof item - 1), p);
        if (!strncmp(item, "dense-blocks=", 13)) {
            if (parse_blocks(item + 13, &m->dense_blocks)) {
                sn_fail(ctx, "attention '%s': dense-blocks takes block indices 0..63 and ranges "
                        "joined by '+' (e.g. 0-1+27)", text);
                return -1;
            }
        } else if (!strncmp(item, "dense-steps=", 12)) {
            char *end;
            long v = strtol(item + 12, &end, 10);
            if (end == item + 12 || *end || v < 0 || v > 100000) {
                sn_fail(ctx, "attention '%s': dense-steps takes a step count", text);
                return -1;
            }
            m->dense_steps = (int)v;
        } else {
            size_t at = strlen(na);
            snprintf(na + at, sizeof na - at, "%s%s", at ? "," : "", item);
        }
        p += len + (p[len] == ',');
    }
    s.kind = SN_ATTN_NEIGHBORHOOD;
    if (sn_na_parse(na, &s.na, err, sizeof err)) {
        sn_fail(ctx, "attention '%s': %s", text, err);
        return -1;
    }
    m->attn = s;
    m->forwards = 0;
    return 0;
}

sn_attn_spec sn_dit_grid_attention(sn_ctx *ctx, const sn_dit *m, int gh, int gw) {
    sn_attn_spec s = m->attn;
    char err[256];
    if (m->dense_now) return (sn_attn_spec){.kind = SN_ATTN_FULL};
    if (s.kind == SN_ATTN_NEIGHBORHOOD && sn_ok(ctx) &&
        sn_na_resolve(&s.na, 2, (const int[]){gh, gw}, err, sizeof err))
        sn_fail(ctx, "neighborhood attention on the %dx%d token grid: %s", gh, gw, err);
    return s;
}

const sn_attn_spec *sn_dit_block_attention(const sn_dit *m, int i, const sn_attn_spec *grid) {
    static const sn_attn_spec full = {.kind = SN_ATTN_FULL};
    return i < 64 && (m->dense_blocks >> i & 1) ? &full : grid;
}

void sn_dit_count_forward(sn_dit *m) {
    m->dense_now = m->attn.kind != SN_ATTN_FULL && m->forwards < m->dense_steps;
    m->forwards++;
}

sn_tensor sn_dit_forward(sn_ctx *ctx, sn_dit *m, sn_tensor x, sn_tensor t, sn_tensor y) {
    if (!sn_ok(ctx)) return sn_none();
    if (!m) {
        sn_fail(ctx, "dit forward: no model");
        return sn_none();
    }
    if (!m->ops->forward) {
        sn_fail(ctx, "%s forward: a text-conditioned model takes text, not class labels (use "
                "sn_textdit_forward)", m->info.family);
        return sn_none();
    }
    if (!sn_dit_check_inputs(ctx, m, x, t, y)) return sn_none();
    sn_scope s = sn_scope_begin(ctx); /* the model runs in the context's dtype, answers in f32 */
    sn_dit_count_forward(m);
    sn_tensor out = m->ops->forward(ctx, m, sn_to(ctx, x, sn_ctx_dtype(ctx)), t, y);
    return sn_scope_end(ctx, s, sn_to(ctx, out, SN_F32));
}
