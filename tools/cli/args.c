#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/backend.h"
#include "../../core/cpu_tune.h"
#include "../../core/log.h"
#include "cli.h"

int sn_usage_error(const sn_command *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "sinter %s: ", cmd->name);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n(see 'sinter %s --help')\n", cmd->name);
    va_end(ap);
    return SN_EXIT_USAGE;
}

int sn_fail_exit(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("sinter: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return SN_EXIT_FAIL;
}

static void print_help(const sn_command *cmd, const sn_opt *opts, int nopts) {
    printf("usage: sinter %s %s\n\n%s\n", cmd->name, cmd->usage, cmd->summary);
    if (cmd->details) printf("\n%s\n", cmd->details);
    printf("\noptions:\n");
    for (int i = 0; i < nopts; i++) {
        char left[64];
        snprintf(left, sizeof left, "%s%s%s%s%s", opts[i].alias ? opts[i].alias : "",
                 opts[i].alias ? ", " : "", opts[i].name, opts[i].metavar ? " " : "",
                 opts[i].metavar ? opts[i].metavar : "");
        printf("  %-26s %s\n", left, opts[i].help);
    }
    printf("  %-26s %s\n", "-h, --help", "show this help");
}

static int parse_value(const sn_command *cmd, const sn_opt *o, const char *v) {
    char *end;
    errno = 0;
    switch (o->type) {
    case OPT_STR: *(const char **)o->dst = v; return -1;
    case OPT_INT: {
        long x = strtol(v, &end, 10);
        if (!*v || *end || errno || x < INT_MIN || x > INT_MAX)
            return sn_usage_error(cmd, "%s expects a whole number, got '%s'", o->name, v);
        *(int *)o->dst = (int)x;
        return -1;
    }
    case OPT_FLOAT: {
        double x = strtod(v, &end);
        if (!*v || *end || errno || !isfinite(x))
            return sn_usage_error(cmd, "%s expects a number, got '%s'", o->name, v);
        *(double *)o->dst = x;
        return -1;
    }
    default: return -1;
    }
}

int sn_parse(const sn_command *cmd, int argc, char **argv, const sn_opt *opts, int nopts,
             char **pos, int maxpos, int *npos) {
    *npos = 0;
    int only_pos = 0;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (!only_pos && !strcmp(a, "--")) {
            only_pos = 1;
            continue;
        }
        if (only_pos || a[0] != '-' || !a[1]) {
            if (*npos >= maxpos)
                return sn_usage_error(cmd, "unexpected argument '%s'", a);
            pos[(*npos)++] = a;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            print_help(cmd, opts, nopts);
            return SN_EXIT_OK;
        }
        /* --name=value or --name value */
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        const sn_opt *o = NULL;
        for (int k = 0; k < nopts && !o; k++)
            if ((strlen(opts[k].name) == len && !strncmp(opts[k].name, a, len)) ||
                (opts[k].alias && strlen(opts[k].alias) == len && !strncmp(opts[k].alias, a, len)))
                o = &opts[k];
        if (!o) return sn_usage_error(cmd, "unknown option '%.*s'", (int)len, a);
        if (o->type == OPT_FLAG) {
            if (eq) return sn_usage_error(cmd, "%s takes no value", o->name);
            *(int *)o->dst = 1;
            continue;
        }
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v) return sn_usage_error(cmd, "%s needs a value (%s)", o->name, o->metavar);
        int r = parse_value(cmd, o, v);
        if (r >= 0) return r;
    }
    return -1;
}

int sn_check_common(const sn_command *cmd, const sn_common_opts *c) {
    if (c->threads < 0) return sn_usage_error(cmd, "--threads must be positive");
    if (c->device && strcmp(c->device, "cuda") && strcmp(c->device, "cpu"))
        return sn_usage_error(cmd, "--device must be cpu or cuda, got '%s'", c->device);
    if (c->dtype && strcmp(c->dtype, "bf16") && strcmp(c->dtype, "fp16") && strcmp(c->dtype, "fp32"))
        return sn_usage_error(cmd, "--dtype must be bf16, fp16 or fp32, got '%s'", c->dtype);
    return -1;
}

double sn_cli_started;
char **sn_cli_argv;

/* --device, else $SINTER_DEVICE, else cuda when a GPU is usable. */
static const char *pick_device(const sn_common_opts *c) {
    if (c->device) return c->device;
    const char *env = getenv("SINTER_DEVICE");
    if (env && *env) return env;
    return sn_cuda_device_count() > 0 ? "cuda" : "cpu";
}

int sn_cli_context(const sn_command *cmd, const sn_common_opts *c, sn_ctx **out) {
    *out = NULL;
    sn_set_quiet(c->quiet);
    int r = sn_check_common(cmd, c);
    if (r >= 0) return r;
    const char *device = pick_device(c);
    if (strcmp(device, "cuda") && strcmp(device, "cpu"))
        return sn_usage_error(cmd, "SINTER_DEVICE must be cpu or cuda, got '%s'", device);
    sn_ctx_opts o = {.device = strcmp(device, "cuda") ? SN_CPU : SN_CUDA, .threads = c->threads};
    /* OpenBLAS's and OpenMP's settings pay only on the CPU; on a GPU the re-exec would only
     * start the process twice (cuBLASLt's initializers alone take ~70 ms) */
    if (o.device == SN_CPU && sn_cli_argv) sn_cpu_tune(sn_cli_argv);
    const char *cuda_dtype = c->cuda_dtype ? c->cuda_dtype : "bf16";
    const char *dtype = c->dtype ? c->dtype : o.device == SN_CUDA ? cuda_dtype : "fp32";
    o.dtype = !strcmp(dtype, "bf16") ? SN_BF16 : !strcmp(dtype, "fp16") ? SN_F16 : SN_F32;
    if (o.dtype != SN_F32 && o.device != SN_CUDA)
        return sn_usage_error(cmd, "--dtype %s needs --device cuda (the CPU computes in fp32)",
                              dtype);
    char err[512];
    *out = sn_ctx_new(&o, err, sizeof err);
    return *out ? -1 : sn_fail_exit("%s", err);
}
