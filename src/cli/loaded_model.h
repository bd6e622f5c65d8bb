/* A model and its tokenizer as the subcommands load them. */
#ifndef FLEXLLM_CLI_LOADED_MODEL_H
#define FLEXLLM_CLI_LOADED_MODEL_H

#include "modelio/model.h"
#include "tokenizer/tokenizer.h"

typedef struct flx_loaded_model {
    flx_model model;
    flx_tokenizer *tokenizer; /* NULL when not requested */
} flx_loaded_model;

/* Loads model_path and, when need_tokenizer is set, the tokenizer from
 * tokenizer_path or else the vocabulary stored in the model. Prints the
 * error as "flexllm CMD: ..." and returns an exit status (0 on success). */
int flx_load_model_and_tokenizer(const char *cmd, const char *model_path, const char *tokenizer_path,
                                 int need_tokenizer, flx_loaded_model *out);
void flx_loaded_model_free(flx_loaded_model *m);

#endif
