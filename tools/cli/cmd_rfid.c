/* sinter rfid: reconstruction quality of an autoencoder on a set of images. Each image is
 * cropped by the chosen protocol, encoded and decoded, and quantised to 8 bit as the papers'
 * evaluation scripts save their PNGs; the report gives rFID (FID between the reconstructions
 * and the cropped originals), PSNR (8 bit, per image, averaged) and SSIM (torchmetrics). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "../../core/fileio.h"
#include "../../core/log.h"
#include "../../core/rng.h"
#include "../../vae/vae.h"
#include "../eval/crop.h"
#include "../eval/fid.h"
#include "../eval/images.h"
#include "../eval/inception.h"
#include "../lib/image.h"
#include "../lib/metrics.h"
#include "cli.h"

typedef struct {
    sn_common_opts common;
    const char *vae_path, *vae_kind, *inception, *prep, *crop, *out, *save_recon, *ref_stats;
    const char *sample; /* seed of the posterior samples, or NULL for the posterior mean */
    int size, batch, skip_unreadable;
} rfid_opts;

static void print_list(const char *head, const sn_path_list *l) {
    fprintf(stderr, "%s\n", head);
    for (int i = 0; i < l->n; i++) fprintf(stderr, "  %s\n", l->paths[i]);
}

/* The file name without folder and extension. */
static void stem(const char *path, char *buf, size_t cap) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    snprintf(buf, cap, "%.*s", dot ? (int)(dot - base) : (int)strlen(base), base);
}

/* REPORT.json -> REPORT.md */
static char *md_path(const char *json) {
    size_t n = strlen(json);
    char *p = malloc(n + 4);
    if (!p) return NULL;
    if (n > 5 && !strcmp(json + n - 5, ".json"))
        snprintf(p, n + 4, "%.*s.md", (int)(n - 5), json);
    else
        snprintf(p, n + 4, "%s.md", json);
    return p;
}

static int write_text(const char *path, const char *text) {
    char err[1024];
    sn_atomic_file af;
    if (sn_atomic_open(&af, path, err, sizeof err)) return sn_fail_exit("%s", err);
    fputs(text, af.f);
    if (sn_atomic_commit(&af, err, sizeof err)) return sn_fail_exit("%s", err);
    return -1;
}

static double json_num(double v) { return isfinite(v) ? v : 0; }

/* One image through the autoencoder, quantised. With a generator, the latents are a posterior
 * sample, mean + std * torch.randn(latent shape) (autoencoders without a posterior ignore it).
 * Returns 0, or -1 with a message in err. */
static int reconstruct(sn_ctx *ctx, sn_vae *vae, sn_rng *rng, const sn_image *in, sn_image *rec,
                       char *err, size_t errcap) {
    size_t plane = (size_t)in->width * in->height;
    int f = vae->info.downscale;
    int64_t zshape[4] = {1, vae->info.latent_channels, in->height / f, in->width / f};
    size_t nz = (size_t)zshape[1] * zshape[2] * zshape[3];
    float *chw = malloc(sizeof(float) * (3 * plane > nz ? 3 * plane : nz));
    if (!chw) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    sn_scope s = sn_scope_begin(ctx);
    sn_image_to_chw(in, chw, -1, 1);
    sn_tensor x = sn_from_host(
        ctx, sn_tensor_wrap(chw, SN_F32, 4, (int64_t[]){1, 3, in->height, in->width}));
    sn_tensor noise = sn_none();
    if (rng) {
        sn_rng_randn(rng, chw, (int64_t)nz);
        noise = sn_from_host(ctx, sn_tensor_wrap(chw, SN_F32, 4, zshape));
    }
    sn_tensor y = sn_vae_decode(ctx, vae, sn_vae_encode(ctx, vae, x, noise));
    if (sn_ok(ctx) && (y.shape[2] != in->height || y.shape[3] != in->width))
        sn_fail(ctx, "the autoencoder returned %lldx%lld pixels for %dx%d", (long long)y.shape[3],
                (long long)y.shape[2], in->width, in->height);
    int rc = 0;
    if (sn_ok(ctx)) {
        sn_download(ctx, y, chw);
        /* LightningDiT / DiT: clamp(127.5 x + 128, 0, 255) truncated */
        if (sn_chw_to_image(chw, in->width, in->height, rec, -1, 1, SN_ROUND_HALF_UP)) {
            snprintf(err, errcap, "out of memory");
            rc = -1;
        }
    } else {
        snprintf(err, errcap, "%s", sn_error(ctx));
        rc = -1;
    }
    free(chw);
    sn_scope_end(ctx, s, sn_none());
    return rc;
}

static int run_rfid(int argc, char **argv) {
    rfid_opts o = {0};
    const sn_opt opts[] = {
        {"--vae", NULL, OPT_STR, &o.vae_path, "FILE",
         "autoencoder checkpoint (.safetensors/.pt/.pth/.ckpt, or a folder with TAESD halves)"},
        {"--vae-kind", NULL, OPT_STR, &o.vae_kind, "KIND", "auto (default) or a family name"},
        {"--crop", NULL, OPT_STR, &o.crop, "PROTOCOL",
         "resize (default: LightningDiT's Resize + CenterCrop), adm (ADM's center_crop_arr) or "
         "none (images as they are)"},
        {"--size", NULL, OPT_INT, &o.size, "N", "crop size in pixels (default 256)"},
        {"--inception", NULL, OPT_STR, &o.inception, "FILE",
         "FID Inception weights (default: $SINTER_INCEPTION, else " SN_INCEPTION_FILE
         " in the PyTorch hub cache)"},
        {"--prep", NULL, OPT_STR, &o.prep, "MODE",
         "Inception preprocessing: pytorch-fid (default) or clean (clean-fid)"},
        {"--batch", NULL, OPT_INT, &o.batch, "N", "images per Inception batch (default 32)"},
        {"--ref-stats", NULL, OPT_STR, &o.ref_stats, "FILE",
         "statistics of the cropped originals from an earlier run (skips their Inception pass)"},
        {"--sample", NULL, OPT_STR, &o.sample, "SEED",
         "encode to posterior samples (as LightningDiT's posterior.sample()) with torch.randn "
         "noise from this seed (CPU generator), instead of the posterior mean"},
        {"--save-recon", NULL, OPT_STR, &o.save_recon, "DIR",
         "also write the reconstructions there as PNG"},
        {"--skip-unreadable", NULL, OPT_FLAG, &o.skip_unreadable, NULL,
         "leave out files that are not readable images (listed) instead of failing"},
        {"--output", "-o", OPT_STR, &o.out, "REPORT.json",
         "the report (JSON); a markdown table goes beside it (REPORT.md)"},
        SN_COMMON_OPTS(o.common)};
    enum { MAXIN = 4096 };
    char **in = malloc(sizeof(char *) * MAXIN);
    int nin, r = sn_parse(&sn_cmd_rfid, argc, argv, opts, sizeof opts / sizeof opts[0], in, MAXIN,
                          &nin);
    sn_fid_prep prep = SN_FID_PREP_PYTORCH;
    sn_crop_protocol crop = SN_CROP_RESIZE;
    if (!o.size) o.size = 256;
    if (!o.batch) o.batch = 32;
    if (r < 0 && nin == 0) r = sn_usage_error(&sn_cmd_rfid, "expects a FOLDER or IMAGEs");
    if (r < 0 && !o.vae_path) r = sn_usage_error(&sn_cmd_rfid, "--vae FILE is required");
    if (r < 0 && !o.out) r = sn_usage_error(&sn_cmd_rfid, "-o REPORT.json is required");
    if (r < 0 && o.prep && sn_fid_prep_parse(o.prep, &prep))
        r = sn_usage_error(&sn_cmd_rfid, "--prep must be pytorch-fid or clean, got '%s'", o.prep);
    if (r < 0 && o.crop && sn_crop_parse(o.crop, &crop))
        r = sn_usage_error(&sn_cmd_rfid, "--crop must be resize, adm or none, got '%s'", o.crop);
    if (r < 0 && (o.size < 8 || o.size > 8192))
        r = sn_usage_error(&sn_cmd_rfid, "--size must be 8 to 8192");
    if (r < 0 && (o.batch < 1 || o.batch > 1024))
        r = sn_usage_error(&sn_cmd_rfid, "--batch must be 1 to 1024");
    if (r < 0) r = sn_check_common(&sn_cmd_rfid, &o.common);
    sn_rng rng;
    if (r < 0 && o.sample) {
        char *end;
        unsigned long long seed = strtoull(o.sample, &end, 10);
        if (!o.sample[0] || *end || o.sample[0] == '-')
            r = sn_usage_error(&sn_cmd_rfid, "--sample expects a seed (a whole number), got '%s'",
                               o.sample);
        else
            sn_rng_init(&rng, SN_RNG_CPU, seed);
    }
    if (r < 0 && o.save_recon) {
        struct stat sb;
        if (stat(o.save_recon, &sb) != 0 || !S_ISDIR(sb.st_mode))
            r = sn_fail_exit("%s: --save-recon needs an existing folder", o.save_recon);
    }

    /* every input checked before any model loads */
    char err[1024];
    sn_path_list all = {0}, paths = {0}, bad = {0}, undecoded = {0};
    if (r < 0 && sn_collect_images(in, nin, &all, err, sizeof err)) r = sn_fail_exit("%s", err);
    if (r < 0 && sn_check_images(&all, &paths, &bad)) r = sn_fail_exit("out of memory");
    if (r < 0 && bad.n) {
        char head[200];
        snprintf(head, sizeof head, "sinter: %d of %d file%s %s not readable image%s%s", bad.n,
                 all.n, all.n == 1 ? "" : "s", bad.n == 1 ? "is" : "are", bad.n == 1 ? "" : "s",
                 o.skip_unreadable ? " (left out: --skip-unreadable)" : ":");
        print_list(head, &bad);
        if (!o.skip_unreadable) {
            fprintf(stderr, "(fix or remove them, or pass --skip-unreadable to leave them out)\n");
            r = SN_EXIT_FAIL;
        }
    }
    if (r < 0 && paths.n < 2)
        r = sn_fail_exit("rFID needs at least 2 readable images; found %d", paths.n);
    sn_fid_stats ref = {0}, rec_st = {0};
    if (r < 0 && o.ref_stats && sn_fid_stats_load(o.ref_stats, &ref, err, sizeof err))
        r = sn_fail_exit("%s", err);
    if (r < 0 && o.ref_stats && ref.dim != SN_INCEPTION_DIM)
        r = sn_fail_exit("%s: %d features; the FID Inception gives %d", o.ref_stats, ref.dim,
                         SN_INCEPTION_DIM);
    char wbuf[1024];
    const char *weights = o.inception;
    if (r < 0 && !weights && !(weights = sn_inception_default_path(wbuf, sizeof wbuf)))
        r = sn_fail_exit("no FID Inception weights: pass --inception FILE or set SINTER_INCEPTION "
                         "(the file is %s)",
                         SN_INCEPTION_URL);

    sn_ctx *ctx = NULL;
    sn_vae *vae = NULL;
    sn_inception *net = NULL;
    o.common.cuda_dtype = "fp32"; /* evaluation: exact unless --dtype says otherwise */
    if (r < 0) r = sn_cli_context(&sn_cmd_rfid, &o.common, &ctx);
    if (r < 0 && !(vae = sn_vae_load(ctx, o.vae_path, o.vae_kind))) r = sn_fail_exit("%s", sn_error(ctx));
    if (r < 0 && !(vae->info.has_encoder && vae->info.has_decoder))
        r = sn_fail_exit("%s: the autoencoder needs both an encoder and a decoder", o.vae_path);
    if (r < 0 && !(net = sn_inception_load(ctx, weights))) r = sn_fail_exit("%s", sn_error(ctx));
    if (r < 0) sn_info("autoencoder: %s", vae->info.description);

    sn_fid_batcher *b_ref = NULL, *b_rec = NULL;
    if (r < 0) {
        b_rec = sn_fid_batcher_new(ctx, net, prep, o.batch);
        b_ref = o.ref_stats ? NULL : sn_fid_batcher_new(ctx, net, prep, o.batch);
        if (!b_rec || (!o.ref_stats && !b_ref)) r = sn_fail_exit("%s", sn_error(ctx));
    }
    cJSON *per_image = cJSON_CreateArray();
    double sum_psnr = 0, sum_ssim = 0;
    int n_done = 0, n_inf = 0;
    double t0 = sn_now();
    sn_progress pr;
    int started = r < 0;
    if (started) sn_progress_begin(&pr, "rfid", paths.n);
    sn_image_reader *rd = r < 0 ? sn_image_reader_new(&paths, o.size, crop, 16) : NULL;
    if (r < 0 && !rd) r = sn_fail_exit("out of memory");
    for (int i = 0; r < 0 && i < paths.n; i++) {
        const char *path = paths.paths[i];
        sn_read_slot *sl = sn_image_reader_next(rd);
        sn_image cropped = sl->img, rec = {0};
        sl->img = (sn_image){0};
        int f = vae->info.downscale;
        if (sl->status > 0) {
            sn_path_list_add(&undecoded, sl->why);
        } else if (sl->status < 0) {
            r = sn_fail_exit("%s", sl->why);
        } else if (cropped.width % f || cropped.height % f) {
            r = sn_fail_exit("%s: %dx%d is not a multiple of %d, which the autoencoder needs (use "
                             "--crop resize or adm)",
                             path, cropped.width, cropped.height, f);
        } else if (reconstruct(ctx, vae, o.sample ? &rng : NULL, &cropped, &rec, err, sizeof err)) {
            r = sn_fail_exit("%s: %s", path, err);
        } else {
            double p = sn_psnr(&cropped, &rec), s = sn_ssim(&cropped, &rec);
            if (isfinite(p)) sum_psnr += p;
            else n_inf++;
            sum_ssim += s, n_done++;
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "file", path);
            if (isfinite(p)) cJSON_AddNumberToObject(e, "psnr", p);
            else cJSON_AddNullToObject(e, "psnr");
            cJSON_AddNumberToObject(e, "ssim", json_num(s));
            cJSON_AddItemToArray(per_image, e);
            if (o.save_recon) {
                char name[512], out[2048], params[1500];
                stem(path, name, sizeof name);
                snprintf(out, sizeof out, "%s/%s.png", o.save_recon, name);
                snprintf(params, sizeof params, "Reconstruction of %s, VAE: %s (%s), crop %s %d",
                         path, o.vae_path, vae->info.family, sn_crop_name(crop), o.size);
                if (sn_png_write(out, &rec, params, err, sizeof err)) r = sn_fail_exit("%s", err);
            }
            if (r < 0 && b_ref && sn_fid_batcher_push(b_ref, &cropped)) r = sn_fail_exit("%s", sn_error(ctx));
            if (r < 0 && sn_fid_batcher_push(b_rec, &rec)) r = sn_fail_exit("%s", sn_error(ctx));
        }
        sn_image_free(&cropped);
        sn_image_free(&rec);
        sn_progress_update(&pr, i + 1);
    }
    sn_image_reader_free(rd);
    if (started) sn_progress_end(&pr);
    if (r < 0 && undecoded.n) {
        print_list(o.skip_unreadable ? "sinter: images that could not be decoded (left out):"
                                     : "sinter: images that could not be decoded:",
                   &undecoded);
        if (!o.skip_unreadable) r = SN_EXIT_FAIL;
    }
    if (r < 0 && n_done < 2) r = sn_fail_exit("rFID needs at least 2 images; %d were processed", n_done);
    if (r < 0 && b_ref && sn_fid_batcher_stats(b_ref, &ref, err, sizeof err)) r = sn_fail_exit("%s", err);
    if (r < 0 && sn_fid_batcher_stats(b_rec, &rec_st, err, sizeof err)) r = sn_fail_exit("%s", err);
    sn_frechet_result fr;
    if (r < 0 && sn_frechet_distance(&ref, &rec_st, NULL, &fr, err, sizeof err)) r = sn_fail_exit("%s", err);

    if (r < 0) {
        double psnr = n_inf ? INFINITY : sum_psnr / n_done, ssim = sum_ssim / n_done;
        cJSON *root = cJSON_CreateObject();
        cJSON_AddNumberToObject(root, "rfid", fr.fid);
        if (isfinite(psnr)) cJSON_AddNumberToObject(root, "psnr", psnr);
        else cJSON_AddNullToObject(root, "psnr");
        cJSON_AddNumberToObject(root, "ssim", ssim);
        cJSON_AddNumberToObject(root, "images", n_done);
        cJSON_AddStringToObject(root, "vae", o.vae_path);
        cJSON_AddStringToObject(root, "vae_family", vae->info.family);
        cJSON_AddStringToObject(root, "crop", sn_crop_name(crop));
        cJSON_AddNumberToObject(root, "size", crop == SN_CROP_NONE ? 0 : o.size);
        cJSON_AddStringToObject(root, "fid_preprocessing", sn_fid_prep_name(prep));
        cJSON_AddStringToObject(root, "inception", weights);
        if (o.ref_stats) cJSON_AddStringToObject(root, "ref_stats", o.ref_stats);
        char lat[64];
        snprintf(lat, sizeof lat, "posterior sample, seed %s", o.sample ? o.sample : "");
        cJSON_AddStringToObject(root, "latents", o.sample ? lat : "posterior mean");
        cJSON_AddStringToObject(root, "quantisation", "clamp(127.5 x + 128, 0, 255) truncated");
        cJSON *fd = cJSON_AddObjectToObject(root, "fid_parts");
        cJSON_AddNumberToObject(fd, "mean_term", fr.mean_term);
        cJSON_AddNumberToObject(fd, "trace_ref", fr.trace1);
        cJSON_AddNumberToObject(fd, "trace_recon", fr.trace2);
        cJSON_AddNumberToObject(fd, "trace_sqrt_product", fr.trace_covmean);
        cJSON_AddBoolToObject(fd, "offset_used", fr.offset_used);
        cJSON *sk = cJSON_AddArrayToObject(root, "left_out");
        for (int i = 0; i < bad.n; i++) cJSON_AddItemToArray(sk, cJSON_CreateString(bad.paths[i]));
        for (int i = 0; i < undecoded.n; i++)
            cJSON_AddItemToArray(sk, cJSON_CreateString(undecoded.paths[i]));
        cJSON_AddNumberToObject(root, "seconds", sn_now() - t0);
        cJSON_AddItemToObject(root, "per_image", per_image);
        per_image = NULL;
        char *text = cJSON_Print(root);
        char md[4096], fidtxt[32], psnrtxt[32];
        snprintf(fidtxt, sizeof fidtxt, "%.4f", fr.fid);
        snprintf(psnrtxt, sizeof psnrtxt, isfinite(psnr) ? "%.3f" : "inf", psnr);
        char cropdesc[32];
        if (crop == SN_CROP_NONE) snprintf(cropdesc, sizeof cropdesc, "none");
        else snprintf(cropdesc, sizeof cropdesc, "%s %d", sn_crop_name(crop), o.size);
        snprintf(md, sizeof md,
                 "| autoencoder | images | crop | rFID | PSNR (dB) | SSIM |\n"
                 "|---|---|---|---|---|---|\n"
                 "| %s (%s) | %d | %s | %s | %s | %.4f |\n\n"
                 "rFID: FID between the reconstructions and the cropped originals (FID Inception "
                 "pool3, %s preprocessing)%s. PSNR: 8-bit RGB, per image, averaged. SSIM: "
                 "torchmetrics (11x11 Gaussian, sigma 1.5, data range 1).\n",
                 vae->info.family, strrchr(o.vae_path, '/') ? strrchr(o.vae_path, '/') + 1 : o.vae_path,
                 n_done, cropdesc, fidtxt, psnrtxt, ssim,
                 sn_fid_prep_name(prep),
                 n_done < 2048 ? "; with fewer than 2048 images FID is biased upward and only "
                                 "comparable at equal set sizes"
                               : "");
        char *mdp = md_path(o.out);
        if (!text || !mdp) {
            r = sn_fail_exit("out of memory");
        } else {
            size_t tl = strlen(text);
            text = realloc(text, tl + 2);
            strcat(text, "\n");
            r = write_text(o.out, text);
            if (r < 0) r = write_text(mdp, md);
        }
        if (r < 0) {
            fputs(md, stdout);
            sn_info("report: %s, %s", o.out, mdp);
            r = SN_EXIT_OK;
        }
        free(mdp);
        free(text);
        cJSON_Delete(root);
    }
    cJSON_Delete(per_image);
    sn_fid_batcher_free(b_ref);
    sn_fid_batcher_free(b_rec);
    sn_fid_stats_free(&ref);
    sn_fid_stats_free(&rec_st);
    sn_inception_free(net);
    sn_vae_free(vae);
    sn_ctx_free(ctx);
    sn_path_list_free(&all);
    sn_path_list_free(&paths);
    sn_path_list_free(&bad);
    sn_path_list_free(&undecoded);
    free(in);
    return r;
}

const sn_command sn_cmd_rfid = {
    "rfid", "--vae FILE [options] FOLDER|IMAGE... -o REPORT.json",
    "reconstruction FID, PSNR and SSIM of an autoencoder on a set of images",
    "Each image is cropped (--crop), encoded (to the posterior mean, or a sample with --sample)\n"
    "and decoded, and the output is quantised to 8 bit as LightningDiT's and DiT's scripts save\n"
    "PNGs. rFID is the FID between the reconstructions and the cropped originals (FID Inception,\n"
    "pytorch-fid's network and preprocessing by default). Papers report it on ImageNet val,\n"
    "50,000 images at 256x256; fewer images give larger values. Any file that is not a readable\n"
    "image stops the run with a list of all such files (see --skip-unreadable).",
    run_rfid,
};
