/* Shared internals of the tokenizer folder. Not part of the public API. */
#ifndef FLEXLLM_TOKENIZER_INTERNAL_H
#define FLEXLLM_TOKENIZER_INTERNAL_H

#include "common/strmap.h"
#include "tokenizer/tokenizer.h"

typedef struct flx_bpe flx_bpe; /* byte-level BPE state, defined in bpe.c */

struct flx_tokenizer {
    flx_vocab_kind kind;
    int n_vocab;
    char **pieces;          /* [n_vocab] token bytes as they appear in text:
                               SPM U+2581 -> ' ', <0xXX> -> that byte;
                               BPE GPT-2 byte-to-unicode -> raw bytes */
    uint32_t *piece_lens;   /* [n_vocab] */
    float *scores;          /* [n_vocab] SPM merge scores (higher merges first) */
    int32_t *types;         /* [n_vocab] FLX_TOKEN_* */
    flx_strmap piece_ids;   /* piece bytes -> id, normal and user-defined tokens */
    flx_strmap special_ids; /* spelling of control tokens -> id */
    char **special_text;    /* [n_vocab] control-token spelling or NULL */
    int byte_ids[256];      /* SPM byte-fallback token of each byte, or -1 */
    int bos, eos, eot, unk; /* -1 when absent */
    int add_bos;
    int add_space_prefix;
    flx_bpe *bpe;           /* BPE only */
};

/* Growable id list used by the encoders. */
typedef struct flx_ids {
    int32_t *data;
    int n, cap;
} flx_ids;

int flx_ids_push(flx_ids *ids, int32_t id, flx_error *err);

/* Appends the tokens of text (no BOS, no special-token parsing). */
int flx_spm_encode(const flx_tokenizer *tok, const char *text, size_t len, flx_ids *out,
                   flx_error *err);
int flx_bpe_encode(const flx_tokenizer *tok, const char *text, size_t len, flx_ids *out,
                   flx_error *err);

/* Builds the merge table and pre-tokenizer of a BPE vocabulary; frees it. */
int flx_bpe_build(flx_tokenizer *tok, const flx_vocab *vocab, flx_error *err);
void flx_bpe_free(flx_bpe *bpe);

/* File loaders that produce a vocabulary description. */
int flx_vocab_load_llama2c(flx_vocab **out, const char *path, flx_error *err);
int flx_vocab_load_tiktoken(flx_vocab **out, const char *path, flx_error *err);
int flx_vocab_load_hf_json(flx_vocab **out, const char *path, flx_error *err);

#endif
