/* The sinter command line: subcommands, a small option parser shared by all of them, and the
 * exit-status convention (0 success, 1 runtime failure, 2 usage error). */
#ifndef SN_CLI_H
#define SN_CLI_H

#include "../../core/context.h"

enum { SN_EXIT_OK = 0, SN_EXIT_FAIL = 1, SN_EXIT_USAGE = 2 };

typedef enum { OPT_FLAG, OPT_STR, OPT_INT, OPT_FLOAT } sn_opt_type;

typedef struct {
    const char *name;    /* "--steps" */
    const char *alias;   /* "-o", or NULL */
    sn_opt_type type;
    void *dst;           /* int* for FLAG/INT, const char** for STR, double* for FLOAT */
    const char *metavar; /* "N", "FILE", ... (NULL for flags) */
    const char *help;
} sn_opt;

typedef struct {
    const char *name;     /* "recon" */
    const char *usage;    /* "[options] IMAGE -o OUT.png" */
    const char *summary;  /* one line for `sinter --help` */
    const char *details;  /* extra paragraph for `sinter CMD --help`, or NULL */
    int (*run)(int argc, char **argv);
} sn_command;

/* Options every command that computes takes. */
typedef struct {
    int threads;
    int quiet;
    const char *device; /* "cpu" or "cuda"; NULL: $SINTER_DEVICE, else cuda when a GPU is usable */
    const char *dtype;  /* "bf16", "fp16" or "fp32"; NULL: cuda_dtype on cuda, fp32 on cpu */
    const char *cuda_dtype; /* set by a command before sn_cli_context; NULL: "bf16" */
} sn_common_opts;

#define SN_COMMON_OPTS(c)                                                                 \
    {"--threads", NULL, OPT_INT, &(c).threads, "N", "CPU threads (default: all cores)"},   \
    {"--device", NULL, OPT_STR, &(c).device, "cpu|cuda",                                   \
     "where to compute (default: cuda when a GPU is usable, else cpu; or $SINTER_DEVICE)"}, \
    {"--dtype", NULL, OPT_STR, &(c).dtype, "bf16|fp16|fp32",                               \
     "compute dtype (default on cuda: bf16, fp32 for the evaluation commands; cpu: fp32)"}, \
    {"--quiet", "-q", OPT_FLAG, &(c).quiet, NULL, "no progress or information on stderr"}

/* Parses argv[1..] (argv[0] is the command name). Positional arguments are collected in
 * pos[0..*npos). Returns -1 to continue, or an exit status: 0 after printing --help, 2 after
 * printing a usage error. */
int sn_parse(const sn_command *cmd, int argc, char **argv, const sn_opt *opts, int nopts,
             char **pos, int maxpos, int *npos);
/* Prints "sinter CMD: message" to stderr and returns SN_EXIT_USAGE. */
int sn_usage_error(const sn_command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prints "sinter: message" to stderr and returns SN_EXIT_FAIL. */
int sn_fail_exit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Checks the common options' values; returns -1 when fine, else the usage exit status. */
int sn_check_common(const sn_command *cmd, const sn_common_opts *c);
/* Makes a context for the common options into *out. Returns -1 on success, or the exit
 * status after printing why (2 for a bad option value, 1 when the context cannot be made). */
int sn_cli_context(const sn_command *cmd, const sn_common_opts *c, sn_ctx **out);
/* sn_now() when main() was entered: what stage timings count from. */
extern double sn_cli_started;
/* main()'s argv, for sn_cli_context's re-exec of a CPU run with OpenBLAS's and OpenMP's
 * settings (core/cpu_tune.h); NULL: no re-exec. */
extern char **sn_cli_argv;

extern const sn_command sn_cmd_info;
extern const sn_command sn_cmd_recon;
extern const sn_command sn_cmd_encode;
extern const sn_command sn_cmd_decode;
extern const sn_command sn_cmd_fid_stats;
extern const sn_command sn_cmd_fid;
extern const sn_command sn_cmd_rfid;
extern const sn_command sn_cmd_tokenize;
extern const sn_command sn_cmd_encode_text;
extern const sn_command sn_cmd_generate;
extern const sn_command sn_cmd_t2i;

#endif
