#include "reference/sampler.h"

#include <math.h>
#include <stdlib.h>

int flx_sampler_init(flx_sampler *s, int vocab_size, float temperature, int top_k, float top_p,
                     uint64_t seed, flx_error *err) {
    s->vocab_size = vocab_size;
    s->temperature = temperature;
    s->top_k = top_k;
    s->top_p = top_p;
    /* xorshift needs a non-zero state; mix the seed so nearby seeds differ. */
    s->rng = (seed ^ 0x9E3779B97F4A7C15ull) * 0xBF58476D1CE4E5B9ull;
    if (s->rng == 0) s->rng = 1;
    s->probs = flx_malloc((size_t)vocab_size * sizeof *s->probs, err);
    s->order = flx_malloc((size_t)vocab_size * sizeof *s->order, err);
    if (!s->probs || !s->order) {
        flx_sampler_free(s);
        return -1;
    }
    return 0;
}

void flx_sampler_free(flx_sampler *s) {
    free(s->probs);
    free(s->order);
    s->probs = NULL;
    s->order = NULL;
}

float flx_random_unit(uint64_t *state) {
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return (float)((x * 0x2545F4914F6CDD1Dull) >> 40) / 16777216.0f;
}

int flx_argmax(const float *logits, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (logits[i] > logits[best]) best = i;
    return best;
}

static const float *sort_probs;

static int by_prob_desc(const void *a, const void *b) {
    float pa = sort_probs[*(const int *)a], pb = sort_probs[*(const int *)b];
    if (pa > pb) return -1;
    if (pa < pb) return 1;
    return *(const int *)a - *(const int *)b;
}

int flx_sample(flx_sampler *s, const float *logits) {
    int n = s->vocab_size;
    if (s->temperature <= 0.0f) return flx_argmax(logits, n);

    /* Softmax of logits / temperature. */
    float max = logits[0];
    for (int i = 1; i < n; i++)
        if (logits[i] > max) max = logits[i];
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        s->probs[i] = expf((logits[i] - max) / s->temperature);
        sum += s->probs[i];
    }
    for (int i = 0; i < n; i++) s->probs[i] = (float)(s->probs[i] / sum);

    /* Candidates sorted by probability; keep the top k, then the smallest
     * prefix whose mass reaches top_p. */
    int n_keep = n;
    if (s->top_k > 0 || s->top_p < 1.0f) {
        for (int i = 0; i < n; i++) s->order[i] = i;
        sort_probs = s->probs;
        qsort(s->order, (size_t)n, sizeof *s->order, by_prob_desc);
        if (s->top_k > 0 && s->top_k < n_keep) n_keep = s->top_k;
        if (s->top_p < 1.0f) {
            double mass = 0.0;
            for (int i = 0; i < n_keep; i++) {
                mass += s->probs[s->order[i]];
                if (mass >= s->top_p) {
                    n_keep = i + 1;
                    break;
                }
            }
        }
    } else {
        for (int i = 0; i < n; i++) s->order[i] = i;
    }

    double kept = 0.0;
    for (int i = 0; i < n_keep; i++) kept += s->probs[s->order[i]];
    double r = flx_random_unit(&s->rng) * kept, acc = 0.0;
    for (int i = 0; i < n_keep; i++) {
        acc += s->probs[s->order[i]];
        if (r < acc) return s->order[i];
    }
    return s->order[n_keep - 1];
}
