#include "quant/artifact.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mapped_file.h"
#include "kernels/limits.h"
#include "modelio/safetensors.h"

/* Values of metadata online_rotations: R3 and R4 flags of each entry. */
static const struct {
    const char *name;
    bool r3, r4, r4_dense;
} online_values[] = {
    {"none", false, false, false},
    {"r4-walsh-hadamard-ffn", false, true, false},
    {"r4-dense-ffn", false, true, true},
    {"r3-walsh-hadamard-qk", true, false, false},
    {"r3-walsh-hadamard-qk r4-walsh-hadamard-ffn", true, true, false},
    {"r3-walsh-hadamard-qk r4-dense-ffn", true, true, true},
};
#define N_ONLINE_VALUES ((int)(sizeof online_values / sizeof online_values[0]))

/* Value of metadata kv_cache for each KV quantizer. */
#define KV_STATIC_NAME "int8-static-per-head"
#define KV_STATIC_LAYER_NAME "int8-static-per-layer"
#define KV_DYNAMIC_NAME "dynamic-per-token-group-symmetric"
#define KV_DYNAMIC_ASYM_NAME "dynamic-per-token-group-asymmetric"

/* Largest n_heads * head_dim accepted from a file, far above real models. */
#define FLX_ARTIFACT_MAX_WIDTH (1 << 20)
/* Largest order of a dense R4 rotation tensor (the kernel limit). */
#define FLX_ARTIFACT_MAX_DENSE_R4 FLX_MAX_DENSE_ROTATION

/* ---- The tensor list, shared by the writer and the loader ---- */

typedef enum tensor_kind {
    TENSOR_F32,      /* float32 vector or matrix */
    TENSOR_CODES,    /* weight codes of one qlinear; the high bytes of 16-bit codes */
    TENSOR_CODES_LO, /* low bytes of the 16-bit codes of one qlinear */
} tensor_kind;

/* One tensor of the file and the qmodel field it comes from or goes to.
 * Exactly one of ro, rw, value and linear is set. */
typedef struct tensor_desc {
    char name[48];
    tensor_kind kind;
    int n_dims;
    int64_t shape[2];        /* as stored: codes of 4-bit weights have ceil(d_in/2) columns */
    const float **ro;        /* F32 field the qmodel does not write through */
    float **rw;              /* F32 field the qmodel may write through */
    float *value;            /* F32 scalar field, stored as shape [1] */
    flx_qlinear *linear;     /* codes: the layer, which also fixes bits and d_in */
} tensor_desc;

typedef struct tensor_list {
    tensor_desc *items; /* [n] */
    int n, cap;
} tensor_list;

static tensor_desc *add_desc(tensor_list *list, flx_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static tensor_desc *add_desc(tensor_list *list, flx_error *err, const char *fmt, ...) {
    if (list->n == list->cap) {
        int cap = list->cap ? 2 * list->cap : 64;
        tensor_desc *grown = realloc(list->items, (size_t)cap * sizeof *grown);
        if (!grown) {
            flx_fail(err, "out of memory listing %d artifact tensors", cap);
            return NULL;
        }
        list->items = grown;
        list->cap = cap;
    }
    tensor_desc *d = &list->items[list->n++];
    memset(d, 0, sizeof *d);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->name, sizeof d->name, fmt, ap);
    va_end(ap);
    return d;
}

static int add_vector(tensor_list *list, const char *name, int64_t n, const float **ro, float **rw,
                      float *value, flx_error *err) {
    tensor_desc *d = add_desc(list, err, "%s", name);
    if (!d) return -1;
    d->kind = TENSOR_F32;
    d->n_dims = 1;
    d->shape[0] = n;
    d->ro = ro;
    d->rw = rw;
    d->value = value;
    return 0;
}

/* L.q (and L.q_lo for 16 bits), L.scale and L.rowsum of one linear whose
 * d_out, d_in and bits are set. */
static int add_linear(tensor_list *list, const char *prefix, flx_qlinear *lin, flx_error *err) {
    tensor_desc *d = add_desc(list, err, "%s.q", prefix);
    if (!d) return -1;
    d->kind = TENSOR_CODES;
    d->n_dims = 2;
    d->shape[0] = lin->d_out;
    d->shape[1] = lin->bits == 4 ? (lin->d_in + 1) / 2 : lin->d_in;
    d->linear = lin;
    if (lin->bits == 16) {
        tensor_desc *lo = add_desc(list, err, "%s.q_lo", prefix);
        if (!lo) return -1;
        lo->kind = TENSOR_CODES_LO;
        lo->n_dims = 2;
        lo->shape[0] = lin->d_out;
        lo->shape[1] = lin->d_in;
        lo->linear = lin;
    }
    char name[48];
    snprintf(name, sizeof name, "%s.scale", prefix);
    if (add_vector(list, name, lin->d_out, NULL, &lin->scale, NULL, err) != 0) return -1;
    if (lin->group_size > 0) {
        tensor_desc *sc = &list->items[list->n - 1];
        sc->n_dims = 2;
        sc->shape[1] = flx_qlinear_groups(lin);
    }
    snprintf(name, sizeof name, "%s.rowsum", prefix);
    return add_vector(list, name, lin->d_out, NULL, &lin->rowsum, NULL, err);
}

static const char *const linear_names[7] = {"attn_q",   "attn_k", "attn_v",  "attn_output",
                                            "ffn_gate", "ffn_up", "ffn_down"};

static flx_qlinear *layer_linear(flx_qlayer *l, int i) {
    flx_qlinear *all[7] = {&l->wq, &l->wk, &l->wv, &l->wo, &l->w_gate, &l->w_up, &l->w_down};
    return all[i];
}

/* Lists the tensors of qm, whose config, layers array, and linear shapes
 * and bits must be set. */
static int build_tensor_list(tensor_list *list, flx_qmodel *qm, int has_rope_freqs, int has_dense_r4,
                             flx_error *err) {
    const flx_config *c = &qm->config;
    if (add_vector(list, "token_embd", 0, &qm->token_embedding, NULL, NULL, err) != 0) return -1;
    tensor_desc *emb = &list->items[list->n - 1];
    emb->n_dims = 2;
    emb->shape[0] = c->vocab_size;
    emb->shape[1] = c->dim;
    if (add_vector(list, "output_norm", c->dim, &qm->output_norm, NULL, NULL, err) != 0) return -1;
    if (has_rope_freqs &&
        add_vector(list, "rope_freqs", c->rope_dim / 2, &qm->rope_freqs, NULL, NULL, err) != 0)
        return -1;
    if (has_dense_r4) {
        if (add_vector(list, "r4_rotation", 0, NULL, &qm->r4_matrix, NULL, err) != 0) return -1;
        tensor_desc *r4 = &list->items[list->n - 1];
        r4->n_dims = 2;
        r4->shape[0] = c->ffn_dim;
        r4->shape[1] = c->ffn_dim;
    }
    for (int l = 0; l < c->n_layers; l++) {
        flx_qlayer *ql = &qm->layers[l];
        char name[48];
        snprintf(name, sizeof name, "blk.%d.attn_norm", l);
        if (add_vector(list, name, c->dim, &ql->attn_norm, NULL, NULL, err) != 0) return -1;
        snprintf(name, sizeof name, "blk.%d.ffn_norm", l);
        if (add_vector(list, name, c->dim, &ql->ffn_norm, NULL, NULL, err) != 0) return -1;
        for (int i = 0; i < 7; i++) {
            snprintf(name, sizeof name, "blk.%d.%s", l, linear_names[i]);
            if (add_linear(list, name, layer_linear(ql, i), err) != 0) return -1;
        }
        snprintf(name, sizeof name, "blk.%d.q_scale", l);
        if (add_vector(list, name, c->n_heads, NULL, &ql->q_scale, NULL, err) != 0) return -1;
        snprintf(name, sizeof name, "blk.%d.k_scale", l);
        if (add_vector(list, name, c->n_kv_heads, NULL, &ql->k_scale, NULL, err) != 0) return -1;
        snprintf(name, sizeof name, "blk.%d.v_scale", l);
        if (add_vector(list, name, c->n_kv_heads, NULL, &ql->v_scale, NULL, err) != 0) return -1;
        snprintf(name, sizeof name, "blk.%d.prob_scale", l);
        if (add_vector(list, name, 1, NULL, NULL, &ql->prob_scale, err) != 0) return -1;
    }
    return add_linear(list, "output", &qm->lm_head, err);
}

static uint64_t desc_bytes(const tensor_desc *d) {
    uint64_t n = (uint64_t)d->shape[0] * (uint64_t)(d->n_dims == 2 ? d->shape[1] : 1);
    return d->kind == TENSOR_F32 ? 4 * n : n;
}

static const char *desc_dtype(const tensor_desc *d) {
    if (d->kind == TENSOR_F32) return "F32";
    return d->linear->bits == 4 ? "U8" : "I8";
}

/* ---- Writer ---- */

typedef struct strbuf {
    char *s;
    size_t len, cap;
    int failed;
} strbuf;

static void sb_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(strbuf *b, const char *fmt, ...) {
    if (b->failed) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if (b->s && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->len <= (size_t)n) cap *= 2;
        char *grown = realloc(b->s, cap);
        if (!grown) {
            b->failed = 1;
            return;
        }
        b->s = grown;
        b->cap = cap;
    }
}

/* A JSON string literal: quotes, backslashes and control bytes escaped. */
static void sb_json_string(strbuf *b, const char *s) {
    sb_printf(b, "\"");
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') sb_printf(b, "\\%c", ch);
        else if (ch < 0x20) sb_printf(b, "\\u%04x", ch);
        else sb_printf(b, "%c", ch);
    }
    sb_printf(b, "\"");
}

static void meta_str(strbuf *b, const char *key, const char *value) {
    sb_printf(b, ",");
    sb_json_string(b, key);
    sb_printf(b, ":");
    sb_json_string(b, value);
}

static void meta_int(strbuf *b, const char *key, long long value) {
    char text[32];
    snprintf(text, sizeof text, "%lld", value);
    meta_str(b, key, text);
}

/* %.9g reproduces every float exactly when read back with strtof. */
static void meta_float(strbuf *b, const char *key, float value) {
    char text[32];
    snprintf(text, sizeof text, "%.9g", (double)value);
    meta_str(b, key, text);
}

static const char *rope_scaling_name(flx_rope_scaling_type t) {
    if (t == FLX_ROPE_SCALING_LINEAR) return "linear";
    if (t == FLX_ROPE_SCALING_LLAMA3) return "llama3";
    return "none";
}

static void write_metadata(strbuf *b, const flx_qmodel *qm, const flx_artifact_provenance *prov,
                           int weight_bits) {
    const flx_config *c = &qm->config;
    sb_printf(b, "\"__metadata__\":{\"format\":\"" FLX_ARTIFACT_FORMAT "\"");
    meta_str(b, "format_version", FLX_ARTIFACT_FORMAT_VERSION);
    meta_str(b, "recipe", qm->recipe);
    meta_int(b, "dim", c->dim);
    meta_int(b, "n_layers", c->n_layers);
    meta_int(b, "n_heads", c->n_heads);
    meta_int(b, "n_kv_heads", c->n_kv_heads);
    meta_int(b, "head_dim", c->head_dim);
    meta_int(b, "ffn_dim", c->ffn_dim);
    meta_int(b, "vocab_size", c->vocab_size);
    meta_int(b, "context_length", c->context_length);
    meta_float(b, "norm_eps", c->norm_eps);
    meta_float(b, "rope_theta", c->rope_theta);
    meta_int(b, "rope_dim", c->rope_dim);
    meta_str(b, "rope_scaling", rope_scaling_name(c->rope_scaling.type));
    meta_float(b, "rope_scaling_factor", c->rope_scaling.factor);
    meta_float(b, "rope_low_freq_factor", c->rope_scaling.low_freq_factor);
    meta_float(b, "rope_high_freq_factor", c->rope_scaling.high_freq_factor);
    meta_int(b, "rope_original_context_length", c->rope_scaling.original_context_length);
    meta_str(b, "tied_embeddings", c->tied_embeddings ? "true" : "false");
    meta_int(b, "weight_bits", weight_bits);
    meta_int(b, "lm_head_weight_bits", qm->lm_head.bits);
    meta_int(b, "act_bits", qm->act.bits);
    meta_str(b, "act_asymmetric", qm->act.asymmetric ? "true" : "false");
    meta_float(b, "act_clip", qm->act.clip);
    meta_int(b, "lm_head_act_bits", qm->lm_head_act.bits);
    meta_str(b, "lm_head_act_asymmetric", qm->lm_head_act.asymmetric ? "true" : "false");
    meta_float(b, "lm_head_act_clip", qm->lm_head_act.clip);
    char granularity[32] = "per-channel";
    if (qm->layers && qm->layers[0].wq.group_size > 0)
        snprintf(granularity, sizeof granularity, "per-group-%d", qm->layers[0].wq.group_size);
    meta_str(b, "granularity", granularity);
    meta_str(b, "attention", "int8-static-per-head");
    meta_str(b, "probabilities", "uint8-static");
    char r4_only[64];
    snprintf(r4_only, sizeof r4_only, "r4=walsh-hadamard(%d)", c->ffn_dim);
    const char *rotations = prov && prov->rotations[0] ? prov->rotations
                            : qm->online_hadamard_ffn  ? r4_only
                                                       : "none";
    meta_str(b, "rotations", rotations);
    const char *online = "none";
    for (int i = 0; i < N_ONLINE_VALUES; i++)
        if (online_values[i].r3 == qm->online_hadamard_qk && online_values[i].r4 == qm->online_hadamard_ffn &&
            online_values[i].r4_dense == (qm->online_hadamard_ffn && qm->r4_matrix != NULL))
            online = online_values[i].name;
    meta_str(b, "online_rotations", online);
    const char *kv_name = KV_STATIC_NAME;
    if (qm->kv.dynamic) kv_name = qm->kv.asymmetric ? KV_DYNAMIC_ASYM_NAME : KV_DYNAMIC_NAME;
    else if (qm->kv.per_layer) kv_name = KV_STATIC_LAYER_NAME;
    meta_str(b, "kv_cache", kv_name);
    if (qm->kv.dynamic) {
        meta_int(b, "kv_bits", qm->kv.bits);
        meta_int(b, "kv_group_size", qm->kv.group_size);
        meta_float(b, "kv_clip", qm->kv.clip);
    }
    meta_str(b, "weight_quantizer", prov && prov->weight_quantizer[0] ? prov->weight_quantizer : "unrecorded");
    meta_str(b, "calib_text", prov ? prov->calib_text : "");
    meta_int(b, "calib_tokens", prov ? prov->calib_tokens : 0);
    meta_str(b, "source_model", prov ? prov->source_model : "");
    sb_printf(b, "}");
}

/* Writes one tensor's bytes; 4-bit codes are packed a row at a time. */
static int write_tensor(FILE *f, const tensor_desc *d, uint8_t *row_buf) {
    if (d->kind == TENSOR_F32) {
        const float *src = d->value;
        if (d->ro) src = *d->ro;
        if (d->rw) src = *d->rw;
        size_t n = (size_t)(desc_bytes(d) / 4);
        return fwrite(src, sizeof(float), n, f) == n ? 0 : -1;
    }
    const flx_qlinear *lin = d->linear;
    if (lin->bits != 4) {
        size_t n = (size_t)lin->d_out * lin->d_in;
        return fwrite(d->kind == TENSOR_CODES_LO ? lin->q_lo : lin->q, 1, n, f) == n ? 0 : -1;
    }
    size_t packed = (size_t)d->shape[1];
    for (int o = 0; o < lin->d_out; o++) {
        const int8_t *q = lin->q + (size_t)o * lin->d_in;
        for (size_t j = 0; j < packed; j++) {
            int i = (int)(2 * j);
            unsigned lo = (unsigned)q[i] & 0xfu;
            unsigned hi = i + 1 < lin->d_in ? (unsigned)q[i + 1] & 0xfu : 0u;
            row_buf[j] = (uint8_t)(lo | hi << 4);
        }
        if (fwrite(row_buf, 1, packed, f) != packed) return -1;
    }
    return 0;
}

/* All layer linears must share one width of 4 or 8 bits, which the
 * metadata records; only the LM head may have 16-bit weights. */
static int common_weight_bits(const flx_qmodel *qm, flx_error *err) {
    int bits = qm->config.n_layers > 0 ? qm->layers[0].wq.bits : 8;
    if (bits != 4 && bits != 8)
        return flx_fail(err,
                        "blk.0.attn_q has %d-bit weights; the artifact format stores layer linears of 4 "
                        "or 8 bits",
                        bits);
    if (qm->lm_head.bits != 4 && qm->lm_head.bits != 8 && qm->lm_head.bits != 16)
        return flx_fail(err, "the LM head has %d-bit weights; the artifact format stores 4, 8 or 16", qm->lm_head.bits);
    for (int l = 0; l < qm->config.n_layers; l++)
        for (int i = 0; i < 7; i++) {
            const flx_qlinear *lin = layer_linear(&qm->layers[l], i);
            if (lin->bits != bits)
                return flx_fail(err,
                                "blk.%d.%s has %d-bit weights but blk.0.attn_q has %d; the artifact "
                                "format needs one width for all layer linears",
                                l, linear_names[i], lin->bits, bits);
            if (lin->group_size != qm->layers[0].wq.group_size)
                return flx_fail(err,
                                "blk.%d.%s has weight group size %d but blk.0.attn_q has %d; the artifact "
                                "format needs one granularity for all layer linears",
                                l, linear_names[i], lin->group_size, qm->layers[0].wq.group_size);
        }
    if (qm->lm_head.group_size != 0)
        return flx_fail(err, "the LM head has weight group size %d; the artifact format stores it per channel",
                        qm->lm_head.group_size);
    return bits;
}

int flx_artifact_save(const flx_qmodel *qm, const flx_artifact_provenance *prov, const char *path,
                      flx_error *err) {
    tensor_list list = {0};
    strbuf header = {0};
    uint8_t *row_buf = NULL;
    char tmp_path[1100];
    FILE *f = NULL;
    int rc = -1;

    int weight_bits = common_weight_bits(qm, err);
    if (weight_bits < 0) goto done;
    /* The list only reads through its pointers here. */
    if (build_tensor_list(&list, (flx_qmodel *)qm, qm->rope_freqs != NULL,
                          qm->online_hadamard_ffn && qm->r4_matrix != NULL, err) != 0)
        goto done;

    sb_printf(&header, "{");
    write_metadata(&header, qm, prov, weight_bits);
    uint64_t offset = 0;
    size_t widest_row = 1;
    for (int i = 0; i < list.n; i++) {
        const tensor_desc *d = &list.items[i];
        uint64_t bytes = desc_bytes(d);
        sb_printf(&header, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%lld", d->name, desc_dtype(d),
                  (long long)d->shape[0]);
        if (d->n_dims == 2) sb_printf(&header, ",%lld", (long long)d->shape[1]);
        sb_printf(&header, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)offset,
                  (unsigned long long)(offset + bytes));
        offset += bytes;
        if (d->n_dims == 2 && (size_t)d->shape[1] > widest_row) widest_row = (size_t)d->shape[1];
    }
    sb_printf(&header, "}");
    /* Spaces after the JSON align the data section to 8 bytes. */
    while (!header.failed && (8 + header.len) % 8 != 0) sb_printf(&header, " ");
    if (header.failed) {
        flx_fail(err, "%s: out of memory building the safetensors header", path);
        goto done;
    }
    if (!(row_buf = flx_malloc(widest_row, err))) goto done;

    snprintf(tmp_path, sizeof tmp_path, "%s.tmp", path);
    f = fopen(tmp_path, "wb");
    if (!f) {
        flx_fail(err, "%s: cannot create the file: %s; check that its folder exists and is writable",
                 tmp_path, strerror(errno));
        goto done;
    }
    uint8_t le[8];
    for (int i = 0; i < 8; i++) le[i] = (uint8_t)((uint64_t)header.len >> (8 * i));
    int ok = fwrite(le, 1, 8, f) == 8 && fwrite(header.s, 1, header.len, f) == header.len;
    for (int i = 0; ok && i < list.n; i++) ok = write_tensor(f, &list.items[i], row_buf) == 0;
    int close_rc = fclose(f);
    f = NULL;
    if (!ok || close_rc != 0) {
        flx_fail(err, "%s: write failed: %s; check the free disk space", tmp_path, strerror(errno));
        remove(tmp_path);
        goto done;
    }
    if (rename(tmp_path, path) != 0) {
        flx_fail(err, "%s: cannot rename %s to it: %s", path, tmp_path, strerror(errno));
        remove(tmp_path);
        goto done;
    }
    rc = 0;
done:
    if (f) fclose(f);
    free(list.items);
    free(header.s);
    free(row_buf);
    return rc;
}

/* ---- Loader ---- */

static const char *meta_get(const flx_st_file *st, const char *key) {
    for (int i = 0; i < st->n_metadata; i++)
        if (strcmp(st->metadata[i].key, key) == 0) return st->metadata[i].value;
    return NULL;
}

static const char *meta_require(const flx_st_file *st, const char *key, const char *path, flx_error *err) {
    const char *v = meta_get(st, key);
    if (!v)
        flx_fail(err, "%s: metadata key '%s' is missing; the artifact is corrupt or was not written by "
                      "flexllm quantize",
                 path, key);
    return v;
}

static int meta_read_int(const flx_st_file *st, const char *key, long long min, long long max,
                         long long *out, const char *path, flx_error *err) {
    const char *v = meta_require(st, key, path, err);
    if (!v) return -1;
    char *end = NULL;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end != '\0' || x < min || x > max)
        return flx_fail(err, "%s: metadata %s = '%s' is invalid (expected an integer from %lld to %lld)",
                        path, key, v, min, max);
    *out = x;
    return 0;
}

static int meta_read_float(const flx_st_file *st, const char *key, float *out, const char *path,
                           flx_error *err) {
    const char *v = meta_require(st, key, path, err);
    if (!v) return -1;
    char *end = NULL;
    errno = 0;
    float x = strtof(v, &end);
    if (errno || end == v || *end != '\0' || !isfinite(x))
        return flx_fail(err, "%s: metadata %s = '%s' is not a finite number", path, key, v);
    *out = x;
    return 0;
}

static int meta_read_bool(const flx_st_file *st, const char *key, bool *out, const char *path,
                          flx_error *err) {
    const char *v = meta_require(st, key, path, err);
    if (!v) return -1;
    if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0)
        return flx_fail(err, "%s: metadata %s = '%s' is invalid (expected true or false)", path, key, v);
    *out = strcmp(v, "true") == 0;
    return 0;
}

/* Checks that key has one of the values that this loader implements. */
static int meta_expect(const flx_st_file *st, const char *key, const char *const *allowed, int n_allowed,
                       const char *path, flx_error *err) {
    const char *v = meta_require(st, key, path, err);
    if (!v) return -1;
    for (int i = 0; i < n_allowed; i++)
        if (strcmp(v, allowed[i]) == 0) return 0;
    return flx_fail(err, "%s: metadata %s = '%s' is not supported (expected '%s')", path, key, v,
                    allowed[0]);
}

static int read_config(const flx_st_file *st, flx_config *c, const char *path, flx_error *err) {
    struct {
        const char *key;
        int *field;
    } ints[] = {
        {"dim", &c->dim},
        {"n_layers", &c->n_layers},
        {"n_heads", &c->n_heads},
        {"n_kv_heads", &c->n_kv_heads},
        {"head_dim", &c->head_dim},
        {"ffn_dim", &c->ffn_dim},
        {"vocab_size", &c->vocab_size},
        {"context_length", &c->context_length},
        {"rope_dim", &c->rope_dim},
        {"rope_original_context_length", &c->rope_scaling.original_context_length},
    };
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        long long v;
        if (meta_read_int(st, ints[i].key, 0, INT_MAX, &v, path, err) != 0) return -1;
        *ints[i].field = (int)v;
    }
    if (meta_read_float(st, "norm_eps", &c->norm_eps, path, err) != 0 ||
        meta_read_float(st, "rope_theta", &c->rope_theta, path, err) != 0 ||
        meta_read_float(st, "rope_scaling_factor", &c->rope_scaling.factor, path, err) != 0 ||
        meta_read_float(st, "rope_low_freq_factor", &c->rope_scaling.low_freq_factor, path, err) != 0 ||
        meta_read_float(st, "rope_high_freq_factor", &c->rope_scaling.high_freq_factor, path, err) != 0 ||
        meta_read_bool(st, "tied_embeddings", &c->tied_embeddings, path, err) != 0)
        return -1;
    const char *scaling = meta_require(st, "rope_scaling", path, err);
    if (!scaling) return -1;
    if (strcmp(scaling, "none") == 0) c->rope_scaling.type = FLX_ROPE_SCALING_NONE;
    else if (strcmp(scaling, "linear") == 0) c->rope_scaling.type = FLX_ROPE_SCALING_LINEAR;
    else if (strcmp(scaling, "llama3") == 0) c->rope_scaling.type = FLX_ROPE_SCALING_LLAMA3;
    else
        return flx_fail(err, "%s: metadata rope_scaling = '%s' is invalid (expected none, linear or llama3)",
                        path, scaling);
    return flx_config_validate(c, path, err);
}

static int read_act(const flx_st_file *st, const char *prefix, flx_act_quant *a, const char *path,
                    flx_error *err) {
    char key[64];
    long long bits;
    snprintf(key, sizeof key, "%s_bits", prefix);
    if (meta_read_int(st, key, 4, 8, &bits, path, err) != 0) return -1;
    if (bits != 4 && bits != 8)
        return flx_fail(err, "%s: metadata %s = %lld is invalid (expected 4 or 8)", path, key, bits);
    a->bits = (int)bits;
    snprintf(key, sizeof key, "%s_asymmetric", prefix);
    if (meta_read_bool(st, key, &a->asymmetric, path, err) != 0) return -1;
    snprintf(key, sizeof key, "%s_clip", prefix);
    if (meta_read_float(st, key, &a->clip, path, err) != 0) return -1;
    if (!(a->clip > 0.0f && a->clip <= 1.0f))
        return flx_fail(err, "%s: metadata %s = %g is invalid (expected a ratio in (0, 1])", path, key,
                        (double)a->clip);
    return 0;
}

/* Reads a weight width: 4 or 8, or also 16 when allow_16 is set. */
static int read_weight_bits(const flx_st_file *st, const char *key, int allow_16, int *out, const char *path,
                            flx_error *err) {
    long long bits;
    if (meta_read_int(st, key, 4, allow_16 ? 16 : 8, &bits, path, err) != 0) return -1;
    if (bits != 4 && bits != 8 && !(allow_16 && bits == 16))
        return flx_fail(err, "%s: metadata %s = %lld is invalid (expected 4, 8%s)", path, key, bits,
                        allow_16 ? " or 16" : "");
    *out = (int)bits;
    return 0;
}

static void format_shape(char *out, size_t size, int n_dims, const int64_t *shape) {
    if (n_dims == 1) snprintf(out, size, "[%lld]", (long long)shape[0]);
    else if (n_dims == 2) snprintf(out, size, "[%lld, %lld]", (long long)shape[0], (long long)shape[1]);
    else snprintf(out, size, "(%d dimensions)", n_dims);
}

/* Unpacks and range-checks the codes of one linear: whole codes, or the
 * high bytes (in [-127, 127]) or low bytes (any int8) of 16-bit codes.
 * check_linear checks the recombined 16-bit codes. */
static int load_codes(flx_qlinear *lin, tensor_kind kind, const uint8_t *src, const char *name, const char *path,
                      flx_error *err) {
    int qmax = lin->bits == 4 ? 7 : 127;
    if (kind == TENSOR_CODES_LO) {
        memcpy(lin->q_lo, src, (size_t)lin->d_out * lin->d_in);
        return 0;
    }
    if (lin->bits != 4) {
        for (int o = 0; o < lin->d_out; o++)
            for (int i = 0; i < lin->d_in; i++) {
                int8_t v = (int8_t)src[(size_t)o * lin->d_in + i];
                if (v < -qmax)
                    return flx_fail(err, "%s: tensor %s: %s [%d][%d] = %d is outside [-%d, %d]", path, name,
                                    lin->bits == 16 ? "high byte" : "code", o, i, v, qmax, qmax);
                lin->q[(size_t)o * lin->d_in + i] = v;
            }
        return 0;
    }
    size_t packed = ((size_t)lin->d_in + 1) / 2;
    for (int o = 0; o < lin->d_out; o++)
        for (int i = 0; i < lin->d_in + (lin->d_in & 1); i++) {
            unsigned byte = src[(size_t)o * packed + (size_t)i / 2];
            int nibble = (int)(i & 1 ? byte >> 4 : byte & 0xfu);
            int v = nibble >= 8 ? nibble - 16 : nibble;
            if (i == lin->d_in) {
                if (v != 0)
                    return flx_fail(err,
                                    "%s: tensor %s: row %d: the unused high nibble of the last byte "
                                    "is %d, expected 0",
                                    path, name, o, v);
                continue;
            }
            if (v < -qmax)
                return flx_fail(err, "%s: tensor %s: code [%d][%d] = %d is outside [-%d, %d]", path, name,
                                o, i, v, qmax, qmax);
            lin->q[(size_t)o * lin->d_in + i] = (int8_t)v;
        }
    return 0;
}

/* 16-bit codes must be in [-FLX_QMAX16, FLX_QMAX16] (the only byte pair
 * outside is high -127 with low -128), scales positive and finite, and row
 * sums equal to scale * (sum of codes), computed as the quantizer does. */
static int check_linear(const flx_qlinear *lin, const char *prefix, const char *path, flx_error *err) {
    for (int o = 0; o < lin->d_out; o++) {
        int groups = flx_qlinear_groups(lin), group = lin->d_in / groups;
        for (int g = 0; g < groups; g++) {
            float sg = lin->scale[(size_t)o * groups + g];
            if (!(sg > 0.0f) || !isfinite(sg))
                return flx_fail(err, "%s: tensor %s.scale: entry [%d][%d] = %g is not a positive number", path,
                                prefix, o, g, (double)sg);
        }
        double expected_sum = 0.0;
        long long code_sum = 0;
        for (int i = 0; i < lin->d_in; i++) {
            int code = flx_qlinear_code(lin, (size_t)o * lin->d_in + i);
            if (lin->bits == 16 && code < -FLX_QMAX16)
                return flx_fail(err,
                                "%s: tensors %s.q and %s.q_lo: code [%d][%d] = %d is outside [-%d, %d]; the "
                                "artifact is corrupt",
                                path, prefix, prefix, o, i, code, FLX_QMAX16, FLX_QMAX16);
            code_sum += code;
            if ((i + 1) % group == 0) {
                expected_sum += (double)lin->scale[(size_t)o * groups + i / group] * (double)code_sum;
                code_sum = 0;
            }
        }
        float expected = (float)expected_sum;
        if (lin->rowsum[o] != expected)
            return flx_fail(err,
                            "%s: tensor %s.rowsum: entry %d = %.9g, but scale and codes give %.9g; the "
                            "artifact is corrupt",
                            path, prefix, o, (double)lin->rowsum[o], (double)expected);
    }
    return 0;
}

static int check_positive(const float *v, int n, const char *name, const char *path, flx_error *err) {
    for (int i = 0; i < n; i++)
        if (!(v[i] > 0.0f) || !isfinite(v[i]))
            return flx_fail(err, "%s: tensor %s: entry %d = %g is not a positive number", path, name, i,
                            (double)v[i]);
    return 0;
}

/* Copies the tensors of list from st into buffers owned by qm. */
static int load_tensors(flx_qmodel *qm, const tensor_list *list, const flx_st_file *st, const char *path,
                        flx_error *err) {
    for (int i = 0; i < list->n; i++) {
        const tensor_desc *d = &list->items[i];
        const flx_st_tensor *t = flx_st_find(st, d->name);
        char want[64], have[64];
        format_shape(want, sizeof want, d->n_dims, d->shape);
        if (!t)
            return flx_fail(err, "%s: tensor %s (%s %s) not found", path, d->name, desc_dtype(d), want);
        if (strcmp(flx_st_dtype_name(t->dtype), desc_dtype(d)) != 0)
            return flx_fail(err, "%s: tensor %s has dtype %s, expected %s", path, d->name,
                            flx_st_dtype_name(t->dtype), desc_dtype(d));
        int same = t->n_dims == d->n_dims;
        for (int k = 0; same && k < d->n_dims; k++) same = t->shape[k] == d->shape[k];
        if (!same) {
            format_shape(have, sizeof have, t->n_dims, t->shape);
            return flx_fail(err,
                            "%s: tensor %s has shape %s, but the metadata (dim %d, %d heads, %d KV "
                            "heads, head_dim %d, ffn_dim %d, vocab %d) implies %s",
                            path, d->name, have, qm->config.dim, qm->config.n_heads,
                            qm->config.n_kv_heads, qm->config.head_dim, qm->config.ffn_dim,
                            qm->config.vocab_size, want);
        }
        const uint8_t *src = st->data + t->begin;
        size_t bytes = (size_t)(t->end - t->begin);
        if (d->kind != TENSOR_F32) {
            flx_qlinear *lin = d->linear;
            int8_t **dst = d->kind == TENSOR_CODES_LO ? &lin->q_lo : &lin->q;
            if (!(*dst = flx_qmodel_alloc(qm, (size_t)lin->d_out * lin->d_in, err))) return -1;
            if (load_codes(lin, d->kind, src, d->name, path, err) != 0) return -1;
            continue;
        }
        float *buf = flx_qmodel_alloc(qm, bytes, err);
        if (!buf) return -1;
        memcpy(buf, src, bytes);
        if (d->ro) *d->ro = buf;
        if (d->rw) *d->rw = buf;
        if (d->value) *d->value = buf[0];
    }
    /* Every tensor of the file must be one the metadata calls for. */
    if (st->n_tensors != list->n)
        for (int i = 0; i < st->n_tensors; i++) {
            int known = 0;
            for (int j = 0; j < list->n && !known; j++) known = strcmp(st->tensors[i].name, list->items[j].name) == 0;
            if (!known)
                return flx_fail(err, "%s: unexpected tensor %s for this model shape", path, st->tensors[i].name);
        }
    return 0;
}

static int check_values(const flx_qmodel *qm, const char *path, flx_error *err) {
    const flx_config *c = &qm->config;
    char name[48];
    for (int l = 0; l < c->n_layers; l++) {
        flx_qlayer *ql = &qm->layers[l];
        for (int i = 0; i < 7; i++) {
            snprintf(name, sizeof name, "blk.%d.%s", l, linear_names[i]);
            if (check_linear(layer_linear(ql, i), name, path, err) != 0) return -1;
        }
        snprintf(name, sizeof name, "blk.%d.q_scale", l);
        if (check_positive(ql->q_scale, c->n_heads, name, path, err) != 0) return -1;
        snprintf(name, sizeof name, "blk.%d.k_scale", l);
        if (check_positive(ql->k_scale, c->n_kv_heads, name, path, err) != 0) return -1;
        snprintf(name, sizeof name, "blk.%d.v_scale", l);
        if (check_positive(ql->v_scale, c->n_kv_heads, name, path, err) != 0) return -1;
        snprintf(name, sizeof name, "blk.%d.prob_scale", l);
        if (check_positive(&ql->prob_scale, 1, name, path, err) != 0) return -1;
        for (int h = 1; qm->kv.per_layer && h < c->n_heads; h++)
            if (ql->q_scale[h] != ql->q_scale[0] ||
                (h < c->n_kv_heads && (ql->k_scale[h] != ql->k_scale[0] || ql->v_scale[h] != ql->v_scale[0])))
                return flx_fail(err,
                                "%s: kv_cache is per layer, but blk.%d.q_scale, k_scale or v_scale differs between "
                                "heads 0 and %d; the artifact is corrupt",
                                path, l, h);
    }
    return check_linear(&qm->lm_head, "output", path, err);
}

static void copy_meta(char *out, size_t size, const flx_st_file *st, const char *key) {
    const char *v = meta_get(st, key);
    snprintf(out, size, "%s", v ? v : "");
}

/* Sets qm->online_hadamard_ffn from online_rotations, or from rotations in
 * artifacts written before online_rotations existed, and copies the
 * rotation and quantizer records into prov. */
static int read_rotations(const flx_st_file *st, flx_qmodel *qm, flx_artifact_provenance *prov, bool *dense_r4,
                          const char *path, flx_error *err) {
    const char *online = meta_get(st, "online_rotations");
    const char *rotations = meta_require(st, "rotations", path, err);
    if (!rotations) return -1;
    if (!online) {
        static const char *const old[] = {"none", "online-hadamard-ffn"};
        if (meta_expect(st, "rotations", old, 2, path, err) != 0) return -1;
        qm->online_hadamard_ffn = strcmp(rotations, "online-hadamard-ffn") == 0;
    } else {
        int found = -1;
        for (int i = 0; i < N_ONLINE_VALUES; i++)
            if (strcmp(online, online_values[i].name) == 0) found = i;
        if (found < 0)
            return flx_fail(err,
                            "%s: metadata online_rotations = '%s' is not supported (expected none, "
                            "r3-walsh-hadamard-qk, r4-walsh-hadamard-ffn or r4-dense-ffn, or R3 and one R4 "
                            "separated by a space)",
                            path, online);
        qm->online_hadamard_qk = online_values[found].r3;
        qm->online_hadamard_ffn = online_values[found].r4;
        *dense_r4 = online_values[found].r4_dense;
        if (qm->online_hadamard_ffn != (strstr(rotations, "r4=") != NULL) ||
            qm->online_hadamard_qk != (strstr(rotations, "r3=") != NULL))
            return flx_fail(err,
                            "%s: metadata online_rotations = '%s' contradicts rotations = '%s'; the artifact "
                            "is corrupt",
                            path, online, rotations);
    }
    int ffn = qm->config.ffn_dim, head_dim = qm->config.head_dim;
    if (qm->online_hadamard_qk && (head_dim & (head_dim - 1)) != 0)
        return flx_fail(err,
                        "%s: metadata asks for the online R3 Walsh-Hadamard transform of Q and K, but "
                        "head_dim = %d is not a power of two; the artifact is corrupt",
                        path, head_dim);
    if (*dense_r4 && ffn > FLX_ARTIFACT_MAX_DENSE_R4)
        return flx_fail(err, "%s: metadata asks for a dense R4 rotation of order ffn_dim = %d, above the limit of %d",
                        path, ffn, FLX_ARTIFACT_MAX_DENSE_R4);
    if (qm->online_hadamard_ffn && !*dense_r4 && (ffn & (ffn - 1)) != 0)
        return flx_fail(err,
                        "%s: metadata asks for the online Walsh-Hadamard transform before w_down, but "
                        "ffn_dim = %d is not a power of two; the artifact is corrupt",
                        path, ffn);
    if (prov && strlen(rotations) >= sizeof prov->rotations)
        return flx_fail(err, "%s: metadata rotations is %zu bytes long, above the limit of %zu", path,
                        strlen(rotations), sizeof prov->rotations - 1);
    if (prov) {
        copy_meta(prov->rotations, sizeof prov->rotations, st, "rotations");
        copy_meta(prov->weight_quantizer, sizeof prov->weight_quantizer, st, "weight_quantizer");
    }
    return 0;
}

/* Reads the KV-cache quantizer; artifacts without kv_cache have the static
 * INT8 cache. */
static int read_kv(const flx_st_file *st, flx_qmodel *qm, const char *path, flx_error *err) {
    qm->kv = (flx_kv_quant){.dynamic = false, .bits = 8, .group_size = 0, .clip = 1.0f};
    const char *kv = meta_get(st, "kv_cache");
    if (!kv || strcmp(kv, KV_STATIC_NAME) == 0) return 0;
    if (strcmp(kv, KV_STATIC_LAYER_NAME) == 0) {
        qm->kv.per_layer = true;
        return 0;
    }
    if (strcmp(kv, KV_DYNAMIC_NAME) != 0 && strcmp(kv, KV_DYNAMIC_ASYM_NAME) != 0)
        return flx_fail(err, "%s: metadata kv_cache = '%s' is not supported (expected '" KV_STATIC_NAME "', '"
                             KV_STATIC_LAYER_NAME "', '" KV_DYNAMIC_NAME "' or '" KV_DYNAMIC_ASYM_NAME "')",
                        path, kv);
    qm->kv.asymmetric = strcmp(kv, KV_DYNAMIC_ASYM_NAME) == 0;
    long long bits, group;
    if (meta_read_int(st, "kv_bits", 4, 8, &bits, path, err) != 0 ||
        meta_read_int(st, "kv_group_size", 1, qm->config.head_dim, &group, path, err) != 0 ||
        meta_read_float(st, "kv_clip", &qm->kv.clip, path, err) != 0)
        return -1;
    if (bits != 4 && bits != 8)
        return flx_fail(err, "%s: metadata kv_bits = %lld is invalid (expected 4 or 8)", path, bits);
    if (qm->config.head_dim % group != 0)
        return flx_fail(err, "%s: metadata kv_group_size = %lld does not divide head_dim %d", path, group,
                        qm->config.head_dim);
    if (!(qm->kv.clip > 0.0f && qm->kv.clip <= 1.0f))
        return flx_fail(err, "%s: metadata kv_clip = %g is invalid (expected a ratio in (0, 1])", path,
                        (double)qm->kv.clip);
    qm->kv.dynamic = true;
    qm->kv.bits = (int)bits;
    qm->kv.group_size = (int)group;
    return 0;
}

/* A dense R4 must be finite with rows of unit length (to 1e-3); the full
 * orthogonality check would cost n^3. */
static int check_rotation(const float *r, int n, const char *path, flx_error *err) {
    for (int i = 0; i < n; i++) {
        double norm = 0.0;
        for (int j = 0; j < n; j++) {
            float v = r[(size_t)i * n + j];
            if (!isfinite(v))
                return flx_fail(err, "%s: tensor r4_rotation: entry [%d][%d] = %g is not finite", path, i, j,
                                (double)v);
            norm += (double)v * v;
        }
        if (fabs(norm - 1.0) > 1e-3)
            return flx_fail(err,
                            "%s: tensor r4_rotation: row %d has squared length %.6g, not 1; the rotation is "
                            "not orthogonal and the artifact is corrupt",
                            path, i, norm);
    }
    return 0;
}

static int load_from_file(flx_qmodel *qm, flx_artifact_provenance *prov, const flx_st_file *st,
                          const char *path, flx_error *err) {
    const char *format = meta_get(st, "format");
    if (!format || strcmp(format, FLX_ARTIFACT_FORMAT) != 0)
        return flx_fail(err,
                        "%s: metadata format is '%s', not '" FLX_ARTIFACT_FORMAT
                        "': this is not a flexllm quantized artifact; create one with flexllm quantize",
                        path, format ? format : "(missing)");
    const char *version = meta_require(st, "format_version", path, err);
    if (!version) return -1;
    if (strcmp(version, FLX_ARTIFACT_FORMAT_VERSION) != 0)
        return flx_fail(err,
                        "%s: artifact format version '%s' is not supported (this build reads version "
                        FLX_ARTIFACT_FORMAT_VERSION "); quantize the model again",
                        path, version);

    if (read_config(st, &qm->config, path, err) != 0) return -1;
    /* flx_config_validate bounds each size; the products must fit an int too. */
    long long q_width = (long long)qm->config.n_heads * qm->config.head_dim;
    if (q_width > FLX_ARTIFACT_MAX_WIDTH)
        return flx_fail(err, "%s: metadata n_heads %d x head_dim %d = %lld exceeds the limit of %d", path,
                        qm->config.n_heads, qm->config.head_dim, q_width, FLX_ARTIFACT_MAX_WIDTH);
    const char *recipe = meta_require(st, "recipe", path, err);
    if (!recipe) return -1;
    if (strlen(recipe) >= sizeof qm->recipe)
        return flx_fail(err, "%s: metadata recipe name '%s' is longer than %zu bytes", path, recipe,
                        sizeof qm->recipe - 1);
    snprintf(qm->recipe, sizeof qm->recipe, "%s", recipe);
    int weight_bits = 0, head_bits = 0;
    if (read_weight_bits(st, "weight_bits", 0, &weight_bits, path, err) != 0 ||
        read_weight_bits(st, "lm_head_weight_bits", 1, &head_bits, path, err) != 0 ||
        read_act(st, "act", &qm->act, path, err) != 0 ||
        read_act(st, "lm_head_act", &qm->lm_head_act, path, err) != 0)
        return -1;
    static const char *const granularity[] = {"per-channel", "per-group-32", "per-group-64", "per-group-128"};
    static const int group_sizes[] = {0, 32, 64, 128};
    static const char *const attention[] = {"int8-static-per-head"};
    static const char *const probabilities[] = {"uint8-static"};
    bool dense_r4 = false;
    if (meta_expect(st, "granularity", granularity, 4, path, err) != 0) return -1;
    int group_size = 0;
    for (int i = 0; i < 4; i++)
        if (strcmp(meta_get(st, "granularity"), granularity[i]) == 0) group_size = group_sizes[i];
    if (meta_expect(st, "attention", attention, 1, path, err) != 0 ||
        meta_expect(st, "probabilities", probabilities, 1, path, err) != 0 ||
        read_rotations(st, qm, prov, &dense_r4, path, err) != 0 || read_kv(st, qm, path, err) != 0)
        return -1;

    const flx_config *c = &qm->config;
    int q_dim = c->n_heads * c->head_dim, kv_dim = c->n_kv_heads * c->head_dim;
    qm->layers = flx_qmodel_alloc(qm, (size_t)c->n_layers * sizeof *qm->layers, err);
    if (!qm->layers) return -1;
    for (int l = 0; l < c->n_layers; l++) {
        flx_qlayer *ql = &qm->layers[l];
        int shapes[7][2] = {{q_dim, c->dim},  {kv_dim, c->dim},     {kv_dim, c->dim},    {c->dim, q_dim},
                            {c->ffn_dim, c->dim}, {c->ffn_dim, c->dim}, {c->dim, c->ffn_dim}};
        for (int i = 0; i < 7; i++) {
            if (group_size > 0 && shapes[i][1] % group_size != 0)
                return flx_fail(err, "%s: metadata granularity per-group-%d does not divide blk.%d.%s's %d input "
                                     "columns; the artifact is corrupt",
                                path, group_size, l, linear_names[i], shapes[i][1]);
            *layer_linear(ql, i) = (flx_qlinear){
                .d_out = shapes[i][0], .d_in = shapes[i][1], .bits = weight_bits, .group_size = group_size};
        }
    }
    qm->lm_head = (flx_qlinear){.d_out = c->vocab_size, .d_in = c->dim, .bits = head_bits};

    tensor_list list = {0};
    int rc = build_tensor_list(&list, qm, flx_st_find(st, "rope_freqs") != NULL, dense_r4, err);
    if (rc == 0) rc = load_tensors(qm, &list, st, path, err);
    free(list.items);
    if (rc != 0 || check_values(qm, path, err) != 0) return -1;
    if (dense_r4 && check_rotation(qm->r4_matrix, c->ffn_dim, path, err) != 0) return -1;

    if (prov) {
        long long tokens = 0;
        if (meta_read_int(st, "calib_tokens", 0, LLONG_MAX, &tokens, path, err) != 0) return -1;
        prov->calib_tokens = (long)tokens;
        copy_meta(prov->calib_text, sizeof prov->calib_text, st, "calib_text");
        copy_meta(prov->source_model, sizeof prov->source_model, st, "source_model");
    }
    return 0;
}

int flx_artifact_load(flx_qmodel *qm, flx_artifact_provenance *prov, const char *path, flx_error *err) {
    memset(qm, 0, sizeof *qm);
    if (prov) memset(prov, 0, sizeof *prov);
    flx_mapped_file file;
    if (flx_map_file(&file, path, err) != 0) return -1;
    flx_st_file st;
    int rc = flx_st_parse(&st, file.data, file.size, path, err);
    if (rc == 0) {
        rc = load_from_file(qm, prov, &st, path, err);
        flx_st_free(&st);
    }
    flx_unmap_file(&file);
    if (rc != 0) flx_qmodel_free(qm);
    return rc;
}
