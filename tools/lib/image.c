/* Image I/O: reading with stb_image (PNG, JPEG, BMP, TGA, GIF, PSD, PNM, HDR: whatever it
 * knows), writing PNG with libpng, the "parameters" text other diffusion tools read, and the
 * 8-bit <-> f32 CHW conversions at the edges of the pipeline.
 *
 * Reading goes through stb_image because it reads every common format with one call; writing
 * and the header-only PNG probe go through libpng because stb cannot write text chunks or
 * read a PNG's header and text without decoding its pixels. */
#include "tools/lib/image.h"

#include "core/fileio.h"

#include <errno.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stb_image.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Decompression bombs: a few bytes of header can claim an image of gigabytes. Anything past
 * these limits is refused before a pixel is allocated (2^28 RGB pixels are 768 MiB). */
#define SN_IMAGE_MAX_SIDE 65536
#define SN_IMAGE_MAX_PIXELS (1LL << 28)

/* fopen for reading, refusing folders (which fopen opens on Linux) with a plain message. */
static FILE *open_input(const char *path, const char *what, char *err, size_t errcap) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errcap, "%s: cannot open %s: %s", path, what, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(err, errcap, "%s: cannot open %s: %s", path, what, strerror(EISDIR));
        fclose(f);
        return NULL;
    }
    return f;
}

#define TOO_LARGE_FMT                                                                              \
    "%s: image too large: %lldx%lld pixels (the limit is %d per side and %lld in all)"

static int png_header(FILE *f, png_uint_32 *w, png_uint_32 *h, char *why, size_t whycap);

/* ---- reading (stb_image) ------------------------------------------------------------------- */

/* stb's failure reason, made printable. For an unknown PNG chunk stb writes the chunk's type
 * into one static message shared by all threads (past the end of a truncated file its bytes
 * are NULs: an empty reason), so that message is replaced by a fixed one. Returns 1 when stb
 * ran out of memory. */
static int stb_reason(FILE *f, char *buf, size_t cap) {
    const char *r = stbi_failure_reason();
    if (!r || !r[0]) {
        snprintf(buf, cap, "%s",
                 f && feof(f) ? "unexpected end of file (truncated?)" : "corrupt image data");
        return 0;
    }
    int oom = !strcmp(r, "outofmem");
    if (oom) r = "out of memory";
    if (!strcmp(r, "outofdata")) r = "unexpected end of file (truncated?)"; /* stb's terse codes */
    if (strstr(r, "PNG chunk not known")) r = "an unknown critical PNG chunk";
    size_t i = 0;
    for (; r[i] && i + 1 < cap; i++) buf[i] = (r[i] >= 0x20 && r[i] < 0x7f) ? r[i] : '?';
    buf[i] = 0;
    return oom;
}

int sn_image_read(const char *path, sn_image *img, char *err, size_t errcap) {
    memset(img, 0, sizeof *img);
    FILE *f = open_input(path, "image", err, errcap);
    if (!f) return -1;
    /* The header first: its size decides whether decoding is allowed at all. stbi_info_from_file
     * puts the file position back where it was. stbi_failure_reason() is thread-local
     * (stb_image 2.24 and later, as Debian 12's), so parallel readers see their own reasons. */
    int w = 0, h = 0, comp = 0;
    if (!stbi_info_from_file(f, &w, &h, &comp)) {
        /* stbi_info tries every format in turn and keeps the last one's reason ("unknown image
         * type"), which hides why a PNG was refused: ask libpng about PNGs instead. */
        char stb_why[200], png_why[200];
        stb_reason(NULL, stb_why, sizeof stb_why);
        png_uint_32 pw = 0, ph = 0;
        int r = png_header(f, &pw, &ph, png_why, sizeof png_why);
        fclose(f);
        if (r < 0)
            snprintf(err, errcap, "%s: cannot read image: not a valid PNG: %s", path, png_why);
        else if (r > 0 && (pw > SN_IMAGE_MAX_SIDE || ph > SN_IMAGE_MAX_SIDE ||
                           (long long)pw * ph > SN_IMAGE_MAX_PIXELS))
            snprintf(err, errcap, TOO_LARGE_FMT, path, (long long)pw, (long long)ph,
                     SN_IMAGE_MAX_SIDE, SN_IMAGE_MAX_PIXELS);
        else
            snprintf(err, errcap, "%s: cannot read image: %s", path, stb_why);
        return -1;
    }
    if (w <= 0 || h <= 0 || w > SN_IMAGE_MAX_SIDE || h > SN_IMAGE_MAX_SIDE ||
        (long long)w * h > SN_IMAGE_MAX_PIXELS) {
        snprintf(err, errcap, TOO_LARGE_FMT, path, (long long)w, (long long)h, SN_IMAGE_MAX_SIDE,
                 SN_IMAGE_MAX_PIXELS);
        fclose(f);
        return -1;
    }
    /* Always 8-bit RGB: stbi_load converts grey to RGB, 16-bit samples to 8 bit (keeping the
     * high byte), and palettes to colours. An alpha channel is discarded, not composited over
     * any background: transparent pixels come back with whatever colour they store. */
    uint8_t *px = stbi_load_from_file(f, &w, &h, &comp, 3);
    if (!px) {
        char why[200];
        int oom = stb_reason(f, why, sizeof why);
        snprintf(err, errcap, "%s: cannot read image: %s", path, why);
        fclose(f);
        return oom ? -2 : -1;
    }
    fclose(f);
    img->width = w;
    img->height = h;
    img->channels = 3;
    img->pixels = px; /* stb allocates with malloc, so sn_image_free's free() releases it */
    return 0;
}

void sn_image_free(sn_image *img) {
    if (!img) return;
    free(img->pixels);
    memset(img, 0, sizeof *img);
}

/* ---- libpng plumbing ----------------------------------------------------------------------- */

/* libpng reports errors by calling an error function that must not return; ours keeps the
 * message and longjmps back to the setjmp, which cleans up. Everything the longjmp path reads
 * that changes after setjmp (the message, a text copy) lives in a png_io owned by the
 * *caller* of the function holding the setjmp, so no local needs to be volatile; the
 * png/info pointers are set before setjmp and not changed until the last libpng call. */
typedef struct {
    FILE *f;
    char *text; /* sn_png_info: the parameters found, malloc'd */
    char msg[200];
} png_io;

static void png_on_error(png_structp png, png_const_charp msg) {
    png_io *io = png_get_error_ptr(png);
    if (io && !io->msg[0]) snprintf(io->msg, sizeof io->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg; /* warnings (an unknown ancillary chunk, a bad CRC on one) are not the user's */
}

static void png_read_cb(png_structp png, png_bytep data, size_t len) {
    png_io *io = png_get_io_ptr(png);
    if (fread(data, 1, len, io->f) != len) {
        if (ferror(io->f))
            snprintf(io->msg, sizeof io->msg, "read error: %s", strerror(errno));
        else
            snprintf(io->msg, sizeof io->msg, "unexpected end of file (truncated?)");
        png_error(png, io->msg);
    }
}

static void png_write_cb(png_structp png, png_bytep data, size_t len) {
    png_io *io = png_get_io_ptr(png);
    if (fwrite(data, 1, len, io->f) != len) {
        snprintf(io->msg, sizeof io->msg, "write failed: %s", strerror(errno));
        png_error(png, io->msg);
    }
}

static void png_flush_cb(png_structp png) { (void)png; /* sn_atomic_commit flushes */ }

/* 1 when s is pure 7-bit ASCII. */
static int is_ascii(const char *s) {
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80) return 0;
    return 1;
}

/* 1 when s is well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
static int is_utf8(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p, n, cp;
        if (c < 0x80) {
            p++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            n = 1, cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2, cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3, cp = c & 0x07;
        } else {
            return 0;
        }
        for (unsigned i = 1; i <= n; i++) {
            if ((p[i] & 0xC0) != 0x80) return 0; /* also stops at the NUL */
            cp = cp << 6 | (p[i] & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        p += n + 1;
    }
    return 1;
}

/* Latin-1 bytes to a malloc'd UTF-8 string. */
static char *latin1_to_utf8(const char *s) {
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) n += *p >= 0x80 ? 2 : 1;
    char *out = malloc(n + 1), *o = out;
    if (!out) return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x80) {
            *o++ = (char)*p;
        } else {
            *o++ = (char)(0xC0 | *p >> 6);
            *o++ = (char)(0x80 | (*p & 0x3F));
        }
    }
    *o = 0;
    return out;
}

/* ---- writing (libpng) ---------------------------------------------------------------------- */

/* Encodes img to io->f. Returns 0, or -1 with io->msg. */
static int png_encode(png_io *io, const sn_image *img, const char *parameters) {
    png_structp png =
        png_create_write_struct(PNG_LIBPNG_VER_STRING, io, png_on_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        snprintf(io->msg, sizeof io->msg, "out of memory");
        return -1;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        if (!io->msg[0]) snprintf(io->msg, sizeof io->msg, "libpng error");
        return -1;
    }
    png_set_write_fn(png, io, png_write_cb, png_flush_cb);
    png_set_IHDR(png, info, (png_uint_32)img->width, (png_uint_32)img->height, 8,
                 img->channels == 4 ? PNG_COLOR_TYPE_RGB_ALPHA : PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (parameters) {
        /* tEXt is Latin-1 by the PNG standard. Pure ASCII goes in tEXt; other well-formed UTF-8
         * (prompts often are) goes in an uncompressed iTXt chunk, which is UTF-8 and which the
         * other diffusion tools (PIL-based ones included) read under the same key. Text that is
         * not UTF-8 is taken to be Latin-1 already and goes in tEXt as is. Either way the chunk
         * is written before the image data, where readers that stop early find it. */
        png_text t;
        memset(&t, 0, sizeof t);
        t.key = (png_charp) "parameters";
        t.text = (png_charp)parameters;
        if (is_ascii(parameters) || !is_utf8(parameters)) {
            t.compression = PNG_TEXT_COMPRESSION_NONE;
            t.text_length = strlen(parameters);
        } else {
            t.compression = PNG_ITXT_COMPRESSION_NONE;
            t.itxt_length = strlen(parameters);
        }
        png_set_text(png, info, &t, 1);
    }
    png_write_info(png, info);
    size_t stride = (size_t)img->width * (size_t)img->channels;
    for (int y = 0; y < img->height; y++) png_write_row(png, img->pixels + (size_t)y * stride);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    return 0;
}

int sn_png_write(const char *path, const sn_image *img, const char *parameters, char *err,
                 size_t errcap) {
    if (!img || !img->pixels) {
        snprintf(err, errcap, "%s: cannot write PNG: no pixels", path);
        return -1;
    }
    if (img->width <= 0 || img->height <= 0) {
        snprintf(err, errcap, "%s: cannot write PNG: bad size %dx%d (both must be positive)", path,
                 img->width, img->height);
        return -1;
    }
    if (img->channels != 3 && img->channels != 4) {
        snprintf(err, errcap,
                 "%s: cannot write PNG: %d channels (expected 3 for RGB or 4 for RGBA)", path,
                 img->channels);
        return -1;
    }
    sn_atomic_file af;
    if (sn_atomic_open(&af, path, err, errcap) != 0) return -1;
    png_io io = {.f = af.f};
    if (png_encode(&io, img, parameters) != 0) {
        sn_atomic_abort(&af); /* the temporary goes; an existing file at path stays as it was */
        snprintf(err, errcap, "%s: cannot write PNG: %s", path, io.msg);
        return -1;
    }
    return sn_atomic_commit(&af, err, errcap);
}

/* ---- the header and text of a PNG, without its pixels --------------------------------------- */

/* Reads the chunks before the first IDAT from io->f (past the signature). Returns 0, or -1
 * with io->msg. The parameters text, when asked for and found, is left in io->text. */
static int png_probe(png_io *io, png_uint_32 *w, png_uint_32 *h, int *color, int want_text) {
    png_structp png =
        png_create_read_struct(PNG_LIBPNG_VER_STRING, io, png_on_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        snprintf(io->msg, sizeof io->msg, "out of memory");
        return -1;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(io->text);
        io->text = NULL;
        if (!io->msg[0]) snprintf(io->msg, sizeof io->msg, "libpng error");
        return -1;
    }
    png_set_read_fn(png, io, png_read_cb);
    png_set_sig_bytes(png, 8);
    /* Reads every chunk up to the first IDAT and stops there: no pixel is decoded. Text chunks
     * placed after the image data are therefore not seen (the common writers put them
     * before). */
    png_read_info(png, info);
    int depth = 0;
    png_get_IHDR(png, info, w, h, &depth, color, NULL, NULL, NULL);
    png_textp texts = NULL;
    int n = 0;
    if (want_text) png_get_text(png, info, &texts, &n);
    for (int i = 0; i < n; i++) {
        if (!texts[i].key || strcmp(texts[i].key, "parameters") != 0 || !texts[i].text) continue;
        const char *s = texts[i].text;
        int latin1 = texts[i].compression == PNG_TEXT_COMPRESSION_NONE ||
                     texts[i].compression == PNG_TEXT_COMPRESSION_zTXt;
        /* tEXt/zTXt are Latin-1 and are returned as UTF-8; but some writers put UTF-8 in tEXt,
         * and Latin-1 text that happens to be well-formed UTF-8 is vanishingly rare, so such
         * text is taken as the UTF-8 it almost surely is. */
        io->text = latin1 && !is_utf8(s) ? latin1_to_utf8(s) : strdup(s);
        if (!io->text) png_error(png, "out of memory");
        break;
    }
    png_destroy_read_struct(&png, &info, NULL);
    return 0;
}

/* For sn_image_read: 1 with the size when f (at its start) holds a PNG header libpng
 * accepts, 0 when f is not a PNG at all, -1 with the reason when it is a broken one. */
static int png_header(FILE *f, png_uint_32 *w, png_uint_32 *h, char *why, size_t whycap) {
    rewind(f);
    png_byte sig[8];
    if (fread(sig, 1, sizeof sig, f) != sizeof sig || png_sig_cmp(sig, 0, sizeof sig) != 0)
        return 0;
    png_io io = {.f = f};
    int color = 0;
    if (png_probe(&io, w, h, &color, 0) != 0) {
        snprintf(why, whycap, "%s", io.msg);
        return -1;
    }
    return 1;
}

int sn_png_info(const char *path, int *width, int *height, int *channels, char **parameters,
                char *err, size_t errcap) {
    if (parameters) *parameters = NULL;
    FILE *f = open_input(path, "PNG", err, errcap);
    if (!f) return -1;
    png_byte sig[8];
    size_t got = fread(sig, 1, sizeof sig, f);
    if (got != sizeof sig || png_sig_cmp(sig, 0, sizeof sig) != 0) {
        snprintf(err, errcap, "%s: not a PNG file (%s)", path,
                 got < sizeof sig ? "too short" : "no PNG signature");
        fclose(f);
        return -1;
    }
    png_io io = {.f = f};
    png_uint_32 w = 0, h = 0;
    int color = 0;
    int rc = png_probe(&io, &w, &h, &color, parameters != NULL);
    fclose(f);
    if (rc != 0) {
        snprintf(err, errcap, "%s: not a valid PNG: %s", path, io.msg);
        return -1;
    }
    int ch;
    switch (color) {
    case PNG_COLOR_TYPE_GRAY: ch = 1; break;
    case PNG_COLOR_TYPE_GRAY_ALPHA: ch = 2; break;
    case PNG_COLOR_TYPE_RGB_ALPHA: ch = 4; break;
    default: ch = 3; break; /* RGB, and palette (whose colours are RGB) */
    }
    if (width) *width = (int)w;
    if (height) *height = (int)h;
    if (channels) *channels = ch;
    if (parameters) *parameters = io.text;
    return 0;
}

/* ---- the parameters text ------------------------------------------------------------------ */

typedef struct {
    char *s;
    size_t len, cap;
    int oom;
} strbuf;

static void sb_printf(strbuf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->len;
        int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? room : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if (b->s && (size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + (size_t)n + 1) cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->oom = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
}

char *sn_params_format(const sn_gen_params *p) {
    if (!p) return NULL;
    strbuf b = {0};
    sb_printf(&b, "%s", ""); /* allocate, so an empty result is still a string */
    if (p->prompt && p->prompt[0]) sb_printf(&b, "%s\n", p->prompt);
    if (p->negative && p->negative[0]) sb_printf(&b, "Negative prompt: %s\n", p->negative);
    const char *sep = "";
    if (p->steps > 0) {
        sb_printf(&b, "%sSteps: %d", sep, p->steps);
        sep = ", ";
    }
    if (p->sampler) {
        sb_printf(&b, "%sSampler: %s", sep, p->sampler);
        sep = ", ";
    }
    if (p->cfg >= 0) { /* negative or NaN: unset */
        char num[64];
        snprintf(num, sizeof num, "%g", p->cfg);
        for (char *c = num; *c; c++)
            if (*c == ',') *c = '.'; /* a decimal point whatever the locale */
        sb_printf(&b, "%sCFG scale: %s", sep, num);
        sep = ", ";
    }
    sb_printf(&b, "%sSeed: %llu", sep, (unsigned long long)p->seed);
    if (p->width > 0 && p->height > 0) sb_printf(&b, ", Size: %dx%d", p->width, p->height);
    if (p->model) sb_printf(&b, ", Model: %s", p->model);
    if (p->extra) sb_printf(&b, ", %s", p->extra);
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

/* ---- 8-bit <-> f32 CHW --------------------------------------------------------------------- */

void sn_image_to_chw(const sn_image *img, float *chw, float lo, float hi) {
    float lut[256];
    for (int p = 0; p < 256; p++) lut[p] = (float)((double)lo + ((double)hi - lo) * p / 255.0);
    size_t plane = (size_t)img->width * (size_t)img->height;
    int c_in = img->channels;
    for (size_t i = 0; i < plane; i++) {
        const uint8_t *px = img->pixels + i * (size_t)c_in;
        for (int c = 0; c < 3; c++) chw[(size_t)c * plane + i] = lut[px[c_in >= 3 ? c : 0]];
    }
}

/* One value back to 8 bit. The float operations follow the reference scripts so that the
 * bytes match theirs exactly:
 *   SN_ROUND_EVEN: ((x - lo) / (hi - lo) * 255).clamp(0, 255).round(), as diffusers'
 *     `((x / 2 + 0.5).clamp(0, 1) * 255).round()` (x/2 + 0.5 and (x + 1)/2 round alike);
 *   SN_ROUND_HALF_UP: (x * s + (o + 0.5)).clamp(0, 255) truncated, with s = 255/(hi - lo),
 *     o = -lo*s, which for [-1,1] is DiT's `clamp(127.5*x + 128, 0, 255).to(uint8)` and for
 *     [0,1] torchvision save_image's `x.mul(255).add_(0.5).clamp_(0, 255).to(uint8)`.
 * NaN gives 0. */
static inline uint8_t to_u8(float x, float lo, float range, float s, float o_half,
                            sn_pixel_round mode) {
    float v = mode == SN_ROUND_HALF_UP ? x * s + o_half : (x - lo) / range * 255.0f;
    if (!(v >= 0.0f)) return 0; /* negative or NaN */
    if (v >= 255.0f) return 255;
    return mode == SN_ROUND_HALF_UP ? (uint8_t)v : (uint8_t)rintf(v);
}

int sn_chw_to_image(const float *chw, int width, int height, sn_image *img, float lo, float hi,
                    sn_pixel_round mode) {
    memset(img, 0, sizeof *img);
    if (width <= 0 || height <= 0) return -1;
    size_t plane = (size_t)width * (size_t)height;
    uint8_t *px = malloc(plane * 3);
    if (!px) return -1;
    float range = hi - lo, s = 255.0f / range, o_half = -lo * s + 0.5f;
    for (size_t i = 0; i < plane; i++)
        for (int c = 0; c < 3; c++)
            px[i * 3 + c] = to_u8(chw[(size_t)c * plane + i], lo, range, s, o_half, mode);
    img->width = width;
    img->height = height;
    img->channels = 3;
    img->pixels = px;
    return 0;
}
