// Matrix products through cuBLASLt: linear (x W^T + b, the bias fused as the BIAS epilogue)
// and batched matmul (strided batches). Always CUBLAS_COMPUTE_32F: with f32 storage that is
// plain f32 arithmetic (TF32 would be CUBLAS_COMPUTE_32F_FAST_TF32), so results match the
// CPU's sgemm to rounding; with f16/bf16 storage it is the tensor cores with f32 accumulation
// (the bias, like the output, in the storage dtype).
//
// Row-major products are handed to the column-major library transposed: a row-major
// (r, c) matrix is a column-major (c, r) one, so y = x W^T becomes y^T = W x^T with W
// transposed, and y = a b becomes y^T = b^T a^T with no transposes.
//
// Each distinct shape gets a plan (descriptors, layouts and the heuristic's algorithm), kept
// in the context's state, so a denoising loop asks the heuristic once per shape. The
// workspace comes from the arena for the length of the call.
#include <string.h>

#include "common.cuh"

#define GEMM_WORKSPACE ((size_t)32 << 20)

namespace {

int align_of(const void *p) {
    uintptr_t a = (uintptr_t)p;
    return a % 16 == 0 ? 16 : a % 8 == 0 ? 8 : 4;
}

struct gemm_args {
    cudaDataType_t type;
    int gelu; // GELU (tanh form) in the epilogue
    int transa, transb;
    int64_t m, n, k, lda, ldb, ldc, batch, sa, sb, sc;
    const void *a, *b, *bias;
    void *c;
};

cudaDataType_t cuda_type(sn_dtype dt) {
    return dt == SN_BF16 ? CUDA_R_16BF : dt == SN_F16 ? CUDA_R_16F : CUDA_R_32F;
}

sn_gemm_plan *plan_for(sn_ctx *ctx, const gemm_args &g) {
    sn_cuda_state *st = sn_cuda_st(ctx);
    int al = align_of(g.a) | align_of(g.b) << 5 | align_of(g.c) << 10 |
             (g.bias ? align_of(g.bias) : 16) << 15;
    int64_t key[SN_GEMM_KEY] = {g.transa | g.transb << 1 | (g.bias != NULL) << 2 | (int64_t)al << 3 |
                                    (int64_t)g.type << 24 | (int64_t)g.gelu << 32,
                                g.m, g.n, g.k, g.lda, g.ldb, g.ldc, g.batch, g.sa, g.sb, g.sc};
    for (int i = 0; i < SN_GEMM_PLANS; i++)
        if (st->gemm[i].used && !memcmp(st->gemm[i].key, key, sizeof key)) return &st->gemm[i];

    sn_gemm_plan *p = &st->gemm[st->gemm_next];
    st->gemm_next = (st->gemm_next + 1) % SN_GEMM_PLANS;
    if (p->used) { // evict the oldest plan
        cublasLtMatmulDescDestroy(p->op);
        cublasLtMatrixLayoutDestroy(p->a);
        cublasLtMatrixLayoutDestroy(p->b);
        cublasLtMatrixLayoutDestroy(p->c);
        p->used = 0;
    }
    memset(p, 0, sizeof *p);
    memcpy(p->key, key, sizeof key);
    cublasOperation_t ta = g.transa ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasOperation_t tb = g.transb ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasLtMatmulPreference_t pref = NULL;
    int ok = LT(ctx, cublasLtMatmulDescCreate(&p->op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    if (ok) p->used = 1; // from here on the destroy calls above are valid
    ok = ok && LT(ctx, cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    ok = ok && LT(ctx, cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    if (g.bias || g.gelu) {
        cublasLtEpilogue_t ep = g.gelu ? (g.bias ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_GELU)
                                       : CUBLASLT_EPILOGUE_BIAS;
        ok = ok && LT(ctx, cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &ep, sizeof ep));
    }
    if (g.bias)
        ok = ok && LT(ctx, cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                          &g.bias, sizeof g.bias));
    // stored shapes (column-major): A is (m, k) or, transposed, (k, m); likewise B
    ok = ok && LT(ctx, cublasLtMatrixLayoutCreate(&p->a, g.type, g.transa ? g.k : g.m,
                                                  g.transa ? g.m : g.k, g.lda));
    ok = ok && LT(ctx, cublasLtMatrixLayoutCreate(&p->b, g.type, g.transb ? g.n : g.k,
                                                  g.transb ? g.k : g.n, g.ldb));
    ok = ok && LT(ctx, cublasLtMatrixLayoutCreate(&p->c, g.type, g.m, g.n, g.ldc));
    if (ok && g.batch > 1) {
        int32_t bc = (int32_t)g.batch;
        cublasLtMatrixLayout_t ls[3] = {p->a, p->b, p->c};
        int64_t strides[3] = {g.sa, g.sb, g.sc};
        for (int i = 0; ok && i < 3; i++) {
            ok = LT(ctx, cublasLtMatrixLayoutSetAttribute(ls[i], CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT,
                                                          &bc, sizeof bc));
            ok = ok && LT(ctx, cublasLtMatrixLayoutSetAttribute(
                                   ls[i], CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &strides[i],
                                   sizeof strides[i]));
        }
    }
    ok = ok && LT(ctx, cublasLtMatmulPreferenceCreate(&pref));
    size_t ws = GEMM_WORKSPACE;
    ok = ok && LT(ctx, cublasLtMatmulPreferenceSetAttribute(
                           pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
    uint32_t aligns[4] = {(uint32_t)align_of(g.a), (uint32_t)align_of(g.b), (uint32_t)align_of(g.c),
                          (uint32_t)(g.bias ? align_of(g.bias) : 16)};
    const cublasLtMatmulPreferenceAttributes_t which[4] = {
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
    for (int i = 0; ok && i < 4; i++)
        ok = LT(ctx, cublasLtMatmulPreferenceSetAttribute(pref, which[i], &aligns[i < 3 ? i : 2],
                                                          sizeof(uint32_t)));
    cublasLtMatmulHeuristicResult_t res;
    int found = 0;
    ok = ok && LT(ctx, cublasLtMatmulAlgoGetHeuristic(st->lt, p->op, p->a, p->b, p->c, p->c, pref,
                                                      1, &res, &found));
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    if (ok && found < 1) {
        sn_fail(ctx, "cuBLASLt: no algorithm for a %lld x %lld x %lld product of type %d (batch %lld)",
                (long long)g.m, (long long)g.n, (long long)g.k, (int)g.type, (long long)g.batch);
        ok = 0;
    }
    if (!ok) {
        if (p->used) {
            if (p->op) cublasLtMatmulDescDestroy(p->op);
            if (p->a) cublasLtMatrixLayoutDestroy(p->a);
            if (p->b) cublasLtMatrixLayoutDestroy(p->b);
            if (p->c) cublasLtMatrixLayoutDestroy(p->c);
        }
        memset(p, 0, sizeof *p);
        return NULL;
    }
    p->algo = res.algo;
    p->workspace = res.workspaceSize;
    return p;
}

void gemm(sn_ctx *ctx, const gemm_args &g) {
    if (g.batch < 1) return; // an empty batch: nothing to write (cuBLASLt would do one)
    double t0 = sn_prof_begin(ctx);
    sn_gemm_plan *p = plan_for(ctx, g);
    sn_prof_end(ctx, "(cuBLASLt plan lookup)", t0);
    if (!p) return;
    if (g.bias && !LT(ctx, cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                          &g.bias, sizeof g.bias)))
        return;
    sn_scope sc = sn_scope_begin(ctx);
    void *ws = sn_cuda_workspace(ctx, p->workspace);
    if (!p->workspace || ws) {
        const float one = 1.0f, zero = 0.0f;
        LT(ctx, cublasLtMatmul(sn_cuda_st(ctx)->lt, p->op, &one, g.a, p->a, g.b, p->b, &zero, g.c,
                               p->c, g.c, p->c, &p->algo, ws, p->workspace, sn_cuda_stream(ctx)));
    }
    sn_scope_end(ctx, sc, sn_none());
}

} // namespace

extern "C" void sn_cuda_linear(sn_ctx *ctx, sn_dtype dt, const void *x, const void *w,
                               const void *b, void *y, int64_t rows, int64_t in, int64_t out) {
    gemm_args g = {};
    g.type = cuda_type(dt);
    g.transa = 1; // A = W, stored (in, out) column-major
    g.transb = 0; // B = x, stored (in, rows) column-major
    g.m = out, g.n = rows, g.k = in;
    g.lda = in, g.ldb = in, g.ldc = out;
    g.batch = 1;
    g.a = w, g.b = x, g.bias = b, g.c = y;
    gemm(ctx, g);
}

extern "C" void sn_cuda_linear_gelu(sn_ctx *ctx, sn_dtype dt, const void *x, const void *w,
                                    const void *b, void *y, int64_t rows, int64_t in, int64_t out) {
    gemm_args g = {};
    g.type = cuda_type(dt);
    g.gelu = 1;
    g.transa = 1;
    g.m = out, g.n = rows, g.k = in;
    g.lda = in, g.ldb = in, g.ldc = out;
    g.batch = 1;
    g.a = w, g.b = x, g.bias = b, g.c = y;
    gemm(ctx, g);
}

// y[i] (m, n) = a[i] (m, k) b[i] (k, n), a's batch stride sa (0: one a for all)
static void matmul(sn_ctx *ctx, sn_dtype dt, const void *a, const void *b, void *y,
                   int64_t batch, int64_t m, int64_t k, int64_t n, int64_t sa) {
    gemm_args g = {};
    g.type = cuda_type(dt);
    g.m = n, g.n = m, g.k = k; // y^T (n, m) = b^T (n, k) a^T (k, m)
    g.lda = n, g.ldb = k, g.ldc = n;
    g.batch = batch;
    g.sa = k * n, g.sb = sa, g.sc = m * n;
    g.a = b, g.b = a, g.c = y;
    gemm(ctx, g);
}

extern "C" void sn_cuda_matmul(sn_ctx *ctx, sn_dtype dt, const void *a, const void *b, void *y,
                               int64_t batch, int64_t m, int64_t k, int64_t n) {
    matmul(ctx, dt, a, b, y, batch, m, k, n, m * k);
}

extern "C" void sn_cuda_matmul_shared_a(sn_ctx *ctx, sn_dtype dt, const void *a, const void *b,
                                        void *y, int64_t batch, int64_t m, int64_t k, int64_t n) {
    matmul(ctx, dt, a, b, y, batch, m, k, n, 0);
}
