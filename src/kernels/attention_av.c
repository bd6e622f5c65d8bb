#include "kernels/attention.h"

void flx_attn_av(const uint8_t p[FLX_MAX_TP][FLX_MAX_SEQ], int n_q, const int8_t *v, int n_keys,
                 int head_dim, int vp, float out_scale, float out[FLX_MAX_TP][FLX_MAX_HEAD_DIM]) {
#pragma HLS INTERFACE m_axi port = v bundle = v_cache
    int n_passes = (head_dim + vp - 1) / vp;
    int32_t acc[FLX_MAX_TP][FLX_MAX_VP];
#pragma HLS ARRAY_PARTITION variable = acc complete dim = 0

dim_pass_loop:
    for (int pass = 0; pass < n_passes && pass < FLX_MAX_HEAD_DIM; pass++) {
#pragma HLS loop_tripcount min = 1 max = 128
        int d0 = pass * vp;
    clear_loop:
        for (int t = 0; t < n_q && t < FLX_MAX_TP; t++)
            for (int j = 0; j < vp && j < FLX_MAX_VP; j++) {
#pragma HLS UNROLL
                acc[t][j] = 0;
            }
    key_loop:
        for (int key = 0; key < n_keys && key < FLX_MAX_SEQ; key++) {
#pragma HLS PIPELINE II = 1
#pragma HLS loop_tripcount min = 1 max = 4096
        dim_lane_loop:
            for (int j = 0; j < vp && j < FLX_MAX_VP; j++) {
#pragma HLS UNROLL
                int d = d0 + j;
                int32_t vv = d < head_dim ? v[(long)key * head_dim + d] : 0;
            query_lane_loop:
                for (int t = 0; t < n_q && t < FLX_MAX_TP; t++) {
#pragma HLS UNROLL
                    acc[t][j] += (int32_t)p[t][key] * vv;
                }
            }
        }
    drain_loop:
        for (int t = 0; t < n_q && t < FLX_MAX_TP; t++)
            for (int j = 0; j < vp && j < FLX_MAX_VP; j++) {
#pragma HLS PIPELINE II = 1
                int d = d0 + j;
                if (d < head_dim) out[t][d] = (float)acc[t][j] * out_scale;
            }
    }
}

void flx_attn_av_grouped(const uint8_t p[FLX_MAX_TP][FLX_MAX_SEQ], int n_q, const int8_t *v, const float *v_scales,
                         const float *v_offsets, int n_keys, int head_dim, int group, int vp, float prob_scale,
                         float out[FLX_MAX_TP][FLX_MAX_HEAD_DIM]) {
#pragma HLS INTERFACE m_axi port = v bundle = v_cache
#pragma HLS INTERFACE m_axi port = v_scales bundle = v_scales
#pragma HLS INTERFACE m_axi port = v_offsets bundle = v_scales
    int n_passes = (head_dim + vp - 1) / vp;
    int n_groups = head_dim / group;
    /* NOTE: the float sum over keys is one chain per lane, so a synthesized
     * key_loop reaches II = 1 only with partial sums interleaved over the
     * adder latency; the order fixed here is what the fake-quant model
     * matches bit for bit. */
    float acc[FLX_MAX_TP][FLX_MAX_VP];
#pragma HLS ARRAY_PARTITION variable = acc complete dim = 0

dim_pass_loop:
    for (int pass = 0; pass < n_passes && pass < FLX_MAX_HEAD_DIM; pass++) {
#pragma HLS loop_tripcount min = 1 max = 128
        int d0 = pass * vp;
    clear_loop:
        for (int t = 0; t < n_q && t < FLX_MAX_TP; t++)
            for (int j = 0; j < vp && j < FLX_MAX_VP; j++) {
#pragma HLS UNROLL
                acc[t][j] = 0.0f;
            }
    key_loop:
        for (int key = 0; key < n_keys && key < FLX_MAX_SEQ; key++) {
#pragma HLS PIPELINE II = 1
#pragma HLS loop_tripcount min = 1 max = 4096
        dim_lane_loop:
            for (int j = 0; j < vp && j < FLX_MAX_VP; j++) {
#pragma HLS UNROLL
                int d = d0 + j;
                int32_t vv = d < head_dim ? v[(long)key * head_dim + d] : 0;
                float vs = d < head_dim ? v_scales[(long)key * n_groups + d / group] : 0.0f;
                float vz = d < head_dim ? v_offsets[(long)key * n_groups + d / group] : 0.0f;
            query_lane_loop:
                for (int t = 0; t < n_q && t < FLX_MAX_TP; t++) {
#pragma HLS UNROLL
                    acc[t][j] += (float)((int32_t)p[t][key] * vv) * vs + (float)p[t][key] * vz;
                }
            }
        }
    drain_loop:
        for (int t = 0; t < n_q && t < FLX_MAX_TP; t++)
            for (int j = 0; j < vp && j < FLX_MAX_VP; j++) {
#pragma HLS PIPELINE II = 1
                int d = d0 + j;
                if (d < head_dim) out[t][d] = acc[t][j] * prob_scale;
            }
    }
}
