/* The format-independent part of checkpoints: recognising the format, the name index, key
 * prefixes, and binding tensors to models with shape checks and dtype conversion. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../core/half.h"
#include "../core/ops.h"
#include "ckpt_internal.h"

sn_ckpt *sn_ckpt_new(const char *path, const char *format) {
    sn_ckpt *ck = calloc(1, sizeof *ck);
    if (!ck) return NULL;
    ck->path = strdup(path);
    ck->format = format;
    if (!ck->path) {
        free(ck);
        return NULL;
    }
    return ck;
}

static int grow(void **p, int *cap, int need, size_t elem) {
    if (need <= *cap) return 0;
    int nc = *cap ? *cap * 2 : 64;
    while (nc < need) nc *= 2;
    void *np = realloc(*p, (size_t)nc * elem);
    if (!np) return -1;
    *p = np;
    *cap = nc;
    return 0;
}

int sn_ckpt_add(sn_ckpt *ck, const char *name, sn_dtype dt, int ndim, const int64_t *shape,
                const void *data, size_t nbytes) {
    if (ndim < 0 || ndim > SN_MAX_DIMS) return -1;
    if (grow((void **)&ck->all, &ck->cap_all, ck->n_all + 1, sizeof *ck->all)) return -1;
    sn_ckpt_entry *e = &ck->all[ck->n_all];
    memset(e, 0, sizeof *e);
    if (!(e->name = strdup(name))) return -1;
    e->dtype = dt;
    e->ndim = ndim;
    for (int i = 0; i < ndim; i++) e->shape[i] = shape[i];
    e->data = data;
    e->nbytes = nbytes;
    ck->n_all++;
    return 0;
}

int sn_ckpt_add_meta(sn_ckpt *ck, const char *key, const char *value) {
    int cap = ck->cap_meta;
    if (grow((void **)&ck->meta_keys, &cap, ck->n_meta + 1, sizeof(char *))) return -1;
    cap = ck->cap_meta;
    if (grow((void **)&ck->meta_vals, &cap, ck->n_meta + 1, sizeof(char *))) return -1;
    ck->cap_meta = cap;
    ck->meta_keys[ck->n_meta] = strdup(key);
    ck->meta_vals[ck->n_meta] = strdup(value);
    if (!ck->meta_keys[ck->n_meta] || !ck->meta_vals[ck->n_meta]) {
        free(ck->meta_keys[ck->n_meta]);
        free(ck->meta_vals[ck->n_meta]);
        return -1;
    }
    ck->n_meta++;
    return 0;
}

int sn_ckpt_own(sn_ckpt *ck, void *p) {
    if (grow((void **)&ck->owned, &ck->cap_owned, ck->n_owned + 1, sizeof(void *))) {
        free(p);
        return -1;
    }
    ck->owned[ck->n_owned++] = p;
    return 0;
}

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* Rebuilds the view for ck->prefix. Returns the number of names in it, or -1 (out of
 * memory), or -2 with *dup set to the first duplicated name. */
static int build_view(sn_ckpt *ck, const char **dup) {
    int n = 0;
    for (int i = 0; i < ck->n_all; i++)
        if (!strncmp(ck->all[i].name, ck->prefix ? ck->prefix : "", ck->prefix_len)) n++;
    int cap = 16;
    while (cap < 2 * n) cap *= 2;
    int *view = malloc(sizeof(int) * (n ? n : 1));
    sn_ckpt_entry *ents = malloc(sizeof *ents * (n ? n : 1));
    int *hash = malloc(sizeof(int) * cap);
    if (!view || !ents || !hash) {
        free(view), free(ents), free(hash);
        return -1;
    }
    for (int i = 0; i < cap; i++) hash[i] = -1;
    int k = 0;
    for (int i = 0; i < ck->n_all; i++) {
        if (strncmp(ck->all[i].name, ck->prefix ? ck->prefix : "", ck->prefix_len)) continue;
        view[k] = i;
        ents[k] = ck->all[i];
        ents[k].name = ck->all[i].name + ck->prefix_len;
        uint64_t h = hash_str(ents[k].name) & (cap - 1);
        while (hash[h] >= 0) {
            if (!strcmp(ents[hash[h]].name, ents[k].name)) {
                *dup = ck->all[i].name;
                free(view), free(ents), free(hash);
                return -2;
            }
            h = (h + 1) & (cap - 1);
        }
        hash[h] = k++;
    }
    free(ck->view), free(ck->view_entries), free(ck->hash);
    ck->view = view;
    ck->view_entries = ents;
    ck->hash = hash;
    ck->hash_cap = cap;
    ck->n_view = n;
    return n;
}

int sn_ckpt_finish(sn_ckpt *ck, char *err, size_t errcap) {
    const char *dup = NULL;
    int r = build_view(ck, &dup);
    if (r == -2) {
        snprintf(err, errcap, "%s: tensor '%s' appears twice", ck->path, dup);
        return -1;
    }
    if (r < 0) {
        snprintf(err, errcap, "%s: out of memory", ck->path);
        return -1;
    }
    return 0;
}

void sn_ckpt_close(sn_ckpt *ck) {
    if (!ck) return;
    for (int i = 0; i < ck->n_all; i++) free((char *)ck->all[i].name);
    for (int i = 0; i < ck->n_meta; i++) free(ck->meta_keys[i]), free(ck->meta_vals[i]);
    for (int i = 0; i < ck->n_owned; i++) free(ck->owned[i]);
    if (ck->map) munmap(ck->map, ck->map_len);
    free(ck->all), free(ck->meta_keys), free(ck->meta_vals), free(ck->owned);
    free(ck->view), free(ck->view_entries), free(ck->hash), free(ck->prefix), free(ck->path);
    free(ck);
}

sn_ckpt *sn_ckpt_open(const char *path, char *err, size_t errcap) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errcap, "%s: %s", path, strerror(errno));
        return NULL;
    }
    unsigned char head[263] = {0};
    size_t got = fread(head, 1, sizeof head, f);
    fclose(f);
    /* safetensors first when its JSON's '{' follows the header length: lengths such as 0x180
     * begin with the bytes 0x80 0x01, which the legacy-pickle test below would claim. */
    if (got >= 9 && head[8] == '{') return sn_safetensors_open(path, err, errcap);
    if (got >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4)
        return sn_pytorch_open(path, err, errcap);
    if (got >= 2 && head[0] == 0x80 && head[1] <= 5)
        return sn_pytorch_open(path, err, errcap); /* legacy format (a stream of pickles) */
    if (got == sizeof head && !memcmp(head + 257, "ustar", 5))
        return sn_pytorch_open(path, err, errcap); /* a tar: PyTorch 0.1's format explains itself */
    if (got >= 8) return sn_safetensors_open(path, err, errcap);
    snprintf(err, errcap,
             "%s: not a checkpoint (%zu bytes; expected safetensors or a PyTorch zip file)",
             path, got);
    return NULL;
}

const char *sn_ckpt_path(const sn_ckpt *ck) { return ck->path; }
const char *sn_ckpt_format(const sn_ckpt *ck) { return ck->format; }
int sn_ckpt_count(const sn_ckpt *ck) { return ck->n_view; }
const sn_ckpt_entry *sn_ckpt_at(const sn_ckpt *ck, int i) {
    return i >= 0 && i < ck->n_view ? &ck->view_entries[i] : NULL;
}

const sn_ckpt_entry *sn_ckpt_find(const sn_ckpt *ck, const char *name) {
    if (!ck->hash) return NULL;
    uint64_t h = hash_str(name) & (ck->hash_cap - 1);
    while (ck->hash[h] >= 0) {
        if (!strcmp(ck->view_entries[ck->hash[h]].name, name))
            return &ck->view_entries[ck->hash[h]];
        h = (h + 1) & (ck->hash_cap - 1);
    }
    return NULL;
}

int sn_ckpt_meta_count(const sn_ckpt *ck) { return ck->n_meta; }
const char *sn_ckpt_meta_key(const sn_ckpt *ck, int i) {
    return i >= 0 && i < ck->n_meta ? ck->meta_keys[i] : NULL;
}
const char *sn_ckpt_meta(const sn_ckpt *ck, const char *key) {
    for (int i = 0; i < ck->n_meta; i++)
        if (!strcmp(ck->meta_keys[i], key)) return ck->meta_vals[i];
    return NULL;
}

int sn_ckpt_set_prefix(sn_ckpt *ck, const char *prefix) {
    char *old = ck->prefix;
    size_t old_len = ck->prefix_len;
    ck->prefix = strdup(prefix ? prefix : "");
    ck->prefix_len = ck->prefix ? strlen(ck->prefix) : 0;
    const char *dup = NULL;
    int n = ck->prefix ? build_view(ck, &dup) : -1;
    if (n <= 0) { /* nothing under it (or a failure): keep the old view */
        free(ck->prefix);
        ck->prefix = old;
        ck->prefix_len = old_len;
        if (n == 0) build_view(ck, &dup); /* the empty view was installed: undo */
        return n < 0 ? 0 : n;
    }
    free(old);
    return n;
}

int64_t sn_ckpt_entry_numel(const sn_ckpt_entry *e) {
    int64_t n = 1;
    for (int i = 0; i < e->ndim; i++) n *= e->shape[i];
    return n;
}

int sn_ckpt_entry_to_f32(const sn_ckpt_entry *e, float *dst) {
    int64_t n = sn_ckpt_entry_numel(e);
    const unsigned char *s = e->data;
    switch (e->dtype) {
    case SN_F32: memcpy(dst, s, n * 4); return 0;
    case SN_F16: for (int64_t i = 0; i < n; i++) { uint16_t h; memcpy(&h, s + 2 * i, 2); dst[i] = sn_f16_to_f32(h); } return 0;
    case SN_BF16: for (int64_t i = 0; i < n; i++) { uint16_t h; memcpy(&h, s + 2 * i, 2); dst[i] = sn_bf16_to_f32(h); } return 0;
    case SN_F64: for (int64_t i = 0; i < n; i++) { double d; memcpy(&d, s + 8 * i, 8); dst[i] = (float)d; } return 0;
    case SN_I64: for (int64_t i = 0; i < n; i++) { int64_t v; memcpy(&v, s + 8 * i, 8); dst[i] = (float)v; } return 0;
    case SN_I32: for (int64_t i = 0; i < n; i++) { int32_t v; memcpy(&v, s + 4 * i, 4); dst[i] = (float)v; } return 0;
    case SN_I16: for (int64_t i = 0; i < n; i++) { int16_t v; memcpy(&v, s + 2 * i, 2); dst[i] = (float)v; } return 0;
    case SN_I8: for (int64_t i = 0; i < n; i++) dst[i] = (float)(int8_t)s[i]; return 0;
    case SN_U8: for (int64_t i = 0; i < n; i++) dst[i] = (float)s[i]; return 0;
    case SN_BOOL: for (int64_t i = 0; i < n; i++) dst[i] = s[i] ? 1.0f : 0.0f; return 0;
    default: return -1;
    }
}

static sn_tensor bind(sn_ctx *ctx, const sn_ckpt *ck, const char *name, sn_dtype dt, int ndim,
                      const int64_t *shape, int optional) {
    if (!sn_ok(ctx)) return sn_none();
    const sn_ckpt_entry *e = sn_ckpt_find(ck, name);
    if (!e) {
        if (!optional)
            sn_fail(ctx, "%s: tensor '%s%s' is missing (is this the right kind of checkpoint?)",
                    ck->path, ck->prefix ? ck->prefix : "", name);
        return sn_none();
    }
    if (ndim >= 0) {
        int same = e->ndim == ndim;
        for (int i = 0; same && i < ndim; i++) same = e->shape[i] == shape[i];
        if (!same) {
            char a[96], b[96];
            sn_fail(ctx, "%s: tensor '%s%s' has shape %s, expected %s", ck->path,
                    ck->prefix ? ck->prefix : "", name, sn_shape_str(e->shape, e->ndim, a, sizeof a),
                    sn_shape_str(shape, ndim, b, sizeof b));
            return sn_none();
        }
    }
    int to_float = dt == SN_F32 || dt == SN_F16 || dt == SN_BF16;
    if (!to_float && dt != e->dtype) {
        sn_fail(ctx, "%s: tensor '%s': binding %s as %s is not supported", ck->path, name,
                sn_dtype_name(e->dtype), sn_dtype_name(dt));
        return sn_none();
    }
    int64_t n = sn_ckpt_entry_numel(e);
    if (dt == e->dtype) {
        sn_tensor host = sn_tensor_wrap((void *)e->data, e->dtype, e->ndim, e->shape);
        return sn_upload(ctx, host);
    }
    /* convert to f32 on the host, then to dt on the way to the device */
    float *tmp = malloc(n ? n * sizeof(float) : 1);
    if (!tmp || sn_ckpt_entry_to_f32(e, tmp)) {
        free(tmp);
        sn_fail(ctx, "%s: tensor '%s': cannot convert %s to f32", ck->path, name,
                sn_dtype_name(e->dtype));
        return sn_none();
    }
    sn_tensor t = sn_upload_as(ctx, sn_tensor_wrap(tmp, SN_F32, e->ndim, e->shape), dt);
    free(tmp);
    return t;
}

sn_tensor sn_ckpt_bind(sn_ctx *ctx, const sn_ckpt *ck, const char *name, sn_dtype dt, int ndim,
                       const int64_t *shape) {
    return bind(ctx, ck, name, dt, ndim, shape, 0);
}

sn_tensor sn_ckpt_bind_opt(sn_ctx *ctx, const sn_ckpt *ck, const char *name, sn_dtype dt,
                           int ndim, const int64_t *shape) {
    return bind(ctx, ck, name, dt, ndim, shape, 1);
}
