/* Hugging Face tokenizer.json: a small byte-level BPE file written by hand,
 * both merge spellings, special tokens, and malformed files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_internal.h"

/* Meta's Llama 3 split pattern as tokenizer.json stores it (JSON-escaped). */
#define LLAMA3_PRE_TOKENIZER                                                                      \
    "\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": ["                            \
    "{\"type\": \"Split\", \"pattern\": {\"Regex\": "                                             \
    "\"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}| "      \
    "?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"}, "      \
    "\"behavior\": \"Isolated\", \"invert\": false}, "                                            \
    "{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, "             \
    "\"use_regex\": false}]}"

#define ADDED_TOKENS                                                                              \
    "\"added_tokens\": ["                                                                         \
    "{\"id\": 8, \"content\": \"<|begin_of_text|>\", \"special\": true},"                         \
    "{\"id\": 9, \"content\": \"<|end_of_text|>\", \"special\": true},"                           \
    "{\"id\": 10, \"content\": \"<|eot_id|>\", \"special\": true}]"

/* Tokens in GPT-2 byte spelling: "Ġ" is a space, "Ċ" a newline. The last
 * merge uses the [left, right] form of newer files. */
#define MODEL                                                                                     \
    "\"model\": {\"type\": \"BPE\", \"ignore_merges\": true, \"vocab\": {"                        \
    "\"h\": 0, \"i\": 1, \"\xC4\xA0\": 2, \"hi\": 3, \"\xC4\xA0h\": 4, \"\xC4\xA0hi\": 5, "       \
    "\"!\": 6, \"\xC4\x8A\": 7}, "                                                                \
    "\"merges\": [\"h i\", \"\xC4\xA0 h\", [\"\xC4\xA0h\", \"i\"]]}"

static const char good_json[] = "{\"version\": \"1.0\", " ADDED_TOKENS ", " LLAMA3_PRE_TOKENIZER
                                ", " MODEL "}";

static const char *write_temp(const char *text) {
    static char path[256];
    const char *dir = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/flexllm-tokenizer-json-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) return NULL;
    size_t len = strlen(text);
    ssize_t written = write(fd, text, len);
    close(fd);
    return written == (ssize_t)len ? path : NULL;
}

static int ids_equal(const int32_t *ids, int n, const int32_t *expected, int n_expected) {
    return n == n_expected && memcmp(ids, expected, (size_t)n * sizeof *ids) == 0;
}

static void check_encode(const flx_tokenizer *tok, const char *text, int flags,
                         const int32_t *expected, int n_expected) {
    int32_t *ids = NULL;
    int n = 0;
    flx_error err = {{0}};
    CHECK_INT_EQ(flx_tokenizer_encode(tok, text, strlen(text), flags, &ids, &n, &err), 0);
    CHECK(ids_equal(ids, n, expected, n_expected));
    if (!ids_equal(ids, n, expected, n_expected)) {
        fprintf(stderr, "\"%s\" encoded as", text);
        for (int i = 0; i < n; i++) fprintf(stderr, " %d", ids[i]);
        fprintf(stderr, "\n");
    }
    free(ids);
}

static void test_good_file(void) {
    const char *path = write_temp(good_json);
    CHECK(path != NULL);
    if (!path) return;
    flx_vocab *v = NULL;
    flx_error err = {{0}};
    CHECK_INT_EQ(flx_vocab_load_hf_json(&v, path, &err), 0);
    if (!v) {
        fprintf(stderr, "%s\n", err.msg);
        flx_check_failures++;
        unlink(path);
        return;
    }
    CHECK_INT_EQ(v->kind, FLX_VOCAB_BPE);
    CHECK_INT_EQ(v->n_tokens, 11);
    CHECK(strcmp(v->tokens[4], "\xC4\xA0h") == 0);
    CHECK(strcmp(v->tokens[10], "<|eot_id|>") == 0);
    CHECK_INT_EQ(v->types[3], FLX_TOKEN_NORMAL);
    CHECK_INT_EQ(v->types[8], FLX_TOKEN_CONTROL);
    CHECK_INT_EQ(v->n_merges, 3);
    if (v->n_merges == 3) {
        CHECK(strcmp(v->merges[0], "h i") == 0);
        CHECK(strcmp(v->merges[1], "\xC4\xA0 h") == 0);
        CHECK(strcmp(v->merges[2], "\xC4\xA0h i") == 0);
    }
    CHECK_INT_EQ(v->bos_id, 8);
    CHECK_INT_EQ(v->eos_id, 9);
    CHECK_INT_EQ(v->eot_id, 10);
    CHECK(strcmp(v->pre, "llama-bpe") == 0);
    flx_vocab_free(v);

    flx_tokenizer *tok = NULL;
    CHECK_INT_EQ(flx_tokenizer_load(&tok, path, &err), 0);
    unlink(path);
    if (!tok) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    /* Pieces "hi", " hi", "!\n": the first two are whole tokens; "!\n" has
     * no merge and stays two byte tokens. */
    static const int32_t hi_hi[] = {3, 5, 6, 7};
    check_encode(tok, "hi hi!\n", 0, hi_hi, 4);
    /* " hih": "h i" (rank 0) beats the leftmost "Ġ h" (rank 1), which leaves
     * Ġ hi h with no listed pair. */
    static const int32_t space_hih[] = {2, 3, 0};
    check_encode(tok, " hih", 0, space_hih, 3);
    static const int32_t special[] = {8, 10, 3};
    check_encode(tok, "<|eot_id|>hi", FLX_ENCODE_SPECIAL | FLX_ENCODE_BOS, special, 3);

    /* The chat template needs <|start_header_id|>, which this vocabulary lacks. */
    int32_t *ids = NULL;
    int n = 0;
    CHECK_INT_EQ(flx_tokenizer_encode_chat(tok, NULL, "hi", &ids, &n, &err), -1);
    CHECK(strstr(err.msg, "<|start_header_id|>") != NULL);
    flx_tokenizer_free(tok);
}

static void expect_error(const char *json, const char *what) {
    const char *path = write_temp(json);
    CHECK(path != NULL);
    if (!path) return;
    flx_vocab *v = NULL;
    flx_error err = {{0}};
    CHECK_INT_EQ(flx_vocab_load_hf_json(&v, path, &err), -1);
    CHECK(v == NULL);
    CHECK(strstr(err.msg, path) != NULL);
    CHECK(strstr(err.msg, what) != NULL);
    if (!strstr(err.msg, what)) fprintf(stderr, "expected \"%s\" in: %s\n", what, err.msg);
    unlink(path);
}

static void test_malformed_files(void) {
    expect_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}", "invalid JSON");
    expect_error("{model: 1}", "invalid JSON");

    /* Missing or wrong top-level parts. */
    expect_error("{\"version\": \"1.0\"}", "missing \"model\"");
    expect_error("{" LLAMA3_PRE_TOKENIZER ", \"model\": {\"type\": \"BPE\", \"merges\": []}}",
                 "missing model.vocab");
    expect_error("{" LLAMA3_PRE_TOKENIZER ", \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}}",
                 "missing model.merges");
    expect_error("{" LLAMA3_PRE_TOKENIZER ", \"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}",
                 "only byte-level \"BPE\"");

    /* Merges that cannot be resolved. */
    expect_error("{" LLAMA3_PRE_TOKENIZER ", \"model\": {\"type\": \"BPE\", \"vocab\": "
                 "{\"a\": 0, \"b\": 1, \"ab\": 2}, \"merges\": [\"a c\"]}}",
                 "names token \"c\"");
    expect_error("{" LLAMA3_PRE_TOKENIZER ", \"model\": {\"type\": \"BPE\", \"vocab\": "
                 "{\"a\": 0, \"b\": 1, \"ab\": 2}, \"merges\": [\"ab\"]}}",
                 "not two tokens");
    expect_error("{" LLAMA3_PRE_TOKENIZER ", \"model\": {\"type\": \"BPE\", \"vocab\": "
                 "{\"a\": 0, \"b\": 1}, \"merges\": [[\"a\"]]}}",
                 "neither");

    /* Token ids. */
    expect_error("{" LLAMA3_PRE_TOKENIZER ", \"model\": {\"type\": \"BPE\", \"vocab\": "
                 "{\"a\": 0, \"b\": 2}, \"merges\": []}}",
                 "token id 1 is missing");
    expect_error("{" LLAMA3_PRE_TOKENIZER ", \"model\": {\"type\": \"BPE\", \"vocab\": "
                 "{\"a\": 0, \"b\": -1}, \"merges\": []}}",
                 "invalid id");
    expect_error("{" LLAMA3_PRE_TOKENIZER ", \"model\": {\"type\": \"BPE\", \"vocab\": "
                 "{\"a\": 0, \"b\": 0}, \"merges\": []}}",
                 "given to both");

    /* Pre-tokenizers other than Llama 3's. */
    expect_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}",
                 "no Split pattern");
    expect_error("{\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"\\\\s+\"}}, "
                 "\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}",
                 "is not Llama 3's");
}

int main(void) {
    test_good_file();
    test_malformed_files();
    return flx_check_report("test_hf_tokenizer_json");
}
