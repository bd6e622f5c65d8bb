/* SentencePiece-style BPE encoding: start from UTF-8 characters, repeatedly
 * merge the adjacent pair whose concatenation is a vocabulary piece with the
 * highest score (leftmost on ties), then spell pieces missing from the
 * vocabulary as byte-fallback tokens. A heap keeps this O(n log n), so a
 * whole evaluation text can be encoded in one call. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer_internal.h"
#include "tokenizer/utf8.h"

typedef struct spm_symbol {
    size_t start;
    uint32_t len;   /* 0 once merged into its left neighbour */
    int prev, next; /* -1 at the ends */
} spm_symbol;

typedef struct spm_candidate {
    float score;
    int left;       /* symbol index */
    uint32_t size;  /* bytes of the merged piece, to detect stale entries */
} spm_candidate;

typedef struct spm_heap {
    spm_candidate *items;
    size_t n, cap;
} spm_heap;

/* Orders candidates: higher score first, then the leftmost. */
static int ranks_before(const spm_candidate *a, const spm_candidate *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static int heap_push(spm_heap *h, spm_candidate c, flx_error *err) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 1024;
        spm_candidate *grown = realloc(h->items, cap * sizeof *grown);
        if (!grown) return flx_fail(err, "out of memory in the SentencePiece encoder");
        h->items = grown;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!ranks_before(&c, &h->items[parent])) break;
        h->items[i] = h->items[parent];
        i = parent;
    }
    h->items[i] = c;
    return 0;
}

static spm_candidate heap_pop(spm_heap *h) {
    spm_candidate top = h->items[0];
    spm_candidate last = h->items[--h->n];
    size_t i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->n) break;
        if (child + 1 < h->n && ranks_before(&h->items[child + 1], &h->items[child])) child++;
        if (!ranks_before(&h->items[child], &last)) break;
        h->items[i] = h->items[child];
        i = child;
    }
    if (h->n) h->items[i] = last;
    return top;
}

/* Queues the merge of symbols left and its right neighbour if the result is
 * a vocabulary piece. */
static int try_pair(const flx_tokenizer *tok, const char *text, const spm_symbol *sym, int left,
                    spm_heap *heap, flx_error *err) {
    if (left < 0 || sym[left].next < 0) return 0;
    int right = sym[left].next;
    uint32_t size = sym[left].len + sym[right].len;
    int32_t id = flx_strmap_get(&tok->piece_ids, text + sym[left].start, size);
    if (id < 0) return 0;
    spm_candidate c = {tok->scores ? tok->scores[id] : 0.0f, left, size};
    return heap_push(heap, c, err);
}

int flx_spm_encode(const flx_tokenizer *tok, const char *text, size_t len, flx_ids *out,
                   flx_error *err) {
    if (len == 0) return 0;
    spm_symbol *sym = flx_malloc(len * sizeof *sym, err);
    if (!sym) return -1;
    spm_heap heap = {0};
    int rc = -1;

    /* Split into UTF-8 characters; an invalid byte becomes its own symbol. */
    int n = 0;
    for (size_t i = 0; i < len;) {
        size_t clen = flx_utf8_seq_len((const unsigned char *)text + i, len - i);
        if (clen == 0) clen = 1;
        sym[n].start = i;
        sym[n].len = (uint32_t)clen;
        sym[n].prev = n - 1;
        sym[n].next = i + clen < len ? n + 1 : -1;
        n++;
        i += clen;
    }

    for (int i = 0; i + 1 < n; i++)
        if (try_pair(tok, text, sym, i, &heap, err) != 0) goto done;

    while (heap.n > 0) {
        spm_candidate c = heap_pop(&heap);
        spm_symbol *left = &sym[c.left];
        if (left->len == 0 || left->next < 0) continue;
        spm_symbol *right = &sym[left->next];
        if (left->len + right->len != c.size) continue; /* stale */
        left->len += right->len;
        right->len = 0;
        left->next = right->next;
        if (right->next >= 0) sym[right->next].prev = c.left;
        if (try_pair(tok, text, sym, left->prev, &heap, err) != 0) goto done;
        if (try_pair(tok, text, sym, c.left, &heap, err) != 0) goto done;
    }

    for (int i = 0; i >= 0 && n > 0; i = sym[i].next) {
        int32_t id = flx_strmap_get(&tok->piece_ids, text + sym[i].start, sym[i].len);
        if (id >= 0) {
            if (flx_ids_push(out, id, err) != 0) goto done;
            continue;
        }
        for (uint32_t b = 0; b < sym[i].len; b++) {
            int byte_id = tok->byte_ids[(unsigned char)text[sym[i].start + b]];
            if (byte_id < 0) byte_id = tok->unk;
            if (byte_id < 0) {
                flx_fail(err, "byte 0x%02X at offset %zu has no token and the vocabulary has no <unk>",
                         (unsigned char)text[sym[i].start + b], sym[i].start + b);
                goto done;
            }
            if (flx_ids_push(out, byte_id, err) != 0) goto done;
        }
    }
    rc = 0;
done:
    free(heap.items);
    free(sym);
    return rc;
}
