/* The CPU backend: kernels on plain host pointers and shapes, called by core/ops.c once it has
 * validated the arguments, so kernels never fail. f32 math, OpenMP over independent rows,
 * CBLAS (OpenBLAS, which threads itself) for matrix products. Bias and optional arguments
 * are NULL when absent. Outputs never alias inputs unless a kernel says so. */
#ifndef SN_CPU_H
#define SN_CPU_H

#include <stddef.h>
#include <stdint.h>

#include "../tensor.h"

/* --- elementwise.c ------------------------------------------------------------------ */
typedef enum {
    SN_CPU_SILU,
    SN_CPU_RELU,
    SN_CPU_TANH,
    SN_CPU_EXP,
    SN_CPU_GELU,      /* exact: erf */
    SN_CPU_GELU_TANH, /* tanh approximation */
    SN_CPU_AFFINE,    /* x * a + b */
    SN_CPU_CLAMP,     /* to [a, b] */
} sn_cpu_unary_op;
void sn_cpu_unary(sn_cpu_unary_op op, const float *x, float *y, int64_t n, float a, float b);

typedef enum { SN_CPU_ADD, SN_CPU_SUB, SN_CPU_MUL, SN_CPU_DIV } sn_cpu_binary_op;
/* a, b and y all have `nd` axes; an axis of a or b of size 1 is broadcast to y's. */
void sn_cpu_binary(sn_cpu_binary_op op, const float *a, const int64_t *ashape, const float *b,
                   const int64_t *bshape, float *y, const int64_t *yshape, int nd);

/* Softmax of each of `rows` rows of n; x may equal y. */
void sn_cpu_softmax(const float *x, float *y, int64_t rows, int64_t n);

/* x (N, L, D) * (1 + scale (N, D)) + shift (N, D). */
void sn_cpu_modulate(const float *x, const float *shift, const float *scale, float *y, int64_t n,
                     int64_t l, int64_t d);

/* --- norm.c ------------------------------------------------------------------------- */
void sn_cpu_layer_norm(const float *x, const float *w, const float *b, float *y, int64_t rows,
                       int64_t n, float eps);
void sn_cpu_rms_norm(const float *x, const float *w, float *y, int64_t rows, int64_t n, float eps);
/* x (N, C, S) with S the product of the trailing axes; w and b are (C). */
void sn_cpu_group_norm(const float *x, const float *w, const float *b, float *y, int64_t n,
                       int64_t c, int64_t s, int64_t groups, float eps);

/* --- linear.c ----------------------------------------------------------------------- */
/* y (rows, out) = x (rows, in) w^T + b, w (out, in). */
void sn_cpu_linear(const float *x, const float *w, const float *b, float *y, int64_t rows,
                   int64_t in, int64_t out);
/* y[i] (m, n) = a[i] (m, k) b[i] (k, n) for i < batch. */
void sn_cpu_matmul(const float *a, const float *b, float *y, int64_t batch, int64_t m, int64_t k,
                   int64_t n);

/* --- conv.c ------------------------------------------------------------------------- */
typedef struct {
    int64_t n, cin, h, w; /* input */
    int64_t cout, kh, kw; /* weight (cout, cin / groups, kh, kw) */
    int64_t oh, ow;       /* output */
    int64_t sh, sw, ph, pw, dh, dw, groups;
} sn_cpu_conv2d_geom;
/* Floats of scratch sn_cpu_conv2d needs (0 for a 1x1 stride-1 unpadded convolution). */
size_t sn_cpu_conv2d_work(const sn_cpu_conv2d_geom *g);
void sn_cpu_conv2d(const sn_cpu_conv2d_geom *g, const float *x, const float *w, const float *b,
                   float *y, float *work);

/* --- attention.c -------------------------------------------------------------------- */
/* Floats of scratch sn_cpu_attention needs for these sequence lengths. */
size_t sn_cpu_attention_work(int64_t lq, int64_t lk);
/* Masking for sn_cpu_attention. `bias` (NULL: none) is added to the scaled scores: slice t of
 * the batch x heads index (n = t / heads_per_batch, h = t % heads_per_batch), query row i and
 * key j read bias[n * stride[0] + h * stride[1] + i * stride[2] + j * stride[3]], a stride of
 * 0 broadcasting that axis. causal: row i sees keys j <= i (top-left aligned). */
typedef struct {
    const float *bias;
    int64_t stride[4];
    int64_t heads_per_batch;
    int causal;
} sn_cpu_attn_mask;
/* For each of `heads` (batch x heads) slices: q (lq, d), k (lk, d), v (lk, dv) -> y (lq, dv).
 * mask may be NULL. A row whose scores are all -inf gives zeros. */
void sn_cpu_attention(const float *q, const float *k, const float *v, float *y, int64_t heads,
                      int64_t lq, int64_t lk, int64_t d, int64_t dv, float scale,
                      const sn_cpu_attn_mask *mask, float *work);

/* --- layout.c: any element size ----------------------------------------------------- */
#define SN_CPU_PERMUTE_DIMS 6 /* one more than a tensor has: patchify permutes a 6-axis view */
/* y = x (shape, nd axes) permuted so that y's axis i is x's axis perm[i]. */
void sn_cpu_permute(const void *x, void *y, size_t elsize, int nd, const int64_t *shape,
                    const int *perm);
/* `count` blocks of `bytes`: block i goes from src + i * src_stride to dst + i * dst_stride. */
void sn_cpu_copy_blocks(void *dst, size_t dst_stride, const void *src, size_t src_stride,
                        size_t bytes, int64_t count);
/* `planes` (h, w) planes zero-padded to (h + top + bottom, w + left + right). */
void sn_cpu_pad2d(const void *x, void *y, size_t elsize, int64_t planes, int64_t h, int64_t w,
                  int64_t left, int64_t right, int64_t top, int64_t bottom);

/* --- cast.c ------------------------------------------------------------------------- */
/* Between the compute dtypes. To i32 and u8: truncation toward zero, then saturation to the
 * type's range (NaN gives 0), where torch leaves out-of-range values undefined. */
void sn_cpu_cast(const void *x, sn_dtype from, void *y, sn_dtype to, int64_t n);

/* --- fused.c ------------------------------------------------------------------------------ */
/* y = layer_norm(x) (no affine) * (1 + scale) + shift; x (n, l, d), shift and scale (n, d). */
void sn_cpu_layer_norm_modulate(const float *x, const float *shift, const float *scale, float *y,
                                int64_t n, int64_t l, int64_t d, float eps);
/* Rotary embedding: y = x cos + rotate_half(x) sin, rotate_half pairing adjacent features
 * ((x0, x1) -> (-x1, x0)); x (rows, d) with rows = (...) * t, cos and sin (t, d), d even. */
void sn_cpu_rope(const float *x, const float *cos, const float *sin, float *y, int64_t rows,
                 int64_t t, int64_t d);
/* y = x + a * gate; x and a (n, l, d), gate (n, d). */
void sn_cpu_gated_add(const float *x, const float *a, const float *gate, float *y, int64_t n,
                      int64_t l, int64_t d);

/* --- embedding.c ---------------------------------------------------------------------------- */
/* y[i] = table row ids[i] (row_bytes each), zeros for an id outside [0, rows). */
void sn_cpu_embedding(const void *table, const int32_t *ids, void *y, int64_t n, int64_t rows,
                      size_t row_bytes);
/* y (n, dim) = [cos(t freqs) | sin(t freqs) | 0...], the argument rounded to f32, the cosine and
 * sine taken in double; dim is 2 half or more (the rest zero). */
void sn_cpu_timestep_embedding(const float *t, const float *freqs, float *y, int64_t n,
                               int64_t half, int64_t dim);

/* --- resample.c --------------------------------------------------------------------- */
/* `planes` (h, w) planes -> (h * fh, w * fw). */
void sn_cpu_upsample_nearest(const float *x, float *y, int64_t planes, int64_t h, int64_t w,
                             int64_t fh, int64_t fw);
/* `planes` (h, w) planes -> (h / kh, w / kw), the mean of each kh x kw window. */
void sn_cpu_avg_pool2d(const float *x, float *y, int64_t planes, int64_t h, int64_t w, int64_t kh,
                       int64_t kw);
/* `planes` (h, w) planes -> (oh, ow), bilinear as torch (align_corners=False, no antialias).
 * ix (ow int64) and lx (ow floats) are scratch for the column weights. */
void sn_cpu_resize_bilinear(const float *x, float *y, int64_t planes, int64_t h, int64_t w,
                            int64_t oh, int64_t ow, int64_t *ix, float *lx);

/* --- pool.c ------------------------------------------------------------------------- */
typedef struct {
    int64_t planes, h, w; /* input: `planes` (h, w) planes */
    int64_t oh, ow;       /* output */
    int64_t kh, kw, sh, sw, ph, pw;
    int exclude_pad;      /* average: divide by the input elements in the window only */
} sn_cpu_pool2d_geom;
/* Max over each window, padding as -inf; NaN propagates. */
void sn_cpu_max_pool2d(const sn_cpu_pool2d_geom *g, const float *x, float *y);
/* Mean over each window (the whole padded window, or only its input elements). */
void sn_cpu_avg_pool2d_ex(const sn_cpu_pool2d_geom *g, const float *x, float *y);

#endif
