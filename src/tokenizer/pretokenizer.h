/* The Llama 3 pre-tokenizer: splits text into the pieces that byte-level BPE
 * encodes one at a time, with the regular expression `pat_str` of Meta's
 * llama/tokenizer.py (meta-llama/llama3):
 *   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 *    ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 * Needs PCRE2; without it flx_pretokenizer_create fails. */
#ifndef FLEXLLM_TOKENIZER_PRETOKENIZER_H
#define FLEXLLM_TOKENIZER_PRETOKENIZER_H

#include <stddef.h>

#include "common/error.h"

/* The pattern above, as tokenizer.json's Split pre-tokenizer spells it. */
extern const char flx_llama3_pattern[];

typedef struct flx_pretokenizer flx_pretokenizer;

/* Receives one piece; returns 0, or -1 with err filled to stop the split. */
typedef int (*flx_pretoken_fn)(void *ctx, const char *piece, size_t len, flx_error *err);

/* Compiles the Llama 3 pattern (with JIT where PCRE2 supports it). */
int flx_pretokenizer_create(flx_pretokenizer **out, flx_error *err);
void flx_pretokenizer_free(flx_pretokenizer *pt);

/* Calls fn on each piece of text in order; the pieces cover every byte.
 * Bytes that are not valid UTF-8 match no part of the pattern, so each run
 * of them between matches becomes a piece of its own. Safe to call from
 * several threads on one pretokenizer. */
int flx_pretokenizer_split(const flx_pretokenizer *pt, const char *text, size_t len,
                           flx_pretoken_fn fn, void *ctx, flx_error *err);

#endif
