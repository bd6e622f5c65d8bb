/* Random orthogonal matrices, the rotation operator, and the offline model
 * rotations: after untie + fold + R1 + R2 (+ R4 with the online transform)
 * the float logits must equal those of the original model. The rotated
 * models run through flx_forward and through a double-precision forward
 * pass written here, which can apply the online Walsh-Hadamard transform of
 * R4 before w_down. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "common/data_dir.h"
#include "modelio/gguf.h"
#include "modelio/model.h"
#include "modelio/synth.h"
#include "quant/orthogonal.h"
#include "quant/rotate.h"
#include "reference/forward.h"
#include "test_safetensors_writer.h"

/* Test-local xorshift64 generator. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng_next(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static double rng_uniform(void) { return (double)(rng_next() >> 11) * 0x1p-53 * 2.0 - 1.0; }

static char tmp_dir[512];

static void tmp_path(char *out, size_t size, const char *name) {
    snprintf(out, size, "%s/%s", tmp_dir, name);
}

/* ---- Random orthogonal matrices ---- */

static double gram_error(const double *q, int n, int transpose) {
    double worst = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double dot = 0;
            for (int k = 0; k < n; k++)
                dot += transpose ? q[i * n + k] * q[j * n + k] : q[k * n + i] * q[k * n + j];
            worst = fmax(worst, fabs(dot - (i == j)));
        }
    return worst;
}

static void test_random_orthogonal(void) {
    int orders[] = {1, 2, 3, 5, 8, 64, 172, 256};
    flx_error err;
    for (size_t t = 0; t < sizeof orders / sizeof orders[0]; t++) {
        int n = orders[t];
        double *q = malloc((size_t)n * n * sizeof *q), *again = malloc((size_t)n * n * sizeof *again);
        double *other = malloc((size_t)n * n * sizeof *other);
        CHECK(q && again && other);
        if (!q || !again || !other) return;
        CHECK_INT_EQ(flx_orthogonal_random(n, 42, q, &err), 0);
        CHECK_INT_EQ(flx_orthogonal_random(n, 42, again, &err), 0);
        CHECK_INT_EQ(flx_orthogonal_random(n, 43, other, &err), 0);
        double qtq = gram_error(q, n, 0), qqt = gram_error(q, n, 1);
        if (qtq > 1e-10 || qqt > 1e-10) fprintf(stderr, "order %d: Q^T Q error %g, Q Q^T error %g\n", n, qtq, qqt);
        CHECK(qtq <= 1e-10);
        CHECK(qqt <= 1e-10);
        CHECK(memcmp(q, again, (size_t)n * n * sizeof *q) == 0);
        CHECK(n == 1 || memcmp(q, other, (size_t)n * n * sizeof *q) != 0);
        CHECK_NEAR(flx_orthogonal_error(q, n), qtq, 1e-12);
        free(q);
        free(again);
        free(other);
    }
    CHECK_INT_EQ(flx_orthogonal_random(0, 1, NULL, &err), -1);
    CHECK(strstr(err.msg, "order 0") != NULL);

    /* For a Haar matrix Q[0][0] is symmetric around 0 with E[Q00^2] = 1/n.
     * Without the sign fix, Householder QR makes Q[0][0] always negative. */
    int n = 4, draws = 400, positive = 0;
    double sum = 0, sum_sq = 0, q[16];
    for (int s = 0; s < draws; s++) {
        CHECK_INT_EQ(flx_orthogonal_random(n, 1000 + (uint64_t)s, q, &err), 0);
        sum += q[0];
        sum_sq += q[0] * q[0];
        positive += q[0] > 0;
    }
    fprintf(stderr, "Haar check: mean Q00 %.3f, mean Q00^2 %.3f, %d of %d positive\n", sum / draws,
            sum_sq / draws, positive, draws);
    CHECK(fabs(sum / draws) < 0.1);
    CHECK(fabs(sum_sq / draws - 0.25) < 0.04);
    CHECK(positive > 160);
    CHECK(positive < 240);

    /* diag(1.5, 1): Q^T Q - I = diag(1.25, 0). */
    double d[4] = {1.5, 0, 0, 1};
    CHECK_NEAR(flx_orthogonal_error(d, 2), 1.25, 1e-15);
    double swap[4] = {0, 1, 1, 0};
    CHECK(flx_orthogonal_error(swap, 2) == 0.0);
}

/* ---- The rotation operator against dense products ---- */

static void check_rotation_ops(const flx_rotation *r, const char *label) {
    int n = r->n;
    size_t rows = 19, stride = (size_t)n + 3, cols = 70;
    double *q = malloc((size_t)n * n * sizeof *q);
    float *w = malloc(rows * stride * sizeof *w), *w0 = malloc(rows * stride * sizeof *w0);
    float *v = malloc((size_t)n * cols * sizeof *v), *v0 = malloc((size_t)n * cols * sizeof *v0);
    double *x = malloc((size_t)n * sizeof *x), *x0 = malloc((size_t)n * sizeof *x0);
    double *work = malloc((size_t)n * sizeof *work);
    flx_error err;
    CHECK(q && w && w0 && v && v0 && x && x0 && work);
    if (!q || !w || !w0 || !v || !v0 || !x || !x0 || !work) return;
    CHECK_INT_EQ(flx_rotation_to_matrix(r, q, &err), 0);
    CHECK(gram_error(q, n, 0) <= 1e-12);
    for (size_t i = 0; i < rows * stride; i++) w[i] = w0[i] = (float)rng_uniform();
    for (size_t i = 0; i < (size_t)n * cols; i++) v[i] = v0[i] = (float)rng_uniform();
    for (int i = 0; i < n; i++) x[i] = x0[i] = rng_uniform();

    CHECK_INT_EQ(flx_rotation_right(r, w, rows, stride, &err), 0);
    CHECK_INT_EQ(flx_rotation_left_transpose(r, v, cols, &err), 0);
    flx_rotation_apply_transpose(r, x, work);

    double right_err = 0, left_err = 0, vec_err = 0;
    int padding_changed = 0;
    for (size_t i = 0; i < rows; i++) {
        for (int j = 0; j < n; j++) {
            double want = 0; /* (W Q)[i][j] */
            for (int k = 0; k < n; k++) want += w0[i * stride + k] * q[k * n + j];
            right_err = fmax(right_err, fabs(w[i * stride + j] - want));
        }
        for (size_t j = (size_t)n; j < stride; j++) padding_changed += w[i * stride + j] != w0[i * stride + j];
    }
    for (int j = 0; j < n; j++) {
        for (size_t c = 0; c < cols; c++) {
            double want = 0; /* (Q^T V)[j][c] */
            for (int k = 0; k < n; k++) want += q[k * n + j] * v0[(size_t)k * cols + c];
            left_err = fmax(left_err, fabs(v[(size_t)j * cols + c] - want));
        }
        double want = 0;
        for (int k = 0; k < n; k++) want += q[k * n + j] * x0[k];
        vec_err = fmax(vec_err, fabs(x[j] - want));
    }
    if (right_err > 1e-6 || left_err > 1e-6 || vec_err > 1e-12)
        fprintf(stderr, "%s: W Q error %g, Q^T W error %g, Q^T x error %g\n", label, right_err, left_err, vec_err);
    CHECK(right_err <= 1e-6);
    CHECK(left_err <= 1e-6);
    CHECK(vec_err <= 1e-12);
    CHECK_INT_EQ(padding_changed, 0);
    free(q);
    free(w);
    free(w0);
    free(v);
    free(v0);
    free(x);
    free(x0);
    free(work);
}

static void test_rotation_ops(void) {
    flx_rotation r;
    flx_error err;
    CHECK_INT_EQ(flx_rotation_init_random(&r, 12, 5, &err), 0);
    check_rotation_ops(&r, "random 12");
    flx_rotation_free(&r);
    int hadamard_orders[] = {12, 16, 40};
    for (size_t t = 0; t < 3; t++) {
        int n = hadamard_orders[t];
        CHECK_INT_EQ(flx_rotation_init_hadamard(&r, n, 9, &err), 0);
        char label[32];
        snprintf(label, sizeof label, "hadamard %d", n);
        check_rotation_ops(&r, label);
        /* The operator's matrix is the randomized Hadamard matrix of the seed. */
        double *a = malloc((size_t)n * n * sizeof *a), *b = malloc((size_t)n * n * sizeof *b);
        CHECK(a && b);
        if (a && b) {
            CHECK_INT_EQ(flx_rotation_to_matrix(&r, a, &err), 0);
            CHECK_INT_EQ(flx_hadamard_random_matrix(n, 9, b, &err), 0);
            CHECK(memcmp(a, b, (size_t)n * n * sizeof *a) == 0);
        }
        free(a);
        free(b);
        flx_rotation_free(&r);
    }
    CHECK_INT_EQ(flx_rotation_init_hadamard(&r, 172, 1, &err), -1);
    CHECK(strstr(err.msg, "order 172") != NULL);
}

/* ---- A double-precision forward pass with the online R4 transform ---- */

/* y = H x / sqrt(n) from H[i][j] = (-1)^popcount(i & j). */
static void sylvester_transform(double *x, int n) {
    double *y = calloc((size_t)n, sizeof *y);
    if (!y) return;
    for (int i = 0; i < n; i++) {
        double sum = 0;
        for (int j = 0; j < n; j++) sum += (__builtin_popcount((unsigned)(i & j)) & 1) ? -x[j] : x[j];
        y[i] = sum / sqrt((double)n);
    }
    memcpy(x, y, (size_t)n * sizeof *x);
    free(y);
}

static void matvec(double *out, const float *w, const double *x, int rows, int cols) {
    for (int r = 0; r < rows; r++) {
        double sum = 0;
        const float *row = w + (size_t)r * cols;
        for (int c = 0; c < cols; c++) sum += row[c] * x[c];
        out[r] = sum;
    }
}

static void rmsnorm(double *out, const double *x, const float *gain, int n, float eps) {
    double ss = 0;
    for (int i = 0; i < n; i++) ss += x[i] * x[i];
    double scale = 1.0 / sqrt(ss / n + eps);
    for (int i = 0; i < n; i++) out[i] = x[i] * scale * gain[i];
}

/* Logits [n][vocab] of tokens at positions 0..n-1; online_r4 applies the
 * normalized Walsh-Hadamard transform to the SwiGLU output. */
static double *ref_logits(const flx_model *m, const int32_t *tokens, int n, int online_r4) {
    const flx_config *c = &m->config;
    int dim = c->dim, hd = c->head_dim, q_dim = c->n_heads * hd, kv_dim = c->n_kv_heads * hd;
    int ffn = c->ffn_dim, group = c->n_heads / c->n_kv_heads, vocab = c->vocab_size;
    double *x = malloc((size_t)dim * sizeof *x), *xn = malloc((size_t)dim * sizeof *xn);
    double *q = malloc((size_t)q_dim * sizeof *q), *att = malloc((size_t)q_dim * sizeof *att);
    double *kc = malloc((size_t)c->n_layers * n * kv_dim * sizeof *kc);
    double *vc = malloc((size_t)c->n_layers * n * kv_dim * sizeof *vc);
    double *gate = malloc((size_t)ffn * sizeof *gate), *up = malloc((size_t)ffn * sizeof *up);
    double *y = malloc((size_t)dim * sizeof *y), *scores = malloc((size_t)n * sizeof *scores);
    double *logits = malloc((size_t)n * vocab * sizeof *logits);
    if (!x || !xn || !q || !att || !kc || !vc || !gate || !up || !y || !scores || !logits) {
        free(logits);
        logits = NULL;
        goto done;
    }
    for (int t = 0; t < n; t++) {
        for (int i = 0; i < dim; i++) x[i] = m->token_embedding[(size_t)tokens[t] * dim + i];
        for (int l = 0; l < c->n_layers; l++) {
            const flx_layer_weights *w = &m->layers[l];
            double *k = kc + ((size_t)l * n + t) * kv_dim, *v = vc + ((size_t)l * n + t) * kv_dim;

            /* Attention with interleaved-pair RoPE. */
            rmsnorm(xn, x, w->attn_norm, dim, c->norm_eps);
            matvec(q, w->wq, xn, q_dim, dim);
            matvec(k, w->wk, xn, kv_dim, dim);
            matvec(v, w->wv, xn, kv_dim, dim);
            for (int i = 0; i < c->rope_dim / 2; i++) {
                double angle = t * flx_rope_inv_freq(c, m->rope_freqs, i), cs = cos(angle), sn = sin(angle);
                for (int h = 0; h < c->n_heads + c->n_kv_heads; h++) {
                    double *pair = h < c->n_heads ? q + h * hd + 2 * i : k + (h - c->n_heads) * hd + 2 * i;
                    double a = pair[0], b = pair[1];
                    pair[0] = a * cs - b * sn;
                    pair[1] = a * sn + b * cs;
                }
            }
            for (int h = 0; h < c->n_heads; h++) {
                int kvh = h / group;
                double max = -INFINITY, sum = 0;
                for (int p = 0; p <= t; p++) {
                    const double *kp = kc + ((size_t)l * n + p) * kv_dim + kvh * hd;
                    double dot = 0;
                    for (int i = 0; i < hd; i++) dot += q[h * hd + i] * kp[i];
                    scores[p] = dot / sqrt((double)hd);
                    max = fmax(max, scores[p]);
                }
                for (int p = 0; p <= t; p++) sum += scores[p] = exp(scores[p] - max);
                for (int i = 0; i < hd; i++) {
                    double acc = 0;
                    for (int p = 0; p <= t; p++) acc += scores[p] / sum * vc[((size_t)l * n + p) * kv_dim + kvh * hd + i];
                    att[h * hd + i] = acc;
                }
            }
            matvec(y, w->wo, att, dim, q_dim);
            for (int i = 0; i < dim; i++) x[i] += y[i];

            /* SwiGLU FFN, with the online R4 transform before w_down. */
            rmsnorm(xn, x, w->ffn_norm, dim, c->norm_eps);
            matvec(gate, w->w_gate, xn, ffn, dim);
            matvec(up, w->w_up, xn, ffn, dim);
            for (int i = 0; i < ffn; i++) gate[i] = gate[i] / (1.0 + exp(-gate[i])) * up[i];
            if (online_r4) sylvester_transform(gate, ffn);
            matvec(y, w->w_down, gate, dim, ffn);
            for (int i = 0; i < dim; i++) x[i] += y[i];
        }

        rmsnorm(xn, x, m->output_norm, dim, c->norm_eps);
        matvec(logits + (size_t)t * vocab, m->output, xn, vocab, dim);
    }
done:
    free(x);
    free(xn);
    free(q);
    free(att);
    free(kc);
    free(vc);
    free(gate);
    free(up);
    free(y);
    free(scores);
    return logits;
}

/* Logits [n][vocab] from the reference forward pass, widened to double. */
static double *forward_logits(const flx_model *m, const int32_t *tokens, int n) {
    int vocab = m->config.vocab_size;
    flx_state s;
    flx_error err;
    float *out = malloc((size_t)n * vocab * sizeof *out);
    double *logits = malloc((size_t)n * vocab * sizeof *logits);
    if (!out || !logits || flx_state_init(&s, m, n, n, &err) != 0) {
        free(out);
        free(logits);
        return NULL;
    }
    int rc = flx_forward(m, &s, tokens, n, 0, out, 1, &err);
    flx_state_free(&s);
    if (rc != 0) fprintf(stderr, "forward failed: %s\n", err.msg);
    for (size_t i = 0; rc == 0 && i < (size_t)n * vocab; i++) logits[i] = out[i];
    free(out);
    if (rc != 0) {
        free(logits);
        return NULL;
    }
    return logits;
}

/* max |a - b| / max |b| over count values; 1 when either is missing. */
static double relative_diff(const double *a, const double *b, size_t count) {
    if (!a || !b) return 1.0;
    double diff = 0, scale = 0;
    for (size_t i = 0; i < count; i++) {
        diff = fmax(diff, fabs(a[i] - b[i]));
        scale = fmax(scale, fabs(b[i]));
    }
    return scale > 0 ? diff / scale : diff;
}

/* FNV-1a over every weight of the model, to show that it was not changed. */
static uint64_t hash_weights(const flx_model *m) {
    const flx_config *c = &m->config;
    size_t dim = c->dim, q_dim = (size_t)c->n_heads * c->head_dim, kv_dim = (size_t)c->n_kv_heads * c->head_dim;
    size_t ffn = c->ffn_dim, vocab = c->vocab_size;
    uint64_t h = 0xcbf29ce484222325ull;
#define HASH(p, count)                                                                   \
    for (size_t i_ = 0; i_ < (count) * sizeof(float); i_++) {                            \
        h ^= ((const unsigned char *)(p))[i_];                                           \
        h *= 0x100000001b3ull;                                                           \
    }
    HASH(m->token_embedding, vocab * dim);
    HASH(m->output, vocab * dim);
    HASH(m->output_norm, dim);
    for (int l = 0; l < c->n_layers; l++) {
        const flx_layer_weights *w = &m->layers[l];
        HASH(w->attn_norm, dim);
        HASH(w->wq, q_dim * dim);
        HASH(w->wk, kv_dim * dim);
        HASH(w->wv, kv_dim * dim);
        HASH(w->wo, dim * q_dim);
        HASH(w->ffn_norm, dim);
        HASH(w->w_gate, ffn * dim);
        HASH(w->w_up, ffn * dim);
        HASH(w->w_down, dim * ffn);
    }
#undef HASH
    return h;
}

/* ---- A small synthetic model with a power-of-two FFN ---- */

static float *random_tensor(flx_model *m, size_t count, double scale, double offset) {
    flx_error err;
    float *p = flx_model_alloc(m, count * sizeof *p, &err);
    if (p)
        for (size_t i = 0; i < count; i++) p[i] = (float)(offset + scale * rng_uniform());
    return p;
}

/* dim 32, 2 layers, 4 query heads on 2 KV heads of 8, FFN 64, vocab 40,
 * tied embeddings and RMSNorm gains in [0.5, 1.5]. */
static int build_synthetic(flx_model *m) {
    memset(m, 0, sizeof *m);
    flx_config *c = &m->config;
    *c = (flx_config){.dim = 32, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .head_dim = 8, .ffn_dim = 64,
                      .vocab_size = 40, .context_length = 16, .norm_eps = 1e-5f, .rope_theta = 10000.0f,
                      .rope_dim = 8, .tied_embeddings = true};
    snprintf(m->path, sizeof m->path, "synthetic");
    snprintf(m->format, sizeof m->format, "test");
    m->layers = calloc((size_t)c->n_layers, sizeof *m->layers);
    if (!m->layers) return -1;
    size_t dim = c->dim, q_dim = 32, kv_dim = 16, ffn = c->ffn_dim;
    double ws = 1.0 / sqrt((double)dim), fs = 1.0 / sqrt((double)ffn);
    if (!(m->token_embedding = random_tensor(m, (size_t)c->vocab_size * dim, 1.0, 0.0))) return -1;
    m->output = m->token_embedding;
    if (!(m->output_norm = random_tensor(m, dim, 0.5, 1.0))) return -1;
    for (int l = 0; l < c->n_layers; l++) {
        flx_layer_weights *w = &m->layers[l];
        if (!(w->attn_norm = random_tensor(m, dim, 0.5, 1.0)) || !(w->wq = random_tensor(m, q_dim * dim, ws, 0)) ||
            !(w->wk = random_tensor(m, kv_dim * dim, ws, 0)) || !(w->wv = random_tensor(m, kv_dim * dim, ws, 0)) ||
            !(w->wo = random_tensor(m, dim * q_dim, ws, 0)) || !(w->ffn_norm = random_tensor(m, dim, 0.5, 1.0)) ||
            !(w->w_gate = random_tensor(m, ffn * dim, ws, 0)) || !(w->w_up = random_tensor(m, ffn * dim, ws, 0)) ||
            !(w->w_down = random_tensor(m, dim * ffn, fs, 0)))
            return -1;
    }
    return 0;
}

static void test_synthetic_model(void) {
    flx_model src, out;
    flx_error err;
    CHECK_INT_EQ(build_synthetic(&src), 0);
    int32_t tokens[] = {3, 17, 39, 0, 25, 8};
    int n = 6;
    size_t count = (size_t)n * src.config.vocab_size;
    uint64_t before = hash_weights(&src);
    double *want = forward_logits(&src, tokens, n);
    double *ref = ref_logits(&src, tokens, n, 0);
    /* The local forward pass agrees with the reference one. */
    CHECK(relative_diff(ref, want, count) <= 1e-5);

    /* R1 Hadamard, R2 random, R4: run with the online transform. */
    flx_rotate_options opt = {.r1 = FLX_ROTATION_HADAMARD, .r1_seed = 11, .r2 = FLX_ROTATION_RANDOM,
                              .r2_seed = 5, .r4 = true};
    flx_rotation_record rec;
    CHECK_INT_EQ(flx_rotate_model(&out, &src, &opt, &rec, &err), 0);
    double *got = ref_logits(&out, tokens, n, 1);
    double *no_online = ref_logits(&out, tokens, n, 0);
    double diff = relative_diff(got, want, count);
    fprintf(stderr, "synthetic R1 hadamard + R2 random + R4: relative logit difference %.3g\n", diff);
    CHECK(diff <= 1e-4);
    /* Without the online transform the fused w_down gives other logits. */
    CHECK(relative_diff(no_online, want, count) > 1e-2);
    CHECK(hash_weights(&src) == before);
    CHECK(src.config.tied_embeddings);
    CHECK(!out.config.tied_embeddings);
    CHECK(out.output != out.token_embedding);
    for (int i = 0; i < out.config.dim; i++) {
        CHECK(out.output_norm[i] == 1.0f);
        CHECK(out.layers[1].attn_norm[i] == 1.0f);
        CHECK(out.layers[1].ffn_norm[i] == 1.0f);
    }
    CHECK(rec.untied);
    CHECK(rec.norms_folded);
    CHECK(rec.r4);
    CHECK_INT_EQ(rec.r1_size, 32);
    CHECK_INT_EQ(rec.r2_size, 8);
    CHECK_INT_EQ(rec.r4_size, 64);
    char text[256];
    flx_rotation_record_format(&rec, text, sizeof text);
    CHECK(strcmp(text, "untie fold-norms r1=hadamard(32,seed=11) r2=random(8,seed=5+layer) r4=walsh-hadamard(64)") == 0);
    flx_model_free(&out);
    free(got);
    free(no_online);

    /* R1 random, R2 Hadamard, no R4: the reference forward pass. */
    opt = (flx_rotate_options){.r1 = FLX_ROTATION_RANDOM, .r1_seed = 3, .r2 = FLX_ROTATION_HADAMARD, .r2_seed = 4};
    CHECK_INT_EQ(flx_rotate_model(&out, &src, &opt, &rec, &err), 0);
    got = forward_logits(&out, tokens, n);
    diff = relative_diff(got, want, count);
    fprintf(stderr, "synthetic R1 random + R2 hadamard: relative logit difference %.3g\n", diff);
    CHECK(diff <= 1e-4);
    flx_model_free(&out);
    free(got);

    /* R2 alone leaves the norms and the tie. */
    opt = (flx_rotate_options){.r2 = FLX_ROTATION_RANDOM, .r2_seed = 8};
    CHECK_INT_EQ(flx_rotate_model(&out, &src, &opt, &rec, &err), 0);
    CHECK(out.config.tied_embeddings);
    CHECK(!rec.untied);
    CHECK(!rec.norms_folded);
    got = forward_logits(&out, tokens, n);
    CHECK(relative_diff(got, want, count) <= 1e-4);
    flx_rotation_record_format(&rec, text, sizeof text);
    CHECK(strcmp(text, "r2=random(8,seed=8+layer)") == 0);
    flx_model_free(&out);
    free(got);

    /* Untie and fold alone keep the logits. */
    CHECK_INT_EQ(flx_rotate_copy_model(&out, &src, &err), 0);
    CHECK_INT_EQ(flx_rotate_fold_norms(&out, &err), -1);
    CHECK(strstr(err.msg, "untie it first") != NULL);
    CHECK_INT_EQ(flx_rotate_untie(&out, &err), 0);
    CHECK_INT_EQ(flx_rotate_fold_norms(&out, &err), 0);
    got = forward_logits(&out, tokens, n);
    CHECK(relative_diff(got, want, count) <= 1e-5);
    free(got);
    flx_model_free(&out);

    /* The steps check their preconditions. */
    flx_rotation r32, r16, r8;
    CHECK_INT_EQ(flx_rotation_init_random(&r32, 32, 1, &err), 0);
    CHECK_INT_EQ(flx_rotation_init_random(&r16, 16, 1, &err), 0);
    CHECK_INT_EQ(flx_rotation_init_random(&r8, 8, 1, &err), 0);
    CHECK_INT_EQ(flx_rotate_copy_model(&out, &src, &err), 0);
    CHECK_INT_EQ(flx_rotate_r1(&out, &r32, &err), -1);
    CHECK(strstr(err.msg, "rotate the shared matrix twice") != NULL);
    CHECK_INT_EQ(flx_rotate_untie(&out, &err), 0);
    CHECK_INT_EQ(flx_rotate_r1(&out, &r32, &err), -1);
    CHECK(strstr(err.msg, "layer 0 attn_norm[0]") != NULL);
    CHECK(strstr(err.msg, "fold the gains") != NULL);
    CHECK_INT_EQ(flx_rotate_fold_norms(&out, &err), 0);
    CHECK_INT_EQ(flx_rotate_r1(&out, &r16, &err), -1);
    CHECK(strstr(err.msg, "order 16") != NULL);
    CHECK(strstr(err.msg, "dim = 32") != NULL);
    CHECK_INT_EQ(flx_rotate_r2(&out, 0, &r16, &err), -1);
    CHECK(strstr(err.msg, "head_dim = 8") != NULL);
    CHECK_INT_EQ(flx_rotate_r2(&out, 2, &r8, &err), -1);
    CHECK(strstr(err.msg, "layer 2") != NULL);
    flx_model_free(&out);
    /* The source does not own its tensors through the copy's list. */
    CHECK_INT_EQ(flx_rotate_copy_model(&out, &src, &err), 0);
    flx_layer_weights *layer0 = &out.layers[0];
    const float *own_wv = layer0->wv;
    layer0->wv = src.layers[0].wv;
    CHECK_INT_EQ(flx_rotate_r2(&out, 0, &r8, &err), -1);
    CHECK(strstr(err.msg, "layer 0 wv is not owned") != NULL);
    layer0->wv = own_wv;
    flx_model_free(&out);
    opt = (flx_rotate_options){.r1 = FLX_ROTATION_LEARNED};
    CHECK_INT_EQ(flx_rotate_model(&out, &src, &opt, NULL, &err), -1);
    CHECK(strstr(err.msg, "need a rotation file") != NULL);
    opt = (flx_rotate_options){.r1 = (flx_rotation_kind)9};
    CHECK_INT_EQ(flx_rotate_model(&out, &src, &opt, NULL, &err), -1);
    CHECK(strstr(err.msg, "invalid R1 rotation kind 9") != NULL);
    flx_rotation_free(&r32);
    flx_rotation_free(&r16);
    flx_rotation_free(&r8);
    free(want);
    free(ref);
    flx_model_free(&src);
}

/* R4 on one FFN block: w_down' (H h / sqrt(n)) == w_down h for the SwiGLU
 * output h of layer 0. */
static void test_r4_ffn_block(void) {
    flx_model src, out;
    flx_error err;
    CHECK_INT_EQ(build_synthetic(&src), 0);
    CHECK_INT_EQ(flx_rotate_copy_model(&out, &src, &err), 0);
    CHECK_INT_EQ(flx_rotate_r4(&out, &err), 0);
    int dim = src.config.dim, ffn = src.config.ffn_dim;
    double x[32], gate[64], up[64], h[64], want[32], got[32];
    for (int i = 0; i < dim; i++) x[i] = rng_uniform();
    matvec(gate, src.layers[0].w_gate, x, ffn, dim);
    matvec(up, src.layers[0].w_up, x, ffn, dim);
    for (int i = 0; i < ffn; i++) h[i] = gate[i] / (1.0 + exp(-gate[i])) * up[i];
    matvec(want, src.layers[0].w_down, h, dim, ffn);
    sylvester_transform(h, ffn);
    matvec(got, out.layers[0].w_down, h, dim, ffn);
    double diff = 0, scale = 0;
    for (int i = 0; i < dim; i++) {
        diff = fmax(diff, fabs(got[i] - want[i]));
        scale = fmax(scale, fabs(want[i]));
    }
    CHECK(diff <= 1e-5 * scale);
    CHECK(src.layers[0].w_down != out.layers[0].w_down);
    flx_model_free(&out);
    flx_model_free(&src);
}

/* ---- stories260K ---- */

static int load_stories(flx_model *m) {
    char path[1024];
    flx_error err;
    flx_data_path(path, sizeof path, "models/stories260K/stories260K.bin");
    if (flx_model_load(m, path, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    return 0;
}

/* Writes a safetensors file of the given tensors and frees them. */
static int write_tensors(const char *path, st_write_tensor *t, int n) {
    int rc = st_write_file(path, t, n);
    st_free_tensors(t, n);
    return rc;
}

static int add_matrix(st_write_tensor *t, const char *name, const double *q, int n) {
    float *f = malloc((size_t)n * n * sizeof *f);
    if (!f) return -1;
    for (size_t i = 0; i < (size_t)n * n; i++) f[i] = (float)q[i];
    int rc = st_tensor_from_floats(t, name, "F32", 2, n, n, f);
    free(f);
    return rc;
}

static int add_f64_matrix(st_write_tensor *t, const char *name, const double *q, int n) {
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->dtype = "F64";
    t->n_dims = 2;
    t->shape[0] = t->shape[1] = n;
    t->n_bytes = (size_t)n * n * 8;
    t->data = malloc(t->n_bytes);
    if (!t->data) return -1;
    memcpy(t->data, q, t->n_bytes); /* little-endian host */
    return 0;
}

/* Rotation file with R1 (dim) and R2 for layers [0, n_r2) of the
 * matrices r1 and r2 [layer][hd][hd]; r1 NULL leaves R1 out. */
static int write_rotations(const char *path, const double *r1, int dim, const double *r2, int hd, int n_r2,
                           int f64) {
    st_write_tensor t[16];
    int n = 0, rc = 0;
    if (r1) rc |= (f64 ? add_f64_matrix : add_matrix)(&t[n++], "R1", r1, dim);
    for (int l = 0; l < n_r2; l++) {
        char name[64];
        snprintf(name, sizeof name, "model.layers.%d.self_attn.R2", l);
        rc |= add_matrix(&t[n++], name, r2 + (size_t)l * hd * hd, hd);
    }
    if (rc != 0) {
        st_free_tensors(t, n);
        return -1;
    }
    return write_tensors(path, t, n);
}

static void expect_rejected(const char *path, const flx_config *c, const char *fragment) {
    flx_rotation_file rf;
    flx_error err = {{0}};
    CHECK_INT_EQ(flx_rotation_file_load(&rf, path, c, &err), -1);
    int has_path = strstr(err.msg, path) != NULL, has_fragment = strstr(err.msg, fragment) != NULL;
    if (!has_path || !has_fragment) fprintf(stderr, "unexpected message for '%s': %s\n", fragment, err.msg);
    CHECK(has_path);
    CHECK(has_fragment);
    CHECK(rf.r1 == NULL);
    CHECK(rf.r2 == NULL);
}

static void test_rotation_files(const flx_model *src, const double *want, const int32_t *tokens, int n) {
    const flx_config *c = &src->config;
    int dim = c->dim, hd = c->head_dim, layers = c->n_layers;
    size_t count = (size_t)n * c->vocab_size;
    flx_error err;
    double *r1 = malloc((size_t)dim * dim * sizeof *r1);
    double *r2 = malloc((size_t)layers * hd * hd * sizeof *r2);
    CHECK(r1 && r2);
    if (!r1 || !r2) return;
    CHECK_INT_EQ(flx_orthogonal_random(dim, 77, r1, &err), 0);
    for (int l = 0; l < layers; l++) CHECK_INT_EQ(flx_orthogonal_random(hd, 100 + l, r2 + (size_t)l * hd * hd, &err), 0);

    /* A valid file: learned R1 and R2 keep the logits, and E' = E R1. */
    char good[600], path[600];
    tmp_path(good, sizeof good, "rotations.safetensors");
    for (int f64 = 0; f64 <= 1; f64++) {
        CHECK_INT_EQ(write_rotations(good, r1, dim, r2, hd, layers, f64), 0);
        flx_rotate_options opt = {.r1 = FLX_ROTATION_LEARNED, .r2 = FLX_ROTATION_LEARNED, .rotation_file = good};
        flx_rotation_record rec;
        flx_model out;
        CHECK_INT_EQ(flx_rotate_model(&out, src, &opt, &rec, &err), 0);
        double *got = forward_logits(&out, tokens, n);
        double diff = relative_diff(got, want, count);
        fprintf(stderr, "stories260K learned R1 + R2 (%s): relative logit difference %.3g\n", f64 ? "F64" : "F32", diff);
        CHECK(diff <= 1e-4);
        free(got);
        double worst = 0;
        for (int j = 0; j < dim; j++) {
            double e = 0;
            for (int k = 0; k < dim; k++) e += src->token_embedding[5 * dim + k] * r1[k * dim + j];
            worst = fmax(worst, fabs(out.token_embedding[5 * dim + j] - e));
        }
        CHECK(worst <= 1e-5);
        char text[1400], expect[1400];
        flx_rotation_record_format(&rec, text, sizeof text);
        snprintf(expect, sizeof expect, "untie fold-norms r1=learned(64,file=%s) r2=learned(8,file=%s)", good, good);
        CHECK(strcmp(text, expect) == 0);
        flx_model_free(&out);
    }

    /* Malformed files name the file and the tensor. */
    st_write_tensor t[8];
    float *big = calloc((size_t)dim * dim, sizeof *big);
    CHECK(big != NULL);
    if (!big) return;

    tmp_path(path, sizeof path, "r1-shape.safetensors");
    CHECK_INT_EQ(st_tensor_from_floats(&t[0], "R1", "F32", 2, 32, 64, big), 0);
    CHECK_INT_EQ(write_tensors(path, t, 1), 0);
    expect_rejected(path, c, "tensor R1 has shape [32, 64]; expected [64, 64]");

    tmp_path(path, sizeof path, "r1-1d.safetensors");
    CHECK_INT_EQ(st_tensor_from_floats(&t[0], "R1", "F32", 1, 4096, 1, big), 0);
    CHECK_INT_EQ(write_tensors(path, t, 1), 0);
    expect_rejected(path, c, "tensor R1 has shape [4096]");

    tmp_path(path, sizeof path, "r1-dtype.safetensors");
    CHECK_INT_EQ(st_tensor_from_floats(&t[0], "R1", "F32", 2, dim, dim, big), 0);
    t[0].dtype = "I32";
    CHECK_INT_EQ(write_tensors(path, t, 1), 0);
    expect_rejected(path, c, "tensor R1 has dtype I32");

    tmp_path(path, sizeof path, "r1-scaled.safetensors");
    for (int i = 0; i < dim * dim; i++) big[i] = (float)(1.01 * r1[i]);
    CHECK_INT_EQ(st_tensor_from_floats(&t[0], "R1", "F32", 2, dim, dim, big), 0);
    CHECK_INT_EQ(write_tensors(path, t, 1), 0);
    expect_rejected(path, c, "tensor R1 is not orthogonal: max |Q^T Q - I| = 0.0201");

    tmp_path(path, sizeof path, "r1-nan.safetensors");
    for (int i = 0; i < dim * dim; i++) big[i] = (float)r1[i];
    big[3 * dim + 7] = NAN;
    CHECK_INT_EQ(st_tensor_from_floats(&t[0], "R1", "F32", 2, dim, dim, big), 0);
    CHECK_INT_EQ(write_tensors(path, t, 1), 0);
    expect_rejected(path, c, "tensor R1 has the non-finite value nan at [3, 7]");

    tmp_path(path, sizeof path, "r2-layer.safetensors");
    CHECK_INT_EQ(add_matrix(&t[0], "model.layers.7.self_attn.R2", r2, hd), 0);
    CHECK_INT_EQ(write_tensors(path, t, 1), 0);
    expect_rejected(path, c, "tensor model.layers.7.self_attn.R2 names layer 7, but the model has 5 layers");

    tmp_path(path, sizeof path, "r2-shape.safetensors");
    CHECK_INT_EQ(add_matrix(&t[0], "model.layers.0.self_attn.R2", r2, 4), 0);
    CHECK_INT_EQ(write_tensors(path, t, 1), 0);
    expect_rejected(path, c, "tensor model.layers.0.self_attn.R2 has shape [4, 4]; expected [8, 8]");

    tmp_path(path, sizeof path, "unknown.safetensors");
    CHECK_INT_EQ(add_matrix(&t[0], "R3", r2, hd), 0);
    CHECK_INT_EQ(write_tensors(path, t, 1), 0);
    expect_rejected(path, c, "unexpected tensor 'R3'");

    tmp_path(path, sizeof path, "r2-missing.safetensors");
    CHECK_INT_EQ(write_rotations(path, NULL, dim, r2, hd, 3, 0), 0);
    expect_rejected(path, c, "tensor model.layers.3.self_attn.R2 is missing");

    tmp_path(path, sizeof path, "empty.safetensors");
    CHECK_INT_EQ(write_tensors(path, t, 0), 0);
    expect_rejected(path, c, "no rotation tensors");

    tmp_path(path, sizeof path, "missing-file.safetensors");
    unlink(path);
    expect_rejected(path, c, "missing-file.safetensors");

    /* Truncated: the good file without its last 100 bytes. */
    FILE *f = fopen(good, "rb");
    char *bytes = malloc(1 << 20);
    size_t size = f && bytes ? fread(bytes, 1, 1 << 20, f) : 0;
    if (f) fclose(f);
    tmp_path(path, sizeof path, "truncated.safetensors");
    f = fopen(path, "wb");
    CHECK(f != NULL);
    CHECK(size > 100);
    if (f && size > 100) {
        fwrite(bytes, 1, size - 100, f);
        fclose(f);
        expect_rejected(path, c, "truncated.safetensors");
    }
    free(bytes);

    /* A file with R2 only cannot give a learned R1. */
    tmp_path(path, sizeof path, "r2-only.safetensors");
    CHECK_INT_EQ(write_rotations(path, NULL, dim, r2, hd, layers, 0), 0);
    flx_rotate_options opt = {.r1 = FLX_ROTATION_LEARNED, .rotation_file = path};
    flx_model out;
    CHECK_INT_EQ(flx_rotate_model(&out, src, &opt, NULL, &err), -1);
    CHECK(strstr(err.msg, "has no R1 tensor") != NULL);
    CHECK(strstr(err.msg, path) != NULL);
    /* ... but a learned R2 with a random R1. */
    opt = (flx_rotate_options){.r1 = FLX_ROTATION_RANDOM, .r1_seed = 2, .r2 = FLX_ROTATION_LEARNED, .rotation_file = path};
    CHECK_INT_EQ(flx_rotate_model(&out, src, &opt, NULL, &err), 0);
    double *got = forward_logits(&out, tokens, n);
    CHECK(relative_diff(got, want, count) <= 1e-4);
    free(got);
    flx_model_free(&out);

    const char *names[] = {"rotations.safetensors", "r1-shape.safetensors", "r1-1d.safetensors",
                           "r1-dtype.safetensors", "r1-scaled.safetensors", "r1-nan.safetensors",
                           "r2-layer.safetensors", "r2-shape.safetensors", "unknown.safetensors",
                           "r2-missing.safetensors", "empty.safetensors", "truncated.safetensors",
                           "r2-only.safetensors"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        tmp_path(path, sizeof path, names[i]);
        unlink(path);
    }
    free(big);
    free(r1);
    free(r2);
}

static void test_stories(void) {
    flx_model src, out;
    flx_error err;
    if (load_stories(&src) != 0) {
        CHECK(!"stories260K could not be loaded; set FLEXLLM_DATA");
        return;
    }
    int32_t tokens[] = {1, 42, 17, 300, 511, 7, 128, 64, 403, 2};
    int n = 10;
    size_t count = (size_t)n * src.config.vocab_size;
    uint64_t before = hash_weights(&src);
    double *want = forward_logits(&src, tokens, n);

    struct {
        flx_rotation_kind r1, r2;
        const char *label;
    } cases[] = {{FLX_ROTATION_RANDOM, FLX_ROTATION_RANDOM, "R1 random + R2 random"},
                 {FLX_ROTATION_HADAMARD, FLX_ROTATION_HADAMARD, "R1 hadamard + R2 hadamard"}};
    for (int i = 0; i < 2; i++) {
        flx_rotate_options opt = {.r1 = cases[i].r1, .r1_seed = 1, .r2 = cases[i].r2, .r2_seed = 2};
        CHECK_INT_EQ(flx_rotate_model(&out, &src, &opt, NULL, &err), 0);
        double *got = forward_logits(&out, tokens, n);
        double diff = relative_diff(got, want, count);
        fprintf(stderr, "stories260K %s: relative logit difference %.3g\n", cases[i].label, diff);
        CHECK(diff <= 1e-4);
        /* The rotation changed the weights. */
        CHECK(fabs(out.token_embedding[0] - src.token_embedding[0]) > 1e-6 ||
              fabs(out.token_embedding[1] - src.token_embedding[1]) > 1e-6);
        free(got);
        flx_model_free(&out);
    }
    CHECK(hash_weights(&src) == before);
    CHECK(src.config.tied_embeddings);

    /* FFN 172 is not a power of two, so R4 is rejected. */
    flx_rotate_options opt = {.r1 = FLX_ROTATION_HADAMARD, .r4 = true};
    CHECK_INT_EQ(flx_rotate_model(&out, &src, &opt, NULL, &err), -1);
    CHECK(strstr(err.msg, "ffn_dim = 172") != NULL);
    CHECK(strstr(err.msg, "stories260K.bin") != NULL);
    /* The loaded model does not own its tensors: the steps refuse to change it. */
    flx_rotation r8;
    CHECK_INT_EQ(flx_rotation_init_random(&r8, 8, 1, &err), 0);
    CHECK_INT_EQ(flx_rotate_r2(&src, 0, &r8, &err), -1);
    CHECK(strstr(err.msg, "is not owned by the model") != NULL);
    flx_rotation_free(&r8);
    CHECK(hash_weights(&src) == before);

    test_rotation_files(&src, want, tokens, n);
    free(want);
    flx_model_free(&src);
}

/* ---- The Llama-3.2-1B shape, 2 layers, F16, vocab 2048 ---- */

static void test_llama_shape(void) {
    flx_synth_options o = {0};
    CHECK_INT_EQ(flx_synth_preset("llama-3.2-1b", &o.config), 0);
    o.config.n_layers = 2;
    o.config.vocab_size = 2048;
    o.type = FLX_GGML_F16;
    o.seed = 7;
    o.name = "llama-3.2-1b-2layer";
    char path[600];
    tmp_path(path, sizeof path, "rotate-llama-shape.gguf");
    flx_error err;
    if (flx_synth_write(&o, path, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        CHECK(!"synthetic model could not be written");
        return;
    }

    flx_model src, out;
    CHECK_INT_EQ(flx_model_load(&src, path, &err), 0);
    unlink(path);
    int32_t tokens[] = {1, 1000, 2047, 33};
    int n = 4;
    size_t count = (size_t)n * src.config.vocab_size;
    double *want = forward_logits(&src, tokens, n);

    flx_rotate_options opt = {.r1 = FLX_ROTATION_HADAMARD, .r1_seed = 1, .r2 = FLX_ROTATION_HADAMARD,
                              .r2_seed = 2, .r4 = true};
    flx_rotation_record rec;
    CHECK_INT_EQ(flx_rotate_model(&out, &src, &opt, &rec, &err), 0);
    double *got = ref_logits(&out, tokens, n, 1);
    double diff = relative_diff(got, want, count);
    fprintf(stderr, "llama-3.2-1b shape R1 + R2 + R4: relative logit difference %.3g\n", diff);
    CHECK(diff <= 1e-4);
    CHECK(rec.untied);
    CHECK_INT_EQ(rec.r4_size, 8192);
    free(got);
    free(want);
    flx_model_free(&out);
    flx_model_free(&src);
}

int main(void) {
    const char *tmp = getenv("TMPDIR");
    snprintf(tmp_dir, sizeof tmp_dir, "%s/flexllm-rotate-%ld", tmp && tmp[0] ? tmp : "/tmp", (long)getpid());
    if (st_make_dirs(tmp_dir) != 0) {
        fprintf(stderr, "cannot create %s\n", tmp_dir);
        return 1;
    }
    test_random_orthogonal();
    test_rotation_ops();
    test_synthetic_model();
    test_r4_ffn_block();
    test_stories();
    test_llama_shape();
    rmdir(tmp_dir);
    return flx_check_report("test_rotate");
}
