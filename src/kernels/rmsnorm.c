#include <math.h>

#include "kernels/elementwise.h"

void flx_rmsnorm_kernel(const float x[FLX_MAX_DIM], int n, const float gain[FLX_MAX_DIM], float eps,
                        float y[FLX_MAX_DIM]) {
    float partial[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma HLS ARRAY_PARTITION variable = partial complete
square_loop:
    for (int i = 0; i < n && i < FLX_MAX_DIM; i++) {
#pragma HLS PIPELINE II = 1
#pragma HLS loop_tripcount min = 64 max = 8192
        partial[i & 3] += x[i] * x[i];
    }
    float ss = (partial[0] + partial[1]) + (partial[2] + partial[3]);
    float inv = 1.0f / sqrtf(ss / (float)n + eps);
scale_loop:
    for (int i = 0; i < n && i < FLX_MAX_DIM; i++) {
#pragma HLS PIPELINE II = 1
#pragma HLS loop_tripcount min = 64 max = 8192
        y[i] = x[i] * inv * gain[i];
    }
}
