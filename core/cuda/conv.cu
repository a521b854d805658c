// 2-D convolution through cuDNN 9 (its convolution API: cudnnConvolutionForward), any stride,
// padding, dilation and groups. f32 runs with CUDNN_FMA_MATH so that no TF32 kernel is chosen
// and results match the CPU's im2col + sgemm to rounding; among the heuristic's algorithms
// the FFT and Winograd ones are passed over in f32: they trade accuracy for speed in a way
// the parity tests would see. f16/bf16 run on the tensor cores with f32 accumulation
// (CUDNN_DATA_FLOAT compute type), taking the heuristic's first algorithm (timing them with
// cudnnFind on the first call, as PyTorch's cudnn.benchmark does, made the SD-VAE decode 1.6 to
// 2.8 times slower on the H200: measured and reverted, 2026-11-23).
//
// Descriptors and the chosen algorithm are cached per shape in the context's state (a VAE
// decode meets a dozen shapes, a denoising loop the same ones every step). The workspace
// comes from the arena for the length of the call. The bias is added by a small kernel after
// the convolution. cuDNN's descriptors take int sizes and tensors under 2^31 elements, so a
// batch whose tensors are larger runs in slices of images.
#include <limits.h>
#include <string.h>

#include "common.cuh"

#define CONV_MAX_WORKSPACE ((size_t)1 << 30)

namespace {

template <typename T>
__global__ void bias_kernel(T *__restrict__ y, const T *__restrict__ b, int64_t c, int64_t p,
                            int64_t total) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x)
        sn_st(y, i, sn_ld(y, i) + sn_ld(b, i / p % c));
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

sn_conv_plan *plan_for(sn_ctx *ctx, sn_dtype dt, const sn_cpu_conv2d_geom *g, int64_t n) {
    sn_cuda_state *st = sn_cuda_st(ctx);
    int64_t key[SN_CONV_KEY] = {n,     g->cin, g->h,  g->w,  g->cout, g->kh,     g->kw, g->sh,
                                g->sw, g->ph,  g->pw, g->dh, g->dw,   g->groups, dt};
    cudnnDataType_t type = dnn_type(dt);
    int exact = dt == SN_F32;
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
    ok = ok && DNN(ctx, cudnnSetTensor4dDescriptor(p->xd, CUDNN_TENSOR_NCHW, type,
                                                   (int)n, (int)g->cin, (int)g->h, (int)g->w));
    ok = ok && DNN(ctx, cudnnSetFilter4dDescriptor(p->wd, type, CUDNN_TENSOR_NCHW,
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
    ok = ok && DNN(ctx, cudnnSetTensor4dDescriptor(p->yd, CUDNN_TENSOR_NCHW, type, on,
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

} // namespace

extern "C" void sn_cuda_conv2d(sn_ctx *ctx, sn_dtype dt, const sn_cpu_conv2d_geom *g,
                               const void *x, const void *w, const void *b, void *y) {
    size_t es = sn_dtype_size(dt);
    int64_t in_img = g->cin * g->h * g->w, out_img = g->cout * g->oh * g->ow;
    int64_t per = in_img > out_img ? in_img : out_img;
    int64_t slice = per > 0 ? (int64_t)INT_MAX / per : g->n;
    if (slice < 1) {
        sn_fail(ctx, "conv2d: one image of %lld input and %lld output values exceeds cuDNN's "
                "2^31-element limit", (long long)in_img, (long long)out_img);
        return;
    }
    if (slice > g->n) slice = g->n;
    sn_cuda_state *st = sn_cuda_st(ctx);
    for (int64_t n0 = 0; n0 < g->n && sn_ok(ctx); n0 += slice) {
        int64_t n = g->n - n0 < slice ? g->n - n0 : slice;
        double t0 = sn_prof_begin(ctx);
        sn_conv_plan *p = plan_for(ctx, dt, g, n);
        sn_prof_end(ctx, "(cuDNN plan lookup)", t0);
        if (!p) return;
        sn_scope sc = sn_scope_begin(ctx);
        void *ws = sn_cuda_workspace(ctx, p->workspace);
        if (!p->workspace || ws) {
            const float one = 1.0f, zero = 0.0f;
            DNN(ctx, cudnnConvolutionForward(st->dnn, &one, p->xd, (const char *)x + n0 * in_img * es,
                                             p->wd, w, p->cd, p->algo, ws, p->workspace, &zero,
                                             p->yd, (char *)y + n0 * out_img * es));
        }
        sn_scope_end(ctx, sc, sn_none());
    }
    if (b && sn_ok(ctx)) {
        int64_t total = g->n * out_img;
        sn_float_dispatch(ctx, dt, "conv2d bias", [&](auto *tag) {
            using T = std::remove_pointer_t<decltype(tag)>;
            bias_kernel<T><<<sn_blocks(total, 256), 256, 0, st->stream>>>(
                (T *)y, (const T *)b, g->cout, g->oh * g->ow, total);
        });
        LAUNCHED(ctx, "conv2d bias");
    }
}
