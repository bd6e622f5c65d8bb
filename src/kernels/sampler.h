/* LM-head sampler: streaming top-k over the logits, softmax over the k
 * candidates at a temperature, nucleus (top-p) cut, and selection by a
 * host-supplied uniform random number. */
#ifndef FLEXLLM_KERNELS_SAMPLER_H
#define FLEXLLM_KERNELS_SAMPLER_H

#include "kernels/limits.h"

/* Returns the sampled token id from logits[n], n >= 1. k is clamped to
 * 1..FLX_MAX_TOPK;
 * temperature 0 returns the largest logit (the lowest id on ties);
 * top_p in (0, 1]; r in [0, 1). Candidates with equal logits keep id
 * order. */
int flx_sample_topk_kernel(const float logits[FLX_MAX_VOCAB], int n, int k, float temperature,
                           float top_p, float r);

#endif
