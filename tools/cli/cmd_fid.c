/* sinter fid-stats / fid: Inception statistics of image sets and the Fréchet distance between
 * two sets (folders, image lists or statistics files). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "../../core/fileio.h"
#include "../../core/log.h"
#include "../eval/crop.h"
#include "../eval/fid.h"
#include "../eval/images.h"
#include "../eval/inception.h"
#include "cli.h"

typedef struct {
    sn_common_opts common;
    const char *inception, *prep, *crop, *out, *json, *offset;
    int size, batch, skip_unreadable, no_imag_check;
} fid_opts;

#define FID_SET_OPTS(o)                                                                            \
    {"--inception", NULL, OPT_STR, &(o).inception, "FILE",                                         \
     "FID Inception weights (default: $SINTER_INCEPTION, else " SN_INCEPTION_FILE                  \
     " in the PyTorch hub cache)"},                                                                \
    {"--prep", NULL, OPT_STR, &(o).prep, "MODE",                                                   \
     "pytorch-fid (default: bilinear to 299, 2x-1) or clean (clean-fid: PIL bicubic, (x-128)/128)"}, \
    {"--crop", NULL, OPT_STR, &(o).crop, "PROTOCOL",                                               \
     "none (default), resize (short side to --size, center crop) or adm (ADM center_crop_arr)"},   \
    {"--size", NULL, OPT_INT, &(o).size, "N", "crop size in pixels (default 256)"},                \
    {"--batch", NULL, OPT_INT, &(o).batch, "N", "images per Inception batch (default 32)"},        \
    {"--skip-unreadable", NULL, OPT_FLAG, &(o).skip_unreadable, NULL,                              \
     "leave out files that are not readable images (listed as warnings) instead of failing"}

typedef struct {
    sn_fid_prep prep;
    sn_crop_protocol crop;
} set_cfg;

/* Checks the option values shared by the commands; -1 when fine, else the exit status. */
static int check_set_opts(const sn_command *cmd, fid_opts *o, set_cfg *cfg) {
    if (!o->size) o->size = 256;
    if (!o->batch) o->batch = 32;
    if (o->prep && sn_fid_prep_parse(o->prep, &cfg->prep))
        return sn_usage_error(cmd, "--prep must be pytorch-fid or clean, got '%s'", o->prep);
    if (o->crop && sn_crop_parse(o->crop, &cfg->crop))
        return sn_usage_error(cmd, "--crop must be none, resize or adm, got '%s'", o->crop);
    if (o->size < 8 || o->size > 8192) return sn_usage_error(cmd, "--size must be 8 to 8192");
    if (o->batch < 1 || o->batch > 1024) return sn_usage_error(cmd, "--batch must be 1 to 1024");
    return sn_check_common(cmd, &o->common);
}

/* The weights path: the option, else the default place; NULL after printing why not. */
static const char *inception_path(const fid_opts *o, char *buf, size_t cap) {
    if (o->inception) return o->inception;
    const char *p = sn_inception_default_path(buf, cap);
    if (!p)
        sn_fail_exit("no FID Inception weights: pass --inception FILE or set SINTER_INCEPTION "
                     "(the file is %s)",
                     SN_INCEPTION_URL);
    return p;
}

static void print_list(const char *head, const sn_path_list *l) {
    fprintf(stderr, "%s\n", head);
    for (int i = 0; i < l->n; i++) fprintf(stderr, "  %s\n", l->paths[i]);
}

/* Lists the images of `args` and checks their headers. Unreadable files end the command
 * (listed) unless skipping, when they are listed as a warning. Returns -1 to go on, else the
 * exit status. */
static int gather(char *const *args, int n, int skip, sn_path_list *good) {
    char err[1024];
    sn_path_list all = {0}, bad = {0};
    int rc = -1;
    if (sn_collect_images(args, n, &all, err, sizeof err)) {
        rc = sn_fail_exit("%s", err);
    } else if (sn_check_images(&all, good, &bad)) {
        rc = sn_fail_exit("out of memory");
    } else if (bad.n) {
        char head[160];
        snprintf(head, sizeof head, "sinter: %d of %d file%s %s not readable image%s%s", bad.n,
                 all.n, all.n == 1 ? "" : "s", bad.n == 1 ? "is" : "are", bad.n == 1 ? "" : "s",
                 skip ? " (left out: --skip-unreadable)" : ":");
        print_list(head, &bad);
        if (!skip) {
            fprintf(stderr, "(fix or remove them, or pass --skip-unreadable to leave them out)\n");
            rc = SN_EXIT_FAIL;
        }
    }
    if (rc < 0 && good->n < 2)
        rc = sn_fail_exit("FID statistics need at least 2 readable images; found %d", good->n);
    sn_path_list_free(&all);
    sn_path_list_free(&bad);
    return rc;
}

/* Inception statistics of the images in `paths`. Images that fail to decode are collected
 * and reported at the end (the run fails unless skipping). Returns -1 on success, else the
 * exit status. */
static int image_stats(sn_ctx *ctx, sn_inception *net, const sn_path_list *paths,
                       const set_cfg *cfg, const fid_opts *o, const char *label, sn_fid_stats *st,
                       int *n_bad) {
    char err[1024];
    sn_path_list bad = {0};
    sn_fid_batcher *b = sn_fid_batcher_new(ctx, net, cfg->prep, o->batch);
    if (!b) return sn_fail_exit("%s", sn_error(ctx));
    sn_progress pr;
    sn_progress_begin(&pr, label, paths->n);
    int rc = -1;
    sn_image_reader *rd = sn_image_reader_new(paths, o->size, cfg->crop, 64);
    if (!rd) rc = sn_fail_exit("out of memory");
    sn_read_slot *sl;
    for (int i = 0; rc < 0 && (sl = sn_image_reader_next(rd)); i++) {
        if (sl->status > 0) sn_path_list_add(&bad, sl->why);
        else if (sl->status < 0) rc = sn_fail_exit("%s", sl->why);
        else if (sn_fid_batcher_push(b, &sl->img)) rc = sn_fail_exit("%s", sn_error(ctx));
        sn_progress_update(&pr, i + 1);
    }
    sn_image_reader_free(rd);
    sn_progress_end(&pr);
    *n_bad = bad.n;
    if (rc < 0 && bad.n) {
        print_list(o->skip_unreadable ? "sinter: images that could not be decoded (left out):"
                                      : "sinter: images that could not be decoded:",
                   &bad);
        if (!o->skip_unreadable) rc = SN_EXIT_FAIL;
    }
    if (rc < 0 && sn_fid_batcher_stats(b, st, err, sizeof err)) rc = sn_fail_exit("%s", err);
    sn_fid_batcher_free(b);
    sn_path_list_free(&bad);
    return rc;
}

/* --- fid-stats ----------------------------------------------------------------------------- */

static int run_fid_stats(int argc, char **argv) {
    fid_opts o = {0};
    set_cfg cfg = {SN_FID_PREP_PYTORCH, SN_CROP_NONE};
    const sn_opt opts[] = {
        FID_SET_OPTS(o),
        {"--output", "-o", OPT_STR, &o.out, "FILE",
         "statistics file: .safetensors, or .npz as pytorch-fid and clean-fid read"},
        SN_COMMON_OPTS(o.common)};
    enum { MAXIN = 4096 };
    char **in = malloc(sizeof(char *) * MAXIN);
    int nin, r = sn_parse(&sn_cmd_fid_stats, argc, argv, opts, sizeof opts / sizeof opts[0], in,
                          MAXIN, &nin);
    if (r < 0 && nin == 0) r = sn_usage_error(&sn_cmd_fid_stats, "expects a FOLDER or IMAGEs");
    if (r < 0 && !o.out) r = sn_usage_error(&sn_cmd_fid_stats, "-o FILE is required");
    if (r < 0) r = check_set_opts(&sn_cmd_fid_stats, &o, &cfg);
    sn_path_list paths = {0};
    if (r < 0) r = gather(in, nin, o.skip_unreadable, &paths);
    char buf[1024];
    const char *weights = r < 0 ? inception_path(&o, buf, sizeof buf) : NULL;
    if (r < 0 && !weights) r = SN_EXIT_FAIL;
    sn_ctx *ctx = NULL;
    o.common.cuda_dtype = "fp32"; /* evaluation: exact unless --dtype says otherwise */
    if (r < 0) r = sn_cli_context(&sn_cmd_fid_stats, &o.common, &ctx);
    sn_inception *net = NULL;
    if (r < 0 && !(net = sn_inception_load(ctx, weights))) r = sn_fail_exit("%s", sn_error(ctx));
    sn_fid_stats st = {0};
    int n_bad = 0;
    if (r < 0) r = image_stats(ctx, net, &paths, &cfg, &o, "inception", &st, &n_bad);
    if (r < 0) {
        char err[1024], count[32], size[16];
        snprintf(count, sizeof count, "%" PRId64, st.count);
        snprintf(size, sizeof size, "%d", o.size);
        const char *meta[] = {"features", "FID Inception pool3 (2048)",
                              "inception", weights,
                              "preprocessing", sn_fid_prep_name(cfg.prep),
                              "crop", sn_crop_name(cfg.crop),
                              "crop_size", size,
                              "source", nin == 1 ? in[0] : "several paths"};
        if (sn_fid_stats_save(o.out, &st, meta, 6, err, sizeof err))
            r = sn_fail_exit("%s", err);
        else
            sn_info("%" PRId64 " images -> %s", st.count, o.out);
        r = r < 0 ? SN_EXIT_OK : r;
    }
    sn_fid_stats_free(&st);
    sn_inception_free(net);
    sn_ctx_free(ctx);
    sn_path_list_free(&paths);
    free(in);
    return r;
}

const sn_command sn_cmd_fid_stats = {
    "fid-stats", "[options] FOLDER|IMAGE... -o STATS.safetensors|STATS.npz",
    "Inception statistics (mean, covariance) of a set of images, for FID",
    "Features are the 2048 pool3 activations of the FID Inception (pytorch-fid's network and\n"
    "weights); the statistics are float64 (mean and np.cov). Folders are read like pytorch-fid\n"
    "reads them: the files directly inside with an image extension. Any file that is not a\n"
    "readable image stops the run with a list of all such files (see --skip-unreadable).",
    run_fid_stats,
};

/* --- fid ----------------------------------------------------------------------------------- */

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int write_json(const char *path, cJSON *root) {
    char err[1024];
    char *text = cJSON_Print(root);
    sn_atomic_file af;
    int rc = -1;
    if (text && !sn_atomic_open(&af, path, err, sizeof err)) {
        fputs(text, af.f);
        fputc('\n', af.f);
        rc = sn_atomic_commit(&af, err, sizeof err);
    } else if (!text) {
        snprintf(err, sizeof err, "%s: out of memory", path);
    }
    free(text);
    return rc ? sn_fail_exit("%s", err) : -1;
}

static int run_fid(int argc, char **argv) {
    fid_opts o = {0};
    set_cfg cfg = {SN_FID_PREP_PYTORCH, SN_CROP_NONE};
    const sn_opt opts[] = {
        FID_SET_OPTS(o),
        {"--offset", NULL, OPT_STR, &o.offset, "WHEN",
         "eps = 1e-6 on the covariances' diagonals: auto (default, only if the first try fails, "
         "as pytorch-fid), always, never"},
        {"--no-imag-check", NULL, OPT_FLAG, &o.no_imag_check, NULL,
         "accept statistics that are not positive semi-definite (as clean-fid; pytorch-fid "
         "refuses them)"},
        {"--json", NULL, OPT_STR, &o.json, "FILE", "also write the result and its parts as JSON"},
        SN_COMMON_OPTS(o.common)};
    char *in[2];
    int nin, r = sn_parse(&sn_cmd_fid, argc, argv, opts, sizeof opts / sizeof opts[0], in, 2, &nin);
    if (r < 0 && nin != 2) r = sn_usage_error(&sn_cmd_fid, "expects two sets: A B");
    sn_frechet_opts fo = {0};
    if (r < 0 && o.offset) {
        if (!strcmp(o.offset, "always")) fo.offset = SN_FRECHET_OFFSET_ALWAYS;
        else if (!strcmp(o.offset, "never")) fo.offset = SN_FRECHET_OFFSET_NEVER;
        else if (strcmp(o.offset, "auto"))
            r = sn_usage_error(&sn_cmd_fid, "--offset must be auto, always or never, got '%s'", o.offset);
    }
    if (o.no_imag_check) fo.imag_atol = -1;
    if (r < 0) r = check_set_opts(&sn_cmd_fid, &o, &cfg);
    sn_fid_stats st[2] = {{0}, {0}};
    sn_path_list paths[2] = {{0}, {0}};
    int folder[2] = {0, 0}, need_net = 0;
    for (int k = 0; r < 0 && k < 2; k++) { /* everything checked before the network loads */
        struct stat sb;
        if (stat(in[k], &sb) != 0) {
            r = sn_fail_exit("%s: %s", in[k], strerror(errno));
        } else if ((folder[k] = is_dir(in[k])) != 0) {
            need_net = 1;
            r = gather(&in[k], 1, o.skip_unreadable, &paths[k]);
        } else {
            char err[1024];
            if (sn_fid_stats_load(in[k], &st[k], err, sizeof err)) r = sn_fail_exit("%s", err);
        }
    }
    if (r < 0 && !folder[0] && !folder[1] && st[0].dim != st[1].dim)
        r = sn_fail_exit("%s has %d features and %s %d; they must agree", in[0], st[0].dim, in[1],
                         st[1].dim);
    char buf[1024];
    const char *weights = NULL;
    if (r < 0 && need_net && !(weights = inception_path(&o, buf, sizeof buf))) r = SN_EXIT_FAIL;
    sn_ctx *ctx = NULL;
    sn_inception *net = NULL;
    if (r < 0 && need_net) {
        o.common.cuda_dtype = "fp32"; /* evaluation: exact unless --dtype says otherwise */
        r = sn_cli_context(&sn_cmd_fid, &o.common, &ctx);
        if (r < 0 && !(net = sn_inception_load(ctx, weights))) r = sn_fail_exit("%s", sn_error(ctx));
    }
    int n_bad = 0;
    for (int k = 0; r < 0 && k < 2; k++)
        if (folder[k])
            r = image_stats(ctx, net, &paths[k], &cfg, &o, k ? "set B" : "set A", &st[k], &n_bad);
    sn_frechet_result res;
    char err[1024];
    if (r < 0 && sn_frechet_distance(&st[0], &st[1], &fo, &res, err, sizeof err))
        r = sn_fail_exit("%s", err);
    if (r < 0) {
        printf("FID %.6f\n", res.fid);
        if (st[0].count && st[0].count < 2048 && !sn_quiet())
            sn_warn("set A has %" PRId64 " images, fewer than the 2048 features: FID is biased upward "
                    "at small sizes; compare only figures of equal set sizes",
                    st[0].count);
        if (res.offset_used) sn_info("eps 1e-6 was added to the covariances' diagonals");
        if (o.json) {
            cJSON *root = cJSON_CreateObject();
            cJSON_AddNumberToObject(root, "fid", res.fid);
            cJSON_AddStringToObject(root, "a", in[0]);
            cJSON_AddStringToObject(root, "b", in[1]);
            cJSON_AddNumberToObject(root, "count_a", (double)st[0].count);
            cJSON_AddNumberToObject(root, "count_b", (double)st[1].count);
            cJSON_AddNumberToObject(root, "mean_term", res.mean_term);
            cJSON_AddNumberToObject(root, "trace_a", res.trace1);
            cJSON_AddNumberToObject(root, "trace_b", res.trace2);
            cJSON_AddNumberToObject(root, "trace_sqrt_product", res.trace_covmean);
            cJSON_AddBoolToObject(root, "offset_used", res.offset_used);
            if (need_net) {
                cJSON_AddStringToObject(root, "preprocessing", sn_fid_prep_name(cfg.prep));
                cJSON_AddStringToObject(root, "crop", sn_crop_name(cfg.crop));
                cJSON_AddStringToObject(root, "inception", weights);
            }
            r = write_json(o.json, root);
            cJSON_Delete(root);
        }
        r = r < 0 ? SN_EXIT_OK : r;
    }
    for (int k = 0; k < 2; k++) {
        sn_fid_stats_free(&st[k]);
        sn_path_list_free(&paths[k]);
    }
    sn_inception_free(net);
    sn_ctx_free(ctx);
    return r;
}

const sn_command sn_cmd_fid = {
    "fid", "[options] A B",
    "Fréchet Inception Distance between two image sets (folders or statistics files)",
    "A and B are folders of images, or statistics files (.safetensors from 'sinter fid-stats', or\n"
    ".npz with mu and sigma as pytorch-fid, clean-fid and ADM's evaluator write them). The\n"
    "distance is computed in float64 with LAPACK's symmetric eigensolver; it matches SciPy's\n"
    "sqrtm route within 1e-7 relative.",
    run_fid,
};
