/* Fuzzes the byte-level BPE tokenizer: the tiktoken rank-file and
 * tokenizer.json loaders (the first input byte picks one, the rest is the
 * file), and encoding arbitrary bytes with a small built-in vocabulary.
 * Encoding without special-token parsing must decode back to the input,
 * valid UTF-8 or not, because every byte has a token. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "tokenizer/gpt2_bytes.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_internal.h"

static flx_tokenizer *small_tokenizer;

/* 256 byte tokens in GPT-2 spelling ("Ġ" is a space), a few merged tokens
 * and the Llama 3 control tokens the chat template needs. */
static flx_tokenizer *build_small_tokenizer(void) {
    static const char *const merged[] = {"\xC4\xA0t", "he", "\xC4\xA0the", "in", "er",
                                         "\xC4\xA0\xC4\xA0", "\xC4\xA0\xC4\xA0\xC4\xA0\xC4\xA0"};
    static const char *const merges[] = {"\xC4\xA0 t", "h e", "\xC4\xA0t he", "i n", "e r",
                                         "\xC4\xA0 \xC4\xA0", "\xC4\xA0\xC4\xA0 \xC4\xA0\xC4\xA0"};
    static const char *const control[] = {"<|begin_of_text|>", "<|end_of_text|>",
                                          "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"};
    int n_merged = (int)(sizeof merged / sizeof *merged), n_control = 5;

    flx_vocab *v = calloc(1, sizeof *v);
    if (!v) abort();
    v->kind = FLX_VOCAB_BPE;
    v->n_tokens = 256 + n_merged + n_control;
    v->tokens = calloc((size_t)v->n_tokens, sizeof *v->tokens);
    v->types = calloc((size_t)v->n_tokens, sizeof *v->types);
    v->merges = calloc((size_t)n_merged, sizeof *v->merges);
    if (!v->tokens || !v->types || !v->merges) abort();
    for (int b = 0; b < 256; b++) {
        uint8_t byte = (uint8_t)b;
        v->tokens[b] = malloc(3);
        if (!v->tokens[b]) abort();
        flx_gpt2_spell(&byte, 1, v->tokens[b]);
        v->types[b] = FLX_TOKEN_NORMAL;
    }
    for (int i = 0; i < n_merged; i++) {
        v->tokens[256 + i] = strdup(merged[i]);
        v->types[256 + i] = FLX_TOKEN_NORMAL;
        v->merges[i] = strdup(merges[i]);
    }
    v->n_merges = n_merged;
    for (int i = 0; i < n_control; i++) {
        v->tokens[256 + n_merged + i] = strdup(control[i]);
        v->types[256 + n_merged + i] = FLX_TOKEN_CONTROL;
    }
    strcpy(v->pre, "llama-bpe");
    v->bos_id = 256 + n_merged;
    v->eos_id = v->bos_id + 1;
    v->eot_id = v->bos_id + 4;
    v->add_bos = 1;

    flx_tokenizer *tok = NULL;
    flx_error err;
    if (flx_tokenizer_from_vocab(&tok, v, &err) != 0) abort();
    flx_vocab_free(v);
    return tok;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    small_tokenizer = build_small_tokenizer();
    return 0;
}

static void encode_and_check(const flx_tokenizer *tok, const uint8_t *data, size_t size, int flags) {
    int32_t *ids = NULL;
    int n = 0;
    flx_error err;
    if (flx_tokenizer_encode(tok, (const char *)data, size, flags, &ids, &n, &err) != 0) return;
    char *text = NULL;
    size_t len = 0;
    if (flx_tokenizer_decode(tok, ids, n, &text, &len, &err) != 0) abort();
    if (!(flags & FLX_ENCODE_SPECIAL) && (len != size || memcmp(text, data, size) != 0)) abort();
    free(text);
    free(ids);
}

/* Builds a tokenizer from a fuzzed vocabulary and encodes a short text. */
static void use_vocab(flx_vocab *v) {
    flx_tokenizer *tok = NULL;
    flx_error err;
    if (flx_tokenizer_from_vocab(&tok, v, &err) == 0) {
        static const char text[] = "Hello, world! 123 <|eot_id|>";
        encode_and_check(tok, (const uint8_t *)text, sizeof text - 1, FLX_ENCODE_SPECIAL);
        flx_tokenizer_free(tok);
    }
    flx_vocab_free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    int mode = data[0] % 4;
    data++;
    size--;
    flx_vocab *v = NULL;
    flx_error err;
    if (mode == 0) {
        if (flx_vocab_load_tiktoken(&v, fuzz_write_temp(data, size, ".model"), &err) == 0) use_vocab(v);
    } else if (mode == 1) {
        if (flx_vocab_load_hf_json(&v, fuzz_write_temp(data, size, ".json"), &err) == 0) use_vocab(v);
    } else if (mode == 2) {
        encode_and_check(small_tokenizer, data, size, 0);
        encode_and_check(small_tokenizer, data, size, FLX_ENCODE_SPECIAL | FLX_ENCODE_BOS);
    } else {
        char *user = malloc(size + 1);
        if (!user) abort();
        memcpy(user, data, size);
        user[size] = '\0';
        int32_t *ids = NULL;
        int n = 0;
        if (flx_tokenizer_encode_chat(small_tokenizer, size > 8 ? user + size / 2 : NULL, user, &ids,
                                      &n, &err) == 0)
            free(ids);
        free(user);
    }
    return 0;
}
