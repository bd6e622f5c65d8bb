/* KL divergence of next-token distributions (eval/kl.h) against values
 * computed by formula, and flx_perplexity_compare against a separate
 * straightforward implementation. With an artifact path argument (an
 * rtn-w8a8 quantization of stories260K), it also compares the float and
 * fake-quant models end to end. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/data_dir.h"
#include "common/mapped_file.h"
#include "eval/kl.h"
#include "eval/perplexity.h"
#include "modelio/model.h"
#include "runtime/backend.h"
#include "tokenizer/tokenizer.h"

/* Straightforward KL(P || Q): softmax probabilities in double, then
 * sum of p * log(p / q). */
static double naive_kl(const float *p_logits, const float *q_logits, int n) {
    double *p = malloc((size_t)n * sizeof *p), *q = malloc((size_t)n * sizeof *q);
    double p_sum = 0, q_sum = 0, p_max = -INFINITY, q_max = -INFINITY;
    for (int i = 0; i < n; i++) {
        if (p_logits[i] > p_max) p_max = p_logits[i];
        if (q_logits[i] > q_max) q_max = q_logits[i];
    }
    for (int i = 0; i < n; i++) {
        p[i] = exp(p_logits[i] - p_max);
        q[i] = exp(q_logits[i] - q_max);
        p_sum += p[i];
        q_sum += q[i];
    }
    double kl = 0;
    for (int i = 0; i < n; i++)
        if (p[i] > 0) kl += p[i] / p_sum * log((p[i] / p_sum) / (q[i] / q_sum));
    free(p);
    free(q);
    return kl;
}

static int naive_argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* Pseudo-random logits in [-4, 4) from a linear congruential generator. */
static void fill_logits(float *x, int n, uint32_t seed) {
    for (int i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)(seed >> 8) / 16777216.0f * 8.0f - 4.0f;
    }
}

static void test_two_point_distributions(void) {
    /* P = (1/2, 1/2), Q = (1/4, 3/4):
     * KL(P || Q) = 1/2 ln 2 + 1/2 ln(2/3) = 1/2 ln(4/3),
     * KL(Q || P) = 1/4 ln(1/2) + 3/4 ln(3/2). */
    float p[2] = {0.0f, 0.0f}, q[2] = {0.0f, (float)log(3.0)};
    int same = -1;
    CHECK_NEAR(flx_kl_divergence(p, q, 2, &same), 0.5 * log(4.0 / 3.0), 1e-7);
    CHECK_NEAR(flx_kl_divergence(q, p, 2, &same), 0.25 * log(0.5) + 0.75 * log(1.5), 1e-7);
    /* P's two logits tie, so its argmax is index 0; Q's is 1. */
    CHECK_INT_EQ(same, 0);

    /* P = (1/2, 1/4, 1/4), Q = (1/4, 1/4, 1/2): 1/2 ln 2 + 0 + 1/4 ln(1/2). */
    float p3[3] = {(float)log(2.0), 0.0f, 0.0f}, q3[3] = {0.0f, 0.0f, (float)log(2.0)};
    CHECK_NEAR(flx_kl_divergence(p3, q3, 3, &same), 0.25 * log(2.0), 1e-7);
    CHECK_INT_EQ(same, 0);
}

static void test_identical_and_shifted(void) {
    enum { N = 1000 };
    float a[N], b[N];
    fill_logits(a, N, 7);
    int same = -1;
    CHECK_NEAR(flx_kl_divergence(a, a, N, &same), 0.0, 0);
    CHECK_INT_EQ(same, 1);

    /* Multiples of 1/8 in [-8, 8) plus 3 are exact in float, so the
     * log-softmax rows match exactly and KL is exactly 0. */
    for (int i = 0; i < N; i++) {
        a[i] = (float)((i * 37) % 128 - 64) / 8.0f;
        b[i] = a[i] + 3.0f;
    }
    CHECK_NEAR(flx_kl_divergence(a, b, N, &same), 0.0, 0);
    CHECK_INT_EQ(same, 1);
}

static void test_against_naive(void) {
    enum { N = 512 };
    float a[N], b[N];
    for (uint32_t seed = 1; seed <= 5; seed++) {
        fill_logits(a, N, seed);
        fill_logits(b, N, seed + 100);
        int same = -1;
        double kl = flx_kl_divergence(a, b, N, &same);
        CHECK_NEAR(kl, naive_kl(a, b, N), 1e-12);
        CHECK(kl > 0);
        CHECK_INT_EQ(same, naive_argmax(a, N) == naive_argmax(b, N));
    }
    /* A small perturbation of one row: KL is near 0 and the argmax agrees. */
    fill_logits(a, N, 9);
    for (int i = 0; i < N; i++) b[i] = a[i] + ((i % 3) - 1) * 1e-3f;
    int same = -1;
    double kl = flx_kl_divergence(a, b, N, &same);
    CHECK_NEAR(kl, naive_kl(a, b, N), 1e-9);
    CHECK(kl < 1e-5);
}

static void test_extreme_logits(void) {
    /* Logits of +-100 overflow exp() in float but not the log-softmax:
     * P is one-hot on 0 and Q puts e^-200 on it, so KL(P || Q) is
     * -log Q_0 = 200 + log(1 + e^-200 + ...) = 200 to double precision. */
    enum { N = 4 };
    float p[N] = {100.0f, -100.0f, -100.0f, -100.0f}, q[N] = {-100.0f, 100.0f, -100.0f, -100.0f};
    int same = -1;
    double kl = flx_kl_divergence(p, q, N, &same);
    CHECK_NEAR(kl, 200.0, 1e-9);
    CHECK_INT_EQ(same, 0);
    /* A NaN logit shows in the result, not as 0. */
    p[2] = NAN;
    CHECK(isnan(flx_kl_divergence(p, q, N, NULL)));
}

static void test_accumulator(void) {
    flx_kl_acc acc;
    flx_kl_stats st;
    flx_kl_acc_init(&acc);
    flx_kl_acc_stats(&acc, &st);
    CHECK_INT_EQ(st.n, 0);
    CHECK_NEAR(st.mean, 0.0, 0);

    flx_kl_acc_add(&acc, 0.1, 1);
    flx_kl_acc_stats(&acc, &st);
    CHECK_NEAR(st.mean_stderr, 0.0, 0);
    flx_kl_acc_add(&acc, 0.2, 0);
    flx_kl_acc_add(&acc, 0.6, 1);
    flx_kl_acc_stats(&acc, &st);
    /* Mean 0.3; sample variance (0.04 + 0.01 + 0.09) / 2 = 0.07; standard
     * error sqrt(0.07 / 3). */
    CHECK_INT_EQ(st.n, 3);
    CHECK_NEAR(st.mean, 0.3, 1e-15);
    CHECK_NEAR(st.mean_stderr, sqrt(0.07 / 3.0), 1e-12);
    CHECK_NEAR(st.max, 0.6, 0);
    CHECK_NEAR(st.top1_agreement, 2.0 / 3.0, 1e-15);

    /* flx_kl_acc_add_logits adds the row's KL and argmax agreement. */
    float a[2] = {0.0f, 0.0f}, b[2] = {0.0f, (float)log(3.0)};
    flx_kl_acc_add_logits(&acc, a, b, 2);
    flx_kl_acc_stats(&acc, &st);
    CHECK_INT_EQ(st.n, 4);
    CHECK_NEAR(st.mean, (0.9 + 0.5 * log(4.0 / 3.0)) / 4.0, 1e-7);
    CHECK_NEAR(st.top1_agreement, 0.5, 0);
}

/* Two fake models for flx_perplexity_compare: logits depend on the token
 * and position, and the "quantized" one adds a position-dependent skew. */
enum { VOCAB = 11, BOS = 1 };

static int model_logits(void *ctx, const int32_t *tokens, int n, float *logits, flx_error *err) {
    float skew = *(const float *)ctx;
    for (int j = 0; j < n; j++)
        for (int v = 0; v < VOCAB; v++)
            logits[j * VOCAB + v] = (float)((tokens[j] * 3 + v * 5 + j) % 7) * 0.5f + skew * (float)(v * (j % 4));
    return 0;
}

static void test_compare_fake_models(void) {
    int32_t text[60];
    for (int i = 0; i < 60; i++) text[i] = (i * 7 + 3) % VOCAB;
    float no_skew = 0.0f, skew = 0.05f;
    flx_ppl_result r, ref_r, alone;
    flx_kl_stats kl;
    flx_error err;
    for (int method = 0; method < 2; method++) {
        const int ctx = 8;
        CHECK_INT_EQ(flx_perplexity_compare((flx_ppl_method)method, text, 60, BOS, ctx, VOCAB, model_logits, &skew,
                                            model_logits, &no_skew, NULL, NULL, &r, &ref_r, &kl, &err),
                     0);
        /* The evaluated model's figures match a plain perplexity run, and
         * the reference's match a plain run of the reference. */
        CHECK_INT_EQ(flx_perplexity((flx_ppl_method)method, text, 60, BOS, ctx, VOCAB, model_logits, &skew, NULL,
                                    NULL, &alone, &err),
                     0);
        CHECK_NEAR(r.ppl, alone.ppl, 0);
        CHECK_INT_EQ(r.n_scored, alone.n_scored);
        CHECK_INT_EQ(flx_perplexity((flx_ppl_method)method, text, 60, BOS, ctx, VOCAB, model_logits, &no_skew, NULL,
                                    NULL, &alone, &err),
                     0);
        CHECK_NEAR(ref_r.ppl, alone.ppl, 0);
        CHECK_INT_EQ(ref_r.n_windows, alone.n_windows);
        CHECK_INT_EQ(kl.n, r.n_scored);

        /* The same windows and positions, rebuilt here. */
        long stride = method == FLX_PPL_LLAMACPP ? ctx : ctx - 1;
        long n_stream = method == FLX_PPL_LLAMACPP ? 61 : 60;
        int first = method == FLX_PPL_LLAMACPP ? ctx / 2 : 0;
        double sum = 0, max = 0;
        long agree = 0, count = 0;
        for (long w = 0; w < n_stream / stride; w++) {
            int32_t window[8];
            float p[8 * VOCAB], q[8 * VOCAB];
            window[0] = BOS;
            /* Both methods: BOS, then the stream from w * stride on (the
             * llamacpp stream is BOS + text, with its first token replaced). */
            for (int i = 1; i < ctx; i++) window[i] = text[w * stride + i - 1];
            model_logits(&no_skew, window, ctx, p, &err);
            model_logits(&skew, window, ctx, q, &err);
            for (int j = first; j < ctx - 1; j++) {
                double d = naive_kl(p + j * VOCAB, q + j * VOCAB, VOCAB);
                sum += d;
                if (d > max) max = d;
                agree += naive_argmax(p + j * VOCAB, VOCAB) == naive_argmax(q + j * VOCAB, VOCAB);
                count++;
            }
        }
        CHECK_INT_EQ(kl.n, count);
        CHECK_NEAR(kl.mean, sum / count, 1e-12);
        CHECK_NEAR(kl.max, max, 1e-12);
        CHECK_NEAR(kl.top1_agreement, (double)agree / count, 1e-15);
        CHECK(kl.mean > 0);
        CHECK(kl.mean_stderr > 0);
    }
}

static int backend_logits(void *ctx, const int32_t *tokens, int n, float *logits, flx_error *err) {
    return flx_backend_window(ctx, tokens, n, logits, err);
}

/* The float stories260K against its fake-quant rtn-w8a8 artifact on 3
 * windows of 64 tokens of TinyStories, recomputed here position by
 * position from the two backends' logits. */
static void test_stories_fakequant(const char *artifact) {
    enum { CTX = 64, WINDOWS = 3 };
    char path[1024];
    flx_error err;
    flx_model m;
    flx_tokenizer *tok = NULL;
    size_t len;
    CHECK_INT_EQ(flx_model_load(&m, flx_data_path(path, sizeof path, "models/stories260K/stories260K.bin"), &err), 0);
    CHECK_INT_EQ(flx_tokenizer_load(&tok, flx_data_path(path, sizeof path, "models/stories260K/tok512.bin"), &err), 0);
    char *story = flx_read_text_file(
        flx_data_path(path, sizeof path, "text/tinystories/tinystories_valid_first1000_clean.txt"), &len, &err);
    CHECK(story != NULL);
    if (flx_check_failures) return;
    int32_t *text;
    int n_text;
    CHECK_INT_EQ(flx_tokenizer_encode(tok, story, len, 0, &text, &n_text, &err), 0);
    long n_used = (long)WINDOWS * (CTX - 1);
    CHECK(n_text >= n_used);
    int bos = flx_tokenizer_bos(tok);

    flx_backend ref, fq;
    CHECK_INT_EQ(flx_backend_open(&ref, FLX_ENGINE_REFERENCE, &m, NULL, NULL, CTX, CTX, &err), 0);
    if (flx_backend_open(&fq, FLX_ENGINE_FAKEQUANT, &m, artifact, NULL, CTX, CTX, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        CHECK(0);
        return;
    }
    int vocab = m.config.vocab_size;
    flx_ppl_result r, ref_r;
    flx_kl_stats kl;
    CHECK_INT_EQ(flx_perplexity_compare(FLX_PPL_STANDARD, text, n_used, bos, CTX, vocab,
                                        backend_logits, &fq, backend_logits, &ref, NULL, NULL, &r, &ref_r, &kl,
                                        &err),
                 0);

    float *p = malloc((size_t)CTX * vocab * sizeof *p), *q = malloc((size_t)CTX * vocab * sizeof *q);
    double sum = 0, max = 0;
    long agree = 0, count = 0;
    for (int w = 0; w < WINDOWS; w++) {
        int32_t window[CTX];
        window[0] = bos;
        memcpy(window + 1, text + (long)w * (CTX - 1), (CTX - 1) * sizeof *window);
        CHECK_INT_EQ(flx_backend_window(&ref, window, CTX, p, &err), 0);
        CHECK_INT_EQ(flx_backend_window(&fq, window, CTX, q, &err), 0);
        for (int j = 0; j < CTX - 1; j++) {
            double d = naive_kl(p + (size_t)j * vocab, q + (size_t)j * vocab, vocab);
            sum += d;
            if (d > max) max = d;
            agree += naive_argmax(p + (size_t)j * vocab, vocab) == naive_argmax(q + (size_t)j * vocab, vocab);
            count++;
        }
    }
    CHECK_INT_EQ(kl.n, count);
    CHECK_NEAR(kl.mean, sum / count, 1e-9);
    CHECK_NEAR(kl.max, max, 1e-9);
    CHECK_NEAR(kl.top1_agreement, (double)agree / count, 1e-15);
    /* Sanity bound, not a published figure: 8-bit weights and activations
     * move the logits only slightly, and on these windows the mean is a few
     * thousandths of a nat. 0.05 catches a broken quantizer or a mismatch of
     * windows without tracking the exact value. */
    CHECK(kl.mean > 0);
    CHECK(kl.mean < 0.05);
    CHECK(kl.top1_agreement > 0.8);
    CHECK(fabs(log(r.ppl / ref_r.ppl)) < 0.05);
    printf("stories260K rtn-w8a8: float ppl %.4f, fakequant ppl %.4f, KL mean %.6f +/- %.6f, max %.6f, top-1 %.4f\n",
           ref_r.ppl, r.ppl, kl.mean, kl.mean_stderr, kl.max, kl.top1_agreement);

    free(p);
    free(q);
    flx_backend_close(&fq);
    flx_backend_close(&ref);
    free(text);
    free(story);
    flx_tokenizer_free(tok);
    flx_model_free(&m);
}

int main(int argc, char **argv) {
    test_two_point_distributions();
    test_identical_and_shifted();
    test_against_naive();
    test_extreme_logits();
    test_accumulator();
    test_compare_fake_models();
    if (argc > 1) test_stories_fakequant(argv[1]);
    return flx_check_report("test_kl");
}
