/* Image sets for evaluation: listing a folder as pytorch-fid does, checking that every file
 * can be read (so a broken file is reported up front, with every other broken one, instead of
 * being skipped), and feeding images to the FID Inception in batches. */
#ifndef SN_EVAL_IMAGES_H
#define SN_EVAL_IMAGES_H

#include <stddef.h>
#include <stdint.h>

#include "../../core/context.h"
#include "../lib/image.h"
#include "crop.h"
#include "fid.h"
#include "inception.h"

typedef struct {
    char **paths;
    int n, cap;
} sn_path_list;

void sn_path_list_free(sn_path_list *l);
/* Appends a copy of `path`. Returns 0, or -1 when out of memory. */
int sn_path_list_add(sn_path_list *l, const char *path);

/* Whether the name ends in one of pytorch-fid's image extensions (bmp, jpg, jpeg, pgm, png,
 * ppm, tif, tiff, webp; any case). */
int sn_is_image_name(const char *name);
/* Adds the image files directly inside `dir` (not its subfolders; hidden files skipped), in
 * byte order of their names. Returns the number added, or -1 with a message. */
int sn_list_images(const char *dir, sn_path_list *out, char *err, size_t errcap);
/* Expands arguments: a folder gives its images, anything else is taken as an image file.
 * Returns 0, or -1 with a message (a missing path, an empty folder). */
int sn_collect_images(char *const *args, int n, sn_path_list *out, char *err, size_t errcap);

/* Reads each file's header (not its pixels). Files that cannot be images (missing, empty,
 * truncated header, unknown format, too large) go to `bad` as "path: reason" lines; the
 * readable ones to `good`. Returns 0, or -1 when out of memory. */
int sn_check_images(const sn_path_list *in, sn_path_list *good, sn_path_list *bad);

/* One image read by sn_read_cropped: status 0 read (img owns its pixels), 1 not readable
 * (why: "path: reason"), -1 out of memory (why says so; not the file's fault). */
typedef struct {
    sn_image img;
    int status;
    char why[1200];
} sn_read_slot;

/* Reads and crops paths[first, first + n) into slots[0, n), in parallel over the OpenMP
 * threads: decoding is most of an evaluation's host work. The slots are in path order, so
 * what follows runs in the same order as a sequential read. */
void sn_read_cropped(const sn_path_list *paths, int first, int n, int size, sn_crop_protocol crop,
                     sn_read_slot *slots);

/* The images of a path list one at a time, in path order, read and cropped `ahead` at a time
 * by sn_read_cropped. */
typedef struct sn_image_reader sn_image_reader;
/* NULL when out of memory. The reader keeps `paths` (not a copy). */
sn_image_reader *sn_image_reader_new(const sn_path_list *paths, int size, sn_crop_protocol crop,
                                     int ahead);
/* The next path's slot, NULL after the last; the caller may take slot->img (clearing it). */
sn_read_slot *sn_image_reader_next(sn_image_reader *r);
/* Frees the reader with the images read ahead and not taken. */
void sn_image_reader_free(sn_image_reader *r);

/* Feeds 8-bit images to the Inception network `batch` at a time and accumulates their
 * features into FID statistics. */
typedef struct sn_fid_batcher sn_fid_batcher;
sn_fid_batcher *sn_fid_batcher_new(sn_ctx *ctx, sn_inception *net, sn_fid_prep prep, int batch);
void sn_fid_batcher_free(sn_fid_batcher *b);
/* Takes ownership of img->pixels (img is cleared). Runs a batch when it is full. Returns 0, or
 * -1 with the context error set. */
int sn_fid_batcher_push(sn_fid_batcher *b, sn_image *img);
/* Runs what is pending. */
int sn_fid_batcher_flush(sn_fid_batcher *b);
int64_t sn_fid_batcher_count(const sn_fid_batcher *b);
/* Flushes and returns the statistics so far. Returns 0, or -1 with a message. */
int sn_fid_batcher_stats(sn_fid_batcher *b, sn_fid_stats *out, char *err, size_t errcap);

#endif
