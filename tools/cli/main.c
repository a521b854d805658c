/* sinter: latent-diffusion image and video generation. This file only dispatches to the
 * subcommands (tools/cli/cmd_*.c). */
#include <stdio.h>
#include <string.h>

#include "../../core/backend.h"
#include "../../core/log.h"
#include "cli.h"

static const sn_command *const commands[] = {
    &sn_cmd_info,
    &sn_cmd_recon,
    &sn_cmd_encode,
    &sn_cmd_decode,
    &sn_cmd_fid_stats,
    &sn_cmd_fid,
    &sn_cmd_rfid,
    &sn_cmd_tokenize,
    &sn_cmd_encode_text,
    &sn_cmd_generate,
    &sn_cmd_t2i,
};
enum { N_COMMANDS = sizeof commands / sizeof commands[0] };

static void print_usage(FILE *f) {
    fprintf(f,
            "usage: sinter <command> [options]\n\n"
            "sinter turns noise into pictures: latent-diffusion models in C.\n\n"
            "commands:\n");
    for (int i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
    fprintf(f,
            "\n'sinter <command> --help' describes a command's options.\n"
            "'sinter --version' prints the version and the compute backends.\n");
}

static void print_version(void) {
    char gpu[256];
    sn_cuda_describe(gpu, sizeof gpu);
    printf("sinter %s\n", SINTER_VERSION);
    printf("backends: cpu (OpenBLAS, OpenMP)%s\n",
#ifdef SN_HAVE_CUDA
           ", cuda"
#else
           ""
#endif
    );
    printf("gpu: %s\n", gpu);
}

int main(int argc, char **argv) {
    sn_cli_started = sn_now();
    sn_cli_argv = argv; /* sn_cli_context re-executes a CPU run with tuned settings */
    if (argc < 2) {
        print_usage(stderr);
        return SN_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "-h") || !strcmp(name, "--help") || !strcmp(name, "help")) {
        print_usage(stdout);
        return SN_EXIT_OK;
    }
    if (!strcmp(name, "--version") || !strcmp(name, "version")) {
        print_version();
        return SN_EXIT_OK;
    }
    for (int i = 0; i < N_COMMANDS; i++)
        if (!strcmp(name, commands[i]->name)) return commands[i]->run(argc - 1, argv + 1);
    fprintf(stderr, "sinter: unknown command '%s'\n\n", name);
    print_usage(stderr);
    return SN_EXIT_USAGE;
}
