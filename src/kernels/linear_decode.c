#include "kernels/linear.h"

static inline int32_t nibble(uint32_t v) {
#pragma HLS INLINE
    return (int32_t)((v & 0x0Fu) ^ 0x08u) - 8;
}

void flx_linear_decode(const int16_t x[FLX_MAX_LINEAR_IN], int d_in, int n_rows,
                       const uint8_t *w_stream, int bits, int wp, int32_t *acc) {
#pragma HLS INTERFACE m_axi port = w_stream bundle = weights
    int word_bytes = bits == 4 ? wp / 2 : wp;
    int half = wp / 2;
    int n_tiles = (n_rows + wp - 1) / wp;
    int32_t sums[FLX_MAX_WP];
#pragma HLS ARRAY_PARTITION variable = sums complete

tile_loop:
    for (int tile = 0; tile < n_tiles && tile < FLX_MAX_VOCAB; tile++) {
#pragma HLS loop_tripcount min = 1 max = 4096
    clear_loop:
        for (int j = 0; j < wp && j < FLX_MAX_WP; j++) {
#pragma HLS UNROLL
            sums[j] = 0;
        }
        const uint8_t *words = w_stream + (long)tile * d_in * word_bytes;
        if (bits == 4) {
        input4_loop:
            for (int i = 0; i < d_in && i < FLX_MAX_LINEAR_IN; i++) {
#pragma HLS PIPELINE II = 1
#pragma HLS loop_tripcount min = 64 max = 16384
                int32_t xv = x[i];
                const uint8_t *w = words + (long)i * word_bytes;
            lane4_loop:
                for (int j = 0; j < half && j < FLX_MAX_WP / 2; j++) {
#pragma HLS UNROLL
                    sums[j] += xv * nibble(w[j]);
                    sums[j + half] += xv * nibble((uint32_t)w[j] >> 4);
                }
            }
        } else {
        input8_loop:
            for (int i = 0; i < d_in && i < FLX_MAX_LINEAR_IN; i++) {
#pragma HLS PIPELINE II = 1
#pragma HLS loop_tripcount min = 64 max = 16384
                int32_t xv = x[i];
                const uint8_t *w = words + (long)i * word_bytes;
            lane8_loop:
                for (int j = 0; j < wp && j < FLX_MAX_WP; j++) {
#pragma HLS UNROLL
                    sums[j] += xv * (int32_t)(int8_t)w[j];
                }
            }
        }
    drain_loop:
        for (int j = 0; j < wp && j < FLX_MAX_WP; j++) {
#pragma HLS PIPELINE II = 1
            int row = tile * wp + j;
            if (row < n_rows) acc[row] = sums[j];
        }
    }
}
