/* The INT8 KV cache shared by the prefill and decode engines: K and V each
 * [n_layers][n_kv_heads][max_seq][head_dim] int8, so both engines address
 * one layout and the hand-off needs no re-layout. The prefill manager
 * writes blocks of tokens; the decode manager appends one position. */
#ifndef FLEXLLM_KERNELS_KV_CACHE_H
#define FLEXLLM_KERNELS_KV_CACHE_H

#include <stdint.h>

#include "kernels/limits.h"

/* Offset of (layer, kv_head, pos, 0) in elements. */
static inline long flx_kv_offset(int layer, int kv_head, int pos, int n_kv_heads, int max_seq,
                                 int head_dim) {
    return (((long)layer * n_kv_heads + kv_head) * max_seq + pos) * head_dim;
}

/* Writes n_tokens vectors rows [n_tokens][head_dim] of one head at
 * positions pos..pos+n_tokens-1 of the head's cache `head_cache`
 * ([max_seq][head_dim]). Decode calls it with n_tokens = 1. */
void flx_kv_write(int8_t *head_cache, int pos, int n_tokens, int head_dim,
                  const int8_t rows[FLX_MAX_TP][FLX_MAX_HEAD_DIM]);

/* The scales of a dynamically quantized cache: n_tokens rows of n_groups
 * floats at positions pos..pos+n_tokens-1 of one head's scale cache
 * ([max_seq][n_groups]). */
void flx_kv_write_scales(float *head_scales, int pos, int n_tokens, int n_groups,
                         const float rows[FLX_MAX_TP][FLX_MAX_HEAD_DIM]);

#endif
