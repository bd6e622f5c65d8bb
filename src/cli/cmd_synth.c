/* Placeholder: synth is being written. */
#include <stdio.h>

#include "cli/cli.h"

int flx_cmd_synth(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "flexllm synth: not implemented yet\n");
    return FLX_EXIT_FAILURE;
}
