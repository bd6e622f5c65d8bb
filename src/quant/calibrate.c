#include "quant/calibrate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant/fakequant.h"

/* Largest absolute value per layer and head. */
typedef struct calib_maxima {
    const flx_config *c;
    float *q;  /* [n_layers][n_heads] */
    float *k;  /* [n_layers][n_kv_heads] */
    float *v;  /* [n_layers][n_kv_heads] */
} calib_maxima;

/* Folds rows [n][n_heads*head_dim] into max[n_heads]. A NaN makes the
 * maximum NaN, which flx_calibrate then rejects. */
static void fold_max(float *max, const float *x, int n, int n_heads, int head_dim) {
    for (int t = 0; t < n; t++)
        for (int h = 0; h < n_heads; h++) {
            const float *row = x + ((size_t)t * n_heads + h) * head_dim;
            for (int d = 0; d < head_dim; d++) {
                float a = fabsf(row[d]);
                if (a > max[h] || isnan(a)) max[h] = a;
            }
        }
}

static void observe(void *ctx, int layer, int n, const float *q, const float *k, const float *v) {
    calib_maxima *m = ctx;
    const flx_config *c = m->c;
    fold_max(m->q + (size_t)layer * c->n_heads, q, n, c->n_heads, c->head_dim);
    fold_max(m->k + (size_t)layer * c->n_kv_heads, k, n, c->n_kv_heads, c->head_dim);
    fold_max(m->v + (size_t)layer * c->n_kv_heads, v, n, c->n_kv_heads, c->head_dim);
}

static int scales_from_maxima(float *scale, const float *max, int n, int layer, const char *what,
                              flx_error *err) {
    for (int h = 0; h < n; h++) {
        if (!isfinite(max[h]))
            return flx_fail(err,
                            "calibration: layer %d head %d: max |%s| is %g; the float model "
                            "overflows on the calibration text",
                            layer, h, what, (double)max[h]);
        float s = max[h] / 127.0f;
        scale[h] = s > FLX_CALIB_MIN_SCALE ? s : FLX_CALIB_MIN_SCALE;
    }
    return 0;
}

/* Sets every entry of max [n] to the largest of them. */
static void layer_maximum(float *max, int n) {
    float m = 0.0f;
    for (int h = 0; h < n; h++) m = fmaxf(m, max[h]);
    for (int h = 0; h < n; h++) max[h] = m;
}

int flx_calibrate(flx_qmodel *qm, const int32_t *text_tokens, long n_text_tokens, int bos,
                  long max_tokens, flx_calib_result *result, flx_error *err) {
    const flx_config *c = &qm->config;
    memset(result, 0, sizeof *result);
    if (!qm->source)
        return flx_fail(err, "calibration needs the float model the weights were quantized from");
    if (max_tokens <= 0)
        return flx_fail(err, "calibration token count %ld: expected a positive number", max_tokens);
    long n_use = n_text_tokens < max_tokens ? n_text_tokens : max_tokens;
    if (n_use <= 0)
        return flx_fail(err, "the calibration text has no tokens; pass a non-empty text");

    int window = c->context_length < FLX_CALIB_MAX_WINDOW ? c->context_length : FLX_CALIB_MAX_WINDOW;
    int text_per_window = bos >= 0 ? window - 1 : window;
    if (text_per_window < 1)
        return flx_fail(err, "the model's context of %d positions leaves no room for calibration text",
                        c->context_length);

    calib_maxima m = {c, NULL, NULL, NULL};
    size_t n_q = (size_t)c->n_layers * c->n_heads, n_kv = (size_t)c->n_layers * c->n_kv_heads;
    flx_fakequant_state s = {0};
    int32_t *buf = NULL;
    float *logits = NULL; /* the forward pass writes the last token's logits */
    int rc = -1;
    if (!(m.q = flx_calloc(n_q, sizeof(float), err)) || !(m.k = flx_calloc(n_kv, sizeof(float), err)) ||
        !(m.v = flx_calloc(n_kv, sizeof(float), err)) ||
        !(buf = flx_malloc((size_t)window * sizeof *buf, err)) ||
        !(logits = flx_malloc((size_t)c->vocab_size * sizeof *logits, err)) ||
        flx_fakequant_state_init(&s, qm, window, window, err) != 0)
        goto done;
    s.options = (flx_fakequant_options){.float_weights = true,
                                        .float_activations = true,
                                        .float_attention = true,
                                        .observe = observe,
                                        .observe_ctx = &m};

    for (long start = 0; start < n_use; start += text_per_window) {
        int n_text = (int)(n_use - start < text_per_window ? n_use - start : text_per_window);
        int n = 0;
        if (bos >= 0) buf[n++] = bos;
        memcpy(buf + n, text_tokens + start, (size_t)n_text * sizeof *buf);
        n += n_text;
        if (flx_fakequant_forward(qm, &s, buf, n, 0, logits, 0, err) != 0) {
            flx_error_prefix(err, "calibration");
            goto done;
        }
        result->n_windows++;
    }

    /* Per-layer static scales (Q, and K and V unless the KV cache is
     * dynamic) take the maximum over the layer's heads. */
    for (int l = 0; l < c->n_layers && qm->kv.per_layer; l++) {
        layer_maximum(m.q + (size_t)l * c->n_heads, c->n_heads);
        if (qm->kv.dynamic) continue;
        layer_maximum(m.k + (size_t)l * c->n_kv_heads, c->n_kv_heads);
        layer_maximum(m.v + (size_t)l * c->n_kv_heads, c->n_kv_heads);
    }
    for (int l = 0; l < c->n_layers; l++) {
        flx_qlayer *ql = &qm->layers[l];
        if (scales_from_maxima(ql->q_scale, m.q + (size_t)l * c->n_heads, c->n_heads, l, "Q", err) ||
            scales_from_maxima(ql->k_scale, m.k + (size_t)l * c->n_kv_heads, c->n_kv_heads, l, "K", err) ||
            scales_from_maxima(ql->v_scale, m.v + (size_t)l * c->n_kv_heads, c->n_kv_heads, l, "V", err))
            goto done;
        /* Probabilities lie in [0, 1]. */
        ql->prob_scale = 1.0f / 255.0f;
    }
    result->n_tokens = n_use;
    result->window = window;
    rc = 0;
done:
    flx_fakequant_state_free(&s);
    free(buf);
    free(logits);
    free(m.q);
    free(m.k);
    free(m.v);
    return rc;
}
