// Neighborhood attention on the CUDA backend (contract in neighborhood.h): the plan (token
// permutation and block-sparse schedule, built on the host with core/neighborhood.h's tile
// helpers and cached), the gather / un-permute kernels, and the launch of the fused attention
// kernel of flash_attention.cuh with NATTEN's predicate (snfa::NaPred).
#include <mutex>
#include <vector>

#include "common.cuh"
#include "flash_attention.cuh"

extern "C" {
#include "flash_attention.h"
#include "neighborhood.h"
}

namespace {

constexpr int TILE = 128;

// --- the plan ------------------------------------------------------------------------------
struct Plan {
    sn_na_params key; // normalized: unused axes zero
    int64_t extra;    // lk - lq
    int device;
    int identity;
    int64_t np, n_qtiles;
    int32_t *offset = nullptr, *kv = nullptr, *perm = nullptr, *inv = nullptr;
    uint8_t *partial = nullptr;
    snfa::NaPred pred;
    sn_cuda_na_info info;
};

std::mutex plans_mu;
std::vector<Plan *> plans; // never freed: captured graphs may hold their pointers

sn_na_params normalize(const sn_na_params *p) {
    sn_na_params n;
    memset(&n, 0, sizeof n);
    n.axes = p->axes;
    for (int a = 0; a < p->axes; a++) {
        n.size[a] = p->size[a], n.window[a] = p->window[a], n.stride[a] = p->stride[a];
        n.dilation[a] = p->dilation[a], n.causal[a] = p->causal[a] != 0;
    }
    return n;
}

// Host-side schedule of one tile shape (real axes). Fills the CSR arrays; returns the cost
// used to choose among shapes (entries, partial ones weighted more).
struct Sched {
    std::vector<int32_t> offset, kv;
    std::vector<uint8_t> partial;
    int64_t entries = 0, npartial = 0;
    int nt[SN_NA_MAX_AXES] = {1, 1, 1}, ntt = 1, groups = 1;
};

void build_sched(const sn_na_params *p, const int *shape, int64_t extra, int64_t np, Sched *s) {
    const int axes = p->axes;
    s->groups = 1, s->ntt = 1;
    for (int a = 0; a < axes; a++) {
        const int lg = sn_na_group_len(p->size[a], p->dilation[a], 0); // the longest group
        s->nt[a] = (lg + shape[a] - 1) / shape[a];
        s->ntt *= s->nt[a];
        s->groups *= p->dilation[a];
    }
    const int n_qt = s->groups * s->ntt;
    const int extra_t0 = (int)(np / TILE), extra_tiles = (int)((extra + TILE - 1) / TILE);
    s->offset.assign(1, 0);
    s->kv.clear(), s->partial.clear();
    s->entries = s->npartial = 0;
    for (int qt = 0; qt < n_qt; qt++) {
        const int g = qt / s->ntt, tl = qt % s->ntt;
        int gc[SN_NA_MAX_AXES] = {0, 0, 0}, tc[SN_NA_MAX_AXES] = {0, 0, 0};
        for (int a = axes - 1, r = g, u = tl; a >= 0; a--) {
            gc[a] = r % p->dilation[a], r /= p->dilation[a];
            tc[a] = u % s->nt[a], u /= s->nt[a];
        }
        sn_na_box qb = sn_na_tile_box(p, gc, shape, tc);
        int empty = 0;
        for (int a = 0; a < axes; a++) empty |= qb.lo[a] >= qb.hi[a];
        if (!empty) {
            int t0[SN_NA_MAX_AXES] = {0, 0, 0}, t1[SN_NA_MAX_AXES] = {1, 1, 1};
            sn_na_kv_tiles(p, &qb, shape, t0, t1);
            int kc[SN_NA_MAX_AXES];
            for (kc[0] = t0[0]; kc[0] < t1[0]; kc[0]++)
                for (kc[1] = axes > 1 ? t0[1] : 0; kc[1] < (axes > 1 ? t1[1] : 1); kc[1]++)
                    for (kc[2] = axes > 2 ? t0[2] : 0; kc[2] < (axes > 2 ? t1[2] : 1); kc[2]++) {
                        sn_na_box kb = sn_na_tile_box(p, gc, shape, kc);
                        if (!sn_na_box_touches(p, &qb, &kb)) continue;
                        int full = sn_na_box_full(p, &qb, &kb), flat = 0;
                        for (int a = 0; a < axes; a++) {
                            full &= kb.hi[a] - kb.lo[a] == shape[a]; // padding keys: mask them
                            flat = flat * s->nt[a] + kc[a];
                        }
                        s->kv.push_back(g * s->ntt + flat);
                        s->partial.push_back((uint8_t)!full);
                        s->entries++, s->npartial += !full;
                    }
        }
        for (int e = 0; e < extra_tiles; e++) s->kv.push_back(extra_t0 + e), s->partial.push_back(0);
        s->offset.push_back((int32_t)s->kv.size());
    }
}

// The host half of a plan: the tile shape (fewest visited tiles, partial ones weighted), the
// schedule, the predicate's parameters and the permutation. Returns -1 when nothing fits int32.
struct HostPlan {
    Sched s;
    snfa::NaPred pred;
    std::vector<int32_t> perm, inv;
    int identity = 0, shape[3] = {1, 1, 1};
    int64_t np = 0;
};
int make_host_plan(const sn_na_params *kpp, int64_t lq, int64_t extra, HostPlan *hp) {
    const sn_na_params &kp = *kpp;
    const int axes = kp.axes;
    // candidate tile shapes over the real axes, and their internal (A, B, 8) split
    int shapes[3][3], ncand = 0, As[3];
    if (axes == 1) shapes[0][0] = TILE, As[0] = 1, ncand = 1;
    else if (axes == 2) shapes[0][0] = 16, shapes[0][1] = 8, As[0] = 1, ncand = 1;
    else
        for (int A = 1; A <= 4; A *= 2) shapes[ncand][0] = A, shapes[ncand][1] = 16 / A, shapes[ncand][2] = 8,
                                         As[ncand++] = A;
    Sched &best = hp->s, cur;
    int bi = -1;
    double best_cost = 0;
    int64_t best_np = 0;
    for (int c = 0; c < ncand; c++) {
        int64_t groups = 1, ntt = 1;
        for (int a = 0; a < axes; a++) {
            int lg = sn_na_group_len(kp.size[a], kp.dilation[a], 0);
            ntt *= (lg + shapes[c][a] - 1) / shapes[c][a];
            groups *= kp.dilation[a];
        }
        const int64_t np = groups * ntt * TILE;
        if (np + extra > INT32_MAX) continue;
        build_sched(&kp, shapes[c], extra, np, &cur);
        double cost = (double)cur.entries + 0.3 * (double)cur.npartial;
        if (bi < 0 || cost < best_cost) bi = c, best_cost = cost, best_np = np, std::swap(best, cur);
    }
    if (bi < 0) return -1;
    hp->np = best_np;
    for (int a = 0; a < 3; a++) hp->shape[a] = a < axes ? shapes[bi][a] : 1;
    const int *shape = hp->shape;
    hp->identity = axes == 1 && kp.dilation[0] == 1 && (lq % TILE == 0 || extra == 0);
    // NaPred
    snfa::NaPred &pr = hp->pred;
    memset(&pr, 0, sizeof pr);
    pr.na = kp;
    pr.nd1 = axes == 1;
    pr.off = 3 - axes;
    pr.A = As[bi];
    pr.bsh = pr.A == 1 ? 4 : pr.A == 2 ? 3 : 2;
    for (int i = 0; i < 3; i++) pr.T[i] = 1, pr.nt[i] = 1;
    for (int a = 0; a < axes; a++) pr.T[pr.off + a] = shape[a], pr.nt[pr.off + a] = best.nt[a];
    if (axes == 1) pr.A = 1, pr.bsh = 4; // unused in 1-D
    pr.ntt = best.ntt;
    pr.dnt2.init((uint32_t)pr.nt[2]);
    pr.dnt1.init((uint32_t)pr.nt[1]);
    // one dilation group and no extra tokens: the kernel reads the tiles straight from the grid
    int groups = 1;
    for (int a = 0; a < axes; a++) groups *= kp.dilation[a];
    pr.direct = !hp->identity && groups == 1 && extra == 0;
    // permutation: perm[permuted row] = grid token or -1 (padding); inv[token] = permuted row
    std::vector<int32_t> &perm = hp->perm, &inv = hp->inv;
    perm.assign(hp->identity ? 0 : best_np, -1), inv.assign(hp->identity ? 0 : lq, -1);
    if (!hp->identity) {
        for (int64_t r = 0; r < best_np; r++) {
            const int64_t qt = r / TILE;
            const int o = (int)(r % TILE), g = (int)(qt / best.ntt), tl = (int)(qt % best.ntt);
            int gc[3] = {0, 0, 0}, tc[3] = {0, 0, 0}, oc[3] = {0, 0, 0};
            for (int a = axes - 1, rg = g, u = tl, ro = o; a >= 0; a--) {
                gc[a] = rg % kp.dilation[a], rg /= kp.dilation[a];
                tc[a] = u % best.nt[a], u /= best.nt[a];
                oc[a] = ro % shape[a], ro /= shape[a];
            }
            int64_t tok = 0;
            int pad = 0;
            for (int a = 0; a < axes; a++) {
                const int x = tc[a] * shape[a] + oc[a];
                pad |= x >= sn_na_group_len(kp.size[a], kp.dilation[a], gc[a]);
                tok = tok * kp.size[a] + (int64_t)x * kp.dilation[a] + gc[a];
            }
            perm[r] = pad ? -1 : (int32_t)tok;
            if (!pad) inv[tok] = (int32_t)r;
        }
    }
    return 0;
}

template <typename X> X *upload(sn_ctx *ctx, const std::vector<X> &h, cudaStream_t st) {
    void *d = nullptr;
    size_t bytes = (h.size() ? h.size() : 1) * sizeof(X);
    if (!CU(ctx, cudaMalloc(&d, bytes))) return nullptr;
    if (h.size() && !CU(ctx, cudaMemcpyAsync(d, h.data(), bytes, cudaMemcpyHostToDevice, st))) return nullptr;
    return (X *)d;
}

int check_args(sn_ctx *ctx, const sn_na_params *p, int64_t lq, int64_t lk) {
    char err[256];
    if (!p || sn_na_check(p, err, sizeof err)) {
        sn_fail(ctx, "neighborhood attention (CUDA): %s", p ? err : "no parameters");
        return 0;
    }
    if (lq != sn_na_tokens(p) || lk < lq || lk > INT32_MAX) {
        sn_fail(ctx, "neighborhood attention (CUDA): lq %lld must be the grid's %d tokens and lk %lld >= lq",
                (long long)lq, sn_na_tokens(p), (long long)lk);
        return 0;
    }
    return 1;
}

// The plan of (p, lk - lq) on the current device: from the cache, or built now (not while
// the context's stream is being captured).
Plan *get_plan(sn_ctx *ctx, const sn_na_params *p, int64_t lq, int64_t lk) {
    if (!check_args(ctx, p, lq, lk)) return nullptr;
    int dev = 0;
    if (!CU(ctx, cudaGetDevice(&dev))) return nullptr;
    const sn_na_params key = normalize(p);
    const int64_t extra = lk - lq;
    std::lock_guard<std::mutex> lock(plans_mu);
    for (Plan *pl : plans)
        if (pl->device == dev && pl->extra == extra && !memcmp(&pl->key, &key, sizeof key)) return pl;
    if (sn_ctx_capturing(ctx)) {
        sn_fail(ctx, "neighborhood attention (CUDA): no plan for these parameters while a graph is captured "
                     "(call sn_cuda_na_prepare or run once outside the capture first)");
        return nullptr;
    }
    HostPlan hp;
    if (make_host_plan(&key, lq, extra, &hp)) {
        sn_fail(ctx, "neighborhood attention (CUDA): the padded grid does not fit an int32");
        return nullptr;
    }
    Plan *pl = new Plan();
    pl->key = key, pl->extra = extra, pl->device = dev, pl->np = hp.np, pl->n_qtiles = hp.np / TILE;
    pl->identity = hp.identity;
    pl->pred = hp.pred;
    const Sched &best = hp.s;
    const std::vector<int32_t> &perm = hp.perm;
    const int axes = key.axes;
    const int64_t best_np = hp.np;
    const int *shape = hp.shape;
    cudaStream_t st = sn_cuda_stream(ctx);
    pl->offset = upload(ctx, best.offset, st);
    pl->kv = upload(ctx, best.kv, st);
    pl->partial = upload(ctx, best.partial, st);
    if (!pl->identity) pl->perm = upload(ctx, perm, st);
    if (!sn_ok(ctx) || !CU(ctx, cudaStreamSynchronize(st))) return nullptr; // (leaks the partial plan)
    sn_cuda_na_info &in = pl->info;
    memset(&in, 0, sizeof in);
    for (int a = 0; a < axes; a++) in.tile[a] = shape[a];
    in.identity = pl->identity;
    in.direct = pl->pred.direct;
    in.padded = best_np, in.q_tiles = best_np / TILE, in.grid_tiles = best_np / TILE;
    in.entries = best.entries, in.partial = best.npartial, in.extra_tiles = (extra + TILE - 1) / TILE;
    plans.push_back(pl);
    return pl;
}

// --- gather / un-permute -------------------------------------------------------------------
// dst[z][b][r] = src[z][b][idx[r]] (zeros where idx is -1) for r < idx_len, and
// src[z][b][extra0 + r - idx_len] for idx_len <= r < dst_rows[z]: rows of CH 16-byte chunks.
struct GatherArgs {
    const uint4 *src[3];
    uint4 *dst[3];
    int64_t src_rows[3], dst_rows[3];
    const int32_t *idx;
    int64_t idx_len, extra0;
};
constexpr int G_ROWS = 64, G_THREADS = 256;
template <int CH> __global__ void __launch_bounds__(G_THREADS) gather_rows(GatherArgs a) {
    const int z = blockIdx.z, b = blockIdx.y;
    // (selects, not a run-time index into the parameter arrays: that would copy them to the stack)
    const int64_t r0 = (int64_t)blockIdx.x * G_ROWS;
    const int64_t rows = z == 0 ? a.dst_rows[0] : z == 1 ? a.dst_rows[1] : a.dst_rows[2];
    const int64_t srows = z == 0 ? a.src_rows[0] : z == 1 ? a.src_rows[1] : a.src_rows[2];
    const uint4 *src = (z == 0 ? a.src[0] : z == 1 ? a.src[1] : a.src[2]) + (int64_t)b * srows * CH;
    uint4 *dst = (z == 0 ? a.dst[0] : z == 1 ? a.dst[1] : a.dst[2]) + (int64_t)b * rows * CH;
    if (r0 >= rows) return;
#pragma unroll 4
    for (int i = threadIdx.x; i < G_ROWS * CH; i += G_THREADS) {
        const int64_t r = r0 + i / CH;
        const int c = i % CH;
        if (r >= rows) continue;
        const int64_t sr = r < a.idx_len ? (int64_t)__ldg(a.idx + r) : a.extra0 + (r - a.idx_len);
        uint4 v = make_uint4(0, 0, 0, 0);
        if (sr >= 0) v = __ldg(src + sr * CH + c);
        dst[r * CH + c] = v;
    }
}
cudaError_t gather(const GatherArgs &a, int nz, int64_t max_rows, int64_t bh, int64_t d, cudaStream_t st) {
    dim3 grid((unsigned)((max_rows + G_ROWS - 1) / G_ROWS), (unsigned)bh, nz);
    switch (d / 8) {
    case 8: gather_rows<8><<<grid, G_THREADS, 0, st>>>(a); break;
    case 9: gather_rows<9><<<grid, G_THREADS, 0, st>>>(a); break;
    case 10: gather_rows<10><<<grid, G_THREADS, 0, st>>>(a); break;
    case 12: gather_rows<12><<<grid, G_THREADS, 0, st>>>(a); break;
    case 16: gather_rows<16><<<grid, G_THREADS, 0, st>>>(a); break;
    default: return cudaErrorInvalidValue;
    }
    return cudaGetLastError();
}

// --- the attention kernel ----------------------------------------------------------------
template <typename T> cudaError_t na_launch_dt(const snfa::Params &p, const snfa::NaPred &pred, cudaStream_t st) {
    switch (p.d) {
    case 64: return snfa::fa3::launch<T, 64, snfa::NaPred>(p, st, pred);
    case 72:
    case 80: return snfa::fa3::launch<T, 80, snfa::NaPred>(p, st, pred);
    case 96: return snfa::fa3::launch<T, 96, snfa::NaPred>(p, st, pred);
    case 128: return snfa::fa3::launch<T, 128, snfa::NaPred>(p, st, pred);
    default: return cudaErrorNotSupported;
    }
}

} // namespace

extern "C" int sn_cuda_na_supported(sn_dtype dt, int64_t d) { return sn_fa_supported(dt, d); }

extern "C" void sn_cuda_na_prepare(sn_ctx *ctx, const sn_na_params *p, int64_t lq, int64_t lk) {
    if (sn_ok(ctx)) get_plan(ctx, p, lq, lk);
}

extern "C" int sn_cuda_na_plan_info(sn_ctx *ctx, const sn_na_params *p, int64_t lq, int64_t lk,
                                    sn_cuda_na_info *info) {
    if (!sn_ok(ctx)) return -1;
    Plan *pl = get_plan(ctx, p, lq, lk);
    if (!pl) return -1;
    *info = pl->info;
    return 0;
}

extern "C" void sn_cuda_na_attention(sn_ctx *ctx, sn_dtype dt, const void *q, const void *k, const void *v,
                                     void *y, int64_t bh, int64_t lq, int64_t lk, int64_t d, float scale,
                                     const sn_na_params *p) {
    if (!sn_ok(ctx)) return;
    if (!sn_cuda_na_supported(dt, d)) {
        sn_fail(ctx, "neighborhood attention (CUDA): %s with head size %lld is not supported (needs bf16/f16, "
                     "d in 64, 72, 80, 96, 128 and a Hopper GPU)",
                sn_dtype_name(dt), (long long)d);
        return;
    }
    if (bh < 1 || bh > 65535 || (((uintptr_t)q | (uintptr_t)k | (uintptr_t)v | (uintptr_t)y) & 15)) {
        sn_fail(ctx, "neighborhood attention (CUDA): bad arguments (bh %lld, pointers 16-byte aligned: %d)",
                (long long)bh, !(((uintptr_t)q | (uintptr_t)k | (uintptr_t)v | (uintptr_t)y) & 15));
        return;
    }
    Plan *pl = get_plan(ctx, p, lq, lk);
    if (!pl) return;
    cudaStream_t st = sn_cuda_stream(ctx);
    const int64_t extra = lk - lq;
    snfa::Params fp{};
    fp.bh = (int)bh, fp.d = (int)d;
    fp.scale_log2 = scale * 1.4426950408889634f;
    fp.causal = 0;
    fp.offset = pl->offset, fp.kv_tile = pl->kv, fp.partial = pl->partial;
    fp.n_qtiles = (int)pl->n_qtiles;
    sn_scope sc = sn_scope_begin(ctx);
    void *qp = (void *)q, *kp = (void *)k, *vp = (void *)v, *yp = y;
    if (pl->identity) {
        fp.lq = (int)lq, fp.lk = (int)lk;
    } else if (pl->pred.direct) { // the kernel's loads do the permutation, its epilogue the inverse
        fp.lq = fp.lk = (int)pl->np;
        fp.y_row = pl->perm, fp.y_rows = (int)lq;
    } else {
        const int64_t np = pl->np, nk = np + extra;
        const size_t row = (size_t)d * 2;
        qp = sn_alloc(ctx, (size_t)bh * np * row);
        kp = sn_alloc(ctx, (size_t)bh * nk * row);
        vp = sn_alloc(ctx, (size_t)bh * nk * row);
        if (!sn_ok(ctx)) {
            sn_scope_end(ctx, sc, sn_none());
            return;
        }
        fp.lq = (int)np, fp.lk = (int)nk;
        fp.y_row = pl->perm, fp.y_rows = (int)lq; // the un-permute, in the kernel's epilogue
        GatherArgs a{};
        a.src[0] = (const uint4 *)q, a.src[1] = (const uint4 *)k, a.src[2] = (const uint4 *)v;
        a.dst[0] = (uint4 *)qp, a.dst[1] = (uint4 *)kp, a.dst[2] = (uint4 *)vp;
        a.src_rows[0] = lq, a.src_rows[1] = a.src_rows[2] = lk;
        a.dst_rows[0] = np, a.dst_rows[1] = a.dst_rows[2] = nk;
        a.idx = pl->perm, a.idx_len = np, a.extra0 = lq;
        if (!CU(ctx, gather(a, 3, nk, bh, d, st))) {
            sn_scope_end(ctx, sc, sn_none());
            return;
        }
    }
    fp.q = qp, fp.k = kp, fp.v = vp, fp.y = yp;
    cudaError_t e = dt == SN_BF16 ? na_launch_dt<__nv_bfloat16>(fp, pl->pred, st)
                                  : na_launch_dt<__half>(fp, pl->pred, st);
    if (e == cudaErrorInvalidValue)
        sn_fail(ctx, "neighborhood attention (CUDA): cuTensorMapEncodeTiled failed (d %lld)", (long long)d);
    else
        CU(ctx, e);
    sn_scope_end(ctx, sc, sn_none());
}
