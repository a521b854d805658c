// Standalone development harness for core/cuda/flash_attention.cuh: checks both kernels
// (fa2: mma.sync, fa3: wgmma + TMA) against an f64 host reference and times them, without the
// rest of sinter. Build (on the GPU machine, tools/device/attention.sh does this):
//   nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a -lineinfo -o fa_dev tools/bench/fa_dev.cu
// Usage: fa_dev [check] [bench] [fa2] [fa3]   (default: everything)
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "../../core/cuda/flash_attention.cuh"
#include "fa2.cuh"

using namespace snfa;

#define CK(x)                                                                                  \
    do {                                                                                       \
        cudaError_t e_ = (x);                                                                  \
        if (e_ != cudaSuccess) {                                                               \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); \
            exit(1);                                                                           \
        }                                                                                      \
    } while (0)

// A predicate for partial tiles, to test the plumbing: drops (q, k) when (q + 2k) % 5 == 0, and
// every key of query rows whose index is a multiple of 37 (fully masked rows).
struct TestPred : snfa::DensePred { // the ELEMENT = false hooks of DensePred, another operator()
    __device__ __host__ bool operator()(int bh, int qi, int kj) const { return (qi + 2 * kj) % 5 != 0 && qi % 37 != 0; }
};

static uint64_t rng_s = 0x1234567ULL;
static double urand() {
    rng_s ^= rng_s << 13, rng_s ^= rng_s >> 7, rng_s ^= rng_s << 17;
    return (rng_s >> 11) * 0x1.0p-53;
}
static uint16_t f2h(float f, bool bf) {
    if (bf) {
        __nv_bfloat16 h = __float2bfloat16_rn(f);
        return *(uint16_t *)&h;
    }
    __half h = __float2half_rn(f);
    return *(uint16_t *)&h;
}
static float h2f(uint16_t u, bool bf) {
    if (bf) return __bfloat162float(*(__nv_bfloat16 *)&u);
    return __half2float(*(__half *)&u);
}

enum Kern { FA2 = 2, FA3 = 3, FA3P = 4 }; // fa3: one block per work unit; fa3p: persistent grid
static int n_sms = 132;

template <typename T, class Pred> static cudaError_t run_dp(Kern k, int dp, const Params &p, Pred pred, cudaStream_t st) {
    if (k == FA2) {
        switch (dp) {
        case 64: return fa2::launch<T, 64>(p, st, pred);
        case 80: return fa2::launch<T, 80>(p, st, pred);
        case 96: return fa2::launch<T, 96>(p, st, pred);
        case 128: return fa2::launch<T, 128>(p, st, pred);
        }
    } else if (k == FA3 || k == FA3P) {
        const int blocks = k == FA3P ? n_sms : 0;
        switch (dp) {
        case 64: return fa3::launch<T, 64, Pred>(p, st, pred, blocks);
        case 80: return fa3::launch<T, 80, Pred>(p, st, pred, blocks);
        case 96: return fa3::launch<T, 96, Pred>(p, st, pred, blocks);
        case 128: return fa3::launch<T, 128, Pred>(p, st, pred, blocks);
        }
    }
    return cudaErrorInvalidValue;
}
static const char *kname(Kern k) { return k == FA2 ? "fa2" : k == FA3 ? "fa3" : "fa3p"; }
static int dpad(int d) { return d <= 64 ? 64 : d <= 80 ? 80 : d <= 96 ? 96 : 128; }
template <class Pred> static cudaError_t run(Kern k, bool bf, const Params &p, Pred pred, cudaStream_t st = 0) {
    return bf ? run_dp<__nv_bfloat16>(k, dpad(p.d), p, pred, st) : run_dp<__half>(k, dpad(p.d), p, pred, st);
}

struct Case {
    bool bf;
    int d, bh, lq, lk, causal;
    int sched; // 0 dense, 1 random block-sparse (with partial flags + TestPred), 2 with empty query tiles
    float scale;
};

static double check_case(Kern kern, const Case &c, double *maxerr) {
    const int64_t nq = (int64_t)c.bh * c.lq * c.d, nk = (int64_t)c.bh * c.lk * c.d;
    std::vector<uint16_t> hq(nq), hk(nk), hv(nk), hy(nq);
    for (auto &x : hq) x = f2h((float)(urand() * 2 - 1), c.bf);
    for (auto &x : hk) x = f2h((float)(urand() * 2 - 1), c.bf);
    for (auto &x : hv) x = f2h((float)(urand() * 2 - 1), c.bf);
    const int nqt = (c.lq + TILE_Q - 1) / TILE_Q, nkt = (c.lk + TILE_K - 1) / TILE_K;
    std::vector<int32_t> off(nqt + 1, 0), kv;
    std::vector<uint8_t> part;
    std::vector<std::vector<int>> allowed(nqt, std::vector<int>(nkt, 0)); // 0 no, 1 full, 2 partial
    for (int i = 0; i < nqt; i++) {
        for (int j = 0; j < nkt; j++) {
            bool take = c.sched == 0 ? true : urand() < 0.6;
            if (c.sched == 2 && i % 3 == 1) take = false;
            if (c.sched && take) {
                int pf = urand() < 0.4;
                kv.push_back(j), part.push_back((uint8_t)pf);
                allowed[i][j] = pf ? 2 : 1;
            } else if (!c.sched)
                allowed[i][j] = 1;
        }
        off[i + 1] = (int32_t)kv.size();
    }
    void *dq, *dk, *dv, *dy;
    int32_t *doff = nullptr, *dkv = nullptr;
    uint8_t *dpart = nullptr;
    CK(cudaMalloc(&dq, nq * 2));
    CK(cudaMalloc(&dk, nk * 2));
    CK(cudaMalloc(&dv, nk * 2));
    CK(cudaMalloc(&dy, nq * 2));
    CK(cudaMemcpy(dq, hq.data(), nq * 2, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dk, hk.data(), nk * 2, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dv, hv.data(), nk * 2, cudaMemcpyHostToDevice));
    CK(cudaMemset(dy, 0xFF, nq * 2)); // NaN poison
    Params p{};
    p.q = dq, p.k = dk, p.v = dv, p.y = dy;
    p.bh = c.bh, p.lq = c.lq, p.lk = c.lk, p.d = c.d, p.causal = c.causal;
    p.scale_log2 = c.scale * 1.4426950408889634f;
    p.n_qtiles = nqt;
    if (c.sched) {
        CK(cudaMalloc(&doff, off.size() * 4));
        CK(cudaMalloc(&dkv, std::max<size_t>(kv.size(), 1) * 4));
        CK(cudaMalloc(&dpart, std::max<size_t>(part.size(), 1)));
        CK(cudaMemcpy(doff, off.data(), off.size() * 4, cudaMemcpyHostToDevice));
        if (kv.size()) CK(cudaMemcpy(dkv, kv.data(), kv.size() * 4, cudaMemcpyHostToDevice));
        if (part.size()) CK(cudaMemcpy(dpart, part.data(), part.size(), cudaMemcpyHostToDevice));
        p.offset = doff, p.kv_tile = dkv, p.partial = dpart;
    }
    CK(run(kern, c.bf, p, TestPred()));
    CK(cudaDeviceSynchronize());
    CK(cudaMemcpy(hy.data(), dy, nq * 2, cudaMemcpyDeviceToHost));
    // reference on sampled rows (all rows when small)
    double num = 0, den = 0, mx = 0;
    TestPred tp;
    const int64_t work = (int64_t)c.bh * c.lq * c.lk;
    const int stride = work > (int64_t)1 << 26 ? (int)(work >> 26) + 1 : 1;
    std::vector<double> sc(c.lk), acc(c.d);
    for (int b = 0; b < c.bh; b++)
        for (int i = (b * 7) % stride; i < c.lq; i += stride) {
            const uint16_t *qr = &hq[((int64_t)b * c.lq + i) * c.d];
            double m = -INFINITY;
            for (int j = 0; j < c.lk; j++) {
                int a = allowed[i / TILE_Q][j / TILE_K];
                bool ok = a && (!c.causal || j <= i) && (a != 2 || tp(b, i, j));
                if (!ok) {
                    sc[j] = -INFINITY;
                    continue;
                }
                const uint16_t *kr = &hk[((int64_t)b * c.lk + j) * c.d];
                double s = 0;
                for (int x = 0; x < c.d; x++) s += (double)h2f(qr[x], c.bf) * h2f(kr[x], c.bf);
                sc[j] = s * c.scale;
                m = std::max(m, sc[j]);
            }
            std::fill(acc.begin(), acc.end(), 0.0);
            double l = 0;
            if (m > -INFINITY)
                for (int j = 0; j < c.lk; j++) {
                    if (sc[j] == -INFINITY) continue;
                    double w = exp(sc[j] - m);
                    l += w;
                    const uint16_t *vr = &hv[((int64_t)b * c.lk + j) * c.d];
                    for (int x = 0; x < c.d; x++) acc[x] += w * h2f(vr[x], c.bf);
                }
            for (int x = 0; x < c.d; x++) {
                double r = l > 0 ? acc[x] / l : 0.0;
                double y = h2f(hy[((int64_t)b * c.lq + i) * c.d + x], c.bf);
                double e = fabs(y - r);
                if (!(e <= mx)) mx = e;
                num += (y - r) * (y - r), den += r * r;
            }
        }
    cudaFree(dq), cudaFree(dk), cudaFree(dv), cudaFree(dy);
    if (doff) cudaFree(doff), cudaFree(dkv), cudaFree(dpart);
    *maxerr = mx;
    double rel = sqrt(num / (den > 0 ? den : 1e-300));
    return num == num ? rel : NAN;
}

static void checks(const std::vector<Kern> &kerns, int *fails) {
    std::vector<Case> cases;
    const int dims[] = {64, 72, 80, 96, 128};
    for (int bf = 1; bf >= 0; bf--)
        for (int d : dims) {
            cases.push_back({(bool)bf, d, 3, 300, 300, 0, 0, 1.0f / sqrtf((float)d)});
            cases.push_back({(bool)bf, d, 2, 257, 391, 1, 0, 0.125f});
        }
    cases.push_back({true, 128, 2, 200, 1000, 0, 0, 0.09f});
    cases.push_back({true, 128, 2, 1000, 130, 1, 0, 0.09f});
    cases.push_back({true, 72, 2, 777, 555, 0, 1, 0.12f});
    cases.push_back({false, 96, 2, 600, 700, 1, 1, 0.1f});
    cases.push_back({true, 64, 3, 520, 640, 0, 2, 0.125f});
    cases.push_back({true, 128, 1, 1, 1, 0, 0, 0.2f});
    cases.push_back({true, 80, 1, 5, 2000, 0, 0, -0.1f}); // negative scale
    cases.push_back({true, 128, 4, 2048, 2048, 1, 0, 0.088f});
    for (Kern k : kerns)
        for (const Case &c : cases) {
            double mx, e = check_case(k, c, &mx);
            bool ok = e <= 1e-2;
            if (!ok) ++*fails;
            printf("check %s %s d=%3d bh=%d lq=%4d lk=%4d causal=%d sched=%d scale=%+.3f: rel %.2e max %.2e %s\n", kname(k),
                   c.bf ? "bf16" : "fp16", c.d, c.bh, c.lq, c.lk, c.causal, c.sched, c.scale, e, mx, ok ? "ok" : "FAIL");
        }
}

static void bench(const std::vector<Kern> &kerns) {
    struct S { int b, h, l, d; };
    std::vector<S> shapes = {{8, 16, 1024, 72}, {4, 16, 4096, 72}, {1, 24, 4096, 128}, {1, 24, 16384, 128}, {1, 12, 32760, 128}};
    if (const char *env = getenv("FA_SHAPES")) { // "BxHxLxd,BxHxLxd..."
        shapes.clear();
        for (const char *c = env; *c;) {
            S x;
            int used = 0;
            if (sscanf(c, "%dx%dx%dx%d%n", &x.b, &x.h, &x.l, &x.d, &used) != 4) break;
            shapes.push_back(x);
            c += used;
            if (*c == ',') c++;
        }
    }
    const int reps_env = getenv("FA_REPS") ? atoi(getenv("FA_REPS")) : 0;
    printf("\n%-8s %-22s %10s %10s\n", "kernel", "B x H x L x d", "ms", "TFLOP/s");
    for (const S &s : shapes) {
        const int bh = s.b * s.h;
        const size_t n = (size_t)bh * s.l * s.d, bytes = n * 2;
        const int sets = (int)std::max<size_t>(2, (size_t)(400u << 20) / (4 * bytes) + 1);
        std::vector<void *> buf(sets * 4);
        std::vector<uint16_t> h(n);
        for (auto &x : h) x = f2h((float)(urand() * 2 - 1), true);
        for (auto &b : buf) {
            CK(cudaMalloc(&b, bytes));
            CK(cudaMemcpy(b, h.data(), bytes, cudaMemcpyHostToDevice));
        }
        const double flops = 4.0 * bh * (double)s.l * s.l * s.d;
        for (Kern k : kerns) {
            Params p{};
            p.bh = bh, p.lq = p.lk = s.l, p.d = s.d, p.scale_log2 = 1.4426950408889634f / sqrtf((float)s.d);
            p.n_qtiles = (s.l + TILE_Q - 1) / TILE_Q;
            auto setp = [&](int i) { p.q = buf[4 * (i % sets)], p.k = buf[4 * (i % sets) + 1], p.v = buf[4 * (i % sets) + 2], p.y = buf[4 * (i % sets) + 3]; };
            for (int i = 0; i < 3; i++) {
                setp(i);
                CK(run(k, true, p, DensePred()));
            }
            CK(cudaDeviceSynchronize());
            const int reps = reps_env > 0 ? reps_env : flops > 1e12 ? 20 : 60;
            std::vector<float> ms;
            cudaEvent_t a, b;
            CK(cudaEventCreate(&a));
            CK(cudaEventCreate(&b));
            for (int i = 0; i < reps; i++) {
                setp(i);
                CK(cudaEventRecord(a));
                CK(run(k, true, p, DensePred()));
                CK(cudaEventRecord(b));
                CK(cudaEventSynchronize(b));
                float t;
                CK(cudaEventElapsedTime(&t, a, b));
                ms.push_back(t);
            }
            std::sort(ms.begin(), ms.end());
            float med = ms[ms.size() / 2];
            char shape[64];
            snprintf(shape, sizeof shape, "%dx%dx%dx%d", s.b, s.h, s.l, s.d);
            printf("%-8s %-22s %10.3f %10.1f   (min %.3f)\n", kname(k), shape, med, flops / med * 1e-9, ms[0]);
            cudaEventDestroy(a), cudaEventDestroy(b);
        }
        for (auto &b : buf) cudaFree(b);
    }
}

int main(int argc, char **argv) {
    bool do_check = false, do_bench = false;
    std::vector<Kern> kerns;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "check")) do_check = true;
        if (!strcmp(argv[i], "bench")) do_bench = true;
        if (!strcmp(argv[i], "fa2")) kerns.push_back(FA2);
        if (!strcmp(argv[i], "fa3")) kerns.push_back(FA3);
        if (!strcmp(argv[i], "fa3p")) kerns.push_back(FA3P);
    }
    if (!do_check && !do_bench) do_check = do_bench = true;
    if (kerns.empty()) kerns = {FA2, FA3, FA3P};
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    printf("device: %s, %d SMs\n", prop.name, prop.multiProcessorCount);
    n_sms = prop.multiProcessorCount;
    int fails = 0;
    if (do_check) checks(kerns, &fails);
    if (do_bench) bench(kerns);
    printf("checks failed: %d\n", fails);
    return fails ? 1 : 0;
}
