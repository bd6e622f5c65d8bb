/* Streaming top-k sampler against a sort-based reference: greedy ties,
 * candidate sets, the top-p cut, fixed draws and the distribution over a
 * uniform grid of draws. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kernel_ref.h"
#include "kernels/sampler.h"

static float *new_logits(int n) { return ref_alloc(sizeof(float) * (size_t)n); }

/* Logits drawn from a few levels, so many of them tie. */
static void fill_tied(float *logits, int n, int levels, uint32_t *seed) {
    for (int i = 0; i < n; i++) logits[i] = (float)ref_rand_int(seed, 0, levels - 1) * 0.5f;
}

/* The k largest by repeated selection: max logit, lowest id among ties. */
static int k_largest(const float *logits, int n, int k, int *ids) {
    char *taken = calloc((size_t)n, 1);
    int count = 0;
    for (; count < k && count < n; count++) {
        int best = -1;
        for (int i = 0; i < n; i++)
            if (!taken[i] && (best < 0 || logits[i] > logits[best])) best = i;
        taken[best] = 1;
        ids[count] = best;
    }
    free(taken);
    return count;
}

static void test_greedy(void) {
    float *logits = new_logits(5);
    memcpy(logits, (const float[]){1.0f, 3.0f, 2.0f, 3.0f, -1.0f}, 5 * sizeof(float));
    CHECK_INT_EQ(flx_sample_topk_kernel(logits, 5, 40, 0.0f, 1.0f, 0.99f), 1);
    for (int i = 0; i < 5; i++) logits[i] = -2.0f;
    CHECK_INT_EQ(flx_sample_topk_kernel(logits, 5, 40, 0.0f, 1.0f, 0.5f), 0);
    logits[4] = -1.0f;
    CHECK_INT_EQ(flx_sample_topk_kernel(logits, 5, 40, 0.0f, 1.0f, 0.5f), 4);
    free(logits);

    uint32_t seed = 101;
    const int n = 5000;
    logits = new_logits(n);
    for (int trial = 0; trial < 20; trial++) {
        fill_tied(logits, n, 8, &seed);
        int want;
        k_largest(logits, n, 1, &want);
        CHECK_INT_EQ(flx_sample_topk_kernel(logits, n, 64, 0.0f, 1.0f, 0.3f), want);
        /* k = 1 is greedy at any temperature and draw. */
        CHECK_INT_EQ(flx_sample_topk_kernel(logits, n, 1, 1.0f, 1.0f, 0.999f), want);
        CHECK_INT_EQ(sample_topk_ref(logits, n, 1, 1.0f, 1.0f, 0.999f, NULL, NULL), want);
    }
    free(logits);
}

/* At a high temperature every candidate has about 1/k of the mass, so a
 * grid of `grid` >= 2k draws returns each of them, in candidate order. */
static void check_candidates(const char *label, const float *logits, int n, int k, int grid) {
    int want[64], ref_ids[64], n_ref, seen[64], n_seen = 0;
    int n_want = k_largest(logits, n, k, want);
    sample_topk_ref(logits, n, k, 1e4f, 1.0f, 0.0f, ref_ids, &n_ref);
    CHECK_INT_EQ(n_ref, n_want);
    for (int j = 0; j < n_want && j < n_ref; j++) CHECK_INT_EQ(ref_ids[j], want[j]);

    /* Runs of equal ids, in draw order: one run per candidate when the
     * returned id never goes back to an earlier candidate. */
    int extra_runs = 0;
    for (int g = 0; g < grid; g++) {
        float r = ((float)g + 0.5f) / (float)grid;
        int id = flx_sample_topk_kernel(logits, n, k, 1e4f, 1.0f, r);
        if (n_seen > 0 && seen[n_seen - 1] == id) continue;
        if (n_seen == 64) {
            extra_runs++;
            continue;
        }
        seen[n_seen++] = id;
    }
    CHECK_INT_EQ(extra_runs, 0);
    CHECK_INT_EQ(n_seen, n_want);
    for (int j = 0; j < n_seen && j < n_want; j++)
        if (seen[j] != want[j]) {
            fprintf(stderr, "%s: candidate %d is id %d, expected %d\n", label, j, seen[j], want[j]);
            flx_check_failures++;
            break;
        }
}

static void test_candidate_sets(void) {
    uint32_t seed = 103;
    static const int ks[] = {2, 5, 64};
    const int n = 1000;
    float *logits = new_logits(n);
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
        fill_tied(logits, n, 6, &seed); /* about 170 logits per level */
        check_candidates("tied logits", logits, n, ks[i], 2048);
        fill_tied(logits, n, 1 << 20, &seed);
        check_candidates("distinct logits", logits, n, ks[i], 2048);
    }
    free(logits);

    /* Fewer logits than k: all of them are candidates. */
    logits = new_logits(3);
    memcpy(logits, (const float[]){0.5f, 2.0f, 0.5f}, 3 * sizeof(float));
    check_candidates("n < k", logits, 3, 64, 2048);
    free(logits);

    /* Ascending logits move every new one to the head of the list. */
    const int rising = 4000;
    logits = new_logits(rising);
    for (int i = 0; i < rising; i++) logits[i] = (float)i * 1e-3f;
    check_candidates("ascending logits", logits, rising, FLX_MAX_TOPK, 2 * FLX_MAX_TOPK);
    for (int i = 0; i < rising; i++) logits[i] = -(float)i * 1e-3f;
    check_candidates("descending logits", logits, rising, FLX_MAX_TOPK, 2 * FLX_MAX_TOPK);
    free(logits);

    /* A whole vocabulary at the limit, the largest logits near its end. */
    const int vocab = FLX_MAX_VOCAB;
    logits = new_logits(vocab);
    fill_tied(logits, vocab, 1 << 20, &seed);
    for (int i = vocab - 10; i < vocab; i++) logits[i] = 524300.0f; /* above every drawn level */
    check_candidates("full vocabulary", logits, vocab, FLX_MAX_TOPK, 2 * FLX_MAX_TOPK);
    CHECK_INT_EQ(flx_sample_topk_kernel(logits, vocab, FLX_MAX_TOPK, 0.0f, 1.0f, 0.5f), vocab - 10);
    free(logits);
}

static void test_fixed_draws(void) {
    static const int ks[] = {1, 2, 7, 40, 64};
    static const float temperatures[] = {0.3f, 0.7f, 1.0f, 2.0f};
    static const float top_ps[] = {1.0f, 0.9f, 0.5f, 0.05f};
    const float draws[] = {0.0f, 1e-7f, 0.1f, 0.25f, 0.5f, 0.75f, 0.9f, 0.999f, nextafterf(1.0f, 0.0f)};
    const int n = 700;
    uint32_t seed = 107;
    float *logits = new_logits(n);
    int checked = 0, mismatched = 0;
    for (int trial = 0; trial < 3; trial++) {
        fill_tied(logits, n, trial == 0 ? 40 : 1 << 16, &seed);
        for (int i = 0; i < n; i++) logits[i] = logits[i] / 4096.0f - 2.0f;
        for (size_t k = 0; k < sizeof ks / sizeof ks[0]; k++)
            for (size_t t = 0; t < sizeof temperatures / sizeof temperatures[0]; t++)
                for (size_t p = 0; p < sizeof top_ps / sizeof top_ps[0]; p++)
                    for (size_t d = 0; d < sizeof draws / sizeof draws[0]; d++) {
                        int got = flx_sample_topk_kernel(logits, n, ks[k], temperatures[t], top_ps[p], draws[d]);
                        int want = sample_topk_ref(logits, n, ks[k], temperatures[t], top_ps[p], draws[d], NULL, NULL);
                        checked++;
                        if (got == want) continue;
                        if (++mismatched <= 10)
                            fprintf(stderr, "trial %d k=%d T=%g top_p=%g r=%.9g: got id %d, expected %d\n", trial,
                                    ks[k], (double)temperatures[t], (double)top_ps[p], (double)draws[d], got,
                                    want);
                    }
    }
    if (mismatched) {
        fprintf(stderr, "fixed draws: %d of %d differ\n", mismatched, checked);
        flx_check_failures++;
    }
    free(logits);
}

/* Counts the ids a grid of `grid` evenly spaced draws returns and compares
 * their frequencies with the probabilities of the kept candidates. */
static void check_distribution(const char *label, const float *logits, int n, int k, float temperature,
                               float top_p, const double *expected_probs, int n_expected) {
    int ids[64];
    double probs[64];
    int keep = sample_topk_probs_ref(logits, n, k, temperature, top_p, ids, probs);
    if (expected_probs) {
        CHECK_INT_EQ(keep, n_expected);
        for (int j = 0; j < keep && j < n_expected; j++) CHECK_NEAR(probs[j], expected_probs[j], 1e-6);
    }

    const int grid = 10000;
    int *counts = calloc((size_t)n, sizeof(int));
    for (int g = 0; g < grid; g++) {
        int id = flx_sample_topk_kernel(logits, n, k, temperature, top_p, ((float)g + 0.5f) / (float)grid);
        if (id >= 0 && id < n) counts[id]++;
    }
    int in_set = 0;
    for (int j = 0; j < keep; j++) {
        in_set += counts[ids[j]];
        double freq = (double)counts[ids[j]] / grid;
        /* Each cut point of the CDF moves by at most one grid step. */
        if (fabs(freq - probs[j]) > 2.0 / grid + 1e-5) {
            fprintf(stderr, "%s: id %d drawn %.6f of the time, expected %.6f\n", label, ids[j], freq, probs[j]);
            flx_check_failures++;
        }
    }
    if (in_set != grid) {
        fprintf(stderr, "%s: %d of %d draws fell outside the kept candidates\n", label, grid - in_set, grid);
        flx_check_failures++;
    }
    free(counts);
}

static void test_top_p_cut(void) {
    /* Probabilities 0.5, 0.3, 0.15, 0.05 at temperature 1. */
    float *logits = new_logits(4);
    memcpy(logits, (const float[]){logf(0.5f), logf(0.3f), logf(0.15f), logf(0.05f)}, 4 * sizeof(float));
    check_distribution("top_p 1", logits, 4, 4, 1.0f, 1.0f, (const double[]){0.5, 0.3, 0.15, 0.05}, 4);
    check_distribution("top_p 0.93", logits, 4, 4, 1.0f, 0.93f, (const double[]){0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95}, 3);
    check_distribution("top_p 0.7", logits, 4, 4, 1.0f, 0.7f, (const double[]){0.625, 0.375}, 2);
    check_distribution("top_p 0.3", logits, 4, 4, 1.0f, 0.3f, (const double[]){1.0}, 1);
    /* top-k 3 with a cut at 0.9 of the three: 0.5 + 0.3 = 0.8 of 0.95 is 0.84. */
    check_distribution("top_k 3 top_p 0.9", logits, 4, 3, 1.0f, 0.9f, (const double[]){0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95}, 3);
    free(logits);
}

static void test_distribution(void) {
    const int n = 120;
    uint32_t seed = 109;
    float *logits = new_logits(n);
    for (int i = 0; i < n; i++) logits[i] = ref_rand_float(&seed, -3.0f, 3.0f);
    check_distribution("k 20 T 0.5", logits, n, 20, 0.5f, 1.0f, NULL, 0);
    check_distribution("k 20 T 1.5", logits, n, 20, 1.5f, 1.0f, NULL, 0);
    check_distribution("k 64 T 1 top_p 0.8", logits, n, 64, 1.0f, 0.8f, NULL, 0);
    free(logits);
}

int main(void) {
    test_greedy();
    test_candidate_sets();
    test_fixed_draws();
    test_top_p_cut();
    test_distribution();
    return flx_check_report("test_kernel_sampler");
}
