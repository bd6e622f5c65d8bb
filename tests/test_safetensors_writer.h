/* Test-side writers for Hugging Face checkpoints: a minimal safetensors
 * writer (independent of the parser under test) and a converter that turns a
 * loaded float32 model into config.json + safetensors files in the
 * rotate-half Q/K layout that Hugging Face uses. */
#ifndef FLEXLLM_TESTS_SAFETENSORS_WRITER_H
#define FLEXLLM_TESTS_SAFETENSORS_WRITER_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/half.h"
#include "modelio/model.h"

typedef struct st_write_tensor {
    char name[96];
    const char *dtype;   /* written as is, so tests can put invalid names */
    int n_dims;
    int64_t shape[4];
    uint8_t *data;       /* [n_bytes], owned */
    size_t n_bytes;
} st_write_tensor;

/* Creates a folder and its parents; returns 0 when it exists afterwards. */
static inline int st_make_dirs(const char *path) {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return (mkdir(buf, 0755) == 0 || errno == EEXIST) ? 0 : -1;
}

static inline int st_write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t n = strlen(text);
    int ok = fwrite(text, 1, n, f) == n;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

/* Writes the 8-byte little-endian length field, then header (header_len
 * bytes of it), then data. The length field is taken as given, so tests can
 * write lengths that disagree with the file. */
static inline int st_write_raw(const char *path, uint64_t length_field, const char *header,
                               size_t header_len, const void *data, size_t n_data) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    uint8_t le[8];
    for (int i = 0; i < 8; i++) le[i] = (uint8_t)(length_field >> (8 * i));
    int ok = fwrite(le, 1, 8, f) == 8;
    ok = ok && fwrite(header, 1, header_len, f) == header_len;
    ok = ok && (n_data == 0 || fwrite(data, 1, n_data, f) == n_data);
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

/* Writes tensors packed in order, with the header padded by spaces so the
 * data section starts at a multiple of 8 bytes. */
static inline int st_write_file(const char *path, const st_write_tensor *t, int n) {
    size_t cap = 256 + (size_t)n * 256, used = 0;
    char *header = malloc(cap);
    if (!header) return -1;
    used += (size_t)snprintf(header + used, cap - used, "{\"__metadata__\":{\"format\":\"pt\"}");
    size_t offset = 0;
    for (int i = 0; i < n; i++) {
        used += (size_t)snprintf(header + used, cap - used, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[",
                                 t[i].name, t[i].dtype);
        for (int d = 0; d < t[i].n_dims; d++)
            used += (size_t)snprintf(header + used, cap - used, d ? ",%lld" : "%lld",
                                     (long long)t[i].shape[d]);
        used += (size_t)snprintf(header + used, cap - used, "],\"data_offsets\":[%zu,%zu]}",
                                 offset, offset + t[i].n_bytes);
        offset += t[i].n_bytes;
    }
    used += (size_t)snprintf(header + used, cap - used, "}");
    while ((8 + used) % 8 != 0) header[used++] = ' ';

    uint8_t *data = malloc(offset ? offset : 1);
    if (!data) {
        free(header);
        return -1;
    }
    offset = 0;
    for (int i = 0; i < n; i++) {
        memcpy(data + offset, t[i].data, t[i].n_bytes);
        offset += t[i].n_bytes;
    }
    int rc = st_write_raw(path, used, header, used, data, offset);
    free(data);
    free(header);
    return rc;
}

/* Fills t with a copy of values encoded as dtype "F32", "F16" or "BF16". */
static inline int st_tensor_from_floats(st_write_tensor *t, const char *name, const char *dtype,
                                        int n_dims, int64_t rows, int64_t cols,
                                        const float *values) {
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->dtype = dtype;
    t->n_dims = n_dims;
    t->shape[0] = rows;
    t->shape[1] = cols;
    size_t count = (size_t)rows * (size_t)(n_dims == 2 ? cols : 1);
    size_t elem = strcmp(dtype, "F32") == 0 ? 4 : 2;
    t->n_bytes = count * elem;
    t->data = malloc(t->n_bytes ? t->n_bytes : 1);
    if (!t->data) return -1;
    for (size_t i = 0; i < count; i++) {
        uint8_t *out = t->data + i * elem;
        if (elem == 4) {
            memcpy(out, &values[i], 4);
            continue;
        }
        uint16_t bits = strcmp(dtype, "F16") == 0 ? flx_f32_to_f16(values[i])
                                                  : flx_f32_to_bf16(values[i]);
        out[0] = (uint8_t)(bits & 0xff);
        out[1] = (uint8_t)(bits >> 8);
    }
    return 0;
}

static inline void st_free_tensors(st_write_tensor *t, int n) {
    for (int i = 0; i < n; i++) free(t[i].data);
}

/* Reorders Q/K rows from the interleaved layout to Hugging Face's
 * rotate-half layout: within each head, row i takes interleaved row 2i and
 * row i + head_dim/2 takes row 2i+1. Written from the layout definitions,
 * separately from the loader's mapping. */
static inline void st_interleaved_to_rotate_half(float *dst, const float *src, int n_heads,
                                                 int head_dim, int n_cols) {
    int half = head_dim / 2;
    for (int h = 0; h < n_heads; h++) {
        for (int i = 0; i < half; i++) {
            const float *even = src + ((size_t)h * head_dim + 2 * i) * n_cols;
            const float *odd = src + ((size_t)h * head_dim + 2 * i + 1) * n_cols;
            memcpy(dst + ((size_t)h * head_dim + i) * n_cols, even, (size_t)n_cols * 4);
            memcpy(dst + ((size_t)h * head_dim + half + i) * n_cols, odd, (size_t)n_cols * 4);
        }
    }
}

/* Builds the Hugging Face tensor list of a float32 model: the layer tensors
 * and model.embed_tokens / model.norm, plus lm_head.weight = lm_head when it
 * is not NULL. Returns the number of tensors, or -1. */
static inline int st_tensors_from_model(st_write_tensor *out, const flx_model *m,
                                        const char *dtype, const float *lm_head) {
    const flx_config *c = &m->config;
    int64_t dim = c->dim, ffn = c->ffn_dim, q_dim = (int64_t)c->n_heads * c->head_dim;
    int64_t kv_dim = (int64_t)c->n_kv_heads * c->head_dim;
    float *scratch = malloc((size_t)q_dim * (size_t)dim * sizeof(float));
    if (!scratch) return -1;
    int n = 0, rc = 0;
    rc |= st_tensor_from_floats(&out[n++], "model.embed_tokens.weight", dtype, 2, c->vocab_size,
                                dim, m->token_embedding);
    for (int l = 0; l < c->n_layers; l++) {
        const flx_layer_weights *w = &m->layers[l];
        char name[96];
#define ST_LAYER_TENSOR(suffix, n_dims, rows, cols, values)                                \
    snprintf(name, sizeof name, "model.layers.%d.%s", l, suffix);                          \
    rc |= st_tensor_from_floats(&out[n++], name, dtype, n_dims, rows, cols, values)
        ST_LAYER_TENSOR("input_layernorm.weight", 1, dim, 1, w->attn_norm);
        st_interleaved_to_rotate_half(scratch, w->wq, c->n_heads, c->head_dim, (int)dim);
        ST_LAYER_TENSOR("self_attn.q_proj.weight", 2, q_dim, dim, scratch);
        st_interleaved_to_rotate_half(scratch, w->wk, c->n_kv_heads, c->head_dim, (int)dim);
        ST_LAYER_TENSOR("self_attn.k_proj.weight", 2, kv_dim, dim, scratch);
        ST_LAYER_TENSOR("self_attn.v_proj.weight", 2, kv_dim, dim, w->wv);
        ST_LAYER_TENSOR("self_attn.o_proj.weight", 2, dim, q_dim, w->wo);
        ST_LAYER_TENSOR("post_attention_layernorm.weight", 1, dim, 1, w->ffn_norm);
        ST_LAYER_TENSOR("mlp.gate_proj.weight", 2, ffn, dim, w->w_gate);
        ST_LAYER_TENSOR("mlp.up_proj.weight", 2, ffn, dim, w->w_up);
        ST_LAYER_TENSOR("mlp.down_proj.weight", 2, dim, ffn, w->w_down);
#undef ST_LAYER_TENSOR
    }
    rc |= st_tensor_from_floats(&out[n++], "model.norm.weight", dtype, 1, dim, 1, m->output_norm);
    if (lm_head)
        rc |= st_tensor_from_floats(&out[n++], "lm_head.weight", dtype, 2, c->vocab_size, dim,
                                    lm_head);
    free(scratch);
    if (rc != 0) {
        st_free_tensors(out, n);
        return -1;
    }
    return n;
}

/* Writes config.json for a Llama model of shape c. */
static inline int st_write_config(const char *dir, const flx_config *c, int tied) {
    char path[1024], text[2048];
    snprintf(path, sizeof path, "%s/config.json", dir);
    snprintf(text, sizeof text,
             "{\n  \"architectures\": [\"LlamaForCausalLM\"],\n  \"model_type\": \"llama\",\n"
             "  \"hidden_size\": %d,\n  \"num_hidden_layers\": %d,\n"
             "  \"num_attention_heads\": %d,\n  \"num_key_value_heads\": %d,\n"
             "  \"intermediate_size\": %d,\n  \"vocab_size\": %d,\n"
             "  \"max_position_embeddings\": %d,\n  \"rms_norm_eps\": %.9g,\n"
             "  \"rope_theta\": %.9g,\n  \"rope_scaling\": null,\n"
             "  \"hidden_act\": \"silu\",\n  \"tie_word_embeddings\": %s,\n"
             "  \"torch_dtype\": \"float32\"\n}\n",
             c->dim, c->n_layers, c->n_heads, c->n_kv_heads, c->ffn_dim, c->vocab_size,
             c->context_length, (double)c->norm_eps, (double)c->rope_theta,
             tied ? "true" : "false");
    return st_write_text(path, text);
}

#endif
