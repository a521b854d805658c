/* sinter t2i: text-to-image with a text-conditioned DiT (dit/textdit.c).
 *
 *   prompt, negative prompt --tokenizer--> ids (padded to one length, mask)
 *     --text encoder--> text tokens (2, L, D_txt), one row each, encoded as one batch
 *   seed -> x_T (torch.randn) -> sampler loop around the DiT, classifier-free guidance with
 *     the negative prompt (empty when not given) as the unconditional branch, both branches
 *     evaluated as one batch -> autoencoder decode -> PNG with the parameters text.
 *
 * Files: --model, --vae, --text-encoder, --tokenizer. A file not given is looked for in the
 * bundled model's folder (bundled_files below): $SINTER_MODEL_DIR when set, else
 * <executable>/../weights/default (a build tree) and <executable>/../share/sinter/default (an
 * install). When sinter ships its model there, the four options become optional without a
 * change here. The model's recommended settings come from its metadata (sinter.t2i.*, listed
 * in dit/dit.h); options override them. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../core/fileio.h"
#include "../../core/log.h"
#include "../../core/ops.h"
#include "../../core/rng.h"
#include "../../dit/dit.h"
#include "../../samplers/sampler.h"
#include "../../tokenizers/text_encoder.h"
#include "../../tokenizers/tokenizer.h"
#include "../../vae/vae.h"
#include "../../weights/checkpoint.h"
#include "../lib/image.h"
#include "cli.h"
#include "pipeline.h"

/* --- the bundled model's files ------------------------------------------------------------ */

enum { F_MODEL, F_VAE, F_TEXT_ENCODER, F_TOKENIZER, F_COUNT };
static const struct {
    const char *flag, *file;
} bundled_files[F_COUNT] = {
    {"--model", "dit.safetensors"},
    {"--vae", "vae.safetensors"},
    {"--text-encoder", "text_encoder.safetensors"},
    {"--tokenizer", "tokenizer.json"},
};

static int is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The folder holding the bundled model (its DiT file), or "" when there is none; `where`
 * gets the places looked at, for the message. */
static void bundled_dir(char *dir, size_t cap, char *where, size_t wcap) {
    dir[0] = where[0] = 0;
    const char *env = getenv("SINTER_MODEL_DIR");
    char cands[2][PATH_MAX + 64];
    int nc = 0;
    if (env && *env) {
        snprintf(cands[nc++], sizeof cands[0], "%s", env);
    } else {
        char exe[PATH_MAX];
        ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (len > 0) {
            exe[len] = 0;
            char *slash = strrchr(exe, '/');
            if (slash) *slash = 0;
            snprintf(cands[nc++], sizeof cands[0], "%.4000s/../weights/default", exe);
            snprintf(cands[nc++], sizeof cands[0], "%.4000s/../share/sinter/default", exe);
        }
    }
    for (int i = 0; i < nc; i++) {
        size_t used = strlen(where);
        snprintf(where + used, wcap - used, "%s%s", i ? " or " : "", cands[i]);
        char probe[3 * PATH_MAX];
        snprintf(probe, sizeof probe, "%.4160s/%s", cands[i], bundled_files[F_MODEL].file);
        if (!dir[0] && is_file(probe)) snprintf(dir, cap, "%.4160s", cands[i]);
    }
}

/* --- the model's recommended settings (metadata sinter.t2i.*) ----------------------------- */

typedef struct {
    const char *sampler, *beta;
    int steps, size, cfg_channels, text_max_length, text_mask, text_skip;
    double cfg, shift, eta;
} t2i_hints;

static int hint_int(sn_ckpt *ck, const char *key, int *dst) {
    const char *v = sn_ckpt_meta(ck, key);
    if (!v) return 0;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (!*v || *end || errno || x < 0 || x > 1 << 20)
        return sn_fail_exit("%s: metadata %s '%s' is not a whole number", sn_ckpt_path(ck), key, v);
    *dst = (int)x;
    return 0;
}

static int hint_num(sn_ckpt *ck, const char *key, double *dst) {
    const char *v = sn_ckpt_meta(ck, key);
    if (!v) return 0;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (!*v || *end || errno || !(x >= 0 && x < 1e9))
        return sn_fail_exit("%s: metadata %s '%s' is not a number", sn_ckpt_path(ck), key, v);
    *dst = x;
    return 0;
}

/* Reads the hints; the strings stay valid while ck is open. Returns 0 or SN_EXIT_FAIL. */
static int read_hints(sn_ckpt *ck, t2i_hints *h) {
    memset(h, 0, sizeof *h);
    h->cfg = h->shift = h->eta = -1;
    h->text_mask = 1;
    h->sampler = sn_ckpt_meta(ck, "sinter.t2i.sampler");
    h->beta = sn_ckpt_meta(ck, "sinter.t2i.beta");
    int r = hint_int(ck, "sinter.t2i.steps", &h->steps);
    if (!r) r = hint_int(ck, "sinter.t2i.size", &h->size);
    if (!r) r = hint_int(ck, "sinter.t2i.cfg_channels", &h->cfg_channels);
    if (!r) r = hint_int(ck, "sinter.t2i.text_max_length", &h->text_max_length);
    if (!r) r = hint_int(ck, "sinter.t2i.text_mask", &h->text_mask);
    if (!r) r = hint_int(ck, "sinter.t2i.text_skip", &h->text_skip);
    if (!r) r = hint_num(ck, "sinter.t2i.cfg", &h->cfg);
    if (!r) r = hint_num(ck, "sinter.t2i.shift", &h->shift);
    if (!r) r = hint_num(ck, "sinter.t2i.eta", &h->eta);
    return r;
}

/* --- the text stage ------------------------------------------------------------------------- */

/* Tokenizes the prompt and the negative prompt and pads both to one length. ids and mask get
 * 2 x *len values (malloc'd). Returns 0 or SN_EXIT_FAIL. */
static int tokenize_pair(const sn_tokenizer *tok, const char *texts[2], int max_length,
                         int32_t **ids, int32_t **mask, int *len) {
    sn_tok_options opt = SN_TOK_DEFAULTS;
    opt.max_length = max_length;
    sn_tok_encoding enc[2] = {{0}};
    char err[512];
    int r = SN_EXIT_OK;
    *ids = *mask = NULL;
    for (int i = 0; i < 2 && r == SN_EXIT_OK; i++)
        if (sn_tokenizer_encode(tok, texts[i], &opt, &enc[i], err, sizeof err))
            r = sn_fail_exit("%s: %s", i ? "negative prompt" : "prompt", err);
    if (r == SN_EXIT_OK) {
        int L = enc[0].n > enc[1].n ? enc[0].n : enc[1].n;
        int32_t pad = sn_tokenizer_get_info(tok)->pad_id;
        *ids = malloc(2 * (size_t)L * sizeof **ids);
        *mask = malloc(2 * (size_t)L * sizeof **mask);
        if (!*ids || !*mask || L < 1) {
            r = sn_fail_exit(L < 1 ? "the tokenizer made no tokens" : "out of memory");
        } else {
            for (int i = 0; i < 2; i++)
                for (int k = 0; k < L; k++) {
                    (*ids)[i * L + k] = k < enc[i].n ? enc[i].ids[k] : pad < 0 ? 0 : pad;
                    (*mask)[i * L + k] = k < enc[i].n_tokens;
                }
            *len = L;
            if (enc[0].n_truncated)
                sn_warn("the prompt is %d tokens too long for the text encoder; the end is cut off",
                        enc[0].n_truncated);
        }
    }
    sn_tok_encoding_free(&enc[0]);
    sn_tok_encoding_free(&enc[1]);
    if (r != SN_EXIT_OK) {
        free(*ids), free(*mask);
        *ids = *mask = NULL;
    }
    return r;
}

/* rows [0, n) take row 0 of x, rows [n, 2n) row 1: (2, ...) -> (2n, ...). */
static sn_tensor repeat_pair(sn_ctx *ctx, sn_tensor x, int n) {
    sn_tensor *rows = malloc(2 * (size_t)n * sizeof *rows);
    if (!rows) {
        sn_fail(ctx, "out of memory");
        return sn_none();
    }
    for (int i = 0; i < 2 * n; i++) rows[i] = sn_slice(ctx, x, 0, i < n ? 0 : 1, 1);
    sn_tensor out = sn_concat(ctx, rows, 2 * n, 0);
    free(rows);
    return out;
}

/* --- the denoiser callback: batches the conditional and unconditional halves ------------ */

typedef struct {
    sn_dit *model;
    sn_tensor text; /* (2n, L, D): n prompt rows, then n negative rows */
    sn_tensor mask; /* (2n, L) i32, or empty */
    int n;
} t2i_user;

static void t2i_eval(sn_ctx *ctx, void *user, sn_tensor x, double t, sn_tensor *cond,
                     sn_tensor *uncond) {
    t2i_user *u = user;
    int n = u->n, b = uncond ? 2 * n : n;
    float *th = malloc(b * sizeof *th);
    if (!th) {
        sn_fail(ctx, "out of memory");
        return;
    }
    for (int i = 0; i < b; i++) th[i] = (float)t;
    sn_tensor tt = sn_from_host(ctx, sn_tensor_wrap(th, SN_F32, SN_SHAPE(b)));
    free(th);
    sn_tensor xin = uncond ? sn_concat(ctx, (sn_tensor[]){x, x}, 2, 0) : x;
    sn_tensor text = uncond ? u->text : sn_slice(ctx, u->text, 0, 0, n);
    sn_tensor mask = !sn_has(u->mask) ? sn_none() : uncond ? u->mask : sn_slice(ctx, u->mask, 0, 0, n);
    sn_tensor out = sn_textdit_forward(ctx, u->model, xin, tt, text, mask);
    if (!uncond) {
        *cond = out;
        return;
    }
    sn_tensor halves[2];
    sn_split(ctx, out, 0, 2, halves);
    *cond = halves[0];
    *uncond = halves[1];
}

static sn_pred_kind pred_kind(sn_dit_pred p) {
    switch (p) {
    case SN_DIT_PRED_V: return SN_PRED_V;
    case SN_DIT_PRED_X0: return SN_PRED_X0;
    case SN_DIT_PRED_FLOW: return SN_PRED_VELOCITY;
    default: return SN_PRED_EPS;
    }
}

/* --- one prompt ------------------------------------------------------------------------- */

/* What every prompt of a run shares: the loaded models and the settings. */
typedef struct {
    const sn_tokenizer *tok;
    sn_text_encoder *te;
    sn_dit *model;
    sn_vae *vae;
    const t2i_hints *h;
    const sn_sampler_cfg *cfg;
    sn_rng_kind rkind;
    uint64_t seed;
    int n, size, grid;
    const char *negative, *model_file;
} t2i_setup;

/* Draws `prompt` into `out` (n images, as sn_pl_write_images writes them) in an arena scope of
 * its own. t gets the times when the text, the sampling, the decoding and the writing ended.
 * Returns an exit status (messages printed). */
static int draw(sn_ctx *ctx, const t2i_setup *s, const char *prompt, const char *out, double t[4]) {
    const sn_dit_info *mi = &s->model->info;
    const t2i_hints *h = s->h;
    int n = s->n, ls = s->size / s->vae->info.downscale;
    sn_scope scope = sn_scope_begin(ctx);
    int32_t *ids = NULL, *tmask = NULL;
    sn_image *imgs = NULL;
    char *params = NULL;
    int r = SN_EXIT_FAIL;

    /* the text stage: prompt and negative prompt as one batch of two */
    const char *texts[2] = {prompt, s->negative};
    int len = 0;
    if (tokenize_pair(s->tok, texts, h->text_max_length, &ids, &tmask, &len) != SN_EXIT_OK) goto done;
    sn_text_opts topts = {.skip = h->text_skip};
    sn_text_output enc;
    if (sn_text_encode(ctx, s->te, ids, h->text_mask ? tmask : NULL, 2, len, &topts, &enc)) {
        sn_fail_exit("%s", sn_error(ctx));
        goto done;
    }
    t2i_user u = {s->model, repeat_pair(ctx, enc.hidden, n), sn_none(), n};
    if (h->text_mask) {
        sn_tensor m2 = sn_from_host(ctx, sn_tensor_wrap(tmask, SN_I32, SN_SHAPE(2, len)));
        u.mask = repeat_pair(ctx, m2, n);
    }
    sn_ctx_wait(ctx);
    t[0] = sn_now();

    /* sampling */
    sn_rng rng;
    sn_rng_init(&rng, s->rkind, s->seed);
    sn_tensor xT = sn_pl_initial_noise(ctx, &rng, SN_SHAPE(n, mi->in_channels, ls, ls));
    sn_denoiser den = {&u, t2i_eval, pred_kind(mi->pred), mi->learn_sigma};
    sn_noise src = sn_noise_from_rng(&rng);
    sn_progress prog = {0};
    sn_sample_progress sp = {&prog, sn_pl_on_step};
    sn_info("%d image%s of %dx%d, %s, %d steps, cfg %g, seed %llu", n, n == 1 ? "" : "s", s->size,
            s->size, sn_sampler_name(s->cfg->kind), s->cfg->steps, s->cfg->guidance.scale,
            (unsigned long long)s->seed);
    sn_tensor z = sn_sample(ctx, s->cfg, &den, xT, &src, &sp);
    sn_progress_end(&prog);
    sn_ctx_wait(ctx);
    t[1] = sn_now();
    sn_tensor y = sn_vae_decode(ctx, s->vae, z);
    imgs = calloc(n, sizeof *imgs);
    if (!sn_ok(ctx) || !imgs || sn_pl_to_images(ctx, y, imgs)) {
        sn_fail_exit("%s", sn_ok(ctx) ? "out of memory" : sn_error(ctx));
        goto done;
    }
    t[2] = sn_now();

    sn_gen_params gp = {.prompt = prompt, .negative = s->negative,
                        .sampler = sn_sampler_name(s->cfg->kind),
                        .model = sn_pl_basename(s->model_file), .steps = s->cfg->steps,
                        .width = s->size, .height = s->size, .cfg = s->cfg->guidance.scale,
                        .seed = s->seed};
    params = sn_params_format(&gp);
    r = params ? sn_pl_write_images(out, imgs, n, s->grid, params) : sn_fail_exit("out of memory");
    t[3] = sn_now();

done:
    for (int i = 0; imgs && i < n; i++) sn_image_free(&imgs[i]);
    free(imgs);
    free(params);
    free(ids);
    free(tmask);
    sn_scope_end(ctx, scope, sn_none());
    return r;
}

/* The prompts of a --prompts file, one a line (blank lines skipped; "\r\n" endings taken);
 * lines[i] gets prompt i's line number. Returns the count, or -1 with a message printed when
 * the file cannot be read, holds a NUL byte or no prompt, or memory runs out. */
static int read_prompts(const char *path, char ***prompts, int **lines) {
    char err[1024];
    size_t len = 0;
    char *text = sn_read_file(path, &len, err, sizeof err);
    *prompts = NULL, *lines = NULL;
    if (!text) return sn_fail_exit("--prompts: %s", err), -1;
    int count = 0, cap = 0, line = 0, bad = strlen(text) != len;
    for (char *at = text, *next; !bad && at; at = next) {
        next = strchr(at, '\n');
        if (next) *next++ = 0;
        line++;
        size_t l = strlen(at);
        if (l && at[l - 1] == '\r') at[--l] = 0;
        if (!at[strspn(at, " \t")]) continue;
        if (count == cap) {
            cap = cap ? 2 * cap : 64;
            char **p2 = realloc(*prompts, cap * sizeof *p2);
            if (p2) *prompts = p2;
            int *l2 = realloc(*lines, cap * sizeof *l2);
            if (l2) *lines = l2;
            if (!p2 || !l2) bad = 2;
        }
        if (!bad && !((*prompts)[count] = strdup(at))) bad = 2;
        if (!bad) (*lines)[count++] = line;
    }
    free(text);
    if (!bad && count) return count;
    for (int i = 0; i < count; i++) free((*prompts)[i]);
    free(*prompts), free(*lines);
    *prompts = NULL, *lines = NULL;
    if (bad == 2) sn_fail_exit("--prompts: out of memory");
    else if (bad) sn_fail_exit("--prompts: %s holds a NUL byte: not a text file of prompts", path);
    else sn_fail_exit("--prompts: %s holds no prompt", path);
    return -1;
}

/* --- the command ------------------------------------------------------------------------ */

typedef struct {
    sn_common_opts common;
    const char *files[F_COUNT];
    const char *negative, *out, *sampler, *rng, *seed_text, *attention, *prompts;
    int steps, n, size, grid;
    double cfg, eta, shift;
} t2i_opts;

static int run(int argc, char **argv) {
    const sn_command *cmd = &sn_cmd_t2i;
    t2i_opts o = {.cfg = -1, .eta = -1, .shift = -1, .rng = "cpu"};
    const sn_opt opts[] = {
        {"--negative", "-n", OPT_STR, &o.negative, "TEXT", "negative prompt: the unconditional branch of guidance (default empty)"},
        {"--model", NULL, OPT_STR, &o.files[F_MODEL], "FILE", "text-conditioned DiT (.safetensors)"},
        {"--vae", NULL, OPT_STR, &o.files[F_VAE], "FILE", "autoencoder for the model's latents"},
        {"--text-encoder", NULL, OPT_STR, &o.files[F_TEXT_ENCODER], "FILE", "CLIP or T5 text encoder"},
        {"--tokenizer", NULL, OPT_STR, &o.files[F_TOKENIZER], "FILE", "the text encoder's tokenizer (tokenizer.json, spiece.model, ...)"},
        {"--sampler", NULL, OPT_STR, &o.sampler, "NAME", "ddpm, ddim, euler, heun (default: the model's)"},
        {"--attention", NULL, OPT_STR, &o.attention, "SPEC", "full (default) or neighborhood:window=K[xK][,stride=S][,dilation=D][,causal=C] over the token grid"},
        {"--steps", NULL, OPT_INT, &o.steps, "N", "sampling steps (default: the model's)"},
        {"--cfg", NULL, OPT_FLOAT, &o.cfg, "SCALE", "classifier-free guidance scale; 1 turns it off (default: the model's, else 4.5)"},
        {"--eta", NULL, OPT_FLOAT, &o.eta, "ETA", "DDIM eta (default 0)"},
        {"--shift", NULL, OPT_FLOAT, &o.shift, "S", "flow time shift (euler/heun)"},
        {"--seed", NULL, OPT_STR, &o.seed_text, "N", "random seed, 0 to 2^64-1 (default 0)"},
        {"--rng", NULL, OPT_STR, &o.rng, "cpu|cuda", "which torch generator the noise reproduces (default cpu)"},
        {"--size", NULL, OPT_INT, &o.size, "PIXELS", "image side (default: the model's)"},
        {"--n", NULL, OPT_INT, &o.n, "N", "images (default 1)"},
        {"--grid", NULL, OPT_FLAG, &o.grid, NULL, "write all images as one grid instead of numbered files"},
        {"--prompts", NULL, OPT_STR, &o.prompts, "FILE", "draw every line of FILE (a prompt a line) into -o FOLDER as LLLL.png (L: the line number), loading the models once"},
        {"--output", "-o", OPT_STR, &o.out, "FILE.png", "output image (with --prompts: a folder, made when missing)"},
        SN_COMMON_OPTS(o.common),
    };
    char *pos[1];
    int npos, r = sn_parse(cmd, argc, argv, opts, sizeof opts / sizeof opts[0], pos, 1, &npos);
    if (r >= 0) return r;
    if (npos != !o.prompts)
        return sn_usage_error(cmd, o.prompts ? "takes --prompts FILE or one PROMPT, not both"
                                             : "expects one PROMPT (quote it)");
    const char *prompt = o.prompts ? NULL : pos[0];
    if (!o.out) return sn_usage_error(cmd, o.prompts ? "-o FOLDER is required" : "-o FILE.png is required");
    if (o.n < 0 || o.n > 1024) return sn_usage_error(cmd, "--n must be 1..1024");
    if (o.steps < 0) return sn_usage_error(cmd, "--steps must be positive");
    if (o.size < 0) return sn_usage_error(cmd, "--size must be positive");
    sn_sampler_kind skind = SN_SAMPLER_DDIM;
    if (o.sampler && sn_sampler_parse(o.sampler, &skind) != 0)
        return sn_usage_error(cmd, "unknown sampler '%s' (ddpm, ddim, euler, heun)", o.sampler);
    uint64_t seed = 0;
    if ((r = sn_pl_parse_seed(cmd, o.seed_text, &seed)) >= 0) return r;
    sn_rng_kind rkind = sn_rng_kind_parse(o.rng);
    if (rkind == SN_RNG_INVALID) return sn_usage_error(cmd, "--rng must be cpu or cuda");
    int n = o.n ? o.n : 1;
    const char *negative = o.negative ? o.negative : "";

    /* the files: given, or the bundled model's */
    char dir[PATH_MAX + 256], where[2 * PATH_MAX + 256], paths[F_COUNT][PATH_MAX + 128];
    bundled_dir(dir, sizeof dir, where, sizeof where);
    for (int i = 0; i < F_COUNT; i++) {
        if (o.files[i]) continue;
        if (!dir[0])
            return sn_usage_error(cmd, "%s FILE is required (no bundled model in %s)",
                                  bundled_files[i].flag, where[0] ? where : "SINTER_MODEL_DIR");
        snprintf(paths[i], sizeof paths[i], "%.4000s/%s", dir, bundled_files[i].file);
        o.files[i] = paths[i];
    }

    sn_ctx *ctx = NULL;
    sn_tokenizer *tok = NULL;
    sn_text_encoder *te = NULL;
    sn_dit *model = NULL;
    sn_vae *vae = NULL;
    sn_ckpt *meta = NULL;
    char **prompts = NULL;
    int *plines = NULL, nprompts = 0;
    /* wall time of each stage, reported at the end (t[0] main() entered ... t[6] written) */
    double t[7] = {sn_cli_started};
    if (o.prompts && (nprompts = read_prompts(o.prompts, &prompts, &plines)) < 0) return SN_EXIT_FAIL;
    r = sn_cli_context(cmd, &o.common, &ctx);
    t[1] = sn_now();
    if (r >= 0) goto done;
    /* The text encoder's products come after loading. One 256x256 picture of a small decoder
     * (the bundled one) needs no cuDNN (core/cuda/conv.cu: small convolutions go by cuBLASLt),
     * and a process that ended before cuDNN's set-up would wait for it; more pixels reach it. */
    sn_ctx_warm_up(ctx, SN_WARM_MATMUL | (o.n > 1 || o.size > 256 ? SN_WARM_CONV : 0));
    r = SN_EXIT_FAIL;

    char err[1024];
    if (!(tok = sn_tokenizer_load(o.files[F_TOKENIZER], err, sizeof err))) {
        sn_fail_exit("%s", err);
        goto done;
    }
    if (!(te = sn_text_encoder_load(ctx, o.files[F_TEXT_ENCODER], NULL)) ||
        !(model = sn_dit_load(ctx, o.files[F_MODEL], NULL)) ||
        sn_dit_set_attention(ctx, model, o.attention) ||
        !(vae = sn_vae_load(ctx, o.files[F_VAE], NULL))) {
        sn_fail_exit("%s", sn_error(ctx));
        goto done;
    }
    t[2] = sn_now();
    const sn_dit_info *mi = &model->info;
    sn_info("model: %s", mi->description);
    sn_info("text encoder: %s", te->info.description);
    sn_info("autoencoder: %s", vae->info.description);
    if (strcmp(mi->family, "textdit")) {
        sn_fail_exit("%s is a %s model, conditioned on class labels, not on text (use 'sinter "
                     "generate')", o.files[F_MODEL], mi->family);
        goto done;
    }
    if (mi->in_channels != vae->info.latent_channels) {
        sn_fail_exit("%s has %d latent channels but %s makes %d: they do not belong together",
                     o.files[F_MODEL], mi->in_channels, o.files[F_VAE], vae->info.latent_channels);
        goto done;
    }
    if (te->info.hidden != mi->text_dim) {
        sn_fail_exit("%s makes text tokens of width %d but %s takes width %d: they do not belong "
                     "together", o.files[F_TEXT_ENCODER], te->info.hidden, o.files[F_MODEL], mi->text_dim);
        goto done;
    }
    if (!(meta = sn_ckpt_open(o.files[F_MODEL], err, sizeof err))) {
        sn_fail_exit("%s", err);
        goto done;
    }
    t2i_hints h;
    if (read_hints(meta, &h)) goto done;

    /* the sampler: options, else the model's recommendation, else the defaults */
    int flow = mi->time != SN_DIT_TIME_STEPS;
    if (!o.sampler && h.sampler && sn_sampler_parse(h.sampler, &skind) != 0) {
        sn_fail_exit("%s: metadata sinter.t2i.sampler '%s' is not ddpm, ddim, euler or heun",
                     o.files[F_MODEL], h.sampler);
        goto done;
    }
    if (!o.sampler && !h.sampler) skind = flow ? SN_SAMPLER_EULER : SN_SAMPLER_DDIM;
    sn_sampler_cfg cfg;
    sn_sampler_cfg_default(&cfg, skind);
    if ((cfg.kind >= SN_SAMPLER_EULER) != flow) {
        sn_fail_exit("sampler %s does not fit a %s model", sn_sampler_name(cfg.kind),
                     flow ? "flow-matching" : "diffusion");
        goto done;
    }
    if (h.beta && sn_beta_kind_parse(h.beta, &cfg.beta)) {
        sn_fail_exit("%s: metadata sinter.t2i.beta '%s' is not linear, scaled_linear or cosine",
                     o.files[F_MODEL], h.beta);
        goto done;
    }
    cfg.conv = mi->time == SN_DIT_TIME_SIGMA ? SN_FLOW_NOISE_AT_1 : SN_FLOW_NOISE_AT_0;
    cfg.steps = o.steps ? o.steps : h.steps ? h.steps : cfg.steps;
    cfg.guidance.scale = o.cfg >= 0 ? o.cfg : h.cfg >= 0 ? h.cfg : 4.5;
    cfg.guidance.channels = h.cfg_channels;
    if (o.eta >= 0 || h.eta >= 0) cfg.eta = o.eta >= 0 ? o.eta : h.eta;
    if (o.shift >= 0 || h.shift >= 0) cfg.shift = o.shift >= 0 ? o.shift : h.shift;

    int f = vae->info.downscale;
    int size = o.size ? o.size : h.size ? h.size : mi->input_size ? mi->input_size * f : 256;
    if (size % (f * mi->patch)) {
        sn_fail_exit("--size %d is not a multiple of %d (autoencoder %d x patch %d)", size,
                     f * mi->patch, f, mi->patch);
        goto done;
    }
    t2i_setup su = {tok, te, model, vae, &h, &cfg, rkind, seed, n, size, o.grid, negative,
                    o.files[F_MODEL]};
    if (!o.prompts) {
        r = draw(ctx, &su, prompt, o.out, t + 3);
        if (r == SN_EXIT_OK)
            sn_info("%.2f s: %s start %.2f, loading %.2f, text %.2f, sampling %.2f, decoding %.2f, "
                    "writing %.2f", t[6] - t[0], sn_ctx_device(ctx) == SN_CUDA ? "cuda" : "cpu",
                    t[1] - t[0], t[2] - t[1], t[3] - t[2], t[4] - t[3], t[5] - t[4], t[6] - t[5]);
        goto done;
    }
    if (mkdir(o.out, 0777) && errno != EEXIST) {
        sn_fail_exit("-o %s: cannot make the folder: %s", o.out, strerror(errno));
        goto done;
    }
    r = SN_EXIT_OK;
    for (int i = 0; i < nprompts && r == SN_EXIT_OK; i++) {
        char out[PATH_MAX + 64];
        snprintf(out, sizeof out, "%.*s/%04d.png", PATH_MAX, o.out, plines[i]);
        sn_info("prompt %d of %d (line %d): %s", i + 1, nprompts, plines[i], prompts[i]);
        double ts[4];
        r = draw(ctx, &su, prompts[i], out, ts);
    }
    if (r == SN_EXIT_OK)
        sn_info("%d prompt%s in %.2f s (%.2f s starting and loading)", nprompts,
                nprompts == 1 ? "" : "s", sn_now() - t[0], t[2] - t[0]);

done:
    for (int i = 0; i < nprompts; i++) free(prompts[i]);
    free(prompts);
    free(plines);
    sn_ckpt_close(meta);
    sn_tokenizer_free(tok);
    sn_text_encoder_free(te);
    sn_dit_free(model);
    sn_vae_free(vae);
    sn_ctx_free(ctx);
    return r;
}

const sn_command sn_cmd_t2i = {
    "t2i", "\"PROMPT\" [-n NEGATIVE] [options] -o OUT.png",
    "text-to-image with a text-conditioned DiT (PixArt-alpha style)",
    "--model, --vae, --text-encoder and --tokenizer name the files; those not given come from\n"
    "the bundled model's folder ($SINTER_MODEL_DIR, else weights/default beside the program).\n"
    "Sampler, steps, guidance and size default to the model's recommendation (its metadata),\n"
    "else ddim (diffusion models) or euler (flow models), cfg 4.5. The negative prompt (empty\n"
    "when not given) is guidance's unconditional branch. The same prompt, options and seed give\n"
    "the same PNG bytes.",
    run,
};
