/* llama-perplexity's method on the clean TinyStories excerpt reproduces
 * llama.cpp b4748's F32 figure for stories260K (PPL 4.9744, ctx 512) within
 * 0.1%, and the standard method gives a plausible, different figure. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "common/data_dir.h"
#include "common/mapped_file.h"
#include "eval/perplexity.h"
#include "modelio/model.h"
#include "reference/forward.h"
#include "tokenizer/tokenizer.h"

typedef struct window_ctx {
    const flx_model *m;
    flx_state *s;
} window_ctx;

static int window_logits(void *ctx, const int32_t *tokens, int n, float *logits, flx_error *err) {
    window_ctx *w = ctx;
    return flx_forward(w->m, w->s, tokens, n, 0, logits, 1, err);
}

int main(void) {
    char path[1024];
    flx_error err;
    flx_model m;
    flx_tokenizer *tok = NULL;
    size_t len;
    CHECK_INT_EQ(flx_model_load(&m, flx_data_path(path, sizeof path, "models/stories260K/stories260K.bin"), &err), 0);
    CHECK_INT_EQ(flx_tokenizer_load(&tok, flx_data_path(path, sizeof path, "models/stories260K/tok512.bin"), &err), 0);
    char *text = flx_read_text_file(
        flx_data_path(path, sizeof path, "text/tinystories/tinystories_valid_first1000_clean.txt"), &len, &err);
    CHECK(text != NULL);
    if (flx_check_failures) return flx_check_report("test_stories_ppl");
    int32_t *ids;
    int n;
    CHECK_INT_EQ(flx_tokenizer_encode(tok, text, len, 0, &ids, &n, &err), 0);
    flx_state s;
    CHECK_INT_EQ(flx_state_init(&s, &m, 512, 512, &err), 0);
    window_ctx w = {&m, &s};
    flx_ppl_result r;
    CHECK_INT_EQ(flx_perplexity(FLX_PPL_LLAMACPP, ids, n, 1, 512, m.config.vocab_size, window_logits, &w,
                                NULL, NULL, &r, &err), 0);
    CHECK_INT_EQ(r.n_windows, 767);
    CHECK_NEAR(r.ppl / 4.9744, 1.0, 1e-3);
    printf("llamacpp method: ppl %.4f over %d windows\n", r.ppl, r.n_windows);
    flx_state_free(&s);
    free(ids);
    free(text);
    flx_tokenizer_free(tok);
    flx_model_free(&m);
    return flx_check_report("test_stories_ppl");
}
