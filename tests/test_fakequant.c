/* The fake-quant float model: its quantizers on hand-computed vectors and
 * the Hadamard transform. On stories260K: (1) with every quantizer off it
 * matches the float reference to 1e-5. (2) w8a8 stays close to the
 * reference. (3) A saved and reloaded artifact gives the same logits bit
 * for bit. (4) Misuse fails with a clear message. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/data_dir.h"
#include "common/mapped_file.h"
#include "modelio/model.h"
#include "quant/artifact.h"
#include "quant/calibrate.h"
#include "quant/fakequant.h"
#include "quant/recipe.h"
#include "reference/forward.h"
#include "tokenizer/tokenizer.h"

#define N_PROMPT 64

static void test_dynamic_quantizer(void) {
    /* Asymmetric 4-bit: lo -1, hi 2, s = 3/15 = 0.2; (x+1)/s = 0, 5, 7.25, 15. */
    const float x[4] = {-1.0f, 0.0f, 0.45f, 2.0f};
    const float expect_asym[4] = {-1.0f, 0.0f, 0.4f, 2.0f};
    float out[4];
    flx_act_quant a4 = {4, true, 1.0f};
    flx_fakequant_dynamic(out, x, 4, &a4);
    for (int i = 0; i < 4; i++) CHECK_NEAR(out[i], expect_asym[i], 1e-6);

    /* Symmetric 8-bit: m 2.54, s 0.02; codes -127, 50, 1 (0.65 rounds up). */
    const float y[3] = {-2.54f, 1.0f, 0.013f};
    const float expect_sym[3] = {-2.54f, 1.0f, 0.02f};
    flx_act_quant a8 = {8, false, 1.0f};
    flx_fakequant_dynamic(out, y, 3, &a8);
    for (int i = 0; i < 3; i++) CHECK_NEAR(out[i], expect_sym[i], 1e-6);

    /* Clip 0.5 halves the range: s 0.01, -254 clamps to -127, 1.3 -> 1. */
    const float expect_clip[3] = {-1.27f, 1.0f, 0.01f};
    flx_act_quant a8c = {8, false, 0.5f};
    flx_fakequant_dynamic(out, y, 3, &a8c);
    for (int i = 0; i < 3; i++) CHECK_NEAR(out[i], expect_clip[i], 1e-6);

    /* A constant vector: scale 1 in both modes. */
    const float z[3] = {0.0f, 0.0f, 0.0f};
    flx_fakequant_dynamic(out, z, 3, &a8);
    for (int i = 0; i < 3; i++) CHECK(out[i] == 0.0f);
    const float c[2] = {0.3f, 0.3f};
    flx_fakequant_dynamic(out, c, 2, &a4);
    for (int i = 0; i < 2; i++) CHECK(out[i] == 0.3f);
}

static void test_hadamard(void) {
    float e[8] = {1, 0, 0, 0, 0, 0, 0, 0};
    flx_fakequant_hadamard(e, 8);
    for (int i = 0; i < 8; i++) CHECK_NEAR(e[i], 1.0 / sqrt(8.0), 1e-7);
    /* H [1, 2, 3, 4] / 2 = [10, -2, -4, 0] / 2. */
    float v[4] = {1, 2, 3, 4};
    const float expect[4] = {5, -1, -2, 0};
    flx_fakequant_hadamard(v, 4);
    for (int i = 0; i < 4; i++) CHECK_NEAR(v[i], expect[i], 1e-6);
    flx_fakequant_hadamard(v, 4);
    for (int i = 0; i < 4; i++) CHECK_NEAR(v[i], (float)(i + 1), 1e-6);
}

/* Logits [N_PROMPT][vocab] of the fake-quant model from position 0. */
static int fakequant_logits(const flx_qmodel *qm, flx_fakequant_options options, const int32_t *tokens,
                            float *logits, flx_error *err) {
    flx_fakequant_state s;
    if (flx_fakequant_state_init(&s, qm, N_PROMPT, N_PROMPT, err) != 0) return -1;
    s.options = options;
    int rc = flx_fakequant_forward(qm, &s, tokens, N_PROMPT, 0, logits, 1, err);
    flx_fakequant_state_free(&s);
    return rc;
}

/* Decodes the prompt one token at a time and compares with the batch run. */
static void check_decode_matches_batch(const flx_qmodel *qm, const int32_t *tokens, const float *batch,
                                       int vocab) {
    flx_error err;
    flx_fakequant_state s;
    float *logits = malloc(sizeof(float) * vocab);
    CHECK_INT_EQ(flx_fakequant_state_init(&s, qm, N_PROMPT, 1, &err), 0);
    double worst = 0.0;
    for (int t = 0; t < N_PROMPT; t++) {
        if (flx_fakequant_forward(qm, &s, tokens + t, 1, t, logits, 0, &err) != 0) {
            CHECK(0);
            break;
        }
        for (int i = 0; i < vocab; i++) {
            double d = fabs(logits[i] - batch[(size_t)t * vocab + i]);
            if (d > worst) worst = d;
        }
    }
    /* Per-token quantization makes decode and prefill the same arithmetic. */
    CHECK(worst == 0.0);
    flx_fakequant_state_free(&s);
    free(logits);
}

static int argmax(const float *v, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

int main(void) {
    test_dynamic_quantizer();
    test_hadamard();

    char path[1024];
    flx_error err;
    flx_model m;
    flx_tokenizer *tok = NULL;
    CHECK_INT_EQ(flx_model_load(&m, flx_data_path(path, sizeof path, "models/stories260K/stories260K.bin"), &err), 0);
    CHECK_INT_EQ(flx_tokenizer_load(&tok, flx_data_path(path, sizeof path, "models/stories260K/tok512.bin"), &err), 0);
    size_t len;
    char *story = flx_read_text_file(
        flx_data_path(path, sizeof path, "text/tinystories/tinystories_valid_first1000_clean.txt"), &len, &err);
    char *wiki = flx_read_text_file(flx_data_path(path, sizeof path, "text/wikitext-2/wiki.test.raw"), &len, &err);
    CHECK(story != NULL);
    CHECK(wiki != NULL);
    if (flx_check_failures) return flx_check_report("test_fakequant");
    const int vocab = m.config.vocab_size;

    /* The prompt: BOS and the first 63 tokens of the TinyStories excerpt. */
    int32_t *ids, *calib;
    int n_ids, n_calib;
    CHECK_INT_EQ(flx_tokenizer_encode(tok, story, strlen(story), FLX_ENCODE_BOS, &ids, &n_ids, &err), 0);
    CHECK_INT_EQ(flx_tokenizer_encode(tok, wiki, strlen(wiki), 0, &calib, &n_calib, &err), 0);
    CHECK(n_ids >= N_PROMPT);

    float *ref = malloc(sizeof(float) * N_PROMPT * vocab);
    float *fq = malloc(sizeof(float) * N_PROMPT * vocab);
    float *again = malloc(sizeof(float) * N_PROMPT * vocab);
    flx_state rs;
    CHECK_INT_EQ(flx_state_init(&rs, &m, N_PROMPT, N_PROMPT, &err), 0);
    CHECK_INT_EQ(flx_forward(&m, &rs, ids, N_PROMPT, 0, ref, 1, &err), 0);
    flx_state_free(&rs);

    flx_qmodel qm;
    const flx_recipe *w8a8 = flx_recipe_find("w8a8", &err);
    CHECK_INT_EQ(flx_recipe_apply(&qm, &m, w8a8, &err), 0);

    /* Before calibration the attention scales are unset. */
    CHECK_INT_EQ(fakequant_logits(&qm, (flx_fakequant_options){0}, ids, fq, &err), -1);
    CHECK(strstr(err.msg, "layer 0: q_scale[0] = 0 is not a positive number; calibrate") != NULL);

    flx_calib_result cal;
    CHECK_INT_EQ(flx_calibrate(&qm, calib, n_calib, 1, FLX_CALIB_DEFAULT_TOKENS, &cal, &err), 0);
    CHECK_INT_EQ(cal.n_tokens, 2048);
    CHECK_INT_EQ(cal.window, 512);
    CHECK_INT_EQ(cal.n_windows, 5); /* 2048 tokens, 511 per window after BOS */
    CHECK(qm.layers[0].prob_scale == 1.0f / 255.0f);

    /* (1) Every quantizer off: the float reference to 1e-5. */
    flx_fakequant_options off = {.float_weights = true, .float_activations = true, .float_attention = true};
    CHECK_INT_EQ(fakequant_logits(&qm, off, ids, fq, &err), 0);
    /* Relative to the largest logit of the position: the reference adds in
     * float and the fake-quant model in double, so small logits differ by
     * a few float ulps of the large ones. */
    double worst = 0.0;
    for (int t = 0; t < N_PROMPT; t++) {
        const float *r = ref + (size_t)t * vocab, *f = fq + (size_t)t * vocab;
        double max_abs = 0.0, max_diff = 0.0;
        for (int i = 0; i < vocab; i++) {
            if (fabs(r[i]) > max_abs) max_abs = fabs(r[i]);
            if (fabs(f[i] - r[i]) > max_diff) max_diff = fabs(f[i] - r[i]);
        }
        if (max_diff / max_abs > worst) worst = max_diff / max_abs;
    }
    printf("quantization off: max logit difference %.3g of the largest logit\n", worst);
    CHECK(worst <= 1e-5);

    /* (2) w8a8 with 8-bit attention and probabilities stays close. */
    CHECK_INT_EQ(fakequant_logits(&qm, (flx_fakequant_options){0}, ids, fq, &err), 0);
    int agree = 0;
    double diff2 = 0.0, ref2 = 0.0;
    for (int t = 0; t < N_PROMPT; t++) {
        agree += argmax(fq + (size_t)t * vocab, vocab) == argmax(ref + (size_t)t * vocab, vocab);
        for (int i = 0; i < vocab; i++) {
            double d = fq[(size_t)t * vocab + i] - ref[(size_t)t * vocab + i];
            diff2 += d * d;
            ref2 += (double)ref[(size_t)t * vocab + i] * ref[(size_t)t * vocab + i];
        }
    }
    double rel = sqrt(diff2 / ref2);
    printf("w8a8: top-1 agreement %d/%d, relative logit error %.4f\n", agree, N_PROMPT, rel);
    CHECK(agree >= N_PROMPT * 9 / 10);
    CHECK(rel < 0.05);
    check_decode_matches_batch(&qm, ids, fq, vocab);

    /* (3) Save, load, same logits bit for bit; float weights then need the source. */
    char out[1200];
    snprintf(out, sizeof out, "%s/test_fakequant_w8a8.safetensors", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    flx_artifact_provenance prov = {.calib_tokens = cal.n_tokens};
    CHECK_INT_EQ(flx_artifact_save(&qm, &prov, out, &err), 0);
    flx_qmodel loaded;
    CHECK_INT_EQ(flx_artifact_load(&loaded, NULL, out, &err), 0);
    CHECK_INT_EQ(fakequant_logits(&loaded, (flx_fakequant_options){0}, ids, again, &err), 0);
    CHECK(memcmp(fq, again, sizeof(float) * N_PROMPT * vocab) == 0);
    CHECK_INT_EQ(fakequant_logits(&loaded, off, ids, again, &err), -1);
    CHECK(strstr(err.msg, "needs the source float model") != NULL);
    flx_qmodel_free(&loaded);
    remove(out);

    /* (4) Bad calls. */
    flx_fakequant_state s;
    CHECK_INT_EQ(flx_fakequant_state_init(&s, &qm, 8, 4, &err), 0);
    CHECK_INT_EQ(flx_fakequant_forward(&qm, &s, ids, 5, 0, fq, 1, &err), -1);
    CHECK(strstr(err.msg, "5 tokens: expected 1 to 4") != NULL);
    CHECK_INT_EQ(flx_fakequant_forward(&qm, &s, ids, 4, 6, fq, 1, &err), -1);
    CHECK(strstr(err.msg, "positions 6..9 exceed") != NULL);
    int32_t bad = 512;
    CHECK_INT_EQ(flx_fakequant_forward(&qm, &s, &bad, 1, 0, fq, 1, &err), -1);
    CHECK(strstr(err.msg, "token id 512") != NULL);
    flx_fakequant_state_free(&s);
    flx_calib_result none;
    CHECK_INT_EQ(flx_calibrate(&qm, calib, 0, 1, 2048, &none, &err), -1);
    CHECK(strstr(err.msg, "no tokens") != NULL);

    flx_qmodel_free(&qm);
    free(ref);
    free(fq);
    free(again);
    free(ids);
    free(calib);
    free(story);
    free(wiki);
    flx_tokenizer_free(tok);
    flx_model_free(&m);
    return flx_check_report("test_fakequant");
}
