/* Neighborhood attention (NATTEN's NA / GNA, core/neighborhood.h) on the CPU: the oracle for
 * the CUDA kernel. Called by core/ops.c once it has validated the arguments (sn_na_check and
 * the shapes), so it never fails. */
#ifndef SN_CPU_NEIGHBORHOOD_H
#define SN_CPU_NEIGHBORHOOD_H

#include <stddef.h>
#include <stdint.h>

#include "../neighborhood.h"

/* Bytes of scratch sn_cpu_na_attention needs for these sizes. */
size_t sn_cpu_na_attention_work(const sn_na_params *p, int64_t heads, int64_t lq, int64_t lk,
                                int64_t dv);

/* For each of `heads` (batch x heads) slices: q (lq, d), k (lk, d), v (lk, dv) -> y (lq, dv),
 * y_i = softmax_j(q_i k_j * scale) v_j over the keys j that query i attends. lq must be
 * sn_na_tokens(p): the queries are the grid's tokens, row-major. lk >= lq: keys [0, lq) are
 * the same grid tokens, keys [lq, lk) extra tokens (text) that every query attends, in the
 * same softmax (NATTEN's additional KV). Visits only each query's window, so a query costs
 * (prod(window) + lk - lq) dot products, not lk. Dot products, softmax and the weighted sum
 * accumulate in double. */
void sn_cpu_na_attention(const float *q, const float *k, const float *v, float *y,
                         int64_t heads, int64_t lq, int64_t lk, int64_t d, int64_t dv,
                         float scale, const sn_na_params *p, void *work);

#endif
