#include "test_kernel_pack.h"

#include <stdio.h>
#include <stdlib.h>

/* Packs n_tiles tiles: lane j of tile t is row first_row + t * tile_rows + j
 * of w, or zero weights when that row is at or past row_end. */
static uint8_t *pack_tiles(const int8_t *w, int d_in, int first_row, int row_end, int tile_rows,
                           int lanes, int n_tiles, int bits, size_t *bytes) {
    size_t word = bits == 4 ? (size_t)lanes / 2 : (size_t)lanes;
    size_t size = (size_t)n_tiles * (size_t)d_in * word;
    uint8_t *stream = calloc(size ? size : 1, 1);
    if (!stream) {
        fprintf(stderr, "pack_tiles: cannot allocate %zu bytes\n", size);
        exit(1);
    }
    for (int t = 0; t < n_tiles; t++)
        for (int i = 0; i < d_in; i++) {
            uint8_t *out = stream + ((size_t)t * (size_t)d_in + (size_t)i) * word;
            for (int j = 0; j < lanes; j++) {
                long row = (long)first_row + (long)t * tile_rows + j;
                int v = row < row_end ? w[row * d_in + i] : 0;
                if (bits == 8) {
                    out[j] = (uint8_t)(int8_t)v;
                    continue;
                }
                if (v < -8 || v > 7) {
                    fprintf(stderr, "pack_tiles: weight %d of row %ld does not fit 4 bits\n", v, row);
                    exit(1);
                }
                unsigned nibble = (unsigned)v & 0x0Fu;
                if (j < lanes / 2)
                    out[j] = (uint8_t)(out[j] | nibble);
                else
                    out[j - lanes / 2] = (uint8_t)(out[j - lanes / 2] | (nibble << 4));
            }
        }
    *bytes = size;
    return stream;
}

uint8_t *pack_prefill_block(const int8_t *w, int d_out, int d_in, int bits, int wp, int block,
                            int n_blocks, size_t *bytes) {
    int lanes = wp / n_blocks;
    int n_tiles = (d_out + wp - 1) / wp;
    return pack_tiles(w, d_in, block * lanes, d_out, wp, lanes, n_tiles, bits, bytes);
}

uint8_t *pack_decode_rows(const int8_t *w, int d_in, int row_begin, int n_rows, int bits, int wp,
                          size_t *bytes) {
    int n_tiles = (n_rows + wp - 1) / wp;
    return pack_tiles(w, d_in, row_begin, row_begin + n_rows, wp, wp, n_tiles, bits, bytes);
}
