/* Data movers between modules: block partitioning of a vector over BP
 * lanes (each lane owns a contiguous slice, as the decode arrays do), and
 * gathering the slices back. */
#ifndef FLEXLLM_KERNELS_STREAM_H
#define FLEXLLM_KERNELS_STREAM_H

#include "kernels/limits.h"

/* Slice of lane b when n elements are split over bp lanes: lanes own
 * ceil(n / bp) elements each, the last ones fewer or none. */
static inline void flx_block_slice(int n, int bp, int b, int *begin, int *count) {
    int per = (n + bp - 1) / bp;
    int start = b * per;
    int end = start + per < n ? start + per : n;
    *begin = start < n ? start : n;
    *count = end > *begin ? end - *begin : 0;
}

/* Copies the n-element vector x to each of n_out consumers (a 1-to-N
 * distributor), out [n_out][FLX_MAX_DIM], n_out <= FLX_MAX_CONSUMERS. */
void flx_distribute_kernel(const float x[FLX_MAX_DIM], int n, int n_out, float out[][FLX_MAX_DIM]);

/* Gathers block-partitioned slices (lane b wrote its slice at
 * slices + b * slice_stride) into one vector y[n]. */
void flx_merge_blocks_kernel(const float *slices, int slice_stride, int n, int bp, float y[FLX_MAX_VOCAB]);

#endif
