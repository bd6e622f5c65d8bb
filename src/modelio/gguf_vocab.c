/* The vocabulary stored in a GGUF file's tokenizer.ggml.* keys. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/mapped_file.h"
#include "modelio/gguf.h"
#include "modelio/gguf_writer.h"

#define FLX_GGUF_MAX_VOCAB (1 << 22)
#define FLX_GGUF_MAX_MERGES (1 << 23)

/* Returns the byte length of the valid UTF-8 sequence at s (shortest form,
 * no surrogates, at most U+10FFFF), or 0 when it is invalid. */
static size_t utf8_sequence_length(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t len;
    uint32_t cp, min;
    if (c < 0x80) return 1;
    if ((c & 0xe0) == 0xc0) {
        len = 2, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        len = 3, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
        len = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

/* Returns the byte offset of the first invalid UTF-8 sequence or NUL byte,
 * or -1 when the string is valid. */
static long long first_invalid_utf8(flx_gguf_string s) {
    const unsigned char *p = (const unsigned char *)s.ptr;
    size_t i = 0;
    while (i < s.len) {
        size_t n = p[i] ? utf8_sequence_length(p + i, (size_t)s.len - i) : 0;
        if (n == 0) return (long long)i;
        i += n;
    }
    return -1;
}

static char *copy_string(flx_gguf_string s, flx_error *err) {
    char *out = flx_malloc((size_t)s.len + 1, err);
    if (!out) return NULL;
    memcpy(out, s.ptr, (size_t)s.len);
    out[s.len] = '\0';
    return out;
}

/* Reads an array of n_tokens strings into a NULL-filled table. kind names
 * the entries ("token", "merge") in messages. */
static int read_string_array(const flx_gguf_value *array, char **table, const char *kind,
                             const char *path, flx_error *err) {
    uint64_t pos = 0;
    for (uint64_t i = 0; i < array->as.array.count; i++) {
        flx_gguf_value elem;
        if (flx_gguf_array_next(array, &pos, &elem) != 0)
            return flx_fail(err, "%s: internal error reading %s %" PRIu64, path, kind, i);
        long long bad = first_invalid_utf8(elem.as.str);
        if (bad >= 0)
            return flx_fail(err,
                            "%s: vocabulary %s %" PRIu64
                            " is not valid UTF-8 (invalid byte 0x%02x at offset %lld)",
                            path, kind, i, (unsigned char)elem.as.str.ptr[bad], bad);
        table[i] = copy_string(elem.as.str, err);
        if (!table[i]) return -1;
    }
    return 0;
}

/* Reads a numeric array of exactly n elements of the given type. */
static int read_number_array(const flx_gguf *g, const char *key, flx_gguf_type type, int n,
                             const flx_gguf_value **out, const char *path, flx_error *err) {
    const flx_gguf_kv *kv = flx_gguf_find(g, key);
    *out = NULL;
    if (!kv) return 0;
    flx_gguf_value v;
    if (flx_gguf_get_array(g, key, (int)type, &v, path, err) < 0) return -1;
    if (v.as.array.count != (uint64_t)n)
        return flx_fail(err, "%s: %s has %" PRIu64 " entries but the vocabulary has %d tokens",
                        path, key, v.as.array.count, n);
    *out = &kv->value;
    return 1;
}

static int read_special_id(const flx_gguf *g, const char *key, int n_tokens, int *out,
                           const char *path, flx_error *err) {
    int64_t id;
    int found = flx_gguf_get_int(g, key, 0, INT32_MAX, &id, path, err);
    if (found < 0) return -1;
    if (found == 0) return 0;
    if (id >= n_tokens)
        return flx_fail(err, "%s: %s = %" PRId64 " is not a token id (the vocabulary has %d tokens)",
                        path, key, id, n_tokens);
    *out = (int)id;
    return 0;
}

static int read_tokens(const flx_gguf *g, flx_vocab *v, const char *path, flx_error *err) {
    flx_gguf_value tokens;
    int found = flx_gguf_get_array(g, "tokenizer.ggml.tokens", FLX_GGUF_STRING, &tokens, path, err);
    if (found < 0) return -1;
    if (found == 0)
        return flx_fail(err, "%s: vocabulary without tokenizer.ggml.tokens", path);
    if (tokens.as.array.count == 0 || tokens.as.array.count > FLX_GGUF_MAX_VOCAB)
        return flx_fail(err, "%s: tokenizer.ggml.tokens has %" PRIu64 " tokens (expected 1 to %d)",
                        path, tokens.as.array.count, FLX_GGUF_MAX_VOCAB);
    v->tokens = flx_calloc((size_t)tokens.as.array.count, sizeof *v->tokens, err);
    if (!v->tokens) return -1;
    v->n_tokens = (int)tokens.as.array.count;
    if (read_string_array(&tokens, v->tokens, "token", path, err) != 0) return -1;

    const flx_gguf_value *scores, *types;
    if (read_number_array(g, "tokenizer.ggml.scores", FLX_GGUF_FLOAT32, v->n_tokens, &scores, path, err) < 0 ||
        read_number_array(g, "tokenizer.ggml.token_type", FLX_GGUF_INT32, v->n_tokens, &types, path, err) < 0)
        return -1;
    if (scores) {
        v->scores = flx_malloc((size_t)v->n_tokens * sizeof *v->scores, err);
        if (!v->scores) return -1;
        memcpy(v->scores, scores->as.array.data, (size_t)v->n_tokens * sizeof *v->scores);
    }
    if (types) {
        v->types = flx_malloc((size_t)v->n_tokens * sizeof *v->types, err);
        if (!v->types) return -1;
        memcpy(v->types, types->as.array.data, (size_t)v->n_tokens * sizeof *v->types);
        for (int i = 0; i < v->n_tokens; i++)
            if (v->types[i] < 0 || v->types[i] > FLX_TOKEN_BYTE)
                return flx_fail(err, "%s: token %d has invalid token type %" PRId32 " (expected 0 to 6)",
                                path, i, v->types[i]);
    }
    return 0;
}

static int read_merges(const flx_gguf *g, flx_vocab *v, const char *path, flx_error *err) {
    flx_gguf_value merges;
    int found = flx_gguf_get_array(g, "tokenizer.ggml.merges", FLX_GGUF_STRING, &merges, path, err);
    if (found < 0) return -1;
    if (found == 0)
        return flx_fail(err, "%s: byte-level BPE vocabulary (gpt2) without tokenizer.ggml.merges",
                        path);
    if (merges.as.array.count > FLX_GGUF_MAX_MERGES)
        return flx_fail(err, "%s: tokenizer.ggml.merges has %" PRIu64 " entries (limit %d)", path,
                        merges.as.array.count, FLX_GGUF_MAX_MERGES);
    v->merges = flx_calloc((size_t)merges.as.array.count, sizeof *v->merges, err);
    if (!v->merges) return -1;
    v->n_merges = (int)merges.as.array.count;
    if (read_string_array(&merges, v->merges, "merge", path, err) != 0) return -1;
    for (int i = 0; i < v->n_merges; i++) {
        const char *space = strchr(v->merges[i], ' ');
        if (!space || space == v->merges[i] || space[1] == '\0')
            return flx_fail(err, "%s: merge %d \"%.60s\" is not two tokens separated by a space",
                            path, i, v->merges[i]);
    }
    return 0;
}

static int read_flags_and_ids(const flx_gguf *g, flx_vocab *v, const char *path, flx_error *err) {
    v->bos_id = v->eos_id = v->eot_id = -1;
    if (read_special_id(g, "tokenizer.ggml.bos_token_id", v->n_tokens, &v->bos_id, path, err) != 0 ||
        read_special_id(g, "tokenizer.ggml.eos_token_id", v->n_tokens, &v->eos_id, path, err) != 0 ||
        read_special_id(g, "tokenizer.ggml.eot_token_id", v->n_tokens, &v->eot_id, path, err) != 0)
        return -1;
    if (v->eot_id < 0)
        for (int i = 0; i < v->n_tokens; i++)
            if (strcmp(v->tokens[i], "<|eot_id|>") == 0) {
                v->eot_id = i;
                break;
            }
    /* Defaults as llama.cpp applies them: BOS for SentencePiece vocabularies,
     * and the leading space for them only. */
    v->add_bos = v->kind == FLX_VOCAB_SPM;
    v->add_space_prefix = v->kind == FLX_VOCAB_SPM;
    if (flx_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &v->add_bos, path, err) < 0 ||
        flx_gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &v->add_space_prefix, path, err) < 0)
        return -1;

    flx_gguf_string pre;
    int found = flx_gguf_get_string(g, "tokenizer.ggml.pre", &pre, path, err);
    if (found < 0) return -1;
    if (found) {
        if (pre.len >= sizeof v->pre)
            return flx_fail(err, "%s: tokenizer.ggml.pre \"%.*s\" is longer than %zu bytes", path,
                            (int)(pre.len > 64 ? 64 : pre.len), pre.ptr, sizeof v->pre - 1);
        memcpy(v->pre, pre.ptr, (size_t)pre.len);
        v->pre[pre.len] = '\0';
    }
    return 0;
}

int flx_gguf_read_vocab(const flx_gguf *g, flx_vocab **out, const char *path, flx_error *err) {
    *out = NULL;
    flx_gguf_string model;
    int found = flx_gguf_get_string(g, "tokenizer.ggml.model", &model, path, err);
    if (found <= 0) return found;
    if (flx_gguf_string_eq(model, "none") || flx_gguf_string_eq(model, "no_vocab")) return 0;

    flx_vocab *v = flx_calloc(1, sizeof *v, err);
    if (!v) return -1;
    if (flx_gguf_string_eq(model, "llama")) {
        v->kind = FLX_VOCAB_SPM;
    } else if (flx_gguf_string_eq(model, "gpt2")) {
        v->kind = FLX_VOCAB_BPE;
    } else {
        flx_fail(err,
                 "%s: tokenizer.ggml.model \"%.*s\" is not supported (expected \"llama\" or "
                 "\"gpt2\")",
                 path, (int)(model.len > 64 ? 64 : model.len), model.ptr);
        free(v);
        return -1;
    }
    if (read_tokens(g, v, path, err) != 0 ||
        (v->kind == FLX_VOCAB_BPE && read_merges(g, v, path, err) != 0) ||
        read_flags_and_ids(g, v, path, err) != 0) {
        flx_vocab_free(v);
        return -1;
    }
    *out = v;
    return 1;
}

int flx_vocab_load_gguf(flx_vocab **out, const char *path, flx_error *err) {
    *out = NULL;
    flx_mapped_file file;
    if (flx_map_file(&file, path, err) != 0) return -1;
    flx_gguf g;
    int rc = flx_gguf_parse(&g, file.data, file.size, path, err);
    if (rc == 0) {
        rc = flx_gguf_read_vocab(&g, out, path, err);
        if (rc == 0)
            rc = flx_fail(err, "%s: the file has no vocabulary (no tokenizer.ggml.model, or \"none\")",
                          path);
        flx_gguf_free(&g);
    }
    flx_unmap_file(&file);
    return rc < 0 ? -1 : 0;
}

int flx_gguf_write_vocab(flx_gguf_writer *w, const flx_vocab *v) {
    const int spm = v->kind == FLX_VOCAB_SPM;
    flx_gguf_writer_set_string(w, "tokenizer.ggml.model", spm ? "llama" : "gpt2");
    if (v->pre[0]) flx_gguf_writer_set_string(w, "tokenizer.ggml.pre", v->pre);
    flx_gguf_writer_set_string_array(w, "tokenizer.ggml.tokens", (const char *const *)v->tokens,
                                     (uint64_t)v->n_tokens);
    if (v->scores)
        flx_gguf_writer_set_array(w, "tokenizer.ggml.scores", FLX_GGUF_FLOAT32, v->scores,
                                  (uint64_t)v->n_tokens);
    if (v->types)
        flx_gguf_writer_set_array(w, "tokenizer.ggml.token_type", FLX_GGUF_INT32, v->types,
                                  (uint64_t)v->n_tokens);
    if (!spm)
        flx_gguf_writer_set_string_array(w, "tokenizer.ggml.merges", (const char *const *)v->merges,
                                         (uint64_t)v->n_merges);
    if (v->bos_id >= 0) flx_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)v->bos_id);
    if (v->eos_id >= 0) flx_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)v->eos_id);
    if (v->eot_id >= 0) flx_gguf_writer_set_u32(w, "tokenizer.ggml.eot_token_id", (uint32_t)v->eot_id);
    flx_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", v->add_bos != 0);
    return flx_gguf_writer_set_bool(w, "tokenizer.ggml.add_space_prefix", v->add_space_prefix != 0);
}
