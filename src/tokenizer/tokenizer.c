/* Tokenizer construction, loading by file content, special-token splitting,
 * and decoding. The merge algorithms live in spm.c and bpe.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mapped_file.h"
#include "tokenizer/tokenizer_internal.h"
#include "tokenizer/utf8.h"

int flx_ids_push(flx_ids *ids, int32_t id, flx_error *err) {
    if (ids->n == ids->cap) {
        int cap = ids->cap ? ids->cap * 2 : 256;
        int32_t *grown = realloc(ids->data, (size_t)cap * sizeof *grown);
        if (!grown) return flx_fail(err, "out of memory growing the token list to %d ids", cap);
        ids->data = grown;
        ids->cap = cap;
    }
    ids->data[ids->n++] = id;
    return 0;
}

/* Parses "<0xAB>" into 0xAB; returns -1 for other spellings. */
static int parse_byte_token(const char *s) {
    static const char hex[] = "0123456789ABCDEF";
    if (strlen(s) != 6 || strncmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    const char *hi = strchr(hex, s[3]), *lo = strchr(hex, s[4]);
    if (!hi || !lo || !s[3] || !s[4]) return -1;
    return (int)((hi - hex) * 16 + (lo - hex));
}

/* Converts SentencePiece spelling to text: U+2581 becomes a space. */
static char *spm_piece_text(const char *spelling, uint32_t *len_out) {
    size_t n = strlen(spelling);
    char *out = malloc(n + 1);
    if (!out) return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n;) {
        if ((unsigned char)spelling[i] == 0xE2 && i + 2 < n &&
            (unsigned char)spelling[i + 1] == 0x96 && (unsigned char)spelling[i + 2] == 0x81) {
            out[j++] = ' ';
            i += 3;
        } else {
            out[j++] = spelling[i++];
        }
    }
    out[j] = '\0';
    *len_out = (uint32_t)j;
    return out;
}

static int spm_build(flx_tokenizer *tok, const flx_vocab *vocab, flx_error *err) {
    for (int b = 0; b < 256; b++) tok->byte_ids[b] = -1;
    if (flx_strmap_init(&tok->piece_ids, (size_t)vocab->n_tokens, err) != 0) return -1;
    for (int i = 0; i < vocab->n_tokens; i++) {
        int type = tok->types[i];
        int byte = type == FLX_TOKEN_BYTE || type == FLX_TOKEN_NORMAL ? parse_byte_token(vocab->tokens[i]) : -1;
        if (byte >= 0 && type == FLX_TOKEN_BYTE) {
            tok->pieces[i] = malloc(2);
            if (!tok->pieces[i]) return flx_fail(err, "out of memory");
            tok->pieces[i][0] = (char)byte;
            tok->pieces[i][1] = '\0';
            tok->piece_lens[i] = 1;
            if (tok->byte_ids[byte] < 0) tok->byte_ids[byte] = i;
            continue;
        }
        tok->pieces[i] = spm_piece_text(vocab->tokens[i], &tok->piece_lens[i]);
        if (!tok->pieces[i]) return flx_fail(err, "out of memory");
        if (type == FLX_TOKEN_NORMAL || type == FLX_TOKEN_USER_DEFINED)
            flx_strmap_put(&tok->piece_ids, tok->pieces[i], tok->piece_lens[i], i);
    }
    return 0;
}

int flx_tokenizer_from_vocab(flx_tokenizer **out, const flx_vocab *vocab, flx_error *err) {
    *out = NULL;
    if (vocab->n_tokens <= 0) return flx_fail(err, "vocabulary has no tokens");
    flx_tokenizer *tok = flx_calloc(1, sizeof *tok, err);
    if (!tok) return -1;
    int n = vocab->n_tokens;
    tok->kind = vocab->kind;
    tok->n_vocab = n;
    tok->pieces = flx_calloc((size_t)n, sizeof *tok->pieces, err);
    tok->piece_lens = flx_calloc((size_t)n, sizeof *tok->piece_lens, err);
    tok->types = flx_calloc((size_t)n, sizeof *tok->types, err);
    tok->special_text = flx_calloc((size_t)n, sizeof *tok->special_text, err);
    if (!tok->pieces || !tok->piece_lens || !tok->types || !tok->special_text) goto fail;
    for (int i = 0; i < n; i++) tok->types[i] = vocab->types ? vocab->types[i] : FLX_TOKEN_NORMAL;
    if (vocab->scores) {
        tok->scores = flx_malloc((size_t)n * sizeof *tok->scores, err);
        if (!tok->scores) goto fail;
        memcpy(tok->scores, vocab->scores, (size_t)n * sizeof *tok->scores);
    }
    tok->bos = vocab->bos_id < n ? vocab->bos_id : -1;
    tok->eos = vocab->eos_id < n ? vocab->eos_id : -1;
    tok->eot = vocab->eot_id < n ? vocab->eot_id : -1;
    tok->unk = -1;
    for (int i = 0; i < n && tok->unk < 0; i++)
        if (tok->types[i] == FLX_TOKEN_UNKNOWN) tok->unk = i;
    tok->add_bos = vocab->add_bos;
    tok->add_space_prefix = vocab->add_space_prefix;

    if (vocab->kind == FLX_VOCAB_SPM) {
        if (spm_build(tok, vocab, err) != 0) goto fail;
    } else if (vocab->kind == FLX_VOCAB_BPE) {
        if (flx_bpe_build(tok, vocab, err) != 0) goto fail;
    } else {
        flx_fail(err, "unknown vocabulary kind %d", (int)vocab->kind);
        goto fail;
    }

    /* Control and user-defined tokens can be written literally in text when
     * the caller asks for special-token parsing. */
    int n_special = 0;
    for (int i = 0; i < n; i++)
        if (tok->types[i] == FLX_TOKEN_CONTROL || tok->types[i] == FLX_TOKEN_USER_DEFINED) n_special++;
    if (flx_strmap_init(&tok->special_ids, (size_t)n_special + 1, err) != 0) goto fail;
    for (int i = 0; i < n; i++) {
        if (tok->types[i] != FLX_TOKEN_CONTROL && tok->types[i] != FLX_TOKEN_USER_DEFINED) continue;
        if (!vocab->tokens[i][0]) continue;
        tok->special_text[i] = strdup(vocab->tokens[i]);
        if (!tok->special_text[i]) {
            flx_fail(err, "out of memory");
            goto fail;
        }
        flx_strmap_put(&tok->special_ids, tok->special_text[i], (uint32_t)strlen(tok->special_text[i]), i);
    }
    *out = tok;
    return 0;

fail:
    flx_tokenizer_free(tok);
    return -1;
}

void flx_tokenizer_free(flx_tokenizer *tok) {
    if (!tok) return;
    for (int i = 0; i < tok->n_vocab; i++) {
        if (tok->pieces) free(tok->pieces[i]);
        if (tok->special_text) free(tok->special_text[i]);
    }
    free(tok->pieces);
    free(tok->special_text);
    free(tok->piece_lens);
    free(tok->types);
    free(tok->scores);
    flx_strmap_free(&tok->piece_ids);
    flx_strmap_free(&tok->special_ids);
    if (tok->bpe) flx_bpe_free(tok->bpe);
    free(tok);
}

/* Recognizes a tokenizer file by its first bytes. */
int flx_vocab_load(flx_vocab **out, const char *path, flx_error *err) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return flx_fail(err, "%s: tokenizer file not found or unreadable", path);
    unsigned char head[64] = {0};
    size_t got = fread(head, 1, sizeof head, f);
    fclose(f);
    if (got == 0) return flx_fail(err, "%s: tokenizer file is empty", path);
    if (got >= 4 && memcmp(head, "GGUF", 4) == 0) return flx_vocab_load_gguf(out, path, err);
    size_t i = 0;
    while (i < got && (head[i] == ' ' || head[i] == '\n' || head[i] == '\r' || head[i] == '\t')) i++;
    if (i < got && head[i] == '{') return flx_vocab_load_hf_json(out, path, err);
    /* tiktoken: "<base64> <rank>\n" lines of printable ASCII. */
    int printable = 1, has_space = 0;
    for (size_t j = 0; j < got && head[j] != '\n'; j++) {
        if (head[j] == ' ') has_space = 1;
        else if (head[j] < 0x21 || head[j] > 0x7e) printable = 0;
    }
    if (printable && has_space) return flx_vocab_load_tiktoken(out, path, err);
    /* A SentencePiece ModelProto starts with field 1 (pieces), a
     * length-delimited message: tag byte 0x0A. */
    if (head[0] == 0x0A)
        return flx_fail(err,
                        "%s: SentencePiece .model (protobuf) files are not supported; use the "
                        "llama2.c tokenizer .bin exported from it, or the model's GGUF file",
                        path);
    int32_t max_len;
    memcpy(&max_len, head, sizeof max_len);
    if (got < 4 || max_len <= 0 || max_len > 4096)
        return flx_fail(err,
                        "%s: not a recognized tokenizer file; expected a llama2.c tokenizer .bin, "
                        "a tiktoken rank file (Llama 3 tokenizer.model), tokenizer.json, or a GGUF file",
                        path);
    return flx_vocab_load_llama2c(out, path, err);
}

int flx_tokenizer_load(flx_tokenizer **out, const char *path, flx_error *err) {
    flx_vocab *vocab = NULL;
    *out = NULL;
    if (flx_vocab_load(&vocab, path, err) != 0) return -1;
    int rc = flx_tokenizer_from_vocab(out, vocab, err);
    if (rc != 0) flx_error_prefix(err, path);
    flx_vocab_free(vocab);
    return rc;
}

/* Finds the longest special-token spelling that starts at text[pos]. */
static int match_special(const flx_tokenizer *tok, const char *text, size_t len, size_t pos,
                         size_t *match_len) {
    int best = -1;
    size_t best_len = 0;
    if (text[pos] != '<') return -1;
    for (size_t end = pos + 2; end <= len && end - pos <= 64; end++) {
        if (text[end - 1] != '>') continue;
        int32_t id = flx_strmap_get(&tok->special_ids, text + pos, (uint32_t)(end - pos));
        if (id >= 0) {
            best = id;
            best_len = end - pos;
        }
    }
    *match_len = best_len;
    return best;
}

static int encode_fragment(const flx_tokenizer *tok, const char *text, size_t len, int space_prefix,
                           flx_ids *ids, flx_error *err) {
    if (tok->kind == FLX_VOCAB_BPE) return flx_bpe_encode(tok, text, len, ids, err);
    if (!space_prefix) return flx_spm_encode(tok, text, len, ids, err);
    char *prefixed = flx_malloc(len + 2, err);
    if (!prefixed) return -1;
    prefixed[0] = ' ';
    memcpy(prefixed + 1, text, len);
    prefixed[len + 1] = '\0';
    int rc = flx_spm_encode(tok, prefixed, len + 1, ids, err);
    free(prefixed);
    return rc;
}

int flx_tokenizer_encode(const flx_tokenizer *tok, const char *text, size_t len, int flags,
                         int32_t **out, int *n_out, flx_error *err) {
    flx_ids ids = {0};
    *out = NULL;
    *n_out = 0;
    if ((flags & FLX_ENCODE_BOS) && tok->bos >= 0 && flx_ids_push(&ids, tok->bos, err) != 0) goto fail;
    /* SentencePiece adds a space in front of the text, and again after each
     * special token, so that the first word gets its word-start piece. */
    int space_prefix = tok->kind == FLX_VOCAB_SPM && tok->add_space_prefix;
    size_t start = 0;
    if (flags & FLX_ENCODE_SPECIAL) {
        for (size_t pos = 0; pos < len; pos++) {
            size_t match_len = 0;
            int id = match_special(tok, text, len, pos, &match_len);
            if (id < 0) continue;
            if (pos > start &&
                encode_fragment(tok, text + start, pos - start, space_prefix, &ids, err) != 0)
                goto fail;
            if (flx_ids_push(&ids, id, err) != 0) goto fail;
            start = pos + match_len;
            pos = start - 1;
        }
    }
    if (len > start && encode_fragment(tok, text + start, len - start, space_prefix, &ids, err) != 0)
        goto fail;
    *out = ids.data;
    *n_out = ids.n;
    return 0;
fail:
    free(ids.data);
    return -1;
}

const char *flx_tokenizer_piece(const flx_tokenizer *tok, int prev_id, int id, size_t *len) {
    *len = 0;
    if (id < 0 || id >= tok->n_vocab) return "";
    int type = tok->types[id];
    if (type == FLX_TOKEN_CONTROL || type == FLX_TOKEN_UNKNOWN || type == FLX_TOKEN_UNUSED) return "";
    const char *p = tok->pieces[id];
    size_t n = tok->piece_lens[id];
    /* The space SentencePiece put before the first word is not part of the text. */
    if (tok->kind == FLX_VOCAB_SPM && tok->add_space_prefix && (prev_id < 0 || prev_id == tok->bos) &&
        n > 0 && p[0] == ' ') {
        p++;
        n--;
    }
    *len = n;
    return p;
}

int flx_tokenizer_decode(const flx_tokenizer *tok, const int32_t *ids, int n_ids, char **text,
                         size_t *len_out, flx_error *err) {
    size_t cap = 64, len = 0;
    char *buf = flx_malloc(cap, err);
    if (!buf) return -1;
    for (int i = 0; i < n_ids; i++) {
        if (ids[i] < 0 || ids[i] >= tok->n_vocab) {
            free(buf);
            return flx_fail(err, "invalid token id %d at position %d (vocabulary has %d tokens)",
                            ids[i], i, tok->n_vocab);
        }
        size_t n;
        const char *p = flx_tokenizer_piece(tok, i ? ids[i - 1] : -1, ids[i], &n);
        if (len + n + 1 > cap) {
            while (len + n + 1 > cap) cap *= 2;
            char *grown = realloc(buf, cap);
            if (!grown) {
                free(buf);
                return flx_fail(err, "out of memory decoding %d tokens", n_ids);
            }
            buf = grown;
        }
        memcpy(buf + len, p, n);
        len += n;
    }
    buf[len] = '\0';
    *text = buf;
    if (len_out) *len_out = len;
    return 0;
}

int flx_tokenizer_vocab_size(const flx_tokenizer *tok) { return tok->n_vocab; }
int flx_tokenizer_bos(const flx_tokenizer *tok) { return tok->bos; }
int flx_tokenizer_eos(const flx_tokenizer *tok) { return tok->eos; }
flx_vocab_kind flx_tokenizer_kind(const flx_tokenizer *tok) { return tok->kind; }

int flx_tokenizer_is_stop(const flx_tokenizer *tok, int id) {
    return id >= 0 && (id == tok->eos || id == tok->eot);
}
