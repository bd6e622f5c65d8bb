/* Integer attention: QK^T and AV arrays over an INT8 KV cache, causal mask,
 * float softmax. The cache of one (layer, kv head) is [max_seq][head_dim]
 * int8 for K and for V; see kernels/kv_cache.h. */
#ifndef FLEXLLM_KERNELS_ATTENTION_H
#define FLEXLLM_KERNELS_ATTENTION_H

#include <stdint.h>

#include "kernels/limits.h"

/* Value that masked scores take; expf(-1e30 - max) is exactly 0. */
#define FLX_MASKED_SCORE (-1e30f)

/* Scores of n_q query rows (q [n_q][head_dim], n_q <= TP) against keys
 * 0..n_keys-1 of one KV head, in tiles of kp keys:
 * scores[t][p] = (sum_d q[t][d] * k[p][d]) * score_scale, row stride
 * FLX_MAX_SEQ. Keys after a query's own position q_pos[t] are masked. */
void flx_attn_qk(const int8_t q[FLX_MAX_TP][FLX_MAX_HEAD_DIM], int n_q, const int32_t q_pos[FLX_MAX_TP],
                 const int8_t *k, int n_keys, int head_dim, int kp, float score_scale,
                 float scores[FLX_MAX_TP][FLX_MAX_SEQ]);

/* As flx_attn_qk for a dynamically quantized K cache: every key p has one
 * scale and one offset per group of `group` channels, k_scales and
 * k_offsets [n_keys][head_dim/group]. Per group, acc_g = sum q*k and
 * qsum_g = sum q (int32), and
 * scores[t][p] = (sum over groups g, in order, from 0 of
 * ((float)acc_g * k_scales[p][g] + (float)qsum_g * k_offsets[p][g])) * q_scale,
 * q_scale folding in the query scale and 1/sqrt(head_dim). */
void flx_attn_qk_grouped(const int8_t q[FLX_MAX_TP][FLX_MAX_HEAD_DIM], int n_q, const int32_t q_pos[FLX_MAX_TP],
                         const int8_t *k, const float *k_scales, const float *k_offsets, int n_keys, int head_dim,
                         int group, int kp, float q_scale, float scores[FLX_MAX_TP][FLX_MAX_SEQ]);

/* In-place float softmax of each row of scores over n_keys entries. */
void flx_softmax_rows(float scores[FLX_MAX_TP][FLX_MAX_SEQ], int n_q, int n_keys);

/* out[t][d] = (sum_p p[t][p] * v[p][d]) * out_scale for d < head_dim, in
 * passes of vp head-dim lanes over keys 0..n_keys-1. */
void flx_attn_av(const uint8_t p[FLX_MAX_TP][FLX_MAX_SEQ], int n_q, const int8_t *v, int n_keys,
                 int head_dim, int vp, float out_scale, float out[FLX_MAX_TP][FLX_MAX_HEAD_DIM]);

/* As flx_attn_av for a dynamically quantized V cache (v_scales and
 * v_offsets [n_keys][head_dim/group]): summed in float from 0 in key order,
 * out[t][d] = (sum_p ((float)(p[t][p] * v[p][d]) * v_scales[p][g] + (float)p[t][p] * v_offsets[p][g]))
 * * prob_scale with g = d / group. */
void flx_attn_av_grouped(const uint8_t p[FLX_MAX_TP][FLX_MAX_SEQ], int n_q, const int8_t *v, const float *v_scales,
                         const float *v_offsets, int n_keys, int head_dim, int group, int vp, float prob_scale,
                         float out[FLX_MAX_TP][FLX_MAX_HEAD_DIM]);

#endif
