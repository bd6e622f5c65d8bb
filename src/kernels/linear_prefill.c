#include "kernels/linear.h"

/* Sign-extends a two's-complement nibble. */
static inline int32_t nibble(uint32_t v) {
#pragma HLS INLINE
    return (int32_t)((v & 0x0Fu) ^ 0x08u) - 8;
}

void flx_linear_prefill(const int16_t *x, int n_tokens, int d_in, int d_out, const uint8_t *w_stream,
                        int bits, int wp, int block, int n_blocks, int32_t *acc) {
#pragma HLS INTERFACE m_axi port = w_stream bundle = weights
    if (n_blocks < 1) n_blocks = 1;
    if (wp > FLX_MAX_WP) wp = FLX_MAX_WP;
    int lanes = wp / n_blocks;
    int lane0 = block * lanes;
    int word_bytes = bits == 4 ? lanes / 2 : lanes;
    int half = lanes / 2;
    int n_tiles = (d_out + wp - 1) / wp;
    int32_t sums[FLX_MAX_TP][FLX_MAX_WP];
#pragma HLS ARRAY_PARTITION variable = sums complete dim = 0

tile_loop:
    for (int tile = 0; tile < n_tiles && tile < FLX_MAX_VOCAB; tile++) {
#pragma HLS loop_tripcount min = 1 max = 1024
    clear_loop:
        for (int t = 0; t < n_tokens && t < FLX_MAX_TP; t++)
            for (int j = 0; j < lanes && j < FLX_MAX_WP; j++) {
#pragma HLS UNROLL
                sums[t][j] = 0;
            }
        const uint8_t *words = w_stream + (long)tile * d_in * word_bytes;
    input_loop:
        for (int i = 0; i < d_in; i++) {
#pragma HLS PIPELINE II = 1
#pragma HLS loop_tripcount min = 64 max = 16384
            const uint8_t *w = words + (long)i * word_bytes;
        token_loop:
            for (int t = 0; t < n_tokens && t < FLX_MAX_TP; t++) {
#pragma HLS UNROLL
                int32_t xv = x[(long)t * d_in + i];
                int32_t *s = sums[t];
                if (bits == 4) {
                lane4_loop:
                    for (int j = 0; j < half; j++) {
#pragma HLS UNROLL
#pragma HLS loop_tripcount max = 128
                        s[j] += xv * nibble(w[j]);
                        s[j + half] += xv * nibble((uint32_t)w[j] >> 4);
                    }
                } else {
                lane8_loop:
                    for (int j = 0; j < lanes && j < FLX_MAX_WP; j++) {
#pragma HLS UNROLL
                        s[j] += xv * (int32_t)(int8_t)w[j];
                    }
                }
            }
        }
    drain_loop:
        for (int t = 0; t < n_tokens && t < FLX_MAX_TP; t++)
            for (int j = 0; j < lanes && j < FLX_MAX_WP; j++) {
#pragma HLS PIPELINE II = 1
                int row = tile * wp + lane0 + j;
                if (row < d_out) acc[(long)t * d_out + row] = sums[t][j];
            }
    }
}
