#include "kernels/linear.h"

/* Sign-extends a two's-complement nibble. */
static inline int32_t nibble(uint32_t v) {
#pragma HLS INLINE
    return (int32_t)((v & 0x0Fu) ^ 0x08u) - 8;
}

void flx_linear_prefill(const int16_t *x, int n_tokens, int d_in, int d_out, const uint8_t *w_stream,
                        int bits, int wp, int block, int n_blocks, int32_t *acc) {
#pragma HLS INTERFACE m_axi port = w_stream bundle = weights
    /* Bounds are clamped once so that the loops below run to plain counts,
     * which the C compiler vectorizes; tripcount pragmas give HLS the maxima. */
    if (n_blocks < 1) n_blocks = 1;
    if (wp > FLX_MAX_WP) wp = FLX_MAX_WP;
    if (n_tokens > FLX_MAX_TP) n_tokens = FLX_MAX_TP;
    if (d_in > FLX_MAX_LINEAR_IN) d_in = FLX_MAX_LINEAR_IN;
    int lanes = wp / n_blocks;
    int lane0 = block * lanes;
    int word_bytes = bits == 4 ? lanes / 2 : lanes;
    int half = lanes / 2;
    int n_tiles = (d_out + wp - 1) / wp;
    /* Lanes [0, half) and [half, lanes) of each token row accumulate in
     * separate arrays: the low and high nibbles of a 4-bit word. */
    int32_t sums[FLX_MAX_TP][FLX_MAX_WP / 2], sums_hi[FLX_MAX_TP][FLX_MAX_WP / 2];
#pragma HLS ARRAY_PARTITION variable = sums complete dim = 0
#pragma HLS ARRAY_PARTITION variable = sums_hi complete dim = 0

tile_loop:
    for (int tile = 0; tile < n_tiles && tile < FLX_MAX_VOCAB; tile++) {
#pragma HLS loop_tripcount min = 1 max = 1024
    clear_loop:
        for (int t = 0; t < n_tokens; t++) {
#pragma HLS UNROLL
#pragma HLS loop_tripcount max = 32
            for (int j = 0; j < half; j++) {
#pragma HLS UNROLL
#pragma HLS loop_tripcount max = 128
                sums[t][j] = 0;
                sums_hi[t][j] = 0;
            }
        }
        const uint8_t *words = w_stream + (long)tile * d_in * word_bytes;
    token_loop:
        for (int t = 0; t < n_tokens; t++) {
#pragma HLS UNROLL
#pragma HLS loop_tripcount max = 32
            const int16_t *xt = x + (long)t * d_in;
            int32_t *lo_sums = sums[t], *hi_sums = sums_hi[t];
            if (bits == 4) {
                /* Four input indices per step; |activation| <= 255 and
                 * |weight| <= 8, so four products fit 16 bits exactly. */
                int d_in4 = d_in & ~3;
            input4_loop:
                for (int i = 0; i < d_in4; i += 4) {
#pragma HLS PIPELINE II = 4
#pragma HLS loop_tripcount min = 16 max = 4096
                    int32_t x0 = xt[i], x1 = xt[i + 1], x2 = xt[i + 2], x3 = xt[i + 3];
                    const uint8_t *w0 = words + (long)i * word_bytes;
                    const uint8_t *w1 = w0 + word_bytes, *w2 = w1 + word_bytes, *w3 = w2 + word_bytes;
                lane4_loop:
                    for (int j = 0; j < half; j++) {
#pragma HLS UNROLL
#pragma HLS loop_tripcount max = 128
                        int16_t lo = (int16_t)(x0 * nibble(w0[j]) + x1 * nibble(w1[j]) + x2 * nibble(w2[j]) +
                                               x3 * nibble(w3[j]));
                        int16_t hi = (int16_t)(x0 * nibble((uint32_t)w0[j] >> 4) + x1 * nibble((uint32_t)w1[j] >> 4) +
                                               x2 * nibble((uint32_t)w2[j] >> 4) + x3 * nibble((uint32_t)w3[j] >> 4));
                        lo_sums[j] += lo;
                        hi_sums[j] += hi;
                    }
                }
            input4_tail_loop:
                for (int i = d_in4; i < d_in; i++) {
#pragma HLS PIPELINE II = 1
#pragma HLS loop_tripcount max = 3
                    int32_t xv = xt[i];
                    const uint8_t *w = words + (long)i * word_bytes;
                lane4_tail_loop:
                    for (int j = 0; j < half; j++) {
#pragma HLS UNROLL
#pragma HLS loop_tripcount max = 128
                        lo_sums[j] += xv * nibble(w[j]);
                        hi_sums[j] += xv * nibble((uint32_t)w[j] >> 4);
                    }
                }
            } else {
            input8_loop:
                for (int i = 0; i < d_in; i++) {
#pragma HLS PIPELINE II = 1
#pragma HLS loop_tripcount min = 64 max = 16384
                    int32_t xv = xt[i];
                    const uint8_t *w = words + (long)i * word_bytes;
                lane8_loop:
                    for (int j = 0; j < half; j++) {
#pragma HLS UNROLL
#pragma HLS loop_tripcount max = 128
                        lo_sums[j] += xv * (int32_t)(int8_t)w[j];
                        hi_sums[j] += xv * (int32_t)(int8_t)w[j + half];
                    }
                }
            }
        }
    drain_loop:
        for (int t = 0; t < n_tokens; t++) {
#pragma HLS loop_tripcount max = 32
            for (int j = 0; j < half; j++) {
#pragma HLS PIPELINE II = 1
#pragma HLS loop_tripcount max = 128
                int row = tile * wp + lane0 + j;
                if (row < d_out) acc[(long)t * d_out + row] = sums[t][j];
                if (row + half < d_out) acc[(long)t * d_out + row + half] = sums_hi[t][j];
            }
        }
    }
}
