/* Llama models in GGUF files as llama.cpp's converter writes them: the
 * llama.* hyperparameter keys and the token_embd / blk.N.* / output tensors.
 * Q and K rows already use the interleaved-pair RoPE layout, so they load
 * unchanged. F32 tensors are used in place inside the mapping; the other
 * types are dequantized to float32. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modelio/gguf.h"
#include "modelio/model.h"
#include "modelio/vocab.h"

/* One hyperparameter of the llama.* namespace. Some converters write
 * per-layer arrays; those load when every layer has the same value. */
static int get_layer_int(const flx_gguf *g, const char *key, int64_t min, int64_t max,
                         int64_t *out, const char *path, flx_error *err) {
    const flx_gguf_kv *kv = flx_gguf_find(g, key);
    if (!kv || kv->value.type != FLX_GGUF_ARRAY)
        return flx_gguf_get_int(g, key, min, max, out, path, err);
    uint64_t pos = 0;
    for (uint64_t i = 0; i < kv->value.as.array.count; i++) {
        flx_gguf_value elem;
        if (flx_gguf_array_next(&kv->value, &pos, &elem) != 0) return -1;
        int64_t x;
        if (elem.type == FLX_GGUF_UINT8 || elem.type == FLX_GGUF_UINT16 ||
            elem.type == FLX_GGUF_UINT32 || elem.type == FLX_GGUF_UINT64)
            x = elem.as.u64 > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)elem.as.u64;
        else if (elem.type == FLX_GGUF_INT8 || elem.type == FLX_GGUF_INT16 ||
                 elem.type == FLX_GGUF_INT32 || elem.type == FLX_GGUF_INT64)
            x = elem.as.i64;
        else
            return flx_fail(err, "%s: %s is an array of %s (expected integers)", path, key,
                            flx_gguf_type_name(elem.type));
        if (i > 0 && x != *out)
            return flx_fail(err,
                            "%s: %s differs between layers (%" PRId64 " and %" PRId64
                            "); models with per-layer shapes are not supported",
                            path, key, *out, x);
        if (x < min || x > max)
            return flx_fail(err, "%s: %s = %" PRId64 " is out of range (expected %" PRId64 " to %" PRId64 ")",
                            path, key, x, min, max);
        *out = x;
    }
    return kv->value.as.array.count > 0 ? 1 : 0;
}

static int require_int(const flx_gguf *g, const char *key, int *out, const char *path,
                       flx_error *err) {
    int64_t v;
    int found = get_layer_int(g, key, 1, INT32_MAX, &v, path, err);
    if (found < 0) return -1;
    if (found == 0) return flx_fail(err, "%s: missing required key %s", path, key);
    *out = (int)v;
    return 0;
}

static int optional_int(const flx_gguf *g, const char *key, int *out, const char *path,
                        flx_error *err) {
    int64_t v;
    int found = get_layer_int(g, key, 1, INT32_MAX, &v, path, err);
    if (found > 0) *out = (int)v;
    return found < 0 ? -1 : 0;
}

static int read_rope_scaling(const flx_gguf *g, flx_config *c, const char *path, flx_error *err) {
    double factor = 0.0;
    int has_factor = flx_gguf_get_float(g, "llama.rope.scaling.factor", &factor, path, err);
    if (has_factor == 0)
        has_factor = flx_gguf_get_float(g, "llama.rope.scale_linear", &factor, path, err);
    if (has_factor < 0) return -1;
    flx_gguf_string type = {"linear", 6}; /* llama.cpp's default when the key is absent */
    if (flx_gguf_get_string(g, "llama.rope.scaling.type", &type, path, err) < 0) return -1;
    int64_t orig_ctx = 0;
    if (flx_gguf_get_int(g, "llama.rope.scaling.original_context_length", 1, INT32_MAX, &orig_ctx,
                         path, err) < 0)
        return -1;
    c->rope_scaling.original_context_length = (int)orig_ctx;

    if (flx_gguf_string_eq(type, "none")) {
        c->rope_scaling.type = FLX_ROPE_SCALING_NONE;
    } else if (flx_gguf_string_eq(type, "linear")) {
        /* A factor of 0 or 1 means no scaling, as in llama.cpp. */
        if (!has_factor || factor == 0.0 || factor == 1.0) {
            c->rope_scaling.type = FLX_ROPE_SCALING_NONE;
        } else {
            c->rope_scaling.type = FLX_ROPE_SCALING_LINEAR;
            c->rope_scaling.factor = (float)factor;
        }
    } else {
        return flx_fail(err,
                        "%s: llama.rope.scaling.type \"%.*s\" is not supported (expected none or "
                        "linear; Llama 3 scaling comes as the rope_freqs.weight tensor)",
                        path, (int)(type.len > 32 ? 32 : type.len), type.ptr);
    }
    return 0;
}

static int read_config(const flx_gguf *g, flx_config *c, const char *path, flx_error *err) {
    flx_gguf_string arch;
    int found = flx_gguf_get_string(g, "general.architecture", &arch, path, err);
    if (found < 0) return -1;
    if (found == 0) return flx_fail(err, "%s: missing required key general.architecture", path);
    if (!flx_gguf_string_eq(arch, "llama"))
        return flx_fail(err, "%s: architecture \"%.*s\" is not supported (expected llama)", path,
                        (int)(arch.len > 32 ? 32 : arch.len), arch.ptr);

    if (require_int(g, "llama.embedding_length", &c->dim, path, err) != 0 ||
        require_int(g, "llama.block_count", &c->n_layers, path, err) != 0 ||
        require_int(g, "llama.feed_forward_length", &c->ffn_dim, path, err) != 0 ||
        require_int(g, "llama.attention.head_count", &c->n_heads, path, err) != 0 ||
        require_int(g, "llama.context_length", &c->context_length, path, err) != 0)
        return -1;
    c->n_kv_heads = c->n_heads;
    if (optional_int(g, "llama.attention.head_count_kv", &c->n_kv_heads, path, err) != 0) return -1;
    c->head_dim = c->dim % c->n_heads == 0 ? c->dim / c->n_heads : 0;
    if (optional_int(g, "llama.attention.key_length", &c->head_dim, path, err) != 0) return -1;
    if (c->head_dim == 0)
        return flx_fail(err,
                        "%s: llama.embedding_length %d is not a multiple of "
                        "llama.attention.head_count %d and llama.attention.key_length is missing",
                        path, c->dim, c->n_heads);
    int value_length = c->head_dim;
    if (optional_int(g, "llama.attention.value_length", &value_length, path, err) != 0) return -1;
    if (value_length != c->head_dim)
        return flx_fail(err,
                        "%s: llama.attention.value_length %d differs from key_length %d; models "
                        "with different K and V head sizes are not supported",
                        path, value_length, c->head_dim);
    c->rope_dim = c->head_dim;
    if (optional_int(g, "llama.rope.dimension_count", &c->rope_dim, path, err) != 0) return -1;

    double eps;
    found = flx_gguf_get_float(g, "llama.attention.layer_norm_rms_epsilon", &eps, path, err);
    if (found < 0) return -1;
    if (found == 0)
        return flx_fail(err, "%s: missing required key llama.attention.layer_norm_rms_epsilon", path);
    c->norm_eps = (float)eps;
    double theta = 10000.0;
    if (flx_gguf_get_float(g, "llama.rope.freq_base", &theta, path, err) < 0) return -1;
    c->rope_theta = (float)theta;
    return read_rope_scaling(g, c, path, err);
}

/* A tensor the model needs, with its shape in ggml order (ne[0] first). */
typedef struct expected_tensor {
    char name[64];
    uint64_t ne0, ne1;     /* ne1 == 0 for a vector */
    const char *shape_doc; /* the config fields behind the shape, outermost first */
    const float **dest;
    int required;
    const flx_gguf_tensor *found;
} expected_tensor;

static void format_shape(char *out, size_t size, const uint64_t *ne, int n_dims) {
    size_t used = 0;
    out[0] = '\0';
    for (int d = n_dims - 1; d >= 0 && used < size; d--)
        used += (size_t)snprintf(out + used, size - used, d == n_dims - 1 ? "[%" PRIu64 : ", %" PRIu64,
                                 ne[d]);
    if (used < size) snprintf(out + used, size - used, "]");
}

static int check_shape(const expected_tensor *e, const flx_gguf_tensor *t, const char *path,
                       flx_error *err) {
    uint64_t want[FLX_GGUF_MAX_DIMS] = {e->ne0, e->ne1 ? e->ne1 : 1, 1, 1};
    int want_dims = e->ne1 ? 2 : 1;
    int same = 1;
    for (int d = 0; d < FLX_GGUF_MAX_DIMS; d++) same &= t->ne[d] == want[d];
    if (same) return 0;
    char found_text[96], want_text[64];
    format_shape(found_text, sizeof found_text, t->ne, (int)t->n_dims);
    format_shape(want_text, sizeof want_text, want, want_dims);
    return flx_fail(err,
                    "%s: tensor %s has shape %s but the model config needs %s = %s (shapes "
                    "outermost first)",
                    path, e->name, found_text, e->shape_doc, want_text);
}

/* Returns float32 values of a tensor: in place for aligned F32 data, else a
 * dequantized copy owned by the model. */
static const float *tensor_floats(flx_model *m, const flx_gguf_tensor *t, flx_error *err) {
    if (t->type == FLX_GGML_F32 && (uintptr_t)t->data % sizeof(float) == 0)
        return (const float *)t->data;
    size_t bytes;
    if (flx_mul_overflows((size_t)t->n_elements, sizeof(float), &bytes)) {
        flx_fail(err, "tensor of %" PRIu64 " elements is too large for memory", t->n_elements);
        return NULL;
    }
    float *dst = flx_model_alloc(m, bytes, err);
    if (!dst) return NULL;
    uint64_t block_values, block_bytes;
    flx_ggml_type_block(t->type, &block_values, &block_bytes);
    const uint64_t chunk_blocks = 1u << 14;
    const uint64_t n_blocks = t->n_elements / block_values;
    const int64_t n_chunks = (int64_t)((n_blocks + chunk_blocks - 1) / chunk_blocks);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (n_chunks > 4)
#endif
    for (int64_t c = 0; c < n_chunks; c++) {
        uint64_t first = (uint64_t)c * chunk_blocks;
        uint64_t count = n_blocks - first < chunk_blocks ? n_blocks - first : chunk_blocks;
        flx_ggml_dequantize(t->type, t->data + first * block_bytes, dst + first * block_values,
                            count * block_values);
    }
    return dst;
}

static void record_tensor_info(flx_model *m, const flx_gguf *g, const flx_gguf_tensor *t) {
    flx_tensor_info info;
    memset(&info, 0, sizeof info);
    memcpy(info.name, t->name.ptr, (size_t)t->name.len);
    snprintf(info.type, sizeof info.type, "%s", flx_ggml_type_name(t->type));
    info.n_dims = (int)t->n_dims;
    for (uint32_t d = 0; d < t->n_dims; d++) info.shape[d] = (int64_t)t->ne[t->n_dims - 1 - d];
    info.offset = g->data_offset + t->offset;
    info.n_bytes = t->n_bytes;
    flx_model_add_tensor_info(m, &info, NULL);
}

enum { LAYER_TENSORS = 9 };
static const char *const layer_parts[LAYER_TENSORS] = {
    "attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down",
};

/* Lists the tensors of the model shape in c, with where each one goes. */
static expected_tensor *expected_tensors(flx_model *m, int *n_out, flx_error *err) {
    const flx_config *c = &m->config;
    const uint64_t dim = (uint64_t)c->dim, vocab = (uint64_t)c->vocab_size,
                   q = (uint64_t)c->n_heads * (uint64_t)c->head_dim,
                   kv = (uint64_t)c->n_kv_heads * (uint64_t)c->head_dim, ffn = (uint64_t)c->ffn_dim;
    int n = 4 + LAYER_TENSORS * c->n_layers;
    expected_tensor *list = flx_calloc((size_t)n, sizeof *list, err);
    if (!list) return NULL;
    const expected_tensor globals[4] = {
        {"token_embd.weight", dim, vocab, "[vocab_size, dim]", &m->token_embedding, 1, NULL},
        {"output_norm.weight", dim, 0, "[dim]", &m->output_norm, 1, NULL},
        {"output.weight", dim, vocab, "[vocab_size, dim]", &m->output, 0, NULL},
        {"rope_freqs.weight", (uint64_t)c->rope_dim / 2, 0, "[rope_dim/2]", &m->rope_freqs, 0, NULL},
    };
    memcpy(list, globals, sizeof globals);
    for (int l = 0; l < c->n_layers; l++) {
        flx_layer_weights *w = &m->layers[l];
        const struct {
            uint64_t ne0, ne1;
            const char *doc;
            const float **dest;
        } parts[LAYER_TENSORS] = {
            {dim, 0, "[dim]", &w->attn_norm},
            {dim, q, "[n_heads*head_dim, dim]", &w->wq},
            {dim, kv, "[n_kv_heads*head_dim, dim]", &w->wk},
            {dim, kv, "[n_kv_heads*head_dim, dim]", &w->wv},
            {q, dim, "[dim, n_heads*head_dim]", &w->wo},
            {dim, 0, "[dim]", &w->ffn_norm},
            {dim, ffn, "[ffn_dim, dim]", &w->w_gate},
            {dim, ffn, "[ffn_dim, dim]", &w->w_up},
            {ffn, dim, "[dim, ffn_dim]", &w->w_down},
        };
        for (int p = 0; p < LAYER_TENSORS; p++) {
            expected_tensor *e = &list[4 + l * LAYER_TENSORS + p];
            snprintf(e->name, sizeof e->name, "blk.%d.%s.weight", l, layer_parts[p]);
            e->ne0 = parts[p].ne0;
            e->ne1 = parts[p].ne1;
            e->shape_doc = parts[p].doc;
            e->dest = parts[p].dest;
            e->required = 1;
        }
    }
    *n_out = n;
    return list;
}

/* Maps a file tensor name to its index in the expected list, or -1. */
static int expected_index(const flx_gguf_string name, const flx_config *c) {
    static const char *const globals[4] = {"token_embd.weight", "output_norm.weight",
                                           "output.weight", "rope_freqs.weight"};
    for (int i = 0; i < 4; i++)
        if (flx_gguf_string_eq(name, globals[i])) return i;
    char text[FLX_GGUF_MAX_NAME + 1];
    memcpy(text, name.ptr, (size_t)name.len);
    text[name.len] = '\0';
    int layer, used = 0;
    char part[32];
    if (sscanf(text, "blk.%d.%31[a-z_].weight%n", &layer, part, &used) != 2 ||
        used != (int)name.len || layer < 0 || layer >= c->n_layers)
        return -1;
    char canonical[64];
    snprintf(canonical, sizeof canonical, "blk.%d.%s.weight", layer, part);
    if (strcmp(canonical, text) != 0) return -1; /* e.g. "blk.01." */
    for (int p = 0; p < LAYER_TENSORS; p++)
        if (strcmp(part, layer_parts[p]) == 0) return 4 + layer * LAYER_TENSORS + p;
    return -1;
}

static int bind_tensors(flx_model *m, const flx_gguf *g, const char *path, flx_error *err) {
    flx_config *c = &m->config;
    const flx_gguf_tensor *embd = flx_gguf_find_tensor(g, "token_embd.weight");
    if (!embd) return flx_fail(err, "%s: missing tensor token_embd.weight", path);
    if (embd->n_dims != 2 || embd->ne[0] != (uint64_t)c->dim || embd->ne[1] > INT32_MAX) {
        char shape[96];
        format_shape(shape, sizeof shape, embd->ne, (int)embd->n_dims);
        return flx_fail(err, "%s: tensor token_embd.weight has shape %s but the model config needs "
                             "[vocab_size, dim] with dim = %d",
                        path, shape, c->dim);
    }
    c->vocab_size = (int)embd->ne[1];
    int64_t vocab_key;
    int found = flx_gguf_get_int(g, "llama.vocab_size", 1, INT32_MAX, &vocab_key, path, err);
    if (found < 0) return -1;
    if (found && vocab_key != c->vocab_size)
        return flx_fail(err, "%s: llama.vocab_size = %" PRId64 " but token_embd.weight has %d rows",
                        path, vocab_key, c->vocab_size);
    c->tied_embeddings = flx_gguf_find_tensor(g, "output.weight") == NULL;
    if (flx_config_validate(c, path, err) != 0) return -1;

    m->layers = flx_calloc((size_t)c->n_layers, sizeof *m->layers, err);
    if (!m->layers) return -1;
    int n_expected = 0;
    expected_tensor *list = expected_tensors(m, &n_expected, err);
    if (!list) return -1;
    int rc = 0;
    for (uint64_t i = 0; i < g->n_tensors && rc == 0; i++) {
        const flx_gguf_tensor *t = &g->tensors[i];
        record_tensor_info(m, g, t);
        int idx = expected_index(t->name, c);
        if (idx < 0) {
            rc = flx_fail(err,
                          "%s: unexpected tensor %.*s (not part of a %d-layer Llama model); "
                          "models with biases or other extra tensors are not supported",
                          path, (int)t->name.len, t->name.ptr, c->n_layers);
        } else if (!flx_ggml_type_supported(t->type)) {
            rc = flx_fail(err,
                          "%s: tensor %s has type %s (ggml type %" PRIu32
                          "), which is not supported; supported types are F32, F16, BF16, Q8_0 "
                          "and Q4_0 (re-export the model in one of them)",
                          path, list[idx].name, flx_ggml_type_name(t->type), t->type);
        } else {
            list[idx].found = t;
            rc = check_shape(&list[idx], t, path, err);
        }
    }
    for (int i = 0; i < n_expected && rc == 0; i++) {
        expected_tensor *e = &list[i];
        if (!e->found) {
            if (e->required) rc = flx_fail(err, "%s: missing tensor %s", path, e->name);
            continue;
        }
        *e->dest = tensor_floats(m, e->found, err);
        if (!*e->dest) {
            flx_error_prefix(err, e->name);
            flx_error_prefix(err, path);
            rc = -1;
        }
    }
    free(list);
    if (rc != 0) return -1;
    if (c->tied_embeddings) m->output = m->token_embedding;
    if (m->rope_freqs)
        for (int i = 0; i < c->rope_dim / 2; i++)
            if (!(m->rope_freqs[i] > 0.0f) || !isfinite(m->rope_freqs[i]))
                return flx_fail(err,
                                "%s: rope_freqs.weight[%d] = %g is invalid (expected a positive "
                                "frequency divisor)",
                                path, i, (double)m->rope_freqs[i]);
    return 0;
}

int flx_model_load_gguf(flx_model *m, const char *path, flx_error *err) {
    memset(m, 0, sizeof *m);
    snprintf(m->format, sizeof m->format, "gguf");
    snprintf(m->path, sizeof m->path, "%s", path);
    m->files = flx_calloc(1, sizeof *m->files, err);
    if (!m->files) return -1;
    if (flx_map_file(&m->files[0], path, err) != 0) {
        flx_model_free(m);
        return -1;
    }
    m->n_files = 1;
    flx_gguf g;
    if (flx_gguf_parse(&g, m->files[0].data, m->files[0].size, path, err) != 0) {
        flx_model_free(m);
        return -1;
    }
    int rc = read_config(&g, &m->config, path, err);
    if (rc == 0) rc = bind_tensors(m, &g, path, err);
    if (rc == 0 && flx_gguf_read_vocab(&g, &m->vocab, path, err) < 0) rc = -1;
    if (rc == 0 && m->vocab && m->vocab->n_tokens != m->config.vocab_size)
        rc = flx_fail(err, "%s: the vocabulary has %d tokens but token_embd.weight has %d rows",
                      path, m->vocab->n_tokens, m->config.vocab_size);
    flx_gguf_free(&g);
    if (rc != 0) flx_model_free(m);
    return rc;
}
