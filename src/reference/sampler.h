/* Next-token sampling: greedy, temperature, top-k and top-p, seeded. */
#ifndef FLEXLLM_REFERENCE_SAMPLER_H
#define FLEXLLM_REFERENCE_SAMPLER_H

#include <stdint.h>

#include "common/error.h"

typedef struct flx_sampler {
    int vocab_size;
    float temperature; /* 0: greedy */
    int top_k;         /* 0: no top-k cut */
    float top_p;       /* 1: no nucleus cut */
    uint64_t rng;      /* xorshift64* state */
    float *probs;      /* [vocab_size] scratch */
    int *order;        /* [vocab_size] scratch: ids sorted by probability */
} flx_sampler;

int flx_sampler_init(flx_sampler *s, int vocab_size, float temperature, int top_k, float top_p,
                     uint64_t seed, flx_error *err);
void flx_sampler_free(flx_sampler *s);

/* Returns the index of the largest logit (the lowest index on ties). */
int flx_argmax(const float *logits, int n);

/* Picks the next token from logits [vocab_size]; logits are not modified. */
int flx_sample(flx_sampler *s, const float *logits);

/* Returns a uniform float in [0, 1) and advances the state. */
float flx_random_unit(uint64_t *state);

#endif
