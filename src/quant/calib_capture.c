#include "quant/calib_capture.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "quant/calibrate.h"
#include "reference/forward.h"
#include "reference/ops.h"

/* Activations of one window of at most `window` positions. */
typedef struct capture_state {
    int window;
    float *x;         /* [window][dim] residual stream */
    float *xb;        /* [window][dim] normalized input */
    float *attn;      /* [window][q_dim] attention output */
    float *proj;      /* [window][dim] output of wo or w_down */
    float *q;         /* [window][q_dim] */
    float *k;         /* [window][kv_dim] */
    float *v;         /* [window][kv_dim] */
    float *gate;      /* [window][ffn_dim] gate, then silu(gate) * up */
    float *up;        /* [window][ffn_dim] */
    float *scores;    /* [n_threads][window] */
    float *rope_cos;  /* [window][rope_dim/2] */
    float *rope_sin;  /* [window][rope_dim/2] */
} capture_state;

static void state_free(capture_state *s) {
    float **bufs[] = {&s->x, &s->xb, &s->attn, &s->proj, &s->q, &s->k, &s->v,
                      &s->gate, &s->up, &s->scores, &s->rope_cos, &s->rope_sin};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        free(*bufs[i]);
        *bufs[i] = NULL;
    }
}

static int n_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

static int state_init(capture_state *s, const flx_model *model, int window, flx_error *err) {
    const flx_config *c = &model->config;
    memset(s, 0, sizeof *s);
    s->window = window;
    size_t w = (size_t)window, q_dim = (size_t)c->n_heads * c->head_dim,
           kv_dim = (size_t)c->n_kv_heads * c->head_dim, half = (size_t)c->rope_dim / 2;
    if (!(s->x = flx_malloc(w * c->dim * sizeof(float), err)) ||
        !(s->xb = flx_malloc(w * c->dim * sizeof(float), err)) ||
        !(s->attn = flx_malloc(w * q_dim * sizeof(float), err)) ||
        !(s->proj = flx_malloc(w * c->dim * sizeof(float), err)) ||
        !(s->q = flx_malloc(w * q_dim * sizeof(float), err)) ||
        !(s->k = flx_malloc(w * kv_dim * sizeof(float), err)) ||
        !(s->v = flx_malloc(w * kv_dim * sizeof(float), err)) ||
        !(s->gate = flx_malloc(w * c->ffn_dim * sizeof(float), err)) ||
        !(s->up = flx_malloc(w * c->ffn_dim * sizeof(float), err)) ||
        !(s->scores = flx_malloc((size_t)n_threads() * w * sizeof(float), err)) ||
        !(s->rope_cos = flx_malloc(w * (half ? half : 1) * sizeof(float), err)) ||
        !(s->rope_sin = flx_malloc(w * (half ? half : 1) * sizeof(float), err))) {
        state_free(s);
        return -1;
    }
    flx_rope_table(c, model->rope_freqs, window, s->rope_cos, s->rope_sin);
    return 0;
}

/* Causal grouped-query attention of the n positions of a window among
 * themselves: s->q, s->k, s->v to s->attn. */
static void attention(const flx_config *c, capture_state *s, int n) {
    int head_dim = c->head_dim, q_dim = c->n_heads * head_dim, kv_dim = c->n_kv_heads * head_dim;
    int group = c->n_heads / c->n_kv_heads;
    float scale = 1.0f / sqrtf((float)head_dim);
    long work = (long)n * c->n_heads * n * head_dim;
#pragma omp parallel for collapse(2) schedule(dynamic, 1) if (work >= (1L << 18))
    for (int t = 0; t < n; t++) {
        for (int h = 0; h < c->n_heads; h++) {
            int thread = 0;
#ifdef _OPENMP
            thread = omp_get_thread_num();
#endif
            float *scores = s->scores + (size_t)thread * s->window;
            const float *q = s->q + (size_t)t * q_dim + (size_t)h * head_dim;
            int kv_head = h / group;
            for (int p = 0; p <= t; p++) {
                const float *k = s->k + (size_t)p * kv_dim + (size_t)kv_head * head_dim;
                float dot = 0.0f;
                for (int i = 0; i < head_dim; i++) dot += q[i] * k[i];
                scores[p] = dot * scale;
            }
            flx_softmax(scores, t + 1);
            float *out = s->attn + (size_t)t * q_dim + (size_t)h * head_dim;
            memset(out, 0, (size_t)head_dim * sizeof *out);
            for (int p = 0; p <= t; p++) {
                const float *v = s->v + (size_t)p * kv_dim + (size_t)kv_head * head_dim;
                float a = scores[p];
                for (int i = 0; i < head_dim; i++) out[i] += a * v[i];
            }
        }
    }
}

/* Adds rows [n][d] to h when h is captured (non-NULL). */
static int capture(flx_hessian *h, const float *rows, int n, int layer, const char *site, flx_error *err) {
    if (!h) return 0;
    if (flx_hessian_add(h, rows, n, err) == 0) return 0;
    char prefix[96];
    if (layer >= 0)
        snprintf(prefix, sizeof prefix, "calibration capture, layer %d %s", layer, site);
    else
        snprintf(prefix, sizeof prefix, "calibration capture, %s", site);
    flx_error_prefix(err, prefix);
    return -1;
}

/* Runs one window of n tokens from position 0 and adds the linear inputs
 * to the captured Hessians. Layers after last_layer run only when the LM
 * head is captured. */
static int run_window(flx_calib_hessians *out, const flx_model *model, capture_state *s, const int32_t *tokens,
                      int n, flx_error *err) {
    const flx_config *c = &model->config;
    int dim = c->dim, head_dim = c->head_dim, ffn = c->ffn_dim;
    int q_dim = c->n_heads * head_dim, kv_dim = c->n_kv_heads * head_dim, half = c->rope_dim / 2;
    int last_layer = out->has_lm_head ? c->n_layers - 1 : out->first_layer + out->n_layers - 1;

    for (int t = 0; t < n; t++)
        memcpy(s->x + (size_t)t * dim, model->token_embedding + (size_t)tokens[t] * dim, (size_t)dim * sizeof(float));

    for (int l = 0; l <= last_layer; l++) {
        const flx_layer_weights *w = &model->layers[l];
        int i = l - out->first_layer;
        flx_layer_hessians *lh = i >= 0 && i < out->n_layers ? &out->layers[i] : NULL;

        for (int t = 0; t < n; t++)
            flx_rmsnorm(s->xb + (size_t)t * dim, s->x + (size_t)t * dim, w->attn_norm, dim, c->norm_eps);
        if (capture(lh ? &lh->attn_in : NULL, s->xb, n, l, "attention input", err) != 0) return -1;
        flx_matmul(s->q, s->xb, w->wq, n, q_dim, dim);
        flx_matmul(s->k, s->xb, w->wk, n, kv_dim, dim);
        flx_matmul(s->v, s->xb, w->wv, n, kv_dim, dim);
        for (int t = 0; t < n; t++) {
            const float *cos_t = s->rope_cos + (size_t)t * half, *sin_t = s->rope_sin + (size_t)t * half;
            for (int h = 0; h < c->n_heads; h++)
                flx_rope_rotate(s->q + (size_t)t * q_dim + (size_t)h * head_dim, cos_t, sin_t, half);
            for (int h = 0; h < c->n_kv_heads; h++)
                flx_rope_rotate(s->k + (size_t)t * kv_dim + (size_t)h * head_dim, cos_t, sin_t, half);
        }
        attention(c, s, n);
        if (capture(lh ? &lh->attn_out : NULL, s->attn, n, l, "attention output", err) != 0) return -1;
        flx_matmul(s->proj, s->attn, w->wo, n, dim, q_dim);
        for (size_t k = 0; k < (size_t)n * dim; k++) s->x[k] += s->proj[k];

        for (int t = 0; t < n; t++)
            flx_rmsnorm(s->xb + (size_t)t * dim, s->x + (size_t)t * dim, w->ffn_norm, dim, c->norm_eps);
        if (capture(lh ? &lh->ffn_in : NULL, s->xb, n, l, "FFN input", err) != 0) return -1;
        flx_matmul(s->gate, s->xb, w->w_gate, n, ffn, dim);
        flx_matmul(s->up, s->xb, w->w_up, n, ffn, dim);
        for (size_t k = 0; k < (size_t)n * ffn; k++) {
            float g = s->gate[k];
            s->gate[k] = g / (1.0f + expf(-g)) * s->up[k];
        }
        if (capture(lh ? &lh->ffn_act : NULL, s->gate, n, l, "SwiGLU output", err) != 0) return -1;
        flx_matmul(s->proj, s->gate, w->w_down, n, dim, ffn);
        for (size_t k = 0; k < (size_t)n * dim; k++) s->x[k] += s->proj[k];
    }

    if (out->has_lm_head) {
        for (int t = 0; t < n; t++)
            flx_rmsnorm(s->xb + (size_t)t * dim, s->x + (size_t)t * dim, model->output_norm, dim, c->norm_eps);
        if (capture(&out->lm_head, s->xb, n, -1, "LM head input", err) != 0) return -1;
    }
    return 0;
}

flx_capture_options flx_capture_options_default(const flx_config *c) {
    flx_capture_options o = {FLX_CALIB_DEFAULT_TOKENS, 0, c->n_layers, true};
    return o;
}

void flx_calib_hessians_free(flx_calib_hessians *h) {
    for (int i = 0; h->layers && i < h->n_layers; i++) {
        flx_hessian_free(&h->layers[i].attn_in);
        flx_hessian_free(&h->layers[i].attn_out);
        flx_hessian_free(&h->layers[i].ffn_in);
        flx_hessian_free(&h->layers[i].ffn_act);
    }
    free(h->layers);
    flx_hessian_free(&h->lm_head);
    memset(h, 0, sizeof *h);
}

static int alloc_hessians(flx_calib_hessians *out, const flx_config *c, const flx_capture_options *opt,
                          flx_error *err) {
    out->first_layer = opt->first_layer;
    out->has_lm_head = opt->lm_head;
    if (opt->n_layers > 0) {
        out->layers = flx_calloc((size_t)opt->n_layers, sizeof *out->layers, err);
        if (!out->layers) return -1;
    }
    int q_dim = c->n_heads * c->head_dim;
    for (int i = 0; i < opt->n_layers; i++) {
        flx_layer_hessians *lh = &out->layers[i];
        out->n_layers = i + 1; /* so that a failure frees what was allocated */
        if (flx_hessian_init(&lh->attn_in, c->dim, err) != 0 || flx_hessian_init(&lh->attn_out, q_dim, err) != 0 ||
            flx_hessian_init(&lh->ffn_in, c->dim, err) != 0 || flx_hessian_init(&lh->ffn_act, c->ffn_dim, err) != 0)
            return -1;
    }
    if (opt->lm_head && flx_hessian_init(&out->lm_head, c->dim, err) != 0) return -1;
    return 0;
}

int flx_calib_capture(flx_calib_hessians *out, const flx_model *model, const int32_t *text_tokens,
                      long n_text_tokens, int bos, const flx_capture_options *opt, flx_error *err) {
    const flx_config *c = &model->config;
    memset(out, 0, sizeof *out);
    if (opt->max_tokens <= 0)
        return flx_fail(err, "calibration token count %ld: expected a positive number", opt->max_tokens);
    if (opt->first_layer < 0 || opt->n_layers < 0 || opt->first_layer > c->n_layers ||
        opt->n_layers > c->n_layers - opt->first_layer)
        return flx_fail(err, "capture of %d layers from layer %d: the model has layers 0 to %d", opt->n_layers,
                        opt->first_layer, c->n_layers - 1);
    if (bos >= c->vocab_size)
        return flx_fail(err, "BOS token id %d is outside the vocabulary (0..%d)", bos, c->vocab_size - 1);
    long n_use = n_text_tokens < opt->max_tokens ? n_text_tokens : opt->max_tokens;
    if (n_use <= 0) return flx_fail(err, "the calibration text has no tokens; pass a non-empty text");
    for (long i = 0; i < n_use; i++)
        if (text_tokens[i] < 0 || text_tokens[i] >= c->vocab_size)
            return flx_fail(err, "calibration token %ld is id %d, outside the vocabulary (0..%d)", i,
                            text_tokens[i], c->vocab_size - 1);

    int window = c->context_length < FLX_CALIB_MAX_WINDOW ? c->context_length : FLX_CALIB_MAX_WINDOW;
    int text_per_window = bos >= 0 ? window - 1 : window;
    if (text_per_window < 1)
        return flx_fail(err, "the model's context of %d positions leaves no room for calibration text",
                        c->context_length);

    capture_state s;
    int32_t *buf = NULL;
    if (alloc_hessians(out, c, opt, err) != 0 || !(buf = flx_malloc((size_t)window * sizeof *buf, err)) ||
        state_init(&s, model, window, err) != 0) {
        free(buf);
        flx_calib_hessians_free(out);
        return -1;
    }
    out->window = window;
    int rc = 0;
    for (long start = 0; start < n_use && rc == 0; start += text_per_window) {
        int n_text = (int)(n_use - start < text_per_window ? n_use - start : text_per_window);
        int n = 0;
        if (bos >= 0) buf[n++] = bos;
        memcpy(buf + n, text_tokens + start, (size_t)n_text * sizeof *buf);
        n += n_text;
        rc = run_window(out, model, &s, buf, n, err);
        out->n_windows++;
        out->n_positions += n;
    }
    out->n_tokens = n_use;
    state_free(&s);
    free(buf);
    if (rc != 0) flx_calib_hessians_free(out);
    return rc;
}
