// Full attention in f32 with an online softmax (FlashAttention's recurrence), so no score
// matrix is ever in device memory: memory is the output plus a block's tiles in shared memory,
// whatever the sequence lengths. This is the exact-f32 path and the reference for the fused
// bf16 tensor-core kernel of the next phase, not its replacement.
//
// A block of 256 threads owns BQ = 64 query rows of one (batch, head) slice and walks the
// keys in tiles of BK = 32: K, V and the tile's probabilities sit in shared memory, the
// query tile too. Thread (ty, tx), ty < 16, tx < 16, computes the scores of rows
// ty*4 .. ty*4+3 against keys tx, tx+16 and keeps the output columns tx, tx+16, ... of its
// four rows in registers (DM/16 of them per row, DM = 64, 128 or 256 the padded head width).
// The running max and sum of a row live in the 16 threads that share it and are combined
// with shuffles. Shared rows of Q and K are padded by one float so that the 16 lanes reading
// 16 different keys hit 16 different banks.
//
// Masks: keys beyond Lk, causal keys (j > i, top-left aligned as torch's is_causal) and the
// additive bias (any broadcast of (N, H, Lq, Lk), read through strides) are applied to the
// scaled scores; a causal block stops at the key tiles its last row can see. A row that sees
// only -inf gives zeros, as on the CPU.
//
// Two versions live here (sn_cuda_attention_version picks one; tests check both, and
// tools/bench/bench_cuda_f32 times them beside PyTorch's f32 scaled_dot_product_attention);
// the first version's figures are kept below for the record.
// Measured on an H200, 2026-11-23, median of up to 50 runs, TFLOP/s = 4 B H L^2 D / time:
//   shape B x H x L x D     v1 (scalar smem)  v2 (16-byte smem)  v3 (+ async copy)  torch 2.11
//   8 x 16 x 1024 x 72          10.2              15.5              18.1             26.6
//   4 x 16 x 4096 x 72          11.1              16.3              18.5             28.1
//   1 x 24 x 4096 x 128         14.1              23.1              25.6             45.3
//   1 x 24 x 16384 x 128        15.1              23.4              26.5             45.4
//   1 x 12 x 32760 x 128        14.8              23.0              26.5             44.5
// v3, the default, reaches about 40% of the chip's f32 FMA rate and 60% of PyTorch's f32
// kernel. Head sizes 72 and 80 run in the 128-wide instance, which wastes 40-45% of the
// P V work; and at most two blocks fit on a multiprocessor. This path exists for exact f32
// parity; speed comes from the bf16/fp16 tensor-core kernel (flash_attention.cu).
#include "common.cuh"

namespace {

#define ATT_BQ 64
#define ATT_BK 32
#define ATT_THREADS 256
#define ATT_RQ (ATT_BQ / 16) // query rows per thread
#define ATT_CK (ATT_BK / 16) // keys per thread per tile

struct att_args {
    const float *q, *k, *v;
    float *y;
    int64_t heads, lq, lk, d, dv;
    float scale;
    const float *bias;
    int64_t bstride[4], heads_per_batch;
    int causal;
    int64_t qtiles;
};

// --- version 2: 16-byte shared-memory accesses ---------------------------------------------
// The first version (scalar shared loads, one 4-byte load per two FMAs in the score loop, so
// bound by shared-memory instructions; removed, its figures are above) taught the layout: Q and
// K rows are padded to a multiple of 4 floats plus 4 (rows stay 16-byte aligned and 8 lanes reading 8 rows hit disjoint banks),
// the score loop reads float4s along the head dimension, and the P V loop reads float4s of
// P along the keys and of V along the output columns, which each thread now owns in groups
// of four (4 tx + 64 c4 + 0..3). Tiles are loaded with 32-bit index arithmetic and, when
// rows are 16-byte multiples, 16-byte global loads.
#define ATT2_PLD (ATT_BK + 4) // P row stride: 16-byte aligned rows

template <int DM> size_t att2_smem(int64_t d) {
    size_t ld = (size_t)((d + 3) / 4 * 4 + 4);
    return sizeof(float) * ((size_t)ATT_BQ * ld + (size_t)ATT_BK * ld + (size_t)ATT_BK * DM +
                            (size_t)ATT_BQ * ATT2_PLD);
}

// rows [0, nrows) of a (rows, d) matrix starting at row `r0` of `src` (which has `total` rows)
// into shared memory with row stride ld, zero-filled past d, past `total`, up to width w4*4.
__device__ __forceinline__ void att2_load(float *dst, int ld, const float *src, int64_t r0,
                                          int64_t total, int d, int w4, int nrows, bool vec) {
    for (int i = threadIdx.x; i < nrows * w4; i += ATT_THREADS) {
        int r = i / w4, c = (i - r * w4) * 4;
        float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
        if (r0 + r < total) {
            const float *row = src + (r0 + r) * d;
            if (vec && c + 4 <= d) {
                v = *(const float4 *)(row + c);
            } else {
                if (c < d) v.x = row[c];
                if (c + 1 < d) v.y = row[c + 1];
                if (c + 2 < d) v.z = row[c + 2];
                if (c + 3 < d) v.w = row[c + 3];
            }
        }
        *(float4 *)(dst + r * ld + c) = v;
    }
}

// --- version 3: version 2 with the next K/V tile copied while this one is used --------------
// Version 2 loads each tile with ordinary loads between two barriers, so no arithmetic
// overlaps the copy. Here K and V have two shared buffers each: the tile after the current
// one is requested with cp.async (16-byte asynchronous copies, zero-filled past Lk) before
// the current one is used, and waited for one iteration later. It needs rows of 16-byte
// multiples on 16-byte boundaries (D and Dv multiples of 4); otherwise version 2 runs.
template <int DM> size_t att3_smem(int64_t d) {
    size_t ld = (size_t)(d + 4); // d is a multiple of 4 here
    return sizeof(float) * ((size_t)ATT_BQ * ld + 2 * ((size_t)ATT_BK * ld + (size_t)ATT_BK * DM) +
                            (size_t)ATT_BQ * ATT2_PLD);
}

__device__ __forceinline__ void cp_async16(float *dst, const float *src, bool valid) {
    unsigned s = (unsigned)__cvta_generic_to_shared(dst);
    int n = valid ? 16 : 0; // 0: nothing is read and the 16 bytes are zeroed
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(src), "r"(n));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N> __device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

// Requests rows [k0, k0 + BK) of K (into ks, row stride ld) and V (into vs, row stride DM).
template <int DM>
__device__ __forceinline__ void att3_issue(float *ks, float *vs, int ld, const float *kh,
                                           const float *vh, int64_t k0, int64_t lk, int d,
                                           int dv) {
    const int wk = d / 4, wv = dv / 4;
    for (int i = threadIdx.x; i < ATT_BK * wk; i += ATT_THREADS) {
        int r = i / wk, c = (i - r * wk) * 4;
        bool ok = k0 + r < lk;
        cp_async16(ks + r * ld + c, ok ? kh + (k0 + r) * d + c : kh, ok);
    }
    for (int i = threadIdx.x; i < ATT_BK * wv; i += ATT_THREADS) {
        int r = i / wv, c = (i - r * wv) * 4;
        bool ok = k0 + r < lk;
        cp_async16(vs + r * DM + c, ok ? vh + (k0 + r) * dv + c : vh, ok);
    }
    cp_async_commit();
}

template <int DM, bool ASYNC>
__global__ void __launch_bounds__(ATT_THREADS) attention2_kernel(att_args a) {
    constexpr int C4 = DM / 64; // float4 groups of output columns per thread
    extern __shared__ float4 sm4[];
    float *sm = (float *)sm4;
    const int d = (int)a.d, dv = (int)a.dv, d4 = (d + 3) / 4 * 4, ld = d4 + 4;
    // Q, then K and V (two of each when ASYNC), then P
    float *qs = sm, *kbuf = qs + ATT_BQ * ld, *vbuf = kbuf + (ASYNC ? 2 : 1) * ATT_BK * ld;
    float *ps = vbuf + (ASYNC ? 2 : 1) * ATT_BK * DM;
    const int tid = threadIdx.x, tx = tid & 15, ty = tid >> 4;
    const int64_t h = blockIdx.x / a.qtiles, q0 = (blockIdx.x % a.qtiles) * ATT_BQ;
    const float *qh = a.q + h * a.lq * d, *kh = a.k + h * a.lk * d, *vh = a.v + h * a.lk * dv;
    const bool vq = d % 4 == 0 && ((uintptr_t)a.q | (uintptr_t)a.k) % 16 == 0;
    const bool vv = dv % 4 == 0 && (uintptr_t)a.v % 16 == 0;
    const float *bias = a.bias;
    if (bias) bias += (h / a.heads_per_batch) * a.bstride[0] + (h % a.heads_per_batch) * a.bstride[1];

    att2_load(qs, ld, qh, q0, a.lq, d, d4 / 4, ATT_BQ, vq);

    float4 acc[ATT_RQ][C4];
    float mrow[ATT_RQ], lrow[ATT_RQ];
#pragma unroll
    for (int i = 0; i < ATT_RQ; i++) {
        mrow[i] = -INFINITY;
        lrow[i] = 0.0f;
#pragma unroll
        for (int c = 0; c < C4; c++) acc[i][c] = make_float4(0.f, 0.f, 0.f, 0.f);
    }

    int64_t kend = a.lk;
    if (a.causal && q0 + ATT_BQ < kend) kend = q0 + ATT_BQ;
    const int64_t ntiles = (kend + ATT_BK - 1) / ATT_BK;
    if (ASYNC) {
        // V's columns past dv are never copied: zero them once in both buffers
        for (int i = tid; i < 2 * ATT_BK * DM; i += ATT_THREADS)
            if (i % DM >= dv) vbuf[i] = 0.0f;
        att3_issue<DM>(kbuf, vbuf, ld, kh, vh, 0, a.lk, d, dv);
    }
    for (int64_t t = 0; t < ntiles; t++) {
        const int64_t k0 = t * ATT_BK;
        float *ks = kbuf, *vs = vbuf;
        if (ASYNC) {
            ks += (t & 1) * ATT_BK * ld;
            vs += (t & 1) * ATT_BK * DM;
            if (t + 1 < ntiles) { // the next tile goes into the buffer the last iteration used
                att3_issue<DM>(kbuf + ((t + 1) & 1) * ATT_BK * ld, vbuf + ((t + 1) & 1) * ATT_BK * DM,
                               ld, kh, vh, k0 + ATT_BK, a.lk, d, dv);
                cp_async_wait<1>();
            } else {
                cp_async_wait<0>();
            }
            __syncthreads();
        } else {
            __syncthreads();
            att2_load(ks, ld, kh, k0, a.lk, d, d4 / 4, ATT_BK, vq);
            att2_load(vs, DM, vh, k0, a.lk, dv, DM / 4, ATT_BK, vv);
            __syncthreads();
        }

        float s[ATT_RQ][ATT_CK];
#pragma unroll
        for (int i = 0; i < ATT_RQ; i++)
#pragma unroll
            for (int j = 0; j < ATT_CK; j++) s[i][j] = 0.0f;
        for (int c = 0; c < d4; c += 4) {
            float4 qv[ATT_RQ], kv[ATT_CK];
#pragma unroll
            for (int i = 0; i < ATT_RQ; i++) qv[i] = *(const float4 *)(qs + (ty * ATT_RQ + i) * ld + c);
#pragma unroll
            for (int j = 0; j < ATT_CK; j++) kv[j] = *(const float4 *)(ks + (tx + 16 * j) * ld + c);
#pragma unroll
            for (int i = 0; i < ATT_RQ; i++)
#pragma unroll
                for (int j = 0; j < ATT_CK; j++) {
                    s[i][j] = fmaf(qv[i].x, kv[j].x, s[i][j]);
                    s[i][j] = fmaf(qv[i].y, kv[j].y, s[i][j]);
                    s[i][j] = fmaf(qv[i].z, kv[j].z, s[i][j]);
                    s[i][j] = fmaf(qv[i].w, kv[j].w, s[i][j]);
                }
        }

#pragma unroll
        for (int i = 0; i < ATT_RQ; i++) {
            const int64_t row = q0 + ty * ATT_RQ + i;
            float tmax = -INFINITY;
#pragma unroll
            for (int j = 0; j < ATT_CK; j++) {
                const int64_t col = k0 + tx + 16 * j;
                float v = s[i][j] * a.scale;
                if (col >= a.lk || (a.causal && col > row))
                    v = -INFINITY;
                else if (bias && row < a.lq)
                    v += bias[row * a.bstride[2] + col * a.bstride[3]];
                s[i][j] = v;
                tmax = fmaxf(tmax, v);
            }
#pragma unroll
            for (int o = 8; o > 0; o >>= 1) tmax = fmaxf(tmax, __shfl_xor_sync(0xffffffffu, tmax, o));
            const float mnew = fmaxf(mrow[i], tmax);
            float alpha, psum = 0.0f;
            if (mnew == -INFINITY) {
                alpha = 1.0f;
#pragma unroll
                for (int j = 0; j < ATT_CK; j++) s[i][j] = 0.0f;
            } else {
                alpha = expf(mrow[i] - mnew);
#pragma unroll
                for (int j = 0; j < ATT_CK; j++) {
                    s[i][j] = expf(s[i][j] - mnew);
                    psum += s[i][j];
                }
            }
#pragma unroll
            for (int o = 8; o > 0; o >>= 1) psum += __shfl_xor_sync(0xffffffffu, psum, o);
            mrow[i] = mnew;
            lrow[i] = lrow[i] * alpha + psum;
#pragma unroll
            for (int c = 0; c < C4; c++) {
                acc[i][c].x *= alpha;
                acc[i][c].y *= alpha;
                acc[i][c].z *= alpha;
                acc[i][c].w *= alpha;
            }
#pragma unroll
            for (int j = 0; j < ATT_CK; j++) ps[(ty * ATT_RQ + i) * ATT2_PLD + tx + 16 * j] = s[i][j];
        }
        __syncthreads();

        // keys past kend have p = 0 and V rows of zeros (or real rows, times 0): the whole tile
        for (int j = 0; j < ATT_BK; j += 4) {
            float4 pv[ATT_RQ], vv4[4][C4];
#pragma unroll
            for (int i = 0; i < ATT_RQ; i++) pv[i] = *(const float4 *)(ps + (ty * ATT_RQ + i) * ATT2_PLD + j);
#pragma unroll
            for (int jj = 0; jj < 4; jj++)
#pragma unroll
                for (int c = 0; c < C4; c++)
                    vv4[jj][c] = *(const float4 *)(vs + (j + jj) * DM + 4 * tx + 64 * c);
#pragma unroll
            for (int i = 0; i < ATT_RQ; i++) {
                const float p4[4] = {pv[i].x, pv[i].y, pv[i].z, pv[i].w};
#pragma unroll
                for (int jj = 0; jj < 4; jj++)
#pragma unroll
                    for (int c = 0; c < C4; c++) {
                        acc[i][c].x = fmaf(p4[jj], vv4[jj][c].x, acc[i][c].x);
                        acc[i][c].y = fmaf(p4[jj], vv4[jj][c].y, acc[i][c].y);
                        acc[i][c].z = fmaf(p4[jj], vv4[jj][c].z, acc[i][c].z);
                        acc[i][c].w = fmaf(p4[jj], vv4[jj][c].w, acc[i][c].w);
                    }
            }
        }
        if (ASYNC) __syncthreads(); // this tile's buffers are refilled next iteration
    }

    float *yh = a.y + h * a.lq * dv;
#pragma unroll
    for (int i = 0; i < ATT_RQ; i++) {
        const int64_t row = q0 + ty * ATT_RQ + i;
        if (row >= a.lq) continue;
        const float inv = lrow[i] > 0.0f ? 1.0f / lrow[i] : 0.0f;
#pragma unroll
        for (int c = 0; c < C4; c++) {
            const int col = 4 * tx + 64 * c;
            const float o[4] = {acc[i][c].x * inv, acc[i][c].y * inv, acc[i][c].z * inv,
                                acc[i][c].w * inv};
#pragma unroll
            for (int e = 0; e < 4; e++)
                if (col + e < dv) yh[row * dv + col + e] = o[e];
        }
    }
}

int att_version = 3; // the kernel sn_cuda_attention runs (sn_cuda_attention_version)

template <int DM> void launch(sn_ctx *ctx, const att_args &a) {
    int ver = att_version;
    if (ver == 3 && (a.d % 4 || a.dv % 4 || ((uintptr_t)a.q | (uintptr_t)a.k | (uintptr_t)a.v) % 16))
        ver = 2; // cp.async needs 16-byte rows
    size_t smem = ver == 3 ? att3_smem<DM>(a.d) : att2_smem<DM>(a.d);
    if (smem > sn_cuda_st(ctx)->smem_optin) {
        sn_fail(ctx, "attention: %zu bytes of shared memory needed, the GPU allows %zu", smem,
                sn_cuda_st(ctx)->smem_optin);
        return;
    }
    void (*kernel)(att_args) = ver == 3 ? attention2_kernel<DM, true> : attention2_kernel<DM, false>;
    if (!CU(ctx, cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                      (int)smem)))
        return;
    int64_t blocks = a.heads * a.qtiles;
    if (blocks > INT32_MAX) {
        sn_fail(ctx, "attention: %lld blocks exceed the CUDA grid", (long long)blocks);
        return;
    }
    kernel<<<(unsigned)blocks, ATT_THREADS, smem, sn_cuda_stream(ctx)>>>(a);
    LAUNCHED(ctx, "attention");
}

} // namespace

extern "C" void sn_cuda_attention(sn_ctx *ctx, const float *q, const float *k, const float *v,
                                  float *y, int64_t heads, int64_t lq, int64_t lk, int64_t d,
                                  int64_t dv, float scale, const sn_cpu_attn_mask *mask) {
    int64_t dm = d > dv ? d : dv;
    if (dm > SN_CUDA_ATTN_MAX_DIM) {
        sn_fail(ctx, "attention: head dimension %lld exceeds the CUDA kernel's %d", (long long)dm,
                SN_CUDA_ATTN_MAX_DIM);
        return;
    }
    att_args a = {};
    a.q = q, a.k = k, a.v = v, a.y = y;
    a.heads = heads, a.lq = lq, a.lk = lk, a.d = d, a.dv = dv, a.scale = scale;
    a.heads_per_batch = 1;
    if (mask) {
        a.bias = mask->bias;
        for (int i = 0; i < 4; i++) a.bstride[i] = mask->stride[i];
        a.heads_per_batch = mask->heads_per_batch > 0 ? mask->heads_per_batch : 1;
        a.causal = mask->causal;
    }
    a.qtiles = (lq + ATT_BQ - 1) / ATT_BQ;
    if (dm <= 64)
        launch<64>(ctx, a);
    else if (dm <= 128)
        launch<128>(ctx, a);
    else
        launch<256>(ctx, a);
}

extern "C" int sn_cuda_attention_version(int version) {
    int old = att_version;
    if (version == 2 || version == 3) att_version = version;
    return old;
}
