/* The CUDA backend's op launchers, called by core/ops.c once it has validated the arguments
 * (the same contract as core/cpu/cpu.h, whose kernel signatures these mirror, with the
 * context first). Pointers are device pointers. A launcher queues its work on the context's
 * stream and returns at once; it never fails on shapes (ops.c checked them), but a CUDA,
 * cuBLASLt or cuDNN call can, and then the launcher sets the context error naming the call
 * and its message, and the op returns the empty tensor.
 *
 * Element types: `dt` names the storage dtype (f32, f16 or bf16) of the float tensors of a
 * call. Math is f32 throughout; f32 matrix products and convolutions run with TF32 off so that
 * their results match the CPU backend to rounding; f16/bf16 ones use the tensor cores with f32
 * accumulation.
 *
 * The files: elementwise.cu (unary, broadcast binary, modulate, cast), softmax.cu, norm.cu
 * (layer/RMS/group norm), layout.cu (permute, block copies, pad, resampling, pools),
 * attention.cu, linear.cu (cuBLASLt), conv.cu (cuDNN), state.cu (stream, handles, caches). */
#ifndef SN_CUDA_OPS_H
#define SN_CUDA_OPS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "../context.h"
#include "../cpu/cpu.h" /* the op enums and geometry structs both backends share */
#include "../tensor.h"

/* --- elementwise.cu ----------------------------------------------------------------- */
void sn_cuda_unary(sn_ctx *ctx, sn_dtype dt, sn_cpu_unary_op op, const void *x, void *y,
                   int64_t n, float a, float b);
/* a, b and y all have `nd` axes; an axis of a or b of size 1 is broadcast to y's. */
void sn_cuda_binary(sn_ctx *ctx, sn_dtype dt, sn_cpu_binary_op op, const void *a,
                    const int64_t *ashape, const void *b, const int64_t *bshape, void *y,
                    const int64_t *yshape, int nd);
/* x (N, L, D) * (1 + scale (N, D)) + shift (N, D). */
void sn_cuda_modulate(sn_ctx *ctx, sn_dtype dt, const void *x, const void *shift,
                      const void *scale, void *y, int64_t n, int64_t l, int64_t d);
/* Between the compute dtypes, with sn_cpu_cast's rules (truncation and saturation to ints). */
void sn_cuda_cast(sn_ctx *ctx, const void *x, sn_dtype from, void *y, sn_dtype to, int64_t n);

/* --- softmax.cu --------------------------------------------------------------------- */
void sn_cuda_softmax(sn_ctx *ctx, sn_dtype dt, const void *x, void *y, int64_t rows, int64_t n);

/* --- norm.cu ------------------------------------------------------------------------ */
/* The weights and biases (or NULL) have x's dtype. */
void sn_cuda_layer_norm(sn_ctx *ctx, sn_dtype dt, const void *x, const void *w, const void *b,
                        void *y, int64_t rows, int64_t n, float eps);
void sn_cuda_rms_norm(sn_ctx *ctx, sn_dtype dt, const void *x, const void *w, void *y,
                      int64_t rows, int64_t n, float eps);
/* x (N, C, S); w and b (C) or NULL. Scratch for the partial sums comes from the arena. */
void sn_cuda_group_norm(sn_ctx *ctx, sn_dtype dt, const void *x, const void *w, const void *b,
                        void *y, int64_t n, int64_t c, int64_t s, int64_t groups, float eps,
                        int silu);

/* --- linear.cu (cuBLASLt; f32 accumulation, TF32 off) --------------------------------- */
/* y (rows, out) = x (rows, in) w^T + b, w (out, in), b (out) or NULL; all of dtype dt. */
void sn_cuda_linear(sn_ctx *ctx, sn_dtype dt, const void *x, const void *w, const void *b,
                    void *y, int64_t rows, int64_t in, int64_t out);
/* The same with GELU (tanh form) applied in the product's epilogue. */
void sn_cuda_linear_gelu(sn_ctx *ctx, sn_dtype dt, const void *x, const void *w, const void *b,
                         void *y, int64_t rows, int64_t in, int64_t out);
/* y[i] (m, n) = a[i] (m, k) b[i] (k, n) for i < batch. */
void sn_cuda_matmul(sn_ctx *ctx, sn_dtype dt, const void *a, const void *b, void *y,
                    int64_t batch, int64_t m, int64_t k, int64_t n);
/* y[i] (m, n) = a (m, k) b[i] (k, n) for i < batch: one a for every batch entry. */
void sn_cuda_matmul_shared_a(sn_ctx *ctx, sn_dtype dt, const void *a, const void *b, void *y,
                             int64_t batch, int64_t m, int64_t k, int64_t n);

/* --- conv.cu (im2col + cuBLASLt when small, else cuDNN; f32 accumulation, TF32 off) - */
void sn_cuda_conv2d(sn_ctx *ctx, sn_dtype dt, const sn_cpu_conv2d_geom *g, const void *x,
                    const void *w, const void *b, void *y);

/* --- attention.cu ------------------------------------------------------------------- */
/* sn_cpu_attention's contract: `heads` (batch x heads) slices of q (lq, d), k (lk, d),
 * v (lk, dv) -> y (lq, dv); d, dv <= 256; mask may be NULL; fully masked rows give zeros. */
void sn_cuda_attention(sn_ctx *ctx, const float *q, const float *k, const float *v, float *y,
                       int64_t heads, int64_t lq, int64_t lk, int64_t d, int64_t dv, float scale,
                       const sn_cpu_attn_mask *mask);
#define SN_CUDA_ATTN_MAX_DIM 256
/* Picks the f32 kernel version (2: 16-byte shared-memory reads; 3, the default: 2 with the next
 * K/V tile copied asynchronously, falling back to 2 when D or Dv is not a multiple of 4) for
 * the tests and benchmarks that compare them; returns the previous one. Any other value only
 * reads the current one. Not thread-safe: set it before ops run. */
int sn_cuda_attention_version(int version);

/* --- fused.cu ---------------------------------------------------------------------- */
void sn_cuda_layer_norm_modulate(sn_ctx *ctx, sn_dtype dt, const void *x, const void *shift,
                                 const void *scale, void *y, int64_t n, int64_t l, int64_t d,
                                 float eps);
void sn_cuda_rope(sn_ctx *ctx, sn_dtype dt, const void *x, const void *cos, const void *sin,
                  void *y, int64_t rows, int64_t t, int64_t d);
void sn_cuda_gated_add(sn_ctx *ctx, sn_dtype dt, const void *x, const void *a, const void *gate,
                       void *y, int64_t n, int64_t l, int64_t d);

/* --- embedding.cu ------------------------------------------------------------------- */
void sn_cuda_embedding(sn_ctx *ctx, const void *table, const int32_t *ids, void *y, int64_t n,
                       int64_t rows, size_t row_bytes);
void sn_cuda_timestep_embedding(sn_ctx *ctx, const float *t, const float *freqs, float *y,
                                int64_t n, int64_t half, int64_t dim);

/* --- layout.cu: any element size ---------------------------------------------------- */
void sn_cuda_permute(sn_ctx *ctx, const void *x, void *y, size_t elsize, int nd,
                     const int64_t *shape, const int *perm);
/* y (batch, b, a) = x (batch, a, b), by tiles (coalesced both ways); not in place. */
void sn_cuda_transpose(sn_ctx *ctx, const void *x, void *y, size_t elsize, int64_t batch,
                       int64_t a, int64_t b);
/* `count` blocks of `bytes`: block i goes from src + i * src_stride to dst + i * dst_stride. */
void sn_cuda_copy_blocks(sn_ctx *ctx, void *dst, size_t dst_stride, const void *src,
                         size_t src_stride, size_t bytes, int64_t count);
void sn_cuda_pad2d(sn_ctx *ctx, const void *x, void *y, size_t elsize, int64_t planes, int64_t h,
                   int64_t w, int64_t left, int64_t right, int64_t top, int64_t bottom);
/* --- layout.cu: float dtypes ------------------------------------------------------- */
void sn_cuda_upsample_nearest(sn_ctx *ctx, sn_dtype dt, const void *x, void *y, int64_t planes,
                              int64_t h, int64_t w, int64_t fh, int64_t fw);
void sn_cuda_avg_pool2d(sn_ctx *ctx, sn_dtype dt, const void *x, void *y, int64_t planes,
                        int64_t h, int64_t w, int64_t kh, int64_t kw);
void sn_cuda_max_pool2d(sn_ctx *ctx, sn_dtype dt, const sn_cpu_pool2d_geom *g, const void *x,
                        void *y);
void sn_cuda_avg_pool2d_ex(sn_ctx *ctx, sn_dtype dt, const sn_cpu_pool2d_geom *g, const void *x,
                           void *y);
void sn_cuda_resize_bilinear(sn_ctx *ctx, sn_dtype dt, const void *x, void *y, int64_t planes,
                             int64_t h, int64_t w, int64_t oh, int64_t ow);

#ifdef __cplusplus
}
#endif

#endif
