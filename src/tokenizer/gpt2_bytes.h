/* GPT-2's byte-to-unicode table: byte-level BPE vocabularies (GPT-2,
 * Llama 3 GGUF and tokenizer.json files) spell every token byte as one
 * printable code point. Bytes 0x21-0x7E, 0xA1-0xAC and 0xAE-0xFF are their
 * own code points. The other 68 bytes map in increasing order to
 * U+0100..U+0143, so a space is "Ġ" (U+0120) and a newline "Ċ" (U+010A). */
#ifndef FLEXLLM_TOKENIZER_GPT2_BYTES_H
#define FLEXLLM_TOKENIZER_GPT2_BYTES_H

#include <stddef.h>
#include <stdint.h>

/* Returns the code point that spells byte b. */
uint32_t flx_gpt2_byte_to_codepoint(uint8_t b);

/* Returns the byte that code point cp spells, or -1 when cp is not in the
 * table. */
int flx_gpt2_codepoint_to_byte(uint32_t cp);

/* Writes the GPT-2 spelling of n raw bytes to out, which must have room for
 * 2 * n + 1 bytes, NUL-terminates it and returns its length. */
size_t flx_gpt2_spell(const uint8_t *bytes, size_t n, char *out);

/* Decodes a GPT-2 spelling of len bytes into raw bytes. out needs room for
 * len bytes (a spelling is never shorter than its bytes). Returns the number
 * of bytes written, or -1 when the spelling is not valid UTF-8 or contains a
 * code point outside the table. */
long flx_gpt2_unspell(const char *spelling, size_t len, uint8_t *out);

#endif
