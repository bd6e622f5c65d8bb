/* Per-group weights (quantize --weight-group) on a stories260k-shaped
 * synthetic model with FFN 128: every layer linear gets one scale per 32
 * input columns. With float activations and attention, the fake-quant
 * model must compute what the float reference computes with the weights
 * replaced by scale[o][group] * code, to 1e-5 relative. The artifact keeps
 * the grouped scales bit for bit, and the engines reject the model. The
 * integer path (quantized activations) stays within 10% of the
 * dequantized model, a bound well above the A8 and INT8-attention error. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "engines/accel.h"
#include "modelio/gguf.h"
#include "modelio/synth.h"
#include "quant/artifact.h"
#include "quant/calibrate.h"
#include "quant/fakequant.h"
#include "quant/recipe.h"
#include "reference/forward.h"

enum { N_TOKENS = 20, GROUP = 32 };

static float *float_logits(const flx_model *m, const int32_t *tokens) {
    flx_state s;
    flx_error err;
    float *out = malloc(sizeof(float) * N_TOKENS * m->config.vocab_size);
    if (!out || flx_state_init(&s, m, N_TOKENS, N_TOKENS, &err) != 0) {
        free(out);
        return NULL;
    }
    int rc = flx_forward(m, &s, tokens, N_TOKENS, 0, out, 1, &err);
    flx_state_free(&s);
    if (rc != 0) {
        free(out);
        return NULL;
    }
    return out;
}

static float *fq_logits(const flx_qmodel *qm, const int32_t *tokens, bool float_acts) {
    flx_fakequant_state s;
    flx_error err;
    float *out = malloc(sizeof(float) * N_TOKENS * qm->config.vocab_size);
    if (!out || flx_fakequant_state_init(&s, qm, N_TOKENS, N_TOKENS, &err) != 0) {
        free(out);
        return NULL;
    }
    s.options.float_activations = float_acts;
    s.options.float_attention = float_acts;
    int rc = flx_fakequant_forward(qm, &s, tokens, N_TOKENS, 0, out, 1, &err);
    flx_fakequant_state_free(&s);
    if (rc != 0) {
        fprintf(stderr, "fake-quant: %s\n", err.msg);
        free(out);
        return NULL;
    }
    return out;
}

/* w [d_out][d_in] <- scale[o][i / group] * code[o][i], written out here
 * from the stored codes and scales. */
static void dequantize(float *w, const flx_qlinear *q) {
    int groups = q->d_in / q->group_size;
    for (int o = 0; o < q->d_out; o++)
        for (int i = 0; i < q->d_in; i++)
            w[(size_t)o * q->d_in + i] =
                q->scale[(size_t)o * groups + i / q->group_size] * (float)q->q[(size_t)o * q->d_in + i];
}

static double max_abs(const float *x, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)x[i]));
    return m;
}

static double max_diff(const float *a, const float *b, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - (double)b[i]));
    return m;
}

int main(void) {
    const char *tmp = getenv("TMPDIR");
    char path[600], art[600];
    snprintf(path, sizeof path, "%s/weight-groups.gguf", tmp && tmp[0] ? tmp : "/tmp");
    snprintf(art, sizeof art, "%s/weight-groups.safetensors", tmp && tmp[0] ? tmp : "/tmp");
    flx_synth_options so = {0};
    CHECK_INT_EQ(flx_synth_preset("stories260k", &so.config), 0);
    so.config.ffn_dim = 128;
    so.type = FLX_GGML_F32;
    so.seed = 5;
    so.name = "weight-groups";
    flx_error err;
    CHECK_INT_EQ(flx_synth_write(&so, path, &err), 0);
    flx_model m;
    CHECK_INT_EQ(flx_model_load(&m, path, &err), 0);
    if (flx_check_failures) return flx_check_report("test_weight_groups");

    flx_recipe r = *flx_recipe_find("w4a8", &err);
    r.weight_group_size = GROUP;
    flx_qmodel qm;
    CHECK_INT_EQ(flx_recipe_apply(&qm, &m, &r, &err), 0);
    int32_t tokens[N_TOKENS];
    for (int i = 0; i < N_TOKENS; i++) tokens[i] = (int32_t)(1 + (37 * i) % 500);
    flx_calib_result cal;
    CHECK_INT_EQ(flx_calibrate(&qm, tokens, N_TOKENS, 1, 256, &cal, &err), 0);
    if (flx_check_failures) return flx_check_report("test_weight_groups");
    CHECK_INT_EQ(qm.layers[0].w_down.group_size, GROUP);
    CHECK_INT_EQ(flx_qlinear_groups(&qm.layers[0].w_down), 128 / GROUP);
    CHECK_INT_EQ(qm.lm_head.group_size, 0);

    /* The float model with every layer linear replaced by its dequantized
     * grouped weights, and the LM head by its per-channel ones. */
    flx_model deq = m;
    const flx_config *c = &m.config;
    deq.layers = malloc(sizeof *deq.layers * (size_t)c->n_layers);
    memcpy(deq.layers, m.layers, sizeof *deq.layers * (size_t)c->n_layers);
    for (int l = 0; l < c->n_layers; l++) {
        const flx_qlayer *ql = &qm.layers[l];
        const flx_qlinear *lin[7] = {&ql->wq, &ql->wk, &ql->wv, &ql->wo, &ql->w_gate, &ql->w_up, &ql->w_down};
        const float **dst[7] = {&deq.layers[l].wq, &deq.layers[l].wk, &deq.layers[l].wv, &deq.layers[l].wo,
                          &deq.layers[l].w_gate, &deq.layers[l].w_up, &deq.layers[l].w_down};
        for (int i = 0; i < 7; i++) {
            float *w = malloc(sizeof(float) * (size_t)lin[i]->d_out * lin[i]->d_in);
            dequantize(w, lin[i]);
            *dst[i] = w;
        }
    }
    float *head = malloc(sizeof(float) * (size_t)c->vocab_size * c->dim);
    for (int o = 0; o < c->vocab_size; o++)
        for (int i = 0; i < c->dim; i++)
            head[(size_t)o * c->dim + i] = qm.lm_head.scale[o] * (float)qm.lm_head.q[(size_t)o * c->dim + i];
    deq.output = head;

    size_t n_logits = (size_t)N_TOKENS * c->vocab_size;
    float *want = float_logits(&deq, tokens);
    float *got = fq_logits(&qm, tokens, true);
    CHECK(want != NULL);
    CHECK(got != NULL);
    if (want && got) {
        double rel = max_diff(want, got, n_logits) / max_abs(want, n_logits);
        printf("grouped weights, float activations: relative logit difference %.3g\n", rel);
        CHECK(rel < 1e-5);
    }

    /* A8 activations and INT8 attention: close to the dequantized model, not equal. */
    float *a8 = fq_logits(&qm, tokens, false);
    CHECK(a8 != NULL);
    if (want && a8) {
        double rel = max_diff(want, a8, n_logits) / max_abs(want, n_logits);
        printf("grouped weights, A8 activations and INT8 attention: relative difference %.3g\n", rel);
        CHECK(rel > 0.0);
        CHECK(rel < 0.1);
    }

    /* The artifact keeps the grouped scales; the engines reject the model. */
    CHECK_INT_EQ(flx_artifact_save(&qm, NULL, art, &err), 0);
    flx_qmodel back;
    CHECK_INT_EQ(flx_artifact_load(&back, NULL, art, &err), 0);
    if (!flx_check_failures) {
        const flx_qlinear *a = &qm.layers[1].w_down, *b = &back.layers[1].w_down;
        CHECK_INT_EQ(b->group_size, GROUP);
        CHECK(memcmp(a->scale, b->scale, sizeof(float) * (size_t)a->d_out * flx_qlinear_groups(a)) == 0);
        CHECK(memcmp(a->rowsum, b->rowsum, sizeof(float) * (size_t)a->d_out) == 0);
        float *again = fq_logits(&back, tokens, false);
        CHECK(again != NULL);
        if (again && a8) CHECK(memcmp(again, a8, sizeof(float) * n_logits) == 0);
        free(again);
        flx_accel_config cfg;
        flx_accel acc;
        CHECK_INT_EQ(flx_accel_config_get("tiny", &cfg, &err), 0);
        CHECK_INT_EQ(flx_accel_init(&acc, &back, &cfg, 32, &err), -1);
        CHECK(strstr(err.msg, "layer 0 has per-group weights (group 32)") != NULL);
        flx_qmodel_free(&back);
    }
    remove(art);
    remove(path);

    free(want);
    free(got);
    free(a8);
    for (int l = 0; l < c->n_layers; l++) {
        const float *all[7] = {deq.layers[l].wq, deq.layers[l].wk, deq.layers[l].wv, deq.layers[l].wo,
                               deq.layers[l].w_gate, deq.layers[l].w_up, deq.layers[l].w_down};
        for (int i = 0; i < 7; i++) free((void *)all[i]);
    }
    free(deq.layers);
    free(head);
    flx_qmodel_free(&qm);
    flx_model_free(&m);
    return flx_check_report("test_weight_groups");
}
