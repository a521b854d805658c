/* Neighborhood attention options: parsing the CLI text, giving it the model's grid, and
 * NATTEN's constraints (utils/checks.py). The window math is inline in neighborhood.h. */
#include "neighborhood.h"
#include "log.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* --- parsing ------------------------------------------------------------------------- */

typedef struct {
    const char *name;
    size_t offset; /* of the int[SN_NA_MAX_AXES] in sn_na_params */
    int dflt;
} na_key;

static const na_key KEYS[] = {
    {"window", offsetof(sn_na_params, window), 0},
    {"stride", offsetof(sn_na_params, stride), 1},
    {"dilation", offsetof(sn_na_params, dilation), 1},
    {"causal", offsetof(sn_na_params, causal), 0},
};
#define NKEYS ((int)(sizeof KEYS / sizeof KEYS[0]))

static int *field(sn_na_params *p, int key) { return (int *)((char *)p + KEYS[key].offset); }
static const int *cfield(const sn_na_params *p, int key) {
    return (const int *)((const char *)p + KEYS[key].offset);
}

/* Reads "7" or "7x7" or "2x8x8" from s (len bytes) into v; returns the count, or 0 when the
 * text is not 1-3 decimal integers (each at most 9 digits) joined by 'x'. */
static int parse_values(const char *s, size_t len, int *v) {
    int n = 0;
    size_t i = 0;
    for (;;) {
        if (n == SN_NA_MAX_AXES) return 0;
        size_t digits = 0;
        long x = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9' && digits < 10) {
            x = x * 10 + (s[i++] - '0');
            digits++;
        }
        if (digits == 0 || digits > 9) return 0;
        v[n++] = (int)x;
        if (i == len) return n;
        if (s[i++] != 'x') return 0;
    }
}

/* The grid-independent constraints on p's first `axes` entries (all of them when 0). */
static int check_options(const sn_na_params *p, char *err, size_t cap) {
    int n = p->axes ? p->axes : SN_NA_MAX_AXES;
    for (int a = 0; a < n; a++) {
        int k = p->window[a], s = p->stride[a], d = p->dilation[a], c = p->causal[a];
        if (k < 2) return sn_errf(err, cap, "neighborhood: window %d: must be at least 2", k);
        if (s < 1 || s > k)
            return sn_errf(err, cap, "neighborhood: stride %d with window %d: the stride must be "
                        "between 1 and the window", s, k);
        if (d < 1) return sn_errf(err, cap, "neighborhood: dilation %d: must be at least 1", d);
        if (c != 0 && c != 1) return sn_errf(err, cap, "neighborhood: causal %d: must be 0 or 1", c);
    }
    return 0;
}

int sn_na_parse(const char *text, sn_na_params *out, char *err, size_t cap) {
    sn_na_params p;
    memset(&p, 0, sizeof p);
    int given[NKEYS] = {0}, count[NKEYS] = {0}, values[NKEYS][SN_NA_MAX_AXES] = {{0}};
    const char *s = text ? text : "";
    while (*s) {
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        const char *eq = memchr(s, '=', len);
        size_t klen = eq ? (size_t)(eq - s) : len;
        if (len == 0) return sn_errf(err, cap, "neighborhood: an empty option in '%s'", text);
        int key = -1;
        for (int i = 0; i < NKEYS; i++)
            if (strlen(KEYS[i].name) == klen && !strncmp(s, KEYS[i].name, klen)) key = i;
        if (key < 0)
            return sn_errf(err, cap, "neighborhood: unknown option '%.*s' (expected window=, "
                        "stride=, dilation= or causal=, as in window=7x7,stride=1x1)",
                        (int)len, s);
        if (!eq) return sn_errf(err, cap, "neighborhood: '%.*s' has no value", (int)len, s);
        if (given[key]) return sn_errf(err, cap, "neighborhood: %s= is given twice", KEYS[key].name);
        given[key] = 1;
        count[key] = parse_values(eq + 1, len - klen - 1, values[key]);
        if (!count[key])
            return sn_errf(err, cap, "neighborhood: %.*s: expected one integer, or one per axis "
                        "joined by 'x' (as in %s=%s)", (int)len, s, KEYS[key].name,
                        key == 3 ? "1x0x0" : "7x7");
        if (!end) break;
        s = end + 1;
        if (!*s) return sn_errf(err, cap, "neighborhood: the text ends with a comma");
    }
    if (!given[0])
        return sn_errf(err, cap, "neighborhood: window= is required (as in window=7 or "
                    "window=8x24x24)");
    /* A list fixes the number of axes; every list must agree with it. */
    for (int i = 0; i < NKEYS; i++) {
        if (count[i] <= 1) continue;
        if (p.axes && count[i] != p.axes)
            return sn_errf(err, cap, "neighborhood: %s= has %d values but another option has %d; "
                        "give one value per axis, or a single value for every axis",
                        KEYS[i].name, count[i], p.axes);
        p.axes = count[i];
    }
    for (int i = 0; i < NKEYS; i++)
        for (int a = 0; a < SN_NA_MAX_AXES; a++) {
            int v = !given[i] ? KEYS[i].dflt : count[i] == 1 ? values[i][0] : values[i][a];
            field(&p, i)[a] = p.axes && a >= p.axes ? 0 : v; /* entries past the axes: 0 */
        }
    if (check_options(&p, err, cap)) return -1;
    *out = p;
    return 0;
}

/* --- grid and checks ------------------------------------------------------------------ */

int sn_na_resolve(sn_na_params *p, int axes, const int *size, char *err, size_t cap) {
    if (axes < 1 || axes > SN_NA_MAX_AXES)
        return sn_errf(err, cap, "neighborhood: a token grid of %d axes (expected 1 to %d)", axes,
                    SN_NA_MAX_AXES);
    if (p->axes == 0) { /* single values: every axis takes the first entry */
        for (int a = 1; a < SN_NA_MAX_AXES; a++)
            for (int i = 0; i < NKEYS; i++) field(p, i)[a] = field(p, i)[0];
    } else if (p->axes != axes) {
        char opt[160];
        sn_na_format(p, opt, sizeof opt);
        return sn_errf(err, cap, "neighborhood: %s has %d axes but the model's token grid has %d; "
                    "give %d values per option, or single values", opt, p->axes, axes, axes);
    }
    p->axes = axes;
    for (int a = 0; a < SN_NA_MAX_AXES; a++) p->size[a] = a < axes ? size[a] : 0;
    return sn_na_check(p, err, cap);
}

int sn_na_check(const sn_na_params *p, char *err, size_t cap) {
    if (p->axes < 1 || p->axes > SN_NA_MAX_AXES)
        return sn_errf(err, cap, "neighborhood: %d axes (expected 1 to %d)", p->axes,
                    SN_NA_MAX_AXES);
    long long tokens = 1;
    for (int a = 0; a < p->axes; a++) {
        int L = p->size[a], k = p->window[a], s = p->stride[a], d = p->dilation[a];
        if (L < 1 || k < 2 || d < 1 || (long long)k * d > L)
            return sn_errf(err, cap, "neighborhood: axis %d: window %d x dilation %d does not fit "
                        "the grid size %d (need window >= 2, dilation >= 1 and window x "
                        "dilation <= size)", a, k, d, L);
        if (s < 1 || s > k)
            return sn_errf(err, cap, "neighborhood: axis %d: stride %d must be between 1 and the "
                        "window %d", a, s, k);
        if (p->causal[a] != 0 && p->causal[a] != 1)
            return sn_errf(err, cap, "neighborhood: axis %d: causal %d must be 0 or 1", a,
                        p->causal[a]);
        tokens *= L;
        if (tokens > INT_MAX)
            return sn_errf(err, cap, "neighborhood: a token grid of more than %d tokens", INT_MAX);
    }
    return 0;
}

int sn_na_format(const sn_na_params *p, char *buf, size_t cap) {
    char text[256]; /* 4 keys, at most 3 values of at most 11 characters each */
    int n = p->axes >= 1 && p->axes <= SN_NA_MAX_AXES ? p->axes : 1, len = 0;
    for (int i = 0; i < NKEYS; i++) {
        len += snprintf(text + len, sizeof text - len, "%s%s=", i ? "," : "", KEYS[i].name);
        for (int a = 0; a < n; a++)
            len += snprintf(text + len, sizeof text - len, "%s%d", a ? "x" : "", cfield(p, i)[a]);
    }
    return snprintf(buf, cap, "%s", text);
}
