/* The fused attention forward for bf16 / fp16 on the CUDA backend (flash_attention.cu; the
 * kernels are in flash_attention.cuh, the design and measurements in docs/attention_kernel.md).
 *
 *   y = softmax(scale * q k^T + mask) v, per slice b < bh, with f32 accumulation and an online
 *   softmax: no score matrix is ever in device memory.
 *
 * Tensors: q (bh, lq, d), k and v (bh, lk, d), y (bh, lq, d), all of dtype `dt` (SN_BF16 or
 * SN_F16, the same for the four), contiguous, on the device. bh = batch * heads.
 *
 * Requirements the caller (core/ops.c) must check first, sn_fa_supported() says yes to them:
 *   - dt is SN_BF16 or SN_F16 and d is 64, 72, 80, 96 or 128 (72 runs padded to 80 inside);
 *   - the four pointers are 16-byte aligned (arena tensors are: the arena aligns to 64);
 *   - 1 <= lq, lk < 2^31 and bh * ceil(lq / tile_q) < 2^31 (the work units); lq and lk need
 *     not be tile multiples and may differ.
 * `scale` is any finite float (negative and zero too). `causal` keeps key j for query i when
 * j <= i (top-left aligned, as torch's is_causal). A row that sees no key at all gives zeros.
 *
 * Block sparsity: `sched` NULL is dense (every key tile; the kernel handles causal itself and
 * skips the key tiles a causal query tile cannot see). Otherwise query tile i (rows
 * i*tile_q .. i*tile_q + tile_q - 1, tile sizes from sn_fa_tile_shape) attends to the key
 * tiles kv_tile[offset[i] .. offset[i+1]) only, in that order (any order is correct; ascending
 * is the usual). There are n_qtiles = ceil(lq / tile_q) query tiles; the same schedule is used
 * by every slice of bh. The causal flag and the lk tail are still applied on top of a
 * schedule. `partial[e]` nonzero marks entry e as a tile that needs element masking; with the
 * dense predicate of this version nothing more is masked there (neighborhood attention will
 * add its predicate), so `partial` may be NULL. A query tile with no entries gives zero rows.
 *
 * Work and memory: one block of 384 threads per (query tile, slice), about 114-170 KB of
 * shared memory per block (one block per multiprocessor); nothing from the arena. The launch
 * is asynchronous on the context's stream; errors (a launch, the tensor-map encoding) are set
 * on the context. Needs a Hopper GPU (the binary is built for sm_90a). */
#ifndef SN_CUDA_FLASH_ATTENTION_H
#define SN_CUDA_FLASH_ATTENTION_H

#include <stdint.h>

#include "../context.h"
#include "../tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Block-sparse schedule (device pointers): for query tile i, key tiles kv_tile[offset[i] ..
 * offset[i+1]). */
typedef struct {
    const int32_t *offset;  /* n_qtiles + 1 entries */
    const int32_t *kv_tile; /* offset[n_qtiles] entries, each in [0, ceil(lk / tile_k)) */
    const uint8_t *partial; /* per entry, nonzero: the tile needs element masking; may be NULL */
} sn_fa_schedule;

/* The tile sizes a schedule indexes: 128 x 128 for every supported d and dtype. */
void sn_fa_tile_shape(int64_t d, sn_dtype dt, int *tile_q, int *tile_k);
/* 1 when the fused kernel takes this dtype and head size (see above), else 0. */
int sn_fa_supported(sn_dtype dt, int64_t d);
void sn_cuda_flash_attention(sn_ctx *ctx, sn_dtype dt, const void *q, const void *k, const void *v, void *y,
                             int64_t bh, int64_t lq, int64_t lk, int64_t d, float scale, int causal,
                             const sn_fa_schedule *sched);

#ifdef __cplusplus
}
#endif

#endif
