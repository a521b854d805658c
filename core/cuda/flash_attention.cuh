// Fused attention forward (FlashAttention's online softmax) for bf16 / fp16 on Hopper: the
// templated kernels, self-contained (CUDA headers only) so that a standalone harness
// (tools/bench/fa_dev.cu) can build them without the rest of sinter. The C launcher that uses
// a sinter context is flash_attention.cu; the design notes and measurements are in
// docs/attention_kernel.md.
//
// Contract. q (BH, Lq, D), k and v (BH, Lk, D), y (BH, Lq, D), one dtype (bf16 or fp16),
// contiguous; y = softmax(scale q k^T + mask) v with f32 accumulation. D in {64, 72, 80, 96,
// 128}. Masks: keys >= Lk; `causal` (key j visible from query i when j <= i, top-left aligned
// like torch's is_causal); a block-sparse schedule; and, on the tiles a schedule marks partial,
// an element predicate `Pred` (a template parameter: DensePred is always true). A row that
// sees no key gives zeros. Tiles are TILE_Q x TILE_K = 128 x 128 for every D and both kernels,
// so a schedule built once serves both.
//
// Schedule (NULL offset = dense): query tile i visits the key tiles kv_tile[offset[i] ..
// offset[i+1]) in that order; partial[e] != 0 asks for element masking on entry e (the causal
// and the Lk tail masks are applied wherever needed, partial or not). Shared by all BH.
//
// Two kernels:
//  - fa3_kernel (sm_90a): the FA3 design. A work unit is (query tile of 128, bh); a block
//    takes one unit or, on a persistent grid, every gridDim.x-th one. Three warpgroups:
//    warpgroup 0 is the producer (one thread issues TMA loads of Q per unit and of K and V per
//    key tile into a two-stage ring, completing on mbarriers; it gives its registers away with
//    setmaxnreg), warpgroups 1 and 2 are consumers that own 64 query rows each: S = Q K^T by
//    wgmma with both operands in shared memory, the online softmax in registers, O += P V by
//    wgmma with P from registers. Within a consumer, tile e's Q K^T and tile e-1's P V are
//    issued together (O's rescaling runs between the two issues) and tile e's softmax runs
//    while that P V is in flight; a stage's K is released as soon as its Q K^T is done and its
//    V after its P V, so the next K loads early. The two consumers interleave on their own (an
//    explicit ping-pong through named barriers measured no better and was dropped).
//    Head dims are padded for the tensor cores: 64 and 128 use 128-byte swizzled panels of 64
//    columns, 96 three 64-byte panels of 32, 72 and 80 five 32-byte panels of 16 (72 padded
//    to 80 by TMA's zero fill of out-of-range columns).
//  The first correct version, FlashAttention-2 with mma.sync (any sm_80+), lives in
//  tools/bench/fa2.cuh for the development harness tools/bench/fa_dev.cu.
#ifndef SN_FLASH_ATTENTION_CUH
#define SN_FLASH_ATTENTION_CUH

#include <cuda.h> // CUtensorMap and the driver enums (no libcuda link: see tma_encode_fn)
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>

extern "C" {
#include "../neighborhood.h" // NATTEN's window math (host and device), for NaPred
}

namespace snfa {

constexpr int TILE_Q = 128, TILE_K = 128;

struct Params {
    const void *q, *k, *v;
    void *y;
    int bh, lq, lk, d;
    float scale_log2; // scale * log2(e)
    int causal;
    const int32_t *offset, *kv_tile; // schedule (device); offset NULL: dense
    const uint8_t *partial;          // per entry, may be NULL
    int n_qtiles;
    // fa3 only: NULL, or y row of each query row (-1: not written), y then having y_rows rows
    // per slice (neighborhood attention's un-permute, fused into the epilogue)
    const int32_t *y_row;
    int y_rows;
};

// The element predicate: keep (query qi, key kj) of slice bh? Evaluated only on entries the
// schedule marks partial. Two kinds:
//  - ELEMENT = false (DensePred): operator()(bh, qi, kj) is called per element of a partial
//    entry, inside the mask path of the softmax;
//  - ELEMENT = true (NaPred, neighborhood attention, below): the predicate works per (row,
//    key tile) instead. init_rows() runs once per consumer thread at the start and may keep
//    per-row state in SMEM_BYTES of shared memory (a table of TILE_Q rows); tile_masks() gives,
//    per partial entry, one 32-bit mask per row of the thread: bit j + 16 c keeps the score
//    of key column 8 j + 2 t + c of the tile (the wgmma accumulator layout).
struct DensePred {
    static constexpr bool ELEMENT = false;
    static constexpr int SMEM_BYTES = 0;
    __device__ __forceinline__ bool operator()(int bh, int qi, int kj) const { return true; }
    __device__ __forceinline__ void init_rows(unsigned char *, int, int, int) const {}
    __device__ __forceinline__ void tile_masks(const unsigned char *, int, int, int, int, int, uint32_t &m0,
                                               uint32_t &m1) const {
        m0 = m1 = ~0u;
    }
};

// --- neighborhood attention's predicate ------------------------------------------------------
// Exact unsigned division by a run-time constant (Granlund-Montgomery, as CUTLASS's FastDivmod):
// x / d = (umulhi(x, m) + x) >> s for 0 <= x < 2^31.
struct FastDiv {
    uint32_t d, m, s;
    __host__ __device__ void init(uint32_t div) {
        d = div;
        s = 0;
        while ((1ull << s) < div) s++;
        m = (uint32_t)(((1ull << 32) * ((1ull << s) - div)) / div + 1);
    }
    __host__ __device__ __forceinline__ uint32_t div(uint32_t x) const {
#ifdef __CUDA_ARCH__
        return (__umulhi(x, m) + x) >> s;
#else
        return (uint32_t)((((uint64_t)x * m) >> 32) + x) >> s;
#endif
    }
};

// NATTEN's window test (core/neighborhood.h) on the permuted token order of
// core/cuda/neighborhood.cu. Tokens are laid out dilation group by group, each group cut into
// tiles of 128 tokens, tile by tile (row-major over the group's tile grid), each tile row-major
// inside: permuted index = (group * tiles_per_group + tile) * 128 + offset. A tile spans up to
// three "internal" axes; a grid of `axes` real axes uses internal axes 3 - axes .. 2, the
// others being size 1. 1-D: tiles (1, 1, 128); 2-D and 3-D: (A, 16 / A, 8), A = 1 for 2-D.
// Keys from the first extra tile on (the text tokens) are never partial, so never tested.
struct NaPred {
    static constexpr bool ELEMENT = true;
    static constexpr int SMEM_BYTES = TILE_Q * 32; // per row: start, end of 3 internal axes
    sn_na_params na; // the real parameters (grid, window, stride, dilation, causal)
    int nd1;         // 1: 1-D tiles of 128; 0: (A, B, 8) tiles
    int off;         // internal axis of real axis 0: 3 - axes
    int A, bsh;      // (A, B = 1 << bsh, 8), A * B = 16
    int T[3], nt[3]; // tile extent and tiles per group along each internal axis
    int ntt;         // tiles per group
    FastDiv dnt2, dnt1;
    // 1: q, k and v are read straight from the grid's row-major order, each tile a TMA box of
    // the grid (out-of-grid tokens read as zeros, as the padding); the launcher's tensor maps
    // are then 5-D (d, internal axes 2, 1, 0, bh). Only for one dilation group and no extra
    // tokens. 0: the tensors are already permuted (a gather ran first).
    int direct;
    // grid coordinates (internal axes 2, 1, 0) of tile t's first token (direct mode)
    __device__ __forceinline__ void tile_origin(int t, int &x2, int &x1, int &x0) const {
        const uint32_t q2 = dnt2.div((uint32_t)t), q1 = dnt1.div(q2);
        x2 = (int)(t - q2 * nt[2]) * T[2], x1 = (int)(q2 - q1 * nt[1]) * T[1], x0 = (int)q1 * T[0];
    }
    // keep()'s per-element form; never reached (ELEMENT predicates mask through tile_masks)
    __device__ __forceinline__ bool operator()(int, int, int) const { return true; }

    // Window [start, end) along each internal axis of the queries at rows lr0, lr1 of tile qt.
    __host__ __device__ __forceinline__ void init_rows(unsigned char *smem, int qt, int lr0, int lr1) const {
        const int g = qt / ntt, tl = qt - g * ntt;
        int tc[3], gc[3] = {0, 0, 0};
        tc[2] = tl % nt[2];
        tc[1] = (tl / nt[2]) % nt[1];
        tc[0] = tl / (nt[2] * nt[1]);
        for (int a = na.axes - 1, r = g; a >= 0; a--) gc[off + a] = r % na.dilation[a], r /= na.dilation[a];
        for (int h = 0; h < 2; h++) {
            const int o = h ? lr1 : lr0;
            int oc[3];
            if (nd1) oc[0] = 0, oc[1] = 0, oc[2] = o;
            else oc[2] = o & 7, oc[1] = (o >> 3) & ((1 << bsh) - 1), oc[0] = o >> (3 + bsh);
            int *row = (int *)(smem + o * 32);
            row[6] = g * ntt; // first tile of the query tile's dilation group
            for (int i = 0; i < 3; i++) {
                int st = 0, en = 1;
                if (i >= off) {
                    sn_na_span w = sn_na_group_window(&na, i - off, gc[i], tc[i] * T[i] + oc[i]);
                    st = w.start, en = w.end;
                }
                row[2 * i] = st, row[2 * i + 1] = en;
            }
        }
    }
    // bits [l, h) of a mask of n <= 16 bits, l and h clamped to [0, n]
    static __host__ __device__ __forceinline__ uint32_t span_bits(int l, int h, int n) {
        l = l < 0 ? 0 : l > n ? n : l, h = h < 0 ? 0 : h > n ? n : h;
        return h > l ? (1u << h) - (1u << l) : 0u;
    }
    __host__ __device__ __forceinline__ uint32_t row_mask(const int *row, int kb0, int kb1, int kb2, int t) const {
        const int4 w01 = *(const int4 *)row;
        const int2 w2 = *(const int2 *)(row + 4);
        const int lo2 = w2.x - kb2, hi2 = w2.y - kb2;
        if (nd1) { // key column 8 j + u (u = 2 t + c) is in [lo2, hi2) for j in [ceil((lo2 - u) / 8), ...)
            const int u = 2 * t;
            const uint32_t m0 = span_bits((lo2 - u + 7) >> 3, (hi2 - u + 7) >> 3, 16);
            const uint32_t m1 = span_bits((lo2 - u + 6) >> 3, (hi2 - u + 6) >> 3, 16);
            return m0 | m1 << 16;
        }
        const int B = 1 << bsh;
        const uint32_t mb = span_bits(w01.z - kb1, w01.w - kb1, B), ma = span_bits(w01.x - kb0, w01.y - kb0, A);
        uint32_t jm = 0;
        for (int a = 0; a < 4; a++) // (unrolled by the compiler: a constant trip count)
            if (a < A && ((ma >> a) & 1u)) jm |= mb << (a << bsh);
        const uint32_t len = (uint32_t)(hi2 - lo2);
        const uint32_t c0 = (uint32_t)(2 * t - lo2) < len ? jm : 0u, c1 = (uint32_t)(2 * t + 1 - lo2) < len ? jm : 0u;
        return c0 | c1 << 16;
    }
    __host__ __device__ __forceinline__ void tile_masks(const unsigned char *smem, int qt, int kt, int lr0, int lr1,
                                                        int t, uint32_t &m0, uint32_t &m1) const {
        const uint32_t kl = (uint32_t)(kt - ((const int *)(smem + lr0 * 32))[6]); // same dilation group as the query
        const uint32_t q2 = dnt2.div(kl), kc2 = kl - q2 * nt[2];
        const uint32_t kc0 = dnt1.div(q2), kc1 = q2 - kc0 * nt[1];
        const int kb0 = kc0 * T[0], kb1 = kc1 * T[1], kb2 = kc2 * T[2];
        m0 = row_mask((const int *)(smem + lr0 * 32), kb0, kb1, kb2, t);
        m1 = row_mask((const int *)(smem + lr1 * 32), kb0, kb1, kb2, t);
    }
};

// --- the schedule, seen from one query tile ---------------------------------------------------
struct TileList {
    int begin, count;
    const int32_t *kv;
    const uint8_t *partial;
    __device__ __forceinline__ int tile(int e) const { return kv ? kv[begin + e] : e; }
    __device__ __forceinline__ bool is_partial(int e) const { return partial ? partial[begin + e] != 0 : false; }
};
__device__ __forceinline__ TileList tile_list(const Params &p, int qt) {
    TileList t;
    t.partial = p.partial;
    if (p.offset) {
        t.begin = p.offset[qt];
        t.count = p.offset[qt + 1] - t.begin;
        t.kv = p.kv_tile;
    } else {
        t.begin = 0;
        t.kv = nullptr;
        t.partial = nullptr;
        int nk = (p.lk + TILE_K - 1) / TILE_K;
        if (p.causal) {
            int last = min(qt * TILE_Q + TILE_Q, p.lq) - 1; // the tile's last query sees keys <= last
            nk = min(nk, last / TILE_K + 1);
        }
        t.count = nk;
    }
    return t;
}
// Does key tile kt (entry e) need element masking for query rows q0 .. q0+TILE_Q-1?
__device__ __forceinline__ bool tile_needs_mask(const Params &p, const TileList &t, int e, int kt, int q0) {
    int k0 = kt * TILE_K;
    return t.is_partial(e) || k0 + TILE_K > p.lk || (p.causal && k0 + TILE_K - 1 > q0);
}
template <class Pred>
__device__ __forceinline__ bool keep(const Params &p, const Pred &pred, bool partial, int bh, int qi, int kj) {
    return kj < p.lk && (!p.causal || kj <= qi) && (!partial || pred(bh, qi, kj));
}

template <typename T> struct Ty;
template <> struct Ty<__nv_bfloat16> {
    static constexpr bool bf16 = true;
    static __device__ __forceinline__ uint32_t pack(float a, float b) {
        __nv_bfloat162 h = __floats2bfloat162_rn(a, b);
        return *reinterpret_cast<uint32_t *>(&h);
    }
};
template <> struct Ty<__half> {
    static constexpr bool bf16 = false;
    static __device__ __forceinline__ uint32_t pack(float a, float b) {
        __half2 h = __floats2half2_rn(a, b);
        return *reinterpret_cast<uint32_t *>(&h);
    }
};

__device__ __forceinline__ uint32_t smem_u32(const void *p) { return (uint32_t)__cvta_generic_to_shared(p); }

// =============================================================================================
// fa3_kernel: wgmma + TMA + warp specialization (sm_90a)
// =============================================================================================
namespace fa3 {

// Per padded head dim: swizzle width (bytes) of a shared-memory panel. 64 and 128: 128-byte
// panels of 64 columns; 80 and 96: panels of 16 and 32 columns (a 128-byte layout with a
// part-padding second panel measured 10-13% slower there). The ring has two stages for every
// head size: a third measured the same at d = 96 and 128 and 5-8% slower at d = 64 and 80
// (docs/attention_kernel.md).
template <int DP> struct Cfg;
template <> struct Cfg<64> { static constexpr int SW = 128; };
template <> struct Cfg<80> { static constexpr int SW = 32; };
template <> struct Cfg<96> { static constexpr int SW = 64; };
template <> struct Cfg<128> { static constexpr int SW = 128; };
template <int DP> struct Geo {
    static constexpr int SW = Cfg<DP>::SW, STAGES = 2;
    static constexpr int PANEL = SW / 2;                // columns per panel
    static constexpr int NP = DP / PANEL;               // panels per tile
    static constexpr int PANEL_BYTES = TILE_K * SW;     // 128 rows of one panel
    static constexpr int TILE_BYTES = NP * PANEL_BYTES; // one K or V tile (= one Q tile)
    static constexpr int LAYOUT = SW == 128 ? 1 : SW == 64 ? 2 : 3; // wgmma descriptor swizzle mode
    // 1 KB alignment slack, Q, the K/V ring, 256 bytes of barriers
    static constexpr size_t SMEM = 1024 + (size_t)TILE_BYTES * (1 + 2 * STAGES) + 256;
};
static_assert(TILE_Q == 128 && TILE_K == 128, "fa3 assumes 128 x 128 tiles");

// wgmma wrappers (generated): Wgmma<N, bf16>::ss (A, B from shared memory) and ::rs (A from registers)
template <int N, bool BF16> struct Wgmma;
// ss: S (+)= A(smem, K-major) B(smem, K-major); rs: O (+)= A(registers) B(smem, MN-major).
// The instantiations differ only in the element type's name in the instruction (T).
#define SN_WGMMA_64(BF, T) \
template <> struct Wgmma<64, BF> { \
    static __device__ __forceinline__ void ss(float (&d)[32], uint64_t da, uint64_t db, int scale_d) { \
        asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n" \
                     "wgmma.mma_async.sync.aligned.m64n64k16.f32." T "." T " {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31}, %32, %33, p, 1, 1, 0, 0;\n}\n" \
                     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]) \
                     : "l"(da), "l"(db), "r"(scale_d)); \
    } \
    static __device__ __forceinline__ void rs(float (&d)[32], const uint32_t (&a)[4], uint64_t db, int scale_d) { \
        asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n" \
                     "wgmma.mma_async.sync.aligned.m64n64k16.f32." T "." T " {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31}, {%32,%33,%34,%35}, %36, p, 1, 1, 1;\n}\n" \
                     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]) \
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(scale_d)); \
    } \
};

#define SN_WGMMA_80(BF, T) \
template <> struct Wgmma<80, BF> { \
    static __device__ __forceinline__ void ss(float (&d)[40], uint64_t da, uint64_t db, int scale_d) { \
        asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %42, 0;\n" \
                     "wgmma.mma_async.sync.aligned.m64n80k16.f32." T "." T " {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31,%32,%33,%34,%35,%36,%37,%38,%39}, %40, %41, p, 1, 1, 0, 0;\n}\n" \
                     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]) \
                     : "l"(da), "l"(db), "r"(scale_d)); \
    } \
    static __device__ __forceinline__ void rs(float (&d)[40], const uint32_t (&a)[4], uint64_t db, int scale_d) { \
        asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %45, 0;\n" \
                     "wgmma.mma_async.sync.aligned.m64n80k16.f32." T "." T " {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31,%32,%33,%34,%35,%36,%37,%38,%39}, {%40,%41,%42,%43}, %44, p, 1, 1, 1;\n}\n" \
                     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]) \
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(scale_d)); \
    } \
};

#define SN_WGMMA_96(BF, T) \
template <> struct Wgmma<96, BF> { \
    static __device__ __forceinline__ void ss(float (&d)[48], uint64_t da, uint64_t db, int scale_d) { \
        asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %50, 0;\n" \
                     "wgmma.mma_async.sync.aligned.m64n96k16.f32." T "." T " {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31,%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47}, %48, %49, p, 1, 1, 0, 0;\n}\n" \
                     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]) \
                     : "l"(da), "l"(db), "r"(scale_d)); \
    } \
    static __device__ __forceinline__ void rs(float (&d)[48], const uint32_t (&a)[4], uint64_t db, int scale_d) { \
        asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %53, 0;\n" \
                     "wgmma.mma_async.sync.aligned.m64n96k16.f32." T "." T " {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31,%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47}, {%48,%49,%50,%51}, %52, p, 1, 1, 1;\n}\n" \
                     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]) \
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(scale_d)); \
    } \
};

#define SN_WGMMA_128(BF, T) \
template <> struct Wgmma<128, BF> { \
    static __device__ __forceinline__ void ss(float (&d)[64], uint64_t da, uint64_t db, int scale_d) { \
        asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n" \
                     "wgmma.mma_async.sync.aligned.m64n128k16.f32." T "." T " {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31,%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63}, %64, %65, p, 1, 1, 0, 0;\n}\n" \
                     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]) \
                     : "l"(da), "l"(db), "r"(scale_d)); \
    } \
    static __device__ __forceinline__ void rs(float (&d)[64], const uint32_t (&a)[4], uint64_t db, int scale_d) { \
        asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n" \
                     "wgmma.mma_async.sync.aligned.m64n128k16.f32." T "." T " {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31,%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63}, {%64,%65,%66,%67}, %68, p, 1, 1, 1;\n}\n" \
                     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]) \
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(scale_d)); \
    } \
};

SN_WGMMA_64(true, "bf16")
SN_WGMMA_80(true, "bf16")
SN_WGMMA_96(true, "bf16")
SN_WGMMA_128(true, "bf16")
SN_WGMMA_64(false, "f16")
SN_WGMMA_80(false, "f16")
SN_WGMMA_96(false, "f16")
SN_WGMMA_128(false, "f16")

// --- PTX wrappers ------------------------------------------------------------------------------
__device__ __forceinline__ void mbar_init(uint32_t bar, int count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count));
}
__device__ __forceinline__ void mbar_expect_tx(uint32_t bar, uint32_t bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint32_t bar) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
__device__ __forceinline__ void mbar_wait(uint32_t bar, uint32_t parity) {
    uint32_t done;
    do {
        asm volatile("{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
                     : "=r"(done) : "r"(bar), "r"(parity) : "memory");
    } while (!done);
}
__device__ __forceinline__ void tma_load(uint32_t dst, const CUtensorMap *map, uint32_t bar, int c0, int c1, int c2) {
    asm volatile("cp.async.bulk.tensor.3d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4, %5}], [%2];\n"
                 ::"r"(dst), "l"((uint64_t)map), "r"(bar), "r"(c0), "r"(c1), "r"(c2) : "memory");
}
__device__ __forceinline__ void tma_load5(uint32_t dst, const CUtensorMap *map, uint32_t bar, int c0, int c1, int c2,
                                          int c3, int c4) {
    asm volatile("cp.async.bulk.tensor.5d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4, %5, %6, %7}], [%2];\n"
                 ::"r"(dst), "l"((uint64_t)map), "r"(bar), "r"(c0), "r"(c1), "r"(c2), "r"(c3), "r"(c4) : "memory");
}
__device__ __forceinline__ void wg_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wg_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N> __device__ __forceinline__ void wg_wait() { asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory"); }
// Keeps the compiler from moving accesses to accumulator registers across wgmma issue/wait.
template <int N> __device__ __forceinline__ void reg_fence(float (&r)[N]) {
#pragma unroll
    for (int i = 0; i < N; i++) asm volatile("" : "+f"(r[i])::"memory");
}
// Shared-memory matrix descriptor: start address, leading / stride byte offsets, swizzle mode.
__device__ __forceinline__ uint64_t desc(uint32_t addr, uint32_t lbo, uint32_t sbo, int layout) {
    return (uint64_t)((addr & 0x3FFFF) >> 4) | (uint64_t)((lbo >> 4) & 0x3FFF) << 16 |
           (uint64_t)((sbo >> 4) & 0x3FFF) << 32 | (uint64_t)layout << 62;
}

// 2^x on the MUFU unit alone. exp2f (ex2.approx.f32) keeps denormal results by scaling around
// the MUFU op, three more instructions per score; flushing P values below 2^-126 to zero changes
// nothing a row's sum (>= 1) can see.
__device__ __forceinline__ float ex2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

// An ELEMENT predicate's row masks on one tile of raw scores (bit j + 16 c of a row's mask
// keeps column 8 j + 2 t + c). A loop of its own, run on partial entries only: folded into the
// softmax it cost every full tile two instructions per score. Only for scale > 0 (softmax_tile
// then takes the max of the raw scores); other scales mask inside softmax_tile, after scaling.
__device__ __forceinline__ void apply_row_masks(float (&s)[64], uint32_t em0, uint32_t em1) {
#pragma unroll
    for (int j = 0; j < 16; j++)
#pragma unroll
        for (int c = 0; c < 4; c++)
            if (!(((c < 2 ? em0 : em1) >> (j + 16 * (c & 1))) & 1u)) s[4 * j + c] = -INFINITY;
}

// Mask one tile of scores and fold it into the running max / sum (log2 domain) of a thread's
// two rows; leaves P = exp2(scale_log2 s - max) in s and returns the factors for O. POS (scale
// > 0): the max is taken on the raw scores and the scaling fused into exp2's argument (one FFMA
// per score); otherwise every score is scaled first.
template <bool POS, class Pred>
__device__ __forceinline__ void softmax_tile(float (&s)[64], float &m0, float &m1, float &l0, float &l1, float &a0,
                                             float &a1, const Params &p, const Pred &pred, bool masked, bool part,
                                             int bh, int k0, int r0, int r1, int t, uint32_t em0 = ~0u,
                                             uint32_t em1 = ~0u) {
    const float sl2 = p.scale_log2;
    float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
    for (int j = 0; j < 16; j++) {
#pragma unroll
        for (int c = 0; c < 4; c++) {
            float x = POS ? s[4 * j + c] : s[4 * j + c] * sl2;
            if (masked) {
                int kj = k0 + j * 8 + 2 * t + (c & 1), qi = c < 2 ? r0 : r1;
                if (!keep(p, pred, Pred::ELEMENT ? false : part, bh, qi, kj)) x = -INFINITY;
            }
            if constexpr (Pred::ELEMENT && !POS) { // row masks, after the scaling (see apply_row_masks)
                if (!(((c < 2 ? em0 : em1) >> (j + 16 * (c & 1))) & 1u)) x = -INFINITY;
            }
            s[4 * j + c] = x;
        }
        mx0 = fmaxf(mx0, fmaxf(s[4 * j], s[4 * j + 1]));
        mx1 = fmaxf(mx1, fmaxf(s[4 * j + 2], s[4 * j + 3]));
    }
    mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
    mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
    mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
    mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
    if (POS) mx0 *= sl2, mx1 *= sl2;
    mx0 = fmaxf(mx0, m0), mx1 = fmaxf(mx1, m1);
    const float u0 = mx0 == -INFINITY ? 0.f : mx0, u1 = mx1 == -INFINITY ? 0.f : mx1;
    a0 = ex2(m0 - u0), a1 = ex2(m1 - u1);
    m0 = mx0, m1 = mx1;
    float s0 = 0.f, s1 = 0.f;
#pragma unroll
    for (int j = 0; j < 16; j++) {
        if (POS) {
            s[4 * j] = ex2(fmaf(s[4 * j], sl2, -u0)), s[4 * j + 1] = ex2(fmaf(s[4 * j + 1], sl2, -u0));
            s[4 * j + 2] = ex2(fmaf(s[4 * j + 2], sl2, -u1)), s[4 * j + 3] = ex2(fmaf(s[4 * j + 3], sl2, -u1));
        } else {
            s[4 * j] = ex2(s[4 * j] - u0), s[4 * j + 1] = ex2(s[4 * j + 1] - u0);
            s[4 * j + 2] = ex2(s[4 * j + 2] - u1), s[4 * j + 3] = ex2(s[4 * j + 3] - u1);
        }
        s0 += s[4 * j] + s[4 * j + 1], s1 += s[4 * j + 2] + s[4 * j + 3];
    }
    l0 = l0 * a0 + s0, l1 = l1 * a1 + s1;
}
template <typename T> __device__ __forceinline__ void to_frag(const float (&s)[64], uint32_t (&pa)[8][4]) {
#pragma unroll
    for (int kk = 0; kk < 8; kk++) {
        pa[kk][0] = Ty<T>::pack(s[8 * kk + 0], s[8 * kk + 1]);
        pa[kk][1] = Ty<T>::pack(s[8 * kk + 2], s[8 * kk + 3]);
        pa[kk][2] = Ty<T>::pack(s[8 * kk + 4], s[8 * kk + 5]);
        pa[kk][3] = Ty<T>::pack(s[8 * kk + 6], s[8 * kk + 7]);
    }
}

template <typename T, int DP, class Pred, bool POS>
__global__ void __launch_bounds__(384, 1)
    fa3_kernel(const __grid_constant__ CUtensorMap tq, const __grid_constant__ CUtensorMap tk,
               const __grid_constant__ CUtensorMap tv, Params p, Pred pred) {
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
    using G = Geo<DP>;
    using W = Wgmma<DP, Ty<T>::bf16>;   // P V: N = DP
    using WS = Wgmma<128, Ty<T>::bf16>; // Q K^T: N = TILE_K
    constexpr int S = G::STAGES, KS = DP / 16;
    extern __shared__ unsigned char smem_raw[];
    const uint32_t base = (smem_u32(smem_raw) + 1023) & ~1023u;
    const uint32_t sQ = base, sK = sQ + G::TILE_BYTES, sV = sK + S * G::TILE_BYTES;
    const uint32_t bars = sV + S * G::TILE_BYTES; // q, q_empty, full_k[S], full_v[S], empty_k[S], empty_v[S]
    const uint32_t bar_q = bars, q_empty = bars + 8, full_k = bars + 16, full_v = full_k + 8 * S;
    const uint32_t empty_k = full_v + 8 * S, empty_v = empty_k + 8 * S;

    const int wg = threadIdx.x / 128, tid = threadIdx.x % 128;
    const int n_units = p.n_qtiles * p.bh;
    // Work unit u = (query tile, slice): slice-major so that the blocks running at once share K
    // and V in L2; causal runs take the longest query tiles first.
    auto unit_tile = [&](int u) { const int r = u % p.n_qtiles; return p.causal ? p.n_qtiles - 1 - r : r; };

    if (threadIdx.x == 0) {
        mbar_init(bar_q, 1);
        mbar_init(q_empty, 256);
        for (int s = 0; s < S; s++) {
            mbar_init(full_k + 8 * s, 1);
            mbar_init(full_v + 8 * s, 1);
            mbar_init(empty_k + 8 * s, 256);
            mbar_init(empty_v + 8 * s, 256);
        }
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
        asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
    }
    __syncthreads();

    // A block takes units blockIdx.x, + gridDim.x, ... (the launcher may start fewer blocks than
    // units: a persistent grid). `it` counts the key tiles the block has passed through the ring
    // (stage it % S, phase (it / S) & 1); Q has one buffer, refilled for unit n once the
    // consumers have issued their last Q K^T of unit n - 1 (q_empty), so the next unit's Q and
    // first K/V arrive while the consumers finish the previous one.
    if (wg == 0) { // ---------------------------------------------------------------- producer
        asm volatile("setmaxnreg.dec.sync.aligned.u32 24;\n");
        if (tid == 0) {
            for (const CUtensorMap *m : {&tq, &tk, &tv}) asm volatile("prefetch.tensormap [%0];\n" ::"l"(m) : "memory");
            // tile t (128 rows) of slice bh into dst, panel by panel
            auto load_tile = [&](uint32_t dst, const CUtensorMap *m, uint32_t bar, int t, int bh) {
                if constexpr (Pred::ELEMENT)
                    if (pred.direct) {
                        int x2, x1, x0;
                        pred.tile_origin(t, x2, x1, x0);
                        for (int pn = 0; pn < G::NP; pn++) tma_load5(dst + pn * G::PANEL_BYTES, m, bar, pn * G::PANEL, x2, x1, x0, bh);
                        return;
                    }
                for (int pn = 0; pn < G::NP; pn++) tma_load(dst + pn * G::PANEL_BYTES, m, bar, pn * G::PANEL, t * TILE_K, bh);
            };
            uint32_t it = 0;
            for (int u = blockIdx.x, n = 0; u < n_units; u += gridDim.x, n++) {
                const int qt = unit_tile(u), bh = u / p.n_qtiles;
                const TileList tl = tile_list(p, qt);
                mbar_wait(q_empty, (n & 1) ^ 1);
                mbar_expect_tx(bar_q, G::TILE_BYTES);
                load_tile(sQ, &tq, bar_q, qt, bh);
                for (int e = 0; e < tl.count; e++, it++) {
                    const int s = it % S;
                    const uint32_t ph = (it / S) & 1;
                    const int kt = tl.tile(e);
                    mbar_wait(empty_k + 8 * s, ph ^ 1);
                    mbar_expect_tx(full_k + 8 * s, G::TILE_BYTES);
                    load_tile(sK + s * G::TILE_BYTES, &tk, full_k + 8 * s, kt, bh);
                    mbar_wait(empty_v + 8 * s, ph ^ 1);
                    mbar_expect_tx(full_v + 8 * s, G::TILE_BYTES);
                    load_tile(sV + s * G::TILE_BYTES, &tv, full_v + 8 * s, kt, bh);
                }
            }
        }
    } else { // ------------------------------------------------------------------------ consumers
    asm volatile("setmaxnreg.inc.sync.aligned.u32 240;\n");
    const int cw = wg - 1, warp = tid / 32, lane = tid % 32, g = lane / 4, t = lane % 4;
    const int lr0 = cw * 64 + warp * 16 + g, lr1 = lr0 + 8; // the thread's two rows in the tile
    // descriptors without the start address; per k-step offsets are added to the address field
    const uint64_t dq = desc(sQ + cw * 64 * G::SW, 16, 8 * G::SW, G::LAYOUT);
    const uint64_t dk = desc(sK, 16, 8 * G::SW, G::LAYOUT);
    const uint64_t dv = desc(sV, G::PANEL_BYTES, 8 * G::SW, G::LAYOUT);
    auto kstep = [](int kk) -> uint32_t { // byte offset of k-step kk (16 columns) in a K-major tile
        return (uint32_t)((kk * 16 / G::PANEL) * G::PANEL_BYTES + (kk * 16 % G::PANEL) * 2);
    };
    // the predicate's per-row table, after the barriers (256 bytes reserved for them)
    unsigned char *psm = smem_raw + (bars + 256 - smem_u32(smem_raw));
    float o[DP / 2], s[64];
    uint32_t pa[8][4];

    uint32_t it = 0;
    for (int u = blockIdx.x, n = 0; u < n_units; u += gridDim.x, n++) {
    const int qt = unit_tile(u), bh = u / p.n_qtiles, q0 = qt * TILE_Q;
    const int r0 = q0 + lr0, r1 = q0 + lr1;
    const TileList tl = tile_list(p, qt);
#pragma unroll
    for (int i = 0; i < DP / 2; i++) o[i] = 0.f;
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.f, l1 = 0.f;
    if constexpr (Pred::ELEMENT) {
        __syncwarp(); // the previous unit's reads are done
        if (t == 0) pred.init_rows(psm, qt, lr0, lr1);
        __syncwarp(); // the rows of a quad are written and read by that quad's warp only
    }

    mbar_wait(bar_q, n & 1);
    auto issue_qk = [&](int e) {
        const int st = (it + e) % S;
        mbar_wait(full_k + 8 * st, ((it + e) / S) & 1);
        reg_fence(s);
        wg_fence();
#pragma unroll
        for (int kk = 0; kk < KS; kk++)
            WS::ss(s, dq + (kstep(kk) >> 4), dk + ((st * G::TILE_BYTES + kstep(kk)) >> 4), kk > 0);
        wg_commit();
        reg_fence(s);
    };
    auto issue_pv = [&](int e) {
        const int st = (it + e) % S;
        mbar_wait(full_v + 8 * st, ((it + e) / S) & 1);
        reg_fence(o);
        wg_fence();
#pragma unroll
        for (int kk = 0; kk < 8; kk++) W::rs(o, pa[kk], dv + ((st * G::TILE_BYTES + kk * 16 * G::SW) >> 4), 1);
        wg_commit();
        reg_fence(o);
    };
    // K and V of a stage are released apart: K once its Q K^T is done, so that the next K can
    // arrive while this tile's P V still runs
    auto release_k = [&](int e) { mbar_arrive(empty_k + 8 * ((it + e) % S)); };
    auto release_v = [&](int e) { mbar_arrive(empty_v + 8 * ((it + e) % S)); };
    auto rescale_o = [&](float a0, float a1) {
#pragma unroll
        for (int j = 0; j < DP / 8; j++) o[4 * j] *= a0, o[4 * j + 1] *= a0, o[4 * j + 2] *= a1, o[4 * j + 3] *= a1;
    };
    auto softmax = [&](int e, float &a0, float &a1) {
        const int kt = tl.tile(e);
        const bool part = tl.is_partial(e);
        if constexpr (Pred::ELEMENT) {
            const int k0 = kt * TILE_K;
            const bool masked = k0 + TILE_K > p.lk || (p.causal && k0 + TILE_K - 1 > q0);
            uint32_t em0 = ~0u, em1 = ~0u;
            if (part) {
                pred.tile_masks(psm, qt, kt, lr0, lr1, t, em0, em1);
                if (POS) apply_row_masks(s, em0, em1);
            }
            softmax_tile<POS>(s, m0, m1, l0, l1, a0, a1, p, pred, masked, part, bh, k0, r0, r1, t, em0, em1);
        } else {
            const bool masked = tile_needs_mask(p, tl, e, kt, q0);
            softmax_tile<POS>(s, m0, m1, l0, l1, a0, a1, p, pred, masked, part, bh, kt * TILE_K, r0, r1, t);
        }
    };

    if (tl.count > 0) {
        float a0, a1; // the factors that take O from tile e-1's running max to tile e's
        issue_qk(0);
        wg_wait<0>();
        reg_fence(s);
        release_k(0);
        if (tl.count == 1) mbar_arrive(q_empty); // the unit's last Q K^T is done: Q may be refilled
        softmax(0, a0, a1);
        to_frag<T>(s, pa);
        for (int e = 1; e < tl.count; e++) {
            issue_qk(e);
            rescale_o(a0, a1); // O (final through P V of tile e-2) takes tile e-1's max while Q K^T(e) runs
            issue_pv(e - 1);
            wg_wait<1>(); // S of tile e is ready; P V of tile e-1 may still run
            reg_fence(s);
            release_k(e);
            if (e == tl.count - 1) mbar_arrive(q_empty);
            softmax(e, a0, a1);
            wg_wait<0>();
            reg_fence(o);
            release_v(e - 1);
            to_frag<T>(s, pa);
        }
        rescale_o(a0, a1);
        issue_pv(tl.count - 1);
        wg_wait<0>();
        reg_fence(o);
        release_v(tl.count - 1);
    } else {
        mbar_arrive(q_empty);
    }
    it += tl.count;

    l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
    l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
    const float i0 = l0 > 0.f ? 1.f / l0 : 0.f, i1 = l1 > 0.f ? 1.f / l1 : 0.f;
    const int d = p.d;
    int w0 = r0 < p.lq ? r0 : -1, w1 = r1 < p.lq ? r1 : -1, yr = p.lq;
    if (p.y_row) w0 = w0 >= 0 ? p.y_row[w0] : -1, w1 = w1 >= 0 ? p.y_row[w1] : -1, yr = p.y_rows;
    uint32_t *yg = (uint32_t *)((uint16_t *)p.y + (int64_t)bh * yr * d);
#pragma unroll
    for (int j = 0; j < DP / 8; j++) {
        int c = j * 8 + 2 * t;
        if (c < d) {
            if (w0 >= 0) yg[((int64_t)w0 * d + c) / 2] = Ty<T>::pack(o[4 * j] * i0, o[4 * j + 1] * i0);
            if (w1 >= 0) yg[((int64_t)w1 * d + c) / 2] = Ty<T>::pack(o[4 * j + 2] * i1, o[4 * j + 3] * i1);
        }
    }
    } // units
    } // consumers
#else
    __trap(); // built for another target: the launcher only runs it on sm_90a
#endif
}

// --- host side -------------------------------------------------------------------------------
typedef CUresult (*encode_fn)(CUtensorMap *, CUtensorMapDataType, cuuint32_t, void *, const cuuint64_t *,
                              const cuuint64_t *, const cuuint32_t *, const cuuint32_t *, CUtensorMapInterleave,
                              CUtensorMapSwizzle, CUtensorMapL2promotion, CUtensorMapFloatOOBfill);
// cuTensorMapEncodeTiled through the runtime's driver entry point (no link against libcuda).
static inline encode_fn tma_encode_fn() {
    static encode_fn fn = nullptr;
    if (!fn) {
        void *f = nullptr;
        cudaDriverEntryPointQueryResult q;
        if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &f, 12000, cudaEnableDefault, &q) == cudaSuccess &&
            q == cudaDriverEntryPointSuccess)
            fn = (encode_fn)f;
    }
    return fn;
}
// A rank-dimensional tensor map over ptr (dimension 0: the head's d columns), boxes of one
// panel of columns with the panel's swizzle; coordinates outside read as zeros. L2 promotion of
// 128 bytes: 256 cost 10% at d = 72, whose 144-byte rows straddle the larger lines.
template <typename T, int DP>
static inline bool encode_map(CUtensorMap *m, const void *ptr, int rank, const cuuint64_t *dim,
                              const cuuint64_t *stride, const cuuint32_t *box) {
    using G = Geo<DP>;
    encode_fn enc = tma_encode_fn();
    if (!enc) return false;
    const cuuint32_t es[5] = {1, 1, 1, 1, 1};
    CUtensorMapSwizzle sw = G::SW == 128 ? CU_TENSOR_MAP_SWIZZLE_128B
                            : G::SW == 64 ? CU_TENSOR_MAP_SWIZZLE_64B
                                          : CU_TENSOR_MAP_SWIZZLE_32B;
    CUresult r = enc(m, Ty<T>::bf16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 : CU_TENSOR_MAP_DATA_TYPE_FLOAT16, rank,
                     const_cast<void *>(ptr), dim, stride, box, es, CU_TENSOR_MAP_INTERLEAVE_NONE, sw,
                     CU_TENSOR_MAP_L2_PROMOTION_L2_128B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    return r == CUDA_SUCCESS;
}
// A (bh, L, d) tensor seen as 3-D, boxes of one panel x 128 rows x 1 slice; rows past L and
// columns past d read as zeros.
template <typename T, int DP>
static inline bool make_map(CUtensorMap *m, const void *ptr, int bh, int L, int d) {
    const cuuint64_t dim[3] = {(cuuint64_t)d, (cuuint64_t)L, (cuuint64_t)bh};
    const cuuint64_t stride[2] = {(cuuint64_t)d * 2, (cuuint64_t)L * d * 2};
    const cuuint32_t box[3] = {(cuuint32_t)Geo<DP>::PANEL, 128, 1};
    return encode_map<T, DP>(m, ptr, 3, dim, stride, box);
}
// NaPred's direct mode: q, k or v as (bh, grid, d) with the grid row-major over the internal
// axes 0, 1, 2 (size 1 where unused), seen as 5-D (d, axis 2, axis 1, axis 0, bh), boxes of one
// panel x one tile (T[2], T[1], T[0]) x 1 slice: the tile's 128 tokens in row-major order, as
// the permutation has them; tokens outside the grid read as zeros.
template <typename T, int DP>
static inline bool make_grid_map(CUtensorMap *m, const void *ptr, int bh, int d, const NaPred &pr) {
    cuuint64_t S[3];
    for (int i = 0; i < 3; i++) S[i] = i >= pr.off ? (cuuint64_t)pr.na.size[i - pr.off] : 1;
    const cuuint64_t dim[5] = {(cuuint64_t)d, S[2], S[1], S[0], (cuuint64_t)bh};
    const cuuint64_t row = (cuuint64_t)d * 2;
    const cuuint64_t stride[4] = {row, row * S[2], row * S[2] * S[1], row * S[2] * S[1] * S[0]};
    const cuuint32_t box[5] = {(cuuint32_t)Geo<DP>::PANEL, (cuuint32_t)pr.T[2], (cuuint32_t)pr.T[1],
                               (cuuint32_t)pr.T[0], 1};
    return encode_map<T, DP>(m, ptr, 5, dim, stride, box);
}

// POS: the softmax takes the max of the raw scores and fuses the scaling into exp2's argument,
// valid for scale > 0 (the usual case); other scales get the variant that scales first. A
// run-time branch between the two inside the kernel cost 25% (docs/attention_kernel.md).
// blocks: how many blocks to start (each takes every blocks-th work unit); 0 or more than the
// units: one block per unit.
template <typename T, int DP, class Pred = DensePred>
cudaError_t launch(const Params &p, cudaStream_t st, Pred pred = Pred(), int blocks = 0) {
    auto map = [&](CUtensorMap *m, const void *ptr, int L) {
        if constexpr (Pred::ELEMENT)
            if (pred.direct) return make_grid_map<T, DP>(m, ptr, p.bh, p.d, pred);
        return make_map<T, DP>(m, ptr, p.bh, L, p.d);
    };
    CUtensorMap tq, tk, tv;
    if (!map(&tq, p.q, p.lq) || !map(&tk, p.k, p.lk) || !map(&tv, p.v, p.lk)) return cudaErrorInvalidValue;
    auto kern = p.scale_log2 > 0.f ? fa3_kernel<T, DP, Pred, true> : fa3_kernel<T, DP, Pred, false>;
    const size_t sm = Geo<DP>::SMEM + Pred::SMEM_BYTES;
    cudaError_t e = cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sm);
    if (e != cudaSuccess) return e;
    const int64_t units = (int64_t)p.n_qtiles * p.bh;
    if (units < 1 || units > INT32_MAX) return cudaErrorInvalidValue;
    kern<<<(unsigned)(blocks > 0 && blocks < units ? blocks : units), 384, sm, st>>>(tq, tk, tv, p, pred);
    return cudaGetLastError();
}
} // namespace fa3

} // namespace snfa
#endif
