/* FID Inception throughput of sinter, beside tools/bench/bench_inception_torch.py (pytorch-fid's
 * pipeline in PyTorch) on the same GPU, the same images and the same weights (the formula
 * weights both sides build, tools/eval/inception.h SN_INCEPTION_FORMULA):
 *   decode excluded: the images already in memory -> pytorch-fid preprocessing (bilinear to
 *     299, 2x - 1) -> pool3 features, in batches of 50 (pytorch-fid's default);
 *   decode included: the same from the PNG files (read and decoded here, one thread).
 * Usage: bench_inception FOLDER [fp32|bf16] */
#include <dirent.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../core/backend.h"
#include "bench.h"
#include "../../core/ops.h"
#include "../../tools/eval/images.h"
#include "../../tools/eval/inception.h"
#include "../../tools/lib/image.h"

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_inception FOLDER [fp32|bf16]\n");
        return 2;
    }
    sn_dtype dt = argc > 2 && !strcmp(argv[2], "bf16") ? SN_BF16 : SN_F32;
    char err[512], desc[256];
    sn_ctx *ctx = sn_ctx_new(&(sn_ctx_opts){.device = SN_CUDA, .dtype = dt}, err, sizeof err);
    if (!ctx) {
        fprintf(stderr, "bench_inception: %s\n", err);
        return 1;
    }
    DIR *d = opendir(argv[1]);
    if (!d) {
        fprintf(stderr, "bench_inception: cannot open %s\n", argv[1]);
        return 1;
    }
    char **names = NULL;
    int n = 0, cap = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (!strstr(e->d_name, ".png")) continue;
        if (n == cap) names = realloc(names, sizeof *names * (cap = cap ? 2 * cap : 256));
        names[n] = malloc(strlen(argv[1]) + strlen(e->d_name) + 2);
        sprintf(names[n++], "%s/%s", argv[1], e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, by_name);
    sn_inception *net = sn_inception_load(ctx, SN_INCEPTION_FORMULA);
    if (!net || n == 0) {
        fprintf(stderr, "bench_inception: %s\n", n ? sn_error(ctx) : "no PNG files");
        return 1;
    }
    enum { BATCH = 50 };
    sn_image *imgs = calloc(n, sizeof *imgs);
    float *feats = malloc(sizeof(float) * BATCH * SN_INCEPTION_DIM);
    char e2[512];
    /* warm-up: one batch (plans, caches) */
    for (int i = 0; i < BATCH && i < n; i++) sn_image_read(names[i], &imgs[i], e2, sizeof e2);
    sn_inception_features(ctx, net, imgs, n < BATCH ? n : BATCH, SN_FID_PREP_PYTORCH, feats);
    for (int i = 0; i < BATCH && i < n; i++) sn_image_free(&imgs[i]);
    /* decoding as `sinter fid-stats` does it: sn_read_cropped, in parallel over the cores */
    sn_path_list list = {names, n, n};
    sn_read_slot *slots = calloc(n, sizeof *slots);
    double t0 = bench_now();
    sn_read_cropped(&list, 0, n, 0, SN_CROP_NONE, slots);
    double t1 = bench_now();
    for (int i = 0; i < n; i++) {
        if (slots[i].status) {
            fprintf(stderr, "bench_inception: %s\n", slots[i].why);
            return 1;
        }
        imgs[i] = slots[i].img;
    }
    free(slots);
    for (int at = 0; at < n && sn_ok(ctx); at += BATCH)
        sn_inception_features(ctx, net, imgs + at, n - at < BATCH ? n - at : BATCH,
                              SN_FID_PREP_PYTORCH, feats); /* returns after the download: synced */
    double t2 = bench_now();
    if (!sn_ok(ctx)) {
        fprintf(stderr, "bench_inception: %s\n", sn_error(ctx));
        return 1;
    }
    sn_cuda_describe(desc, sizeof desc);
    printf("sinter FID Inception, %s, %s, %d images of %dx%d, batch %d\n", desc, sn_dtype_name(dt), n,
           imgs[0].width, imgs[0].height, BATCH);
    printf("  decode excluded: %8.1f images/s (%.3f s)\n", n / (t2 - t1), t2 - t1);
    printf("  decode included: %8.1f images/s (%.3f s; PNG decode %.3f s, %d threads)\n",
           n / (t2 - t0), t2 - t0, t1 - t0, omp_get_max_threads());
    for (int i = 0; i < n; i++) sn_image_free(&imgs[i]), free(names[i]);
    free(imgs), free(names), free(feats);
    sn_inception_free(net);
    sn_ctx_free(ctx);
    return 0;
}
