/* llama2.c checkpoints in the legacy ("version 0") layout: a header of seven
 * little-endian int32 values (dim, hidden_dim, n_layers, n_heads, n_kv_heads,
 * vocab_size, seq_len) followed by float32 tensors. A negative vocab_size
 * means the file ends with a separate classifier matrix. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "modelio/model.h"

#define LLAMA2C_HEADER_BYTES 28

typedef struct llama2c_tensor {
    const char *name;
    int per_layer;      /* 1: one copy per layer, stored layer after layer */
    uint64_t rows, cols;
} llama2c_tensor;

static void add_info(flx_model *m, const char *name, int n_dims, uint64_t d0, uint64_t d1,
                     uint64_t offset) {
    flx_tensor_info info;
    memset(&info, 0, sizeof info);
    snprintf(info.name, sizeof info.name, "%s", name);
    snprintf(info.type, sizeof info.type, "F32");
    info.n_dims = n_dims;
    info.shape[0] = (int64_t)d0;
    info.shape[1] = (int64_t)d1;
    info.offset = offset;
    info.n_bytes = (n_dims == 1 ? d0 : d0 * d1) * 4;
    flx_model_add_tensor_info(m, &info, NULL);
}

int flx_model_load_llama2c(flx_model *m, const char *path, flx_error *err) {
    memset(m, 0, sizeof *m);
    snprintf(m->format, sizeof m->format, "llama2.c");
    snprintf(m->path, sizeof m->path, "%s", path);
    m->files = flx_calloc(1, sizeof *m->files, err);
    if (!m->files) return -1;
    if (flx_map_file(&m->files[0], path, err) != 0) {
        flx_model_free(m);
        return -1;
    }
    m->n_files = 1;
    const flx_mapped_file *f = &m->files[0];
    if (f->size < LLAMA2C_HEADER_BYTES) {
        flx_fail(err, "%s: file has %zu bytes, too short for a llama2.c header (28 bytes); is it truncated?",
                 path, f->size);
        goto fail;
    }
    if (memcmp(f->data, "ak42", 4) == 0 || memcmp(f->data, "24ka", 4) == 0) {
        flx_fail(err, "%s: llama2.c version 1/2 export (magic \"ak42\") is not supported; "
                      "export the checkpoint with llama2.c's legacy format (export.py --version 0)",
                 path);
        goto fail;
    }
    int32_t h[7];
    memcpy(h, f->data, sizeof h);
    flx_config *c = &m->config;
    c->dim = h[0];
    c->ffn_dim = h[1];
    c->n_layers = h[2];
    c->n_heads = h[3];
    c->n_kv_heads = h[4];
    int shared = h[5] > 0;
    /* INT32_MIN has no positive counterpart; 0 fails validation below. */
    c->vocab_size = h[5];
    if (h[5] < 0) c->vocab_size = h[5] == INT32_MIN ? 0 : -h[5];
    c->context_length = h[6];
    c->head_dim = (c->n_heads > 0 && c->dim % c->n_heads == 0) ? c->dim / c->n_heads : 0;
    c->rope_dim = c->head_dim;
    c->norm_eps = 1e-5f;
    c->rope_theta = 10000.0f;
    c->tied_embeddings = shared;
    /* Anything that is not GGUF or safetensors arrives here; a header with
     * absurd sizes means the file is not a llama2.c checkpoint at all. */
    if (h[0] > (1 << 16) || h[1] > (1 << 20) || h[2] > 1024 || h[3] > (1 << 16)) {
        flx_fail(err,
                 "%s: not a recognized model file: not GGUF, not safetensors, and its first 28 bytes "
                 "are not a llama2.c header (dim %d, layers %d, heads %d); pass a llama2.c .bin, "
                 "a .gguf, a .safetensors file or a Hugging Face model folder",
                 path, h[0], h[2], h[3]);
        goto fail;
    }
    if (c->n_heads > 0 && c->dim % c->n_heads != 0) {
        flx_fail(err, "%s: inconsistent llama2.c header: dim %d is not a multiple of n_heads %d",
                 path, c->dim, c->n_heads);
        goto fail;
    }
    if (flx_config_validate(c, path, err) != 0) goto fail;
    if (c->n_kv_heads > c->n_heads) {
        flx_fail(err, "%s: inconsistent llama2.c header: n_kv_heads %d exceeds n_heads %d", path,
                 c->n_kv_heads, c->n_heads);
        goto fail;
    }

    uint64_t dim = (uint64_t)c->dim, hidden = (uint64_t)c->ffn_dim, L = (uint64_t)c->n_layers;
    uint64_t kv_dim = (uint64_t)c->n_kv_heads * (uint64_t)c->head_dim;
    uint64_t half_head = (uint64_t)c->head_dim / 2;
    /* The file order of llama2.c's legacy export. */
    const llama2c_tensor order[] = {
        {"token_embedding", 0, (uint64_t)c->vocab_size, dim},
        {"rms_att", 1, dim, 0},
        {"wq", 1, dim, dim},
        {"wk", 1, kv_dim, dim},
        {"wv", 1, kv_dim, dim},
        {"wo", 1, dim, dim},
        {"rms_ffn", 1, dim, 0},
        {"w1", 1, hidden, dim},
        {"w2", 1, dim, hidden},
        {"w3", 1, hidden, dim},
        {"rms_final", 0, dim, 0},
        {"freq_cis_real", 0, (uint64_t)c->context_length, half_head},
        {"freq_cis_imag", 0, (uint64_t)c->context_length, half_head},
        {"wcls", 0, (uint64_t)c->vocab_size, dim},
    };
    const int n_order = shared ? 13 : 14;
    const float *base[14];
    uint64_t offset = LLAMA2C_HEADER_BYTES;
    for (int i = 0; i < n_order; i++) {
        uint64_t per = order[i].rows * (order[i].cols ? order[i].cols : 1);
        uint64_t count = per * (order[i].per_layer ? L : 1);
        uint64_t bytes = count * 4;
        if (offset + bytes > f->size) {
            flx_fail(err,
                     "%s: truncated llama2.c checkpoint: tensor %s needs bytes %llu to %llu but "
                     "the file has %zu bytes (check the header: dim %d, hidden %d, layers %d, "
                     "vocab %d, seq_len %d)",
                     path, order[i].name, (unsigned long long)offset,
                     (unsigned long long)(offset + bytes), f->size, c->dim, c->ffn_dim,
                     c->n_layers, c->vocab_size, c->context_length);
            goto fail;
        }
        base[i] = (const float *)(f->data + offset);
        if (order[i].per_layer) {
            for (uint64_t l = 0; l < L; l++) {
                char name[64];
                snprintf(name, sizeof name, "layers.%llu.%s", (unsigned long long)l, order[i].name);
                add_info(m, name, order[i].cols ? 2 : 1, order[i].rows, order[i].cols,
                         offset + l * per * 4);
            }
        } else {
            add_info(m, order[i].name, order[i].cols ? 2 : 1, order[i].rows, order[i].cols, offset);
        }
        offset += bytes;
    }
    if (offset != f->size) {
        flx_fail(err,
                 "%s: llama2.c checkpoint size mismatch: the header implies %llu bytes but the "
                 "file has %zu (wrong header, or not a legacy llama2.c export)",
                 path, (unsigned long long)offset, f->size);
        goto fail;
    }

    m->layers = flx_calloc((size_t)L, sizeof *m->layers, err);
    if (!m->layers) goto fail;
    m->token_embedding = base[0];
    for (uint64_t l = 0; l < L; l++) {
        flx_layer_weights *w = &m->layers[l];
        w->attn_norm = base[1] + l * dim;
        w->wq = base[2] + l * dim * dim;
        w->wk = base[3] + l * kv_dim * dim;
        w->wv = base[4] + l * kv_dim * dim;
        w->wo = base[5] + l * dim * dim;
        w->ffn_norm = base[6] + l * dim;
        w->w_gate = base[7] + l * hidden * dim;
        w->w_down = base[8] + l * dim * hidden;
        w->w_up = base[9] + l * hidden * dim;
    }
    m->output_norm = base[10];
    m->output = shared ? base[0] : base[13];
    return 0;

fail:
    flx_model_free(m);
    return -1;
}
