/* flexllm: one binary, one subcommand per job. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "common/omp_policy.h"

typedef struct flx_command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} flx_command;

static const flx_command commands[] = {
    {"generate", flx_cmd_generate, "generate text from a prompt or a chat message"},
    {"ppl", flx_cmd_ppl, "measure perplexity on a text file"},
    {"inspect", flx_cmd_inspect, "print a model's description and tensor table"},
    {"tokenize", flx_cmd_tokenize, "turn text into token ids, or ids into text"},
    {"quantize", flx_cmd_quantize, "quantize a model into the artifact the accelerator engines run"},
    {"learn-rotations", flx_cmd_learn_rotations, "search R1 and R2 rotations for a learned-rotation recipe"},
    {"estimate", flx_cmd_estimate, "model latency, throughput, energy and resources on a device"},
    {"dse", flx_cmd_dse, "search accelerator configurations for a device and workload"},
    {"synth", flx_cmd_synth, "write a GGUF with a real model shape and pseudo-random weights"},
};

static void print_usage(FILE *out) {
    fprintf(out, "usage: flexllm COMMAND [OPTIONS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-16s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nRun 'flexllm COMMAND --help' for the options of one command, 'flexllm --version'\n"
                 "for the version.\n");
}

int main(int argc, char **argv) {
    flx_prefer_passive_omp_wait(argv);
    if (argc < 2) {
        print_usage(stderr);
        return FLX_EXIT_BAD_INPUT;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        print_usage(stdout);
        return FLX_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("flexllm %s\n", FLEXLLM_VERSION);
        return FLX_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "flexllm: unknown command '%s'\n\n", argv[1]);
    print_usage(stderr);
    return FLX_EXIT_BAD_INPUT;
}
