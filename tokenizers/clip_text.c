/* CLIP's text transformer (Radford et al. 2021), as transformers' CLIPTextModel and
 * CLIPTextModelWithProjection compute it:
 *
 *   x = token_embedding[ids] + position_embedding[0..L)
 *   for each layer:  x = x + out_proj(causal_attention(layer_norm1(x)))
 *                    x = x + fc2(act(fc1(layer_norm2(x))))
 *   last = final_layer_norm(x);  pooled = last[end token];  text_embeds = pooled W_proj^T
 *
 * Tensor names, either family found wherever the names start:
 *   transformers  [text_model.]embeddings.{token,position}_embedding.weight,
 *                 [text_model.]encoder.layers.N.{layer_norm1,layer_norm2}.{weight,bias},
 *                 ….self_attn.{q,k,v,out}_proj.{weight,bias}, ….mlp.{fc1,fc2}.{weight,bias},
 *                 [text_model.]final_layer_norm.{weight,bias}, text_projection.weight (P, D)
 *                 (transformers 5 saves a plain CLIPTextModel without "text_model.")
 *   OpenAI/OpenCLIP  token_embedding.weight, positional_embedding,
 *                 transformer.resblocks.N.{ln_1,ln_2}.{weight,bias},
 *                 ….attn.in_proj_{weight,bias} (q, k, v stacked), ….attn.out_proj.{weight,bias},
 *                 ….mlp.{c_fc,c_proj}.{weight,bias}, ln_final.{weight,bias},
 *                 text_projection (D, P: used as x @ P, so transposed here)
 *
 * Config: the `config` JSON (CLIPTextConfig, or CLIPConfig's text_config) gives heads,
 * hidden_act, layer_norm_eps and eos_token_id; shapes give the rest. Without one: heads =
 * hidden / 64, layer_norm_eps 1e-5, eos_token_id 2, and the activation by width: quick-GELU up
 * to 768 (OpenAI ViT-B/L: SD 1.x, SDXL/SD3/FLUX clip-l), GELU above (OpenCLIP ViT-H and bigG:
 * SD 2.x, SDXL/SD3 clip-g). The embedding table stays on the host in the file's dtype and rows
 * are gathered per call. */
#include <cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/ops.h"
#include "text_encoder.h"

#define MASKED (-1e30f) /* key padding: finite, as transformers masks (never a NaN row) */

typedef struct {
    sn_tensor ln1_w, ln1_b, ln2_w, ln2_b;
    sn_tensor q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b;
    sn_tensor fc1_w, fc1_b, fc2_w, fc2_b;
} clip_layer;

typedef struct {
    sn_ckpt_entry *tokens; /* (V, D) on the host, file dtype */
    sn_tensor pos;         /* (P, D) */
    clip_layer *layers;
    sn_tensor lnf_w, lnf_b;
    sn_tensor proj;        /* (Pdim, D), or empty */
} clip_model;

/* ------------------------------------------------------------------------------------ */
/* Loading                                                                              */

typedef struct {
    sn_ctx *ctx;
    const sn_ckpt *ck;
    const char *root; /* prefix of the transformer's names */
    int openclip;
} loader;

static sn_tensor bind(const loader *ld, int ndim, const int64_t *shape, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static sn_tensor bind(const loader *ld, int ndim, const int64_t *shape, const char *fmt, ...) {
    char rest[200], name[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rest, sizeof rest, fmt, ap);
    va_end(ap);
    snprintf(name, sizeof name, "%s%s", ld->root, rest);
    return sn_ckpt_bind(ld->ctx, ld->ck, name, sn_ctx_dtype(ld->ctx), ndim, shape);
}

static int has(const sn_ckpt *ck, const char *root, const char *rest) {
    char name[400];
    int k = snprintf(name, sizeof name, "%s%s", root, rest);
    return k > 0 && k < (int)sizeof name && sn_ckpt_find(ck, name) != NULL;
}

/* A (rows * 3, cols) stacked tensor's third i as a view (OpenCLIP's in_proj). */
static sn_tensor third(sn_tensor t, int i) {
    if (!sn_has(t)) return t;
    sn_tensor r = t;
    r.shape[0] /= 3;
    int64_t n = sn_numel(r);
    r.data = (float *)t.data + i * n;
    return r;
}

static void load_layer(const loader *ld, int i, const sn_text_encoder_info *in, clip_layer *l) {
    int64_t d = in->hidden, f = in->ffn;
    if (ld->openclip) {
        const char *r = "transformer.resblocks";
        l->ln1_w = bind(ld, SN_SHAPE(d), "%s.%d.ln_1.weight", r, i);
        l->ln1_b = bind(ld, SN_SHAPE(d), "%s.%d.ln_1.bias", r, i);
        sn_tensor w = bind(ld, SN_SHAPE(3 * d, d), "%s.%d.attn.in_proj_weight", r, i);
        sn_tensor b = bind(ld, SN_SHAPE(3 * d), "%s.%d.attn.in_proj_bias", r, i);
        l->q_w = third(w, 0), l->k_w = third(w, 1), l->v_w = third(w, 2);
        l->q_b = third(b, 0), l->k_b = third(b, 1), l->v_b = third(b, 2);
        l->o_w = bind(ld, SN_SHAPE(d, d), "%s.%d.attn.out_proj.weight", r, i);
        l->o_b = bind(ld, SN_SHAPE(d), "%s.%d.attn.out_proj.bias", r, i);
        l->ln2_w = bind(ld, SN_SHAPE(d), "%s.%d.ln_2.weight", r, i);
        l->ln2_b = bind(ld, SN_SHAPE(d), "%s.%d.ln_2.bias", r, i);
        l->fc1_w = bind(ld, SN_SHAPE(f, d), "%s.%d.mlp.c_fc.weight", r, i);
        l->fc1_b = bind(ld, SN_SHAPE(f), "%s.%d.mlp.c_fc.bias", r, i);
        l->fc2_w = bind(ld, SN_SHAPE(d, f), "%s.%d.mlp.c_proj.weight", r, i);
        l->fc2_b = bind(ld, SN_SHAPE(d), "%s.%d.mlp.c_proj.bias", r, i);
        return;
    }
    const char *r = "encoder.layers";
    l->ln1_w = bind(ld, SN_SHAPE(d), "%s.%d.layer_norm1.weight", r, i);
    l->ln1_b = bind(ld, SN_SHAPE(d), "%s.%d.layer_norm1.bias", r, i);
    l->q_w = bind(ld, SN_SHAPE(d, d), "%s.%d.self_attn.q_proj.weight", r, i);
    l->q_b = bind(ld, SN_SHAPE(d), "%s.%d.self_attn.q_proj.bias", r, i);
    l->k_w = bind(ld, SN_SHAPE(d, d), "%s.%d.self_attn.k_proj.weight", r, i);
    l->k_b = bind(ld, SN_SHAPE(d), "%s.%d.self_attn.k_proj.bias", r, i);
    l->v_w = bind(ld, SN_SHAPE(d, d), "%s.%d.self_attn.v_proj.weight", r, i);
    l->v_b = bind(ld, SN_SHAPE(d), "%s.%d.self_attn.v_proj.bias", r, i);
    l->o_w = bind(ld, SN_SHAPE(d, d), "%s.%d.self_attn.out_proj.weight", r, i);
    l->o_b = bind(ld, SN_SHAPE(d), "%s.%d.self_attn.out_proj.bias", r, i);
    l->ln2_w = bind(ld, SN_SHAPE(d), "%s.%d.layer_norm2.weight", r, i);
    l->ln2_b = bind(ld, SN_SHAPE(d), "%s.%d.layer_norm2.bias", r, i);
    l->fc1_w = bind(ld, SN_SHAPE(f, d), "%s.%d.mlp.fc1.weight", r, i);
    l->fc1_b = bind(ld, SN_SHAPE(f), "%s.%d.mlp.fc1.bias", r, i);
    l->fc2_w = bind(ld, SN_SHAPE(d, f), "%s.%d.mlp.fc2.weight", r, i);
    l->fc2_b = bind(ld, SN_SHAPE(d), "%s.%d.mlp.fc2.bias", r, i);
}

/* transformers keeps text_projection beside text_model, not inside it. */
static void strip_text_model(const char *root, char *outer, size_t cap) {
    size_t n = strlen(root), t = strlen("text_model.");
    int inside = n >= t && !strcmp(root + n - t, "text_model.");
    snprintf(outer, cap, "%.*s", (int)(inside ? n - t : n), root);
}

/* Where the transformer's names start (root) and what holds the projection (outer). */
static int find_names(const sn_ckpt *ck, const char *prefix, char *root, char *outer, size_t cap,
                      int *openclip) {
    static const char *const hf_tok = "embeddings.token_embedding.weight";
    if (prefix) { /* insisted on: the names directly under it, or under it + "text_model." */
        char tm[256];
        if (snprintf(tm, sizeof tm, "%stext_model.", prefix) >= (int)sizeof tm ||
            snprintf(outer, cap, "%s", prefix) >= (int)cap)
            return 0;
        *openclip = !has(ck, prefix, hf_tok) && !has(ck, tm, hf_tok);
        if (snprintf(root, cap, "%s", has(ck, prefix, hf_tok) || *openclip ? prefix : tm) >= (int)cap)
            return 0;
        if (!*openclip) strip_text_model(root, outer, cap);
        return !*openclip || (has(ck, prefix, "token_embedding.weight") &&
                              has(ck, prefix, "transformer.resblocks.0.attn.in_proj_weight"));
    }
    if (sn_te_find_prefix(ck, hf_tok, root, cap)) {
        *openclip = 0;
        strip_text_model(root, outer, cap);
        return 1;
    }
    const char *suffix = "token_embedding.weight";
    size_t ls = strlen(suffix);
    for (int i = 0; i < sn_ckpt_count(ck); i++) { /* OpenCLIP: beside its resblocks */
        const char *name = sn_ckpt_at(ck, i)->name;
        size_t ln = strlen(name);
        if (ln < ls || ln - ls >= cap || strcmp(name + ln - ls, suffix)) continue;
        snprintf(root, cap, "%.*s", (int)(ln - ls), name);
        if (has(ck, root, "transformer.resblocks.0.attn.in_proj_weight") &&
            has(ck, root, "positional_embedding")) {
            snprintf(outer, cap, "%s", root);
            *openclip = 1;
            return 1;
        }
    }
    return 0;
}


static const sn_text_encoder_ops clip_ops;
static void clip_destroy(void *impl);

sn_text_encoder *sn_clip_text_load(sn_ctx *ctx, const sn_ckpt *ck, const char *prefix,
                                   const char *config_json, const char **why) {
    char root[256], outer[256];
    int openclip = 0;
    if (!find_names(ck, prefix, root, outer, sizeof root, &openclip)) {
        *why = "no CLIP token embedding (embeddings.token_embedding.weight or OpenCLIP's "
               "token_embedding.weight beside transformer.resblocks)";
        return NULL;
    }
    const char *path = sn_ckpt_path(ck);
    char name[400];
    const sn_ckpt_entry *tok = sn_ckpt_find(
        ck, sn_te_name(name, sizeof name, root, "%s",
                       openclip ? "token_embedding.weight" : "embeddings.token_embedding.weight"));
    const sn_ckpt_entry *pos = sn_ckpt_find(
        ck, sn_te_name(name, sizeof name, root, "%s",
                       openclip ? "positional_embedding" : "embeddings.position_embedding.weight"));
    const sn_ckpt_entry *fc1 = sn_ckpt_find(
        ck, sn_te_name(name, sizeof name, root, "%s",
                       openclip ? "transformer.resblocks.0.mlp.c_fc.weight"
                                : "encoder.layers.0.mlp.fc1.weight"));
    if (!tok || tok->ndim != 2 || !pos || pos->ndim != 2 || !fc1 || fc1->ndim != 2) {
        sn_fail(ctx, "%s: a CLIP text model needs 2-D %stoken and position embeddings and a "
                "first-layer MLP", path, root);
        return NULL;
    }

    sn_text_encoder *enc = calloc(1, sizeof *enc);
    clip_model *m = calloc(1, sizeof *m);
    cJSON *cfg_doc = config_json ? cJSON_Parse(config_json) : NULL;
    if (!enc || !m) {
        sn_fail(ctx, "out of memory");
        goto fail;
    }
    enc->ops = &clip_ops;
    enc->impl = m;
    sn_text_encoder_info *in = &enc->info;
    in->arch = SN_TEXT_CLIP;
    snprintf(in->family, sizeof in->family, "clip");
    snprintf(in->naming, sizeof in->naming, "%s", openclip ? "openclip" : "hf");
    snprintf(in->prefix, sizeof in->prefix, "%s", root);
    in->vocab = (int)tok->shape[0];
    in->hidden = (int)tok->shape[1];
    in->max_positions = (int)pos->shape[0];
    in->ffn = (int)fc1->shape[0];
    for (int i = 0;; i++) {
        char rest[96];
        snprintf(rest, sizeof rest, openclip ? "transformer.resblocks.%d.ln_1.weight"
                                             : "encoder.layers.%d.layer_norm1.weight", i);
        if (!has(ck, root, rest)) break;
        in->layers = i + 1;
    }

    /* the config: CLIPTextConfig, or a CLIPConfig's text_config; a T5 one is not ours */
    const cJSON *cfg = cfg_doc;
    if (sn_te_json_item(cfg, "text_config")) cfg = sn_te_json_item(cfg, "text_config");
    if (sn_te_json_item(cfg, "d_model")) cfg = NULL;
    in->heads = sn_te_json_int(cfg, "num_attention_heads", in->hidden % 64 ? 0 : in->hidden / 64);
    in->eos_token_id = openclip ? 2 : sn_te_json_int(cfg, "eos_token_id", 2);
    const cJSON *eps = sn_te_json_item(cfg, "layer_norm_eps");
    in->eps = eps && cJSON_IsNumber(eps) ? (float)eps->valuedouble : 1e-5f;
    in->act = in->hidden <= 768 ? SN_TEXT_ACT_QUICK_GELU : SN_TEXT_ACT_GELU;
    const cJSON *act = sn_te_json_item(cfg, "hidden_act");
    if (act && (!cJSON_IsString(act) || !sn_te_parse_act(act->valuestring, &in->act))) {
        sn_fail(ctx, "%s: config hidden_act %s is not one of quick_gelu, gelu, gelu_new, "
                "gelu_pytorch_tanh, relu, silu", path,
                cJSON_IsString(act) ? act->valuestring : "(not a string)");
        goto fail;
    }
    int cfg_layers = sn_te_json_int(cfg, "num_hidden_layers", in->layers);
    if (in->layers < 1 || cfg_layers != in->layers) {
        sn_fail(ctx, "%s: found %d CLIP layers under '%s' but the config says %d", path,
                in->layers, root, cfg_layers);
        goto fail;
    }
    if (in->heads < 1 || in->hidden % in->heads) {
        sn_fail(ctx, "%s: cannot split width %d into %d attention heads (num_attention_heads "
                "in the config decides it)", path, in->hidden, in->heads);
        goto fail;
    }
    in->head_dim = in->hidden / in->heads;

    loader ld = {ctx, ck, root, openclip};
    if (!(m->tokens = sn_te_keep_entry(tok))) {
        sn_fail(ctx, "out of memory");
        goto fail;
    }
    int64_t d = in->hidden;
    m->pos = bind(&ld, SN_SHAPE(in->max_positions, d), "%s",
                  openclip ? "positional_embedding" : "embeddings.position_embedding.weight");
    m->layers = calloc(in->layers, sizeof *m->layers);
    if (!m->layers) {
        sn_fail(ctx, "out of memory");
        goto fail;
    }
    for (int i = 0; i < in->layers && sn_ok(ctx); i++) load_layer(&ld, i, in, &m->layers[i]);
    m->lnf_w = bind(&ld, SN_SHAPE(d), "%s", openclip ? "ln_final.weight" : "final_layer_norm.weight");
    m->lnf_b = bind(&ld, SN_SHAPE(d), "%s", openclip ? "ln_final.bias" : "final_layer_norm.bias");
    const sn_ckpt_entry *proj = sn_ckpt_find(
        ck, sn_te_name(name, sizeof name, outer, "%s",
                       openclip ? "text_projection" : "text_projection.weight"));
    if (proj && sn_ok(ctx)) {
        if (proj->ndim != 2 || proj->shape[openclip ? 0 : 1] != d) {
            char got[96];
            sn_fail(ctx, "%s: tensor '%s' has shape %s; expected %s", path, proj->name,
                    sn_shape_str(proj->shape, proj->ndim, got, sizeof got),
                    openclip ? "(hidden, projection)" : "(projection, hidden)");
            goto fail;
        }
        in->projection_dim = (int)proj->shape[openclip ? 1 : 0];
        float *w = malloc(sizeof(float) * sn_ckpt_entry_numel(proj));
        float *wt = malloc(sizeof(float) * sn_ckpt_entry_numel(proj));
        if (!w || !wt || sn_ckpt_entry_to_f32(proj, w)) {
            free(w), free(wt);
            sn_fail(ctx, "%s: cannot read tensor '%s'", path, proj->name);
            goto fail;
        }
        int64_t p = in->projection_dim;
        for (int64_t i = 0; i < p; i++) /* to (P, D) as a Linear weight */
            for (int64_t j = 0; j < d; j++) wt[i * d + j] = openclip ? w[j * p + i] : w[i * d + j];
        m->proj = sn_upload_as(ctx, sn_tensor_wrap(wt, SN_F32, SN_SHAPE(p, d)), sn_ctx_dtype(ctx));
        free(w), free(wt);
    }
    if (!sn_ok(ctx)) goto fail;

    for (int i = 0; i < sn_ckpt_count(ck); i++) {
        const sn_ckpt_entry *e = sn_ckpt_at(ck, i);
        if (!strncmp(e->name, root, strlen(root)) || (proj && e == proj))
            in->n_params += sn_ckpt_entry_numel(e);
    }
    snprintf(in->description, sizeof in->description,
             "CLIP text transformer (%s names): %d layers, width %d, %d heads, MLP %d, %s, "
             "%d positions, vocabulary %d%s", in->naming, in->layers, in->hidden, in->heads,
             in->ffn, sn_te_act_name(in->act), in->max_positions, in->vocab,
             in->projection_dim ? ", with text projection" : "");
    cJSON_Delete(cfg_doc);
    return enc;

fail:
    cJSON_Delete(cfg_doc);
    clip_destroy(m);
    free(enc);
    return NULL;
}

/* ------------------------------------------------------------------------------------ */
/* Forward                                                                              */


/* (N, L, H dh) <-> (N, H, L, dh) */
static sn_tensor split_heads(sn_ctx *ctx, sn_tensor t, int64_t n, int64_t l, int64_t h,
                             int64_t dh) {
    return sn_permute(ctx, sn_reshape(t, SN_SHAPE(n, l, h, dh)), (const int[]){0, 2, 1, 3});
}
static sn_tensor merge_heads(sn_ctx *ctx, sn_tensor t, int64_t n, int64_t l, int64_t d) {
    return sn_reshape(sn_permute(ctx, t, (const int[]){0, 2, 1, 3}), SN_SHAPE(n, l, d));
}

static sn_tensor layer_forward(sn_ctx *ctx, const clip_layer *w, const sn_text_encoder_info *in,
                               sn_tensor x, const sn_attn_spec *spec) {
    int64_t n = x.shape[0], l = x.shape[1], d = in->hidden;
    sn_tensor a = sn_layer_norm(ctx, x, w->ln1_w, w->ln1_b, in->eps);
    sn_tensor q = split_heads(ctx, sn_linear(ctx, a, w->q_w, w->q_b), n, l, in->heads, in->head_dim);
    sn_tensor k = split_heads(ctx, sn_linear(ctx, a, w->k_w, w->k_b), n, l, in->heads, in->head_dim);
    sn_tensor v = split_heads(ctx, sn_linear(ctx, a, w->v_w, w->v_b), n, l, in->heads, in->head_dim);
    sn_tensor o = merge_heads(ctx, sn_attention(ctx, q, k, v, spec), n, l, d);
    x = sn_add(ctx, x, sn_linear(ctx, o, w->o_w, w->o_b));
    sn_tensor h = sn_layer_norm(ctx, x, w->ln2_w, w->ln2_b, in->eps);
    h = sn_te_activation(ctx, sn_linear(ctx, h, w->fc1_w, w->fc1_b), in->act);
    return sn_add(ctx, x, sn_linear(ctx, h, w->fc2_w, w->fc2_b));
}

/* The row each sequence pools at (see sn_text_output in text_encoder.h). */
static int64_t pool_index(const int32_t *row, int len, int eos) {
    int64_t best = 0;
    for (int64_t j = 0; j < len; j++) {
        if (eos == 2 ? row[j] > row[best] : row[j] == eos) {
            best = j;
            if (eos != 2) break;
        }
    }
    return best;
}

/* A view into a packed 1-D tensor. */
static sn_tensor view(sn_tensor packed, int64_t offset, int ndim, const int64_t *shape) {
    sn_tensor t = sn_tensor_wrap((float *)packed.data + offset, SN_F32, ndim, shape);
    t.device = packed.device;
    return t;
}

static int clip_encode(sn_ctx *ctx, void *impl, const sn_text_encoder_info *in,
                       const int32_t *ids, const int32_t *mask, int n, int len,
                       const sn_text_opts *opts, sn_text_output *out) {
    const clip_model *m = impl;
    int64_t d = in->hidden, nl = (int64_t)n * len;
    sn_scope outer = sn_scope_begin(ctx);

    float *host = malloc(sizeof(float) * nl * d);
    if (!host) {
        sn_fail(ctx, "out of memory");
        sn_scope_end(ctx, outer, sn_none());
        return -1;
    }
    sn_tensor x = sn_none();
    if (!sn_te_gather(ctx, m->tokens, ids, nl, host))
        x = sn_from_host(ctx, sn_tensor_wrap(host, SN_F32, SN_SHAPE(n, len, d)));
    x = sn_to(ctx, x, sn_ctx_dtype(ctx)); /* the model's dtype; the result comes back in f32 */
    x = sn_add(ctx, x, sn_slice(ctx, m->pos, 0, 0, len));
    sn_attn_spec spec = {.kind = SN_ATTN_FULL, .causal = 1};
    if (mask) { /* (N, 1, 1, L): padded keys hidden from every query */
        for (int64_t i = 0; i < nl; i++) host[i] = mask[i] ? 0.0f : MASKED;
        spec.bias = sn_from_host(ctx, sn_tensor_wrap(host, SN_F32, SN_SHAPE(n, 1, 1, len)));
    }
    free(host);

    sn_tensor kept = sn_none();
    for (int i = 0; i < in->layers && sn_ok(ctx); i++) {
        sn_scope s = sn_scope_begin(ctx);
        x = sn_scope_end(ctx, s, layer_forward(ctx, &m->layers[i], in, x, &spec));
        if (opts->skip && i == in->layers - 1 - opts->skip) /* x stays below later scopes */
            kept = opts->skip_norm ? sn_layer_norm(ctx, x, m->lnf_w, m->lnf_b, in->eps) : x;
    }
    sn_tensor last = sn_layer_norm(ctx, x, m->lnf_w, m->lnf_b, in->eps);
    sn_tensor hidden = opts->skip ? kept : last;

    sn_tensor rows[64], pooled = sn_none();
    for (int b0 = 0; b0 < n && sn_ok(ctx); b0 += 64) { /* concat at most 64 rows at a time */
        int nb = n - b0 < 64 ? n - b0 : 64;
        for (int b = 0; b < nb; b++)
            rows[b] = sn_slice(ctx, sn_slice(ctx, last, 0, b0 + b, 1), 1,
                               pool_index(ids + (int64_t)(b0 + b) * len, len, in->eos_token_id), 1);
        sn_tensor part = sn_reshape(sn_concat(ctx, rows, nb, 0), SN_SHAPE(nb, d));
        pooled = b0 ? sn_concat(ctx, (sn_tensor[]){pooled, part}, 2, 0) : part;
    }
    sn_tensor embeds = sn_has(m->proj) ? sn_linear(ctx, pooled, m->proj, sn_none()) : sn_none();

    /* one packed result, so everything else the call allocated goes back to the arena */
    int64_t nh = nl * d, np = (int64_t)n * d, ne = (int64_t)n * in->projection_dim;
    sn_tensor parts[3] = {sn_reshape(hidden, SN_SHAPE(nh)), sn_reshape(pooled, SN_SHAPE(np)),
                          sn_reshape(embeds, SN_SHAPE(ne ? ne : 1))};
    sn_tensor packed = sn_to(ctx, sn_concat(ctx, parts, ne ? 3 : 2, 0), SN_F32);
    packed = sn_scope_end(ctx, outer, packed);
    if (!sn_ok(ctx) || !sn_has(packed)) return -1;
    out->hidden = view(packed, 0, SN_SHAPE(n, len, d));
    out->pooled = view(packed, nh, SN_SHAPE(n, d));
    if (ne) out->text_embeds = view(packed, nh + np, SN_SHAPE(n, in->projection_dim));
    return 0;
}

static void clip_destroy(void *impl) {
    clip_model *m = impl;
    if (!m) return;
    sn_te_free_entry(m->tokens);
    free(m->layers);
    free(m);
}

static const sn_text_encoder_ops clip_ops = {clip_encode, clip_destroy};
