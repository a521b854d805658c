/* LightningDiT: "Reconstruction vs. Generation" (hustvl/LightningDiT, models/lightningdit.py),
 * the DiT skeleton with a modernised block (reference: /work/shared/reference/models.md
 * sections 2.1-2.2 and 8).
 *
 *   h = x_embedder(x) + pos_embed;  c = t_embedder(t) + y_embedder(y)      as DiT (dit.c), but
 *                                                                          t is flow time in [0, 1]
 *   for each block:
 *       shift1, scale1, gate1, shift2, scale2, gate2 = Linear(SiLU(c))     (wo_shift: scale1,
 *                                                                          gate1, scale2, gate2)
 *       h = h + gate1 * attn(norm1(h) * (1 + scale1) + shift1)
 *       h = h + gate2 * ffn (norm2(h) * (1 + scale2) + shift2)
 *   out = unpatchify(final_layer(h, c));  learn_sigma: out = first C_in channels
 *
 *   norm   RMSNorm (weight, eps 1e-6) when use_rmsnorm, else LayerNorm (no affine, eps 1e-6);
 *          the final layer's norm_final likewise
 *   attn   qkv (timm layout) -> q_norm, k_norm per head (RMSNorm(head_dim) eps 1e-6 with
 *          use_rmsnorm, else LayerNorm(head_dim) eps 1e-5 with weight and bias; identity when
 *          qk-norm is off) -> RoPE on q and k -> softmax(q k^T / sqrt(head_dim)) v -> proj
 *   RoPE   EVA-02 VisionRotaryEmbeddingFast: x cos + rotate_half(x) sin, rotate_half on
 *          adjacent pairs (x0, x1) -> (-x1, x0); head dims [0, hd/2) rotate with the token's row,
 *          [hd/2, hd) with its column (sn_dit_rope_tables). The tables are persistent buffers
 *          (feat_rope.freqs_cos/freqs_sin) and used from the file when the grid matches.
 *   ffn    SwiGLU: w12 -> (x1, x2) halves -> w3(SiLU(x1) * x2), hidden int(2/3 * 4D); or the
 *          DiT MLP fc1 -> GELU-tanh -> fc2
 *
 * The flags are read from the tensors: blocks.0.norm1.weight (RMSNorm), blocks.0.mlp.w12
 * (SwiGLU), blocks.0.attn.q_norm.weight (+ .bias: LayerNorm), feat_rope.freqs_cos (RoPE; or
 * kind option rope=0|1 / metadata sinter.dit.rope for files without the buffers), adaLN rows
 * 4D (wo_shift) or 6D, final_layer.linear rows p*p*2C (learn_sigma). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dit.h"

#define LDIT_EPS 1e-6f      /* RMSNorm and the non-affine LayerNorms */
#define LDIT_QK_LN_EPS 1e-5f /* nn.LayerNorm's default, the qk-norm without use_rmsnorm */

enum { QK_NONE = 0, QK_RMS = 1, QK_LN = 2 };

/* =========================================================================================
 * Config and weights */

typedef struct {
    sn_tensor norm1_w, norm2_w;                     /* RMSNorm weights, empty with LayerNorm */
    sn_tensor qkv_w, qkv_b, proj_w, proj_b;         /* attn */
    sn_tensor q_norm_w, q_norm_b, k_norm_w, k_norm_b; /* qk-norm (bias: LayerNorm only) */
    sn_tensor in_w, in_b, out_w, out_b;             /* ffn: w12, w3 (SwiGLU) or fc1, fc2 */
    sn_tensor ada_w, ada_b;                         /* adaLN_modulation.1: (6D or 4D, D) */
} ldit_block;

typedef struct {
    sn_dit_shape s;
    int heads, head_dim, mlp_hidden;
    int rmsnorm, swiglu, rope, qknorm, wo_shift, learn_sigma;
    sn_dit_stem stem;
    ldit_block *blocks;
    sn_tensor rope_cos, rope_sin; /* the file's tables (T, head_dim), for a square grid */
    int rope_grid;                /* their side, 0 when the file has none */
    sn_tensor cache_cos, cache_sin; /* computed tables for another grid */
    int cache_gh, cache_gw;
} ldit_model;

/* =========================================================================================
 * Load */


static void load_block(sn_dit_loader *ld, const ldit_model *lm, ldit_block *b, int i) {
    int64_t d = lm->s.hidden, hd = lm->head_dim, mh = lm->mlp_hidden;
    char p[128];
    if (lm->rmsnorm) {
        snprintf(p, sizeof p, "blocks.%d.norm1.weight", i), b->norm1_w = sn_dit_bind(ld, p, SN_SHAPE(d));
        snprintf(p, sizeof p, "blocks.%d.norm2.weight", i), b->norm2_w = sn_dit_bind(ld, p, SN_SHAPE(d));
    }
    snprintf(p, sizeof p, "blocks.%d.attn.qkv", i), sn_dit_bind_linear(ld, &b->qkv_w, &b->qkv_b, p, 3 * d, d);
    if (lm->qknorm) {
        snprintf(p, sizeof p, "blocks.%d.attn.q_norm.weight", i), b->q_norm_w = sn_dit_bind(ld, p, SN_SHAPE(hd));
        snprintf(p, sizeof p, "blocks.%d.attn.k_norm.weight", i), b->k_norm_w = sn_dit_bind(ld, p, SN_SHAPE(hd));
        if (lm->qknorm == QK_LN) {
            snprintf(p, sizeof p, "blocks.%d.attn.q_norm.bias", i), b->q_norm_b = sn_dit_bind(ld, p, SN_SHAPE(hd));
            snprintf(p, sizeof p, "blocks.%d.attn.k_norm.bias", i), b->k_norm_b = sn_dit_bind(ld, p, SN_SHAPE(hd));
        }
    }
    snprintf(p, sizeof p, "blocks.%d.attn.proj", i), sn_dit_bind_linear(ld, &b->proj_w, &b->proj_b, p, d, d);
    if (lm->swiglu) {
        snprintf(p, sizeof p, "blocks.%d.mlp.w12", i), sn_dit_bind_linear(ld, &b->in_w, &b->in_b, p, 2 * mh, d);
        snprintf(p, sizeof p, "blocks.%d.mlp.w3", i), sn_dit_bind_linear(ld, &b->out_w, &b->out_b, p, d, mh);
    } else {
        snprintf(p, sizeof p, "blocks.%d.mlp.fc1", i), sn_dit_bind_linear(ld, &b->in_w, &b->in_b, p, mh, d);
        snprintf(p, sizeof p, "blocks.%d.mlp.fc2", i), sn_dit_bind_linear(ld, &b->out_w, &b->out_b, p, d, mh);
    }
    snprintf(p, sizeof p, "blocks.%d.adaLN_modulation.1", i),
        sn_dit_bind_linear(ld, &b->ada_w, &b->ada_b, p, (lm->wo_shift ? 4 : 6) * d, d);
}

/* The file's RoPE tables (fixed buffers, not counted as parameters). */
static void load_rope_tables(sn_dit_loader *ld, ldit_model *lm, const sn_ckpt_entry *e) {
    int64_t tk = e->ndim == 2 ? e->shape[0] : 0;
    int g = (int)llround(sqrt((double)tk));
    if (tk < 1 || (int64_t)g * g != tk) {
        char a[96];
        sn_fail(ld->ctx, "%s: feat_rope.freqs_cos %s is not (T, head_dim) for a square grid of T "
                "tokens", sn_ckpt_path(ld->ck), sn_shape_str(e->shape, e->ndim, a, sizeof a));
        return;
    }
    sn_tensor c = sn_dit_bind(ld, "feat_rope.freqs_cos", SN_SHAPE(tk, lm->head_dim));
    sn_tensor s = sn_dit_bind(ld, "feat_rope.freqs_sin", SN_SHAPE(tk, lm->head_dim));
    if (!sn_ok(ld->ctx)) return;
    ld->n_params -= 2 * tk * lm->head_dim;
    if (lm->rope) lm->rope_cos = c, lm->rope_sin = s, lm->rope_grid = g;
}

static sn_tensor ldit_forward(sn_ctx *ctx, sn_dit *m, sn_tensor x, sn_tensor t, sn_tensor y);
static void ldit_destroy(void *impl) {
    ldit_model *lm = impl;
    if (lm) free(lm->blocks);
    free(lm);
}
static const sn_dit_ops ldit_ops = {ldit_forward, ldit_destroy};

sn_dit *sn_dit_load_lightning(sn_ctx *ctx, sn_ckpt *ck, const sn_dit_opts *o) {
    const char *path = sn_ckpt_path(ck);
    sn_dit_loader ld = {ctx, ck, 0, NULL, 0, 0};
    ldit_model *lm = calloc(1, sizeof *lm);
    sn_dit *m = NULL;
    if (!lm) {
        sn_fail(ctx, "out of memory loading %s", path);
        goto done;
    }
    if (sn_dit_read_shape(ctx, ck, "adaLN_modulation.1.weight", &lm->s)) goto done;
    /* class-conditional: the label table must be there */
    if (!lm->s.num_classes && !sn_dit_need(ctx, ck, "y_embedder.embedding_table.weight", 2)) goto done;
    const sn_dit_shape *s = &lm->s;
    int64_t d = s->hidden;

    /* the flags, from the names and shapes */
    lm->rmsnorm = sn_ckpt_find(ck, "blocks.0.norm1.weight") != NULL;
    lm->swiglu = sn_ckpt_find(ck, "blocks.0.mlp.w12.weight") != NULL;
    const sn_ckpt_entry *qn = sn_ckpt_find(ck, "blocks.0.attn.q_norm.weight");
    lm->qknorm = !qn ? QK_NONE : sn_ckpt_find(ck, "blocks.0.attn.q_norm.bias") ? QK_LN : QK_RMS;
    const sn_ckpt_entry *ada = sn_ckpt_find(ck, "blocks.0.adaLN_modulation.1.weight");
    if (ada->ndim != 2 || (ada->shape[0] != 6 * d && ada->shape[0] != 4 * d)) {
        char a[96];
        sn_fail(ctx, "%s: tensor 'blocks.0.adaLN_modulation.1.weight' has shape %s, expected "
                "[%lld, %lld] (6-way adaLN) or [%lld, %lld] (wo_shift)", path,
                sn_shape_str(ada->shape, ada->ndim, a, sizeof a), (long long)(6 * d), (long long)d,
                (long long)(4 * d), (long long)d);
        goto done;
    }
    lm->wo_shift = ada->shape[0] == 4 * d;
    if (s->out_channels != s->in_channels && s->out_channels != 2 * s->in_channels) {
        sn_fail(ctx, "%s: final_layer.linear makes %d channels per token from %d input channels; "
                "expected %d or %d (learn_sigma)", path, s->out_channels, s->in_channels,
                s->in_channels, 2 * s->in_channels);
        goto done;
    }
    lm->learn_sigma = s->out_channels == 2 * s->in_channels;
    const sn_ckpt_entry *rc = sn_ckpt_find(ck, "feat_rope.freqs_cos");
    lm->rope = o->rope >= 0 ? o->rope : rc != NULL;

    /* heads: the RoPE table and qk-norm weights hold head_dim */
    int hd_t = rc && rc->ndim == 2 ? (int)rc->shape[1] : qn && qn->ndim == 1 ? (int)qn->shape[0] : 0;
    lm->heads = sn_dit_pick_heads(ctx, ck, o, s->hidden, hd_t, "lightningdit");
    if (lm->heads < 0) goto done;
    lm->head_dim = s->hidden / lm->heads;
    if (lm->rope && lm->head_dim % 4) {
        sn_fail(ctx, "%s: 2-D RoPE needs head_dim a multiple of 4, got %d", path, lm->head_dim);
        goto done;
    }
    const sn_ckpt_entry *fe = sn_ckpt_find(ck, lm->swiglu ? "blocks.0.mlp.w12.weight"
                                                          : "blocks.0.mlp.fc1.weight");
    lm->mlp_hidden = fe && fe->ndim == 2 ? (int)(lm->swiglu ? fe->shape[0] / 2 : fe->shape[0])
                                         : (lm->swiglu ? (int)(2.0 / 3.0 * 4 * d) : 4 * (int)d);

    lm->blocks = calloc(s->depth, sizeof *lm->blocks);
    if (!lm->blocks) {
        sn_fail(ctx, "out of memory loading %s", path);
        goto done;
    }
    sn_dit_bind_stem(&ld, &lm->stem, s, lm->rmsnorm);
    if (rc) load_rope_tables(&ld, lm, rc);
    for (int i = 0; i < s->depth && sn_ok(ctx); i++) load_block(&ld, lm, &lm->blocks[i], i);
    sn_dit_loader_check_all_used(&ld, "LightningDiT");
    if (!sn_ok(ctx)) goto done;

    m = calloc(1, sizeof *m);
    if (!m) {
        sn_fail(ctx, "out of memory loading %s", path);
        goto done;
    }
    sn_dit_info *in = &m->info;
    snprintf(in->family, sizeof in->family, "lightningdit");
    in->input_size = s->input_size ? s->input_size : lm->rope_grid * s->patch;
    in->patch = s->patch;
    in->in_channels = s->in_channels;
    in->out_channels = s->in_channels; /* the sigma half, if any, is dropped */
    in->hidden = s->hidden;
    in->depth = s->depth;
    in->heads = lm->heads;
    in->head_dim = lm->head_dim;
    in->mlp_hidden = lm->mlp_hidden;
    in->num_classes = s->num_classes;
    in->learn_sigma = lm->learn_sigma;
    in->n_params = ld.n_params;
    in->time = SN_DIT_TIME_FLOW;
    in->t_max = 1.0f;
    in->rmsnorm = lm->rmsnorm;
    in->swiglu = lm->swiglu;
    in->rope = lm->rope;
    in->qknorm = lm->qknorm;
    in->wo_shift = lm->wo_shift;
    sn_dit_describe(in);
    m->attn = (sn_attn_spec){.kind = SN_ATTN_FULL}; /* scale 1/sqrt(head_dim) */
    m->ops = &ldit_ops;
    m->impl = lm;
    lm = NULL;
done:
    sn_dit_loader_free(&ld);
    ldit_destroy(lm);
    return m;
}

/* =========================================================================================
 * Forward */

/* RMSNorm (with its weight) or LayerNorm (no affine), then the adaLN modulation. */
static sn_tensor norm_modulate(sn_ctx *ctx, sn_tensor x, sn_tensor rms_weight, sn_tensor shift,
                               sn_tensor scale) {
    if (!sn_has(rms_weight)) return sn_layer_norm_modulate(ctx, x, shift, scale, LDIT_EPS);
    return sn_modulate(ctx, sn_rms_norm(ctx, x, rms_weight, LDIT_EPS), shift, scale);
}

static sn_tensor qk_norm(sn_ctx *ctx, int kind, sn_tensor x, sn_tensor w, sn_tensor b) {
    if (kind == QK_RMS) return sn_rms_norm(ctx, x, w, LDIT_EPS);
    if (kind == QK_LN) return sn_layer_norm(ctx, x, w, b, LDIT_QK_LN_EPS);
    return x;
}

/* The RoPE tables for a grid: the file's when it matches, else computed once per grid. */
static void rope_for_grid(sn_ctx *ctx, ldit_model *lm, int gh, int gw, sn_tensor *c, sn_tensor *s) {
    if (lm->rope_grid && gh == lm->rope_grid && gw == lm->rope_grid) {
        *c = lm->rope_cos, *s = lm->rope_sin;
        return;
    }
    if (!sn_has(lm->cache_cos) || lm->cache_gh != gh || lm->cache_gw != gw) {
        int64_t tk = (int64_t)gh * gw, hd = lm->head_dim;
        float *tab = malloc(2 * tk * hd * sizeof(float));
        if (!tab) {
            sn_fail(ctx, "out of memory computing RoPE tables");
            *c = *s = sn_none();
            return;
        }
        sn_dit_rope_tables(tab, tab + tk * hd, gh, gw, (int)hd);
        sn_dtype dt = sn_ctx_dtype(ctx);
        lm->cache_cos = sn_upload_as(ctx, sn_tensor_wrap(tab, SN_F32, SN_SHAPE(tk, hd)), dt);
        lm->cache_sin = sn_upload_as(ctx, sn_tensor_wrap(tab + tk * hd, SN_F32, SN_SHAPE(tk, hd)), dt);
        lm->cache_gh = gh, lm->cache_gw = gw;
        free(tab);
    }
    *c = lm->cache_cos, *s = lm->cache_sin;
}

static sn_tensor attention(sn_ctx *ctx, const ldit_model *lm, const ldit_block *b,
                           const sn_attn_spec *spec, sn_tensor x, sn_tensor cos, sn_tensor sin) {
    sn_tensor q, k, v;
    sn_dit_split_heads(ctx, sn_linear(ctx, x, b->qkv_w, b->qkv_b), lm->heads, &q, &k, &v);
    q = qk_norm(ctx, lm->qknorm, q, b->q_norm_w, b->q_norm_b);
    k = qk_norm(ctx, lm->qknorm, k, b->k_norm_w, b->k_norm_b);
    if (lm->rope) q = sn_rope(ctx, q, cos, sin), k = sn_rope(ctx, k, cos, sin);
    sn_tensor o = sn_dit_merge_heads(ctx, sn_attention(ctx, q, k, v, spec));
    return sn_linear(ctx, o, b->proj_w, b->proj_b);
}

static sn_tensor ffn(sn_ctx *ctx, const ldit_model *lm, const ldit_block *b, sn_tensor x) {
    if (!lm->swiglu)
        return sn_linear(ctx, sn_linear_gelu(ctx, x, b->in_w, b->in_b), b->out_w, b->out_b);
    sn_tensor x12[2]; /* SwiGLU: silu(x1) * x2 */
    sn_split(ctx, sn_linear(ctx, x, b->in_w, b->in_b), -1, 2, x12);
    return sn_linear(ctx, sn_mul(ctx, sn_silu(ctx, x12[0]), x12[1]), b->out_w, b->out_b);
}


static sn_tensor block_forward(sn_ctx *ctx, const ldit_model *lm, const ldit_block *b,
                               const sn_attn_spec *spec, sn_tensor x, sn_tensor silu_c,
                               sn_tensor cos, sn_tensor sin) {
    sn_tensor mod[6], shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp;
    sn_tensor ada = sn_linear(ctx, silu_c, b->ada_w, b->ada_b);
    if (lm->wo_shift) {
        sn_split(ctx, ada, 1, 4, mod);
        scale_msa = mod[0], gate_msa = mod[1], scale_mlp = mod[2], gate_mlp = mod[3];
        shift_msa = shift_mlp = sn_zeros(ctx, x.dtype, SN_SHAPE(x.shape[0], lm->s.hidden));
    } else {
        sn_split(ctx, ada, 1, 6, mod);
        shift_msa = mod[0], scale_msa = mod[1], gate_msa = mod[2];
        shift_mlp = mod[3], scale_mlp = mod[4], gate_mlp = mod[5];
    }
    sn_tensor a = norm_modulate(ctx, x, b->norm1_w, shift_msa, scale_msa);
    x = sn_gated_add(ctx, x, attention(ctx, lm, b, spec, a, cos, sin), gate_msa);
    sn_tensor f = norm_modulate(ctx, x, b->norm2_w, shift_mlp, scale_mlp);
    return sn_gated_add(ctx, x, ffn(ctx, lm, b, f), gate_mlp);
}

static sn_tensor ldit_forward(sn_ctx *ctx, sn_dit *m, sn_tensor x, sn_tensor t, sn_tensor y) {
    ldit_model *lm = m->impl;
    const sn_dit_shape *s = &lm->s;
    int gh = (int)x.shape[2] / s->patch, gw = (int)x.shape[3] / s->patch;
    sn_tensor cos = sn_none(), sin = sn_none();
    if (lm->rope) rope_for_grid(ctx, lm, gh, gw, &cos, &sin);
    sn_tensor silu_c = sn_silu(ctx, sn_dit_embed_condition(ctx, &lm->stem, s, t, y));
    sn_attn_spec spec = sn_dit_grid_attention(ctx, m, gh, gw);
    sn_scope sc = sn_scope_begin(ctx); /* h lives at this mark, block after block */
    sn_tensor h = sn_scope_end(ctx, sc, sn_dit_embed_patches(ctx, &lm->stem, s, x));
    for (int i = 0; i < s->depth; i++)
        h = sn_scope_end(ctx, sc, block_forward(ctx, lm, &lm->blocks[i],
                                                sn_dit_block_attention(m, i, &spec), h, silu_c,
                                                cos, sin));
    sn_tensor out = sn_dit_final(ctx, &lm->stem, s, h, silu_c, gh, gw);
    if (lm->learn_sigma) out = sn_slice(ctx, out, 1, 0, s->in_channels); /* x, _ = x.chunk(2) */
    return out;
}
