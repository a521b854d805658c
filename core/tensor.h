/* Tensors: a dtype, up to five dimensions, row-major contiguous data on one device.
 *
 * A tensor is a small value (passed and returned by value); it does not own its data.
 * Activations live in the context's scratch arena, parameters in memory owned by the model
 * or the context. A permute is an explicit op that copies, so every tensor is contiguous. */
#ifndef SN_TENSOR_H
#define SN_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#define SN_MAX_DIMS 5

/* Compute dtypes (F32..U8) are what ops take. The rest exist only so that checkpoint
 * readers can describe what a file stores; they are converted when bound to a model. */
typedef enum {
    SN_F32 = 0,
    SN_F16,
    SN_BF16,
    SN_I32,
    SN_U8,
    SN_I64, /* storage only from here on */
    SN_F64,
    SN_I8,
    SN_I16,
    SN_BOOL,
    SN_DTYPE_COUNT
} sn_dtype;

typedef enum { SN_CPU = 0, SN_CUDA = 1 } sn_device;

typedef struct {
    sn_dtype dtype;
    sn_device device;
    int ndim;
    int64_t shape[SN_MAX_DIMS];
    void *data; /* NULL for the empty tensor (an absent optional argument, or a failed op) */
} sn_tensor;

size_t sn_dtype_size(sn_dtype dt);
const char *sn_dtype_name(sn_dtype dt); /* "f32", "f16", ... */

static inline int sn_has(sn_tensor t) { return t.data != NULL; }
static inline sn_tensor sn_none(void) { sn_tensor t = {SN_F32, SN_CPU, 0, {0}, NULL}; return t; } /* spelled out: CUDA C++ includes this too */

int64_t sn_numel(sn_tensor t);
size_t sn_nbytes(sn_tensor t);
/* A tensor header over existing memory. ndim may be 0 (a scalar). */
sn_tensor sn_tensor_wrap(void *data, sn_dtype dt, int ndim, const int64_t *shape);
/* The same data seen with another shape of the same element count (no copy). */
sn_tensor sn_reshape(sn_tensor t, int ndim, const int64_t *shape);
int sn_same_shape(sn_tensor a, sn_tensor b);
/* Item i of the first axis as a view (no copy): (d0, d1, ...) -> (d1, ...). */
sn_tensor sn_index(sn_tensor t, int64_t i);
/* Writes "[2, 3, 4]" into buf; returns buf. */
char *sn_shape_str(const int64_t *shape, int ndim, char *buf, size_t cap);

/* Convenience for building shapes inline: SN_SHAPE(2, 3, 4) gives (ndim, const int64_t *). */
#define SN_SHAPE(...) \
    (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (const int64_t[]){__VA_ARGS__}

#endif
