/* Byte-level BPE (Llama 3): the pre-tokenizer splits text into pieces, then
 * each piece starts as one token per byte and the adjacent pair with the
 * lowest merge rank is merged until no listed pair remains. Equal ranks
 * merge leftmost first, as tiktoken and Hugging Face tokenizers do. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/gpt2_bytes.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer_internal.h"

/* One merge: the pair (left, right) of token ids becomes token merged. */
typedef struct merge_slot {
    uint64_t pair; /* left << 32 | right */
    int32_t rank;  /* index in the merge list, -1 for an empty slot */
    int32_t merged;
} merge_slot;

struct flx_bpe {
    merge_slot *merges; /* [merge_capacity] open addressing, power-of-two size */
    size_t merge_capacity;
    int byte_ids[256];  /* token of each single byte, or -1 */
    flx_pretokenizer *pretokenizer;
};

static uint64_t pair_key(int32_t left, int32_t right) {
    return (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
}

static size_t pair_slot(const flx_bpe *bpe, uint64_t key) {
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 17) & (bpe->merge_capacity - 1);
}

static const merge_slot *find_merge(const flx_bpe *bpe, int32_t left, int32_t right) {
    uint64_t key = pair_key(left, right);
    size_t mask = bpe->merge_capacity - 1;
    for (size_t i = pair_slot(bpe, key);; i = (i + 1) & mask) {
        const merge_slot *s = &bpe->merges[i];
        if (s->rank < 0) return NULL;
        if (s->pair == key) return s;
    }
}

/* Keeps the first (lowest) rank when a pair is listed twice. */
static void add_merge(flx_bpe *bpe, int32_t left, int32_t right, int32_t rank, int32_t merged) {
    uint64_t key = pair_key(left, right);
    size_t mask = bpe->merge_capacity - 1;
    size_t i = pair_slot(bpe, key);
    while (bpe->merges[i].rank >= 0) {
        if (bpe->merges[i].pair == key) return;
        i = (i + 1) & mask;
    }
    bpe->merges[i] = (merge_slot){key, rank, merged};
}

void flx_bpe_free(flx_bpe *bpe) {
    if (!bpe) return;
    free(bpe->merges);
    flx_pretokenizer_free(bpe->pretokenizer);
    free(bpe);
}

static int token_is_literal(const flx_vocab *vocab, int i) {
    int type = vocab->types ? vocab->types[i] : FLX_TOKEN_NORMAL;
    return type == FLX_TOKEN_CONTROL || type == FLX_TOKEN_USER_DEFINED;
}

/* Control and user-defined tokens are spelled literally (e.g. "<|eot_id|>");
 * every other token is in GPT-2 byte-to-unicode spelling. */
static int build_pieces(flx_tokenizer *tok, const flx_vocab *vocab, flx_error *err) {
    for (int i = 0; i < vocab->n_tokens; i++) {
        const char *spelling = vocab->tokens[i];
        if (!spelling) return flx_fail(err, "BPE vocabulary: token %d has no text", i);
        size_t len = strlen(spelling);
        char *piece = flx_malloc(len + 1, err);
        if (!piece) return -1;
        tok->pieces[i] = piece;
        if (token_is_literal(vocab, i)) {
            memcpy(piece, spelling, len + 1);
            tok->piece_lens[i] = (uint32_t)len;
            continue;
        }
        long n = flx_gpt2_unspell(spelling, len, (uint8_t *)piece);
        if (n < 0)
            return flx_fail(err,
                            "BPE vocabulary: token %d \"%.60s\" is not in GPT-2 byte-level "
                            "spelling (a code point outside the byte-to-unicode table); the "
                            "vocabulary is not a byte-level BPE one",
                            i, spelling);
        piece[n] = '\0';
        tok->piece_lens[i] = (uint32_t)n;
    }

    if (flx_strmap_init(&tok->piece_ids, (size_t)vocab->n_tokens, err)) return -1;
    for (int i = 0; i < vocab->n_tokens; i++) {
        int type = vocab->types ? vocab->types[i] : FLX_TOKEN_NORMAL;
        if (type == FLX_TOKEN_CONTROL || tok->piece_lens[i] == 0) continue;
        flx_strmap_put(&tok->piece_ids, tok->pieces[i], tok->piece_lens[i], i);
    }
    for (int b = 0; b < 256; b++) {
        char byte = (char)b;
        tok->bpe->byte_ids[b] = flx_strmap_get(&tok->piece_ids, &byte, 1);
    }
    return 0;
}

/* Looks up each "left right" merge in the vocabulary's own spelling. */
static int build_merges(flx_bpe *bpe, const flx_vocab *vocab, flx_error *err) {
    size_t cap = 16;
    while (cap < (size_t)vocab->n_merges * 2 + 1) cap <<= 1;
    bpe->merges = flx_malloc(cap * sizeof *bpe->merges, err);
    if (!bpe->merges) return -1;
    bpe->merge_capacity = cap;
    for (size_t i = 0; i < cap; i++) bpe->merges[i].rank = -1;

    flx_strmap spelling_ids;
    if (flx_strmap_init(&spelling_ids, (size_t)vocab->n_tokens, err)) return -1;
    for (int i = 0; i < vocab->n_tokens; i++) {
        if (token_is_literal(vocab, i)) continue;
        flx_strmap_put(&spelling_ids, vocab->tokens[i], (uint32_t)strlen(vocab->tokens[i]), i);
    }

    char *joined = NULL;
    size_t joined_cap = 0;
    int rc = 0;
    for (int m = 0; m < vocab->n_merges && rc == 0; m++) {
        const char *text = vocab->merges[m];
        if (!text) {
            rc = flx_fail(err, "BPE vocabulary: merge %d is missing", m);
            break;
        }
        const char *space = strchr(text, ' ');
        size_t len = strlen(text);
        if (!space || space == text || space[1] == '\0' || strchr(space + 1, ' ')) {
            rc = flx_fail(err,
                          "BPE vocabulary: merge %d \"%.80s\" is not two tokens separated by one "
                          "space",
                          m, text);
            break;
        }
        uint32_t left_len = (uint32_t)(space - text);
        uint32_t right_len = (uint32_t)(len - left_len - 1);
        int32_t left = flx_strmap_get(&spelling_ids, text, left_len);
        int32_t right = flx_strmap_get(&spelling_ids, space + 1, right_len);
        if (len > joined_cap) {
            free(joined);
            joined_cap = len * 2;
            joined = flx_malloc(joined_cap, err);
            if (!joined) {
                rc = -1;
                break;
            }
        }
        memcpy(joined, text, left_len);
        memcpy(joined + left_len, space + 1, right_len);
        int32_t merged = flx_strmap_get(&spelling_ids, joined, left_len + right_len);
        if (left < 0 || right < 0 || merged < 0) {
            const char *missing = "merged token";
            if (left < 0) missing = "left token";
            else if (right < 0) missing = "right token";
            rc = flx_fail(err, "BPE vocabulary: merge %d \"%.80s\": its %s is not in the vocabulary",
                          m, text, missing);
            break;
        }
        add_merge(bpe, left, right, m, merged);
    }
    free(joined);
    flx_strmap_free(&spelling_ids);
    return rc;
}

int flx_bpe_build(flx_tokenizer *tok, const flx_vocab *vocab, flx_error *err) {
    /* The pre-tokenizer is Llama 3's; other byte-level BPE models (GPT-2,
     * Qwen, ...) split text differently and would get wrong tokens. */
    if (vocab->pre[0] && strcmp(vocab->pre, "llama-bpe") != 0)
        return flx_fail(err,
                        "BPE vocabulary: pre-tokenizer \"%s\" is not supported; only Llama 3 "
                        "(\"llama-bpe\") byte-level BPE is implemented",
                        vocab->pre);
    if (vocab->n_tokens <= 0 || !vocab->tokens)
        return flx_fail(err, "BPE vocabulary: no tokens (n_tokens = %d)", vocab->n_tokens);
    if (vocab->n_merges < 0 || (vocab->n_merges > 0 && !vocab->merges))
        return flx_fail(err, "BPE vocabulary: invalid merge list (n_merges = %d)", vocab->n_merges);

    tok->bpe = flx_calloc(1, sizeof *tok->bpe, err);
    if (!tok->bpe) return -1;
    if (flx_pretokenizer_create(&tok->bpe->pretokenizer, err)) return -1;
    if (build_pieces(tok, vocab, err)) return -1;
    return build_merges(tok->bpe, vocab, err);
}

/* A candidate merge of the symbol at left with the symbol after it. */
typedef struct heap_entry {
    int32_t rank;
    int32_t left;           /* symbol index = byte offset of its first byte */
    int32_t left_id, right_id; /* the pair when pushed, to detect stale entries */
    int32_t merged;
} heap_entry;

/* Per-call scratch space, so one tokenizer can encode from several threads. */
typedef struct encoder {
    const flx_tokenizer *tok;
    flx_ids *out;
    int32_t *ids, *prev, *next; /* [cap] symbols; ids[i] < 0 once merged away */
    heap_entry *heap;           /* [3 * cap] */
    size_t cap;
    int heap_len;
} encoder;

static int entry_before(const heap_entry *a, const heap_entry *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static void heap_push(encoder *e, heap_entry entry) {
    int i = e->heap_len++;
    while (i > 0) {
        int parent = (i - 1) / 2;
        if (!entry_before(&entry, &e->heap[parent])) break;
        e->heap[i] = e->heap[parent];
        i = parent;
    }
    e->heap[i] = entry;
}

static heap_entry heap_pop(encoder *e) {
    heap_entry top = e->heap[0];
    heap_entry last = e->heap[--e->heap_len];
    int i = 0, n = e->heap_len;
    for (;;) {
        int child = 2 * i + 1;
        if (child >= n) break;
        if (child + 1 < n && entry_before(&e->heap[child + 1], &e->heap[child])) child++;
        if (!entry_before(&e->heap[child], &last)) break;
        e->heap[i] = e->heap[child];
        i = child;
    }
    if (n > 0) e->heap[i] = last;
    return top;
}

static void push_pair(encoder *e, int32_t left) {
    if (left < 0 || e->next[left] < 0) return;
    int32_t right = e->next[left];
    const merge_slot *m = find_merge(e->tok->bpe, e->ids[left], e->ids[right]);
    if (m) heap_push(e, (heap_entry){m->rank, left, e->ids[left], e->ids[right], m->merged});
}

static int reserve(encoder *e, size_t n, flx_error *err) {
    if (n <= e->cap) return 0;
    if (n > INT32_MAX / 3)
        return flx_fail(err, "BPE: a pre-tokenized piece of %zu bytes is too long to encode", n);
    size_t cap = e->cap ? e->cap : 64;
    while (cap < n) cap *= 2;
    free(e->ids);
    free(e->prev);
    free(e->next);
    free(e->heap);
    e->ids = malloc(cap * sizeof *e->ids);
    e->prev = malloc(cap * sizeof *e->prev);
    e->next = malloc(cap * sizeof *e->next);
    e->heap = malloc(3 * cap * sizeof *e->heap);
    e->cap = cap;
    if (!e->ids || !e->prev || !e->next || !e->heap) {
        e->cap = 0;
        return flx_fail(err, "out of memory encoding a piece of %zu bytes", n);
    }
    return 0;
}

static int encode_piece(void *ctx, const char *piece, size_t len, flx_error *err) {
    encoder *e = ctx;
    const flx_tokenizer *tok = e->tok;

    /* A piece that is itself a token is emitted whole, as tiktoken does and
     * Llama 3's tokenizer.json requests with "ignore_merges". */
    if (len <= UINT32_MAX) {
        int32_t whole = flx_strmap_get(&tok->piece_ids, piece, (uint32_t)len);
        if (whole >= 0) return flx_ids_push(e->out, whole, err);
    }

    if (reserve(e, len, err)) return -1;
    const uint8_t *bytes = (const uint8_t *)piece;
    for (size_t i = 0; i < len; i++) {
        int id = tok->bpe->byte_ids[bytes[i]];
        if (id < 0)
            return flx_fail(err, "BPE: byte 0x%02X has no token in this vocabulary, so it cannot "
                                 "be encoded",
                            bytes[i]);
        e->ids[i] = id;
        e->prev[i] = (int32_t)i - 1;
        e->next[i] = i + 1 < len ? (int32_t)i + 1 : -1;
    }

    e->heap_len = 0;
    for (size_t i = 0; i + 1 < len; i++) push_pair(e, (int32_t)i);
    while (e->heap_len > 0) {
        heap_entry top = heap_pop(e);
        int32_t left = top.left, right = e->next[left];
        if (e->ids[left] != top.left_id || right < 0 || e->ids[right] != top.right_id) continue;

        e->ids[left] = top.merged;
        e->ids[right] = -1;
        e->next[left] = e->next[right];
        if (e->next[left] >= 0) e->prev[e->next[left]] = left;
        push_pair(e, e->prev[left]);
        push_pair(e, left);
    }

    for (int32_t i = 0; i >= 0; i = e->next[i])
        if (flx_ids_push(e->out, e->ids[i], err)) return -1;
    return 0;
}

/* NOTE: Meta's llama/tokenizer.py also cuts its input into 400,000-character
 * chunks and runs of at most 25,000 white-space or non-white-space
 * characters before encoding. This encoder does not, like llama.cpp and
 * Hugging Face tokenizers, so ids can differ from Meta's code at such cuts. */
int flx_bpe_encode(const flx_tokenizer *tok, const char *text, size_t len, flx_ids *out,
                   flx_error *err) {
    if (!tok->bpe) return flx_fail(err, "BPE: the tokenizer has no merge table (not a BPE vocabulary)");
    if (len == 0) return 0;
    encoder e = {.tok = tok, .out = out};
    int rc = flx_pretokenizer_split(tok->bpe->pretokenizer, text, len, encode_piece, &e, err);
    free(e.ids);
    free(e.prev);
    free(e.next);
    free(e.heap);
    return rc;
}
