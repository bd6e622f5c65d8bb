/* llama2.c tokenizer files (e.g. tok512.bin): int32 max_token_length, then
 * per token a float32 score, an int32 byte length and the bytes. The file
 * does not store the token count, so it is read to the end. Tokens are
 * converted to SentencePiece spelling so they match GGUF "llama" vocabularies. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mapped_file.h"
#include "tokenizer/tokenizer_internal.h"
#include "tokenizer/utf8.h"

#define LLAMA2C_MAX_TOKENS (1 << 20)

/* Returns the SentencePiece spelling of a llama2.c piece: spaces become
 * U+2581, and the exported "\n<s>\n" / "\n</s>\n" become "<s>" / "</s>". */
static char *to_spm_spelling(const uint8_t *bytes, size_t len) {
    if (len == 5 && memcmp(bytes, "\n<s>\n", 5) == 0) return strdup("<s>");
    if (len == 6 && memcmp(bytes, "\n</s>\n", 6) == 0) return strdup("</s>");
    size_t spaces = 0;
    for (size_t i = 0; i < len; i++) spaces += bytes[i] == ' ';
    char *out = malloc(len + 2 * spaces + 1);
    if (!out) return NULL;
    size_t j = 0;
    for (size_t i = 0; i < len; i++) {
        if (bytes[i] == ' ') {
            memcpy(out + j, "\xE2\x96\x81", 3);
            j += 3;
        } else {
            out[j++] = (char)bytes[i];
        }
    }
    out[j] = '\0';
    return out;
}

static int token_type_of(const char *s) {
    if (!strcmp(s, "<unk>")) return FLX_TOKEN_UNKNOWN;
    if (!strcmp(s, "<s>") || !strcmp(s, "</s>")) return FLX_TOKEN_CONTROL;
    if (strlen(s) == 6 && !strncmp(s, "<0x", 3) && s[5] == '>') return FLX_TOKEN_BYTE;
    return FLX_TOKEN_NORMAL;
}

int flx_vocab_load_llama2c(flx_vocab **out, const char *path, flx_error *err) {
    *out = NULL;
    flx_mapped_file f;
    if (flx_map_file(&f, path, err) != 0) return -1;
    flx_vocab *v = flx_calloc(1, sizeof *v, err);
    int cap = 0;
    if (!v) goto fail;
    if (f.size < 4) {
        flx_fail(err, "%s: file has %zu bytes, too short for a llama2.c tokenizer header", path, f.size);
        goto fail;
    }
    int32_t max_len;
    memcpy(&max_len, f.data, 4);
    if (max_len <= 0 || max_len > 4096) {
        flx_fail(err, "%s: not a llama2.c tokenizer: max_token_length %d is outside 1..4096", path,
                 max_len);
        goto fail;
    }
    v->kind = FLX_VOCAB_SPM;
    v->bos_id = v->eos_id = v->eot_id = -1;
    v->add_bos = 1;
    v->add_space_prefix = 1;
    size_t pos = 4;
    while (pos < f.size) {
        int idx = v->n_tokens;
        if (pos + 8 > f.size) {
            flx_fail(err, "%s: truncated at token %d: the score and length need bytes %zu..%zu, the file has %zu",
                     path, idx, pos, pos + 8, f.size);
            goto fail;
        }
        float score;
        int32_t len;
        memcpy(&score, f.data + pos, 4);
        memcpy(&len, f.data + pos + 4, 4);
        pos += 8;
        if (len <= 0 || len > max_len) {
            flx_fail(err, "%s: token %d has length %d, outside 1..max_token_length (%d)", path, idx,
                     len, max_len);
            goto fail;
        }
        if (pos + (size_t)len > f.size) {
            flx_fail(err, "%s: truncated at token %d: its %d bytes run past the end of the file", path,
                     idx, len);
            goto fail;
        }
        size_t bad;
        if (!flx_utf8_valid((const char *)f.data + pos, (size_t)len, &bad)) {
            flx_fail(err, "%s: token %d is not valid UTF-8 (byte %zu of the token)", path, idx, bad);
            goto fail;
        }
        if (idx >= LLAMA2C_MAX_TOKENS) {
            flx_fail(err, "%s: more than %d tokens; not a llama2.c tokenizer", path, LLAMA2C_MAX_TOKENS);
            goto fail;
        }
        if (idx == cap) {
            cap = cap ? cap * 2 : 1024;
            char **tokens = realloc(v->tokens, (size_t)cap * sizeof *tokens);
            if (tokens) v->tokens = tokens;
            float *scores = realloc(v->scores, (size_t)cap * sizeof *scores);
            if (scores) v->scores = scores;
            int32_t *types = realloc(v->types, (size_t)cap * sizeof *types);
            if (types) v->types = types;
            if (!tokens || !scores || !types) {
                flx_fail(err, "out of memory");
                goto fail;
            }
        }
        v->tokens[idx] = to_spm_spelling(f.data + pos, (size_t)len);
        if (!v->tokens[idx]) {
            flx_fail(err, "out of memory");
            goto fail;
        }
        v->n_tokens++;
        v->scores[idx] = score;
        v->types[idx] = token_type_of(v->tokens[idx]);
        if (!strcmp(v->tokens[idx], "<s>")) v->bos_id = idx;
        if (!strcmp(v->tokens[idx], "</s>")) v->eos_id = idx;
        pos += (size_t)len;
    }
    if (v->n_tokens == 0) {
        flx_fail(err, "%s: tokenizer has no tokens", path);
        goto fail;
    }
    flx_unmap_file(&f);
    *out = v;
    return 0;
fail:
    flx_unmap_file(&f);
    flx_vocab_free(v);
    return -1;
}
