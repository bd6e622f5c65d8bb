/* Window layout and scoring of both perplexity methods, checked with a fake
 * model whose predictions are known in closed form. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "eval/perplexity.h"

enum { VOCAB = 8, BOS = 1 };

typedef struct recorder {
    int calls;
    int32_t first_window[16];
    int32_t last_window[16];
    int mode; /* 0: uniform logits, 1: predict (token + 1) % VOCAB with prob 1/2 */
} recorder;

static int fake_logits(void *ctx, const int32_t *tokens, int n, float *logits, flx_error *err) {
    (void)err;
    recorder *r = ctx;
    if (r->calls == 0) memcpy(r->first_window, tokens, (size_t)n * sizeof *tokens);
    memcpy(r->last_window, tokens, (size_t)n * sizeof *tokens);
    r->calls++;
    for (int j = 0; j < n; j++)
        for (int v = 0; v < VOCAB; v++) {
            float l = 0.0f;
            /* Logit log(7) on the next id against seven zeros: probability 1/2. */
            if (r->mode == 1 && v == (tokens[j] + 1) % VOCAB) l = logf(7.0f);
            logits[j * VOCAB + v] = l;
        }
    return 0;
}

int main(void) {
    flx_error err;
    int32_t text[40];
    for (int i = 0; i < 40; i++) text[i] = 2 + i % 6;
    flx_ppl_result r;

    /* Uniform logits give perplexity = vocabulary size with either method. */
    recorder rec = {0};
    CHECK_INT_EQ(flx_perplexity(FLX_PPL_STANDARD, text, 40, BOS, 8, VOCAB, fake_logits, &rec, NULL,
                                NULL, &r, &err), 0);
    CHECK_NEAR(r.ppl, VOCAB, 1e-9);
    /* standard: windows of BOS + 7 text tokens, 40 / 7 = 5 windows, 7 scored each. */
    CHECK_INT_EQ(r.n_windows, 5);
    CHECK_INT_EQ(r.n_scored, 35);
    CHECK_INT_EQ(rec.calls, 5);
    CHECK_INT_EQ(rec.first_window[0], BOS);
    CHECK_INT_EQ(rec.first_window[1], text[0]);
    CHECK_INT_EQ(rec.last_window[0], BOS);
    CHECK_INT_EQ(rec.last_window[1], text[28]);

    /* llamacpp: stream BOS + 40 tokens = 41, 41 / 8 = 5 windows, positions
     * 4..6 scored (3 per window); window w starts at stream index 8w with
     * that token replaced by BOS. */
    memset(&rec, 0, sizeof rec);
    CHECK_INT_EQ(flx_perplexity(FLX_PPL_LLAMACPP, text, 40, BOS, 8, VOCAB, fake_logits, &rec, NULL,
                                NULL, &r, &err), 0);
    CHECK_NEAR(r.ppl, VOCAB, 1e-9);
    CHECK_INT_EQ(r.n_tokens, 41);
    CHECK_INT_EQ(r.n_windows, 5);
    CHECK_INT_EQ(r.n_scored, 15);
    CHECK_INT_EQ(rec.first_window[1], text[0]);
    CHECK_INT_EQ(rec.last_window[0], BOS);
    CHECK_INT_EQ(rec.last_window[1], text[32]); /* stream index 33 */

    /* A model that puts probability 1/2 on the next id in sequence scores
     * log(2) where the text follows the rule and log(14) elsewhere. */
    int32_t ramp[64];
    for (int i = 0; i < 64; i++) ramp[i] = i % VOCAB;
    memset(&rec, 0, sizeof rec);
    rec.mode = 1;
    CHECK_INT_EQ(flx_perplexity(FLX_PPL_STANDARD, ramp, 63, BOS, 8, VOCAB, fake_logits, &rec, NULL,
                                NULL, &r, &err), 0);
    /* Each window: BOS then ramp tokens; the first prediction follows BOS
     * (=1), right only if the token is 2. Count by brute force. */
    double nll = 0;
    long count = 0;
    for (int w = 0; w < 9; w++) {
        int prev = BOS;
        for (int j = 0; j < 7; j++) {
            int tok = ramp[w * 7 + j];
            nll += tok == (prev + 1) % VOCAB ? -log(7.0 / 14.0) : -log(1.0 / 14.0);
            prev = tok;
            count++;
        }
    }
    CHECK_INT_EQ(r.n_scored, count);
    CHECK_NEAR(r.ppl, exp(nll / count), 1e-6); /* logf(7) is rounded to float */

    /* Too little text for one window. */
    CHECK_INT_EQ(flx_perplexity(FLX_PPL_STANDARD, text, 3, BOS, 8, VOCAB, fake_logits, &rec, NULL,
                                NULL, &r, &err), -1);
    CHECK(strstr(err.msg, "fewer than one window") != NULL);
    return flx_check_report("test_perplexity_windows");
}
