/* Hugging Face tokenizer.json with a byte-level BPE model (Llama 3):
 * model.vocab maps GPT-2-spelled tokens to ids, model.merges lists pairs as
 * "left right" strings or [left, right] arrays, and added_tokens carries the
 * special tokens in their literal spelling. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mapped_file.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer_internal.h"

#ifdef FLEXLLM_HAVE_CJSON
#include <cJSON.h>

#define MAX_TOKENS (1 << 22)

static const cJSON *member(const cJSON *object, const char *key) {
    return cJSON_GetObjectItemCaseSensitive(object, key);
}

/* Returns the integer value of a JSON number in [0, MAX_TOKENS), or -1. */
static int token_id(const cJSON *item) {
    if (!cJSON_IsNumber(item)) return -1;
    double v = item->valuedouble;
    if (!(v >= 0 && v < MAX_TOKENS) || v != (double)(int)v) return -1;
    return (int)v;
}

/* Finds a Split pre-tokenizer's regex, at the top level or inside a
 * Sequence. Returns NULL when there is none. */
static const char *split_pattern(const cJSON *pre) {
    if (!cJSON_IsObject(pre)) return NULL;
    const cJSON *type = member(pre, "type");
    if (cJSON_IsString(type) && strcmp(type->valuestring, "Split") == 0) {
        const cJSON *regex = member(member(pre, "pattern"), "Regex");
        return cJSON_IsString(regex) ? regex->valuestring : NULL;
    }
    const cJSON *item;
    cJSON_ArrayForEach(item, member(pre, "pretokenizers")) {
        const char *found = split_pattern(item);
        if (found) return found;
    }
    return NULL;
}

static int set_token(flx_vocab *v, int id, const char *text, int type, const char *path,
                     flx_error *err) {
    if (v->tokens[id]) {
        if (strcmp(v->tokens[id], text) != 0)
            return flx_fail(err, "%s: token id %d is given to both \"%.60s\" and \"%.60s\"", path, id,
                            v->tokens[id], text);
        v->types[id] = type;
        return 0;
    }
    v->tokens[id] = strdup(text);
    if (!v->tokens[id]) return flx_fail(err, "out of memory");
    v->types[id] = type;
    return 0;
}

static int read_tokens(flx_vocab *v, const cJSON *vocab, const cJSON *added, const char *path,
                       flx_error *err) {
    int max_id = -1;
    const cJSON *item;
    cJSON_ArrayForEach(item, vocab) {
        int id = token_id(item);
        if (id < 0)
            return flx_fail(err, "%s: model.vocab entry \"%.60s\" has an invalid id (expected an integer from 0 to %d)",
                            path, item->string, MAX_TOKENS - 1);
        if (id > max_id) max_id = id;
    }
    if (added && !cJSON_IsArray(added))
        return flx_fail(err, "%s: added_tokens is not an array", path);
    int index = 0;
    cJSON_ArrayForEach(item, added) {
        int id = token_id(member(item, "id"));
        const cJSON *content = member(item, "content");
        if (id < 0 || !cJSON_IsString(content))
            return flx_fail(err,
                            "%s: added_tokens[%d] needs an integer \"id\" from 0 to %d and a string "
                            "\"content\"",
                            path, index, MAX_TOKENS - 1);
        if (id > max_id) max_id = id;
        index++;
    }
    if (max_id < 0) return flx_fail(err, "%s: model.vocab is empty", path);

    int n = max_id + 1;
    v->tokens = flx_calloc((size_t)n, sizeof *v->tokens, err);
    v->types = flx_calloc((size_t)n, sizeof *v->types, err);
    if (!v->tokens || !v->types) return -1;
    v->n_tokens = n;
    cJSON_ArrayForEach(item, vocab) {
        if (set_token(v, token_id(item), item->string, FLX_TOKEN_NORMAL, path, err)) return -1;
    }
    cJSON_ArrayForEach(item, added) {
        int type = cJSON_IsTrue(member(item, "special")) ? FLX_TOKEN_CONTROL : FLX_TOKEN_USER_DEFINED;
        if (set_token(v, token_id(member(item, "id")), member(item, "content")->valuestring, type,
                      path, err))
            return -1;
    }
    for (int id = 0; id < n; id++)
        if (!v->tokens[id])
            return flx_fail(err,
                            "%s: token id %d is missing: model.vocab and added_tokens must cover "
                            "every id from 0 to %d",
                            path, id, n - 1);
    return 0;
}

/* Copies one merge as "left right", checking both sides against the vocabulary. */
static int read_merge(flx_vocab *v, const cJSON *item, int index, const flx_strmap *normal_ids,
                      const char *path, flx_error *err) {
    const char *left, *right;
    size_t left_len, right_len;
    if (cJSON_IsString(item)) {
        const char *text = item->valuestring;
        const char *space = strchr(text, ' ');
        if (!space || strchr(space + 1, ' '))
            return flx_fail(err, "%s: model.merges[%d] \"%.80s\" is not two tokens separated by one space",
                            path, index, text);
        left = text;
        left_len = (size_t)(space - text);
        right = space + 1;
        right_len = strlen(right);
    } else if (cJSON_GetArraySize(item) == 2 && cJSON_IsString(cJSON_GetArrayItem(item, 0)) &&
               cJSON_IsString(cJSON_GetArrayItem(item, 1))) {
        left = cJSON_GetArrayItem(item, 0)->valuestring;
        right = cJSON_GetArrayItem(item, 1)->valuestring;
        left_len = strlen(left);
        right_len = strlen(right);
        if (memchr(left, ' ', left_len) || memchr(right, ' ', right_len))
            return flx_fail(err,
                            "%s: model.merges[%d] names a token with a space, which byte-level "
                            "BPE spells as U+0120",
                            path, index);
    } else {
        return flx_fail(err, "%s: model.merges[%d] is neither a \"left right\" string nor a [left, right] pair",
                        path, index);
    }

    const char *side = flx_strmap_get(normal_ids, left, (uint32_t)left_len) < 0 ? left
                       : flx_strmap_get(normal_ids, right, (uint32_t)right_len) < 0 ? right
                                                                                     : NULL;
    if (side)
        return flx_fail(err, "%s: model.merges[%d] names token \"%.*s\", which is not in model.vocab",
                        path, index, (int)(side == left ? left_len : right_len), side);

    char *merge = flx_malloc(left_len + right_len + 2, err);
    if (!merge) return -1;
    memcpy(merge, left, left_len);
    merge[left_len] = ' ';
    memcpy(merge + left_len + 1, right, right_len + 1);
    v->merges[v->n_merges++] = merge;
    return 0;
}

static int read_merges(flx_vocab *v, const cJSON *merges, const char *path, flx_error *err) {
    int n = cJSON_GetArraySize(merges);
    v->merges = flx_calloc((size_t)n, sizeof *v->merges, err);
    if (!v->merges) return -1;
    flx_strmap normal_ids;
    if (flx_strmap_init(&normal_ids, (size_t)v->n_tokens, err)) return -1;
    for (int i = 0; i < v->n_tokens; i++)
        if (v->types[i] == FLX_TOKEN_NORMAL)
            flx_strmap_put(&normal_ids, v->tokens[i], (uint32_t)strlen(v->tokens[i]), i);
    int rc = 0, index = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, merges) {
        rc = read_merge(v, item, index++, &normal_ids, path, err);
        if (rc) break;
    }
    flx_strmap_free(&normal_ids);
    return rc;
}

static int find_control(const flx_vocab *v, const char *name) {
    for (int i = 0; i < v->n_tokens; i++)
        if (v->types[i] == FLX_TOKEN_CONTROL && strcmp(v->tokens[i], name) == 0) return i;
    return -1;
}

static int read_vocab(flx_vocab *v, const cJSON *root, const char *path, flx_error *err) {
    const cJSON *model = member(root, "model");
    if (!cJSON_IsObject(model))
        return flx_fail(err, "%s: missing \"model\" object; is this a Hugging Face tokenizer.json?", path);
    const cJSON *type = member(model, "type");
    if (!cJSON_IsString(type))
        return flx_fail(err, "%s: missing model.type (expected \"BPE\")", path);
    if (strcmp(type->valuestring, "BPE") != 0)
        return flx_fail(err, "%s: model.type is \"%.40s\"; only byte-level \"BPE\" is supported", path,
                        type->valuestring);
    const cJSON *vocab = member(model, "vocab");
    if (!cJSON_IsObject(vocab)) return flx_fail(err, "%s: missing model.vocab object", path);
    const cJSON *merges = member(model, "merges");
    if (!cJSON_IsArray(merges)) return flx_fail(err, "%s: missing model.merges array", path);

    /* The encoder implements only Llama 3's split pattern, so a file with
     * another pre-tokenizer (GPT-2, Qwen, ...) is rejected, not mis-encoded. */
    const char *pattern = split_pattern(member(root, "pre_tokenizer"));
    if (!pattern)
        return flx_fail(err,
                        "%s: pre_tokenizer has no Split pattern; only Llama 3 tokenizer.json files "
                        "(Split with Meta's pattern, then ByteLevel) are supported",
                        path);
    if (strcmp(pattern, flx_llama3_pattern) != 0)
        return flx_fail(err,
                        "%s: pre_tokenizer Split pattern \"%.60s...\" is not Llama 3's; only Llama 3 "
                        "byte-level BPE is supported",
                        path, pattern);

    v->kind = FLX_VOCAB_BPE;
    if (read_tokens(v, vocab, member(root, "added_tokens"), path, err)) return -1;
    if (read_merges(v, merges, path, err)) return -1;

    snprintf(v->pre, sizeof v->pre, "llama-bpe");
    v->bos_id = find_control(v, "<|begin_of_text|>");
    if (v->bos_id < 0) v->bos_id = find_control(v, "<s>");
    v->eos_id = find_control(v, "<|end_of_text|>");
    if (v->eos_id < 0) v->eos_id = find_control(v, "</s>");
    v->eot_id = find_control(v, "<|eot_id|>");
    /* NOTE: Llama 3 prepends BOS through its post_processor template; this
     * assumes every file with a BOS token wants it rather than reading that. */
    v->add_bos = v->bos_id >= 0;
    v->add_space_prefix = 0;
    return 0;
}

int flx_vocab_load_hf_json(flx_vocab **out, const char *path, flx_error *err) {
    *out = NULL;
    size_t size = 0;
    char *text = flx_read_text_file(path, &size, err);
    if (!text) return -1;
    const char *parse_end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, size, &parse_end, 0);
    if (!root) {
        size_t offset = parse_end && parse_end >= text ? (size_t)(parse_end - text) : 0;
        free(text);
        return flx_fail(err, "%s: invalid JSON near byte %zu; expected a Hugging Face tokenizer.json",
                        path, offset);
    }
    free(text);

    flx_vocab *v = flx_calloc(1, sizeof *v, err);
    int rc = v ? read_vocab(v, root, path, err) : -1;
    cJSON_Delete(root);
    if (rc) {
        flx_vocab_free(v);
        return -1;
    }
    *out = v;
    return 0;
}

#else /* !FLEXLLM_HAVE_CJSON */

int flx_vocab_load_hf_json(flx_vocab **out, const char *path, flx_error *err) {
    *out = NULL;
    return flx_fail(err, "%s: reading tokenizer.json needs cJSON, and FlexLLM was built without it; "
                         "install libcjson-dev and rebuild",
                    path);
}

#endif
