/* Sampling: greedy, seeded determinism, top-k, top-p and the distribution. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "reference/sampler.h"

int main(void) {
    flx_error err;
    float logits[5] = {1.0f, 3.0f, 2.0f, 3.0f, -1.0f};
    CHECK_INT_EQ(flx_argmax(logits, 5), 1); /* ties go to the lower id */

    flx_sampler s;
    CHECK_INT_EQ(flx_sampler_init(&s, 5, 0.0f, 0, 1.0f, 1, &err), 0);
    CHECK_INT_EQ(flx_sample(&s, logits), 1);
    flx_sampler_free(&s);

    /* Same seed, same sequence; another seed, another sequence. */
    int a[64], b[64], c[64];
    flx_sampler s1, s2, s3;
    flx_sampler_init(&s1, 5, 1.0f, 0, 1.0f, 123, &err);
    flx_sampler_init(&s2, 5, 1.0f, 0, 1.0f, 123, &err);
    flx_sampler_init(&s3, 5, 1.0f, 0, 1.0f, 124, &err);
    for (int i = 0; i < 64; i++) {
        a[i] = flx_sample(&s1, logits);
        b[i] = flx_sample(&s2, logits);
        c[i] = flx_sample(&s3, logits);
    }
    CHECK(memcmp(a, b, sizeof a) == 0);
    CHECK(memcmp(a, c, sizeof a) != 0);
    flx_sampler_free(&s1);
    flx_sampler_free(&s2);
    flx_sampler_free(&s3);

    /* Frequencies follow softmax(logits) at temperature 1. */
    enum { N = 200000 };
    int counts[5] = {0};
    flx_sampler_init(&s, 5, 1.0f, 0, 1.0f, 7, &err);
    for (int i = 0; i < N; i++) counts[flx_sample(&s, logits)]++;
    double z = 0;
    for (int i = 0; i < 5; i++) z += exp(logits[i]);
    for (int i = 0; i < 5; i++) CHECK_NEAR((double)counts[i] / N, exp(logits[i]) / z, 0.005);
    flx_sampler_free(&s);

    /* top-k 2 keeps ids 1 and 3 only (the two largest). */
    flx_sampler_init(&s, 5, 1.0f, 2, 1.0f, 9, &err);
    memset(counts, 0, sizeof counts);
    for (int i = 0; i < 10000; i++) counts[flx_sample(&s, logits)]++;
    CHECK_INT_EQ(counts[0] + counts[2] + counts[4], 0);
    CHECK(counts[1] > 4000 && counts[3] > 4000);
    flx_sampler_free(&s);

    /* top-p: probabilities 0.6, 0.3, 0.1; p = 0.5 keeps only the first. */
    float peaked[3] = {logf(0.6f), logf(0.3f), logf(0.1f)};
    flx_sampler_init(&s, 3, 1.0f, 0, 0.5f, 11, &err);
    for (int i = 0; i < 1000; i++) CHECK_INT_EQ(flx_sample(&s, peaked), 0);
    flx_sampler_free(&s);
    /* p = 0.85 keeps the first two, in a 2:1 ratio. */
    flx_sampler_init(&s, 3, 1.0f, 0, 0.85f, 12, &err);
    memset(counts, 0, sizeof counts);
    for (int i = 0; i < 30000; i++) counts[flx_sample(&s, peaked)]++;
    CHECK_INT_EQ(counts[2], 0);
    CHECK_NEAR((double)counts[0] / 30000, 2.0 / 3, 0.02);
    flx_sampler_free(&s);
    return flx_check_report("test_sampler");
}
