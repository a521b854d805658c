/* Class-conditional diffusion transformers behind one interface: DiT (facebookresearch/DiT)
 * and LightningDiT (hustvl/LightningDiT), from /work/shared/reference/models.md sections 1
 * and 2.1-2.2.
 *
 *   out = model(x, t, y)
 *     x  (N, C_in, H, W) f32 latents; H and W multiples of the patch size, any size (the
 *        position tables are recomputed when the grid differs from the checkpoint's)
 *     t  (N) f32 time. The convention is the family's own (info.time):
 *          DiT           t is the DDPM step index in [0, 999] (the original 1000-step index,
 *                        also when sampling with fewer steps)
 *          LightningDiT  t is the flow time in [0, 1], 0 = noise, 1 = data
 *     y  (N) i32 class labels in [0, num_classes]; num_classes itself is the null class used
 *        for classifier-free guidance
 *     out (N, C_out, H, W) f32: DiT with learn_sigma gives [eps | variance v] (2 C_in);
 *        LightningDiT gives the velocity (C_in; a learn_sigma LightningDiT drops its sigma
 *        half, as its forward does)
 *
 * Loading (sn_dit_load) reads every size from the tensor shapes: hidden size and channels
 * from x_embedder.proj.weight, depth = the number of blocks, classes = rows of the label table
 * - 1, out channels from final_layer.linear, the trained input size from pos_embed (or the
 * RoPE tables). The number of heads is not in the shapes; it comes from, in order:
 *   1. the kind string:                 "dit:heads=16", "lightningdit:heads=12", "auto:heads=6"
 *   2. metadata (safetensors):          sinter.dit.num_heads = "16"
 *   3. LightningDiT tensors that hold head_dim: feat_rope.freqs_cos (T, head_dim) or
 *      blocks.0.attn.q_norm.weight (head_dim)
 *   4. the published configs' rule by hidden size: DiT 1152/1024 -> 16, 768 -> 12, 384 -> 6;
 *      LightningDiT 1152/1024 -> 16, 768 -> 12, 1536 -> 24, 1792 -> 28
 * and loading fails, saying so, when none applies (or when 1-2 disagree with 3). LightningDiT's
 * RoPE is on when the file holds its tables; ":rope=0|1" in the kind (or metadata
 * sinter.dit.rope) decides for files without them. Parameter counts leave out the fixed
 * pos_embed and RoPE tables. The family comes from the kind, metadata
 * sinter.dit.family, or the tensors (any of norm1.weight, mlp.w12, attn.q_norm, feat_rope, a
 * 4-way adaLN means LightningDiT). Checkpoints may be flat state dicts or nested ones: the
 * weights are looked for under "ema." first (train.py checkpoints of both projects), then
 * at the top level, then "model.", "module.", "state_dict.".
 *
 * Text-conditioned DiT ("textdit", dit/textdit.c): PixArt-alpha's transformer
 * (PixArt-alpha/PixArt-alpha, diffusion/model/nets/PixArt.py), run with sn_textdit_forward
 * (below; sn_dit_forward refuses it). Per block: self-attention (the model's sn_attn_spec),
 * cross-attention from the image tokens to the projected text tokens (padding keys hidden
 * through the attention bias), a GELU-tanh MLP; conditioning by adaLN-single: one shared
 * t_block (Linear(SiLU(t)) -> 6 D) plus each block's learned scale_shift_table (6, D).
 * Chosen over per-block adaLN because it is what PixArt-alpha ships and it is cheaper (one
 * 6 D x D matrix instead of one per block). Tensor names are PixArt's:
 *   x_embedder.proj, pos_embed (optional), t_embedder.mlp.{0,2}, t_block.1,
 *   y_embedder.y_proj.fc{1,2} (text width -> D -> D), y_embedder.y_embedding (optional: the
 *   null caption, kept for callers, unused by the forward), blocks.N.attn.{qkv,proj},
 *   blocks.N.cross_attn.{q_linear,kv_linear,proj}, blocks.N.mlp.fc{1,2},
 *   blocks.N.scale_shift_table, final_layer.scale_shift_table, final_layer.linear;
 * and one sinter extension: pool_embedder.mlp.{0,2} (Linear(text width, D), SiLU, Linear(D,
 * D)) applied to the masked mean of the text tokens and added to the time embedding, on when
 * the file holds it. Sizes come from the shapes (text width from y_proj.fc1, out channels from
 * final_layer.linear: 2 C_in means PixArt's pred_sigma, returned like DiT's learn_sigma).
 * Metadata keys (safetensors __metadata__, all optional):
 *   sinter.dit.family            "textdit" (else recognised by t_block.1 / cross_attn tensors)
 *   sinter.dit.num_heads         heads (else the kind ":heads=N", else the DiT size rule)
 *   sinter.dit.prediction        what the output is: "eps" (noise), "v" (diffusion v), "x0",
 *                                "flow" (velocity dx/dt in the time convention); default eps
 *                                for time "steps", flow otherwise
 *   sinter.dit.time              what t means: "steps" (DDPM index 0..999, PixArt's; default),
 *                                "flow" (0 noise -> 1 data), "sigma" (1 noise -> 0 data, as
 *                                SD3/FLUX/RAE)
 *   sinter.dit.time_scale        t is multiplied by this (in f32) before the frequency
 *                                embedding, for models trained on e.g. 1000 t; default 1
 *   sinter.dit.base_size         the token grid side PixArt's positions are relative to; at a
 *                                grid of G tokens position i is i / (G / base_size) /
 *                                pe_interpolation (PixArt's get_2d_sincos_pos_embed); default:
 *                                pos_embed's side, else the grid itself (plain 0..G-1)
 *   sinter.dit.pe_interpolation  PixArt's lewei_scale; default 1
 * and, read by `sinter t2i` (tools/cli/cmd_t2i.c) as the model's recommended settings:
 *   sinter.t2i.sampler, .steps, .cfg, .shift, .eta, .size (pixels), .beta (ddpm/ddim beta
 *   schedule), .cfg_channels (guide only channels [0, k); 0 = all), .text_max_length (tokens,
 *   padding included; default the tokenizer's), .text_mask ("0": the DiT sees padding tokens,
 *   and the encoder runs unmasked, as SD pipelines do; default "1"), .text_skip (encoder
 *   hidden state: 0 last, k > 0 the k-th from last, sn_text_opts.skip). */
#ifndef SN_DIT_H
#define SN_DIT_H

#include <stdint.h>

#include "../core/context.h"
#include "../core/ops.h"
#include "../core/tensor.h"
#include "../weights/checkpoint.h"

typedef enum {
    SN_DIT_TIME_STEPS = 0, /* t = DDPM step index in [0, 999] (DiT) */
    SN_DIT_TIME_FLOW = 1,  /* t = flow time in [0, 1], 0 noise -> 1 data (LightningDiT) */
    SN_DIT_TIME_SIGMA = 2, /* t = noise level in [0, 1], 1 noise -> 0 data (SD3, FLUX, RAE) */
} sn_dit_time;

/* What the output predicts. */
typedef enum {
    SN_DIT_PRED_EPS = 0,  /* the noise (DiT, PixArt) */
    SN_DIT_PRED_V = 1,    /* diffusion v = sqrt(abar) eps - sqrt(1 - abar) x0 */
    SN_DIT_PRED_X0 = 2,   /* the clean latents */
    SN_DIT_PRED_FLOW = 3, /* the flow velocity dx/dt in the time convention (LightningDiT) */
} sn_dit_pred;

typedef struct {
    char family[16];       /* "dit", "lightningdit" or "textdit" */
    char description[128]; /* one line for the user */
    int input_size;        /* latent side the checkpoint's position table was made for; 0 if
                              the file holds none */
    int patch;
    int in_channels, out_channels;
    int hidden, depth, heads, head_dim;
    int mlp_hidden;        /* fc1 width (GELU MLP) or SwiGLU hidden width */
    int num_classes;       /* labels 0..num_classes-1; num_classes = the null class */
    int learn_sigma;       /* the final layer predicts 2 C_in channels */
    int64_t n_params;
    sn_dit_time time;      /* what t means (above) */
    float t_max;           /* 999 or 1 */
    /* architecture options (LightningDiT flags; DiT has all of them 0) */
    int rmsnorm;           /* RMSNorm with weight (eps 1e-6) instead of LayerNorm without */
    int swiglu;            /* SwiGLU FFN (w12, w3) instead of the GELU-tanh MLP (fc1, fc2) */
    int rope;              /* 2-D rotary embedding on q and k */
    int qknorm;            /* 0 none, 1 RMSNorm(head_dim), 2 LayerNorm(head_dim, eps 1e-5) */
    int wo_shift;          /* 4-way adaLN without shifts */
    sn_dit_pred pred;      /* what the output predicts */
    /* textdit only (0 for the class-conditional families) */
    int text_dim;          /* width of the text tokens the model takes */
    int text_pool;         /* pooled text is added to the time embedding (pool_embedder) */
    int null_text_len;     /* rows of y_embedder.y_embedding, 0 when the file has none */
    float time_scale;      /* t is multiplied by this before the embedding (1 for the others) */
} sn_dit_info;

typedef struct sn_dit sn_dit;

typedef struct {
    sn_tensor (*forward)(sn_ctx *ctx, sn_dit *m, sn_tensor x, sn_tensor t, sn_tensor y);
    void (*destroy)(void *impl);
} sn_dit_ops;

struct sn_dit {
    sn_dit_info info;
    /* The attention every block runs; full attention after loading. A caller may set another
     * spec (e.g. neighborhood attention over the token grid) before calling forward. */
    sn_attn_spec attn;
    /* With a sparse attn: blocks that keep full attention (bit i = block i), and how many
     * first forward calls (denoising steps) run with full attention everywhere. */
    uint64_t dense_blocks;
    int dense_steps;
    int forwards;  /* forward calls so far (eager ones and graph recordings) */
    int dense_now; /* this forward runs with full attention (dense_steps) */
    const sn_dit_ops *ops;
    void *impl;
};

/* Loads a DiT, LightningDiT or text DiT checkpoint (.pt/.pth/.ckpt or .safetensors). `kind` is
 * NULL, "auto", "dit", "lightningdit" or "textdit", optionally followed by options ":heads=N", ":rope=0|1" or
 * both (":heads=N,rope=1"; see above). Returns NULL
 * with the context error set, naming the file and the reason (for a missing or mis-shaped
 * tensor: its name and both shapes). */
sn_dit *sn_dit_load(sn_ctx *ctx, const char *path, const char *kind);
void sn_dit_free(sn_dit *m);

/* One denoiser evaluation (module comment). Returns the empty tensor with the context error
 * set on bad inputs (shapes, dtypes, a label outside [0, num_classes]). */
sn_tensor sn_dit_forward(sn_ctx *ctx, sn_dit *m, sn_tensor x, sn_tensor t, sn_tensor y);

/* Sets the blocks' self-attention from the CLI's --attention text: "full", or
 * "neighborhood:window=K[xK],stride=S[xS],dilation=D[xD],causal=C[xC]" (NATTEN's windows over
 * the 2-D token grid, training-free; core/neighborhood.h), optionally with
 * ",dense-blocks=LIST" (blocks that keep full attention: indices and ranges joined by '+',
 * e.g. 0-1+27) and ",dense-steps=N" (the first N forward calls, i.e. denoising steps, run with
 * full attention). Returns 0, or -1 with the context error set. */
int sn_dit_set_attention(sn_ctx *ctx, sn_dit *m, const char *text);
/* The spec a forward uses on a gh x gw token grid: m->attn with a neighborhood resolved for the
 * grid (the error set when its windows do not fit). */
sn_attn_spec sn_dit_grid_attention(sn_ctx *ctx, const sn_dit *m, int gh, int gw);
/* The spec of block i: full attention for a dense block, else `grid` (the above). */
const sn_attn_spec *sn_dit_block_attention(const sn_dit *m, int i, const sn_attn_spec *grid);
/* Counts a forward call and sets m->dense_now for it (the families' forwards call this). */
void sn_dit_count_forward(sn_dit *m);

/* One evaluation of a text-conditioned model (family "textdit"):
 *   x     (N, C_in, H, W) f32 latents, H and W multiples of the patch size
 *   t     (N) f32 time in the model's convention (info.time; info.time_scale is applied inside)
 *   text  (N, L, text_dim) f32 text-encoder states, L >= 1
 *   mask  (N, L) i32 or f32, nonzero = a real token, 0 = padding hidden from the
 *         cross-attention (and from the pooled mean); or the empty tensor: every token real.
 *         A row with no real token gets a zero cross-attention output (and pooled text 0).
 *   out   (N, C_out, H, W) f32 (PixArt's pred_sigma: [prediction | variance values])
 * Returns the empty tensor with the context error set on bad inputs. */
sn_tensor sn_textdit_forward(sn_ctx *ctx, sn_dit *m, sn_tensor x, sn_tensor t, sn_tensor text,
                             sn_tensor mask);
/* The null caption y_embedder.y_embedding as (1, null_text_len, text_dim), or the empty tensor
 * when the file has none. */
sn_tensor sn_textdit_null_text(const sn_dit *m);

/* --- for the family files (dit.c, lightningdit.c) and tests ------------------------------- */

/* DiT's fixed 2-D sin-cos table (models.md 1.5), computed in double and rounded to f32, as
 * (gh*gw, dim) into dst: token n = i*gw + j; columns [0, dim/4) sin(j w), [dim/4, dim/2)
 * cos(j w), then sin(i w), cos(i w), w_k = 10000^(-k/(dim/4)). dim must be a multiple of 4. */
void sn_dit_sincos_pos_embed(float *dst, int gh, int gw, int dim);

/* LightningDiT's EVA-02 RoPE tables (models.md 2.1) as (gh*gw, head_dim) cos and sin, token
 * n = i*gw + j: per axis head_dim/2 values [f0, f0, f1, f1, ...] with f_k = 10000^(-2k/
 * (head_dim/2)); the first half rotates with the row index i, the second with the column j.
 * Computed as the original does in f32 (positions i/G*G, frequencies, products), with cos and
 * sin of each f32 angle rounded from double. head_dim must be a multiple of 4. */
void sn_dit_rope_tables(float *cos_out, float *sin_out, int gh, int gw, int head_dim);

/* What a family loader gets from sn_dit_load. */
typedef struct {
    int heads;              /* from the kind string or metadata; 0 when not given */
    const char *heads_from; /* where it came from, for messages */
    int rope;               /* LightningDiT RoPE from kind/metadata: -1 unknown (tensors tell) */
} sn_dit_opts;

/* The family loaders. `ck` is already narrowed to the model's tensors (prefix set). Each
 * returns NULL with the context error set on failure. */
sn_dit *sn_dit_load_dit(sn_ctx *ctx, sn_ckpt *ck, const sn_dit_opts *o);
sn_dit *sn_dit_load_lightning(sn_ctx *ctx, sn_ckpt *ck, const sn_dit_opts *o);
sn_dit *sn_dit_load_textdit(sn_ctx *ctx, sn_ckpt *ck, const sn_dit_opts *o);

/* Pieces both families share, in dit.c. */

/* Binds tensors with shape checks, counts the parameters, and remembers which names were
 * used so that sn_dit_loader_check_all_used can refuse files with structure the model does
 * not know. */
typedef struct {
    sn_ctx *ctx;
    sn_ckpt *ck;
    int64_t n_params;
    const char **used;
    int n_used, cap_used;
} sn_dit_loader;
sn_tensor sn_dit_bind(sn_dit_loader *ld, const char *name, int ndim, const int64_t *shape);
/* `prefix`.weight (out, in) and `prefix`.bias (out). */
void sn_dit_bind_linear(sn_dit_loader *ld, sn_tensor *w, sn_tensor *b, const char *prefix,
                        int64_t out, int64_t in);
void sn_dit_loader_check_all_used(sn_dit_loader *ld, const char *family);
void sn_dit_loader_free(sn_dit_loader *ld);

/* The common structure read from the shapes: patch embedding, embedders, depth (blocks are
 * counted by their `block_marker` tensor, e.g. "adaLN_modulation.1.weight"), the class-label
 * table when there is one (num_classes 0 otherwise), final layer, position table. Returns 0,
 * or -1 with the context error set. */
typedef struct {
    int patch, in_channels, out_channels, hidden, depth, num_classes, input_size;
    int freq_dim; /* timestep frequency embedding size (256) */
} sn_dit_shape;
int sn_dit_read_shape(sn_ctx *ctx, const sn_ckpt *ck, const char *block_marker, sn_dit_shape *s);
/* A tensor that must exist with `ndim` dimensions; NULL with the context error set. */
const sn_ckpt_entry *sn_dit_need(sn_ctx *ctx, const sn_ckpt *ck, const char *name, int ndim);
/* Heads from the options, or the hidden-size rule (`family` picks the table); -1 with the
 * context error set when it cannot be known or does not divide the hidden size. */
int sn_dit_pick_heads(sn_ctx *ctx, const sn_ckpt *ck, const sn_dit_opts *o, int hidden,
                      int head_dim_from_tensors, const char *family);

/* The stem and head both families share (models.md 1.1-1.6). */
typedef struct {
    sn_tensor x_w, x_b;             /* patch embedding as a linear: (D, C p p), (D) */
    sn_tensor pos_embed;            /* (T, D) from the checkpoint, or empty */
    int pos_grid;                   /* its side (square), 0 when absent */
    sn_tensor t_w0, t_b0, t_w2, t_b2; /* t_embedder.mlp.{0,2} */
    sn_tensor y_table;              /* (num_classes + 1, D) */
    sn_tensor f_ada_w, f_ada_b;     /* final_layer.adaLN_modulation.1: (2D, D), (2D) */
    sn_tensor f_norm_w;             /* final_layer.norm_final.weight (RMSNorm) or empty */
    sn_tensor f_lin_w, f_lin_b;     /* final_layer.linear: (p p C_out, D) */
    sn_tensor pos_cache;            /* a computed table for another grid, kept for reuse */
    int cache_gh, cache_gw;
    sn_tensor t_freqs;              /* the timestep frequencies (freq_dim / 2), made on first use */
} sn_dit_stem;
void sn_dit_bind_stem(sn_dit_loader *ld, sn_dit_stem *st, const sn_dit_shape *s, int rmsnorm);

/* Fills info->description from the other fields. */
void sn_dit_describe(sn_dit_info *info);
/* Checks x, t, y against the model. 1 when fine, else 0 with the context error set. */
int sn_dit_check_inputs(sn_ctx *ctx, const sn_dit *m, sn_tensor x, sn_tensor t, sn_tensor y);
/* h = patch_embed(x) + pos (N, T, D) for the grid of x (the checkpoint's table when it fits,
 * else a computed one). */
sn_tensor sn_dit_embed_patches(sn_ctx *ctx, sn_dit_stem *st, const sn_dit_shape *s, sn_tensor x);
/* t_embedder(t) (N, D); the frequency embedding in f32 as the original. */
sn_tensor sn_dit_embed_time(sn_ctx *ctx, sn_dit_stem *st, const sn_dit_shape *s, sn_tensor t);
/* c = t_embedder(t) + y_embedder(y) (N, D); the frequency embedding in f32 as the original. */
sn_tensor sn_dit_embed_condition(sn_ctx *ctx, sn_dit_stem *st, const sn_dit_shape *s,
                                 sn_tensor t, sn_tensor y);
/* final_layer then unpatchify: (N, T, D) -> (N, C_out, H, W). silu_c is SiLU(c). */
sn_tensor sn_dit_final(sn_ctx *ctx, const sn_dit_stem *st, const sn_dit_shape *s, sn_tensor h,
                       sn_tensor silu_c, int gh, int gw);
/* (N, T, 3D) qkv rows [q | k | v] (timm layout) -> q, k, v as (N, heads, T, head_dim). */
void sn_dit_split_heads(sn_ctx *ctx, sn_tensor qkv, int heads, sn_tensor *q, sn_tensor *k,
                        sn_tensor *v);
/* (N, heads, T, head_dim) -> (N, T, D). */
sn_tensor sn_dit_merge_heads(sn_ctx *ctx, sn_tensor o);

#endif
