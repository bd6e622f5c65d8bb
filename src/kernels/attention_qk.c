#include "kernels/attention.h"

void flx_attn_qk(const int8_t q[FLX_MAX_TP][FLX_MAX_HEAD_DIM], int n_q, const int32_t q_pos[FLX_MAX_TP],
                 const int8_t *k, int n_keys, int head_dim, int kp, float score_scale,
                 float scores[FLX_MAX_TP][FLX_MAX_SEQ]) {
#pragma HLS INTERFACE m_axi port = k bundle = k_cache
    int n_tiles = (n_keys + kp - 1) / kp;
    int32_t acc[FLX_MAX_TP][FLX_MAX_KP];
#pragma HLS ARRAY_PARTITION variable = acc complete dim = 0

key_tile_loop:
    for (int tile = 0; tile < n_tiles && tile < FLX_MAX_SEQ; tile++) {
#pragma HLS loop_tripcount min = 1 max = 4096
        int key0 = tile * kp;
    clear_loop:
        for (int t = 0; t < n_q && t < FLX_MAX_TP; t++)
            for (int j = 0; j < kp && j < FLX_MAX_KP; j++) {
#pragma HLS UNROLL
                acc[t][j] = 0;
            }
    dim_loop:
        for (int d = 0; d < head_dim && d < FLX_MAX_HEAD_DIM; d++) {
#pragma HLS PIPELINE II = 1
#pragma HLS loop_tripcount min = 64 max = 128
        key_lane_loop:
            for (int j = 0; j < kp && j < FLX_MAX_KP; j++) {
#pragma HLS UNROLL
                int key = key0 + j;
                int32_t kv = key < n_keys ? k[(long)key * head_dim + d] : 0;
            query_lane_loop:
                for (int t = 0; t < n_q && t < FLX_MAX_TP; t++) {
#pragma HLS UNROLL
                    acc[t][j] += (int32_t)q[t][d] * kv;
                }
            }
        }
    mask_drain_loop:
        for (int t = 0; t < n_q && t < FLX_MAX_TP; t++)
            for (int j = 0; j < kp && j < FLX_MAX_KP; j++) {
#pragma HLS PIPELINE II = 1
                int key = key0 + j;
                if (key < n_keys)
                    scores[t][key] = key <= q_pos[t] ? (float)acc[t][j] * score_scale : FLX_MASKED_SCORE;
            }
    }
}

void flx_attn_qk_grouped(const int8_t q[FLX_MAX_TP][FLX_MAX_HEAD_DIM], int n_q, const int32_t q_pos[FLX_MAX_TP],
                         const int8_t *k, const float *k_scales, const float *k_offsets, int n_keys, int head_dim,
                         int group, int kp, float q_scale, float scores[FLX_MAX_TP][FLX_MAX_SEQ]) {
#pragma HLS INTERFACE m_axi port = k bundle = k_cache
#pragma HLS INTERFACE m_axi port = k_scales bundle = k_scales
#pragma HLS INTERFACE m_axi port = k_offsets bundle = k_scales
    int n_tiles = (n_keys + kp - 1) / kp;
    int n_groups = head_dim / group;
    int32_t acc[FLX_MAX_TP][FLX_MAX_KP];
    int32_t qsum[FLX_MAX_TP];
    float sum[FLX_MAX_TP][FLX_MAX_KP];
#pragma HLS ARRAY_PARTITION variable = acc complete dim = 0
#pragma HLS ARRAY_PARTITION variable = qsum complete dim = 0
#pragma HLS ARRAY_PARTITION variable = sum complete dim = 0

key_tile_loop:
    for (int tile = 0; tile < n_tiles && tile < FLX_MAX_SEQ; tile++) {
#pragma HLS loop_tripcount min = 1 max = 4096
        int key0 = tile * kp;
    clear_sum_loop:
        for (int t = 0; t < n_q && t < FLX_MAX_TP; t++)
            for (int j = 0; j < kp && j < FLX_MAX_KP; j++) {
#pragma HLS UNROLL
                sum[t][j] = 0.0f;
            }
    group_loop:
        for (int g = 0; g < n_groups && g < FLX_MAX_HEAD_DIM; g++) {
#pragma HLS loop_tripcount min = 1 max = 128
        clear_loop:
            for (int t = 0; t < n_q && t < FLX_MAX_TP; t++) {
#pragma HLS UNROLL
                qsum[t] = 0;
                for (int j = 0; j < kp && j < FLX_MAX_KP; j++) acc[t][j] = 0;
            }
        dim_loop:
            for (int d = g * group; d < (g + 1) * group && d < FLX_MAX_HEAD_DIM; d++) {
#pragma HLS PIPELINE II = 1
#pragma HLS loop_tripcount min = 1 max = 128
            query_sum_loop:
                for (int t = 0; t < n_q && t < FLX_MAX_TP; t++) {
#pragma HLS UNROLL
                    qsum[t] += (int32_t)q[t][d];
                }
            key_lane_loop:
                for (int j = 0; j < kp && j < FLX_MAX_KP; j++) {
#pragma HLS UNROLL
                    int key = key0 + j;
                    int32_t kv = key < n_keys ? k[(long)key * head_dim + d] : 0;
                query_lane_loop:
                    for (int t = 0; t < n_q && t < FLX_MAX_TP; t++) {
#pragma HLS UNROLL
                        acc[t][j] += (int32_t)q[t][d] * kv;
                    }
                }
            }
        scale_loop:
            for (int j = 0; j < kp && j < FLX_MAX_KP; j++) {
#pragma HLS UNROLL
                int key = key0 + j;
                float ks = key < n_keys ? k_scales[(long)key * n_groups + g] : 0.0f;
                float kz = key < n_keys ? k_offsets[(long)key * n_groups + g] : 0.0f;
            scale_query_loop:
                for (int t = 0; t < n_q && t < FLX_MAX_TP; t++) {
#pragma HLS UNROLL
                    sum[t][j] += (float)acc[t][j] * ks + (float)qsum[t] * kz;
                }
            }
        }
    mask_drain_loop:
        for (int t = 0; t < n_q && t < FLX_MAX_TP; t++)
            for (int j = 0; j < kp && j < FLX_MAX_KP; j++) {
#pragma HLS PIPELINE II = 1
                int key = key0 + j;
                if (key < n_keys) scores[t][key] = key <= q_pos[t] ? sum[t][j] * q_scale : FLX_MASKED_SCORE;
            }
    }
}
