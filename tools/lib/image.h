/* Reading images (PNG, JPEG, BMP, TGA via stb_image) and writing PNG (libpng) with the
 * generation parameters in a tEXt chunk keyed "parameters", as other diffusion tools do. */
#ifndef SN_IMAGE_H
#define SN_IMAGE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int width, height, channels; /* channels: 3 (RGB) after sn_image_read */
    uint8_t *pixels;             /* row-major, interleaved, malloc'd */
} sn_image;

/* Reads any file stb_image knows (PNG, JPEG, BMP, TGA, GIF's first frame, ...) as 8-bit RGB:
 * grey becomes RGB, 16-bit samples 8-bit, and an alpha channel is discarded (not composited).
 * Images over 65536 pixels a side or 2^28 pixels in all are refused from their header, before
 * decoding. Returns 0, or -1 with a message naming the file ("x.jpg: cannot read image: ..."),
 * or -2 with the message when memory ran out while decoding (not the file's fault). */
int sn_image_read(const char *path, sn_image *img, char *err, size_t errcap);
void sn_image_free(sn_image *img);

/* Writes an 8-bit RGB (3) or RGBA (4) PNG atomically (a temporary beside it, renamed into
 * place: a failure leaves no file and any old one intact). `parameters` may be NULL; ASCII text
 * goes in a tEXt chunk, other UTF-8 in an uncompressed iTXt chunk (tEXt is Latin-1 only), text
 * that is not UTF-8 in tEXt as Latin-1. */
int sn_png_write(const char *path, const sn_image *img, const char *parameters, char *err,
                 size_t errcap);
/* Reads a PNG's size, channels (1 grey, 2 grey+alpha, 3 RGB or palette, 4 RGBA) and the
 * tEXt/iTXt/zTXt "parameters" value without decoding pixels (so only text chunks before the
 * image data are seen). *parameters is malloc'd UTF-8 (tEXt/zTXt Latin-1 is converted), or
 * NULL when the PNG has none. Any output pointer may be NULL. Returns 0, or -1 with err. */
int sn_png_info(const char *path, int *width, int *height, int *channels, char **parameters,
                char *err, size_t errcap);

/* The parameters text in the common convention:
 *   <prompt>\nNegative prompt: <negative>\nSteps: 20, Sampler: euler, CFG scale: 4.5,
 *   Seed: 1, Size: 256x256, Model: <model>
 * Lines for a NULL or empty prompt/negative are left out. In the settings line a field is
 * left out when unset: steps <= 0, sampler NULL, cfg < 0 (so set cfg = -1 for "none"; 0 is
 * written), width or height <= 0 (Size), model NULL. Seed is always written. CFG is printed
 * as %g (4.5, 7, 1.25). No trailing newline. Returns a malloc'd string (NULL if out of memory). */
typedef struct {
    const char *prompt, *negative, *sampler, *model;
    int steps, width, height;
    double cfg;
    uint64_t seed;
    const char *extra; /* appended as ", <extra>" to the settings line, or NULL */
} sn_gen_params;
char *sn_params_format(const sn_gen_params *p);

/* Conversions between 8-bit RGB images and f32 CHW planes (caller-owned buffers of
 * 3*width*height floats). lo and hi are the floats that 0 and 255 map to, e.g. [0,1] or
 * [-1,1]. Back to 8 bit the value is clamped, scaled to [0,255] and rounded: to nearest with
 * ties to even as torch.round does, or by truncating v + 0.5 as DiT's sample script does. */
typedef enum { SN_ROUND_EVEN = 0, SN_ROUND_HALF_UP = 1 } sn_pixel_round;
void sn_image_to_chw(const sn_image *img, float *chw, float lo, float hi);
/* Allocates img->pixels (RGB). NaN becomes 0. Returns 0, or -1 when out of memory or
 * width/height <= 0. */
int sn_chw_to_image(const float *chw, int width, int height, sn_image *img, float lo, float hi,
                    sn_pixel_round mode);

#endif
