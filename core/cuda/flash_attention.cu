// The C launcher of the fused bf16/fp16 attention forward (contract in flash_attention.h,
// kernels in flash_attention.cuh): picks the padded head width and the dtype, fills the kernel
// parameters and queues the kernel on the context's stream.
#include "common.cuh"
#include "flash_attention.cuh"

extern "C" {
#include "flash_attention.h"
}

namespace {

template <typename T> cudaError_t fa_launch_dt(const snfa::Params &p, cudaStream_t st, int blocks) {
    const snfa::DensePred dense;
    switch (p.d) {
    case 64: return snfa::fa3::launch<T, 64>(p, st, dense, blocks);
    case 72:
    case 80: return snfa::fa3::launch<T, 80>(p, st, dense, blocks);
    case 96: return snfa::fa3::launch<T, 96>(p, st, dense, blocks);
    case 128: return snfa::fa3::launch<T, 128>(p, st, dense, blocks);
    default: return cudaErrorInvalidValue;
    }
}

// The kernel is built for sm_90a only (wgmma, TMA, setmaxnreg): the current device must be a
// Hopper (compute capability 9.0).
int fa_device_ok() {
    int dev, major = 0, minor = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) ||
        cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev))
        return 0;
    return major == 9 && minor == 0;
}

} // namespace

extern "C" void sn_fa_tile_shape(int64_t d, sn_dtype dt, int *tile_q, int *tile_k) {
    (void)d, (void)dt;
    if (tile_q) *tile_q = snfa::TILE_Q;
    if (tile_k) *tile_k = snfa::TILE_K;
}

extern "C" int sn_fa_supported(sn_dtype dt, int64_t d) {
    return (dt == SN_BF16 || dt == SN_F16) && (d == 64 || d == 72 || d == 80 || d == 96 || d == 128) &&
           fa_device_ok();
}

extern "C" void sn_cuda_flash_attention(sn_ctx *ctx, sn_dtype dt, const void *q, const void *k, const void *v,
                                        void *y, int64_t bh, int64_t lq, int64_t lk, int64_t d, float scale,
                                        int causal, const sn_fa_schedule *sched) {
    if (!sn_ok(ctx)) return;
    if (!sn_fa_supported(dt, d)) {
        sn_fail(ctx, "flash attention: %s with head size %lld is not supported%s", sn_dtype_name(dt), (long long)d,
                fa_device_ok() ? "" : " (the kernel needs a Hopper GPU, compute capability 9.0)");
        return;
    }
    if (bh < 1 || lq < 1 || lk < 1 || lq > INT32_MAX || lk > INT32_MAX ||
        bh * ((lq + snfa::TILE_Q - 1) / snfa::TILE_Q) > INT32_MAX ||
        (((uintptr_t)q | (uintptr_t)k | (uintptr_t)v | (uintptr_t)y) & 15)) {
        sn_fail(ctx, "flash attention: bad arguments (bh %lld, lq %lld, lk %lld, pointers 16-byte aligned: %d)",
                (long long)bh, (long long)lq, (long long)lk,
                !(((uintptr_t)q | (uintptr_t)k | (uintptr_t)v | (uintptr_t)y) & 15));
        return;
    }
    snfa::Params p{};
    p.q = q, p.k = k, p.v = v, p.y = y;
    p.bh = (int)bh, p.lq = (int)lq, p.lk = (int)lk, p.d = (int)d;
    p.scale_log2 = scale * 1.4426950408889634f;
    p.causal = causal != 0;
    p.n_qtiles = (int)((lq + snfa::TILE_Q - 1) / snfa::TILE_Q);
    if (sched && sched->offset) p.offset = sched->offset, p.kv_tile = sched->kv_tile, p.partial = sched->partial;
    // Dense, non-causal work units all cost the same: one block per multiprocessor walks through
    // them (a persistent grid: the next unit's Q and first K/V load during the previous unit's
    // last tile), 2-6% faster than a block per unit at d = 64, 72 and 128; at d = 80 it measured
    // 10% slower, and causal or block-sparse units differ in cost, so those keep a block per
    // unit and the hardware's scheduling (docs/attention_kernel.md).
    const int blocks = !p.offset && !p.causal && d != 80 ? sn_cuda_st(ctx)->sm_count : 0;
    cudaStream_t st = sn_cuda_stream(ctx);
    cudaError_t e = dt == SN_BF16 ? fa_launch_dt<__nv_bfloat16>(p, st, blocks) : fa_launch_dt<__half>(p, st, blocks);
    if (e == cudaErrorInvalidValue) {
        sn_fail(ctx, "flash attention: cuTensorMapEncodeTiled failed (d %lld, lq %lld, lk %lld)", (long long)d,
                (long long)lq, (long long)lk);
        return;
    }
    CU(ctx, e);
    LAUNCHED(ctx, "flash attention");
}
