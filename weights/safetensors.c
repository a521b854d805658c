/* safetensors: the reader (memory-mapped, every field checked) and the writer.
 *
 * The format (https://github.com/huggingface/safetensors): an 8-byte little-endian header
 * length N, N bytes of UTF-8 JSON, then the data section. The JSON object maps each tensor
 * name to {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, offsets counted from
 * the first byte of the data section, and may hold "__metadata__", an object of strings.
 *
 * The reader trusts nothing in the file: every number is range-checked before it is used,
 * and every tensor's bytes are checked to lie inside the data section before a pointer to
 * them is handed out. Where it differs from the reference (Rust) library:
 *  - Holes between tensors and trailing bytes after the last one are accepted; the
 *    reference insists that the tensors tile the data section exactly. Holes are harmless
 *    here because each tensor's own range is checked against the data section and against
 *    every other tensor's range (no byte may belong to two tensors).
 *  - A name given twice is an error; the reference's map silently keeps the last one.
 *  - An entry's fields other than dtype/shape/data_offsets are ignored (as the reference
 *    does); one of those three given twice is an error (as serde reports it).
 *  - Integers must be integral, non-negative and below 2^53, so that the double cJSON parses
 *    is exactly the integer written; "2.0" is accepted as 2.
 *  - The header may start with whitespace (the reference will require '{'), must be valid
 *    UTF-8 (as the reference checks), and may be followed only by JSON whitespace (the
 *    writers pad it with spaces).
 *  - The data section need not start at a multiple of 8 (the spec does not require it; the
 *    writers pad so that it does). Entry data may therefore be unaligned: consumers copy it
 *    with memcpy.
 * Tensors are listed in file order: sorted by (begin, end) offset as the reference sorts
 * them, ties (zero-size tensors at one offset) broken by name.
 *
 * The writer lays a file out as the reference does: the header is compact JSON with
 * "__metadata__" first, padded with spaces so that the data starts at a multiple of 8; the
 * tensors follow contiguously in the order given. It writes through sn_atomic_*, so a failure
 * never leaves a partial file. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "../core/fileio.h"
#include "../core/log.h"
#include "ckpt_internal.h"

#define ST_MAX_HEADER 100000000ULL /* bytes; the reference's limit */
#define ST_INT_LIMIT 9007199254740992.0 /* 2^53: integers in the header stay below it */

static const struct {
    const char *name;
    sn_dtype dt;
} st_dtypes[] = {
    {"F64", SN_F64}, {"F32", SN_F32}, {"F16", SN_F16}, {"BF16", SN_BF16}, {"I64", SN_I64},
    {"I32", SN_I32}, {"I16", SN_I16}, {"I8", SN_I8},   {"U8", SN_U8},     {"BOOL", SN_BOOL},
};
#define ST_N_DTYPES (int)(sizeof st_dtypes / sizeof st_dtypes[0])

/* In the spec, but with no sinter dtype to hold them. */
static const char *const st_unsupported[] = {"F8_E4M3", "F8_E5M2", "F8_E8M0", "F4",  "F6_E2M3",
                                             "F6_E3M2", "U16",     "U32",     "U64", "C64"};

static const char *st_dtype_name(sn_dtype dt) {
    for (int i = 0; i < ST_N_DTYPES; i++)
        if (st_dtypes[i].dt == dt) return st_dtypes[i].name;
    return NULL;
}

/* Index of the first byte that is not part of valid UTF-8 (no overlongs, no surrogates, at
 * most U+10FFFF), or n. */
static size_t utf8_check(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i], len, cp, min;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) len = 2, cp = c & 0x1F, min = 0x80;
        else if ((c & 0xF0) == 0xE0) len = 3, cp = c & 0x0F, min = 0x800;
        else if (c >= 0xF0 && c <= 0xF4) len = 4, cp = c & 0x07, min = 0x10000;
        else return i;
        if (n - i < len) return i;
        for (unsigned k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return i;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
        i += len;
    }
    return n;
}

/* A name made safe to print: control bytes and bytes that are not UTF-8 become '?', long
 * names are cut (with "..."). buf holds ST_SHOW + 4 bytes. */
#define ST_SHOW 160
static const char *show(const char *s, char *buf) {
    size_t n = 0, o = 0;
    while (s && s[n] && o < ST_SHOW) {
        unsigned char c = (unsigned char)s[n];
        if (c >= 0x80) {
            size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
            if (strnlen(s + n, len) == len &&
                utf8_check((const unsigned char *)s + n, len) == len) {
                if (o + len > ST_SHOW) break;
                memcpy(buf + o, s + n, len);
                o += len, n += len;
                continue;
            }
            buf[o++] = '?', n++;
            continue;
        }
        buf[o++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
        n++;
    }
    if (s && s[n]) memcpy(buf + o, "...", 3), o += 3;
    buf[o] = 0;
    return buf;
}

/* ---------------------------------------------------------------------------------------- */
/* Reading                                                                                   */
/* ---------------------------------------------------------------------------------------- */

/* 1 (and *out) when v is a JSON number holding an integer in [0, 2^53). */
static int json_uint(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!isfinite(d) || signbit(d) || d != floor(d) || d >= ST_INT_LIMIT) return 0;
    *out = (uint64_t)d;
    return 1;
}

/* What a JSON value is, for messages: its number, or its kind. */
static const char *json_what(const cJSON *v, char *buf, size_t cap) {
    if (cJSON_IsNumber(v)) {
        snprintf(buf, cap, "%.15g", v->valuedouble);
        if (strtod(buf, NULL) != v->valuedouble) snprintf(buf, cap, "%.17g", v->valuedouble);
        return buf;
    }
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    if (cJSON_IsTrue(v)) return "true";
    if (cJSON_IsFalse(v)) return "false";
    if (cJSON_IsNull(v)) return "null";
    return "an invalid value";
}

/* "[2, 3]" from a JSON array whose entries have all passed json_uint. */
static const char *dims_str(const cJSON *arr, char *buf, size_t cap) {
    size_t n = 0;
    int i = 0;
    buf[n++] = '[';
    for (const cJSON *d = arr->child; d; d = d->next, i++) {
        if (n + 30 >= cap) {
            n += snprintf(buf + n, cap - n, "%s...", i ? ", " : "");
            break;
        }
        n += snprintf(buf + n, cap - n, "%s%" PRIu64, i ? ", " : "", (uint64_t)d->valuedouble);
    }
    snprintf(buf + n, cap - n, "]");
    return buf;
}

typedef struct {
    const char *name; /* points into the cJSON tree */
    sn_dtype dt;
    int ndim;
    int64_t shape[SN_MAX_DIMS];
    uint64_t begin, end;
} st_ent;

/* Checks one tensor entry and fills *e. Returns 0, or -1 with err. */
static int parse_entry(const char *path, const cJSON *it, uint64_t data_len, st_ent *e,
                       char *err, size_t errcap) {
    static const char *const fields[3] = {"dtype", "shape", "data_offsets"};
    char nm[ST_SHOW + 4], what[64], dims[192];
    show(it->string, nm);
    e->name = it->string;
    if (!cJSON_IsObject(it)) {
        sn_errf(err, errcap,
             "%s: tensor '%s': entry is %s, expected an object with \"dtype\", \"shape\" and "
             "\"data_offsets\"",
             path, nm, json_what(it, what, sizeof what));
        return -1;
    }
    const cJSON *f[3] = {0};
    for (const cJSON *c = it->child; c; c = c->next)
        for (int k = 0; k < 3; k++)
            if (c->string && !strcmp(c->string, fields[k])) {
                if (f[k]) {
                    sn_errf(err, errcap, "%s: tensor '%s': \"%s\" appears twice", path, nm,
                         fields[k]);
                    return -1;
                }
                f[k] = c;
            }
    for (int k = 0; k < 3; k++)
        if (!f[k]) {
            sn_errf(err, errcap, "%s: tensor '%s': \"%s\" is missing", path, nm, fields[k]);
            return -1;
        }

    /* dtype */
    if (!cJSON_IsString(f[0])) {
        sn_errf(err, errcap, "%s: tensor '%s': dtype is %s, expected a string such as \"F32\"",
             path, nm, json_what(f[0], what, sizeof what));
        return -1;
    }
    const char *dts = f[0]->valuestring;
    int found = -1;
    for (int i = 0; i < ST_N_DTYPES; i++)
        if (!strcmp(dts, st_dtypes[i].name)) found = i;
    if (found < 0) {
        int spec = 0;
        for (size_t i = 0; i < sizeof st_unsupported / sizeof *st_unsupported; i++)
            if (!strcmp(dts, st_unsupported[i])) spec = 1;
        char dbuf[ST_SHOW + 4];
        if (spec)
            sn_errf(err, errcap,
                 "%s: tensor '%s': dtype %s is not supported (sinter reads F64, F32, F16, "
                 "BF16, I64, I32, I16, I8, U8 and BOOL)",
                 path, nm, dts);
        else
            sn_errf(err, errcap, "%s: tensor '%s': unknown dtype \"%s\"", path, nm,
                 show(dts, dbuf));
        return -1;
    }
    e->dt = st_dtypes[found].dt;

    /* shape */
    if (!cJSON_IsArray(f[1])) {
        sn_errf(err, errcap,
             "%s: tensor '%s': shape is %s, expected an array of non-negative integers", path,
             nm, json_what(f[1], what, sizeof what));
        return -1;
    }
    int rank = 0, zero = 0;
    for (const cJSON *d = f[1]->child; d; d = d->next, rank++) {
        uint64_t v;
        if (!json_uint(d, &v)) {
            sn_errf(err, errcap,
                 "%s: tensor '%s': shape entry %d is %s, expected a non-negative integer "
                 "below 2^53",
                 path, nm, rank, json_what(d, what, sizeof what));
            return -1;
        }
        if (rank < SN_MAX_DIMS) e->shape[rank] = (int64_t)v;
        if (!v) zero = 1;
    }
    if (rank > SN_MAX_DIMS) {
        sn_errf(err, errcap,
             "%s: tensor '%s': shape %s has %d dimensions; sinter supports at most %d", path,
             nm, dims_str(f[1], dims, sizeof dims), rank, SN_MAX_DIMS);
        return -1;
    }
    e->ndim = rank;
    uint64_t numel = 1, esize = sn_dtype_size(e->dt);
    if (!zero) {
        for (int i = 0; i < rank; i++) {
            uint64_t v = (uint64_t)e->shape[i];
            if (numel > (uint64_t)INT64_MAX / v) {
                numel = 0; /* marks overflow */
                break;
            }
            numel *= v;
        }
        if (!numel || numel > (uint64_t)INT64_MAX / esize) {
            sn_errf(err, errcap, "%s: tensor '%s': shape %s has too many elements", path, nm,
                 dims_str(f[1], dims, sizeof dims));
            return -1;
        }
    } else {
        numel = 0;
    }
    uint64_t need = numel * esize;

    /* data_offsets */
    if (!cJSON_IsArray(f[2])) {
        sn_errf(err, errcap,
             "%s: tensor '%s': data_offsets is %s, expected an array of two integers "
             "[begin, end]",
             path, nm, json_what(f[2], what, sizeof what));
        return -1;
    }
    int cnt = cJSON_GetArraySize(f[2]);
    if (cnt != 2) {
        sn_errf(err, errcap,
             "%s: tensor '%s': data_offsets has %d values, expected two integers [begin, end]",
             path, nm, cnt);
        return -1;
    }
    uint64_t off[2];
    int k = 0;
    for (const cJSON *d = f[2]->child; d && k < 2; d = d->next, k++)
        if (!json_uint(d, &off[k])) {
            sn_errf(err, errcap,
                 "%s: tensor '%s': data_offsets entry %d is %s, expected a non-negative "
                 "integer below 2^53",
                 path, nm, k, json_what(d, what, sizeof what));
            return -1;
        }
    e->begin = off[0];
    e->end = off[1];
    if (e->begin > e->end) {
        sn_errf(err, errcap, "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
             "] have begin after end", path, nm, e->begin, e->end);
        return -1;
    }
    if (e->end > data_len) {
        sn_errf(err, errcap,
             "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
             "] run past the end of the data section (%" PRIu64 " bytes); is the file truncated?",
             path, nm, e->begin, e->end, data_len);
        return -1;
    }
    if (e->end - e->begin != need) {
        sn_errf(err, errcap,
             "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] hold %" PRIu64
             " bytes but shape %s of %s needs %" PRIu64,
             path, nm, e->begin, e->end, e->end - e->begin, dims_str(f[1], dims, sizeof dims),
             dts, need);
        return -1;
    }
    return 0;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Checks "__metadata__" and adds its pairs to ck. */
static int parse_meta(sn_ckpt *ck, const cJSON *m, char *err, size_t errcap) {
    const char *path = ck->path;
    char what[64], nm[ST_SHOW + 4];
    if (!cJSON_IsObject(m)) {
        sn_errf(err, errcap, "%s: __metadata__ is %s, expected an object of strings", path,
             json_what(m, what, sizeof what));
        return -1;
    }
    int n = 0;
    for (const cJSON *c = m->child; c; c = c->next, n++)
        if (!cJSON_IsString(c) || !c->string) {
            sn_errf(err, errcap,
                 "%s: __metadata__ is not an object of strings: '%s' is %s, expected a string",
                 path, show(c->string, nm), json_what(c, what, sizeof what));
            return -1;
        }
    /* duplicate keys: sort a list of them (a hostile header can hold millions) */
    const char **keys = malloc(sizeof *keys * (n ? n : 1));
    if (!keys) {
        sn_errf(err, errcap, "%s: out of memory", path);
        return -1;
    }
    int i = 0;
    for (const cJSON *c = m->child; c; c = c->next) keys[i++] = c->string;
    qsort(keys, n, sizeof *keys, cmp_str);
    for (i = 1; i < n; i++)
        if (!strcmp(keys[i - 1], keys[i])) {
            sn_errf(err, errcap, "%s: __metadata__ key '%s' appears twice", path,
                 show(keys[i], nm));
            free(keys);
            return -1;
        }
    free(keys);
    for (const cJSON *c = m->child; c; c = c->next)
        if (sn_ckpt_add_meta(ck, c->string, c->valuestring)) {
            sn_errf(err, errcap, "%s: out of memory", path);
            return -1;
        }
    return 0;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(((const st_ent *)a)->name, ((const st_ent *)b)->name);
}

static int cmp_offset(const void *a, const void *b) {
    const st_ent *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Parses and checks the mapped file; fills ck. Returns 0, or -1 with err. */
static int st_load(sn_ckpt *ck, char *err, size_t errcap) {
    const char *path = ck->path;
    const unsigned char *m = ck->map;
    size_t size = ck->map_len;
    char nm[ST_SHOW + 4], nm2[ST_SHOW + 4];
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | m[i];
    if (hlen > ST_MAX_HEADER) {
        sn_errf(err, errcap,
             "%s: header length %" PRIu64 " is too large (the limit is %llu bytes); not a "
             "safetensors file?",
             path, hlen, ST_MAX_HEADER);
        return -1;
    }
    if (hlen > size - 8) {
        sn_errf(err, errcap,
             "%s: header length %" PRIu64 " runs past the end of the file (%zu bytes); the "
             "file is truncated or not safetensors",
             path, hlen, size);
        return -1;
    }
    const unsigned char *hdr_in = m + 8;
    size_t bad = utf8_check(hdr_in, hlen);
    if (bad != hlen) {
        sn_errf(err, errcap, "%s: header is not valid UTF-8 (at byte %zu of the header)", path,
             bad);
        return -1;
    }
    /* A NUL-terminated copy, so that the parser can never run off the end of the header. */
    char *hdr = malloc(hlen + 1);
    if (!hdr) {
        sn_errf(err, errcap, "%s: out of memory", path);
        return -1;
    }
    memcpy(hdr, hdr_in, hlen);
    hdr[hlen] = 0;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(hdr, hlen, &end, 0);
    st_ent *ents = NULL;
    int rc = -1;
    if (!root) {
        size_t at = end && end >= hdr && end <= hdr + hlen ? (size_t)(end - hdr) : 0;
        sn_errf(err, errcap, "%s: header is not valid JSON (error near byte %zu of the header)",
             path, at);
        goto out;
    }
    for (const char *p = end; p < hdr + hlen; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            sn_errf(err, errcap,
                 "%s: header is not valid JSON (unexpected bytes after the end of the object, "
                 "at byte %zu of the header)",
                 path, (size_t)(p - hdr));
            goto out;
        }
    if (!cJSON_IsObject(root)) {
        char what[64];
        sn_errf(err, errcap, "%s: header is not a JSON object (it is %s)", path,
             json_what(root, what, sizeof what));
        goto out;
    }

    int n = 0;
    const cJSON *meta = NULL;
    for (const cJSON *c = root->child; c; c = c->next) {
        if (!c->string) {
            sn_errf(err, errcap, "%s: header is not valid JSON (an entry without a name)", path);
            goto out;
        }
        if (!strcmp(c->string, "__metadata__")) {
            if (meta) {
                sn_errf(err, errcap, "%s: __metadata__ appears twice", path);
                goto out;
            }
            meta = c;
        } else {
            n++;
        }
    }
    ents = calloc(n ? n : 1, sizeof *ents);
    if (!ents) {
        sn_errf(err, errcap, "%s: out of memory", path);
        goto out;
    }
    uint64_t data_len = size - 8 - hlen;
    int k = 0;
    for (const cJSON *c = root->child; c; c = c->next) {
        if (c == meta) continue;
        if (parse_entry(path, c, data_len, &ents[k++], err, errcap)) goto out;
    }
    if (meta && parse_meta(ck, meta, err, errcap)) goto out;

    /* names given twice (JSON allows it; cJSON keeps both) */
    qsort(ents, n, sizeof *ents, cmp_name);
    for (int i = 1; i < n; i++)
        if (!strcmp(ents[i - 1].name, ents[i].name)) {
            sn_errf(err, errcap, "%s: tensor '%s' appears twice", path, show(ents[i].name, nm));
            goto out;
        }

    /* file order, and no byte in two tensors (zero-size tensors hold no bytes) */
    qsort(ents, n, sizeof *ents, cmp_offset);
    int widest = -1; /* among the tensors so far, the one reaching furthest */
    for (int i = 0; i < n; i++) {
        const st_ent *e = &ents[i];
        if (e->begin == e->end) continue;
        if (widest >= 0 && e->begin < ents[widest].end) {
            const st_ent *o = &ents[widest];
            sn_errf(err, errcap,
                 "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                 "] overlap those of tensor '%s' [%" PRIu64 ", %" PRIu64 "]",
                 path, show(e->name, nm), e->begin, e->end, show(o->name, nm2), o->begin,
                 o->end);
            goto out;
        }
        if (widest < 0 || e->end > ents[widest].end) widest = i;
    }

    const unsigned char *data = m + 8 + hlen;
    for (int i = 0; i < n; i++) {
        const st_ent *e = &ents[i];
        if (sn_ckpt_add(ck, e->name, e->dt, e->ndim, e->shape, data + e->begin,
                        (size_t)(e->end - e->begin))) {
            sn_errf(err, errcap, "%s: out of memory", path);
            goto out;
        }
    }
    rc = sn_ckpt_finish(ck, err, errcap);
out:
    free(ents);
    cJSON_Delete(root);
    free(hdr);
    return rc;
}

sn_ckpt *sn_safetensors_open(const char *path, char *err, size_t errcap) {
    if (err && errcap) err[0] = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        sn_errf(err, errcap, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        sn_errf(err, errcap, "%s: cannot read: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        sn_errf(err, errcap, "%s: not a regular file", path);
        close(fd);
        return NULL;
    }
    if (st.st_size < 8) {
        sn_errf(err, errcap,
             "%s: file is too short for safetensors (%lld bytes; the header length alone "
             "takes 8)",
             path, (long long)st.st_size);
        close(fd);
        return NULL;
    }
    if ((uint64_t)st.st_size > (uint64_t)SIZE_MAX) {
        sn_errf(err, errcap, "%s: file is too large to map", path);
        close(fd);
        return NULL;
    }
    size_t size = (size_t)st.st_size;
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int map_errno = errno;
    close(fd);
    if (map == MAP_FAILED) {
        sn_errf(err, errcap, "%s: cannot map the file: %s", path, strerror(map_errno));
        return NULL;
    }
    sn_ckpt *ck = sn_ckpt_new(path, "safetensors");
    if (!ck) {
        munmap(map, size);
        sn_errf(err, errcap, "%s: out of memory", path);
        return NULL;
    }
    ck->map = map; /* sn_ckpt_close unmaps it */
    ck->map_len = size;
    if (st_load(ck, err, errcap)) {
        sn_ckpt_close(ck);
        return NULL;
    }
    return ck;
}

/* ---------------------------------------------------------------------------------------- */
/* Writing                                                                                   */
/* ---------------------------------------------------------------------------------------- */

typedef struct {
    char *p;
    size_t n, cap;
    int oom;
} st_buf;

static void put(st_buf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->n + n + 1) nc *= 2;
        char *np = realloc(b->p, nc);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void puts_(st_buf *b, const char *s) { put(b, s, strlen(s)); }

/* A JSON string literal; s is valid UTF-8, which is written as is. */
static void put_json_str(st_buf *b, const char *s) {
    put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"') put(b, "\\\"", 2);
        else if (c == '\\') put(b, "\\\\", 2);
        else if (c == '\n') put(b, "\\n", 2);
        else if (c == '\r') put(b, "\\r", 2);
        else if (c == '\t') put(b, "\\t", 2);
        else if (c == '\b') put(b, "\\b", 2);
        else if (c == '\f') put(b, "\\f", 2);
        else if (c < 0x20) snprintf(esc, sizeof esc, "\\u%04x", c), put(b, esc, 6);
        else put(b, s, 1);
    }
    put(b, "\"", 1);
}

static void put_u64(st_buf *b, uint64_t v) {
    char t[24];
    put(b, t, (size_t)snprintf(t, sizeof t, "%" PRIu64, v));
}

static int cmp_tensor_name(const void *a, const void *b) {
    return strcmp((*(const sn_named_tensor *const *)a)->name,
                  (*(const sn_named_tensor *const *)b)->name);
}

int sn_safetensors_write(const char *path, const sn_named_tensor *tensors, int n,
                         const char *const *meta_kv, int n_meta, char *err, size_t errcap) {
    char nm[ST_SHOW + 4];
    if (err && errcap) err[0] = 0;
    if (!path) {
        sn_errf(err, errcap, "safetensors: no output path");
        return -1;
    }
    if (n < 0 || (n > 0 && !tensors) || n_meta < 0 || (n_meta > 0 && !meta_kv)) {
        sn_errf(err, errcap, "%s: invalid arguments (n=%d, n_meta=%d)", path, n, n_meta);
        return -1;
    }

    /* check everything before creating the file */
    uint64_t *nbytes = malloc(sizeof *nbytes * (n ? n : 1));
    const sn_named_tensor **sorted = malloc(sizeof *sorted * (n ? n : 1));
    const char **mkeys = malloc(sizeof *mkeys * (n_meta ? n_meta : 1));
    st_buf h = {0};
    sn_atomic_file af;
    int rc = -1;
    if (!nbytes || !sorted || !mkeys) {
        sn_errf(err, errcap, "%s: out of memory", path);
        goto out;
    }
    uint64_t total = 0;
    for (int i = 0; i < n; i++) {
        const sn_named_tensor *t = &tensors[i];
        const char *name = t->name;
        if (!name) {
            sn_errf(err, errcap, "%s: tensor %d has no name", path, i);
            goto out;
        }
        show(name, nm);
        if (utf8_check((const unsigned char *)name, strlen(name)) != strlen(name)) {
            sn_errf(err, errcap, "%s: tensor name '%s' is not valid UTF-8", path, nm);
            goto out;
        }
        if (!strcmp(name, "__metadata__")) {
            sn_errf(err, errcap, "%s: '__metadata__' is reserved and cannot name a tensor", path);
            goto out;
        }
        if (!st_dtype_name(t->t.dtype)) {
            sn_errf(err, errcap, "%s: tensor '%s': dtype %d cannot be written to safetensors",
                 path, nm, (int)t->t.dtype);
            goto out;
        }
        if (t->t.device != SN_CPU) {
            sn_errf(err, errcap,
                 "%s: tensor '%s' is not in host memory (copy it to the CPU before writing)",
                 path, nm);
            goto out;
        }
        if (t->t.ndim < 0 || t->t.ndim > SN_MAX_DIMS) {
            sn_errf(err, errcap, "%s: tensor '%s' has %d dimensions (0 to %d can be written)",
                 path, nm, t->t.ndim, SN_MAX_DIMS);
            goto out;
        }
        int zero = 0, big = 0;
        for (int d = 0; d < t->t.ndim; d++) {
            if (t->t.shape[d] < 0) {
                sn_errf(err, errcap, "%s: tensor '%s' has a negative dimension (%lld)", path, nm,
                     (long long)t->t.shape[d]);
                goto out;
            }
            if (!t->t.shape[d]) zero = 1;
        }
        uint64_t numel = zero ? 0 : 1; /* kept below 2^53 */
        for (int d = 0; d < t->t.ndim && !zero; d++) {
            uint64_t v = (uint64_t)t->t.shape[d];
            if (numel > ((uint64_t)1 << 53) / v) {
                big = 1;
                break;
            }
            numel *= v;
        }
        uint64_t nb = numel * sn_dtype_size(t->t.dtype);
        if (big || nb >= ((uint64_t)1 << 53) || total + nb >= ((uint64_t)1 << 53)) {
            sn_errf(err, errcap, "%s: tensor '%s' is too large for safetensors", path, nm);
            goto out;
        }
        if (nb && !t->t.data) {
            sn_errf(err, errcap, "%s: tensor '%s' has no data (NULL) but needs %" PRIu64 " bytes",
                 path, nm, nb);
            goto out;
        }
        nbytes[i] = nb;
        total += nb;
        sorted[i] = t;
    }
    qsort(sorted, n, sizeof *sorted, cmp_tensor_name);
    for (int i = 1; i < n; i++)
        if (!strcmp(sorted[i - 1]->name, sorted[i]->name)) {
            sn_errf(err, errcap, "%s: tensor '%s' appears twice", path, show(sorted[i]->name, nm));
            goto out;
        }
    for (int i = 0; i < n_meta; i++) {
        const char *k = meta_kv[2 * i], *v = meta_kv[2 * i + 1];
        if (!k || !v) {
            sn_errf(err, errcap, "%s: metadata pair %d has a NULL %s", path, i, k ? "value" : "key");
            goto out;
        }
        if (utf8_check((const unsigned char *)k, strlen(k)) != strlen(k) ||
            utf8_check((const unsigned char *)v, strlen(v)) != strlen(v)) {
            sn_errf(err, errcap, "%s: metadata '%s' is not valid UTF-8", path, show(k, nm));
            goto out;
        }
        mkeys[i] = k;
    }
    qsort(mkeys, n_meta, sizeof *mkeys, cmp_str);
    for (int i = 1; i < n_meta; i++)
        if (!strcmp(mkeys[i - 1], mkeys[i])) {
            sn_errf(err, errcap, "%s: metadata key '%s' appears twice", path, show(mkeys[i], nm));
            goto out;
        }

    /* the header, laid out as the reference library writes it */
    put(&h, "{", 1);
    if (n_meta > 0) {
        puts_(&h, "\"__metadata__\":{");
        for (int i = 0; i < n_meta; i++) {
            if (i) put(&h, ",", 1);
            put_json_str(&h, meta_kv[2 * i]);
            put(&h, ":", 1);
            put_json_str(&h, meta_kv[2 * i + 1]);
        }
        put(&h, "}", 1);
    }
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        const sn_tensor *t = &tensors[i].t;
        if (i || n_meta > 0) put(&h, ",", 1);
        put_json_str(&h, tensors[i].name);
        puts_(&h, ":{\"dtype\":\"");
        puts_(&h, st_dtype_name(t->dtype));
        puts_(&h, "\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            if (d) put(&h, ",", 1);
            put_u64(&h, (uint64_t)t->shape[d]);
        }
        puts_(&h, "],\"data_offsets\":[");
        put_u64(&h, off);
        put(&h, ",", 1);
        put_u64(&h, off + nbytes[i]);
        puts_(&h, "]}");
        off += nbytes[i];
    }
    put(&h, "}", 1);
    while (!h.oom && h.n % 8) put(&h, " ", 1);
    if (h.oom) {
        sn_errf(err, errcap, "%s: out of memory", path);
        goto out;
    }
    if (h.n > ST_MAX_HEADER) {
        sn_errf(err, errcap,
             "%s: the header would take %zu bytes, more than safetensors allows (%llu)", path,
             h.n, ST_MAX_HEADER);
        goto out;
    }

    if (sn_atomic_open(&af, path, err, errcap)) goto out;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)h.n >> (8 * i));
    int ok = fwrite(len8, 1, 8, af.f) == 8 && fwrite(h.p, 1, h.n, af.f) == h.n;
    for (int i = 0; ok && i < n; i++)
        if (nbytes[i]) ok = fwrite(tensors[i].t.data, 1, nbytes[i], af.f) == nbytes[i];
    if (!ok) {
        sn_errf(err, errcap, "%s: write failed: %s", path, strerror(errno));
        sn_atomic_abort(&af);
        goto out;
    }
    rc = sn_atomic_commit(&af, err, errcap);
out:
    free(nbytes);
    free(sorted);
    free(mkeys);
    free(h.p);
    return rc;
}
