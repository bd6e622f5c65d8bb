#include "quant/rotate.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/half.h"
#include "common/mapped_file.h"
#include "modelio/safetensors.h"
#include "modelio/vocab.h"

const char *flx_rotation_kind_name(flx_rotation_kind kind) {
    switch (kind) {
    case FLX_ROTATION_NONE: return "none";
    case FLX_ROTATION_HADAMARD: return "hadamard";
    case FLX_ROTATION_RANDOM: return "random";
    case FLX_ROTATION_LEARNED: return "learned";
    }
    return "invalid";
}

static void appendf(char *out, size_t out_size, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void appendf(char *out, size_t out_size, size_t *used, const char *fmt, ...) {
    if (*used + 1 >= out_size) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out + *used, out_size - *used, fmt, ap);
    va_end(ap);
    if (n > 0) *used += (size_t)n < out_size - *used ? (size_t)n : out_size - *used - 1;
}

void flx_rotation_record_format(const flx_rotation_record *rec, char *out, size_t out_size) {
    size_t used = 0;
    if (out_size == 0) return;
    out[0] = '\0';
    const char *sep = "";
    if (rec->untied) {
        appendf(out, out_size, &used, "untie");
        sep = " ";
    }
    if (rec->norms_folded) {
        appendf(out, out_size, &used, "%sfold-norms", sep);
        sep = " ";
    }
    if (rec->r1 == FLX_ROTATION_LEARNED) {
        appendf(out, out_size, &used, "%sr1=learned(%d,file=%s)", sep, rec->r1_size, rec->rotation_file);
        sep = " ";
    } else if (rec->r1 != FLX_ROTATION_NONE) {
        appendf(out, out_size, &used, "%sr1=%s(%d,seed=%llu)", sep, flx_rotation_kind_name(rec->r1),
                rec->r1_size, (unsigned long long)rec->r1_seed);
        sep = " ";
    }
    if (rec->r2 == FLX_ROTATION_LEARNED) {
        appendf(out, out_size, &used, "%sr2=learned(%d,file=%s)", sep, rec->r2_size, rec->rotation_file);
        sep = " ";
    } else if (rec->r2 != FLX_ROTATION_NONE) {
        appendf(out, out_size, &used, "%sr2=%s(%d,seed=%llu+layer)", sep, flx_rotation_kind_name(rec->r2),
                rec->r2_size, (unsigned long long)rec->r2_seed);
        sep = " ";
    }
    if (rec->r3) {
        appendf(out, out_size, &used, "%sr3=walsh-hadamard(%d)", sep, rec->r3_size);
        sep = " ";
    }
    if (rec->r4 && rec->r4_kind != FLX_ROTATION_NONE)
        appendf(out, out_size, &used, "%sr4=dense-%s(%d,seed=%llu)", sep, flx_rotation_kind_name(rec->r4_kind),
                rec->r4_size, (unsigned long long)rec->r4_seed);
    else if (rec->r4)
        appendf(out, out_size, &used, "%sr4=walsh-hadamard(%d)", sep, rec->r4_size);
    if (used == 0) snprintf(out, out_size, "none");
}

/* ---- Rotation files ---- */

void flx_rotation_file_free(flx_rotation_file *rf) {
    if (!rf) return;
    free(rf->r1);
    free(rf->r2);
    memset(rf, 0, sizeof *rf);
}

/* Returns the layer of "model.layers.N.self_attn.R2", or -1. */
static int r2_layer(const char *name) {
    const char *prefix = "model.layers.", *suffix = ".self_attn.R2";
    size_t n_prefix = strlen(prefix);
    if (strncmp(name, prefix, n_prefix) != 0) return -1;
    const char *p = name + n_prefix;
    long layer = 0;
    int digits = 0;
    for (; *p >= '0' && *p <= '9'; p++, digits++) {
        if (digits == 7) return -1;
        layer = layer * 10 + (*p - '0');
    }
    if (digits == 0 || strcmp(p, suffix) != 0) return -1;
    return (int)layer;
}

/* Converts tensor t to double q [n][n] and checks it. */
static int read_rotation(const flx_st_file *st, const flx_st_tensor *t, int n, double *q, const char *path,
                         flx_error *err) {
    if (t->dtype != FLX_ST_F32 && t->dtype != FLX_ST_F64 && t->dtype != FLX_ST_F16 && t->dtype != FLX_ST_BF16)
        return flx_fail(err, "%s: tensor %s has dtype %s; expected F32, F64, F16 or BF16", path, t->name,
                        flx_st_dtype_name(t->dtype));
    if (t->n_dims != 2 || t->shape[0] != n || t->shape[1] != n) {
        char shape[96] = "";
        size_t used = 0;
        for (int d = 0; d < t->n_dims && used < sizeof shape; d++)
            used += (size_t)snprintf(shape + used, sizeof shape - used, d ? ", %lld" : "%lld",
                                     (long long)t->shape[d]);
        return flx_fail(err, "%s: tensor %s has shape [%s]; expected [%d, %d] for this model", path, t->name,
                        shape, n, n);
    }
    const uint8_t *bytes = st->data + t->begin;
    for (size_t i = 0; i < (size_t)n * n; i++) {
        double v;
        if (t->dtype == FLX_ST_F64) {
            memcpy(&v, bytes + 8 * i, 8);
        } else if (t->dtype == FLX_ST_F32) {
            float f;
            memcpy(&f, bytes + 4 * i, 4);
            v = f;
        } else {
            uint16_t h = (uint16_t)(bytes[2 * i] | bytes[2 * i + 1] << 8);
            v = t->dtype == FLX_ST_F16 ? flx_f16_to_f32(h) : flx_bf16_to_f32(h);
        }
        if (!isfinite(v))
            return flx_fail(err, "%s: tensor %s has the non-finite value %g at [%zu, %zu]", path, t->name, v,
                            i / (size_t)n, i % (size_t)n);
        q[i] = v;
    }
    double dev = flx_orthogonal_error(q, n);
    if (!(dev <= FLX_ROTATION_ORTHOGONALITY_TOLERANCE))
        return flx_fail(err,
                        "%s: tensor %s is not orthogonal: max |Q^T Q - I| = %.3g (tolerance %g); "
                        "save the rotation in F32 or F64",
                        path, t->name, dev, FLX_ROTATION_ORTHOGONALITY_TOLERANCE);
    return 0;
}

static int load_rotation_tensors(flx_rotation_file *rf, const flx_st_file *st, const char *path,
                                 flx_error *err) {
    int hd = rf->head_dim;
    size_t r2_size = (size_t)hd * hd;
    unsigned char *seen = flx_calloc((size_t)rf->n_layers, 1, err);
    if (!seen) return -1;
    int rc = 0;
    for (int i = 0; i < st->n_tensors && rc == 0; i++) {
        const flx_st_tensor *t = &st->tensors[i];
        if (strcmp(t->name, "R1") == 0) {
            rf->r1 = flx_malloc((size_t)rf->dim * rf->dim * sizeof *rf->r1, err);
            rc = rf->r1 ? read_rotation(st, t, rf->dim, rf->r1, path, err) : -1;
            continue;
        }
        int layer = r2_layer(t->name);
        if (layer < 0) {
            rc = flx_fail(err,
                          "%s: unexpected tensor '%s' (a rotation file holds R1 [dim][dim] and "
                          "model.layers.N.self_attn.R2 [head_dim][head_dim])",
                          path, t->name);
        } else if (layer >= rf->n_layers) {
            rc = flx_fail(err, "%s: tensor %s names layer %d, but the model has %d layers", path, t->name,
                          layer, rf->n_layers);
        } else if (seen[layer]) {
            rc = flx_fail(err, "%s: tensor %s repeats the R2 of layer %d", path, t->name, layer);
        } else {
            seen[layer] = 1;
            if (!rf->r2) rf->r2 = flx_malloc((size_t)rf->n_layers * r2_size * sizeof *rf->r2, err);
            rc = rf->r2 ? read_rotation(st, t, hd, rf->r2 + (size_t)layer * r2_size, path, err) : -1;
        }
    }
    for (int l = 0; l < rf->n_layers && rc == 0 && rf->r2; l++)
        if (!seen[l])
            rc = flx_fail(err, "%s: tensor model.layers.%d.self_attn.R2 is missing (R2 is needed for every layer "
                               "once one layer has it)",
                          path, l);
    if (rc == 0 && !rf->r1 && !rf->r2)
        rc = flx_fail(err, "%s: no rotation tensors (expected R1 and model.layers.N.self_attn.R2)", path);
    free(seen);
    return rc;
}

int flx_rotation_file_load(flx_rotation_file *rf, const char *path, const flx_config *c, flx_error *err) {
    memset(rf, 0, sizeof *rf);
    if (c->dim < 1 || c->dim > FLX_ORTHOGONAL_MAX_ORDER || c->head_dim < 1 ||
        c->head_dim > FLX_ORTHOGONAL_MAX_ORDER || c->n_layers < 1)
        return flx_fail(err, "%s: model shape dim %d, head_dim %d, %d layers is invalid for rotations", path,
                        c->dim, c->head_dim, c->n_layers);
    rf->dim = c->dim;
    rf->head_dim = c->head_dim;
    rf->n_layers = c->n_layers;
    flx_mapped_file file;
    if (flx_map_file(&file, path, err) != 0) return -1;
    flx_st_file st;
    int rc = flx_st_parse(&st, file.data, file.size, path, err);
    if (rc == 0) {
        rc = load_rotation_tensors(rf, &st, path, err);
        flx_st_free(&st);
    }
    flx_unmap_file(&file);
    if (rc != 0) flx_rotation_file_free(rf);
    return rc;
}

/* ---- Model copy ---- */

static const float *copy_floats(flx_model *dst, const float *src, size_t count, flx_error *err) {
    float *p = flx_model_alloc(dst, count * sizeof *p, err);
    if (p) memcpy(p, src, count * sizeof *p);
    return p;
}

static char *copy_string(const char *s, flx_error *err) {
    size_t n = strlen(s) + 1;
    char *p = flx_malloc(n, err);
    if (p) memcpy(p, s, n);
    return p;
}

static int copy_vocab(flx_vocab **out, const flx_vocab *src, flx_error *err) {
    flx_vocab *v = flx_calloc(1, sizeof *v, err);
    if (!v) return -1;
    *v = *src;
    v->tokens = NULL;
    v->scores = NULL;
    v->types = NULL;
    v->merges = NULL;
    int n_tokens = v->n_tokens, n_merges = v->n_merges;
    v->n_tokens = 0;
    v->n_merges = 0;
    *out = v; /* the caller frees a partial copy */

    if (src->tokens) {
        if (!(v->tokens = flx_calloc((size_t)n_tokens, sizeof *v->tokens, err))) return -1;
        v->n_tokens = n_tokens;
        for (int i = 0; i < n_tokens; i++)
            if (src->tokens[i] && !(v->tokens[i] = copy_string(src->tokens[i], err))) return -1;
    }
    v->n_tokens = n_tokens;

    if (src->scores) {
        if (!(v->scores = flx_malloc((size_t)n_tokens * sizeof *v->scores, err))) return -1;
        memcpy(v->scores, src->scores, (size_t)n_tokens * sizeof *v->scores);
    }
    if (src->types) {
        if (!(v->types = flx_malloc((size_t)n_tokens * sizeof *v->types, err))) return -1;
        memcpy(v->types, src->types, (size_t)n_tokens * sizeof *v->types);
    }

    if (src->merges) {
        if (!(v->merges = flx_calloc((size_t)n_merges, sizeof *v->merges, err))) return -1;
        v->n_merges = n_merges;
        for (int i = 0; i < n_merges; i++)
            if (src->merges[i] && !(v->merges[i] = copy_string(src->merges[i], err))) return -1;
    }
    return 0;
}

static int copy_weights(flx_model *dst, const flx_model *src, flx_error *err) {
    const flx_config *c = &src->config;
    size_t dim = (size_t)c->dim, q_dim = (size_t)c->n_heads * c->head_dim;
    size_t kv_dim = (size_t)c->n_kv_heads * c->head_dim, ffn = (size_t)c->ffn_dim;
    size_t vocab = (size_t)c->vocab_size;
    if (!(dst->token_embedding = copy_floats(dst, src->token_embedding, vocab * dim, err))) return -1;
    if (c->tied_embeddings)
        dst->output = dst->token_embedding;
    else if (!(dst->output = copy_floats(dst, src->output, vocab * dim, err)))
        return -1;
    if (!(dst->output_norm = copy_floats(dst, src->output_norm, dim, err))) return -1;
    if (src->rope_freqs && !(dst->rope_freqs = copy_floats(dst, src->rope_freqs, (size_t)c->rope_dim / 2, err)))
        return -1;
    for (int l = 0; l < c->n_layers; l++) {
        const flx_layer_weights *s = &src->layers[l];
        flx_layer_weights *d = &dst->layers[l];
        if (!(d->attn_norm = copy_floats(dst, s->attn_norm, dim, err)) ||
            !(d->wq = copy_floats(dst, s->wq, q_dim * dim, err)) ||
            !(d->wk = copy_floats(dst, s->wk, kv_dim * dim, err)) ||
            !(d->wv = copy_floats(dst, s->wv, kv_dim * dim, err)) ||
            !(d->wo = copy_floats(dst, s->wo, dim * q_dim, err)) ||
            !(d->ffn_norm = copy_floats(dst, s->ffn_norm, dim, err)) ||
            !(d->w_gate = copy_floats(dst, s->w_gate, ffn * dim, err)) ||
            !(d->w_up = copy_floats(dst, s->w_up, ffn * dim, err)) ||
            !(d->w_down = copy_floats(dst, s->w_down, dim * ffn, err)))
            return -1;
    }
    return 0;
}

int flx_rotate_copy_model(flx_model *dst, const flx_model *src, flx_error *err) {
    memset(dst, 0, sizeof *dst);
    dst->config = src->config;
    snprintf(dst->format, sizeof dst->format, "%s", src->format);
    snprintf(dst->path, sizeof dst->path, "%s", src->path);
    int rc = -1;
    if (src->config.n_layers < 1) {
        rc = flx_fail(err, "%s: cannot copy a model of %d layers", src->path, src->config.n_layers);
    } else if ((dst->layers = flx_calloc((size_t)src->config.n_layers, sizeof *dst->layers, err))) {
        rc = copy_weights(dst, src, err);
        if (rc == 0 && src->vocab) rc = copy_vocab(&dst->vocab, src->vocab, err);
    }
    if (rc != 0) flx_model_free(dst);
    return rc;
}

/* ---- In-place steps ---- */

/* Returns p as a writable pointer when m owns the buffer, else fails. */
static float *owned_tensor(flx_model *m, const float *p, const char *tensor, int layer, flx_error *err) {
    for (int i = 0; i < m->n_owned; i++)
        if (m->owned[i] == (const void *)p) return m->owned[i];
    if (layer >= 0)
        flx_fail(err, "%s: layer %d %s is not owned by the model; rotate a copy made by flx_rotate_copy_model",
                 m->path, layer, tensor);
    else
        flx_fail(err, "%s: %s is not owned by the model; rotate a copy made by flx_rotate_copy_model", m->path,
                 tensor);
    return NULL;
}

int flx_rotate_untie(flx_model *m, flx_error *err) {
    const flx_config *c = &m->config;
    if (!c->tied_embeddings) return 0;
    const float *copy = copy_floats(m, m->token_embedding, (size_t)c->vocab_size * c->dim, err);
    if (!copy) return -1;
    m->output = copy;
    m->config.tied_embeddings = false;
    return 0;
}

/* w [rows][cols] <- w diag(gain). */
static void scale_columns(float *w, size_t rows, size_t cols, const float *gain) {
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < cols; j++) w[r * cols + j] *= gain[j];
}

static int fold_into(flx_model *m, int layer, const float *gain_ro, const char *gain_name, const float *const *ws,
                     const char *const *names, const size_t *rows, int n_ws, flx_error *err) {
    size_t dim = (size_t)m->config.dim;
    float *gain = owned_tensor(m, gain_ro, gain_name, layer, err);
    if (!gain) return -1;
    float *targets[3];
    for (int i = 0; i < n_ws; i++)
        if (!(targets[i] = owned_tensor(m, ws[i], names[i], layer, err))) return -1;
    for (int i = 0; i < n_ws; i++) scale_columns(targets[i], rows[i], dim, gain);
    for (size_t j = 0; j < dim; j++) gain[j] = 1.0f;
    return 0;
}

int flx_rotate_fold_norms(flx_model *m, flx_error *err) {
    const flx_config *c = &m->config;
    if (c->tied_embeddings || m->output == m->token_embedding)
        return flx_fail(err,
                        "%s: cannot fold output_norm into a LM head tied to the embedding; untie it first "
                        "(flx_rotate_untie)",
                        m->path);
    size_t q_dim = (size_t)c->n_heads * c->head_dim, kv_dim = (size_t)c->n_kv_heads * c->head_dim;
    size_t ffn = (size_t)c->ffn_dim;
    for (int l = 0; l < c->n_layers; l++) {
        const flx_layer_weights *w = &m->layers[l];
        const float *attn[] = {w->wq, w->wk, w->wv};
        const char *attn_names[] = {"wq", "wk", "wv"};
        size_t attn_rows[] = {q_dim, kv_dim, kv_dim};
        if (fold_into(m, l, w->attn_norm, "attn_norm", attn, attn_names, attn_rows, 3, err) != 0) return -1;
        const float *ffn_ws[] = {w->w_gate, w->w_up};
        const char *ffn_names[] = {"w_gate", "w_up"};
        size_t ffn_rows[] = {ffn, ffn};
        if (fold_into(m, l, w->ffn_norm, "ffn_norm", ffn_ws, ffn_names, ffn_rows, 2, err) != 0) return -1;
    }
    const float *head[] = {m->output};
    const char *head_names[] = {"output (LM head)"};
    size_t head_rows[] = {(size_t)c->vocab_size};
    return fold_into(m, -1, m->output_norm, "output_norm", head, head_names, head_rows, 1, err);
}

/* Fails unless every value of gain [n] is 1. */
static int check_unit_gain(const flx_model *m, const float *gain, int n, const char *name, int layer,
                           flx_error *err) {
    for (int i = 0; i < n; i++) {
        if (gain[i] == 1.0f) continue;
        char where[32] = "";
        if (layer >= 0) snprintf(where, sizeof where, "layer %d ", layer);
        return flx_fail(err,
                        "%s: R1 needs RMSNorm gains of 1, but %s%s[%d] = %g; fold the gains first "
                        "(flx_rotate_fold_norms)",
                        m->path, where, name, i, (double)gain[i]);
    }
    return 0;
}

int flx_rotate_r1(flx_model *m, const flx_rotation *r, flx_error *err) {
    const flx_config *c = &m->config;
    if (r->n != c->dim)
        return flx_fail(err, "%s: R1 of order %d does not match the model width dim = %d", m->path, r->n, c->dim);
    if (c->tied_embeddings || m->output == m->token_embedding)
        return flx_fail(err,
                        "%s: R1 on a model with a tied LM head would rotate the shared matrix twice; untie it "
                        "first (flx_rotate_untie)",
                        m->path);
    for (int l = 0; l < c->n_layers; l++)
        if (check_unit_gain(m, m->layers[l].attn_norm, c->dim, "attn_norm", l, err) != 0 ||
            check_unit_gain(m, m->layers[l].ffn_norm, c->dim, "ffn_norm", l, err) != 0)
            return -1;
    if (check_unit_gain(m, m->output_norm, c->dim, "output_norm", -1, err) != 0) return -1;

    size_t q_dim = (size_t)c->n_heads * c->head_dim, kv_dim = (size_t)c->n_kv_heads * c->head_dim;
    size_t ffn = (size_t)c->ffn_dim, dim = (size_t)c->dim, vocab = (size_t)c->vocab_size;
    float *embedding = owned_tensor(m, m->token_embedding, "token_embedding", -1, err);
    float *head = embedding ? owned_tensor(m, m->output, "output (LM head)", -1, err) : NULL;
    if (!head || flx_rotation_right(r, embedding, vocab, dim, err) != 0 ||
        flx_rotation_right(r, head, vocab, dim, err) != 0)
        return -1;
    for (int l = 0; l < c->n_layers; l++) {
        const flx_layer_weights *lw = &m->layers[l];
        const float *inputs[] = {lw->wq, lw->wk, lw->wv, lw->w_gate, lw->w_up};
        const char *input_names[] = {"wq", "wk", "wv", "w_gate", "w_up"};
        size_t input_rows[] = {q_dim, kv_dim, kv_dim, ffn, ffn};
        for (int i = 0; i < 5; i++) {
            float *w = owned_tensor(m, inputs[i], input_names[i], l, err);
            if (!w || flx_rotation_right(r, w, input_rows[i], dim, err) != 0) return -1;
        }
        float *wo = owned_tensor(m, lw->wo, "wo", l, err);
        float *w_down = wo ? owned_tensor(m, lw->w_down, "w_down", l, err) : NULL;
        if (!w_down || flx_rotation_left_transpose(r, wo, q_dim, err) != 0 ||
            flx_rotation_left_transpose(r, w_down, ffn, err) != 0)
            return -1;
    }
    return 0;
}

int flx_rotate_r2(flx_model *m, int layer, const flx_rotation *r, flx_error *err) {
    const flx_config *c = &m->config;
    if (layer < 0 || layer >= c->n_layers)
        return flx_fail(err, "%s: R2 for layer %d: the model has layers 0 to %d", m->path, layer, c->n_layers - 1);
    if (r->n != c->head_dim)
        return flx_fail(err, "%s: R2 of order %d does not match head_dim = %d", m->path, r->n, c->head_dim);
    size_t hd = (size_t)c->head_dim, dim = (size_t)c->dim, q_dim = (size_t)c->n_heads * hd;
    float *wv = owned_tensor(m, m->layers[layer].wv, "wv", layer, err);
    float *wo = wv ? owned_tensor(m, m->layers[layer].wo, "wo", layer, err) : NULL;
    if (!wo) return -1;
    for (int h = 0; h < c->n_kv_heads; h++)
        if (flx_rotation_left_transpose(r, wv + (size_t)h * hd * dim, dim, err) != 0) return -1;
    for (int h = 0; h < c->n_heads; h++)
        if (flx_rotation_right(r, wo + (size_t)h * hd, dim, q_dim, err) != 0) return -1;
    return 0;
}

int flx_rotate_r4(flx_model *m, flx_error *err) {
    const flx_config *c = &m->config;
    int ffn = c->ffn_dim;
    if (!flx_is_pow2(ffn))
        return flx_fail(err,
                        "%s: R4 needs ffn_dim to be a power of two for the engines' online Walsh-Hadamard "
                        "transform, but ffn_dim = %d; run without R4",
                        m->path, ffn);
    for (int l = 0; l < c->n_layers; l++) {
        float *w_down = owned_tensor(m, m->layers[l].w_down, "w_down", l, err);
        if (!w_down) return -1;
        double *row = flx_malloc((size_t)ffn * sizeof *row, err);
        if (!row) return -1;
        /* Row i <- row_i H / sqrt(n) = (H row_i^T / sqrt(n))^T since H is symmetric. */
        for (size_t i = 0; i < (size_t)c->dim; i++) {
            float *w = w_down + i * ffn;
            for (int j = 0; j < ffn; j++) row[j] = w[j];
            flx_fwht_f64(row, ffn);
            for (int j = 0; j < ffn; j++) w[j] = (float)row[j];
        }
        free(row);
    }
    return 0;
}

/* ---- The whole transform ---- */

static int make_rotation(flx_rotation *r, flx_rotation_kind kind, int n, uint64_t seed, const double *learned,
                         const char *tensor, const char *path, flx_error *err) {
    switch (kind) {
    case FLX_ROTATION_HADAMARD: return flx_rotation_init_hadamard(r, n, seed, err);
    case FLX_ROTATION_RANDOM: return flx_rotation_init_random(r, n, seed, err);
    case FLX_ROTATION_LEARNED:
        if (!learned) return flx_fail(err, "%s: the rotation file has no %s tensor", path, tensor);
        return flx_rotation_init_dense(r, n, learned, err);
    case FLX_ROTATION_NONE: break;
    }
    return flx_fail(err, "invalid rotation kind %d for %s", (int)kind, tensor);
}

static int check_kind(flx_rotation_kind kind, const char *rotation, flx_error *err) {
    if (kind < FLX_ROTATION_NONE || kind > FLX_ROTATION_LEARNED)
        return flx_fail(err, "invalid %s rotation kind %d (expected none, hadamard, random or learned)", rotation,
                        (int)kind);
    return 0;
}

static int apply_options(flx_model *out, const flx_rotate_options *opt, const flx_rotation_file *rf,
                         flx_rotation_record *rec, flx_error *err) {
    const flx_config *c = &out->config;
    const char *file = "";
    if (opt->rotations) file = "(in memory)";
    if (opt->rotation_file) file = opt->rotation_file;
    if (opt->r1 != FLX_ROTATION_NONE) {
        rec->untied = c->tied_embeddings;
        if (flx_rotate_untie(out, err) != 0 || flx_rotate_fold_norms(out, err) != 0) return -1;
        rec->norms_folded = true;
        flx_rotation r;
        if (make_rotation(&r, opt->r1, c->dim, opt->r1_seed, rf->r1, "R1", file, err) != 0) return -1;
        int rc = flx_rotate_r1(out, &r, err);
        flx_rotation_free(&r);
        if (rc != 0) return -1;
        rec->r1 = opt->r1;
        rec->r1_size = c->dim;
        rec->r1_seed = opt->r1 == FLX_ROTATION_LEARNED ? 0 : opt->r1_seed;
    }
    if (opt->r2 != FLX_ROTATION_NONE) {
        size_t r2_size = (size_t)c->head_dim * c->head_dim;
        for (int l = 0; l < c->n_layers; l++) {
            const double *learned = rf->r2 ? rf->r2 + (size_t)l * r2_size : NULL;
            flx_rotation r;
            if (make_rotation(&r, opt->r2, c->head_dim, opt->r2_seed + (uint64_t)l, learned,
                              "model.layers.N.self_attn.R2", file, err) != 0)
                return -1;
            int rc = flx_rotate_r2(out, l, &r, err);
            flx_rotation_free(&r);
            if (rc != 0) return -1;
        }
        rec->r2 = opt->r2;
        rec->r2_size = c->head_dim;
        rec->r2_seed = opt->r2 == FLX_ROTATION_LEARNED ? 0 : opt->r2_seed;
    }
    if (opt->r4) {
        if (flx_rotate_r4(out, err) != 0) return -1;
        rec->r4 = true;
        rec->r4_size = c->ffn_dim;
    }
    if (opt->r1 == FLX_ROTATION_LEARNED || opt->r2 == FLX_ROTATION_LEARNED)
        snprintf(rec->rotation_file, sizeof rec->rotation_file, "%s", file);
    return 0;
}

int flx_rotate_model(flx_model *out, const flx_model *src, const flx_rotate_options *opt,
                     flx_rotation_record *rec, flx_error *err) {
    memset(out, 0, sizeof *out);
    flx_rotation_record local;
    if (!rec) rec = &local;
    memset(rec, 0, sizeof *rec);
    if (check_kind(opt->r1, "R1", err) != 0 || check_kind(opt->r2, "R2", err) != 0) return -1;
    bool learned = opt->r1 == FLX_ROTATION_LEARNED || opt->r2 == FLX_ROTATION_LEARNED;
    if (learned && !opt->rotations && (!opt->rotation_file || !opt->rotation_file[0]))
        return flx_fail(err, "learned rotations need a rotation file (safetensors with R1 and R2 tensors)");

    flx_rotation_file rf = {0};
    if (learned && !opt->rotations && flx_rotation_file_load(&rf, opt->rotation_file, &src->config, err) != 0)
        return -1;
    int rc = flx_rotate_copy_model(out, src, err);
    if (rc == 0) {
        rc = apply_options(out, opt, opt->rotations ? opt->rotations : &rf, rec, err);
        if (rc != 0) flx_model_free(out);
    }
    flx_rotation_file_free(&rf);
    if (rc != 0) memset(rec, 0, sizeof *rec);
    return rc;
}
