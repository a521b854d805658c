#include "tensor.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    size_t size;
} dtype_info[SN_DTYPE_COUNT] = {
    [SN_F32] = {"f32", 4}, [SN_F16] = {"f16", 2}, [SN_BF16] = {"bf16", 2},
    [SN_I32] = {"i32", 4}, [SN_U8] = {"u8", 1},   [SN_I64] = {"i64", 8},
    [SN_F64] = {"f64", 8}, [SN_I8] = {"i8", 1},   [SN_I16] = {"i16", 2},
    [SN_BOOL] = {"bool", 1},
};

size_t sn_dtype_size(sn_dtype dt) { return (unsigned)dt < SN_DTYPE_COUNT ? dtype_info[dt].size : 0; }
const char *sn_dtype_name(sn_dtype dt) {
    return (unsigned)dt < SN_DTYPE_COUNT ? dtype_info[dt].name : "?";
}

int64_t sn_numel(sn_tensor t) {
    int64_t n = 1;
    for (int i = 0; i < t.ndim; i++) n *= t.shape[i];
    return n;
}

size_t sn_nbytes(sn_tensor t) { return (size_t)sn_numel(t) * sn_dtype_size(t.dtype); }

sn_tensor sn_tensor_wrap(void *data, sn_dtype dt, int ndim, const int64_t *shape) {
    sn_tensor t = {0};
    t.dtype = dt;
    t.device = SN_CPU;
    t.ndim = ndim;
    for (int i = 0; i < ndim && i < SN_MAX_DIMS; i++) t.shape[i] = shape[i];
    t.data = data;
    return t;
}

sn_tensor sn_reshape(sn_tensor t, int ndim, const int64_t *shape) {
    sn_tensor r = t;
    r.ndim = ndim;
    for (int i = 0; i < SN_MAX_DIMS; i++) r.shape[i] = i < ndim ? shape[i] : 0;
    if (ndim > SN_MAX_DIMS || sn_numel(r) != sn_numel(t)) return sn_none();
    return r;
}

int sn_same_shape(sn_tensor a, sn_tensor b) {
    if (a.ndim != b.ndim) return 0;
    for (int i = 0; i < a.ndim; i++)
        if (a.shape[i] != b.shape[i]) return 0;
    return 1;
}

char *sn_shape_str(const int64_t *shape, int ndim, char *buf, size_t cap) {
    size_t n = 0;
    n += snprintf(buf + n, n < cap ? cap - n : 0, "[");
    for (int i = 0; i < ndim; i++)
        n += snprintf(buf + n, n < cap ? cap - n : 0, "%s%lld", i ? ", " : "", (long long)shape[i]);
    snprintf(buf + n, n < cap ? cap - n : 0, "]");
    return buf;
}

sn_tensor sn_index(sn_tensor t, int64_t i) {
    if (!sn_has(t) || t.ndim < 1 || i < 0 || i >= t.shape[0]) return sn_none();
    sn_tensor v = t;
    v.ndim = t.ndim - 1;
    for (int d = 0; d < v.ndim; d++) v.shape[d] = t.shape[d + 1];
    v.data = (char *)t.data + i * sn_nbytes(v);
    return v;
}
