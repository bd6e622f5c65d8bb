#include "kernels/elementwise.h"

void flx_residual_add_kernel(float x[FLX_MAX_DIM], const float y[FLX_MAX_DIM], int n) {
add_loop:
    for (int i = 0; i < n && i < FLX_MAX_DIM; i++) {
#pragma HLS PIPELINE II = 1
#pragma HLS loop_tripcount min = 64 max = 8192
        x[i] += y[i];
    }
}
