#include "kernels/kv_cache.h"

void flx_kv_write(int8_t *head_cache, int pos, int n_tokens, int head_dim,
                  const int8_t rows[FLX_MAX_TP][FLX_MAX_HEAD_DIM]) {
#pragma HLS INTERFACE m_axi port = head_cache bundle = kv_cache
token_loop:
    for (int t = 0; t < n_tokens && t < FLX_MAX_TP; t++) {
#pragma HLS loop_tripcount min = 1 max = 32
    dim_loop:
        for (int d = 0; d < head_dim && d < FLX_MAX_HEAD_DIM; d++) {
#pragma HLS PIPELINE II = 1
#pragma HLS loop_tripcount min = 64 max = 128
            head_cache[(long)(pos + t) * head_dim + d] = rows[t][d];
        }
    }
}

void flx_kv_write_scales(float *head_scales, int pos, int n_tokens, int n_groups,
                         const float rows[FLX_MAX_TP][FLX_MAX_HEAD_DIM]) {
#pragma HLS INTERFACE m_axi port = head_scales bundle = kv_scales
token_loop:
    for (int t = 0; t < n_tokens && t < FLX_MAX_TP; t++) {
#pragma HLS loop_tripcount min = 1 max = 32
    group_loop:
        for (int g = 0; g < n_groups && g < FLX_MAX_HEAD_DIM; g++) {
#pragma HLS PIPELINE II = 1
#pragma HLS loop_tripcount min = 1 max = 128
            head_scales[(long)(pos + t) * n_groups + g] = rows[t][g];
        }
    }
}
