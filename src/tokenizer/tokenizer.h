/* Tokenizers: SentencePiece-style BPE with scores and byte fallback
 * (llama2.c tok512.bin, GGUF "llama" vocabularies) and byte-level BPE
 * (Llama 3: Meta's tiktoken rank file, GGUF "gpt2" vocabularies with merges,
 * Hugging Face tokenizer.json). */
#ifndef FLEXLLM_TOKENIZER_TOKENIZER_H
#define FLEXLLM_TOKENIZER_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "modelio/vocab.h"

typedef struct flx_tokenizer flx_tokenizer;

enum {
    FLX_ENCODE_BOS = 1,     /* prepend BOS */
    FLX_ENCODE_SPECIAL = 2, /* map special-token text such as <|eot_id|> to its id */
};

/* Reads a tokenizer file (the formats flx_tokenizer_load accepts) into a
 * vocabulary description, e.g. to embed it in a GGUF file. */
int flx_vocab_load(flx_vocab **out, const char *path, flx_error *err);

/* Builds a tokenizer from a vocabulary description. */
int flx_tokenizer_from_vocab(flx_tokenizer **out, const flx_vocab *vocab, flx_error *err);

/* Loads a tokenizer file, recognized by content: llama2.c tokenizer .bin,
 * tiktoken rank file (Meta's Llama 3 tokenizer.model), tokenizer.json, or a
 * GGUF file's embedded vocabulary. */
int flx_tokenizer_load(flx_tokenizer **out, const char *path, flx_error *err);
void flx_tokenizer_free(flx_tokenizer *tok);

/* Encodes UTF-8 text. *ids is malloc'd and owned by the caller. */
int flx_tokenizer_encode(const flx_tokenizer *tok, const char *text, size_t len, int flags,
                         int32_t **ids, int *n_ids, flx_error *err);

/* Returns the bytes that token id contributes to the decoded text when it
 * follows prev_id (-1 at the start), e.g. without the SentencePiece leading
 * space right after BOS. Control tokens decode to "". */
const char *flx_tokenizer_piece(const flx_tokenizer *tok, int prev_id, int id, size_t *len);

/* Decodes ids into a malloc'd NUL-terminated string. */
int flx_tokenizer_decode(const flx_tokenizer *tok, const int32_t *ids, int n_ids, char **text,
                         size_t *len, flx_error *err);

int flx_tokenizer_vocab_size(const flx_tokenizer *tok);
int flx_tokenizer_bos(const flx_tokenizer *tok);
int flx_tokenizer_eos(const flx_tokenizer *tok);
/* True for ids that end generation (EOS, and <|eot_id|> for Llama 3). */
int flx_tokenizer_is_stop(const flx_tokenizer *tok, int id);
flx_vocab_kind flx_tokenizer_kind(const flx_tokenizer *tok);

/* Encodes one user turn with the model family's chat template (Llama 3
 * header tokens, or Llama 2 [INST] for SentencePiece vocabularies), ending
 * where the assistant's reply starts. system may be NULL. */
int flx_tokenizer_encode_chat(const flx_tokenizer *tok, const char *system, const char *user,
                              int32_t **ids, int *n_ids, flx_error *err);

#endif
