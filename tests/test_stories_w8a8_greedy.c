/* stories260K quantized with w8a8 (16-bit LM head) and calibrated on
 * WikiText-2. Greedy generation from BOS through the accelerator's decode
 * engine follows the float model for at least the first 100 tokens, and
 * its text is a prefix of llama2.c's greedy story. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/data_dir.h"
#include "common/mapped_file.h"
#include "engines/accel.h"
#include "modelio/model.h"
#include "quant/calibrate.h"
#include "quant/recipe.h"
#include "reference/forward.h"
#include "reference/sampler.h"
#include "tokenizer/tokenizer.h"

enum { N_STEPS = 256, N_REQUIRED = 100 };

/* Greedy ids of the float reference: ids[0] = bos, then N_STEPS tokens. */
static int float_greedy(const flx_model *m, int bos, int32_t *ids) {
    flx_error err;
    flx_state s;
    if (flx_state_init(&s, m, N_STEPS, 1, &err) != 0) {
        fprintf(stderr, "float state: %s\n", err.msg);
        return -1;
    }
    float *logits = malloc(sizeof(float) * m->config.vocab_size);
    int rc = logits ? 0 : -1;
    ids[0] = bos;
    for (int pos = 0; rc == 0 && pos < N_STEPS; pos++) {
        rc = flx_forward(m, &s, &ids[pos], 1, pos, logits, 0, &err);
        if (rc != 0) fprintf(stderr, "float forward at %d: %s\n", pos, err.msg);
        else ids[pos + 1] = flx_argmax(logits, m->config.vocab_size);
    }
    free(logits);
    flx_state_free(&s);
    return rc;
}

/* Greedy ids through the decode engine and its sampler at temperature 0. */
static int accel_greedy(const flx_qmodel *qm, int bos, int32_t *ids) {
    flx_error err;
    flx_accel_config cfg;
    flx_accel a;
    if (flx_accel_config_get("u280-ref", &cfg, &err) != 0 || flx_accel_init(&a, qm, &cfg, N_STEPS, &err) != 0) {
        fprintf(stderr, "accelerator: %s\n", err.msg);
        return -1;
    }
    float *logits = malloc(sizeof(float) * qm->config.vocab_size);
    int rc = logits ? 0 : -1;
    ids[0] = bos;
    for (int pos = 0; rc == 0 && pos < N_STEPS; pos++) {
        rc = flx_accel_decode(&a, ids[pos], pos, logits, &err);
        if (rc != 0) fprintf(stderr, "decode at %d: %s\n", pos, err.msg);
        else ids[pos + 1] = flx_accel_sample(&a, logits, 1, 0.0f, 1.0f, 0.0f);
    }
    free(logits);
    flx_accel_free(&a);
    return rc;
}

int main(void) {
    char path[1024];
    flx_error err;
    flx_model model;
    flx_tokenizer *tok = NULL;
    size_t text_len = 0, ref_len = 0;
    CHECK_INT_EQ(flx_model_load(&model, flx_data_path(path, sizeof path, "models/stories260K/stories260K.bin"), &err), 0);
    CHECK_INT_EQ(flx_tokenizer_load(&tok, flx_data_path(path, sizeof path, "models/stories260K/tok512.bin"), &err), 0);
    char *text = flx_read_text_file(flx_data_path(path, sizeof path, "text/wikitext-2/wiki.test.raw"), &text_len, &err);
    char *expected = flx_read_text_file(flx_data_path(path, sizeof path, "reference/stories260K-greedy.txt"),
                                        &ref_len, &err);
    CHECK(text != NULL);
    CHECK(expected != NULL);
    if (flx_check_failures) return flx_check_report("test_stories_w8a8_greedy");
    int bos = flx_tokenizer_bos(tok);

    /* w8a8 calibrated on the first 2048 WikiText-2 tokens. */
    int32_t *calib = NULL;
    int n_calib = 0;
    CHECK_INT_EQ(flx_tokenizer_encode(tok, text, text_len, 0, &calib, &n_calib, &err), 0);
    const flx_recipe *recipe = flx_recipe_find("w8a8", &err);
    CHECK(recipe != NULL);
    CHECK_INT_EQ(recipe ? recipe->lm_head_weight_bits : 0, 16);
    flx_qmodel qm;
    int have_qm = recipe && flx_recipe_apply(&qm, &model, recipe, &err) == 0;
    CHECK(have_qm);
    flx_calib_result cal;
    if (have_qm) CHECK_INT_EQ(flx_calibrate(&qm, calib, n_calib, bos, 2048, &cal, &err), 0);

    int32_t want[N_STEPS + 1], got[N_STEPS + 1];
    CHECK_INT_EQ(float_greedy(&model, bos, want), 0);
    if (have_qm) CHECK_INT_EQ(accel_greedy(&qm, bos, got), 0);
    if (flx_check_failures) goto done;

    /* The float ids reproduce the reference file, the independent source. */
    char *float_text = NULL;
    CHECK_INT_EQ(flx_tokenizer_decode(tok, want, N_STEPS + 1, &float_text, NULL, &err), 0);
    CHECK(float_text != NULL);
    if (float_text) CHECK(strncmp(float_text, expected, strlen(float_text)) == 0);
    free(float_text);

    /* Generated tokens equal to the float model's before the first difference. */
    int same = 0;
    while (same < N_STEPS && got[same + 1] == want[same + 1]) same++;
    printf("w8a8 (16-bit LM head): %d of %d greedy tokens equal the float model's\n", same, N_STEPS);
    if (same < N_STEPS)
        fprintf(stderr, "first difference at generated token %d: id %d, float %d\n", same + 1, got[same + 1],
                want[same + 1]);
    CHECK(same >= N_REQUIRED);

    /* BOS and the first 100 generated tokens decode to the file's start. */
    char *head = NULL;
    CHECK_INT_EQ(flx_tokenizer_decode(tok, got, N_REQUIRED + 1, &head, NULL, &err), 0);
    CHECK(head != NULL);
    if (head) {
        CHECK(strlen(head) > 100);
        CHECK(strncmp(head, expected, strlen(head)) == 0);
        if (strncmp(head, expected, strlen(head)) != 0) fprintf(stderr, "generated:\n%s\n", head);
    }
    free(head);

done:
    if (have_qm) flx_qmodel_free(&qm);
    free(calib);
    free(expected);
    free(text);
    flx_tokenizer_free(tok);
    flx_model_free(&model);
    return flx_check_report("test_stories_w8a8_greedy");
}
