/* flexllm inspect: load a model and print its shape and tensor table. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "modelio/model.h"

static const char *usage =
    "usage: flexllm inspect PATH\n"
    "\n"
    "Loads a model (llama2.c .bin, GGUF, .safetensors, model.safetensors.index.json\n"
    "or a Hugging Face model folder), checks every tensor's shape against the\n"
    "config, and prints the config and the tensor table (shapes outermost first,\n"
    "offsets in bytes from the start of the file). Exits with status 2 when the\n"
    "file is invalid.\n";

int flx_cmd_inspect(int argc, char **argv) {
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return FLX_EXIT_OK;
        }
        if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "flexllm inspect: unknown option '%s' (see flexllm inspect --help)\n", argv[i]);
            return FLX_EXIT_BAD_INPUT;
        }
        if (path) {
            fprintf(stderr, "flexllm inspect: expected one model path, got '%s' and '%s'\n", path, argv[i]);
            return FLX_EXIT_BAD_INPUT;
        }
        path = argv[i];
    }
    if (!path) {
        fputs(usage, stderr);
        return FLX_EXIT_BAD_INPUT;
    }
    flx_model model;
    flx_error err;
    if (flx_model_load(&model, path, &err) != 0) {
        fprintf(stderr, "flexllm inspect: %s\n", err.msg);
        return FLX_EXIT_BAD_INPUT;
    }
    flx_model_print(&model);
    flx_model_free(&model);
    return FLX_EXIT_OK;
}
