// FlashAttention-2 with mma.sync m16n8k16 (any sm_80+): the first correct version of the fused
// attention kernel, 8 warps x 16 query rows, keys in sub-tiles of 64 double-buffered with
// cp.async. The product runs fa3 (core/cuda/flash_attention.cuh, sm_90a); this one stays as a
// portable reference for the development harness tools/bench/fa_dev.cu, which includes it
// after flash_attention.cuh (it uses that header's Params, predicates and helpers).
#ifndef SN_BENCH_FA2_CUH
#define SN_BENCH_FA2_CUH

#include "../../core/cuda/flash_attention.cuh"

namespace snfa {

// =============================================================================================
// fa2_kernel: mma.sync m16n8k16
// =============================================================================================
namespace fa2 {
constexpr int BQ = 128, BK = 64, WARPS = 8, THREADS = WARPS * 32;
template <int DP> __host__ __device__ constexpr int lds() { return DP + 8; } // padded row: conflict-free ldmatrix
template <int DP> __host__ __device__ constexpr size_t smem_bytes() { return sizeof(uint16_t) * (size_t)lds<DP>() * (BQ + 4 * BK); }

__device__ __forceinline__ void cp16(uint32_t dst, const void *src, bool valid) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void ldsm_x4(uint32_t addr, uint32_t &r0, uint32_t &r1, uint32_t &r2, uint32_t &r3) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(addr));
}
__device__ __forceinline__ void ldsm_x4_t(uint32_t addr, uint32_t &r0, uint32_t &r1, uint32_t &r2, uint32_t &r3) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(addr));
}
template <bool BF16>
__device__ __forceinline__ void mma(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    if constexpr (BF16)
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    else
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Copies `rows` rows of d columns starting at row r0 of a (L, d) slice into a [rows][LDS]
// tile, zero-filling rows >= L and columns >= d (up to DP).
template <int DP>
__device__ __forceinline__ void load_tile(uint32_t dst, const uint16_t *src, int r0, int rows, int L, int d) {
    constexpr int CH = DP / 8, LDS = lds<DP>();
    for (int i = threadIdx.x; i < rows * CH; i += THREADS) {
        int r = i / CH, c = i % CH;
        bool ok = r0 + r < L && c * 8 < d;
        const uint16_t *s = ok ? src + (int64_t)(r0 + r) * d + c * 8 : src;
        cp16(dst + (uint32_t)(r * LDS + c * 8) * 2, s, ok);
    }
}

template <typename T, int DP, class Pred>
__global__ void __launch_bounds__(THREADS) fa2_kernel(Params p, Pred pred) {
    constexpr int LDS = lds<DP>(), KS = DP / 16, NB = DP / 8;
    extern __shared__ __align__(16) unsigned char smem[];
    const uint32_t sQ = smem_u32(smem), sK = sQ + BQ * LDS * 2, sV = sK + 2 * BK * LDS * 2;
    const int qt = p.causal ? gridDim.x - 1 - blockIdx.x : blockIdx.x, bh = blockIdx.y;
    const int q0 = qt * BQ, d = p.d;
    const uint16_t *qg = (const uint16_t *)p.q + (int64_t)bh * p.lq * d;
    const uint16_t *kg = (const uint16_t *)p.k + (int64_t)bh * p.lk * d;
    const uint16_t *vg = (const uint16_t *)p.v + (int64_t)bh * p.lk * d;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
    const int r0 = q0 + warp * 16 + g, r1 = r0 + 8;
    const TileList tl = tile_list(p, qt);
    const int nsub = tl.count * (TILE_K / BK);

    load_tile<DP>(sQ, qg, q0, BQ, p.lq, d);
    asm volatile("cp.async.commit_group;\n");
    auto load_kv = [&](int it) {
        int k0 = tl.tile(it / (TILE_K / BK)) * TILE_K + (it % (TILE_K / BK)) * BK;
        uint32_t off = (uint32_t)(it & 1) * BK * LDS * 2;
        load_tile<DP>(sK + off, kg, k0, BK, p.lk, d);
        load_tile<DP>(sV + off, vg, k0, BK, p.lk, d);
    };
    if (nsub > 0) load_kv(0);
    asm volatile("cp.async.commit_group;\n");

    float o[NB][4];
#pragma unroll
    for (int j = 0; j < NB; j++) o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0.f;
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.f, l1 = 0.f;
    uint32_t qf[KS][4];

    for (int it = 0; it < nsub; it++) {
        if (it + 1 < nsub) load_kv(it + 1);
        asm volatile("cp.async.commit_group;\n");
        asm volatile("cp.async.wait_group 1;\n");
        __syncthreads();
        if (it == 0) {
#pragma unroll
            for (int kk = 0; kk < KS; kk++)
                ldsm_x4(sQ + (uint32_t)((warp * 16 + lane % 16) * LDS + kk * 16 + (lane / 16) * 8) * 2, qf[kk][0],
                        qf[kk][1], qf[kk][2], qf[kk][3]);
        }
        const uint32_t kb = sK + (uint32_t)(it & 1) * BK * LDS * 2, vb = sV + (uint32_t)(it & 1) * BK * LDS * 2;
        float s[BK / 8][4];
#pragma unroll
        for (int j = 0; j < BK / 8; j++) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.f;
#pragma unroll
        for (int kk = 0; kk < KS; kk++) {
#pragma unroll
            for (int j = 0; j < BK / 8; j += 2) {
                uint32_t b0, b1, b2, b3;
                ldsm_x4(kb + (uint32_t)((j * 8 + lane % 8 + (lane / 16) * 8) * LDS + kk * 16 + ((lane / 8) % 2) * 8) * 2,
                        b0, b1, b2, b3);
                mma<Ty<T>::bf16>(s[j], qf[kk], b0, b1);
                mma<Ty<T>::bf16>(s[j + 1], qf[kk], b2, b3);
            }
        }
        // scale (log2 domain), mask, online softmax
        const int e = it / (TILE_K / BK), kt = tl.tile(e);
        const int k0 = kt * TILE_K + (it % (TILE_K / BK)) * BK;
        const bool masked = tile_needs_mask(p, tl, e, kt, q0), part = tl.is_partial(e);
        float mx0 = m0, mx1 = m1;
#pragma unroll
        for (int j = 0; j < BK / 8; j++) {
#pragma unroll
            for (int c = 0; c < 4; c++) {
                float x = s[j][c] * p.scale_log2;
                if (masked) {
                    int kj = k0 + j * 8 + 2 * t + (c & 1), qi = c < 2 ? r0 : r1;
                    if (!keep(p, pred, part, bh, qi, kj)) x = -INFINITY;
                }
                s[j][c] = x;
            }
            mx0 = fmaxf(mx0, fmaxf(s[j][0], s[j][1]));
            mx1 = fmaxf(mx1, fmaxf(s[j][2], s[j][3]));
        }
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
        const float u0 = mx0 == -INFINITY ? 0.f : mx0, u1 = mx1 == -INFINITY ? 0.f : mx1;
        const float a0 = exp2f(m0 - u0), a1 = exp2f(m1 - u1);
        m0 = mx0, m1 = mx1;
        l0 *= a0, l1 *= a1;
#pragma unroll
        for (int j = 0; j < NB; j++) o[j][0] *= a0, o[j][1] *= a0, o[j][2] *= a1, o[j][3] *= a1;
        uint32_t pa[BK / 16][4];
#pragma unroll
        for (int j = 0; j < BK / 8; j++) {
            s[j][0] = exp2f(s[j][0] - u0), s[j][1] = exp2f(s[j][1] - u0);
            s[j][2] = exp2f(s[j][2] - u1), s[j][3] = exp2f(s[j][3] - u1);
            l0 += s[j][0] + s[j][1], l1 += s[j][2] + s[j][3];
        }
#pragma unroll
        for (int kk = 0; kk < BK / 16; kk++) {
            pa[kk][0] = Ty<T>::pack(s[2 * kk][0], s[2 * kk][1]);
            pa[kk][1] = Ty<T>::pack(s[2 * kk][2], s[2 * kk][3]);
            pa[kk][2] = Ty<T>::pack(s[2 * kk + 1][0], s[2 * kk + 1][1]);
            pa[kk][3] = Ty<T>::pack(s[2 * kk + 1][2], s[2 * kk + 1][3]);
        }
#pragma unroll
        for (int kk = 0; kk < BK / 16; kk++) {
#pragma unroll
            for (int j = 0; j < NB; j += 2) {
                uint32_t b0, b1, b2, b3;
                ldsm_x4_t(vb + (uint32_t)((kk * 16 + lane % 8 + ((lane / 8) % 2) * 8) * LDS + j * 8 + (lane / 16) * 8) * 2,
                          b0, b1, b2, b3);
                mma<Ty<T>::bf16>(o[j], pa[kk], b0, b1);
                mma<Ty<T>::bf16>(o[j + 1], pa[kk], b2, b3);
            }
        }
        __syncthreads(); // this buffer is refilled by the next iteration's prefetch
    }
    asm volatile("cp.async.wait_group 0;\n");
    l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
    l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
    const float i0 = l0 > 0.f ? 1.f / l0 : 0.f, i1 = l1 > 0.f ? 1.f / l1 : 0.f;
    uint32_t *yg = (uint32_t *)((uint16_t *)p.y + (int64_t)bh * p.lq * d);
#pragma unroll
    for (int j = 0; j < NB; j++) {
        int c = j * 8 + 2 * t;
        if (c < d) {
            if (r0 < p.lq) yg[((int64_t)r0 * d + c) / 2] = Ty<T>::pack(o[j][0] * i0, o[j][1] * i0);
            if (r1 < p.lq) yg[((int64_t)r1 * d + c) / 2] = Ty<T>::pack(o[j][2] * i1, o[j][3] * i1);
        }
    }
}

template <typename T, int DP, class Pred = DensePred>
cudaError_t launch(const Params &p, cudaStream_t st, Pred pred = Pred()) {
    auto kern = fa2_kernel<T, DP, Pred>;
    size_t sm = smem_bytes<DP>();
    cudaError_t e = cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sm);
    if (e != cudaSuccess) return e;
    dim3 grid((p.lq + BQ - 1) / BQ, p.bh);
    kern<<<grid, THREADS, sm, st>>>(p, pred);
    return cudaGetLastError();
}
} // namespace fa2

} // namespace snfa

#endif
