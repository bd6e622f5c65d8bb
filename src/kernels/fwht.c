#include <math.h>

#include "kernels/elementwise.h"

void flx_fwht_kernel(float x[FLX_MAX_FFN], int log2n) {
    int n = 1 << log2n;
stage_loop:
    for (int stage = 0; stage < log2n && stage < 14; stage++) {
#pragma HLS loop_tripcount min = 1 max = 14
        int h = 1 << stage;
    butterfly_loop:
        for (int k = 0; k < n / 2 && k < FLX_MAX_FFN / 2; k++) {
#pragma HLS PIPELINE II = 1
#pragma HLS loop_tripcount min = 1 max = 8192
            /* Pair k of this stage: (i, i + h) with i = (k / h) * 2h + k % h. */
            int i = (k / h) * 2 * h + (k % h);
            float a = x[i], b = x[i + h];
            x[i] = a + b;
            x[i + h] = a - b;
        }
    }
    float norm = 1.0f / sqrtf((float)n);
normalize_loop:
    for (int i = 0; i < n && i < FLX_MAX_FFN; i++) {
#pragma HLS PIPELINE II = 1
#pragma HLS loop_tripcount min = 2 max = 16384
        x[i] *= norm;
    }
}
