#include "kernels/stream.h"

void flx_distribute_kernel(const float x[FLX_MAX_DIM], int n, int n_out, float out[][FLX_MAX_DIM]) {
element_loop:
    for (int i = 0; i < n && i < FLX_MAX_DIM; i++) {
#pragma HLS PIPELINE II = 1
#pragma HLS loop_tripcount min = 64 max = 8192
    consumer_loop:
        for (int c = 0; c < n_out && c < FLX_MAX_CONSUMERS; c++) {
#pragma HLS UNROLL
            out[c][i] = x[i];
        }
    }
}

void flx_merge_blocks_kernel(const float *slices, int slice_stride, int n, int bp, float y[FLX_MAX_VOCAB]) {
lane_loop:
    for (int b = 0; b < bp && b < FLX_MAX_BP; b++) {
#pragma HLS loop_tripcount min = 1 max = 64
        int begin, count;
        flx_block_slice(n, bp, b, &begin, &count);
    element_loop:
        for (int i = 0; i < count && i < FLX_MAX_VOCAB; i++) {
#pragma HLS PIPELINE II = 1
#pragma HLS loop_tripcount min = 1 max = 8192
            y[begin + i] = slices[(long)b * slice_stride + i];
        }
    }
}
