#include "kernels/elementwise.h"

void flx_rotate_dense_kernel(const float *r, int n, const float x[FLX_MAX_DENSE_ROTATION],
                             float y[FLX_MAX_DENSE_ROTATION]) {
#pragma HLS INTERFACE m_axi port = r bundle = rotation
row_loop:
    for (int o = 0; o < n && o < FLX_MAX_DENSE_ROTATION; o++) {
#pragma HLS loop_tripcount min = 2 max = 4096
        /* NOTE: one float sum per row; II = 1 needs partial sums in hardware. */
        float sum = 0.0f;
    column_loop:
        for (int i = 0; i < n && i < FLX_MAX_DENSE_ROTATION; i++) {
#pragma HLS PIPELINE II = 1
#pragma HLS loop_tripcount min = 2 max = 4096
            sum += r[(long)o * n + i] * x[i];
        }
        y[o] = sum;
    }
}
