#include <math.h>

#include "kernels/attention.h"

void flx_softmax_rows(float scores[FLX_MAX_TP][FLX_MAX_SEQ], int n_q, int n_keys) {
row_loop:
    for (int t = 0; t < n_q && t < FLX_MAX_TP; t++) {
#pragma HLS loop_tripcount min = 1 max = 32
        float *row = scores[t];
        float max = row[0];
    max_loop:
        for (int p = 1; p < n_keys && p < FLX_MAX_SEQ; p++) {
#pragma HLS PIPELINE II = 1
#pragma HLS loop_tripcount min = 1 max = 4096
            max = fmaxf(max, row[p]);
        }
        float sum = 0.0f;
    exp_loop:
        for (int p = 0; p < n_keys && p < FLX_MAX_SEQ; p++) {
#pragma HLS PIPELINE II = 1
#pragma HLS loop_tripcount min = 1 max = 4096
            row[p] = expf(row[p] - max);
            sum += row[p];
        }
        float inv = 1.0f / sum;
    scale_loop:
        for (int p = 0; p < n_keys && p < FLX_MAX_SEQ; p++) {
#pragma HLS PIPELINE II = 1
#pragma HLS loop_tripcount min = 1 max = 4096
            row[p] *= inv;
        }
    }
}
