/* Weight-stream packer of the tests, written from the layout described in
 * src/kernels/linear.h and separate from the engines' packer: per tile of
 * output rows, per input index i, one word holding the tile's lanes of
 * column i. 8-bit words are one int8 per lane, and 4-bit words put lane j
 * in the low nibble of byte j and lane j + lanes/2 in its high nibble.
 * A prefill block's words cover only its own wp/n_blocks lanes. */
#ifndef FLEXLLM_TESTS_TEST_KERNEL_PACK_H
#define FLEXLLM_TESTS_TEST_KERNEL_PACK_H

#include <stddef.h>
#include <stdint.h>

/* Stream of the prefill weight block `block` of n_blocks for w [d_out][d_in]
 * in tiles of wp rows: the block holds lanes [block*wp/n_blocks,
 * (block+1)*wp/n_blocks) of every tile. Returns a malloc'd buffer and its
 * size in *bytes. */
uint8_t *pack_prefill_block(const int8_t *w, int d_out, int d_in, int bits, int wp, int block,
                            int n_blocks, size_t *bytes);

/* Stream of one decode array owning rows [row_begin, row_begin + n_rows) of
 * w [..][d_in], in tiles of wp rows. Returns a malloc'd buffer (one byte
 * when n_rows is 0) and its size in *bytes. */
uint8_t *pack_decode_rows(const int8_t *w, int d_in, int row_begin, int n_rows, int bits, int wp,
                          size_t *bytes);

#endif
