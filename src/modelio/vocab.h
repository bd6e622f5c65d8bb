/* A vocabulary as stored in a model or tokenizer file, before the tokenizer
 * builds its lookup tables. Loaders fill it; tokenizer/ consumes it. */
#ifndef FLEXLLM_MODELIO_VOCAB_H
#define FLEXLLM_MODELIO_VOCAB_H

#include <stdint.h>

#include "common/error.h"

typedef enum flx_vocab_kind {
    FLX_VOCAB_SPM = 1,  /* SentencePiece BPE with scores and byte fallback */
    FLX_VOCAB_BPE = 2,  /* byte-level BPE (GPT-2 / Llama 3) with merges */
} flx_vocab_kind;

/* Token types, numbered as GGUF's tokenizer.ggml.token_type. */
enum {
    FLX_TOKEN_NORMAL = 1,
    FLX_TOKEN_UNKNOWN = 2,
    FLX_TOKEN_CONTROL = 3,
    FLX_TOKEN_USER_DEFINED = 4,
    FLX_TOKEN_UNUSED = 5,
    FLX_TOKEN_BYTE = 6,
};

typedef struct flx_vocab flx_vocab;

struct flx_vocab {
    flx_vocab_kind kind;
    int n_tokens;
    char **tokens;       /* [n_tokens] NUL-terminated, in the file's own spelling
                            (SPM: U+2581 for space; BPE: GPT-2 byte-to-unicode) */
    float *scores;       /* [n_tokens] SPM merge scores, or NULL */
    int32_t *types;      /* [n_tokens] FLX_TOKEN_*, or NULL (all normal) */
    int n_merges;
    char **merges;       /* [n_merges] "left right" in token spelling, BPE only */
    char pre[32];        /* pre-tokenizer name, e.g. "llama-bpe" ("" if unknown) */
    int bos_id, eos_id;  /* -1 when absent */
    int eot_id;          /* <|eot_id|> for Llama 3, else -1 */
    int add_bos;         /* 1: prepend BOS when encoding a prompt */
    int add_space_prefix;/* SPM: prepend a space before the first word */
};

void flx_vocab_free(flx_vocab *vocab);

/* Reads the tokenizer.ggml.* keys of a GGUF file into a vocabulary. */
int flx_vocab_load_gguf(flx_vocab **out, const char *path, flx_error *err);

#endif
