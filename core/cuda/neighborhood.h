/* Neighborhood attention (NATTEN's NA / GNA, core/neighborhood.h) for bf16 / fp16 on the CUDA
 * backend: the fused Hopper attention kernel (flash_attention.cuh) run over a block-sparse
 * schedule of the token-permuted problem, with NATTEN's window test on the partial tiles.
 * Design and measurements: docs/attention_kernel.md, "Neighborhood attention".
 *
 *   y_i = softmax_j(scale q_i k_j) v_j over the keys j that query i attends
 *         (sn_na_is_neighbor: its window, and every extra token), f32 accumulation.
 *
 * Tensors: q (bh, lq, d), k and v (bh, lk, d), y (bh, lq, d), all of dtype `dt` (SN_BF16 or
 * SN_F16), contiguous, on the device, 16-byte aligned. lq == sn_na_tokens(p): the grid's
 * tokens in row-major order; keys [lq, lk) are extra tokens (text) that every query attends
 * in the same softmax. The result equals sn_cpu_na_attention's (core/cpu/neighborhood.h).
 *
 * Requirements (checked; a failure sets the context error): sn_cuda_na_supported(dt, d)
 * (d in 64, 72, 80, 96, 128 and a Hopper GPU), sn_na_check(p) passes, lq == sn_na_tokens(p),
 * lk >= lq, 1 <= bh <= 65535, the padded token count (below) and lk fit an int32.
 *
 * What a call does, all asynchronous on the context's stream:
 *   1. the plan of (p, lk - lq): the permutation that makes every tile of 128 tokens a box of
 *      the grid (1-D: 128; 2-D: 16 x 8; 3-D: (A, 16/A, 8), A in 1, 2, 4 chosen by the
 *      visited-tile count; dilation groups one after another, each padded up to whole tiles)
 *      and the schedule (per query tile, the key tiles its windows touch, partial where some
 *      pair is not a neighbor pair or the key tile holds padding, then the extra tokens' tiles).
 *      Built on the host on first use and kept in a process-wide cache (device memory from
 *      cudaMalloc, never freed: a few MB per parameter set), keyed by (device, p, lk - lq).
 *      Building it uploads and synchronizes the stream once; it therefore fails while a CUDA
 *      graph captures the context: call sn_cuda_na_prepare (or one eager call) first.
 *   2. the permutation of q, k, v: none when it is the identity (1-D, dilation 1, and lq a
 *      multiple of 128 or no extra tokens); none either with one dilation group and no extra
 *      tokens ("direct": the kernel loads each tile as a TMA box of the grid, tokens outside
 *      it read as zeros); otherwise a gather into the permuted order (padding rows zero) in
 *      arena scratch: bh * (Np + 2 (Np + lk - lq)) * d * 2 bytes, where Np = prod(dilation) *
 *      tiles per group * 128 >= lq; released (scope) before returning;
 *   3. the attention kernel over the schedule (one block per (query tile, bh)); its epilogue
 *      writes each output row straight to its row-major place in y (the un-permute).
 * Nothing reads device data on the host after the plan exists, so a captured graph replays
 * the same work (the arena addresses are those of the capture). */
#ifndef SN_CUDA_NEIGHBORHOOD_H
#define SN_CUDA_NEIGHBORHOOD_H

#include <stdint.h>

#include "../context.h"
#include "../neighborhood.h"
#include "../tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 1 when the kernel takes this dtype and head size on the current device, else 0. */
int sn_cuda_na_supported(sn_dtype dt, int64_t d);

void sn_cuda_na_attention(sn_ctx *ctx, sn_dtype dt, const void *q, const void *k, const void *v, void *y,
                          int64_t bh, int64_t lq, int64_t lk, int64_t d, float scale, const sn_na_params *p);

/* Builds (once) the plan of (p, lk - lq) outside any graph capture; later calls, captured or
 * not, find it. Fails (context error) on invalid parameters or when capturing. */
void sn_cuda_na_prepare(sn_ctx *ctx, const sn_na_params *p, int64_t lq, int64_t lk);

/* What the plan of (p, lk - lq) visits, for benchmarks and notes (builds the plan if needed;
 * returns -1 with the context error set on failure). */
typedef struct {
    int tile[3];        /* tile shape over the real axes (first `axes` entries) */
    int identity;       /* 1: no permutation needed */
    int direct;         /* 1: the kernel's loads permute (no gather) */
    int64_t padded;     /* Np: permuted grid tokens, padding included */
    int64_t q_tiles;    /* Np / 128 */
    int64_t grid_tiles; /* key tiles of the grid (= q_tiles) */
    int64_t entries;    /* visited (query tile, grid key tile) pairs */
    int64_t partial;    /* of those, the ones that need the element predicate */
    int64_t extra_tiles;/* key tiles of the extra tokens, visited by every query tile */
} sn_cuda_na_info;
int sn_cuda_na_plan_info(sn_ctx *ctx, const sn_na_params *p, int64_t lq, int64_t lk, sn_cuda_na_info *info);

#ifdef __cplusplus
}
#endif

#endif
