/* SentencePiece tokenizer (tok512.bin) against llama.cpp's tokenizer. The
 * expected ids were printed by llama.cpp b4748 `llama-tokenize --ids` for
 * stories260K.gguf, which contains the same vocabulary. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "common/data_dir.h"
#include "common/mapped_file.h"
#include "tokenizer/tokenizer.h"

typedef struct spm_case {
    const char *text;
    int n;
    int ids[20];
} spm_case;

static const spm_case cases[] = {
    {"Once upon a time", 5, {1, 403, 407, 261, 378}},
    {"Hello world!", 8, {1, 346, 306, 414, 263, 304, 341, 443}},
    {"  two  spaces", 12, {1, 410, 410, 259, 424, 414, 410, 262, 427, 412, 331, 419}},
    {"na\xc3\xafve caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac", 17,
     {1, 297, 412, 198, 178, 360, 280, 412, 431, 485, 410, 233, 154, 168, 233, 159, 175}},
    {"line1\nline2\n", 11, {1, 278, 271, 411, 475, 13, 421, 271, 411, 479, 13}},
    {"", 1, {1}},
};

/* FNV-1a over the 32-bit ids, as computed from llama-tokenize's output. */
static unsigned long long hash_ids(const int32_t *ids, int n) {
    unsigned long long h = 1469598103934665603ull;
    for (int i = 0; i < n; i++) h = (h ^ (uint32_t)ids[i]) * 1099511628211ull;
    return h;
}

static void check_file(const flx_tokenizer *tok, const char *relative, int expected_n,
                       unsigned long long expected_hash) {
    char path[1024];
    flx_error err;
    size_t len;
    char *text = flx_read_text_file(flx_data_path(path, sizeof path, relative), &len, &err);
    CHECK(text != NULL);
    if (!text) return;
    int32_t *ids;
    int n;
    CHECK_INT_EQ(flx_tokenizer_encode(tok, text, len, FLX_ENCODE_BOS, &ids, &n, &err), 0);
    CHECK_INT_EQ(n, expected_n);
    CHECK(hash_ids(ids, n) == expected_hash);
    free(ids);
    free(text);
}

int main(void) {
    char path[1024];
    flx_error err;
    flx_tokenizer *tok = NULL;
    int rc = flx_tokenizer_load(&tok, flx_data_path(path, sizeof path, "models/stories260K/tok512.bin"), &err);
    CHECK_INT_EQ(rc, 0);
    if (rc != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return flx_check_report("test_spm_tokenizer");
    }
    CHECK_INT_EQ(flx_tokenizer_vocab_size(tok), 512);
    CHECK_INT_EQ(flx_tokenizer_bos(tok), 1);
    CHECK_INT_EQ(flx_tokenizer_eos(tok), 2);

    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int32_t *ids;
        int n;
        CHECK_INT_EQ(flx_tokenizer_encode(tok, cases[c].text, strlen(cases[c].text), FLX_ENCODE_BOS,
                                          &ids, &n, &err), 0);
        CHECK_INT_EQ(n, cases[c].n);
        for (int i = 0; i < n && i < cases[c].n; i++) CHECK_INT_EQ(ids[i], cases[c].ids[i]);
        /* Decoding drops BOS and the leading space SentencePiece added. */
        char *back;
        CHECK_INT_EQ(flx_tokenizer_decode(tok, ids, n, &back, NULL, &err), 0);
        CHECK(strcmp(back, cases[c].text) == 0);
        free(back);
        free(ids);
    }

    /* Whole evaluation files, token for token (count and hash of the ids). */
    check_file(tok, "text/tinystories/tinystories_valid_first1000_clean.txt", 393018,
               0x3ad842fdb906f5d7ull);
    check_file(tok, "text/wikitext-2/wiki.test.raw", 809290, 0xc8ee8bcbe584e804ull);
    flx_tokenizer_free(tok);

    /* Malformed tokenizer files. */
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char bad[1024];
    snprintf(bad, sizeof bad, "%s/flexllm-bad-tok-%d.bin", dir, (int)getpid());
    struct {
        const char *bytes;
        size_t len;
        const char *message;
    } bad_files[] = {
        {"\x07\x00", 2, "not a recognized tokenizer file"},
        {"\x00\x00\x00\x00", 4, "not a recognized tokenizer file"},
        {"\x0a\x0b\x0a\x05<unk>", 9, "SentencePiece .model (protobuf) files are not supported"},
        {"\x07\x00\x00\x00\x00\x00\x80\xbf\x09\x00\x00\x00", 12, "length 9, outside"},
        {"\x07\x00\x00\x00\x00\x00\x80\xbf\x03\x00\x00\x00" "ab", 14, "run past the end"},
        {"\x07\x00\x00\x00\x00\x00\x80\xbf\x02\x00\x00\x00" "\xff\xfe", 14, "not valid UTF-8"},
        {"\x07\x00\x00\x00\x00\x00\x80", 7, "truncated at token 0"},
    };
    for (size_t i = 0; i < sizeof bad_files / sizeof bad_files[0]; i++) {
        FILE *f = fopen(bad, "wb");
        fwrite(bad_files[i].bytes, 1, bad_files[i].len, f);
        fclose(f);
        flx_tokenizer *t = NULL;
        CHECK_INT_EQ(flx_tokenizer_load(&t, bad, &err), -1);
        if (!strstr(err.msg, bad_files[i].message) || !strstr(err.msg, bad)) {
            fprintf(stderr, "case %zu: message '%s' lacks '%s' or the path\n", i, err.msg,
                    bad_files[i].message);
            flx_check_failures++;
        }
    }
    remove(bad);
    return flx_check_report("test_spm_tokenizer");
}
