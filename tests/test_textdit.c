/* The text-conditioned DiT (dit/textdit.c).
 *
 * Parity, with fixtures from tools/reference/textdit.py in tests/fixtures/textdit/ (skipped
 * with a message when absent): the forward against PyTorch float64, relative tolerance 1e-4
 * (f32 CPU), for
 *   textdit.safetensors       PixArt-alpha layout (pred_sigma, stored pos_embed and null
 *                             caption), batch of 3 with 6, 3 and 1 real text tokens (mask);
 *                             also on another grid (PixArt's table relative to base_size) and
 *                             without a mask at another text length
 *   textdit_pool.safetensors  pooled text added to the time embedding, flow prediction and
 *                             time, time_scale 1000, no stored tables (base_size and
 *                             pe_interpolation from metadata)
 * and: what the padding holds changes nothing (exactly), an f32 mask equals the i32 one, the
 * configuration read from shapes and metadata, the attention spec is the model's, a forward
 * leaves only its output in the arena, sn_dit_forward refuses a text model (and
 * sn_textdit_forward a class model), bad inputs, missing / mis-shaped tensors and bad metadata
 * fail naming the thing. */
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

static sn_ckpt *open_io(const char *name) {
    char path[1300], err[512];
    snprintf(path, sizeof path, "%s/%s_io.safetensors", fixdir, name);
    sn_ckpt *io = sn_ckpt_open(path, err, sizeof err);
    CHECKF(io != NULL, "%s", err);
    return io;
}

static sn_dit *load(const char *file, const char *kind) {
    char path[1300];
    snprintf(path, sizeof path, "%s/%s", fixdir, file);
    sn_dit *m = sn_dit_load(ctx, path, kind);
    CHECKF(m != NULL, "load %s: %s", file, sn_error(ctx));
    sn_clear_error(ctx);
    return m;
}

/* Runs one forward and compares with `ref`; returns the relative error (or 1e30). */
static double compare(sn_dit *m, const sn_ckpt *io, const char *x, const char *text,
                      const char *mask, const char *ref, const char *what) {
    sn_scope s = sn_scope_begin(ctx);
    size_t before = sn_arena_used(ctx);
    sn_tensor tx = io_tensor(io, x), tt = io_tensor(io, "t"), ttext = io_tensor(io, text);
    sn_tensor tmask = mask ? io_tensor(io, mask) : sn_none();
    size_t inputs = sn_arena_used(ctx) - before;
    sn_tensor out = sn_textdit_forward(ctx, m, tx, tt, ttext, tmask);
    CHECKF(sn_ok(ctx), "%s forward: %s", what, sn_error(ctx));
    double e = 1e30;
    const sn_ckpt_entry *r = sn_ckpt_find(io, ref);
    if (sn_ok(ctx) && r) {
        CHECKF(sn_same_shape(out, sn_tensor_wrap(NULL, SN_F32, r->ndim, r->shape)),
               "%s: output shape differs from the reference", what);
        size_t used = sn_arena_used(ctx) - before - inputs;
        CHECKF(used == (sn_nbytes(out) + 63) / 64 * 64, "%s: forward left %zu bytes in the arena "
               "for a %zu-byte output", what, used, sn_nbytes(out));
        e = check_rel_err(out.data, io_f32(io, ref), (long)sn_numel(out));
        printf("parity %-34s relative error %.2e\n", what, e);
        CHECKF(e <= 1e-4, "%s: relative error %.3g > 1e-4", what, e);
    }
    sn_clear_error(ctx);
    sn_scope_end(ctx, s, sn_none());
    return e;
}

static void test_pixart(void) {
    sn_dit *m = load("textdit.safetensors", NULL);
    sn_ckpt *io = open_io("textdit");
    if (!m || !io) goto done;
    const sn_dit_info *in = &m->info;
    printf("%s\n", in->description);
    CHECK(!strcmp(in->family, "textdit") && in->time == SN_DIT_TIME_STEPS && in->t_max == 999.0f);
    CHECK(in->pred == SN_DIT_PRED_EPS && in->time_scale == 1.0f);
    CHECK(in->input_size == 8 && in->patch == 2 && in->in_channels == 4 && in->out_channels == 8);
    CHECK(in->hidden == 64 && in->depth == 2 && in->heads == 4 && in->head_dim == 16);
    CHECK(in->mlp_hidden == 256 && in->learn_sigma && in->text_dim == 64 && !in->text_pool);
    CHECK(in->null_text_len == 8);
    sn_tensor nt = sn_textdit_null_text(m);
    CHECK(nt.ndim == 3 && nt.shape[0] == 1 && nt.shape[1] == 8 && nt.shape[2] == 64);
    /* every number in the file but pos_embed (16 x 64) and y_embedding (8 x 64) */
    CHECKF(in->n_params == 192224 - 16 * 64 - 8 * 64, "n_params %lld", (long long)in->n_params);

    compare(m, io, "x", "text", "mask", "out", "textdit (mask)");
    compare(m, io, "x_alt", "text", "mask", "out_alt", "textdit 12x12 (other grid)");
    compare(m, io, "x", "text_nomask", NULL, "out_nomask", "textdit (no mask, L = 4)");

    /* the padding's values do not matter; an f32 mask is the i32 one */
    sn_scope s = sn_scope_begin(ctx);
    const sn_ckpt_entry *te = sn_ckpt_find(io, "text"), *me = sn_ckpt_find(io, "mask");
    int64_t n = te->shape[0], len = te->shape[1], dt = te->shape[2];
    float *text2 = malloc(sn_ckpt_entry_numel(te) * sizeof(float));
    float *maskf = malloc(n * len * sizeof(float));
    memcpy(text2, te->data, sn_ckpt_entry_numel(te) * sizeof(float));
    const int32_t *mi = me->data;
    for (int64_t i = 0; i < n * len; i++) {
        maskf[i] = (float)mi[i];
        if (!mi[i])
            for (int64_t k = 0; k < dt; k++) text2[i * dt + k] = 1e3f * (float)((k % 7) - 3);
    }
    sn_tensor x = io_tensor(io, "x"), t = io_tensor(io, "t");
    sn_tensor a = sn_textdit_forward(ctx, m, x, t, io_tensor(io, "text"), io_tensor(io, "mask"));
    sn_tensor b = sn_textdit_forward(ctx, m, x, t, sn_from_host(ctx, sn_tensor_wrap(text2, SN_F32, 3, te->shape)),
                                     sn_from_host(ctx, sn_tensor_wrap(maskf, SN_F32, 2, me->shape)));
    CHECKF(sn_ok(ctx), "%s", sn_error(ctx));
    if (sn_ok(ctx)) CHECK(memcmp(a.data, b.data, sn_nbytes(a)) == 0);

    /* the attention spec is the model's (self-attention): another scale changes the output,
     * an unknown kind reaches sn_attention */
    m->attn.scale = 0.5f;
    sn_tensor c = sn_textdit_forward(ctx, m, x, t, io_tensor(io, "text"), io_tensor(io, "mask"));
    CHECK(sn_ok(ctx) && check_rel_err(c.data, io_f32(io, "out"), (long)sn_numel(c)) > 1e-3);
    m->attn = (sn_attn_spec){.kind = (sn_attn_kind)77};
    sn_textdit_forward(ctx, m, x, t, io_tensor(io, "text"), io_tensor(io, "mask"));
    CHECKF(!sn_ok(ctx) && has_text(sn_error(ctx), "attention"), "%s", sn_error(ctx));
    sn_clear_error(ctx);
    m->attn = (sn_attn_spec){.kind = SN_ATTN_FULL};

    /* bad inputs */
    sn_tensor narrow = sn_zeros(ctx, SN_F32, SN_SHAPE(3, 6, 32));
    sn_textdit_forward(ctx, m, x, t, narrow, sn_none());
    CHECKF(has_text(sn_error(ctx), "width 64") && has_text(sn_error(ctx), "[3, 6, 32]"), "%s", sn_error(ctx));
    sn_clear_error(ctx);
    sn_textdit_forward(ctx, m, x, t, io_tensor(io, "text"), sn_zeros(ctx, SN_I32, SN_SHAPE(3, 5)));
    CHECKF(has_text(sn_error(ctx), "mask"), "%s", sn_error(ctx));
    sn_clear_error(ctx);
    sn_textdit_forward(ctx, m, sn_zeros(ctx, SN_F32, SN_SHAPE(3, 4, 7, 8)), t, io_tensor(io, "text"), sn_none());
    CHECKF(has_text(sn_error(ctx), "patch size 2"), "%s", sn_error(ctx));
    sn_clear_error(ctx);
    sn_textdit_forward(ctx, m, x, sn_zeros(ctx, SN_F32, SN_SHAPE(2)), io_tensor(io, "text"), sn_none());
    CHECKF(has_text(sn_error(ctx), "t is"), "%s", sn_error(ctx));
    sn_clear_error(ctx);
    /* a text model has no class-label forward */
    sn_dit_forward(ctx, m, x, t, sn_zeros(ctx, SN_I32, SN_SHAPE(3)));
    CHECKF(has_text(sn_error(ctx), "sn_textdit_forward"), "%s", sn_error(ctx));
    sn_clear_error(ctx);
    sn_scope_end(ctx, s, sn_none());
    free(text2);
    free(maskf);
done:
    sn_ckpt_close(io);
    sn_dit_free(m);
}

static void test_pool(void) {
    sn_dit *m = load("textdit_pool.safetensors", "textdit");
    sn_ckpt *io = open_io("textdit_pool");
    if (m && io) {
        const sn_dit_info *in = &m->info;
        printf("%s\n", in->description);
        CHECK(in->time == SN_DIT_TIME_FLOW && in->t_max == 1.0f && in->pred == SN_DIT_PRED_FLOW);
        CHECK(in->time_scale == 1000.0f && in->text_pool && in->text_dim == 48);
        CHECK(in->patch == 1 && in->in_channels == 4 && in->out_channels == 4 && !in->learn_sigma);
        CHECK(in->hidden == 32 && in->heads == 2 && in->depth == 1 && in->null_text_len == 0);
        CHECK(in->input_size == 6); /* from base_size */
        CHECK(!sn_has(sn_textdit_null_text(m)));
        compare(m, io, "x", "text", "mask", "out", "textdit_pool (pooled, flow)");
    }
    sn_ckpt_close(io);
    sn_dit_free(m);
}

/* --- broken files ---------------------------------------------------------------------- */

/* Copies textdit.safetensors without `drop`, with `reshape` as (rows, cols), and with the
 * metadata key/value pair (or none). */
static int write_variant(const char *out, const char *drop, const char *reshape, int64_t rows,
                         int64_t cols, const char *key, const char *value) {
    char path[1300], err[512];
    snprintf(path, sizeof path, "%s/textdit.safetensors", fixdir);
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
        if (reshape && !strcmp(e->name, reshape))
            ts[k].t = sn_tensor_wrap((void *)e->data, e->dtype, SN_SHAPE(rows, cols));
        k++;
    }
    const char *meta[] = {"sinter.dit.num_heads", "4", key, value};
    int r = sn_safetensors_write(out, ts, k, meta, key ? 2 : 1, err, sizeof err);
    CHECKF(r == 0, "%s", err);
    free(ts);
    sn_ckpt_close(ck);
    return r;
}

static void expect_load_fail(const char *path, const char *kind, const char *p1, const char *p2) {
    sn_dit *m = sn_dit_load(ctx, path, kind);
    const char *e = sn_error(ctx);
    CHECKF(m == NULL && has_text(e, p1) && (!p2 || has_text(e, p2)), "%s: expected an error with "
           "'%s', got '%s'", path, p1, m ? "success" : e);
    if (!m) printf("refused: %s\n", e);
    sn_dit_free(m);
    sn_clear_error(ctx);
}

static void test_broken(void) {
    char path[1300];
    snprintf(path, sizeof path, "%s/textdit_missing.safetensors", tmpdir);
    if (!write_variant(path, "blocks.1.cross_attn.kv_linear.weight", NULL, 0, 0, NULL, NULL))
        expect_load_fail(path, NULL, "'blocks.1.cross_attn.kv_linear.weight'", "missing");
    snprintf(path, sizeof path, "%s/textdit_misshaped.safetensors", tmpdir);
    if (!write_variant(path, NULL, "blocks.0.cross_attn.q_linear.weight", 64, 63, NULL, NULL))
        expect_load_fail(path, NULL, "[64, 63]", "[64, 64]");
    snprintf(path, sizeof path, "%s/textdit_pred.safetensors", tmpdir);
    if (!write_variant(path, NULL, NULL, 0, 0, "sinter.dit.prediction", "noise"))
        expect_load_fail(path, NULL, "sinter.dit.prediction 'noise'", NULL);
    snprintf(path, sizeof path, "%s/textdit_time.safetensors", tmpdir);
    if (!write_variant(path, NULL, NULL, 0, 0, "sinter.dit.time", "minutes"))
        expect_load_fail(path, NULL, "sinter.dit.time 'minutes'", NULL);
    snprintf(path, sizeof path, "%s/textdit_flowsteps.safetensors", tmpdir);
    if (!write_variant(path, NULL, NULL, 0, 0, "sinter.dit.prediction", "flow"))
        expect_load_fail(path, NULL, "flow time convention", NULL);
    snprintf(path, sizeof path, "%s/textdit_scale.safetensors", tmpdir);
    if (!write_variant(path, NULL, NULL, 0, 0, "sinter.dit.time_scale", "-3"))
        expect_load_fail(path, NULL, "sinter.dit.time_scale '-3' is not a positive number", NULL);
    /* heads: from the kind string (overriding metadata); one that does not divide 64 */
    snprintf(path, sizeof path, "%s/textdit.safetensors", fixdir);
    expect_load_fail(path, "textdit:heads=5", "5 heads", "do not divide the hidden size 64");
    sn_dit *m = sn_dit_load(ctx, path, "textdit:heads=8");
    CHECKF(m && m->info.heads == 8, "%s", sn_error(ctx));
    sn_dit_free(m);
    sn_clear_error(ctx);
    /* a class model is not a text model, and the other way round */
    expect_load_fail(path, "dit:heads=4", "textdit", NULL);
    char dpath[1300];
    snprintf(dpath, sizeof dpath, "%s/../dit/dit_p1.safetensors", fixdir);
    struct stat st;
    if (stat(dpath, &st) == 0) {
        sn_dit *d = sn_dit_load(ctx, dpath, NULL);
        CHECKF(d && !strcmp(d->info.family, "dit") && d->info.pred == SN_DIT_PRED_EPS, "%s", sn_error(ctx));
        if (d) {
            sn_scope s = sn_scope_begin(ctx);
            sn_textdit_forward(ctx, d, sn_zeros(ctx, SN_F32, SN_SHAPE(1, 4, 6, 6)),
                               sn_zeros(ctx, SN_F32, SN_SHAPE(1)),
                               sn_zeros(ctx, SN_F32, SN_SHAPE(1, 2, 64)), sn_none());
            CHECKF(has_text(sn_error(ctx), "not a text-conditioned model"), "%s", sn_error(ctx));
            sn_clear_error(ctx);
            sn_scope_end(ctx, s, sn_none());
        }
        sn_dit_free(d);
        sn_clear_error(ctx);
    }
}

int main(void) {
    char err[256];
    ctx = sn_ctx_new(&(sn_ctx_opts){.device = SN_CPU, .threads = 2}, err, sizeof err);
    CHECKF(ctx != NULL, "%s", err);
    if (!ctx) return check_summary("test_textdit");
    snprintf(tmpdir, sizeof tmpdir, "%s", check_tmpdir());
    check_fixture_dir("textdit", "run python3 tools/reference/textdit.py tests/fixtures/textdit "
                      "on a machine with PyTorch", fixdir, sizeof fixdir);
    test_pixart();
    test_pool();
    test_broken();
    sn_ctx_free(ctx);
    return check_summary("test_textdit");
}
