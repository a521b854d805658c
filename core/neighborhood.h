/* Neighborhood attention (NA) and generalized NA (GNA) as SHI-Labs/NATTEN defines them: which
 * keys a query token of a 1-, 2- or 3-D token grid attends. The parameters, their parsing and
 * validation, and the window math that the CPU oracle (core/cpu/neighborhood.c) and the CUDA
 * kernel share. The inline functions compile for host and device (SN_HD) and call no libc.
 *
 * Definitions (attention.md 2.2-2.5; NATTEN's reference mask.hpp and flex.py). Per axis, a grid
 * of L tokens, kernel k, stride s, dilation d, causal c:
 *   dilation   coordinate x is in group g = x mod d at in-group coordinate x' = x div d; the
 *              group holds L_g = ceil((L - g) / d) tokens and a key must be in the same group.
 *              Everything below is in group coordinates (x', L_g).
 *   radii      left = k div 2, right = k div 2 + (k mod 2) - 1: even k has one more key left.
 *   non-causal leader = min((x' div s) s + s div 2, L_g - 1)   (centre of the stride group;
 *              the right-hand centre for even s); start = clamp(leader - left, 0, L_g - k),
 *              end = start + k: the window shifts inward at the edges, so every query sees
 *              exactly k keys per axis.
 *   causal     leader = min((x' div s) s + s - 1, L_g - 1)   (last query of the stride group);
 *              start = max(leader - k + 1, 0), end = x' + 1: no inward shift, so queries near
 *              the start, and all but the last of a stride group, see fewer than k keys.
 * The mask is separable: a key is a neighbor when it is one along every axis, so windows are
 * boxes. s = 1 is classic NA, 1 < s < k strided NA (a stride group shares one window), s = k
 * with L mod k = 0 blocked attention, k = L (non-causal) full attention along that axis.
 *
 * Tokens are numbered row-major over the grid: ((x0 * size1) + x1) * size2 + x2. */
#ifndef SN_NEIGHBORHOOD_H
#define SN_NEIGHBORHOOD_H

#include <stddef.h>

#ifndef SN_HD
#ifdef __CUDACC__
#define SN_HD __host__ __device__
#else
#define SN_HD
#endif
#endif

#define SN_NA_MAX_AXES 3

typedef struct {
    int axes;                     /* 1, 2 or 3; 0 after sn_na_parse of single values (below) */
    int size[SN_NA_MAX_AXES];     /* token grid; token index row-major: ((x0*size1)+x1)*size2+x2 */
    int window[SN_NA_MAX_AXES];   /* kernel size k >= 2 (k == size: full along that axis) */
    int stride[SN_NA_MAX_AXES];   /* 1 <= stride <= window */
    int dilation[SN_NA_MAX_AXES]; /* >= 1, window*dilation <= size */
    int causal[SN_NA_MAX_AXES];   /* 0 or 1 */
} sn_na_params;

/* In-group coordinates [start, end). */
typedef struct {
    int start, end;
} sn_na_span;

/* One axis of a query's window: the keys y with y mod dilation == group and
 * start <= y div dilation < end. */
typedef struct {
    int start, end, group;
} sn_na_range;

/* --- options and checks (core/neighborhood.c, host only) ------------------------------ */

/* Parses the option text after "neighborhood:", comma-separated key=value items:
 *   window=7                      every axis; required
 *   window=80x80,stride=16x16     one value per axis, joined by 'x'
 *   stride=1, dilation=1, causal=0   the defaults; causal takes 0 or 1
 * A single value applies to every axis, so "window=7" fits an image (2 axes) and a video
 * (3 axes) alike. When every key has a single value, out->axes is 0 and each value fills all
 * SN_NA_MAX_AXES entries; a list fixes out->axes to its length, and every list must have that
 * length (single values are then broadcast to it). size[] is left 0: the grid is the model's,
 * known only at run time; sn_na_resolve fills it in. Checks what does not depend on the grid
 * (window >= 2, 1 <= stride <= window, dilation >= 1). Returns 0, or -1 with a message in err. */
int sn_na_parse(const char *text, sn_na_params *out, char *err, size_t cap);

/* The model's half: gives parsed parameters their grid (`axes` sizes), broadcasting single
 * values when p->axes is 0, then runs sn_na_check. Fails when the option named a different
 * number of axes than the grid has. Returns 0, or -1 with a message in err. */
int sn_na_resolve(sn_na_params *p, int axes, const int *size, char *err, size_t cap);

/* NATTEN's constraints (utils/checks.py): 1 <= axes <= 3 and per axis window >= 2,
 * window * dilation <= size, 1 <= stride <= window, dilation >= 1, causal 0 or 1; and the
 * token count fits an int. Returns 0, or -1 with a message naming the axis and the values. */
int sn_na_check(const sn_na_params *p, char *err, size_t cap);

/* The option text of p ("window=7x7,stride=1x1,dilation=1x1,causal=0x0"; single values when
 * p->axes is 0), which sn_na_parse reads back. Returns snprintf's count. */
int sn_na_format(const sn_na_params *p, char *buf, size_t cap);

/* --- window math (host and device) --------------------------------------------------- */

/* Tokens in dilation group `group` of an axis of `size` tokens: g, g + d, g + 2d, ... < size,
 * i.e. ceil((size - group) / dilation). */
static inline SN_HD int sn_na_group_len(int size, int dilation, int group) {
    return (size - group + dilation - 1) / dilation;
}

/* NATTEN's window_start / window_end of in-group coordinate x among n tokens (header). */
static inline SN_HD sn_na_span sn_na_window(int n, int window, int stride, int causal, int x) {
    sn_na_span w;
    if (causal) {
        int leader = x / stride * stride + stride - 1; /* last query of the stride group */
        leader = leader < n - 1 ? leader : n - 1;
        w.start = leader - window + 1 > 0 ? leader - window + 1 : 0;
        w.end = x + 1;
    } else {
        int leader = x / stride * stride + stride / 2; /* centre (right-hand for even s) */
        leader = leader < n - 1 ? leader : n - 1;
        int start = leader - window / 2;               /* left radius: k div 2 */
        start = start > n - window ? n - window : start; /* shift inward at the right edge */
        w.start = start > 0 ? start : 0;               /* and at the left edge */
        w.end = w.start + window;
    }
    return w;
}

/* The keys along `axis` of the query at grid coordinate x: its dilation group and its window
 * in that group's coordinates. */
static inline SN_HD sn_na_range sn_na_axis_range(const sn_na_params *p, int axis, int x) {
    int d = p->dilation[axis], g = x % d;
    sn_na_span w = sn_na_window(sn_na_group_len(p->size[axis], d, g), p->window[axis],
                                p->stride[axis], p->causal[axis], x / d);
    sn_na_range r;
    r.start = w.start;
    r.end = w.end;
    r.group = g;
    return r;
}

/* Whether grid coordinate y is inside range r along an axis of dilation d. */
static inline SN_HD int sn_na_range_has(sn_na_range r, int dilation, int y) {
    int yi = y / dilation;
    return y % dilation == r.group && yi >= r.start && yi < r.end;
}

/* Grid tokens: the product of the sizes. */
static inline SN_HD int sn_na_tokens(const sn_na_params *p) {
    int n = 1;
    for (int a = 0; a < p->axes; a++) n *= p->size[a];
    return n;
}

/* Grid coordinates c[0 .. axes) of token `index`. */
static inline SN_HD void sn_na_coords(const sn_na_params *p, int index, int *c) {
    for (int a = p->axes - 1; a >= 0; a--) {
        c[a] = index % p->size[a];
        index /= p->size[a];
    }
}

/* Whether query token q attends key token kv. Keys from sn_na_tokens(p) on are the extra
 * tokens (text) that every query attends. */
static inline SN_HD int sn_na_is_neighbor(const sn_na_params *p, int q, int kv) {
    if (kv >= sn_na_tokens(p)) return 1;
    int qc[SN_NA_MAX_AXES], kc[SN_NA_MAX_AXES];
    sn_na_coords(p, q, qc);
    sn_na_coords(p, kv, kc);
    for (int a = 0; a < p->axes; a++)
        if (!sn_na_range_has(sn_na_axis_range(p, a, qc[a]), p->dilation[a], kc[a])) return 0;
    return 1;
}

/* --- tiles, for kernels that visit (query tile, key tile) pairs ----------------------------
 * A kernel lays each dilation group out on its own (NATTEN folds the groups into the batch)
 * and cuts a group into multi-dimensional tiles (attention.md 2.9(b)). A box is such a tile,
 * or any other box: per axis the dilation group and in-group coordinates [lo, hi), non-empty.
 * Because window_start and window_end never decrease as x' grows, and the windows of
 * consecutive queries overlap or abut (s <= k), the keys of queries [lo, hi) are exactly
 * [start(lo), end(hi - 1)); with the mask separable, the tests below are exact, not bounds. */
typedef struct {
    int group[SN_NA_MAX_AXES];
    int lo[SN_NA_MAX_AXES], hi[SN_NA_MAX_AXES];
} sn_na_box;

/* In-group window of in-group coordinate x of group g along `axis`. */
static inline SN_HD sn_na_span sn_na_group_window(const sn_na_params *p, int axis, int g, int x) {
    return sn_na_window(sn_na_group_len(p->size[axis], p->dilation[axis], g), p->window[axis],
                        p->stride[axis], p->causal[axis], x);
}

/* Keys (in-group, same group) that the queries [lo, hi) of group g along `axis` attend: the
 * union of their windows, [window_start(lo), window_end(hi - 1)). */
static inline SN_HD sn_na_span sn_na_axis_keys(const sn_na_params *p, int axis, int g, int lo,
                                               int hi) {
    sn_na_span k;
    k.start = sn_na_group_window(p, axis, g, lo).start;
    k.end = sn_na_group_window(p, axis, g, hi - 1).end;
    return k;
}

/* The tile at tile coordinates tile[] of a tiling of dilation group group[] by `shape`: per
 * axis [tile * shape, (tile + 1) * shape) clipped to the group's length (a kernel pads the
 * last tile; padding is never a neighbor). */
static inline SN_HD sn_na_box sn_na_tile_box(const sn_na_params *p, const int *group,
                                             const int *shape, const int *tile) {
    sn_na_box b;
    for (int a = 0; a < SN_NA_MAX_AXES; a++) {
        int in = a < p->axes;
        int n = in ? sn_na_group_len(p->size[a], p->dilation[a], group[a]) : 1;
        b.group[a] = in ? group[a] : 0;
        b.lo[a] = in ? tile[a] * shape[a] : 0;
        b.hi[a] = in ? (b.lo[a] + shape[a] < n ? b.lo[a] + shape[a] : n) : 1;
    }
    return b;
}

/* The key tiles (of shape kv_shape, same group) that the query box q must visit, per axis
 * [t0, t1): from floor(key start / tile) to ceil(key end / tile), as NATTEN's get_trip_count
 * (fna_fusion.hpp). Every tile in the range holds a neighbor of some query of q, and no tile
 * outside it does. Returns the trip count, the product of t1 - t0. */
static inline SN_HD int sn_na_kv_tiles(const sn_na_params *p, const sn_na_box *q,
                                       const int *kv_shape, int *t0, int *t1) {
    int trips = 1;
    for (int a = 0; a < p->axes; a++) {
        sn_na_span k = sn_na_axis_keys(p, a, q->group[a], q->lo[a], q->hi[a]);
        t0[a] = k.start / kv_shape[a];
        t1[a] = (k.end + kv_shape[a] - 1) / kv_shape[a];
        trips *= t1[a] - t0[a];
    }
    return trips;
}

/* Whether every (query, key) pair of boxes q and kv is a neighbor pair, so a kernel may skip
 * the per-element predicate: per axis, the last query's window starts at or before kv's first
 * key and the first query's window ends at or after kv's last. */
static inline SN_HD int sn_na_box_full(const sn_na_params *p, const sn_na_box *q,
                                       const sn_na_box *kv) {
    for (int a = 0; a < p->axes; a++) {
        if (q->group[a] != kv->group[a] || q->lo[a] >= q->hi[a] || kv->lo[a] >= kv->hi[a])
            return 0;
        if (sn_na_group_window(p, a, q->group[a], q->hi[a] - 1).start > kv->lo[a]) return 0;
        if (sn_na_group_window(p, a, q->group[a], q->lo[a]).end < kv->hi[a]) return 0;
    }
    return 1;
}

/* Whether some (query, key) pair of boxes q and kv is a neighbor pair. */
static inline SN_HD int sn_na_box_touches(const sn_na_params *p, const sn_na_box *q,
                                          const sn_na_box *kv) {
    for (int a = 0; a < p->axes; a++) {
        if (q->group[a] != kv->group[a] || q->lo[a] >= q->hi[a] || kv->lo[a] >= kv->hi[a])
            return 0;
        sn_na_span k = sn_na_axis_keys(p, a, q->group[a], q->lo[a], q->hi[a]);
        if (k.start >= kv->hi[a] || k.end <= kv->lo[a]) return 0;
    }
    return 1;
}

#endif
