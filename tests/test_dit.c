/* DiT and LightningDiT (dit/dit.c, dit/lightningdit.c).
 *
 * Parity, with fixtures from tools/reference/dit.py in tests/fixtures/dit/ (skipped with a
 * message when absent): the forward against PyTorch float64, relative tolerance 1e-4 (f32 CPU),
 * for
 *   dit.pt                      DiT, torch.save state dict (PyTorch reader), heads from the kind
 *                               string, learn_sigma; also at another input size (computed
 *                               pos_embed)
 *   dit_p1.safetensors          DiT, patch 1, no learn_sigma, no pos_embed in the file, heads
 *                               from metadata
 *   lightningdit.pt             LightningDiT as released + RMS qk-norm, nested {'ema', 'model'}
 *                               (must pick 'ema'), heads from the RoPE table; also at another
 *                               input size (computed pos_embed and RoPE tables)
 *   lightningdit_b.safetensors  LightningDiT with wo_shift, LayerNorm qk-norm, GELU MLP, no
 *                               RoPE, learn_sigma (sigma half dropped)
 * and: computed sin-cos pos_embed and RoPE tables equal the checkpoints'; a missing tensor and
 * a mis-shaped tensor each fail naming the file and the tensor (and both shapes); the heads rule
 * and its overrides; bad kinds, labels and inputs; the attention spec is the model's; a forward
 * leaves only its output in the arena. */
#include <stdint.h>
#include <sys/stat.h>

#include "../core/context.h"
#include "../core/ops.h"
#include "../dit/dit.h"
#include "../weights/checkpoint.h"
#include "check.h"

static sn_ctx *ctx;
static char tmpdir[1024], fixdir[1100];

static int has_text(const char *s, const char *part) { return s && strstr(s, part) != NULL; }

/* A tensor of a fixture's io file, copied into the arena. */
static sn_tensor io_tensor(const sn_ckpt *io, const char *name) {
    const sn_ckpt_entry *e = sn_ckpt_find(io, name);
    CHECKF(e != NULL, "%s: no tensor '%s'", sn_ckpt_path(io), name);
    if (!e) return sn_none();
    return sn_from_host(ctx, sn_tensor_wrap((void *)e->data, e->dtype, e->ndim, e->shape));
}

static const float *io_f32(const sn_ckpt *io, const char *name) {
    const sn_ckpt_entry *e = sn_ckpt_find(io, name);
    return e && e->dtype == SN_F32 ? e->data : NULL;
}

/* Loads <dir>/<file> with `kind`, runs x and x_alt of <name>_io.safetensors, compares. */
static sn_dit *parity(const char *file, const char *kind, const char *ioname) {
    char path[1300], iopath[1300], err[512];
    snprintf(path, sizeof path, "%s/%s", fixdir, file);
    snprintf(iopath, sizeof iopath, "%s/%s_io.safetensors", fixdir, ioname);
    sn_dit *m = sn_dit_load(ctx, path, kind);
    CHECKF(m != NULL, "load %s: %s", file, sn_error(ctx));
    sn_ckpt *io = sn_ckpt_open(iopath, err, sizeof err);
    CHECKF(io != NULL, "%s", err);
    if (!m || !io) {
        sn_clear_error(ctx);
        sn_ckpt_close(io);
        return m;
    }
    static const char *const xs[] = {"x", "x_alt"}, *const outs[] = {"out", "out_alt"};
    for (int i = 0; i < 2; i++) {
        if (!sn_ckpt_find(io, xs[i])) continue;
        sn_scope s = sn_scope_begin(ctx);
        size_t before = sn_arena_used(ctx);
        sn_tensor x = io_tensor(io, xs[i]), t = io_tensor(io, "t"), y = io_tensor(io, "y");
        size_t inputs = sn_arena_used(ctx) - before;
        sn_tensor out = sn_dit_forward(ctx, m, x, t, y);
        CHECKF(sn_ok(ctx), "%s forward (%s): %s", file, xs[i], sn_error(ctx));
        const sn_ckpt_entry *ref = sn_ckpt_find(io, outs[i]);
        if (sn_ok(ctx) && ref) {
            CHECKF(sn_same_shape(out, sn_tensor_wrap(NULL, SN_F32, ref->ndim, ref->shape)),
                   "%s: output shape differs from the reference", file);
            size_t used = sn_arena_used(ctx) - before - inputs; /* only the output is left */
            CHECKF(used == (sn_nbytes(out) + 63) / 64 * 64, "%s: forward left %zu bytes in the "
                   "arena for a %zu-byte output", file, used, sn_nbytes(out));
            double e = check_rel_err(out.data, io_f32(io, outs[i]), (long)sn_numel(out));
            printf("parity %-28s %-6s %s: relative error %.2e\n", file, xs[i],
                   m->info.description, e);
            CHECKF(e <= 1e-4, "%s (%s): relative error %.3g > 1e-4", file, xs[i], e);
        }
        sn_clear_error(ctx);
        sn_scope_end(ctx, s, sn_none());
    }
    sn_ckpt_close(io);
    return m;
}

static void test_parity(void) {
    /* DiT, .pt, heads from the kind string */
    sn_dit *m = parity("dit.pt", "dit:heads=4", "dit");
    if (m) {
        const sn_dit_info *in = &m->info;
        CHECK(!strcmp(in->family, "dit") && in->time == SN_DIT_TIME_STEPS && in->t_max == 999.0f);
        CHECK(in->input_size == 8 && in->patch == 2 && in->in_channels == 4 && in->out_channels == 8);
        CHECK(in->hidden == 64 && in->depth == 2 && in->heads == 4 && in->head_dim == 16);
        CHECK(in->mlp_hidden == 256 && in->num_classes == 10 && in->learn_sigma);
        CHECK(!in->rmsnorm && !in->swiglu && !in->rope && !in->qknorm && !in->wo_shift);
        /* every weight but pos_embed: 183200 numbers in the file, 16 x 64 of them pos_embed */
        CHECKF(in->n_params == 183200 - 16 * 64, "n_params %lld", (long long)in->n_params);

        /* the attention spec is the model's: an explicit scale of 1/sqrt(head_dim) changes
         * nothing, an unknown kind reaches sn_attention and fails there */
        char iopath[1300], err[256];
        snprintf(iopath, sizeof iopath, "%s/dit_io.safetensors", fixdir);
        sn_ckpt *io = sn_ckpt_open(iopath, err, sizeof err);
        if (io) {
            sn_scope s = sn_scope_begin(ctx);
            sn_tensor x = io_tensor(io, "x"), t = io_tensor(io, "t"), y = io_tensor(io, "y");
            m->attn.scale = 0.25f;
            sn_tensor a = sn_dit_forward(ctx, m, x, t, y);
            CHECK(sn_ok(ctx) && check_rel_err(a.data, io_f32(io, "out"), (long)sn_numel(a)) <= 1e-4);
            m->attn.scale = 0.5f;
            a = sn_dit_forward(ctx, m, x, t, y);
            CHECK(sn_ok(ctx) && check_rel_err(a.data, io_f32(io, "out"), (long)sn_numel(a)) > 1e-3);
            m->attn = (sn_attn_spec){.kind = (sn_attn_kind)77};
            a = sn_dit_forward(ctx, m, x, t, y);
            CHECKF(!sn_ok(ctx) && has_text(sn_error(ctx), "attention"), "%s", sn_error(ctx));
            sn_clear_error(ctx);
            m->attn = (sn_attn_spec){.kind = SN_ATTN_FULL};

            /* a label beyond the null class, and a bad x */
            int32_t bad[5] = {0, 1, 2, 11, 3};
            sn_tensor yb = sn_from_host(ctx, sn_tensor_wrap(bad, SN_I32, SN_SHAPE(5)));
            CHECK(!sn_has(sn_dit_forward(ctx, m, x, t, yb)));
            CHECKF(has_text(sn_error(ctx), "label 11"), "%s", sn_error(ctx));
            sn_clear_error(ctx);
            sn_tensor xb = sn_zeros(ctx, SN_F32, SN_SHAPE(5, 4, 7, 8));
            CHECK(!sn_has(sn_dit_forward(ctx, m, xb, t, y)));
            CHECKF(has_text(sn_error(ctx), "multiples of the patch size 2"), "%s", sn_error(ctx));
            sn_clear_error(ctx);
            sn_scope_end(ctx, s, sn_none());
            sn_ckpt_close(io);
        }
        sn_dit_free(m);
    }

    /* DiT, safetensors without pos_embed, heads from metadata, patch 1, no learn_sigma */
    m = parity("dit_p1.safetensors", NULL, "dit_p1");
    if (m) {
        const sn_dit_info *in = &m->info;
        CHECK(!strcmp(in->family, "dit") && in->input_size == 0 && in->patch == 1);
        CHECK(in->in_channels == 4 && in->out_channels == 4 && !in->learn_sigma);
        CHECK(in->depth == 1 && in->heads == 4);
        sn_dit_free(m);
    }

    /* LightningDiT, nested .pt, auto kind, heads from the RoPE tables */
    m = parity("lightningdit.pt", NULL, "lightningdit");
    if (m) {
        const sn_dit_info *in = &m->info;
        CHECK(!strcmp(in->family, "lightningdit") && in->time == SN_DIT_TIME_FLOW && in->t_max == 1.0f);
        CHECK(in->input_size == 6 && in->patch == 1 && in->in_channels == 32 && in->out_channels == 32);
        CHECK(in->hidden == 64 && in->depth == 2 && in->heads == 4 && in->head_dim == 16);
        CHECK(in->mlp_hidden == 170 && in->num_classes == 10 && !in->learn_sigma);
        CHECK(in->rmsnorm && in->swiglu && in->rope && in->qknorm == 1 && !in->wo_shift);
        sn_dit_free(m);
    }
    m = parity("lightningdit_b.safetensors", "lightningdit", "lightningdit_b");
    if (m) {
        const sn_dit_info *in = &m->info;
        CHECK(in->input_size == 8 && in->patch == 2 && in->in_channels == 32 && in->out_channels == 32);
        CHECK(in->learn_sigma && in->depth == 1 && in->heads == 4 && in->mlp_hidden == 256);
        CHECK(!in->rmsnorm && !in->swiglu && !in->rope && in->qknorm == 2 && in->wo_shift);
        sn_dit_free(m);
    }
}

/* --- position tables against the checkpoints' --------------------------------------------- */

static void compare_table(const sn_ckpt *ck, const char *name, const float *mine, long n) {
    const sn_ckpt_entry *e = sn_ckpt_find(ck, name);
    CHECKF(e && e->dtype == SN_F32 && sn_ckpt_entry_numel(e) == n, "%s: '%s' missing or not %ld f32",
           sn_ckpt_path(ck), name, n);
    if (!e || e->dtype != SN_F32 || sn_ckpt_entry_numel(e) != n) return;
    const float *ref = e->data;
    double maxd = 0;
    long same = 0;
    for (long i = 0; i < n; i++) {
        double d = fabs((double)mine[i] - ref[i]);
        if (d > maxd) maxd = d;
        same += mine[i] == ref[i];
    }
    printf("table %-24s %ld values: %ld identical, max |diff| %.2e\n", name, n, same, maxd);
    CHECKF(maxd <= 2e-7, "%s: computed %s differs by %.3g", sn_ckpt_path(ck), name, maxd);
}

static void test_tables(void) {
    char path[1300], err[512];
    float tab[36 * 64], tab2[36 * 16];
    snprintf(path, sizeof path, "%s/dit.pt", fixdir);
    sn_ckpt *ck = sn_ckpt_open(path, err, sizeof err);
    CHECKF(ck != NULL, "%s", err);
    if (ck) {
        sn_dit_sincos_pos_embed(tab, 4, 4, 64);
        compare_table(ck, "pos_embed", tab, 16 * 64);
        sn_ckpt_close(ck);
    }
    snprintf(path, sizeof path, "%s/lightningdit.pt", fixdir);
    ck = sn_ckpt_open(path, err, sizeof err);
    CHECKF(ck != NULL, "%s", err);
    if (ck) {
        CHECK(sn_ckpt_set_prefix(ck, "ema.") > 0);
        sn_dit_sincos_pos_embed(tab, 6, 6, 64);
        compare_table(ck, "pos_embed", tab, 36 * 64);
        sn_dit_rope_tables(tab, tab2, 6, 6, 16);
        compare_table(ck, "feat_rope.freqs_cos", tab, 36 * 16);
        compare_table(ck, "feat_rope.freqs_sin", tab2, 36 * 16);
        sn_ckpt_close(ck);
    }
    /* the layout itself (models.md 1.5): token (i, j) = (1, 2), D = 8, w = (1, 0.01) */
    float pe[3 * 3 * 8];
    sn_dit_sincos_pos_embed(pe, 3, 3, 8);
    const float *r = pe + (1 * 3 + 2) * 8;
    CHECK(fabsf(r[0] - sinf(2)) < 1e-6f && fabsf(r[1] - sinf(0.02f)) < 1e-6f);
    CHECK(fabsf(r[2] - cosf(2)) < 1e-6f && fabsf(r[4] - sinf(1)) < 1e-6f && fabsf(r[6] - cosf(1)) < 1e-6f);
    /* RoPE (models.md 2.1): head_dim 8, per axis 4 dims = [f0 f0 f1 f1], row first */
    float rc[3 * 3 * 8], rs[3 * 3 * 8];
    sn_dit_rope_tables(rc, rs, 3, 3, 8);
    const float *c = rc + (1 * 3 + 2) * 8, *s = rs + (1 * 3 + 2) * 8;
    CHECK(c[0] == c[1] && fabsf(c[0] - cosf(1)) < 1e-6f && fabsf(c[2] - cosf(0.01f)) < 1e-6f);
    CHECK(fabsf(s[4] - sinf(2)) < 1e-6f && fabsf(s[6] - sinf(0.02f)) < 1e-6f && s[6] == s[7]);
}

/* --- broken checkpoints -------------------------------------------------------------------- */

/* Copies dit_p1.safetensors to tmp with tensor `drop` left out, or with `reshape` given the
 * shape (rows, cols) over its first rows*cols values. */
static int write_variant(const char *out, const char *drop, const char *reshape, int64_t rows,
                         int64_t cols) {
    char path[1300], err[512];
    snprintf(path, sizeof path, "%s/dit_p1.safetensors", fixdir);
    sn_ckpt *ck = sn_ckpt_open(path, err, sizeof err);
    CHECKF(ck != NULL, "%s", err);
    if (!ck) return -1;
    int n = sn_ckpt_count(ck), k = 0;
    sn_named_tensor *ts = calloc(n, sizeof *ts);
    for (int i = 0; i < n; i++) {
        const sn_ckpt_entry *e = sn_ckpt_at(ck, i);
        if (drop && !strcmp(e->name, drop)) continue;
        ts[k].name = e->name;
        ts[k].t = sn_tensor_wrap((void *)e->data, e->dtype, e->ndim, e->shape);
        if (reshape && !strcmp(e->name, reshape)) ts[k].t = sn_tensor_wrap((void *)e->data, e->dtype, SN_SHAPE(rows, cols));
        k++;
    }
    const char *meta[] = {"sinter.dit.num_heads", "4"};
    int r = sn_safetensors_write(out, ts, k, meta, 1, err, sizeof err);
    CHECKF(r == 0, "%s", err);
    free(ts);
    sn_ckpt_close(ck);
    return r;
}

static void test_broken(void) {
    char path[1300];
    snprintf(path, sizeof path, "%s/dit_missing.safetensors", tmpdir);
    if (!write_variant(path, "blocks.0.mlp.fc2.bias", NULL, 0, 0)) {
        CHECK(sn_dit_load(ctx, path, NULL) == NULL);
        const char *e = sn_error(ctx);
        CHECKF(has_text(e, path) && has_text(e, "'blocks.0.mlp.fc2.bias'") && has_text(e, "missing"),
               "%s", e);
        printf("missing tensor: %s\n", e);
        sn_clear_error(ctx);
    }
    snprintf(path, sizeof path, "%s/dit_misshaped.safetensors", tmpdir);
    if (!write_variant(path, NULL, "blocks.0.attn.proj.weight", 64, 63)) {
        CHECK(sn_dit_load(ctx, path, NULL) == NULL);
        const char *e = sn_error(ctx);
        CHECKF(has_text(e, path) && has_text(e, "'blocks.0.attn.proj.weight'") &&
                   has_text(e, "[64, 63]") && has_text(e, "[64, 64]"), "%s", e);
        printf("mis-shaped tensor: %s\n", e);
        sn_clear_error(ctx);
    }
    /* not a DiT at all */
    snprintf(path, sizeof path, "%s/dit_other.safetensors", tmpdir);
    if (!write_variant(path, "x_embedder.proj.weight", NULL, 0, 0)) {
        CHECK(sn_dit_load(ctx, path, NULL) == NULL);
        CHECKF(has_text(sn_error(ctx), "not a DiT or LightningDiT checkpoint"), "%s", sn_error(ctx));
        sn_clear_error(ctx);
    }
    snprintf(path, sizeof path, "%s/no_such_file.pt", tmpdir);
    CHECK(sn_dit_load(ctx, path, NULL) == NULL && has_text(sn_error(ctx), "no_such_file.pt"));
    sn_clear_error(ctx);
}

/* --- heads, kinds ------------------------------------------------------------------------- */

static void expect_fail(const char *file, const char *kind, const char *part) {
    char path[1300];
    snprintf(path, sizeof path, "%s/%s", fixdir, file);
    sn_dit *m = sn_dit_load(ctx, path, kind);
    CHECKF(m == NULL && has_text(sn_error(ctx), part), "%s with kind %s: expected an error with "
           "'%s', got '%s'", file, kind ? kind : "NULL", part, m ? "success" : sn_error(ctx));
    sn_dit_free(m);
    sn_clear_error(ctx);
}

static void test_kinds(void) {
    /* hidden 64 is no published size: the heads must be given */
    expect_fail("dit.pt", NULL, "cannot tell the number of attention heads for hidden size 64");
    expect_fail("dit.pt", "dit:heads=5", "5 heads (from the kind string) do not divide");
    expect_fail("dit.pt", "dit:heads=x", "cannot read option");
    expect_fail("dit.pt", "sd3", "unknown diffusion transformer kind");
    expect_fail("lightningdit.pt", "dit", "looks like a LightningDiT checkpoint");
    expect_fail("lightningdit.pt", "lightningdit:heads=8", "head_dim 16");
    /* the kind's heads win over the metadata's */
    expect_fail("dit_p1.safetensors", "dit:heads=3", "3 heads (from the kind string)");
    char path[1300];
    snprintf(path, sizeof path, "%s/dit_p1.safetensors", fixdir);
    sn_dit *m = sn_dit_load(ctx, path, "auto:heads=2");
    CHECKF(m && m->info.heads == 2, "%s", sn_error(ctx));
    sn_dit_free(m);
    sn_clear_error(ctx);
    /* rope=0|1 overrides the tensors: off despite the file's tables, or on without them
     * (tables computed) */
    snprintf(path, sizeof path, "%s/lightningdit.pt", fixdir);
    m = sn_dit_load(ctx, path, "lightningdit:heads=4,rope=0");
    CHECKF(m && !m->info.rope && m->info.heads == 4, "%s", sn_error(ctx));
    sn_dit_free(m);
    sn_clear_error(ctx);
    snprintf(path, sizeof path, "%s/lightningdit_b.safetensors", fixdir);
    m = sn_dit_load(ctx, path, "auto:rope=1");
    CHECKF(m && m->info.rope && m->info.input_size == 8, "%s", sn_error(ctx));
    if (m) {
        sn_scope s = sn_scope_begin(ctx);
        sn_tensor x = sn_zeros(ctx, SN_F32, SN_SHAPE(1, 32, 4, 6));
        sn_tensor tt = sn_zeros(ctx, SN_F32, SN_SHAPE(1)), y = sn_zeros(ctx, SN_I32, SN_SHAPE(1));
        sn_tensor o = sn_dit_forward(ctx, m, x, tt, y); /* a non-square grid, 2 x 3 */
        CHECKF(sn_ok(ctx) && o.ndim == 4 && o.shape[1] == 32 && o.shape[2] == 4 && o.shape[3] == 6,
               "%s", sn_error(ctx));
        sn_clear_error(ctx);
        sn_scope_end(ctx, s, sn_none());
    }
    sn_dit_free(m);
    sn_clear_error(ctx);
}

/* --- the heads rule on a synthetic DiT-S width (hidden 384 -> 6 heads) ------------------- */

static void test_published_heads(void) {
    enum { D = 384, NT = 18 };
    static const char *names[NT] = {
        "x_embedder.proj.weight", "x_embedder.proj.bias", "t_embedder.mlp.0.weight",
        "t_embedder.mlp.0.bias", "t_embedder.mlp.2.weight", "t_embedder.mlp.2.bias",
        "y_embedder.embedding_table.weight", "blocks.0.attn.qkv.weight", "blocks.0.attn.qkv.bias",
        "blocks.0.attn.proj.weight", "blocks.0.attn.proj.bias", "blocks.0.mlp.fc1.weight",
        "blocks.0.mlp.fc1.bias", "blocks.0.mlp.fc2.weight", "blocks.0.mlp.fc2.bias",
        "blocks.0.adaLN_modulation.1.weight", "blocks.0.adaLN_modulation.1.bias",
        "final_layer.linear.weight"};
    /* the MLP is 16 wide to keep the file small: its width is read from fc1 */
    static const int64_t shapes[NT][4] = {
        {D, 4, 2, 2}, {D}, {D, 256}, {D}, {D, D}, {D}, {11, D}, {3 * D, D}, {3 * D}, {D, D}, {D},
        {16, D}, {16}, {D, 16}, {D}, {6 * D, D}, {6 * D}, {32, D}};
    static const int nds[NT] = {4, 1, 2, 1, 2, 1, 2, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2};
    sn_named_tensor ts[NT + 3];
    float *bufs[NT + 3];
    int n = 0;
    for (int i = 0; i < NT + 3; i++) {
        const char *name = i < NT ? names[i] : i == NT ? "final_layer.linear.bias"
                           : i == NT + 1 ? "final_layer.adaLN_modulation.1.weight"
                                         : "final_layer.adaLN_modulation.1.bias";
        int nd = i < NT ? nds[i] : i == NT + 1 ? 2 : 1;
        int64_t sh[4] = {0};
        if (i < NT) memcpy(sh, shapes[i], sizeof sh);
        else if (i == NT) sh[0] = 32;
        else sh[0] = 2 * D, sh[1] = D;
        int64_t cnt = 1;
        for (int k = 0; k < nd; k++) cnt *= sh[k];
        bufs[n] = malloc(cnt * sizeof(float));
        for (int64_t k = 0; k < cnt; k++) bufs[n][k] = 0.05f * check_uniform();
        ts[n].name = name;
        ts[n].t = sn_tensor_wrap(bufs[n], SN_F32, nd, sh);
        n++;
    }
    char path[1300], err[256];
    snprintf(path, sizeof path, "%s/dit_s_width.safetensors", tmpdir);
    CHECKF(!sn_safetensors_write(path, ts, n, NULL, 0, err, sizeof err), "%s", err);
    for (int i = 0; i < n; i++) free(bufs[i]);
    sn_dit *m = sn_dit_load(ctx, path, NULL);
    CHECKF(m && m->info.heads == 6 && m->info.head_dim == 64 && m->info.mlp_hidden == 16 &&
               m->info.num_classes == 10 && m->info.input_size == 0,
           "%s", m ? m->info.description : sn_error(ctx));
    if (m) {
        CHECKF(has_text(m->info.description, "DiT (custom size, patch 2): 1 block, hidden 384, 6 heads"),
               "%s", m->info.description);
        sn_scope s = sn_scope_begin(ctx);
        float tv[2] = {10, 900};
        int32_t yv[2] = {3, 10};
        sn_tensor x = sn_zeros(ctx, SN_F32, SN_SHAPE(2, 4, 6, 4));
        sn_tensor t = sn_from_host(ctx, sn_tensor_wrap(tv, SN_F32, SN_SHAPE(2)));
        sn_tensor y = sn_from_host(ctx, sn_tensor_wrap(yv, SN_I32, SN_SHAPE(2)));
        sn_tensor o = sn_dit_forward(ctx, m, x, t, y);
        int finite = sn_has(o);
        for (int64_t i = 0; finite && i < sn_numel(o); i++) finite = isfinite(((float *)o.data)[i]);
        CHECKF(finite && o.shape[1] == 8 && o.shape[2] == 6 && o.shape[3] == 4, "%s", sn_error(ctx));
        sn_clear_error(ctx);
        sn_scope_end(ctx, s, sn_none());
        sn_dit_free(m);
    }
    sn_clear_error(ctx);
    /* 384 is no LightningDiT size */
    m = sn_dit_load(ctx, path, "lightningdit");
    CHECKF(!m && has_text(sn_error(ctx), "not a published lightningdit size"), "%s", sn_error(ctx));
    sn_dit_free(m);
    sn_clear_error(ctx);
}

int main(void) {
    char err[256];
    ctx = sn_ctx_new(&(sn_ctx_opts){.device = SN_CPU, .threads = 2}, err, sizeof err);
    CHECKF(ctx != NULL, "%s", err);
    if (!ctx) return check_summary("test_dit");
    snprintf(tmpdir, sizeof tmpdir, "%s", check_tmpdir());
    check_fixture_dir("dit", "run python3 tools/reference/dit.py tests/fixtures/dit on a "
                      "machine with PyTorch", fixdir, sizeof fixdir);
    test_parity();
    test_tables();
    test_broken();
    test_kinds();
    test_published_heads();
    sn_ctx_free(ctx);
    return check_summary("test_dit");
}
