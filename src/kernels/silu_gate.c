#include <math.h>

#include "kernels/elementwise.h"

void flx_silu_gate_kernel(const float gate[FLX_MAX_FFN], const float up[FLX_MAX_FFN], int n,
                          float y[FLX_MAX_FFN]) {
gate_loop:
    for (int i = 0; i < n && i < FLX_MAX_FFN; i++) {
#pragma HLS PIPELINE II = 1
#pragma HLS loop_tripcount min = 64 max = 16384
        float g = gate[i];
        y[i] = g / (1.0f + expf(-g)) * up[i];
    }
}
