/* flexllm learn-rotations on stories260K: the saved rotation file loads
 * back to the learned matrices, they stay orthogonal, the objective never
 * rises, and the reported KL equals the KL recomputed through the public
 * quantization and fake-quant path from the saved file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/data_dir.h"
#include "common/mapped_file.h"
#include "eval/kl.h"
#include "quant/fakequant.h"
#include "quant/orthogonal.h"
#include "quant/quantize_model.h"
#include "quant/rotation_learn.h"
#include "reference/forward.h"
#include "tokenizer/tokenizer.h"

enum { WINDOW = 64, OBJECTIVE_TOKENS = 126 };

/* KL(float || quantized) over the windows the learner uses: BOS then 63
 * text tokens each, computed here with the reference forward pass and the
 * fake-quant model of recipe (RTN) quantized with the rotation file. */
static double recomputed_kl(flx_model *m, const flx_recipe *recipe, const char *rot_path, const int32_t *tokens,
                            long n_tokens) {
    flx_error err;
    flx_recipe r = *recipe;
    r.quantizer = FLX_QUANTIZER_RTN;
    r.act_order = false;
    r.clip_search = false;
    flx_quantize_options qo = {.calib_tokens = tokens, .n_calib_tokens = n_tokens, .bos = 1,
                               .max_calib_tokens = OBJECTIVE_TOKENS, .rotation_file = rot_path};
    flx_quantized q;
    if (flx_quantize_model(&q, m, &r, &qo, &err) != 0) {
        fprintf(stderr, "quantize: %s\n", err.msg);
        return -1.0;
    }
    int V = m->config.vocab_size;
    float *a = malloc(sizeof(float) * WINDOW * V), *b = malloc(sizeof(float) * WINDOW * V);
    flx_state fs;
    flx_fakequant_state qs;
    CHECK_INT_EQ(flx_state_init(&fs, m, WINDOW, WINDOW, &err), 0);
    CHECK_INT_EQ(flx_fakequant_state_init(&qs, &q.qm, WINDOW, WINDOW, &err), 0);
    double sum = 0.0;
    long count = 0;
    int32_t win[WINDOW];
    for (long from = 0; from < OBJECTIVE_TOKENS; from += WINDOW - 1) {
        int n = (int)(OBJECTIVE_TOKENS - from < WINDOW - 1 ? OBJECTIVE_TOKENS - from : WINDOW - 1);
        win[0] = 1;
        memcpy(win + 1, tokens + from, (size_t)n * sizeof *win);
        CHECK_INT_EQ(flx_forward(m, &fs, win, n + 1, 0, a, 1, &err), 0);
        CHECK_INT_EQ(flx_fakequant_forward(&q.qm, &qs, win, n + 1, 0, b, 1, &err), 0);
        for (int t = 0; t <= n; t++, count++) sum += flx_kl_divergence(a + (size_t)t * V, b + (size_t)t * V, V, NULL);
    }
    flx_state_free(&fs);
    flx_fakequant_state_free(&qs);
    flx_quantized_free(&q);
    free(a);
    free(b);
    return sum / (double)count;
}

int main(void) {
    char path[1024], tok_path[1024], rot_path[1024];
    flx_error err;
    flx_model m;
    flx_tokenizer *tok = NULL;
    size_t len;
    CHECK_INT_EQ(flx_model_load(&m, flx_data_path(path, sizeof path, "models/stories260K/stories260K.bin"), &err), 0);
    CHECK_INT_EQ(flx_tokenizer_load(&tok, flx_data_path(tok_path, sizeof tok_path, "models/stories260K/tok512.bin"), &err), 0);
    char *text = flx_read_text_file(flx_data_path(path, sizeof path, "text/wikitext-2/wiki.test.raw"), &len, &err);
    if (flx_check_failures || !text) return flx_check_report("test_rotation_learn");
    int32_t *tokens;
    int n_tokens;
    CHECK_INT_EQ(flx_tokenizer_encode(tok, text, len, 0, &tokens, &n_tokens, &err), 0);
    if (flx_check_failures) return flx_check_report("test_rotation_learn");

    const flx_recipe *recipe = flx_recipe_find("spinquant-w4a4kv4", &err);
    CHECK(recipe != NULL);
    flx_rotation_learn_options lo = {.recipe = recipe, .tokens = tokens, .n_tokens = n_tokens, .bos = 1,
                                     .objective_tokens = OBJECTIVE_TOKENS, .window = WINDOW, .steps = 12,
                                     .angle = 0.5, .seed = 5};
    flx_rotation_file rf;
    flx_rotation_learn_result res;
    CHECK_INT_EQ(flx_rotation_learn(&rf, &m, &lo, &res, &err), 0);
    if (flx_check_failures) return flx_check_report("test_rotation_learn");
    printf("learned: KL %.6f -> %.6f, %d of 12 steps kept, %ld positions\n", res.start_kl, res.final_kl, res.accepted,
           res.positions);
    CHECK_INT_EQ(res.positions, OBJECTIVE_TOKENS + 2);
    CHECK(res.start_kl > 0.0);
    CHECK(res.final_kl <= res.start_kl);

    /* Orthogonal to double rounding: Givens steps keep Q^T Q = I. */
    CHECK(flx_orthogonal_error(rf.r1, rf.dim) < 1e-12);
    for (int l = 0; l < rf.n_layers; l++)
        CHECK(flx_orthogonal_error(rf.r2 + (size_t)l * rf.head_dim * rf.head_dim, rf.head_dim) < 1e-12);

    /* The file contains the matrices rounded to float. */
    const char *tmp = getenv("TMPDIR");
    snprintf(rot_path, sizeof rot_path, "%s/test_rotation_learn.safetensors", tmp && tmp[0] ? tmp : "/tmp");
    CHECK_INT_EQ(flx_rotation_file_save(&rf, rot_path, &err), 0);
    flx_rotation_file back;
    CHECK_INT_EQ(flx_rotation_file_load(&back, rot_path, &m.config, &err), 0);
    if (!flx_check_failures) {
        CHECK_INT_EQ(back.dim, m.config.dim);
        for (size_t i = 0; i < (size_t)rf.dim * rf.dim; i++) CHECK(back.r1[i] == (double)(float)rf.r1[i]);
        size_t n2 = (size_t)rf.n_layers * rf.head_dim * rf.head_dim;
        for (size_t i = 0; i < n2; i++) CHECK(back.r2[i] == (double)(float)rf.r2[i]);
        flx_rotation_file_free(&back);
    }

    /* The objective, recomputed from the file, matches the learner's
     * (float rounding of the saved matrices moves it slightly). */
    double kl = recomputed_kl(&m, recipe, rot_path, tokens, n_tokens);
    printf("recomputed KL from the file: %.6f\n", kl);
    CHECK(fabs(kl - res.final_kl) <= 0.02 * res.final_kl);
    remove(rot_path);

    flx_rotation_file_free(&rf);
    free(tokens);
    free(text);
    flx_tokenizer_free(tok);
    flx_model_free(&m);
    return flx_check_report("test_rotation_learn");
}
