#include "kernels/elementwise.h"

void flx_rope_kernel(float *x, int n_heads, int head_dim, int rope_dim,
                     const float cos_row[FLX_MAX_HEAD_DIM / 2], const float sin_row[FLX_MAX_HEAD_DIM / 2]) {
head_loop:
    for (int h = 0; h < n_heads && h < FLX_MAX_HEADS; h++) {
#pragma HLS loop_tripcount min = 1 max = 64
        float *v = x + (long)h * head_dim;
    pair_loop:
        for (int i = 0; i < rope_dim / 2 && i < FLX_MAX_HEAD_DIM / 2; i++) {
#pragma HLS PIPELINE II = 1
#pragma HLS loop_tripcount min = 4 max = 64
            float a = v[2 * i], b = v[2 * i + 1];
            v[2 * i] = a * cos_row[i] - b * sin_row[i];
            v[2 * i + 1] = a * sin_row[i] + b * cos_row[i];
        }
    }
}
