/* Meta's Llama 3 tokenizer.model: tiktoken's rank file, one line
 * "<base64 token bytes> <rank>" per token with ranks 0, 1, 2, ... in order.
 * The file lists no merges and no special tokens. The merges are derived
 * from the ranks, and the 256 special tokens of Meta's llama/tokenizer.py
 * follow the ranked tokens. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mapped_file.h"
#include "common/strmap.h"
#include "tokenizer/gpt2_bytes.h"
#include "tokenizer/tokenizer_internal.h"

#define N_SPECIAL 256
#define MAX_RANKED_TOKENS (1 << 22)
/* Finding a token's merges costs time quadratic in its length, so longer
 * tokens are rejected as corrupt. Meta's longest token has 128 bytes. */
#define MAX_TOKEN_BYTES 1024

/* Returns the 6-bit value of a base64 character, or -1. */
static int base64_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Decodes standard padded base64 (RFC 4648). Returns the byte count, or -1. */
static long base64_decode(const char *s, size_t len, uint8_t *out) {
    if (len == 0 || len % 4 != 0) return -1;
    size_t pad = 0;
    if (s[len - 1] == '=') pad = s[len - 2] == '=' ? 2 : 1;
    long n = 0;
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        for (int k = 0; k < 4; k++) {
            int is_pad_slot = i + 4 == len && k >= 4 - (int)pad;
            v[k] = is_pad_slot ? 0 : base64_value(s[i + k]);
            if (v[k] < 0) return -1;
        }
        uint32_t group = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        int n_bytes = i + 4 == len ? 3 - (int)pad : 3;
        for (int k = 0; k < n_bytes; k++) out[n++] = (uint8_t)(group >> (16 - 8 * k));
    }
    return n;
}

/* Writes the name Meta's llama/tokenizer.py gives special token k (0-255). */
static void special_name(int k, char *out, size_t size) {
    static const char *const named[10] = {
        "<|begin_of_text|>",          "<|end_of_text|>",
        "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
        "<|reserved_special_token_2|>", "<|reserved_special_token_3|>",
        "<|start_header_id|>",        "<|end_header_id|>",
        "<|reserved_special_token_4|>", "<|eot_id|>",
    };
    if (k < 10)
        snprintf(out, size, "%s", named[k]);
    else
        snprintf(out, size, "<|reserved_special_token_%d|>", k - 5);
}

/* The ranked tokens as raw bytes: token r is bytes[offsets[r] .. offsets[r+1]). */
typedef struct ranked_tokens {
    uint8_t *bytes;
    size_t *offsets; /* [n + 1] */
    int *lines;      /* [n] line number of each token, for messages */
    int n;
    flx_strmap ranks; /* token bytes -> rank */
} ranked_tokens;

static void ranked_tokens_free(ranked_tokens *t) {
    free(t->bytes);
    free(t->offsets);
    free(t->lines);
    flx_strmap_free(&t->ranks);
}

static int parse_rank(const char *s, size_t len, long *out) {
    if (len == 0 || len > 9) return -1;
    long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int parse_lines(ranked_tokens *t, const char *text, size_t size, const char *path,
                       flx_error *err) {
    size_t n_lines = 0;
    for (size_t i = 0; i < size; i++) n_lines += text[i] == '\n';
    if (size > 0 && text[size - 1] != '\n') n_lines++;
    if (n_lines > MAX_RANKED_TOKENS)
        return flx_fail(err, "%s: %zu lines is more than the %d tokens a tiktoken rank file may hold",
                        path, n_lines, MAX_RANKED_TOKENS);

    t->bytes = flx_malloc(size + 1, err);
    t->offsets = flx_malloc((n_lines + 1) * sizeof *t->offsets, err);
    t->lines = flx_malloc((n_lines + 1) * sizeof *t->lines, err);
    if (!t->bytes || !t->offsets || !t->lines) return -1;
    if (flx_strmap_init(&t->ranks, n_lines, err)) return -1;

    size_t used = 0, pos = 0;
    int line = 0;
    t->offsets[0] = 0;
    while (pos < size) {
        line++;
        const char *start = text + pos;
        const char *nl = memchr(start, '\n', size - pos);
        size_t len = nl ? (size_t)(nl - start) : size - pos;
        pos += len + (nl ? 1 : 0);
        if (len > 0 && start[len - 1] == '\r') len--;

        const char *space = memchr(start, ' ', len);
        if (!space)
            return flx_fail(err,
                            "%s:%d: invalid line \"%.*s\": expected \"<base64 token> <rank>\" "
                            "(the line is empty, truncated or not a tiktoken rank file)",
                            path, line, (int)(len > 40 ? 40 : len), start);
        size_t b64_len = (size_t)(space - start);
        long rank;
        if (parse_rank(space + 1, len - b64_len - 1, &rank))
            return flx_fail(err, "%s:%d: invalid rank \"%.*s\": expected a decimal number", path, line,
                            (int)(len - b64_len - 1 > 20 ? 20 : len - b64_len - 1), space + 1);
        if (rank != t->n)
            return flx_fail(err,
                            "%s:%d: rank %ld is out of order: expected %d (ranks must count 0, 1, "
                            "2, ... in line order)",
                            path, line, rank, t->n);
        long n_bytes = base64_decode(start, b64_len, t->bytes + used);
        if (n_bytes <= 0)
            return flx_fail(err, "%s:%d: invalid base64 token \"%.*s\"", path, line,
                            (int)(b64_len > 40 ? 40 : b64_len), start);
        if (n_bytes > MAX_TOKEN_BYTES)
            return flx_fail(err, "%s:%d: token of %ld bytes is longer than the %d-byte limit",
                            path, line, n_bytes, MAX_TOKEN_BYTES);

        const char *key = (const char *)t->bytes + used;
        int32_t earlier = flx_strmap_get(&t->ranks, key, (uint32_t)n_bytes);
        if (earlier >= 0)
            return flx_fail(err, "%s:%d: duplicate token \"%.*s\": line %d has the same bytes", path,
                            line, (int)(b64_len > 40 ? 40 : b64_len), start, t->lines[earlier]);
        flx_strmap_put(&t->ranks, key, (uint32_t)n_bytes, t->n);
        used += (size_t)n_bytes;
        t->lines[t->n] = line;
        t->offsets[++t->n] = used;
    }
    if (t->n == 0)
        return flx_fail(err, "%s: empty tiktoken rank file: no \"<base64 token> <rank>\" lines", path);
    return 0;
}

/* Returns the rank of bytes[start, end) or -1. */
static int32_t rank_of(const ranked_tokens *t, const uint8_t *token, size_t start, size_t end) {
    return flx_strmap_get(&t->ranks, (const char *)token + start, (uint32_t)(end - start));
}

static char *spell(const uint8_t *bytes, size_t n, flx_error *err) {
    char *s = flx_malloc(2 * n + 1, err);
    if (s) flx_gpt2_spell(bytes, n, s);
    return s;
}

typedef struct split {
    size_t at; /* the left part is token[0, at) */
    int32_t left_rank, right_rank;
} split;

static int split_before(const void *a, const void *b) {
    const split *x = a, *y = b;
    if (x->left_rank != y->left_rank) return x->left_rank < y->left_rank ? -1 : 1;
    return (x->right_rank > y->right_rank) - (x->right_rank < y->right_rank);
}

static char *join_merge(const uint8_t *token, size_t at, size_t len, flx_error *err) {
    char *merge = flx_malloc(2 * len + 2, err);
    if (!merge) return NULL;
    size_t n = flx_gpt2_spell(token, at, merge);
    merge[n] = ' ';
    flx_gpt2_spell(token + at, len - at, merge + n + 1);
    return merge;
}

/* tiktoken merges two adjacent parts whenever their concatenation is a
 * token, with that token's rank as priority. A merge list expresses this by
 * listing every split of each token into two tokens, ordered by the token's
 * rank, then by the ranks of the left and right parts. For Meta's file that
 * is 280,147 merges, as many as Llama 3's Hugging Face tokenizer.json lists.
 * Listing only the split that BPE reaches with lower ranks is not enough,
 * because 678 Llama 3 tokens above rank 100,000 are built from parts of
 * higher rank.
 * NOTE: when two different splits of one token both occur in a piece,
 * tiktoken merges the leftmost (both have the token's rank), while this list
 * prefers the split with the lower-ranked left part. */
static int add_merges(flx_vocab *v, const ranked_tokens *t, int r, split *splits, int *cap,
                      const char *path, flx_error *err) {
    const uint8_t *token = t->bytes + t->offsets[r];
    size_t len = t->offsets[r + 1] - t->offsets[r];
    int n = 0;
    for (size_t at = 1; at < len; at++) {
        int32_t left = rank_of(t, token, 0, at), right = rank_of(t, token, at, len);
        if (left >= 0 && right >= 0) splits[n++] = (split){at, left, right};
    }
    qsort(splits, (size_t)n, sizeof *splits, split_before);

    if (v->n_merges > INT32_MAX / 2 - n)
        return flx_fail(err, "%s: too many merges (more than %d)", path, INT32_MAX / 2);
    if (v->n_merges + n > *cap) {
        int grown_cap = (v->n_merges + n) * 2;
        char **grown = realloc(v->merges, (size_t)grown_cap * sizeof *grown);
        if (!grown) return flx_fail(err, "out of memory growing the merge list to %d", grown_cap);
        v->merges = grown;
        *cap = grown_cap;
    }
    for (int k = 0; k < n; k++) {
        char *merge = join_merge(token, splits[k].at, len, err);
        if (!merge) return -1;
        v->merges[v->n_merges++] = merge;
    }
    return 0;
}

static int build_vocab(flx_vocab *v, const ranked_tokens *t, const char *path, flx_error *err) {
    int n = t->n;
    v->kind = FLX_VOCAB_BPE;
    v->tokens = flx_calloc((size_t)n + N_SPECIAL, sizeof *v->tokens, err);
    v->types = flx_calloc((size_t)n + N_SPECIAL, sizeof *v->types, err);
    v->merges = flx_calloc((size_t)n, sizeof *v->merges, err);
    if (!v->tokens || !v->types || !v->merges) return -1;
    v->n_tokens = n + N_SPECIAL;

    for (int r = 0; r < n; r++) {
        v->tokens[r] = spell(t->bytes + t->offsets[r], t->offsets[r + 1] - t->offsets[r], err);
        if (!v->tokens[r]) return -1;
        v->types[r] = FLX_TOKEN_NORMAL;
    }
    for (int k = 0; k < N_SPECIAL; k++) {
        char name[64];
        special_name(k, name, sizeof name);
        v->tokens[n + k] = strdup(name);
        if (!v->tokens[n + k]) return flx_fail(err, "out of memory");
        v->types[n + k] = FLX_TOKEN_CONTROL;
    }

    /* NOTE: a token with no split into two tokens gets no merge. Only a
     * piece equal to the whole token produces it, as in tiktoken. */
    size_t max_len = 0;
    for (int r = 0; r < n; r++)
        if (t->offsets[r + 1] - t->offsets[r] > max_len) max_len = t->offsets[r + 1] - t->offsets[r];
    split *splits = flx_malloc(max_len * sizeof *splits, err);
    if (!splits) return -1;
    int rc = 0, cap = n;
    for (int r = 0; r < n && rc == 0; r++)
        if (t->offsets[r + 1] - t->offsets[r] >= 2) rc = add_merges(v, t, r, splits, &cap, path, err);
    free(splits);
    if (rc) return -1;

    snprintf(v->pre, sizeof v->pre, "llama-bpe");
    v->bos_id = n;
    v->eos_id = n + 1;
    v->eot_id = n + 9;
    v->add_bos = 1;
    v->add_space_prefix = 0;
    return 0;
}

int flx_vocab_load_tiktoken(flx_vocab **out, const char *path, flx_error *err) {
    *out = NULL;
    size_t size = 0;
    char *text = flx_read_text_file(path, &size, err);
    if (!text) return -1;

    ranked_tokens t = {0};
    flx_vocab *v = NULL;
    int rc = parse_lines(&t, text, size, path, err);
    free(text);
    if (rc == 0) {
        v = flx_calloc(1, sizeof *v, err);
        rc = v ? build_vocab(v, &t, path, err) : -1;
    }
    ranked_tokens_free(&t);
    if (rc) {
        flx_vocab_free(v);
        return -1;
    }
    *out = v;
    return 0;
}
