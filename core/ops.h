/* The op set. Every op takes the context first, returns a new tensor from the arena, and is a
 * no-op returning the empty tensor once the context has an error. Shape mismatches set the
 * error with both shapes.
 *
 * Dtypes: the CPU backend computes in f32; the CUDA backend also takes f16 and bf16. The
 * float tensors of one call share one dtype, which the output keeps (attention's bias is
 * always f32); arithmetic inside is f32. Layouts follow PyTorch: images NCHW, sequences
 * (N, L, D), weights as PyTorch stores them. */
#ifndef SN_OPS_H
#define SN_OPS_H

#include "context.h"
#include "neighborhood.h"
#include "tensor.h"

/* --- data movement ------------------------------------------------------------------- */
sn_tensor sn_copy(sn_ctx *ctx, sn_tensor x);
sn_tensor sn_cast(sn_ctx *ctx, sn_tensor x, sn_dtype to); /* f32/f16/bf16/i32/u8 */
/* x itself when it already has dtype `to`, else sn_cast. */
sn_tensor sn_to(sn_ctx *ctx, sn_tensor x, sn_dtype to);
/* perm[i] names the input axis that becomes output axis i (as torch.permute). */
sn_tensor sn_permute(sn_ctx *ctx, sn_tensor x, const int *perm);
/* Joins tensors along `axis`; every other dimension must agree. */
sn_tensor sn_concat(sn_ctx *ctx, const sn_tensor *xs, int n, int axis);
/* Elements [start, start+len) of `axis`. */
sn_tensor sn_slice(sn_ctx *ctx, sn_tensor x, int axis, int64_t start, int64_t len);
/* Splits `axis` into n equal parts written to out[0..n-1] (as torch.chunk with equal parts). */
void sn_split(sn_ctx *ctx, sn_tensor x, int axis, int n, sn_tensor *out);

/* --- elementwise --------------------------------------------------------------------- */
/* Binary ops broadcast as NumPy does (trailing axes aligned, size-1 axes stretched). */
sn_tensor sn_add(sn_ctx *ctx, sn_tensor a, sn_tensor b);
sn_tensor sn_sub(sn_ctx *ctx, sn_tensor a, sn_tensor b);
sn_tensor sn_mul(sn_ctx *ctx, sn_tensor a, sn_tensor b);
sn_tensor sn_div(sn_ctx *ctx, sn_tensor a, sn_tensor b);
/* y = x * a + b, scalars. */
sn_tensor sn_affine(sn_ctx *ctx, sn_tensor x, float a, float b);
sn_tensor sn_clamp(sn_ctx *ctx, sn_tensor x, float lo, float hi);
sn_tensor sn_silu(sn_ctx *ctx, sn_tensor x);
sn_tensor sn_relu(sn_ctx *ctx, sn_tensor x);
sn_tensor sn_tanh(sn_ctx *ctx, sn_tensor x);
sn_tensor sn_exp(sn_ctx *ctx, sn_tensor x);
typedef enum { SN_GELU_EXACT = 0, SN_GELU_TANH = 1 } sn_gelu_kind;
sn_tensor sn_gelu(sn_ctx *ctx, sn_tensor x, sn_gelu_kind kind);
/* Softmax over the last axis. */
sn_tensor sn_softmax(sn_ctx *ctx, sn_tensor x);

/* --- normalization ------------------------------------------------------------------- */
/* weight/bias may be empty (no affine). */
sn_tensor sn_layer_norm(sn_ctx *ctx, sn_tensor x, sn_tensor weight, sn_tensor bias, float eps);
sn_tensor sn_rms_norm(sn_ctx *ctx, sn_tensor x, sn_tensor weight, float eps);
/* x is (N, C, ...) and normalized over groups of C/groups channels and all trailing axes. */
sn_tensor sn_group_norm(sn_ctx *ctx, sn_tensor x, int groups, sn_tensor weight, sn_tensor bias,
                        float eps);
/* sn_silu(sn_group_norm(...)), one pass less on CUDA (the VAEs' resnet blocks). */
sn_tensor sn_group_norm_silu(sn_ctx *ctx, sn_tensor x, int groups, sn_tensor weight,
                             sn_tensor bias, float eps);
/* DiT's adaLN: x (N, L, D) * (1 + scale) + shift, with scale and shift (N, D). */
sn_tensor sn_modulate(sn_ctx *ctx, sn_tensor x, sn_tensor shift, sn_tensor scale);

/* Fused forms of what every DiT block does, one pass over memory on CUDA (the CPU runs the
 * unfused sequence): layer_norm(x) without affine, modulated as sn_modulate does; and
 * x + a * gate with x, a (N, L, D) and gate (N, D) (adaLN-Zero's gated residual). */
sn_tensor sn_layer_norm_modulate(sn_ctx *ctx, sn_tensor x, sn_tensor shift, sn_tensor scale,
                                 float eps);
sn_tensor sn_gated_add(sn_ctx *ctx, sn_tensor x, sn_tensor a, sn_tensor gate);
/* Rotary position embedding as LightningDiT/EVA apply it: x cos + rotate_half(x) sin with
 * rotate_half pairing adjacent features ((x0, x1) -> (-x1, x0)); x (..., T, D), D even, cos and
 * sin (T, D) of x's dtype. */
sn_tensor sn_rope(sn_ctx *ctx, sn_tensor x, sn_tensor cos, sn_tensor sin);

/* --- products ------------------------------------------------------------------------ */
/* y = x W^T + b, x (..., in), W (out, in) as torch.nn.Linear stores it, b (out) or empty. */
sn_tensor sn_linear(sn_ctx *ctx, sn_tensor x, sn_tensor w, sn_tensor b);
/* sn_linear followed by GELU in its tanh form (DiT's MLP), fused into the product's epilogue
 * on CUDA. */
sn_tensor sn_linear_gelu(sn_ctx *ctx, sn_tensor x, sn_tensor w, sn_tensor b);
/* Plain batched matrix product over the last two axes: a (..., M, K) b (..., K, N). */
sn_tensor sn_matmul(sn_ctx *ctx, sn_tensor a, sn_tensor b);

typedef struct {
    int stride[2];   /* (h, w); 0 means 1 */
    int padding[2];  /* symmetric zero padding (h, w) */
    int dilation[2]; /* 0 means 1 */
    int groups;      /* 0 means 1 */
} sn_conv2d_params;
/* x (N, Cin, H, W), w (Cout, Cin/groups, kh, kw), b (Cout) or empty. */
sn_tensor sn_conv2d(sn_ctx *ctx, sn_tensor x, sn_tensor w, sn_tensor b,
                    const sn_conv2d_params *p);
/* Zero padding of the two last axes: left, right, top, bottom (as torch.nn.functional.pad). */
sn_tensor sn_pad2d(sn_ctx *ctx, sn_tensor x, int left, int right, int top, int bottom);

/* --- attention ----------------------------------------------------------------------- */
typedef enum { SN_ATTN_FULL = 0, SN_ATTN_NEIGHBORHOOD = 1 } sn_attn_kind;
typedef struct {
    sn_attn_kind kind;
    float scale; /* 0 means 1/sqrt(head_dim) */
    /* Query i sees keys j <= i only. Aligned top-left as torch's is_causal (tril of an
     * Lq x Lk matrix of ones): with Lq > Lk the last rows see every key, with Lq < Lk the
     * last Lk - Lq keys are seen by no row. */
    int causal;
    /* Optional f32 additive bias on the scaled scores (empty: none), 4-D with each axis 1
     * (broadcast) or the full (N, H, Lq, Lk) size: T5's position bias (1, H, Lq, Lk), a key
     * padding mask (N, 1, 1, Lk), or both added. Mask with a large finite negative (as HF
     * does) or -inf. */
    sn_tensor bias;
    /* kind == SN_ATTN_NEIGHBORHOOD: NATTEN's windows (core/neighborhood.h), resolved for the
     * token grid (sn_na_resolve). Lq is the grid's token count, row-major; keys [0, Lq) are
     * the same grid tokens, keys [Lq, Lk) extra tokens (text) that every query attends in the
     * same softmax. causal and bias must be unset (causality is per axis: na.causal). */
    sn_na_params na;
} sn_attn_spec;
/* q (N, H, Lq, D), k and v (N, H, Lk, D) -> (N, H, Lq, D); softmax(q k^T * scale + bias) v.
 * A row whose every score is -inf (fully masked by -inf bias entries) gives a zero output
 * row, as flash attention does; torch would give NaN. A finite large negative never fully
 * masks a row: such a row averages v evenly, as torch does. */
sn_tensor sn_attention(sn_ctx *ctx, sn_tensor q, sn_tensor k, sn_tensor v,
                       const sn_attn_spec *spec);

/* --- lookups ------------------------------------------------------------------------ */
/* Rows of table (V, D) (any dtype) picked by ids (N) i32 on the same device -> (N, D); an id
 * outside [0, V) gives a zero row (callers check ids where they come from: on the GPU the
 * lookup cannot report without a synchronization). */
sn_tensor sn_embedding(sn_ctx *ctx, sn_tensor table, sn_tensor ids);
/* The sinusoidal timestep embedding (N, dim) of t (N) f32 with freqs (H) f32, dim >= 2H:
 * [cos(t freqs) | sin(t freqs) | zeros], each argument t * freq rounded to f32 (as the DiT and
 * PixArt references compute it in float32), cos and sin evaluated in double. */
sn_tensor sn_timestep_embedding(sn_ctx *ctx, sn_tensor t, sn_tensor freqs, int dim);

/* --- resampling and layout ---------------------------------------------------------- */
/* Nearest-neighbour upsampling of the two last axes by integer factors. */
sn_tensor sn_upsample_nearest(sn_ctx *ctx, sn_tensor x, int fh, int fw);
/* Average pooling of the two last axes, kernel = stride = (kh, kw), no padding. */
sn_tensor sn_avg_pool2d(sn_ctx *ctx, sn_tensor x, int kh, int kw);
/* Pooling windows over the two last axes with any kernel, stride and padding, as torch's
 * max_pool2d / avg_pool2d (ceil_mode False, no dilation): the output is
 * floor((H + 2 padding - kernel) / stride) + 1 on each axis. */
typedef struct {
    int kernel[2];   /* (h, w) */
    int stride[2];   /* 0 means the kernel size, as torch */
    int padding[2];  /* at most half the kernel, as torch requires */
    int exclude_pad; /* average only: 1 divides by the input elements inside the window (torch's
                        count_include_pad=False, TensorFlow's average pool); 0 by the whole
                        window, padding included (torch's default) */
} sn_pool2d_params;
/* Max over each window; the padding counts as -inf (never chosen); NaN propagates. */
sn_tensor sn_max_pool2d(sn_ctx *ctx, sn_tensor x, const sn_pool2d_params *p);
/* Mean over each window. */
sn_tensor sn_avg_pool2d_ex(sn_ctx *ctx, sn_tensor x, const sn_pool2d_params *p);
/* Bilinear resize of the two last axes to (oh, ow) as torch's F.interpolate(mode="bilinear",
 * align_corners=False, antialias=False) with a size given: no low-pass filter when shrinking. */
sn_tensor sn_resize_bilinear(sn_ctx *ctx, sn_tensor x, int oh, int ow);
/* (N, C, H, W) -> (N, (H/p)(W/p), C p p), each token's features ordered (c, py, px) as a
 * Conv2d patch embedding reads them. */
sn_tensor sn_patchify(sn_ctx *ctx, sn_tensor x, int p);
/* (N, h w, p p C) with features ordered (py, px, c), as DiT's unpatchify -> (N, C, h p, w p). */
sn_tensor sn_unpatchify(sn_ctx *ctx, sn_tensor x, int p, int h, int w, int c);

#endif
