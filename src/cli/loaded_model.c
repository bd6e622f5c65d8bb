#include "cli/loaded_model.h"

#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

int flx_load_model_and_tokenizer(const char *cmd, const char *model_path, const char *tokenizer_path,
                                 int need_tokenizer, flx_loaded_model *out) {
    flx_error err;
    memset(out, 0, sizeof *out);
    if (flx_model_load(&out->model, model_path, &err) != 0) {
        fprintf(stderr, "flexllm %s: %s\n", cmd, err.msg);
        return FLX_EXIT_BAD_INPUT;
    }
    if (!need_tokenizer) return FLX_EXIT_OK;
    int rc;
    if (tokenizer_path) {
        rc = flx_tokenizer_load(&out->tokenizer, tokenizer_path, &err);
    } else if (out->model.vocab) {
        rc = flx_tokenizer_from_vocab(&out->tokenizer, out->model.vocab, &err);
        if (rc != 0) flx_error_prefix(&err, model_path);
    } else {
        fprintf(stderr,
                "flexllm %s: %s has no vocabulary (a %s checkpoint); pass --tokenizer PATH with "
                "the tokenizer of this model (for a llama2.c model, its tokenizer .bin)\n",
                cmd, model_path, out->model.format);
        flx_loaded_model_free(out);
        return FLX_EXIT_BAD_INPUT;
    }
    if (rc != 0) {
        fprintf(stderr, "flexllm %s: %s\n", cmd, err.msg);
        flx_loaded_model_free(out);
        return FLX_EXIT_BAD_INPUT;
    }
    int n_vocab = flx_tokenizer_vocab_size(out->tokenizer);
    if (n_vocab > out->model.config.vocab_size) {
        fprintf(stderr,
                "flexllm %s: the tokenizer has %d tokens but the model's vocabulary has %d; pass "
                "the tokenizer that belongs to %s\n",
                cmd, n_vocab, out->model.config.vocab_size, model_path);
        flx_loaded_model_free(out);
        return FLX_EXIT_BAD_INPUT;
    }
    return FLX_EXIT_OK;
}

void flx_loaded_model_free(flx_loaded_model *m) {
    flx_tokenizer_free(m->tokenizer);
    flx_model_free(&m->model);
    memset(m, 0, sizeof *m);
}
