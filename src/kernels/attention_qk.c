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
