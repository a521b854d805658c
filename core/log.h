/* Messages and progress on stderr. Progress bars draw only when stderr is a terminal and
 * the program is not quiet. */
#ifndef SN_LOG_H
#define SN_LOG_H

#include <stddef.h>
#include <stdint.h>

void sn_set_quiet(int quiet);
int sn_quiet(void);
void sn_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void sn_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Formats a message into err (cap bytes; nothing when err is NULL or cap 0) and returns -1, so
 * a failing function can `return sn_errf(err, cap, "...", ...)`. */
int sn_errf(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

typedef struct {
    const char *label;
    int64_t total;
    int64_t done;
    double t_start, t_last_draw;
    int active;
} sn_progress;

void sn_progress_begin(sn_progress *p, const char *label, int64_t total);
/* Marks `done` items finished; redraws at most ~10 times a second. */
void sn_progress_update(sn_progress *p, int64_t done);
void sn_progress_end(sn_progress *p);
/* Formats the bar line (for tests): "label  3/10 [=====     ] 2.50 it/s, 0:03 left". */
void sn_progress_format(const sn_progress *p, double now, char *buf, int cap);
double sn_now(void); /* monotonic seconds */

#endif
