/* Schedules: beta tables, DiT's timestep respacing, the per-step coefficients of a respaced
 * process, and flow-matching time grids with their shift.
 *
 * Everything here is host float64 arithmetic in the reference's own order of operations
 * (numpy.linspace is i * step + start with the last point set to stop; cumprod is a running
 * product; Python's round() is round-half-even, which rint() gives in the default rounding
 * mode), so tables come out equal to the reference's, not merely close. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sampler.h"
#include "../core/log.h"

/* numpy.linspace(start, stop, n) in float64. */
static void linspace(double start, double stop, int n, double *out) {
    if (n <= 0) return;
    if (n == 1) {
        out[0] = start;
        return;
    }
    double step = (stop - start) / (double)(n - 1);
    for (int i = 0; i < n; i++) out[i] = (double)i * step + start;
    out[n - 1] = stop;
}

static double cos_alpha_bar(double t) {
    double c = cos((t + 0.008) / 1.008 * M_PI / 2);
    return c * c;
}

int sn_beta_schedule(sn_beta_kind kind, int n, double *betas) {
    if (n <= 0 || !betas) return -1;
    switch (kind) {
    case SN_BETA_LINEAR: {
        double scale = 1000.0 / (double)n;
        linspace(scale * 0.0001, scale * 0.02, n, betas);
        return 0;
    }
    case SN_BETA_SCALED_LINEAR:
        /* ldm's make_beta_schedule("linear"), float64; diffusers' "scaled_linear" is the same
         * formula computed in float32. */
        linspace(pow(0.00085, 0.5), pow(0.012, 0.5), n, betas);
        for (int i = 0; i < n; i++) betas[i] = betas[i] * betas[i];
        return 0;
    case SN_BETA_COSINE:
        for (int i = 0; i < n; i++) {
            double t1 = (double)i / n, t2 = (double)(i + 1) / n;
            double b = 1 - cos_alpha_bar(t2) / cos_alpha_bar(t1);
            betas[i] = b < 0.999 ? b : 0.999;
        }
        return 0;
    }
    return -1;
}

int sn_beta_kind_parse(const char *s, sn_beta_kind *out) {
    if (!s) return -1;
    if (!strcmp(s, "linear")) *out = SN_BETA_LINEAR;
    else if (!strcmp(s, "scaled_linear")) *out = SN_BETA_SCALED_LINEAR;
    else if (!strcmp(s, "cosine") || !strcmp(s, "squaredcos_cap_v2")) *out = SN_BETA_COSINE;
    else return -1;
    return 0;
}

/* --- respacing --------------------------------------------------------------------------- */

/* A whole decimal number as Python's int() reads it (surrounding blanks allowed). */
static int parse_count(const char *s, size_t len, long *out) {
    char buf[32];
    while (len && isspace((unsigned char)*s)) s++, len--;
    while (len && isspace((unsigned char)s[len - 1])) len--;
    if (!len || len >= sizeof buf) return -1;
    memcpy(buf, s, len);
    buf[len] = 0;
    char *end;
    errno = 0;
    long v = strtol(buf, &end, 10);
    if (errno || *end || end == buf) return -1;
    *out = v;
    return 0;
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

int sn_space_timesteps(int T, const char *spec, int *out, int cap, char *err, size_t errcap) {
    if (T <= 0) return sn_errf(err, errcap, "respacing: the process has %d steps", T);
    int *steps = NULL, n = 0;
    if (!spec || !*spec) {
        steps = malloc(sizeof(int) * T);
        if (!steps) return sn_errf(err, errcap, "respacing: out of memory");
        for (int i = 0; i < T; i++) steps[n++] = i;
    } else if (!strncmp(spec, "ddim", 4)) {
        long want;
        if (parse_count(spec + 4, strlen(spec + 4), &want))
            return sn_errf(err, errcap, "respacing '%s': expected ddimN with a whole number N", spec);
        for (int i = 1; i < T; i++) {
            if ((T + i - 1) / i == want) { /* len(range(0, T, i)) */
                steps = malloc(sizeof(int) * want);
                if (!steps) return sn_errf(err, errcap, "respacing: out of memory");
                for (int j = 0; j < T; j += i) steps[n++] = j;
                break;
            }
        }
        if (!steps)
            return sn_errf(err, errcap,
                        "respacing '%s': cannot create exactly %ld steps with an integer stride "
                        "over %d", spec, want, T);
    } else {
        /* comma-separated section counts */
        int nsec = 1;
        for (const char *p = spec; *p; p++) nsec += *p == ',';
        long *counts = malloc(sizeof(long) * nsec);
        if (!counts) return sn_errf(err, errcap, "respacing: out of memory");
        const char *p = spec;
        long total = 0;
        for (int i = 0; i < nsec; i++) {
            const char *q = strchr(p, ',');
            size_t len = q ? (size_t)(q - p) : strlen(p);
            if (parse_count(p, len, &counts[i]) || counts[i] < 0 || counts[i] > 1000000) {
                free(counts);
                return sn_errf(err, errcap,
                            "respacing '%s': expected a step count such as \"250\", "
                            "comma-separated counts, or \"ddimN\"", spec);
            }
            total += counts[i];
            p = q ? q + 1 : p + len;
        }
        steps = malloc(sizeof(int) * (total ? total : 1));
        if (!steps) {
            free(counts);
            return sn_errf(err, errcap, "respacing: out of memory");
        }
        int size_per = T / nsec, extra = T % nsec, start = 0;
        for (int i = 0; i < nsec; i++) {
            int size = size_per + (i < extra ? 1 : 0);
            if (size < counts[i]) {
                long want = counts[i];
                free(counts), free(steps);
                return sn_errf(err, errcap, "respacing '%s': cannot divide a section of %d steps "
                            "into %ld", spec, size, want);
            }
            double frac = counts[i] <= 1 ? 1.0 : (double)(size - 1) / (double)(counts[i] - 1);
            double cur = 0.0;
            for (long j = 0; j < counts[i]; j++) {
                steps[n++] = start + (int)rint(cur); /* Python round(): half to even */
                cur += frac;
            }
            start += size;
        }
        free(counts);
    }
    /* a set, iterated in index order */
    qsort(steps, n, sizeof(int), cmp_int);
    int m = 0;
    for (int i = 0; i < n; i++)
        if (!m || steps[i] != steps[m - 1]) steps[m++] = steps[i];
    for (int i = 0; i < m && i < cap; i++) out[i] = steps[i];
    free(steps);
    return m;
}

/* --- a respaced process ------------------------------------------------------------------ */

void sn_diffusion_free(sn_diffusion *d) {
    if (!d) return;
    free(d->timestep_map);
    free(d->betas);
    free(d->alphas_cumprod);
    free(d->alphas_cumprod_prev);
    memset(d, 0, sizeof *d);
}

int sn_diffusion_init(sn_diffusion *d, sn_beta_kind kind, int T, const char *spec, char *err,
                      size_t errcap) {
    memset(d, 0, sizeof *d);
    if (T <= 0) return sn_errf(err, errcap, "diffusion: %d training steps (expected > 0)", T);
    double *base = malloc(sizeof(double) * T);
    int *keep = malloc(sizeof(int) * T);
    if (!base || !keep) {
        free(base), free(keep);
        return sn_errf(err, errcap, "diffusion: out of memory");
    }
    if (sn_beta_schedule(kind, T, base)) {
        free(base), free(keep);
        return sn_errf(err, errcap, "diffusion: unknown beta schedule %d", (int)kind);
    }
    int n = sn_space_timesteps(T, spec, keep, T, err, errcap);
    if (n <= 0) {
        free(base), free(keep);
        return n == 0 ? sn_errf(err, errcap, "respacing '%s' keeps no steps", spec ? spec : "")
                      : -1;
    }
    d->n = n;
    d->num_timesteps = T;
    d->timestep_map = malloc(sizeof(int) * n);
    d->betas = malloc(sizeof(double) * n);
    d->alphas_cumprod = malloc(sizeof(double) * n);
    d->alphas_cumprod_prev = malloc(sizeof(double) * n);
    if (!d->timestep_map || !d->betas || !d->alphas_cumprod || !d->alphas_cumprod_prev) {
        free(base), free(keep);
        sn_diffusion_free(d);
        return sn_errf(err, errcap, "diffusion: out of memory");
    }
    /* SpacedDiffusion.__init__: walk the base process's abar, keep the chosen indices */
    double ac = 1.0, last = 1.0;
    int j = 0;
    for (int i = 0; i < T && j < n; i++) {
        ac = ac * (1.0 - base[i]);
        if (i == keep[j]) {
            d->betas[j] = 1 - ac / last;
            last = ac;
            d->timestep_map[j] = i;
            j++;
        }
    }
    /* GaussianDiffusion.__init__ on the new betas */
    double acc = 1.0;
    for (int k = 0; k < n; k++) {
        d->alphas_cumprod_prev[k] = acc;
        acc = k ? acc * (1.0 - d->betas[k]) : 1.0 - d->betas[k];
        d->alphas_cumprod[k] = acc;
    }
    free(base), free(keep);
    return 0;
}

static double posterior_variance(const sn_diffusion *d, int k) {
    return d->betas[k] * (1.0 - d->alphas_cumprod_prev[k]) / (1.0 - d->alphas_cumprod[k]);
}

sn_diffusion_coefs sn_diffusion_coefs_at(const sn_diffusion *d, int k) {
    sn_diffusion_coefs c;
    double ab = d->alphas_cumprod[k], abp = d->alphas_cumprod_prev[k], beta = d->betas[k];
    double alpha = 1.0 - beta;
    c.alpha_bar = ab;
    c.alpha_bar_prev = abp;
    c.beta = beta;
    c.sqrt_recip_alphas_cumprod = sqrt(1.0 / ab);
    c.sqrt_recipm1_alphas_cumprod = sqrt(1.0 / ab - 1);
    c.posterior_mean_coef1 = beta * sqrt(abp) / (1.0 - ab);
    c.posterior_mean_coef2 = (1.0 - abp) * sqrt(alpha) / (1.0 - ab);
    c.posterior_variance = posterior_variance(d, k);
    /* log(append(pv[1], pv[1:])); with one step the reference's table is empty and the value
     * is never used (no noise is added at k = 0) */
    c.posterior_log_variance_clipped =
        d->n > 1 ? log(posterior_variance(d, k == 0 ? 1 : k)) : log(c.posterior_variance);
    c.log_beta = log(beta);
    c.fixed_large_log = k == 0 && d->n > 1 ? log(posterior_variance(d, 1)) : log(beta);
    return c;
}

/* --- flow grids -------------------------------------------------------------------------- */

double sn_time_shift(double t, double s) { return s * t / (1 + (s - 1) * t); }

int sn_flow_grid(int n, double t_start, double t_end, double shift, double *out) {
    if (n < 1 || !out) return -1;
    linspace(t_start, t_end, n, out);
    if (shift > 0)
        for (int i = 0; i < n; i++) out[i] = sn_time_shift(out[i], shift);
    return 0;
}
