/* Llama 3 byte-level BPE: Meta's tiktoken rank file against the reference
 * token ids, the same vocabulary rebuilt from its merge list (as a GGUF
 * file stores it), a rank-based reference encoder, decode/encode round
 * trips, special tokens, the chat templates (Llama 3, and Llama 2 for
 * SentencePiece vocabularies), and rejection of malformed rank files. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "common/data_dir.h"
#include "common/mapped_file.h"
#include "common/strmap.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_internal.h"

#define LLAMA3_N_RANKED 128000
#define MAX_CASES 256
#define MAX_CASE_IDS 256

typedef struct test_case {
    char text[512];
    size_t len;
    int32_t ids[MAX_CASE_IDS];
    int n_ids;
    int line;
} test_case;

static void put_utf8(uint32_t cp, char *out, size_t *len) {
    if (cp < 0x80) {
        out[(*len)++] = (char)cp;
    } else if (cp < 0x800) {
        out[(*len)++] = (char)(0xC0 | cp >> 6);
        out[(*len)++] = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out[(*len)++] = (char)(0xE0 | cp >> 12);
        out[(*len)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[(*len)++] = (char)(0x80 | (cp & 0x3F));
    } else {
        out[(*len)++] = (char)(0xF0 | cp >> 18);
        out[(*len)++] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[(*len)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[(*len)++] = (char)(0x80 | (cp & 0x3F));
    }
}

static int parse_hex4(const char *s, uint32_t *out) {
    *out = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (v < 0) return -1;
        *out = *out << 4 | (uint32_t)v;
    }
    return 0;
}

/* Parses the JSON string literal at s into out; returns the character after
 * the closing quote, or NULL. */
static const char *parse_json_string(const char *s, char *out, size_t cap, size_t *len) {
    *len = 0;
    if (*s++ != '"') return NULL;
    while (*s && *s != '"') {
        if (*len + 4 >= cap) return NULL;
        if (*s != '\\') {
            out[(*len)++] = *s++;
            continue;
        }
        s++;
        char c = *s++;
        switch (c) {
        case 'n': out[(*len)++] = '\n'; break;
        case 't': out[(*len)++] = '\t'; break;
        case 'r': out[(*len)++] = '\r'; break;
        case 'b': out[(*len)++] = '\b'; break;
        case 'f': out[(*len)++] = '\f'; break;
        case '"': out[(*len)++] = '"'; break;
        case '\\': out[(*len)++] = '\\'; break;
        case '/': out[(*len)++] = '/'; break;
        case 'u': {
            uint32_t cp, low;
            if (parse_hex4(s, &cp)) return NULL;
            s += 4;
            if (cp >= 0xD800 && cp < 0xDC00) {
                if (s[0] != '\\' || s[1] != 'u' || parse_hex4(s + 2, &low) || low < 0xDC00 ||
                    low > 0xDFFF)
                    return NULL;
                s += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            } else if (cp >= 0xDC00 && cp < 0xE000) {
                return NULL;
            }
            put_utf8(cp, out, len);
            break;
        }
        default: return NULL;
        }
    }
    return *s == '"' ? s + 1 : NULL;
}

static int load_cases(test_case *cases, int max) {
    char path[1024];
    flx_data_path(path, sizeof path, "reference/llama3-tokenizer-cases.tsv");
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot open %s (set FLEXLLM_DATA)\n", path);
        return -1;
    }
    char line[4096];
    int n = 0, line_no = 0;
    while (fgets(line, sizeof line, f) && n < max) {
        line_no++;
        if (line[0] == '#' || line[0] == '\n') continue;
        test_case *c = &cases[n];
        const char *rest = parse_json_string(line, c->text, sizeof c->text, &c->len);
        if (!rest || *rest != '\t') {
            fprintf(stderr, "%s:%d: cannot parse the case\n", path, line_no);
            fclose(f);
            return -1;
        }
        c->line = line_no;
        c->n_ids = 0;
        char *p = (char *)rest + 1, *end;
        for (long v = strtol(p, &end, 10); end != p && c->n_ids < MAX_CASE_IDS;
             v = strtol(p, &end, 10)) {
            c->ids[c->n_ids++] = (int32_t)v;
            p = end;
        }
        n++;
    }
    fclose(f);
    return n;
}

/* Checks every reference case; returns the number of mismatching cases. */
static int check_cases(const char *label, const flx_tokenizer *tok, const test_case *cases, int n) {
    int bad = 0;
    for (int i = 0; i < n; i++) {
        const test_case *c = &cases[i];
        int32_t *ids = NULL;
        int n_ids = 0;
        flx_error err = {{0}};
        if (flx_tokenizer_encode(tok, c->text, c->len, 0, &ids, &n_ids, &err) != 0) {
            fprintf(stderr, "%s: case line %d: encode failed: %s\n", label, c->line, err.msg);
            bad++;
            continue;
        }
        int same = n_ids == c->n_ids && (n_ids == 0 || memcmp(ids, c->ids, (size_t)n_ids * 4) == 0);
        if (!same) {
            fprintf(stderr, "%s: case line %d \"%.*s\": got", label, c->line, (int)c->len, c->text);
            for (int k = 0; k < n_ids; k++) fprintf(stderr, " %d", ids[k]);
            fprintf(stderr, ", expected");
            for (int k = 0; k < c->n_ids; k++) fprintf(stderr, " %d", c->ids[k]);
            fprintf(stderr, "\n");
            bad++;
        }
        free(ids);
    }
    return bad;
}

/* The vocabulary read from Meta's file: token spellings, special tokens and
 * merges that follow from the file's first lines. */
static void test_tiktoken_vocab(const flx_vocab *v) {
    CHECK_INT_EQ(v->kind, FLX_VOCAB_BPE);
    CHECK_INT_EQ(v->n_tokens, LLAMA3_N_RANKED + 256);
    CHECK_INT_EQ(v->bos_id, 128000);
    CHECK_INT_EQ(v->eos_id, 128001);
    CHECK_INT_EQ(v->eot_id, 128009);
    CHECK_INT_EQ(v->add_bos, 1);
    CHECK(strcmp(v->pre, "llama-bpe") == 0);
    if (v->n_tokens != LLAMA3_N_RANKED + 256) return;

    /* Special token names from Meta's llama/tokenizer.py (meta-llama/llama3). */
    CHECK(strcmp(v->tokens[128000], "<|begin_of_text|>") == 0);
    CHECK(strcmp(v->tokens[128001], "<|end_of_text|>") == 0);
    CHECK(strcmp(v->tokens[128002], "<|reserved_special_token_0|>") == 0);
    CHECK(strcmp(v->tokens[128005], "<|reserved_special_token_3|>") == 0);
    CHECK(strcmp(v->tokens[128006], "<|start_header_id|>") == 0);
    CHECK(strcmp(v->tokens[128007], "<|end_header_id|>") == 0);
    CHECK(strcmp(v->tokens[128008], "<|reserved_special_token_4|>") == 0);
    CHECK(strcmp(v->tokens[128009], "<|eot_id|>") == 0);
    CHECK(strcmp(v->tokens[128010], "<|reserved_special_token_5|>") == 0);
    CHECK(strcmp(v->tokens[128255], "<|reserved_special_token_250|>") == 0);
    CHECK_INT_EQ(v->types[128000], FLX_TOKEN_CONTROL);
    CHECK_INT_EQ(v->types[128255], FLX_TOKEN_CONTROL);
    CHECK_INT_EQ(v->types[0], FLX_TOKEN_NORMAL);

    /* Line 1 is "IQ== 0" ('!'); line 221 is " " (0x20), spelled U+0120 "Ġ". */
    CHECK(strcmp(v->tokens[0], "!") == 0);
    CHECK(strcmp(v->tokens[220], "\xC4\xA0") == 0);
    /* Every split of a token into two tokens is a merge: 280,147 in all, the
     * number of merges in Llama 3's Hugging Face tokenizer.json. Rank 256 is "ICA=" (two
     * spaces): " " + " ". Rank 257 is four spaces, split after 1, 2 or 3
     * spaces (ranks 220 + 262, 256 + 256, 262 + 220), ordered by the rank of
     * the left part. Rank 258 is "aW4=" ("in"). */
    CHECK_INT_EQ(v->n_merges, 280147);
    if (v->n_merges < 5) return;
    CHECK(strcmp(v->merges[0], "\xC4\xA0 \xC4\xA0") == 0);
    CHECK(strcmp(v->merges[1], "\xC4\xA0 \xC4\xA0\xC4\xA0\xC4\xA0") == 0);
    CHECK(strcmp(v->merges[2], "\xC4\xA0\xC4\xA0 \xC4\xA0\xC4\xA0") == 0);
    CHECK(strcmp(v->merges[3], "\xC4\xA0\xC4\xA0\xC4\xA0 \xC4\xA0") == 0);
    CHECK(strcmp(v->merges[4], "i n") == 0);
}

/* Copies the vocabulary the way a GGUF "gpt2" tokenizer stores it: token
 * strings, types and the merge list, no ranks. */
static flx_vocab *copy_as_gguf_vocab(const flx_vocab *src) {
    flx_vocab *v = calloc(1, sizeof *v);
    v->kind = FLX_VOCAB_BPE;
    v->n_tokens = src->n_tokens;
    v->tokens = calloc((size_t)v->n_tokens, sizeof *v->tokens);
    v->types = calloc((size_t)v->n_tokens, sizeof *v->types);
    for (int i = 0; i < v->n_tokens; i++) {
        v->tokens[i] = strdup(src->tokens[i]);
        v->types[i] = src->types[i];
    }
    v->n_merges = src->n_merges;
    v->merges = calloc((size_t)v->n_merges, sizeof *v->merges);
    for (int i = 0; i < v->n_merges; i++) v->merges[i] = strdup(src->merges[i]);
    snprintf(v->pre, sizeof v->pre, "llama-bpe");
    v->bos_id = 128000;
    v->eos_id = 128001;
    v->eot_id = 128009;
    v->add_bos = 1;
    return v;
}

static uint64_t rng_state = 0x243F6A8885A308D3ull;

static uint32_t next_random(void) {
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 2685821657736338717ull) >> 32);
}

static uint32_t random_in(uint32_t lo, uint32_t hi) { return lo + next_random() % (hi - lo + 1); }

/* Appends one random run: letters, whitespace, digits, punctuation, or a
 * 2-, 3- or 4-byte code point (never a surrogate). */
static void append_random_run(char *s, size_t *len) {
    static const char space[] = " \t\n\r\v\f";
    static const char punct[] = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
    int kind = (int)random_in(0, 6), count = (int)random_in(1, 6);
    for (int i = 0; i < count; i++) {
        switch (kind) {
        case 0: s[(*len)++] = (char)random_in(0, 1) ? (char)random_in('a', 'z') : (char)random_in('A', 'Z'); break;
        case 1: s[(*len)++] = space[random_in(0, sizeof space - 2)]; break;
        case 2: s[(*len)++] = (char)random_in('0', '9'); break;
        case 3: s[(*len)++] = punct[random_in(0, sizeof punct - 2)]; break;
        case 4: put_utf8(random_in(0x80, 0x7FF), s, len); break;
        case 5: {
            uint32_t cp = random_in(0x800, 0xFFFF);
            if (cp >= 0xD800 && cp <= 0xDFFF) cp -= 0x800;
            put_utf8(cp, s, len);
            break;
        }
        default: put_utf8(random_in(0x10000, 0x10FFFF), s, len); break;
        }
    }
}

/* Decoding the ids of any valid UTF-8 text gives the text back, byte for
 * byte, and plain-text encoding never produces a special token. */
static void test_round_trip(const flx_tokenizer *tok) {
    int failures = 0;
    for (int t = 0; t < 3000 && failures < 5; t++) {
        char text[2048];
        size_t len = 0;
        int runs = (int)random_in(1, 40);
        for (int r = 0; r < runs; r++) append_random_run(text, &len);

        int32_t *ids = NULL;
        int n_ids = 0;
        flx_error err = {{0}};
        if (flx_tokenizer_encode(tok, text, len, 0, &ids, &n_ids, &err) != 0) {
            fprintf(stderr, "round trip %d: encode failed: %s\n", t, err.msg);
            failures++;
            continue;
        }
        int special = 0;
        for (int i = 0; i < n_ids; i++) special |= ids[i] >= LLAMA3_N_RANKED;
        char *back = NULL;
        size_t back_len = 0;
        int rc = flx_tokenizer_decode(tok, ids, n_ids, &back, &back_len, &err);
        if (rc != 0 || back_len != len || memcmp(back, text, len) != 0 || special) {
            fprintf(stderr, "round trip %d failed (%zu bytes, decoded %zu, special %d)\n", t, len,
                    back_len, special);
            failures++;
        }
        free(back);
        free(ids);
    }
    CHECK_INT_EQ(failures, 0);
}

/* Invalid UTF-8 still encodes byte for byte, since every byte has a token. */
static void test_invalid_utf8(const flx_tokenizer *tok) {
    static const char text[] = "ok \xFF\xFE broken \xC3 tail \xE2\x82 x\x80\x80 \xF0\x9F\xA4";
    size_t len = sizeof text - 1;
    int32_t *ids = NULL;
    int n_ids = 0;
    flx_error err = {{0}};
    CHECK_INT_EQ(flx_tokenizer_encode(tok, text, len, 0, &ids, &n_ids, &err), 0);
    char *back = NULL;
    size_t back_len = 0;
    CHECK_INT_EQ(flx_tokenizer_decode(tok, ids, n_ids, &back, &back_len, &err), 0);
    CHECK_INT_EQ(back_len, len);
    CHECK(back != NULL);
    CHECK(back && back_len == len && memcmp(back, text, len) == 0);
    free(back);
    free(ids);
}

static int ids_equal(const int32_t *ids, int n, const int32_t *expected, int n_expected) {
    return n == n_expected && memcmp(ids, expected, (size_t)n * sizeof *ids) == 0;
}

static void print_ids(const char *label, const int32_t *ids, int n) {
    fprintf(stderr, "%s:", label);
    for (int i = 0; i < n; i++) fprintf(stderr, " %d", ids[i]);
    fprintf(stderr, "\n");
}

/* Token ids used below, read from Meta's rank file (line = id + 1): 882
 * "user", 9125 "system", 78191 "assistant", 271 "\n\n", 13347 "Hi"; and from
 * the reference cases: "Hello world" = 9906 1917, "hello world" = 15339 1917. */
static void test_special_tokens(const flx_tokenizer *tok) {
    static const char text[] = "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>";
    static const int32_t expected[] = {128006, 882, 128007, 271, 13347, 128009};
    int32_t *ids = NULL;
    int n = 0;
    flx_error err = {{0}};
    CHECK_INT_EQ(flx_tokenizer_encode(tok, text, sizeof text - 1, FLX_ENCODE_SPECIAL, &ids, &n, &err), 0);
    CHECK(ids_equal(ids, n, expected, 6));
    if (!ids_equal(ids, n, expected, 6)) print_ids("special tokens", ids, n);
    free(ids);

    /* BOS comes first when asked for. */
    static const int32_t with_bos[] = {128000, 9906, 1917};
    CHECK_INT_EQ(flx_tokenizer_encode(tok, "Hello world", 11, FLX_ENCODE_BOS, &ids, &n, &err), 0);
    CHECK(ids_equal(ids, n, with_bos, 3));
    free(ids);

    /* Without FLX_ENCODE_SPECIAL the same text is plain text. */
    CHECK_INT_EQ(flx_tokenizer_encode(tok, text, sizeof text - 1, 0, &ids, &n, &err), 0);
    int special = 0;
    for (int i = 0; i < n; i++) special |= ids[i] >= LLAMA3_N_RANKED;
    CHECK_INT_EQ(special, 0);
    CHECK(n > 6);
    char *back = NULL;
    size_t back_len = 0;
    CHECK_INT_EQ(flx_tokenizer_decode(tok, ids, n, &back, &back_len, &err), 0);
    CHECK_INT_EQ(back_len, sizeof text - 1);
    CHECK(back && back_len == sizeof text - 1 && memcmp(back, text, back_len) == 0);
    free(back);
    free(ids);

    CHECK(flx_tokenizer_is_stop(tok, 128009));
    CHECK(flx_tokenizer_is_stop(tok, 128001));
    CHECK(!flx_tokenizer_is_stop(tok, 128006));
}

/* Meta's Llama 3 prompt format (ChatFormat in meta-llama/llama3
 * llama/tokenizer.py), each message stripped of surrounding white space:
 * <|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n{system}<|eot_id|>
 * <|start_header_id|>user<|end_header_id|>\n\n{user}<|eot_id|>
 * <|start_header_id|>assistant<|end_header_id|>\n\n
 * llama-tokenize (llama.cpp b4748) prints the same ids for that text with a
 * GGUF file carrying this vocabulary. */
static void test_chat_template(const flx_tokenizer *tok) {
    static const int32_t with_system[] = {
        128000, 128006, 9125, 128007, 271, 9906,  1917,   128009, 128006, 882,
        128007, 271,    15339, 1917,  128009, 128006, 78191, 128007, 271,
    };
    static const int32_t without_system[] = {
        128000, 128006, 882, 128007, 271, 13347, 128009, 128006, 78191, 128007, 271,
    };
    int32_t *ids = NULL;
    int n = 0;
    flx_error err = {{0}};
    CHECK_INT_EQ(flx_tokenizer_encode_chat(tok, "Hello world", "hello world", &ids, &n, &err), 0);
    CHECK(ids_equal(ids, n, with_system, (int)(sizeof with_system / sizeof *with_system)));
    if (!ids_equal(ids, n, with_system, (int)(sizeof with_system / sizeof *with_system)))
        print_ids("chat with system", ids, n);
    free(ids);

    CHECK_INT_EQ(flx_tokenizer_encode_chat(tok, " Hello world\n", "\t hello world \n", &ids, &n, &err), 0);
    CHECK(ids_equal(ids, n, with_system, (int)(sizeof with_system / sizeof *with_system)));
    if (!ids_equal(ids, n, with_system, (int)(sizeof with_system / sizeof *with_system)))
        print_ids("chat with white space around messages", ids, n);
    free(ids);

    CHECK_INT_EQ(flx_tokenizer_encode_chat(tok, NULL, "Hi", &ids, &n, &err), 0);
    CHECK(ids_equal(ids, n, without_system, (int)(sizeof without_system / sizeof *without_system)));
    if (!ids_equal(ids, n, without_system, (int)(sizeof without_system / sizeof *without_system)))
        print_ids("chat without system", ids, n);
    free(ids);

    /* A special-token spelling inside the user text stays plain text. */
    CHECK_INT_EQ(flx_tokenizer_encode_chat(tok, NULL, "<|eot_id|>", &ids, &n, &err), 0);
    int eot_count = 0;
    for (int i = 0; i < n; i++) eot_count += ids[i] == 128009;
    CHECK_INT_EQ(eot_count, 1);
    free(ids);
}

/* A separate, plain implementation of tiktoken's encoding of one piece:
 * the piece itself if it is a token, else start from single bytes and merge
 * the adjacent pair whose concatenation has the lowest rank (leftmost on
 * ties) until no concatenation is a token. Quadratic, but pieces are short. */
typedef struct reference_bpe {
    flx_strmap ranks; /* token bytes -> rank */
    char *bytes;      /* storage for the keys */
    flx_ids out;
} reference_bpe;

static int base64_digit(char c) {
    const char *digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = strchr(digits, c);
    return c && p ? (int)(p - digits) : -1;
}

static int reference_load(reference_bpe *ref, const char *path) {
    size_t size = 0;
    flx_error err = {{0}};
    char *text = flx_read_text_file(path, &size, &err);
    if (!text) return -1;
    ref->bytes = malloc(size);
    flx_strmap_init(&ref->ranks, LLAMA3_N_RANKED, &err);
    size_t used = 0;
    int rank = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"), rank++) {
        char *key = ref->bytes + used;
        uint32_t bits = 0;
        int n_bits = 0;
        for (char *c = line; *c && *c != ' ' && *c != '='; c++) {
            bits = bits << 6 | (uint32_t)base64_digit(*c);
            n_bits += 6;
            if (n_bits >= 8) {
                n_bits -= 8;
                ref->bytes[used++] = (char)(bits >> n_bits);
            }
        }
        flx_strmap_put(&ref->ranks, key, (uint32_t)(ref->bytes + used - key), rank);
    }
    free(text);
    return rank == LLAMA3_N_RANKED ? 0 : -1;
}

static int reference_piece(void *ctx, const char *piece, size_t len, flx_error *err) {
    reference_bpe *ref = ctx;
    int32_t whole = flx_strmap_get(&ref->ranks, piece, (uint32_t)len);
    if (whole >= 0) return flx_ids_push(&ref->out, whole, err);
    size_t *cut = malloc((len + 1) * sizeof *cut); /* part k is piece[cut[k], cut[k+1]) */
    size_t n_parts = len;
    for (size_t i = 0; i <= len; i++) cut[i] = i;
    for (;;) {
        int32_t best = -1;
        size_t best_k = 0;
        for (size_t k = 0; k + 1 < n_parts; k++) {
            int32_t r = flx_strmap_get(&ref->ranks, piece + cut[k], (uint32_t)(cut[k + 2] - cut[k]));
            if (r >= 0 && (best < 0 || r < best)) {
                best = r;
                best_k = k;
            }
        }
        if (best < 0) break;
        memmove(&cut[best_k + 1], &cut[best_k + 2], (n_parts - best_k - 1) * sizeof *cut);
        n_parts--;
    }
    int rc = 0;
    for (size_t k = 0; k < n_parts && rc == 0; k++)
        rc = flx_ids_push(&ref->out,
                          flx_strmap_get(&ref->ranks, piece + cut[k], (uint32_t)(cut[k + 1] - cut[k])),
                          err);
    free(cut);
    return rc;
}

/* Encodes text with the library and with the reference over the library's
 * pre-tokenizer pieces; returns 1 when the ids agree. */
static int matches_reference(const flx_tokenizer *tok, reference_bpe *ref, const flx_pretokenizer *pt,
                             const char *text, size_t len, const char *label) {
    int32_t *ids = NULL;
    int n = 0;
    flx_error err = {{0}};
    ref->out.n = 0;
    if (flx_tokenizer_encode(tok, text, len, 0, &ids, &n, &err) != 0 ||
        flx_pretokenizer_split(pt, text, len, reference_piece, ref, &err) != 0) {
        fprintf(stderr, "%s: %s\n", label, err.msg);
        free(ids);
        return 0;
    }
    int same = n == ref->out.n && memcmp(ids, ref->out.data, (size_t)n * sizeof *ids) == 0;
    if (!same) {
        int i = 0;
        while (i < n && i < ref->out.n && ids[i] == ref->out.data[i]) i++;
        fprintf(stderr, "%s: %d ids, reference %d, first difference at id %d\n", label, n,
                ref->out.n, i);
    }
    free(ids);
    return same;
}

/* WikiText-2 and random text: the library's merge-list BPE gives the same
 * ids as the rank-based reference. */
static void test_against_reference(const flx_tokenizer *tok, const char *rank_path) {
    reference_bpe ref = {0};
    flx_pretokenizer *pt = NULL;
    flx_error err = {{0}};
    CHECK_INT_EQ(reference_load(&ref, rank_path), 0);
    CHECK_INT_EQ(flx_pretokenizer_create(&pt, &err), 0);

    char path[1024];
    flx_data_path(path, sizeof path, "text/wikitext-2/wiki.test.raw");
    size_t size = 0;
    char *text = flx_read_text_file(path, &size, &err);
    CHECK(text != NULL);
    if (text && pt) CHECK(matches_reference(tok, &ref, pt, text, size, "wiki.test.raw"));
    free(text);

    int failures = 0;
    for (int t = 0; t < 2000 && pt && failures < 5; t++) {
        char random_text[2048];
        size_t len = 0;
        int runs = (int)random_in(1, 40);
        for (int r = 0; r < runs; r++) append_random_run(random_text, &len);
        if (!matches_reference(tok, &ref, pt, random_text, len, "random text")) failures++;
    }
    CHECK_INT_EQ(failures, 0);

    flx_pretokenizer_free(pt);
    flx_strmap_free(&ref.ranks);
    free(ref.bytes);
    free(ref.out.data);
}

/* SentencePiece vocabularies get Llama 2's [INST] form (chat_completion in
 * meta-llama/llama llama/generation.py). Expected ids: BOS, then
 * llama-tokenize (llama.cpp b4748) of "[INST] <<SYS>>\nHello world\n<</SYS>>\n\n
 * hello world [/INST]" and "[INST] Hi [/INST]" with stories260K.gguf, whose
 * vocabulary is the one in tok512.bin. */
static void test_llama2_chat_template(void) {
    static const int32_t with_system[] = {
        1,   410, 508, 442, 458, 437, 434, 509, 410, 504, 504, 437, 452, 437, 505, 505, 13,
        440, 411, 306, 414, 263, 304, 341, 13,  504, 504, 492, 437, 452, 437, 505, 505, 13,
        13,  260, 306, 414, 263, 304, 341, 410, 508, 492, 442, 458, 437, 434, 509,
    };
    static const int32_t without_system[] = {1,   410, 508, 442, 458, 437, 434, 509, 320,
                                             417, 410, 508, 492, 442, 458, 437, 434, 509};
    char path[1024];
    flx_data_path(path, sizeof path, "models/stories260K/tok512.bin");
    flx_tokenizer *tok = NULL;
    flx_error err = {{0}};
    CHECK_INT_EQ(flx_tokenizer_load(&tok, path, &err), 0);
    if (!tok) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    int32_t *ids = NULL;
    int n = 0;
    CHECK_INT_EQ(flx_tokenizer_encode_chat(tok, "Hello world", "hello world", &ids, &n, &err), 0);
    CHECK(ids_equal(ids, n, with_system, (int)(sizeof with_system / sizeof *with_system)));
    if (!ids_equal(ids, n, with_system, (int)(sizeof with_system / sizeof *with_system)))
        print_ids("llama 2 chat with system", ids, n);
    free(ids);
    /* The user text is stripped, as Meta strips the whole [INST] content. */
    CHECK_INT_EQ(flx_tokenizer_encode_chat(tok, NULL, " Hi \n", &ids, &n, &err), 0);
    CHECK(ids_equal(ids, n, without_system, (int)(sizeof without_system / sizeof *without_system)));
    if (!ids_equal(ids, n, without_system, (int)(sizeof without_system / sizeof *without_system)))
        print_ids("llama 2 chat without system", ids, n);
    free(ids);
    flx_tokenizer_free(tok);
}

/* Writes text to a fresh temporary file; returns its path in a static buffer. */
static const char *write_temp(const char *text, size_t len) {
    static char path[256];
    const char *dir = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/flexllm-tiktoken-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) return NULL;
    if (write(fd, text, len) != (ssize_t)len) {
        close(fd);
        return NULL;
    }
    close(fd);
    return path;
}

static void expect_rank_file_error(const char *content, const char *where, const char *what) {
    const char *path = write_temp(content, strlen(content));
    CHECK(path != NULL);
    if (!path) return;
    flx_vocab *v = NULL;
    flx_error err = {{0}};
    CHECK_INT_EQ(flx_vocab_load_tiktoken(&v, path, &err), -1);
    CHECK(v == NULL);
    CHECK(strstr(err.msg, path) != NULL);
    CHECK(strstr(err.msg, where) != NULL);
    CHECK(strstr(err.msg, what) != NULL);
    if (!strstr(err.msg, where) || !strstr(err.msg, what))
        fprintf(stderr, "expected \"%s\" and \"%s\" in: %s\n", where, what, err.msg);

    /* Loading by content reaches the same loader. */
    flx_tokenizer *tok = NULL;
    if (content[0]) {
        CHECK_INT_EQ(flx_tokenizer_load(&tok, path, &err), -1);
        CHECK(strstr(err.msg, path) != NULL);
    }
    unlink(path);
}

/* "IQ==" '!', "Ig==" '"', "Iw==" '#', "YQ==" 'a', "Yg==" 'b', "Yw==" 'c',
 * "YWI=" "ab", "YWJj" "abc", "YWE=" "aa". */
static void test_malformed_rank_files(void) {
    expect_rank_file_error("IQ== 0\nI@== 1\n", ":2:", "invalid base64");
    expect_rank_file_error("IQ== 0\nIg== 1\nIw=A 2\n", ":3:", "invalid base64");
    expect_rank_file_error("IQ== 0\nIg== 2\n", ":2:", "out of order");
    expect_rank_file_error("IQ== 1\n", ":1:", "out of order");
    expect_rank_file_error("IQ== 0\nIg==\n", ":2:", "invalid line");
    expect_rank_file_error("IQ== 0\nIg== 1\nIw", ":3:", "invalid line");
    expect_rank_file_error("IQ== 0\n\nIg== 1\n", ":2:", "invalid line");
    expect_rank_file_error("IQ== 0\nIg== x1\n", ":2:", "invalid rank");
    expect_rank_file_error("IQ== 0\nIQ== 1\n", ":2:", "duplicate");
    expect_rank_file_error("", "", "empty");
    /* 1,026 bytes of 'a' in base64 ("YWFh" is "aaa"). */
    char long_token[1400 + 16] = "";
    for (int i = 0; i < 342; i++) strcat(long_token, "YWFh");
    strcat(long_token, " 0\n");
    expect_rank_file_error(long_token, ":1:", "longer than");
}

/* A six-token rank file small enough to work out by hand:
 * ranks a=0 b=1 c=2 ab=3 abc=4 aa=5, so the merges are "a b", "ab c", "a a". */
static void test_small_rank_file(void) {
    static const char content[] = "YQ== 0\nYg== 1\nYw== 2\nYWI= 3\nYWJj 4\nYWE= 5\n";
    const char *path = write_temp(content, sizeof content - 1);
    flx_vocab *v = NULL;
    flx_error err = {{0}};
    CHECK_INT_EQ(flx_vocab_load_tiktoken(&v, path, &err), 0);
    unlink(path);
    if (!v) {
        fprintf(stderr, "small rank file: %s\n", err.msg);
        flx_check_failures++;
        return;
    }
    CHECK_INT_EQ(v->n_tokens, 6 + 256);
    CHECK_INT_EQ(v->n_merges, 3);
    if (v->n_merges == 3) {
        CHECK(strcmp(v->merges[0], "a b") == 0);
        CHECK(strcmp(v->merges[1], "ab c") == 0);
        CHECK(strcmp(v->merges[2], "a a") == 0);
    }
    CHECK_INT_EQ(v->bos_id, 6);
    CHECK(strcmp(v->tokens[6], "<|begin_of_text|>") == 0);

    flx_tokenizer *tok = NULL;
    CHECK_INT_EQ(flx_tokenizer_from_vocab(&tok, v, &err), 0);
    flx_vocab_free(v);
    if (!tok) return;
    int32_t *ids = NULL;
    int n = 0;
    /* "abcab": a b c a b -> ab c ab (rank 0 twice) -> abc ab (rank 1). */
    static const int32_t abcab[] = {4, 3};
    CHECK_INT_EQ(flx_tokenizer_encode(tok, "abcab", 5, 0, &ids, &n, &err), 0);
    CHECK(ids_equal(ids, n, abcab, 2));
    free(ids);
    /* "aaa": equal ranks merge leftmost first -> aa a. */
    static const int32_t aaa[] = {5, 0};
    CHECK_INT_EQ(flx_tokenizer_encode(tok, "aaa", 3, 0, &ids, &n, &err), 0);
    CHECK(ids_equal(ids, n, aaa, 2));
    free(ids);
    /* "baab": the pair "a b" (rank 0) on the right beats "a a" (rank 2) on
     * the left -> b a ab. */
    static const int32_t baab[] = {1, 0, 3};
    CHECK_INT_EQ(flx_tokenizer_encode(tok, "baab", 4, 0, &ids, &n, &err), 0);
    CHECK(ids_equal(ids, n, baab, 3));
    free(ids);
    /* "abcc" is one piece, so "abc" must come from merges, and "ab c" is
     * listed: abc c. */
    static const int32_t abcc[] = {4, 2};
    CHECK_INT_EQ(flx_tokenizer_encode(tok, "abcc", 4, 0, &ids, &n, &err), 0);
    CHECK(ids_equal(ids, n, abcc, 2));
    free(ids);
    /* A byte without a token cannot be encoded. */
    CHECK_INT_EQ(flx_tokenizer_encode(tok, "ax", 2, 0, &ids, &n, &err), -1);
    CHECK(strstr(err.msg, "0x78") != NULL);
    flx_tokenizer_free(tok);
}

/* "abc" has no split into two tokens ("ab" and "bc" are missing): it gets no
 * merge and is only produced for a piece that is exactly "abc". */
static void test_token_without_merge(void) {
    static const char content[] = "YQ== 0\nYg== 1\nYw== 2\nYWJj 3\n";
    const char *path = write_temp(content, sizeof content - 1);
    flx_tokenizer *tok = NULL;
    flx_error err = {{0}};
    CHECK_INT_EQ(flx_tokenizer_load(&tok, path, &err), 0);
    unlink(path);
    if (!tok) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    int32_t *ids = NULL;
    int n = 0;
    static const int32_t abc[] = {3};
    CHECK_INT_EQ(flx_tokenizer_encode(tok, "abc", 3, 0, &ids, &n, &err), 0);
    CHECK(ids_equal(ids, n, abc, 1));
    free(ids);
    static const int32_t abcc[] = {0, 1, 2, 2};
    CHECK_INT_EQ(flx_tokenizer_encode(tok, "abcc", 4, 0, &ids, &n, &err), 0);
    CHECK(ids_equal(ids, n, abcc, 4));
    free(ids);
    flx_tokenizer_free(tok);
}

int main(void) {
    test_malformed_rank_files();
    test_small_rank_file();
    test_token_without_merge();
    test_llama2_chat_template();

    static test_case cases[MAX_CASES];
    int n_cases = load_cases(cases, MAX_CASES);
    CHECK(n_cases >= 30);
    if (n_cases < 0) return flx_check_report("test_llama3_tokenizer");

    char path[1024];
    flx_data_path(path, sizeof path, "tokenizers/llama3/tokenizer.model");
    flx_error err = {{0}};
    flx_vocab *vocab = NULL;
    CHECK_INT_EQ(flx_vocab_load_tiktoken(&vocab, path, &err), 0);
    if (!vocab) {
        fprintf(stderr, "%s\n", err.msg);
        return flx_check_report("test_llama3_tokenizer");
    }
    test_tiktoken_vocab(vocab);

    /* Meta's rank file, loaded by content. */
    flx_tokenizer *tok = NULL;
    CHECK_INT_EQ(flx_tokenizer_load(&tok, path, &err), 0);
    if (tok) {
        CHECK_INT_EQ(flx_tokenizer_kind(tok), FLX_VOCAB_BPE);
        CHECK_INT_EQ(flx_tokenizer_vocab_size(tok), 128256);
        CHECK_INT_EQ(check_cases("tiktoken", tok, cases, n_cases), 0);
        test_round_trip(tok);
        test_against_reference(tok, path);
        test_invalid_utf8(tok);
        test_special_tokens(tok);
        test_chat_template(tok);
        flx_tokenizer_free(tok);
    } else {
        fprintf(stderr, "%s\n", err.msg);
    }

    /* The same vocabulary as token strings plus merge list. */
    flx_vocab *gguf_vocab = copy_as_gguf_vocab(vocab);
    flx_vocab_free(vocab);
    flx_tokenizer *from_merges = NULL;
    CHECK_INT_EQ(flx_tokenizer_from_vocab(&from_merges, gguf_vocab, &err), 0);
    flx_vocab_free(gguf_vocab);
    if (from_merges) {
        CHECK_INT_EQ(check_cases("merges", from_merges, cases, n_cases), 0);
        flx_tokenizer_free(from_merges);
    }
    return flx_check_report("test_llama3_tokenizer");
}
