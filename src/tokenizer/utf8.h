/* UTF-8 helpers shared by the tokenizers. */
#ifndef FLEXLLM_TOKENIZER_UTF8_H
#define FLEXLLM_TOKENIZER_UTF8_H

#include <stddef.h>

/* Returns the length of the UTF-8 sequence starting at s (at most len bytes
 * available), or 0 if it is not a valid, shortest-form sequence. */
size_t flx_utf8_seq_len(const unsigned char *s, size_t len);

/* Returns 1 when s[0..len) is valid UTF-8, else 0 and the offset of the first
 * invalid byte in *bad_offset. */
int flx_utf8_valid(const char *s, size_t len, size_t *bad_offset);

#endif
