/* The accelerator engines on a 2-layer model of the exact Llama-3.2-1B
 * shape (dim 2048, 32/8 heads, head dim 64, FFN 8192, vocab 128256, llama3
 * RoPE scaling, tied embeddings) with pseudo-random weights: finite logits,
 * bit-identical results across configurations and between prefill and
 * decode, and agreement with the fake-quant float model. The float
 * reference runs on it too: finite logits, the same output twice, and
 * batched prefill equal to token-by-token decode. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "engines/accel.h"
#include "modelio/gguf.h"
#include "modelio/synth.h"
#include "quant/calibrate.h"
#include "quant/fakequant.h"
#include "quant/recipe.h"
#include "reference/forward.h"

enum { N_TOKENS = 11, N_PREFILL = 6, MAX_SEQ = 16 };

/* Logits of N_TOKENS tokens: the first n_prefill through the prefill
 * engine, the rest through decode. */
static float *run(const flx_qmodel *qm, const char *config, const int32_t *tokens, int n_prefill) {
    flx_error err;
    flx_accel_config cfg;
    flx_accel a;
    size_t V = (size_t)qm->config.vocab_size;
    if (flx_accel_config_get(config, &cfg, &err) != 0 || flx_accel_init(&a, qm, &cfg, MAX_SEQ, &err) != 0) {
        fprintf(stderr, "%s: %s\n", config, err.msg);
        return NULL;
    }
    float *logits = malloc(sizeof(float) * N_TOKENS * V);
    int rc = n_prefill ? flx_accel_prefill(&a, tokens, n_prefill, 0, logits, &err) : 0;
    for (int t = n_prefill; rc == 0 && t < N_TOKENS; t++) rc = flx_accel_decode(&a, tokens[t], t, logits + t * V, &err);
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", config, err.msg);
        free(logits);
        logits = NULL;
    }
    flx_accel_free(&a);
    return logits;
}

static long count_differences(const float *a, const float *b, size_t n, const char *what) {
    long diffs = 0;
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0 && diffs++ < 5)
            fprintf(stderr, "%s: logit %zu differs: %.9g vs %.9g\n", what, i, a[i], b[i]);
    return diffs;
}

int main(void) {
    flx_error err;
    char path[512];
    const char *dir = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : ".";
    snprintf(path, sizeof path, "%s/synth-1b-2layer-%d.gguf", dir, (int)getpid());

    /* Write and load the model. */
    flx_synth_options o;
    memset(&o, 0, sizeof o);
    CHECK_INT_EQ(flx_synth_preset("llama-3.2-1b", &o.config), 0);
    o.config.n_layers = 2;
    o.type = FLX_GGML_F16; /* keeps the file at 0.8 GB */
    o.seed = 7;
    o.name = "test";
    CHECK_INT_EQ(flx_synth_write(&o, path, &err), 0);
    flx_model model;
    int loaded = flx_model_load(&model, path, &err);
    remove(path);
    CHECK_INT_EQ(loaded, 0);
    if (flx_check_failures) {
        fprintf(stderr, "%s\n", err.msg);
        return flx_check_report("test_engines_synth");
    }
    CHECK_INT_EQ(model.config.dim, 2048);
    CHECK_INT_EQ(model.config.vocab_size, 128256);
    CHECK(model.config.tied_embeddings);

    /* The float reference: finite, deterministic, prefill equals decode. */
    int32_t probe[5] = {128000, 9906, 1917, 11, 374};
    size_t V = 128256;
    float *batch = malloc(sizeof(float) * 5 * V), *again = malloc(sizeof(float) * 5 * V), *one = malloc(sizeof(float) * V);
    flx_state st;
    CHECK_INT_EQ(flx_state_init(&st, &model, 8, 5, &err), 0);
    CHECK_INT_EQ(flx_forward(&model, &st, probe, 5, 0, batch, 1, &err), 0);
    CHECK_INT_EQ(flx_forward(&model, &st, probe, 5, 0, again, 1, &err), 0);
    long ref_finite = 0;
    for (size_t i = 0; i < 5 * V; i++) ref_finite += isfinite(batch[i]) != 0;
    CHECK_INT_EQ(ref_finite, (long)(5 * V));
    CHECK(memcmp(batch, again, sizeof(float) * 5 * V) == 0);
    double ref_worst = 0;
    for (int t = 0; t < 5; t++) {
        CHECK_INT_EQ(flx_forward(&model, &st, &probe[t], 1, t, one, 0, &err), 0);
        for (size_t v = 0; v < V; v++) {
            double d = fabs((double)one[v] - batch[t * V + v]);
            if (d > ref_worst) ref_worst = d;
        }
    }
    printf("float reference: max |prefill - decode| = %.3g\n", ref_worst);
    CHECK(ref_worst < 1e-3);
    flx_state_free(&st);
    free(batch);
    free(again);
    free(one);

    /* Quantize (W4A4) and calibrate on pseudo-random token ids. */
    flx_qmodel qm;
    const flx_recipe *recipe = flx_recipe_find("w4a4-rtn", &err);
    CHECK(recipe != NULL);
    CHECK(recipe && flx_recipe_apply(&qm, &model, recipe, &err) == 0);
    int32_t calib[96], tokens[N_TOKENS];
    for (int i = 0; i < 96; i++) calib[i] = (i * 7919 + 13) % 128000;
    for (int i = 0; i < N_TOKENS; i++) tokens[i] = (i * 104729 + 128000 + 11) % 128256;
    flx_calib_result cr;
    CHECK_INT_EQ(flx_calibrate(&qm, calib, 96, 128000, 96, &cr, &err), 0);
    if (flx_check_failures) return flx_check_report("test_engines_synth");

    size_t n_logits = (size_t)N_TOKENS * 128256;
    float *base = run(&qm, "u280-ref", tokens, 0);
    float *other = run(&qm, "small", tokens, 0);
    float *mixed = run(&qm, "u280-base", tokens, N_PREFILL);
    CHECK(base != NULL);
    CHECK(other != NULL);
    CHECK(mixed != NULL);
    if (!base || !other || !mixed) return flx_check_report("test_engines_synth");
    long finite = 0;
    for (size_t i = 0; i < n_logits; i++) finite += isfinite(base[i]) != 0;
    CHECK_INT_EQ(finite, (long)n_logits);
    CHECK_INT_EQ(count_differences(base, other, n_logits, "u280-ref vs small"), 0);
    CHECK_INT_EQ(count_differences(base, mixed, n_logits, "decode-only vs prefill+decode"), 0);

    /* The fake-quant float model, written from the spec. */
    flx_fakequant_state fq;
    float *fake = malloc(sizeof(float) * n_logits);
    CHECK_INT_EQ(flx_fakequant_state_init(&fq, &qm, MAX_SEQ, N_TOKENS, &err), 0);
    CHECK_INT_EQ(flx_fakequant_forward(&qm, &fq, tokens, N_TOKENS, 0, fake, 1, &err), 0);
    double worst = 0, scale = 0;
    for (size_t i = 0; i < n_logits; i++) {
        if (fabs(fake[i]) > scale) scale = fabs(fake[i]);
        double d = fabs((double)fake[i] - base[i]);
        if (d > worst) worst = d;
    }
    printf("max |engine - fakequant| / max |logit| = %.3g\n", worst / scale);
    CHECK(worst <= 1e-5 * scale);
    flx_fakequant_state_free(&fq);
    free(fake);
    free(base);
    free(other);
    free(mixed);
    flx_qmodel_free(&qm);
    flx_model_free(&model);
    return flx_check_report("test_engines_synth");
}
