/* Integer linear layers: output-stationary systolic arrays that stream
 * quantized weights once per call.
 *
 * Weight stream: for each tile of `lanes` output rows, for each input index
 * i, one word holding the tile's `lanes` weights of column i. An 8-bit word
 * is `lanes` int8 bytes; a 4-bit word is lanes/2 bytes where byte j holds
 * lane j in its low nibble and lane j + lanes/2 in its high nibble
 * (two's-complement nibbles). In a blocked prefill stream, `lanes` is the
 * block's own wp/n_blocks lanes, so the pairing stays within the block. Rows past the end of the matrix are zero
 * weights. engines/weight_stream.c packs matrices into this layout.
 *
 * Activation codes are at most 8 bits (-255..255 covers uint8 and int8):
 * the 4-bit decode path sums four products in 16 bits, exact within that
 * range. */
#ifndef FLEXLLM_KERNELS_LINEAR_H
#define FLEXLLM_KERNELS_LINEAR_H

#include <stdint.h>

#include "kernels/limits.h"

/* Bytes of one stream word. */
static inline int flx_weight_word_bytes(int lanes, int bits) {
    return bits == 4 ? lanes / 2 : lanes;
}

/* Prefill linear, one weight block of a TP x WP array: for the n_tokens
 * (<= TP) quantized token rows of x [n_tokens][d_in] and tiles of `wp`
 * output rows, block `block` of `n_blocks` owns lanes
 * [block*wp/n_blocks, (block+1)*wp/n_blocks) of every tile and reads them
 * from its own stream. Writes acc[t][r] (row stride d_out) for its rows
 * below d_out. */
void flx_linear_prefill(const int16_t *x, int n_tokens, int d_in, int d_out, const uint8_t *w_stream,
                        int bits, int wp, int block, int n_blocks, int32_t *acc);

/* Decode linear, one of the BP arrays: computes rows
 * [row_begin, row_begin + n_rows) of W x for the quantized vector x [d_in],
 * in tiles of wp lanes read from the array's own stream. Writes
 * acc[0..n_rows). */
void flx_linear_decode(const int16_t x[FLX_MAX_LINEAR_IN], int d_in, int n_rows,
                       const uint8_t *w_stream, int bits, int wp, int32_t *acc);

#endif
