#include "kernels/elementwise.h"

void flx_embedding_kernel(const float *table, int dim, int token, float out[FLX_MAX_DIM]) {
#pragma HLS INTERFACE m_axi port = table bundle = vocab
copy_loop:
    for (int i = 0; i < dim && i < FLX_MAX_DIM; i++) {
#pragma HLS PIPELINE II = 1
#pragma HLS loop_tripcount min = 64 max = 8192
        out[i] = table[(long)token * dim + i];
    }
}
