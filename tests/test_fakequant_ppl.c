/* Perplexity of the fake-quant stories260K for each recipe against the
 * float reference: standard method, ctx 256, the first 50 windows of the
 * clean TinyStories excerpt, attention calibrated on 2048 WikiText-2
 * tokens. W8A8 must stay within 2% of float and W4A4 must be worse than
 * W8A8. Prints every figure. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/data_dir.h"
#include "common/mapped_file.h"
#include "eval/perplexity.h"
#include "modelio/model.h"
#include "quant/calibrate.h"
#include "quant/fakequant.h"
#include "quant/recipe.h"
#include "reference/forward.h"
#include "tokenizer/tokenizer.h"

#define CTX 256
#define WINDOWS 50

typedef struct float_ctx {
    const flx_model *m;
    flx_state *s;
} float_ctx;

static int float_logits(void *ctx, const int32_t *tokens, int n, float *logits, flx_error *err) {
    float_ctx *f = ctx;
    return flx_forward(f->m, f->s, tokens, n, 0, logits, 1, err);
}

typedef struct fq_ctx {
    const flx_qmodel *qm;
    flx_fakequant_state *s;
} fq_ctx;

static int fq_logits(void *ctx, const int32_t *tokens, int n, float *logits, flx_error *err) {
    fq_ctx *f = ctx;
    return flx_fakequant_forward(f->qm, f->s, tokens, n, 0, logits, 1, err);
}

int main(void) {
    char path[1024];
    flx_error err;
    flx_model m;
    flx_tokenizer *tok = NULL;
    size_t len;
    CHECK_INT_EQ(flx_model_load(&m, flx_data_path(path, sizeof path, "models/stories260K/stories260K.bin"), &err), 0);
    CHECK_INT_EQ(flx_tokenizer_load(&tok, flx_data_path(path, sizeof path, "models/stories260K/tok512.bin"), &err), 0);
    char *story = flx_read_text_file(
        flx_data_path(path, sizeof path, "text/tinystories/tinystories_valid_first1000_clean.txt"), &len, &err);
    char *wiki = flx_read_text_file(flx_data_path(path, sizeof path, "text/wikitext-2/wiki.test.raw"), &len, &err);
    CHECK(story != NULL);
    CHECK(wiki != NULL);
    if (flx_check_failures) return flx_check_report("test_fakequant_ppl");

    int32_t *text, *calib;
    int n_text, n_calib;
    CHECK_INT_EQ(flx_tokenizer_encode(tok, story, strlen(story), 0, &text, &n_text, &err), 0);
    CHECK_INT_EQ(flx_tokenizer_encode(tok, wiki, strlen(wiki), 0, &calib, &n_calib, &err), 0);
    long n_used = (long)WINDOWS * (CTX - 1);
    CHECK(n_text >= n_used);
    int bos = flx_tokenizer_bos(tok);

    flx_state s;
    CHECK_INT_EQ(flx_state_init(&s, &m, CTX, CTX, &err), 0);
    float_ctx fc = {&m, &s};
    flx_ppl_result ref;
    CHECK_INT_EQ(flx_perplexity(FLX_PPL_STANDARD, text, n_used, bos, CTX, m.config.vocab_size, float_logits,
                                &fc, NULL, NULL, &ref, &err), 0);
    flx_state_free(&s);
    CHECK_INT_EQ(ref.n_windows, WINDOWS);
    printf("%-9s ppl %.4f (%d windows of %d, %ld tokens scored)\n", "float", ref.ppl, ref.n_windows, CTX,
           ref.n_scored);

    double ppl[8] = {0};
    for (int i = 0; i < flx_recipe_count(); i++) {
        const flx_recipe *r = flx_recipe_at(i);
        /* GPTQ and rotated recipes need calibration text before quantizing. */
        if (flx_recipe_needs_pipeline(r)) continue;
        flx_qmodel qm;
        flx_calib_result cal;
        flx_fakequant_state fs;
        flx_ppl_result res = {0};
        CHECK_INT_EQ(flx_recipe_apply(&qm, &m, r, &err), 0);
        CHECK_INT_EQ(flx_calibrate(&qm, calib, n_calib, bos, FLX_CALIB_DEFAULT_TOKENS, &cal, &err), 0);
        CHECK_INT_EQ(flx_fakequant_state_init(&fs, &qm, CTX, CTX, &err), 0);
        fq_ctx qc = {&qm, &fs};
        CHECK_INT_EQ(flx_perplexity(FLX_PPL_STANDARD, text, n_used, bos, CTX, m.config.vocab_size, fq_logits,
                                    &qc, NULL, NULL, &res, &err), 0);
        ppl[i] = res.ppl;
        printf("%-9s ppl %.4f (%+.2f%% vs float)\n", r->name, res.ppl, 100.0 * (res.ppl / ref.ppl - 1.0));
        flx_fakequant_state_free(&fs);
        flx_qmodel_free(&qm);
    }
    /* Recipes in table order: w8a8, w4a8, w4a4-rtn. */
    CHECK(fabs(ppl[0] / ref.ppl - 1.0) < 0.02);
    CHECK(ppl[2] > ppl[0] * 1.05);

    free(text);
    free(calib);
    free(story);
    free(wiki);
    flx_tokenizer_free(tok);
    flx_model_free(&m);
    return flx_check_report("test_fakequant_ppl");
}
