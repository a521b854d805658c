/* Image sets for evaluation (see images.h). */
#include "images.h"

#include <dirent.h>
#include <errno.h>
#include <stb_image.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* --- path lists --------------------------------------------------------------------------- */

void sn_path_list_free(sn_path_list *l) {
    for (int i = 0; i < l->n; i++) free(l->paths[i]);
    free(l->paths);
    memset(l, 0, sizeof *l);
}

int sn_path_list_add(sn_path_list *l, const char *path) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        char **p = realloc(l->paths, sizeof(char *) * cap);
        if (!p) return -1;
        l->paths = p, l->cap = cap;
    }
    if (!(l->paths[l->n] = strdup(path))) return -1;
    l->n++;
    return 0;
}

int sn_is_image_name(const char *name) {
    static const char *const ext[] = {"bmp", "jpg", "jpeg", "pgm", "png",
                                      "ppm", "tif", "tiff", "webp"};
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name) return 0;
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
        if (!strcasecmp(dot + 1, ext[i])) return 1;
    return 0;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int sn_list_images(const char *dir, sn_path_list *out, char *err, size_t errcap) {
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errcap, "%s: cannot open the folder: %s", dir, strerror(errno));
        return -1;
    }
    sn_path_list names = {0};
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.' && sn_is_image_name(e->d_name) && sn_path_list_add(&names, e->d_name))
            rc = -1;
    closedir(d);
    if (names.n) qsort(names.paths, names.n, sizeof(char *), cmp_str);
    size_t dl = strlen(dir);
    int slash = dl && dir[dl - 1] == '/';
    for (int i = 0; !rc && i < names.n; i++) {
        size_t len = dl + strlen(names.paths[i]) + 2;
        char *p = malloc(len);
        if (!p) {
            rc = -1;
            break;
        }
        snprintf(p, len, "%s%s%s", dir, slash ? "" : "/", names.paths[i]);
        rc = sn_path_list_add(out, p);
        free(p);
    }
    int n = names.n;
    sn_path_list_free(&names);
    if (rc) {
        snprintf(err, errcap, "%s: out of memory listing the folder", dir);
        return -1;
    }
    return n;
}

int sn_collect_images(char *const *args, int n, sn_path_list *out, char *err, size_t errcap) {
    for (int i = 0; i < n; i++) {
        struct stat st;
        if (stat(args[i], &st) != 0) {
            snprintf(err, errcap, "%s: %s", args[i], strerror(errno));
            return -1;
        }
        if (S_ISDIR(st.st_mode)) {
            int k = sn_list_images(args[i], out, err, errcap);
            if (k < 0) return -1;
            if (k == 0) {
                snprintf(err, errcap,
                         "%s: no images in the folder (looked for .png, .jpg, .jpeg, .bmp, .ppm, "
                         ".pgm, .tif, .tiff, .webp)",
                         args[i]);
                return -1;
            }
        } else if (sn_path_list_add(out, args[i])) {
            snprintf(err, errcap, "out of memory");
            return -1;
        }
    }
    return 0;
}

void sn_read_cropped(const sn_path_list *paths, int first, int n, int size, sn_crop_protocol crop,
                     sn_read_slot *slots) {
#pragma omp parallel for schedule(dynamic, 1)
    for (int k = 0; k < n; k++) {
        sn_read_slot *s = &slots[k];
        sn_image raw = {0};
        memset(s, 0, sizeof *s);
        int rc = sn_image_read(paths->paths[first + k], &raw, s->why, sizeof s->why);
        if (rc) {
            s->status = rc == -2 ? -1 : 1;
        } else if (sn_crop_image(&raw, size, crop, &s->img)) {
            snprintf(s->why, sizeof s->why, "%s: out of memory cropping the image",
                     paths->paths[first + k]);
            s->status = -1;
        }
        sn_image_free(&raw);
    }
}

struct sn_image_reader {
    const sn_path_list *paths;
    int size, ahead, at, filled; /* slots hold paths [at - at % ahead, filled) */
    sn_crop_protocol crop;
    sn_read_slot slots[];
};

sn_image_reader *sn_image_reader_new(const sn_path_list *paths, int size, sn_crop_protocol crop,
                                     int ahead) {
    sn_image_reader *r = calloc(1, sizeof *r + (size_t)ahead * sizeof r->slots[0]);
    if (!r) return NULL;
    r->paths = paths, r->size = size, r->ahead = ahead, r->crop = crop;
    return r;
}

sn_read_slot *sn_image_reader_next(sn_image_reader *r) {
    if (r->at >= r->paths->n) return NULL;
    if (r->at == r->filled) {
        int n = r->paths->n - r->at < r->ahead ? r->paths->n - r->at : r->ahead;
        sn_read_cropped(r->paths, r->at, n, r->size, r->crop, r->slots);
        r->filled += n;
    }
    return &r->slots[r->at++ % r->ahead];
}

void sn_image_reader_free(sn_image_reader *r) {
    for (int k = 0; r && k < r->ahead; k++) sn_image_free(&r->slots[k].img);
    free(r);
}

int sn_check_images(const sn_path_list *in, sn_path_list *good, sn_path_list *bad) {
    for (int i = 0; i < in->n; i++) {
        const char *p = in->paths[i];
        char line[1200];
        line[0] = 0;
        struct stat st;
        FILE *f = NULL;
        if (stat(p, &st) != 0) {
            snprintf(line, sizeof line, "%s: %s", p, strerror(errno));
        } else if (S_ISDIR(st.st_mode)) {
            snprintf(line, sizeof line, "%s: is a folder", p);
        } else if (st.st_size == 0) {
            snprintf(line, sizeof line, "%s: empty file", p);
        } else if (!(f = fopen(p, "rb"))) {
            snprintf(line, sizeof line, "%s: %s", p, strerror(errno));
        } else {
            int w = 0, h = 0, c = 0;
            if (!stbi_info_from_file(f, &w, &h, &c)) {
                const char *why = stbi_failure_reason();
                snprintf(line, sizeof line, "%s: not a readable image (%s)", p,
                         why && why[0] ? why : "unknown format");
            } else if (w < 1 || h < 1 || w > 65536 || h > 65536 || (int64_t)w * h > (1LL << 28)) {
                snprintf(line, sizeof line, "%s: image too large or empty (%dx%d)", p, w, h);
            }
        }
        if (f) fclose(f);
        if (line[0] ? sn_path_list_add(bad, line) : sn_path_list_add(good, p)) return -1;
    }
    return 0;
}

/* --- batches ------------------------------------------------------------------------------ */

struct sn_fid_batcher {
    sn_ctx *ctx;
    sn_inception *net;
    sn_fid_prep prep;
    int batch, n;
    sn_image *pending;
    float *feats;
    sn_fid_accum *acc;
};

sn_fid_batcher *sn_fid_batcher_new(sn_ctx *ctx, sn_inception *net, sn_fid_prep prep, int batch) {
    if (batch < 1) batch = 1;
    sn_fid_batcher *b = calloc(1, sizeof *b);
    if (b) {
        b->ctx = ctx, b->net = net, b->prep = prep, b->batch = batch;
        b->pending = calloc(batch, sizeof(sn_image));
        b->feats = malloc(sizeof(float) * SN_INCEPTION_DIM * batch);
        b->acc = sn_fid_accum_new(SN_INCEPTION_DIM);
    }
    if (!b || !b->pending || !b->feats || !b->acc) {
        sn_fid_batcher_free(b);
        sn_fail(ctx, "out of memory for a batch of %d images", batch);
        return NULL;
    }
    return b;
}

void sn_fid_batcher_free(sn_fid_batcher *b) {
    if (!b) return;
    for (int i = 0; b->pending && i < b->n; i++) sn_image_free(&b->pending[i]);
    free(b->pending);
    free(b->feats);
    sn_fid_accum_free(b->acc);
    free(b);
}

int sn_fid_batcher_flush(sn_fid_batcher *b) {
    if (!b->n) return sn_ok(b->ctx) ? 0 : -1;
    int rc = sn_inception_features(b->ctx, b->net, b->pending, b->n, b->prep, b->feats);
    if (!rc) sn_fid_accum_add(b->acc, b->feats, b->n);
    for (int i = 0; i < b->n; i++) sn_image_free(&b->pending[i]);
    b->n = 0;
    return rc;
}

int sn_fid_batcher_push(sn_fid_batcher *b, sn_image *img) {
    b->pending[b->n++] = *img;
    memset(img, 0, sizeof *img);
    return b->n == b->batch ? sn_fid_batcher_flush(b) : (sn_ok(b->ctx) ? 0 : -1);
}

int64_t sn_fid_batcher_count(const sn_fid_batcher *b) {
    return sn_fid_accum_count(b->acc) + b->n;
}

int sn_fid_batcher_stats(sn_fid_batcher *b, sn_fid_stats *out, char *err, size_t errcap) {
    memset(out, 0, sizeof *out);
    if (sn_fid_batcher_flush(b)) {
        snprintf(err, errcap, "%s", sn_error(b->ctx));
        return -1;
    }
    return sn_fid_accum_stats(b->acc, out, err, errcap);
}
