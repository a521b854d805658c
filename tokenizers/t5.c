/* The T5 encoder (Raffel et al. 2020) in its v1.0, v1.1 and umT5 forms, as transformers'
 * T5EncoderModel and UMT5EncoderModel compute it:
 *
 *   x = shared[ids]                                  (no scaling)
 *   bias = relative_attention_bias[bucket(j - i)]    (1, H, L, L), + the key padding mask
 *   for each block:  x = x + o(attention(rms_norm(x); scores q k^T + bias, no 1/sqrt(d)))
 *                    x = x + wo(relu(wi(rms_norm(x))))                     v1.0
 *                    x = x + wo(gelu_tanh(wi_0(rms_norm(x))) * wi_1(...))  v1.1, umT5
 *   last = final_layer_norm(x)
 *
 * T5 computes the position bias once, in block 0, and every block adds the same one; umT5 has
 * a relative_attention_bias in every block and each block uses its own. Which one a file is
 * follows from the tensors present. The norms are RMS norms without bias (T5LayerNorm,
 * eps 1e-6); T5 folds 1/sqrt(d_kv) into its initialisation, so the scores are not scaled.
 *
 * Tensor names (transformers): shared.weight or encoder.embed_tokens.weight,
 * encoder.block.N.layer.0.SelfAttention.{q,k,v,o}.weight, ….relative_attention_bias.weight
 * (buckets, H), encoder.block.N.layer.0.layer_norm.weight,
 * encoder.block.N.layer.1.DenseReluDense.{wi,wi_0,wi_1,wo}.weight,
 * encoder.block.N.layer.1.layer_norm.weight, encoder.final_layer_norm.weight; found wherever the
 * names start (SD3 files put them under "text_encoders.t5xxl.transformer.").
 *
 * Config: shapes give the width, heads (from the bias table), d_kv, d_ff, buckets, layers and
 * gating; the `config` JSON adds relative_attention_max_distance (default 128),
 * layer_norm_epsilon (1e-6) and dense_act_fn (default gelu_new when gated, else relu). */
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
    sn_tensor ln0, q, k, v, o, ln1, wi, wi_0, wi_1, wo;
} t5_layer;

typedef struct {
    sn_ckpt_entry *tokens; /* (V, D) on the host, file dtype */
    t5_layer *layers;
    float *rel;            /* host (buckets, H) per bias table: one (T5) or one per layer */
    sn_tensor lnf;
} t5_model;

int sn_t5_bucket(int relative_position, int num_buckets, int max_distance) {
    int nb = num_buckets / 2; /* bidirectional: half the buckets for keys after the query */
    int bucket = relative_position > 0 ? nb : 0;
    int n = relative_position < 0 ? -relative_position : relative_position;
    int max_exact = nb / 2;
    if (n < max_exact) return bucket + n;
    /* float32 throughout, in transformers' order of operations, then truncated */
    float large = logf((float)n / (float)max_exact) /
                  (float)log((double)max_distance / max_exact) * (float)(nb - max_exact);
    int b = max_exact + (int)large;
    return bucket + (b < nb - 1 ? b : nb - 1);
}

/* ------------------------------------------------------------------------------------ */
/* Loading                                                                              */

typedef struct {
    sn_ctx *ctx;
    const sn_ckpt *ck;
    const char *root;
} loader;

static sn_tensor bind(const loader *ld, int optional, int ndim, const int64_t *shape,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static sn_tensor bind(const loader *ld, int optional, int ndim, const int64_t *shape,
                      const char *fmt, ...) {
    char rest[200], name[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rest, sizeof rest, fmt, ap);
    va_end(ap);
    snprintf(name, sizeof name, "%s%s", ld->root, rest);
    sn_dtype dt = sn_ctx_dtype(ld->ctx);
    return optional ? sn_ckpt_bind_opt(ld->ctx, ld->ck, name, dt, ndim, shape)
                    : sn_ckpt_bind(ld->ctx, ld->ck, name, dt, ndim, shape);
}

static const sn_ckpt_entry *find(const sn_ckpt *ck, const char *root, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static const sn_ckpt_entry *find(const sn_ckpt *ck, const char *root, const char *fmt, ...) {
    char rest[200], name[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rest, sizeof rest, fmt, ap);
    va_end(ap);
    int k = snprintf(name, sizeof name, "%s%s", root, rest);
    return k > 0 && k < (int)sizeof name ? sn_ckpt_find(ck, name) : NULL;
}

#define ATTN "encoder.block.%d.layer.0.SelfAttention"
#define FF "encoder.block.%d.layer.1.DenseReluDense"

static void load_layer(const loader *ld, int i, const sn_text_encoder_info *in, t5_layer *l) {
    int64_t d = in->hidden, inner = (int64_t)in->heads * in->head_dim, f = in->ffn;
    l->ln0 = bind(ld, 0, SN_SHAPE(d), "encoder.block.%d.layer.0.layer_norm.weight", i);
    l->q = bind(ld, 0, SN_SHAPE(inner, d), ATTN ".q.weight", i);
    l->k = bind(ld, 0, SN_SHAPE(inner, d), ATTN ".k.weight", i);
    l->v = bind(ld, 0, SN_SHAPE(inner, d), ATTN ".v.weight", i);
    l->o = bind(ld, 0, SN_SHAPE(d, inner), ATTN ".o.weight", i);
    l->ln1 = bind(ld, 0, SN_SHAPE(d), "encoder.block.%d.layer.1.layer_norm.weight", i);
    if (in->gated) {
        l->wi_0 = bind(ld, 0, SN_SHAPE(f, d), FF ".wi_0.weight", i);
        l->wi_1 = bind(ld, 0, SN_SHAPE(f, d), FF ".wi_1.weight", i);
    } else {
        l->wi = bind(ld, 0, SN_SHAPE(f, d), FF ".wi.weight", i);
    }
    l->wo = bind(ld, 0, SN_SHAPE(d, f), FF ".wo.weight", i);
}


static const sn_text_encoder_ops t5_ops;
static void t5_destroy(void *impl);

sn_text_encoder *sn_t5_load(sn_ctx *ctx, const sn_ckpt *ck, const char *prefix,
                            const char *config_json, const char **why) {
    static const char *const q0 = "encoder.block.0.layer.0.SelfAttention.q.weight";
    char root[256];
    if (prefix ? !find(ck, prefix, "%s", q0) || snprintf(root, sizeof root, "%s", prefix) >= (int)sizeof root
               : !sn_te_find_prefix(ck, q0, root, sizeof root)) {
        *why = "no encoder.block.0.layer.0.SelfAttention.q.weight";
        return NULL;
    }
    const char *path = sn_ckpt_path(ck);
    const sn_ckpt_entry *tok = find(ck, root, "shared.weight");
    if (!tok) tok = find(ck, root, "encoder.embed_tokens.weight");
    const sn_ckpt_entry *q = find(ck, root, "%s", q0);
    const sn_ckpt_entry *rel = find(ck, root, ATTN ".relative_attention_bias.weight", 0);
    const sn_ckpt_entry *wi = find(ck, root, FF ".wi_0.weight", 0);
    int gated = wi != NULL;
    if (!wi) wi = find(ck, root, FF ".wi.weight", 0);
    if (!tok || tok->ndim != 2 || q->ndim != 2 || !rel || rel->ndim != 2 || !wi || wi->ndim != 2) {
        sn_fail(ctx, "%s: a T5 encoder needs 2-D %sshared.weight (or encoder.embed_tokens.weight), "
                "block 0's relative_attention_bias and DenseReluDense.wi or wi_0", path, root);
        return NULL;
    }

    sn_text_encoder *enc = calloc(1, sizeof *enc);
    t5_model *m = calloc(1, sizeof *m);
    cJSON *cfg = config_json ? cJSON_Parse(config_json) : NULL;
    if (cfg && (sn_te_json_item(cfg, "text_config") || !sn_te_json_item(cfg, "d_model")))
        cJSON_Delete(cfg), cfg = NULL; /* not a T5 config */
    if (!enc || !m) {
        sn_fail(ctx, "out of memory");
        goto fail;
    }
    enc->ops = &t5_ops;
    enc->impl = m;
    sn_text_encoder_info *in = &enc->info;
    in->arch = SN_TEXT_T5;
    snprintf(in->naming, sizeof in->naming, "hf");
    snprintf(in->prefix, sizeof in->prefix, "%s", root);
    in->vocab = (int)tok->shape[0];
    in->hidden = (int)tok->shape[1];
    in->num_buckets = (int)rel->shape[0];
    in->heads = (int)rel->shape[1];
    in->ffn = (int)wi->shape[0];
    in->gated = gated;
    for (int i = 0; find(ck, root, ATTN ".q.weight", i); i++) in->layers = i + 1;
    in->bias_per_layer = in->layers > 1 && find(ck, root, ATTN ".relative_attention_bias.weight", 1);
    const cJSON *mt = sn_te_json_item(cfg, "model_type");
    int umt5 = in->bias_per_layer || (mt && cJSON_IsString(mt) && !strcmp(mt->valuestring, "umt5"));
    snprintf(in->family, sizeof in->family, "%s", umt5 ? "umt5" : "t5");
    in->max_distance = sn_te_json_int(cfg, "relative_attention_max_distance", 128);
    const cJSON *eps = sn_te_json_item(cfg, "layer_norm_epsilon");
    in->eps = eps && cJSON_IsNumber(eps) ? (float)eps->valuedouble : 1e-6f;
    in->act = gated ? SN_TEXT_ACT_GELU_TANH : SN_TEXT_ACT_RELU;
    const cJSON *act = sn_te_json_item(cfg, "dense_act_fn");
    if (act && (!cJSON_IsString(act) || !sn_te_parse_act(act->valuestring, &in->act))) {
        sn_fail(ctx, "%s: config dense_act_fn %s is not one of relu, gelu_new, gelu, "
                "gelu_pytorch_tanh, silu", path, cJSON_IsString(act) ? act->valuestring : "(?)");
        goto fail;
    }
    const cJSON *is_gated = sn_te_json_item(cfg, "is_gated_act");
    int q_in = (int)q->shape[1], inner = (int)q->shape[0];
    if (q_in != in->hidden || in->heads < 1 || inner % in->heads ||
        sn_te_json_int(cfg, "num_heads", in->heads) != in->heads ||
        sn_te_json_int(cfg, "num_layers", in->layers) != in->layers ||
        sn_te_json_int(cfg, "d_model", in->hidden) != in->hidden ||
        (is_gated && cJSON_IsBool(is_gated) && cJSON_IsTrue(is_gated) != gated)) {
        sn_fail(ctx, "%s: the T5 tensors (width %d, q %d x %d, %d heads from the position bias, "
                "%d layers, %s feed-forward) do not agree with each other or with the config",
                path, in->hidden, inner, q_in, in->heads, in->layers, gated ? "gated" : "plain");
        goto fail;
    }
    in->head_dim = inner / in->heads;
    if (in->num_buckets < 4 || in->max_distance <= in->num_buckets / 4) {
        sn_fail(ctx, "%s: %d position buckets with max distance %d do not make T5 buckets", path,
                in->num_buckets, in->max_distance);
        goto fail;
    }

    loader ld = {ctx, ck, root};
    if (!(m->tokens = sn_te_keep_entry(tok)) ||
        !(m->layers = calloc(in->layers, sizeof *m->layers))) {
        sn_fail(ctx, "out of memory");
        goto fail;
    }
    for (int i = 0; i < in->layers && sn_ok(ctx); i++) load_layer(&ld, i, in, &m->layers[i]);
    m->lnf = bind(&ld, 0, SN_SHAPE(in->hidden), "encoder.final_layer_norm.weight");
    int tables = in->bias_per_layer ? in->layers : 1;
    size_t per = (size_t)in->num_buckets * in->heads;
    if (sn_ok(ctx) && !(m->rel = malloc(sizeof(float) * per * tables))) sn_fail(ctx, "out of memory");
    for (int i = 0; i < tables && sn_ok(ctx); i++) {
        const sn_ckpt_entry *e = find(ck, root, ATTN ".relative_attention_bias.weight", i);
        char got[96];
        if (!e || e->ndim != 2 || e->shape[0] != in->num_buckets || e->shape[1] != in->heads)
            sn_fail(ctx, "%s: tensor '%s" ATTN ".relative_attention_bias.weight' is %s; expected "
                    "[%d, %d]", path, root, i, e ? sn_shape_str(e->shape, e->ndim, got, sizeof got)
                                                 : "missing", in->num_buckets, in->heads);
        else if (sn_ckpt_entry_to_f32(e, m->rel + per * i))
            sn_fail(ctx, "%s: tensor '%s' does not convert to f32", path, e->name);
    }
    if (!sn_ok(ctx)) goto fail;

    size_t lr = strlen(root); /* the encoder's tensors and the table, counted once */
    for (int i = 0; i < sn_ckpt_count(ck); i++) {
        const sn_ckpt_entry *e = sn_ckpt_at(ck, i);
        const char *rest = e->name + lr;
        if (!strncmp(e->name, root, lr) &&
            (e == tok || (!strncmp(rest, "encoder.", 8) && strcmp(rest, "encoder.embed_tokens.weight"))))
            in->n_params += sn_ckpt_entry_numel(e);
    }
    snprintf(in->description, sizeof in->description,
             "%s encoder: %d layers, width %d, %d heads of %d, %s feed-forward %d (%s), "
             "%d buckets up to %d%s, vocabulary %d", umt5 ? "umT5" : "T5", in->layers, in->hidden,
             in->heads, in->head_dim, gated ? "gated" : "plain", in->ffn, sn_te_act_name(in->act),
             in->num_buckets, in->max_distance, in->bias_per_layer ? " per layer" : "", in->vocab);
    cJSON_Delete(cfg);
    return enc;

fail:
    cJSON_Delete(cfg);
    t5_destroy(m);
    free(enc);
    return NULL;
}

/* ------------------------------------------------------------------------------------ */
/* Forward                                                                              */


/* (1, H, L, L): the table's value for each query/key pair's bucket, plus the key padding
 * mask (N, 1, 1, L) when there is one, giving (N, H, L, L). */
static sn_tensor position_bias(sn_ctx *ctx, const float *table, const int *bucket, int heads,
                               int len, sn_tensor mask_bias) {
    size_t ll = (size_t)len * len;
    float *host = malloc(sizeof(float) * ll * heads);
    if (!host) {
        sn_fail(ctx, "out of memory");
        return sn_none();
    }
    for (int h = 0; h < heads; h++)
        for (size_t p = 0; p < ll; p++) host[h * ll + p] = table[bucket[p] * heads + h];
    sn_tensor b = sn_from_host(ctx, sn_tensor_wrap(host, SN_F32, SN_SHAPE(1, heads, len, len)));
    free(host);
    return sn_has(mask_bias) ? sn_add(ctx, b, mask_bias) : b;
}

static sn_tensor split_heads(sn_ctx *ctx, sn_tensor t, int64_t n, int64_t l, int64_t h,
                             int64_t dh) {
    return sn_permute(ctx, sn_reshape(t, SN_SHAPE(n, l, h, dh)), (const int[]){0, 2, 1, 3});
}

static sn_tensor layer_forward(sn_ctx *ctx, const t5_layer *w, const sn_text_encoder_info *in,
                               sn_tensor x, sn_tensor bias) {
    int64_t n = x.shape[0], l = x.shape[1], inner = (int64_t)in->heads * in->head_dim;
    sn_tensor a = sn_rms_norm(ctx, x, w->ln0, in->eps);
    sn_tensor q = split_heads(ctx, sn_linear(ctx, a, w->q, sn_none()), n, l, in->heads, in->head_dim);
    sn_tensor k = split_heads(ctx, sn_linear(ctx, a, w->k, sn_none()), n, l, in->heads, in->head_dim);
    sn_tensor v = split_heads(ctx, sn_linear(ctx, a, w->v, sn_none()), n, l, in->heads, in->head_dim);
    sn_attn_spec spec = {.kind = SN_ATTN_FULL, .scale = 1.0f, .bias = bias};
    sn_tensor o = sn_permute(ctx, sn_attention(ctx, q, k, v, &spec), (const int[]){0, 2, 1, 3});
    x = sn_add(ctx, x, sn_linear(ctx, sn_reshape(o, SN_SHAPE(n, l, inner)), w->o, sn_none()));
    sn_tensor h = sn_rms_norm(ctx, x, w->ln1, in->eps);
    if (in->gated)
        h = sn_mul(ctx, sn_te_activation(ctx, sn_linear(ctx, h, w->wi_0, sn_none()), in->act),
                   sn_linear(ctx, h, w->wi_1, sn_none()));
    else
        h = sn_te_activation(ctx, sn_linear(ctx, h, w->wi, sn_none()), in->act);
    return sn_add(ctx, x, sn_linear(ctx, h, w->wo, sn_none()));
}

static int t5_encode(sn_ctx *ctx, void *impl, const sn_text_encoder_info *in, const int32_t *ids,
                     const int32_t *mask, int n, int len, const sn_text_opts *opts,
                     sn_text_output *out) {
    const t5_model *m = impl;
    int64_t d = in->hidden, nl = (int64_t)n * len, ll = (int64_t)len * len;
    sn_scope outer = sn_scope_begin(ctx);
    float *host = malloc(sizeof(float) * nl * d);
    int *bucket = malloc(sizeof(int) * ll);
    if (!host || !bucket) {
        free(host), free(bucket);
        sn_fail(ctx, "out of memory");
        sn_scope_end(ctx, outer, sn_none());
        return -1;
    }
    sn_tensor x = sn_none(), mask_bias = sn_none();
    if (!sn_te_gather(ctx, m->tokens, ids, nl, host))
        x = sn_from_host(ctx, sn_tensor_wrap(host, SN_F32, SN_SHAPE(n, len, d)));
    x = sn_to(ctx, x, sn_ctx_dtype(ctx)); /* the model's dtype; the result comes back in f32 */
    if (mask) {
        for (int64_t i = 0; i < nl; i++) host[i] = mask[i] ? 0.0f : MASKED;
        mask_bias = sn_from_host(ctx, sn_tensor_wrap(host, SN_F32, SN_SHAPE(n, 1, 1, len)));
    }
    free(host);
    for (int i = 0; i < len; i++)
        for (int j = 0; j < len; j++)
            bucket[(int64_t)i * len + j] = sn_t5_bucket(j - i, in->num_buckets, in->max_distance);

    size_t per = (size_t)in->num_buckets * in->heads;
    sn_tensor shared = in->bias_per_layer
                           ? sn_none()
                           : position_bias(ctx, m->rel, bucket, in->heads, len, mask_bias);
    int last = in->layers - 1 - opts->skip; /* nothing after it is needed */
    for (int i = 0; i <= last && sn_ok(ctx); i++) {
        sn_scope s = sn_scope_begin(ctx);
        sn_tensor bias = in->bias_per_layer ? position_bias(ctx, m->rel + per * i, bucket,
                                                            in->heads, len, mask_bias)
                                            : shared;
        x = sn_scope_end(ctx, s, layer_forward(ctx, &m->layers[i], in, x, bias));
    }
    free(bucket);
    if (!opts->skip || opts->skip_norm) x = sn_rms_norm(ctx, x, m->lnf, in->eps);
    x = sn_scope_end(ctx, outer, sn_to(ctx, x, SN_F32));
    if (!sn_ok(ctx) || !sn_has(x)) return -1;
    out->hidden = x;
    return 0;
}

static void t5_destroy(void *impl) {
    t5_model *m = impl;
    if (!m) return;
    sn_te_free_entry(m->tokens);
    free(m->layers);
    free(m->rel);
    free(m);
}

static const sn_text_encoder_ops t5_ops = {t5_encode, t5_destroy};
