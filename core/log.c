#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int quiet_;

void sn_set_quiet(int q) { quiet_ = q; }
int sn_quiet(void) { return quiet_; }

double sn_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void sn_info(const char *fmt, ...) {
    if (quiet_) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void sn_warn(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("sinter: warning: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void sn_progress_begin(sn_progress *p, const char *label, int64_t total) {
    memset(p, 0, sizeof *p);
    p->label = label;
    p->total = total;
    p->t_start = sn_now();
    p->active = !quiet_ && isatty(STDERR_FILENO);
}

static void fmt_time(double s, char *buf, int cap) {
    long t = s < 0 ? 0 : (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, cap, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, cap, "%ld:%02ld", t / 60, t % 60);
}

void sn_progress_format(const sn_progress *p, double now, char *buf, int cap) {
    enum { WIDTH = 24 };
    char bar[WIDTH + 1];
    int64_t total = p->total > 0 ? p->total : 1;
    int fill = (int)(WIDTH * (p->done > total ? total : p->done) / total);
    for (int i = 0; i < WIDTH; i++) bar[i] = i < fill ? '=' : ' ';
    bar[WIDTH] = 0;
    double el = now - p->t_start;
    double rate = el > 0 ? p->done / el : 0;
    char left[32] = "?";
    if (rate > 0) fmt_time((p->total - p->done) / rate, left, sizeof left);
    if (rate >= 1 || rate == 0)
        snprintf(buf, cap, "%s %lld/%lld [%s] %.2f it/s, %s left", p->label ? p->label : "",
                 (long long)p->done, (long long)p->total, bar, rate, left);
    else
        snprintf(buf, cap, "%s %lld/%lld [%s] %.2f s/it, %s left", p->label ? p->label : "",
                 (long long)p->done, (long long)p->total, bar, 1 / rate, left);
}

void sn_progress_update(sn_progress *p, int64_t done) {
    p->done = done;
    if (!p->active) return;
    double now = sn_now();
    if (done < p->total && now - p->t_last_draw < 0.1) return;
    p->t_last_draw = now;
    char line[256];
    sn_progress_format(p, now, line, sizeof line);
    fprintf(stderr, "\r%s\033[K", line);
    fflush(stderr);
}

void sn_progress_end(sn_progress *p) {
    if (!p->active) return;
    char line[256], el[32];
    p->done = p->total;
    sn_progress_format(p, sn_now(), line, sizeof line);
    fmt_time(sn_now() - p->t_start, el, sizeof el);
    /* the final line keeps the total time instead of "left" */
    char *cut = strrchr(line, ',');
    if (cut) *cut = 0;
    fprintf(stderr, "\r%s, %s total\033[K\n", line, el);
    p->active = 0;
}

int sn_errf(char *err, size_t cap, const char *fmt, ...) {
    if (err && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return -1;
}
