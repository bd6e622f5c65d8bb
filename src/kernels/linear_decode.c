#include "kernels/linear.h"

static inline int32_t nibble(uint32_t v) {
#pragma HLS INLINE
    return (int32_t)((v & 0x0Fu) ^ 0x08u) - 8;
}

void flx_linear_decode(const int16_t x[FLX_MAX_LINEAR_IN], int d_in, int n_rows,
                       const uint8_t *w_stream, int bits, int wp, int32_t *acc) {
#pragma HLS INTERFACE m_axi port = w_stream bundle = weights
    /* Bounds are clamped once so that loops below run to plain counts,
     * which the C compiler vectorizes; the tripcount pragmas give HLS the
     * maxima. */
    if (wp > FLX_MAX_WP) wp = FLX_MAX_WP;
    if (d_in > FLX_MAX_LINEAR_IN) d_in = FLX_MAX_LINEAR_IN;
    int word_bytes = bits == 4 ? wp / 2 : wp;
    int half = wp / 2;
    int n_tiles = (n_rows + wp - 1) / wp;
    /* Lanes [0, half) and [half, wp) accumulate in separate arrays: the low
     * and high nibbles of a 4-bit word. */
    int32_t sums[FLX_MAX_WP / 2], sums_hi[FLX_MAX_WP / 2];
#pragma HLS ARRAY_PARTITION variable = sums complete
#pragma HLS ARRAY_PARTITION variable = sums_hi complete

tile_loop:
    for (int tile = 0; tile < n_tiles && tile < FLX_MAX_VOCAB; tile++) {
#pragma HLS loop_tripcount min = 1 max = 4096
    clear_loop:
        for (int j = 0; j < half; j++) {
#pragma HLS UNROLL
#pragma HLS loop_tripcount max = 128
            sums[j] = 0;
            sums_hi[j] = 0;
        }
        const uint8_t *words = w_stream + (long)tile * d_in * word_bytes;
        if (bits == 4) {
            /* Four input indices per step: the same sums in a different
             * association order (exact in integers), fewer accumulator
             * updates for the C simulation. */
            int d_in4 = d_in & ~3;
        input4_loop:
            for (int i = 0; i < d_in4; i += 4) {
#pragma HLS PIPELINE II = 4
#pragma HLS loop_tripcount min = 16 max = 4096
                int32_t x0 = x[i], x1 = x[i + 1], x2 = x[i + 2], x3 = x[i + 3];
                const uint8_t *w0 = words + (long)i * word_bytes;
                const uint8_t *w1 = w0 + word_bytes, *w2 = w1 + word_bytes, *w3 = w2 + word_bytes;
            lane4_loop:
                for (int j = 0; j < half; j++) {
#pragma HLS UNROLL
#pragma HLS loop_tripcount max = 128
                    /* |activation| <= 255 and |weight| <= 8, so four products
                     * sum to at most 8160 and fit 16 bits exactly. */
                    int16_t lo = (int16_t)(x0 * nibble(w0[j]) + x1 * nibble(w1[j]) + x2 * nibble(w2[j]) +
                                           x3 * nibble(w3[j]));
                    int16_t hi = (int16_t)(x0 * nibble((uint32_t)w0[j] >> 4) + x1 * nibble((uint32_t)w1[j] >> 4) +
                                           x2 * nibble((uint32_t)w2[j] >> 4) + x3 * nibble((uint32_t)w3[j] >> 4));
                    sums[j] += lo;
                    sums_hi[j] += hi;
                }
            }
        input4_tail_loop:
            for (int i = d_in4; i < d_in; i++) {
#pragma HLS PIPELINE II = 1
#pragma HLS loop_tripcount max = 3
                int32_t xv = x[i];
                const uint8_t *w = words + (long)i * word_bytes;
            lane4_tail_loop:
                for (int j = 0; j < half; j++) {
#pragma HLS UNROLL
#pragma HLS loop_tripcount max = 128
                    sums[j] += xv * nibble(w[j]);
                    sums_hi[j] += xv * nibble((uint32_t)w[j] >> 4);
                }
            }
        } else {
        input8_loop:
            for (int i = 0; i < d_in; i++) {
#pragma HLS PIPELINE II = 1
#pragma HLS loop_tripcount min = 64 max = 16384
                int32_t xv = x[i];
                const uint8_t *w = words + (long)i * word_bytes;
            lane8_loop:
                for (int j = 0; j < half; j++) {
#pragma HLS UNROLL
#pragma HLS loop_tripcount max = 128
                    sums[j] += xv * (int32_t)(int8_t)w[j];
                    sums_hi[j] += xv * (int32_t)(int8_t)w[j + half];
                }
            }
        }
    drain_loop:
        for (int j = 0; j < half; j++) {
#pragma HLS PIPELINE II = 1
#pragma HLS loop_tripcount max = 128
            int row = tile * wp + j;
            if (row < n_rows) acc[row] = sums[j];
            if (row + half < n_rows) acc[row + half] = sums_hi[j];
        }
    }
}
