// 2-D convolution, by one of two routes. Small convolutions (at most 2^32 multiply-adds in
// the call, groups 1) are an im2col copy and a cuBLASLt product (W (cout, K) times the
// column matrix (K, oh * ow) of each image, K = cin * kh * kw): cuDNN's first use in a process
// costs about 0.3 s of initialization on the H200 (its first 1x1 and first 3x3 queries take
// 90-220 ms each, then each new kernel's first run 1-60 ms; measured 2026-11-23,
// docs/benchmarks.md), which dominates a one-off run of a small decoder such as the bundled
// t2i model's, whose convolutions are microseconds of work; cuBLASLt is set up already by the
// models' linear layers. Larger ones go to cuDNN 9 (its convolution API:
// cudnnConvolutionForward), any stride, padding, dilation and groups. The route depends only
// on the shape, so a shape gives the same bytes on every run; SINTER_CUDA_CONV=cudnn|gemm
// forces one where it can (the tests run both).
//
// The product's plan is cuBLASLt's per-shape cache (linear.cu); the column matrix comes from
// the arena for the length of the call.
//
// cuDNN: f32 runs with CUDNN_FMA_MATH so that no TF32 kernel is chosen
// and results match the CPU's im2col + sgemm to rounding; among the heuristic's algorithms
// the FFT and Winograd ones are passed over in f32: they trade accuracy for speed in a way
// the parity tests would see. f16/bf16 run on the tensor cores with f32 accumulation
// (CUDNN_DATA_FLOAT compute type), taking the heuristic's first algorithm (timing them with
// cudnnFind on the first call, as PyTorch's cudnn.benchmark does, made the SD-VAE decode 1.6 to
// 2.8 times slower on the H200: measured and reverted, 2026-11-23). bf16/f16 convolutions of
// up to 256 channels (multiples of 8) run in NHWC on copies of the input, output and filter
// (channels_last below). Descriptors and the chosen algorithm are cached per shape in the context's state (a
// VAE decode meets a dozen shapes, a denoising loop the same ones every step); the workspace
// and the NHWC copies (at most 256 MiB a slice of images) come from the arena for the length
// of the call. cuDNN's descriptors take int sizes and tensors under 2^31 elements, so a batch
// whose tensors are larger runs in slices of images.
//
// Either way the bias is added by a small kernel after the convolution.
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "common.cuh"

#define CONV_MAX_WORKSPACE ((size_t)1 << 30)
#define GEMM_CONV_MAX_MACS ((int64_t)1 << 32)
#define GEMM_CONV_MAX_COLUMNS ((size_t)256 << 20) // bytes of the call's column matrices

namespace {

template <typename T>
__global__ void bias_kernel(T *__restrict__ y, const T *__restrict__ b, int64_t c, int64_t p,
                            int64_t total) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x)
        sn_st(y, i, sn_ld(y, i) + sn_ld(b, i / p % c));
}

// col (n, K, oh * ow) of x (n, cin, h, w): row (c, i, j) of an image holds the input under
// kernel tap (i, j) of channel c for every output position, zero where that is padding.
template <typename T>
__global__ void im2col_kernel(const T *__restrict__ x, T *__restrict__ col, sn_cpu_conv2d_geom g,
                              int64_t total) {
    int64_t hw = g.oh * g.ow, k = g.cin * g.kh * g.kw;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t p = i % hw, row = i / hw % k, img = i / (hw * k);
        int64_t oy = p / g.ow, ox = p % g.ow;
        int64_t kj = row % g.kw, ki = row / g.kw % g.kh, c = row / (g.kw * g.kh);
        int64_t iy = oy * g.sh - g.ph + ki * g.dh, ix = ox * g.sw - g.pw + kj * g.dw;
        int inside = iy >= 0 && iy < g.h && ix >= 0 && ix < g.w;
        sn_st(col, i, inside ? sn_ld(x, ((img * g.cin + c) * g.h + iy) * g.w + ix) : 0.0f);
    }
}

// Whether a convolution takes the im2col + cuBLASLt route (see the top of the file).
int by_gemm(const sn_cpu_conv2d_geom *g, size_t es) {
    int64_t k = g->cin * g->kh * g->kw, hw = g->oh * g->ow;
    if (g->groups != 1 || k == 0 || (size_t)(g->n * k * hw) * es > GEMM_CONV_MAX_COLUMNS) return 0;
    const char *force = getenv("SINTER_CUDA_CONV");
    if (force && !strcmp(force, "gemm")) return 1;
    if (force && !strcmp(force, "cudnn")) return 0;
    return g->n * g->cout * hw <= GEMM_CONV_MAX_MACS / k;
}

// y (n, cout, oh * ow) = w (cout, K) col (n, K, oh * ow): one product, batched over the images.
void conv_by_gemm(sn_ctx *ctx, sn_dtype dt, const sn_cpu_conv2d_geom *g, const void *x,
                  const void *w, void *y) {
    int64_t k = g->cin * g->kh * g->kw, hw = g->oh * g->ow, total = g->n * k * hw;
    sn_scope sc = sn_scope_begin(ctx);
    void *col = sn_alloc(ctx, (size_t)total * sn_dtype_size(dt));
    if (col && sn_float_dispatch(ctx, dt, "conv2d im2col", [&](auto *tag) {
            using T = std::remove_pointer_t<decltype(tag)>;
            im2col_kernel<T><<<sn_blocks(total, 256), 256, 0, sn_cuda_stream(ctx)>>>(
                (const T *)x, (T *)col, *g, total);
        }) && LAUNCHED(ctx, "conv2d im2col"))
        sn_cuda_matmul_shared_a(ctx, dt, w, col, y, g->n, g->cout, k, hw);
    sn_scope_end(ctx, sc, sn_none());
}

cudnnDataType_t dnn_type(sn_dtype dt) {
    return dt == SN_BF16 ? CUDNN_DATA_BFLOAT16 : dt == SN_F16 ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT;
}

void destroy_plan(sn_conv_plan *p) {
    if (p->xd) cudnnDestroyTensorDescriptor(p->xd);
    if (p->yd) cudnnDestroyTensorDescriptor(p->yd);
    if (p->wd) cudnnDestroyFilterDescriptor(p->wd);
    if (p->cd) cudnnDestroyConvolutionDescriptor(p->cd);
    memset(p, 0, sizeof *p);
}

int usable(cudnnConvolutionFwdAlgo_t a) {
    return a != CUDNN_CONVOLUTION_FWD_ALGO_FFT && a != CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING &&
           a != CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD &&
           a != CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED;
}

// Whether cuDNN gets the convolution in NHWC (channels last), with a tiled transpose on each
// side. Its tensor-core kernels run on that layout: for the SD-VAE decoder's 3x3 convolutions
// on the H200 NCHW took 2.1x as long at 128 channels (128 -> 128 at 1024x1024: 0.92 ms, NHWC
// 0.44 ms), 1.6x at 256 (256 -> 256 at 512x512: 0.64 and 0.40 ms), but only 1.2-1.3x at 512
// channels (512 -> 512 at 256x256: 0.54 and 0.44 ms), about what the transposes cost there
// (measured 2026-11-23; the 512x512 decode, whose work is mostly at 512 channels, went from
// 14.1 to 16.0 ms with every layer in NHWC). f32 stays NCHW (FMA math, no tensor cores), and
// grouped convolutions and channel counts that are not multiples of 8 (no tensor-core tiles).
int channels_last(sn_dtype dt, const sn_cpu_conv2d_geom *g) {
    return dt != SN_F32 && g->groups == 1 && g->cin <= 256 && g->cout <= 256 && g->cin % 8 == 0 &&
           g->cout % 8 == 0;
}

sn_conv_plan *plan_for(sn_ctx *ctx, sn_dtype dt, const sn_cpu_conv2d_geom *g, int64_t n) {
    sn_cuda_state *st = sn_cuda_st(ctx);
    int64_t key[SN_CONV_KEY] = {n,     g->cin, g->h,  g->w,  g->cout, g->kh,     g->kw, g->sh,
                                g->sw, g->ph,  g->pw, g->dh, g->dw,   g->groups, dt};
    cudnnDataType_t type = dnn_type(dt);
    int exact = dt == SN_F32;
    cudnnTensorFormat_t fmt = channels_last(dt, g) ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
    for (int i = 0; i < SN_CONV_PLANS; i++)
        if (st->conv[i].used && !memcmp(st->conv[i].key, key, sizeof key)) return &st->conv[i];

    sn_conv_plan *p = &st->conv[st->conv_next];
    st->conv_next = (st->conv_next + 1) % SN_CONV_PLANS;
    destroy_plan(p);
    memcpy(p->key, key, sizeof key);
    p->used = 1;
    int ok = DNN(ctx, cudnnCreateTensorDescriptor(&p->xd));
    ok = ok && DNN(ctx, cudnnCreateTensorDescriptor(&p->yd));
    ok = ok && DNN(ctx, cudnnCreateFilterDescriptor(&p->wd));
    ok = ok && DNN(ctx, cudnnCreateConvolutionDescriptor(&p->cd));
    ok = ok && DNN(ctx, cudnnSetTensor4dDescriptor(p->xd, fmt, type,
                                                   (int)n, (int)g->cin, (int)g->h, (int)g->w));
    ok = ok && DNN(ctx, cudnnSetFilter4dDescriptor(p->wd, type, fmt,
                                                   (int)g->cout, (int)(g->cin / g->groups),
                                                   (int)g->kh, (int)g->kw));
    ok = ok && DNN(ctx, cudnnSetConvolution2dDescriptor(p->cd, (int)g->ph, (int)g->pw, (int)g->sh,
                                                        (int)g->sw, (int)g->dh, (int)g->dw,
                                                        CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    ok = ok && DNN(ctx, cudnnSetConvolutionGroupCount(p->cd, (int)g->groups));
    ok = ok && DNN(ctx, cudnnSetConvolutionMathType(p->cd, exact ? CUDNN_FMA_MATH
                                                                 : CUDNN_TENSOR_OP_MATH));
    int on = 0, oc = 0, oh = 0, ow = 0;
    ok = ok && DNN(ctx, cudnnGetConvolution2dForwardOutputDim(p->cd, p->xd, p->wd, &on, &oc, &oh, &ow));
    if (ok && (on != n || oc != g->cout || oh != g->oh || ow != g->ow)) {
        sn_fail(ctx, "cuDNN: output (%d, %d, %d, %d) differs from the expected (%lld, %lld, %lld, %lld)",
                on, oc, oh, ow, (long long)n, (long long)g->cout, (long long)g->oh, (long long)g->ow);
        ok = 0;
    }
    ok = ok && DNN(ctx, cudnnSetTensor4dDescriptor(p->yd, fmt, type, on,
                                                   oc, oh, ow));
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int found = 0;
    ok = ok && DNN(ctx, cudnnGetConvolutionForwardAlgorithm_v7(st->dnn, p->xd, p->wd, p->cd, p->yd,
                                                               CUDNN_CONVOLUTION_FWD_ALGO_COUNT,
                                                               &found, perf));
    int pick = -1;
    for (int pass = 0; ok && pass < 2 && pick < 0; pass++) // FMA math first, then any non-TF32
        for (int i = 0; i < found && pick < 0; i++)
            if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= CONV_MAX_WORKSPACE &&
                (!exact || (usable(perf[i].algo) &&
                            (pass ? perf[i].mathType != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION
                                  : perf[i].mathType == CUDNN_FMA_MATH))))
                pick = i;
    if (ok && pick < 0) {
        sn_fail(ctx, "cuDNN: no %s algorithm for a %lldx%lld convolution of (%lld, %lld, %lld, %lld) "
                "(%d candidates)", sn_dtype_name(dt), (long long)g->kh, (long long)g->kw, (long long)n,
                (long long)g->cin, (long long)g->h, (long long)g->w, found);
        ok = 0;
    }
    if (ok) ok = DNN(ctx, cudnnSetConvolutionMathType(p->cd, perf[pick].mathType));
    if (!ok) {
        destroy_plan(p);
        return NULL;
    }
    p->algo = perf[pick].algo;
    p->workspace = perf[pick].memory;
    return p;
}

void add_bias(sn_ctx *ctx, sn_dtype dt, const sn_cpu_conv2d_geom *g, const void *b, void *y) {
    if (!b || !sn_ok(ctx)) return;
    int64_t total = g->n * g->cout * g->oh * g->ow;
    sn_float_dispatch(ctx, dt, "conv2d bias", [&](auto *tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        bias_kernel<T><<<sn_blocks(total, 256), 256, 0, sn_cuda_stream(ctx)>>>(
            (T *)y, (const T *)b, g->cout, g->oh * g->ow, total);
    });
    LAUNCHED(ctx, "conv2d bias");
}

} // namespace

extern "C" void sn_cuda_conv2d(sn_ctx *ctx, sn_dtype dt, const sn_cpu_conv2d_geom *g,
                               const void *x, const void *w, const void *b, void *y) {
    size_t es = sn_dtype_size(dt);
    sn_cuda_state *st = sn_cuda_st(ctx);
    if (g->n * g->cout * g->oh * g->ow == 0) return; // nothing to write
    if (by_gemm(g, es)) {
        conv_by_gemm(ctx, dt, g, x, w, y);
        add_bias(ctx, dt, g, b, y);
        return;
    }
    int64_t in_img = g->cin * g->h * g->w, out_img = g->cout * g->oh * g->ow;
    int64_t per = in_img > out_img ? in_img : out_img;
    int64_t slice = per > 0 ? (int64_t)INT_MAX / per : g->n;
    if (slice < 1) {
        sn_fail(ctx, "conv2d: one image of %lld input and %lld output values exceeds cuDNN's "
                "2^31-element limit", (long long)in_img, (long long)out_img);
        return;
    }
    int nhwc = channels_last(dt, g);
    if (nhwc) { // the channels-last copies of a slice come from the arena: at most 256 MiB
        int64_t fit = (int64_t)(GEMM_CONV_MAX_COLUMNS / ((size_t)(in_img + out_img) * es));
        if (slice > fit) slice = fit > 0 ? fit : 1;
    }
    if (slice > g->n) slice = g->n;
    int64_t taps = g->kh * g->kw, hw = g->h * g->w, ohw = g->oh * g->ow;
    sn_scope whole = sn_scope_begin(ctx);
    const void *wk = w; // the filter as cuDNN gets it: (cout, kh, kw, cin) when channels last
    if (nhwc) {
        void *t = sn_alloc(ctx, (size_t)(g->cout * g->cin * taps) * es);
        if (t) sn_cuda_transpose(ctx, w, t, es, g->cout, g->cin, taps);
        wk = t;
    }
    for (int64_t n0 = 0; wk && n0 < g->n && sn_ok(ctx); n0 += slice) {
        int64_t n = g->n - n0 < slice ? g->n - n0 : slice;
        double t0 = sn_prof_begin(ctx);
        sn_conv_plan *p = plan_for(ctx, dt, g, n);
        sn_prof_end(ctx, "(cuDNN plan lookup)", t0);
        if (!p) break;
        sn_scope sc = sn_scope_begin(ctx);
        const void *xs = (const char *)x + n0 * in_img * es;
        void *ys = (char *)y + n0 * out_img * es, *yc = ys;
        if (nhwc) { // into channels last and back around the convolution
            void *xc = sn_alloc(ctx, (size_t)(n * in_img) * es);
            yc = sn_alloc(ctx, (size_t)(n * out_img) * es);
            if (xc) sn_cuda_transpose(ctx, xs, xc, es, n, g->cin, hw);
            xs = xc;
        }
        void *ws = sn_cuda_workspace(ctx, p->workspace);
        if (xs && yc && (!p->workspace || ws)) {
            const float one = 1.0f, zero = 0.0f;
            DNN(ctx, cudnnConvolutionForward(st->dnn, &one, p->xd, xs, p->wd, wk, p->cd, p->algo,
                                             ws, p->workspace, &zero, p->yd, yc));
            if (nhwc) sn_cuda_transpose(ctx, yc, ys, es, n, ohw, g->cout);
        }
        sn_scope_end(ctx, sc, sn_none());
    }
    sn_scope_end(ctx, whole, sn_none());
    add_bias(ctx, dt, g, b, y);
}
