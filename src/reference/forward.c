#include "reference/forward.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "reference/ops.h"

double flx_rope_inv_freq(const flx_config *c, const float *rope_freqs, int i) {
    double freq = pow((double)c->rope_theta, -2.0 * i / c->rope_dim);
    if (rope_freqs) return freq / rope_freqs[i];
    const flx_rope_scaling *s = &c->rope_scaling;
    if (s->type == FLX_ROPE_SCALING_LINEAR) return freq / s->factor;
    if (s->type == FLX_ROPE_SCALING_LLAMA3) {
        /* Meta's llama3 scaling: long wavelengths are slowed down by factor,
         * short ones kept, and the band between interpolated smoothly. */
        const double pi = 3.14159265358979323846;
        double wavelen = 2.0 * pi / freq;
        double low_wavelen = s->original_context_length / s->low_freq_factor;
        double high_wavelen = s->original_context_length / s->high_freq_factor;
        if (wavelen < high_wavelen) return freq;
        if (wavelen > low_wavelen) return freq / s->factor;
        double smooth = (s->original_context_length / wavelen - s->low_freq_factor) /
                        (s->high_freq_factor - s->low_freq_factor);
        return (1.0 - smooth) * freq / s->factor + smooth * freq;
    }
    return freq;
}

void flx_state_free(flx_state *s) {
    float **bufs[] = {&s->x,   &s->xb,  &s->xb2,       &s->q,           &s->k,        &s->v,
                      &s->hb,  &s->hb2, &s->att,       &s->key_cache,   &s->value_cache,
                      &s->rope_cos,     &s->rope_sin};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        free(*bufs[i]);
        *bufs[i] = NULL;
    }
}

static float *alloc_floats(size_t count, flx_error *err) {
    size_t bytes;
    if (flx_mul_overflows(count, sizeof(float), &bytes)) {
        flx_fail(err, "buffer of %zu floats is too large", count);
        return NULL;
    }
    return flx_calloc(1, bytes, err);
}

int flx_state_init(flx_state *s, const flx_model *model, int max_seq, int max_batch, flx_error *err) {
    const flx_config *c = &model->config;
    memset(s, 0, sizeof *s);
    if (max_seq <= 0 || max_batch <= 0)
        return flx_fail(err, "invalid state size: %d positions, batch %d", max_seq, max_batch);
    s->max_seq = max_seq;
    s->max_batch = max_batch;
    size_t B = (size_t)max_batch, q_dim = (size_t)c->n_heads * c->head_dim,
           kv_dim = (size_t)c->n_kv_heads * c->head_dim;
    size_t wide = q_dim > (size_t)c->dim ? q_dim : (size_t)c->dim;
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    s->n_att_rows = threads;
    size_t half = (size_t)c->rope_dim / 2;
    if (!(s->x = alloc_floats(B * c->dim, err)) || !(s->xb = alloc_floats(B * wide, err)) ||
        !(s->xb2 = alloc_floats(B * c->dim, err)) || !(s->q = alloc_floats(B * q_dim, err)) ||
        !(s->k = alloc_floats(B * kv_dim, err)) || !(s->v = alloc_floats(B * kv_dim, err)) ||
        !(s->hb = alloc_floats(B * c->ffn_dim, err)) || !(s->hb2 = alloc_floats(B * c->ffn_dim, err)) ||
        !(s->att = alloc_floats((size_t)threads * max_seq, err)) ||
        !(s->key_cache = alloc_floats((size_t)c->n_layers * max_seq * kv_dim, err)) ||
        !(s->value_cache = alloc_floats((size_t)c->n_layers * max_seq * kv_dim, err)) ||
        !(s->rope_cos = alloc_floats((size_t)max_seq * half, err)) ||
        !(s->rope_sin = alloc_floats((size_t)max_seq * half, err))) {
        flx_state_free(s);
        return -1;
    }
    flx_rope_table(c, model->rope_freqs, max_seq, s->rope_cos, s->rope_sin);
    return 0;
}

void flx_rope_table(const flx_config *c, const float *rope_freqs, int max_seq, float *cos_out, float *sin_out) {
    size_t half = (size_t)c->rope_dim / 2;
    for (size_t i = 0; i < half; i++) {
        double inv_freq = flx_rope_inv_freq(c, rope_freqs, (int)i);
        for (int pos = 0; pos < max_seq; pos++) {
            double angle = pos * inv_freq;
            cos_out[(size_t)pos * half + i] = (float)cos(angle);
            sin_out[(size_t)pos * half + i] = (float)sin(angle);
        }
    }
}

/* Causal grouped-query attention of the n tokens at positions pos..pos+n-1
 * against the cache of one layer. q [n][n_heads*head_dim], out likewise. */
static void attention(const flx_config *c, flx_state *s, const float *k_cache, const float *v_cache,
                      int n, int pos) {
    int head_dim = c->head_dim, kv_dim = c->n_kv_heads * head_dim, q_dim = c->n_heads * head_dim;
    int group = c->n_heads / c->n_kv_heads;
    float scale = 1.0f / sqrtf((float)head_dim);
    long work = (long)n * c->n_heads * (pos + n) * head_dim;
#pragma omp parallel for collapse(2) schedule(dynamic, 1) if (work >= (1L << 18))
    for (int t = 0; t < n; t++) {
        for (int h = 0; h < c->n_heads; h++) {
            int thread = 0;
#ifdef _OPENMP
            thread = omp_get_thread_num();
#endif
            float *att = s->att + (size_t)thread * s->max_seq;
            const float *q = s->q + (size_t)t * q_dim + (size_t)h * head_dim;
            int kv_head = h / group;
            int n_ctx = pos + t + 1;
            for (int p = 0; p < n_ctx; p++) {
                const float *k = k_cache + (size_t)p * kv_dim + (size_t)kv_head * head_dim;
                float score = 0.0f;
                for (int i = 0; i < head_dim; i++) score += q[i] * k[i];
                att[p] = score * scale;
            }
            flx_softmax(att, n_ctx);
            float *out = s->xb + (size_t)t * q_dim + (size_t)h * head_dim;
            memset(out, 0, (size_t)head_dim * sizeof *out);
            for (int p = 0; p < n_ctx; p++) {
                const float *v = v_cache + (size_t)p * kv_dim + (size_t)kv_head * head_dim;
                float a = att[p];
                for (int i = 0; i < head_dim; i++) out[i] += a * v[i];
            }
        }
    }
}

int flx_forward(const flx_model *model, flx_state *s, const int32_t *tokens, int n, int pos,
                float *logits, int all_logits, flx_error *err) {
    const flx_config *c = &model->config;
    if (n <= 0 || n > s->max_batch)
        return flx_fail(err, "forward pass of %d tokens: expected 1 to %d", n, s->max_batch);
    if (pos < 0 || pos + n > s->max_seq)
        return flx_fail(err,
                        "positions %d..%d exceed the KV cache of %d positions; use a shorter "
                        "prompt or a larger context",
                        pos, pos + n - 1, s->max_seq);
    int dim = c->dim, head_dim = c->head_dim;
    int q_dim = c->n_heads * head_dim, kv_dim = c->n_kv_heads * head_dim, ffn = c->ffn_dim;
    int half = c->rope_dim / 2;

    /* Embedding lookup. */
    for (int t = 0; t < n; t++) {
        if (tokens[t] < 0 || tokens[t] >= c->vocab_size)
            return flx_fail(err, "token id %d at batch index %d is outside the vocabulary (0..%d)",
                            tokens[t], t, c->vocab_size - 1);
        memcpy(s->x + (size_t)t * dim, model->token_embedding + (size_t)tokens[t] * dim,
               (size_t)dim * sizeof(float));
    }

    for (int l = 0; l < c->n_layers; l++) {
        const flx_layer_weights *w = &model->layers[l];
        float *k_cache = s->key_cache + (size_t)l * s->max_seq * kv_dim;
        float *v_cache = s->value_cache + (size_t)l * s->max_seq * kv_dim;

        /* Attention RMSNorm, then the Q, K and V projections. */
        for (int t = 0; t < n; t++)
            flx_rmsnorm(s->xb + (size_t)t * dim, s->x + (size_t)t * dim, w->attn_norm, dim, c->norm_eps);
        flx_matmul(s->q, s->xb, w->wq, n, q_dim, dim);
        flx_matmul(s->k, s->xb, w->wk, n, kv_dim, dim);
        flx_matmul(s->v, s->xb, w->wv, n, kv_dim, dim);

        /* RoPE on every query and key head, then append K and V to the cache. */
        for (int t = 0; t < n; t++) {
            const float *cos_t = s->rope_cos + (size_t)(pos + t) * half;
            const float *sin_t = s->rope_sin + (size_t)(pos + t) * half;
            for (int h = 0; h < c->n_heads; h++)
                flx_rope_rotate(s->q + (size_t)t * q_dim + (size_t)h * head_dim, cos_t, sin_t, half);
            for (int h = 0; h < c->n_kv_heads; h++)
                flx_rope_rotate(s->k + (size_t)t * kv_dim + (size_t)h * head_dim, cos_t, sin_t, half);
        }
        memcpy(k_cache + (size_t)pos * kv_dim, s->k, (size_t)n * kv_dim * sizeof(float));
        memcpy(v_cache + (size_t)pos * kv_dim, s->v, (size_t)n * kv_dim * sizeof(float));

        /* Causal attention over the cache, output projection, residual. */
        attention(c, s, k_cache, v_cache, n, pos);
        flx_matmul(s->xb2, s->xb, w->wo, n, dim, q_dim);
        for (size_t i = 0; i < (size_t)n * dim; i++) s->x[i] += s->xb2[i];

        /* FFN RMSNorm, SwiGLU (silu(gate) * up), down projection, residual. */
        for (int t = 0; t < n; t++)
            flx_rmsnorm(s->xb + (size_t)t * dim, s->x + (size_t)t * dim, w->ffn_norm, dim, c->norm_eps);
        flx_matmul(s->hb, s->xb, w->w_gate, n, ffn, dim);
        flx_matmul(s->hb2, s->xb, w->w_up, n, ffn, dim);
        for (size_t i = 0; i < (size_t)n * ffn; i++) {
            float g = s->hb[i];
            s->hb[i] = g / (1.0f + expf(-g)) * s->hb2[i];
        }
        flx_matmul(s->xb2, s->hb, w->w_down, n, dim, ffn);
        for (size_t i = 0; i < (size_t)n * dim; i++) s->x[i] += s->xb2[i];
    }

    /* Final RMSNorm and the LM head, for every token or only the last. */
    int first = all_logits ? 0 : n - 1;
    int n_out = n - first;
    for (int t = first; t < n; t++)
        flx_rmsnorm(s->xb + (size_t)(t - first) * dim, s->x + (size_t)t * dim, model->output_norm, dim,
                    c->norm_eps);
    flx_matmul(logits, s->xb, model->output, n_out, c->vocab_size, dim);
    return 0;
}
