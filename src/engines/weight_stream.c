#include "engines/weight_stream.h"

#include <stdlib.h>
#include <string.h>

#include "kernels/linear.h"
#include "kernels/stream.h"

/* Packs rows base + tile*tile_stride + lane (lane < lanes, row < limit) of
 * the bits-bit codes [d_out][d_in] into tiles of words. */
static uint8_t *pack_rows(const int8_t *codes, int d_in, int bits, int base, int tile_stride, int n_tiles,
                          int lanes, int limit, long *bytes_out, flx_error *err) {
    int word_bytes = flx_weight_word_bytes(lanes, bits);
    long bytes = (long)n_tiles * d_in * word_bytes;
    uint8_t *out = flx_calloc(1, (size_t)(bytes ? bytes : 1), err);
    if (!out) return NULL;
    int half = lanes / 2;
    for (int tile = 0; tile < n_tiles; tile++)
        for (int lane = 0; lane < lanes; lane++) {
            int row = base + tile * tile_stride + lane;
            if (row >= limit) continue;
            const int8_t *q = codes + (long)row * d_in;
            uint8_t *words = out + (long)tile * d_in * word_bytes;
            for (int i = 0; i < d_in; i++) {
                uint8_t *word = words + (long)i * word_bytes;
                if (bits == 8) {
                    word[lane] = (uint8_t)q[i];
                } else if (lane < half) {
                    word[lane] = (uint8_t)((word[lane] & 0xF0u) | ((uint8_t)q[i] & 0x0Fu));
                } else {
                    word[lane - half] = (uint8_t)((word[lane - half] & 0x0Fu) | (((uint8_t)q[i] & 0x0Fu) << 4));
                }
            }
        }
    *bytes_out = bytes;
    return out;
}

static int alloc_streams(flx_weight_streams *s, int n, const flx_qlinear *w, flx_error *err) {
    memset(s, 0, sizeof *s);
    if (w->bits != 4 && w->bits != 8 && w->bits != 16)
        return flx_fail(err, "cannot pack a matrix of %d-bit weights (expected 4, 8 or 16)", w->bits);
    s->matrix = w;
    s->n_streams = n;
    s->bits = w->bits == 4 ? 4 : 8;
    s->n_passes = w->bits == 16 ? 2 : 1;
    s->data = flx_calloc((size_t)n, sizeof *s->data, err);
    if (s->data && s->n_passes == 2) s->data_lo = flx_calloc((size_t)n, sizeof *s->data_lo, err);
    s->bytes = flx_calloc((size_t)n, sizeof *s->bytes, err);
    s->row_begin = flx_calloc((size_t)n, sizeof *s->row_begin, err);
    s->n_rows = flx_calloc((size_t)n, sizeof *s->n_rows, err);
    if (!s->data || (s->n_passes == 2 && !s->data_lo) || !s->bytes || !s->row_begin || !s->n_rows) {
        flx_weight_streams_free(s);
        return -1;
    }
    return 0;
}

/* Packs stream k with pack_rows, and its low-byte stream for a 16-bit
 * matrix. Frees all of s on failure. */
static int pack_stream(flx_weight_streams *s, int k, int base, int tile_stride, int n_tiles, int lanes, int limit,
                       flx_error *err) {
    const flx_qlinear *w = s->matrix;
    s->data[k] = pack_rows(w->q, w->d_in, s->bits, base, tile_stride, n_tiles, lanes, limit, &s->bytes[k], err);
    if (s->data[k] && s->n_passes == 2)
        s->data_lo[k] = pack_rows(w->q_lo, w->d_in, s->bits, base, tile_stride, n_tiles, lanes, limit,
                                  &s->bytes[k], err);
    if (!s->data[k] || (s->n_passes == 2 && !s->data_lo[k])) {
        flx_weight_streams_free(s);
        return -1;
    }
    return 0;
}

int flx_pack_decode_streams(flx_weight_streams *s, const flx_qlinear *w, int bp, int wp, flx_error *err) {
    if (alloc_streams(s, bp, w, err) != 0) return -1;
    for (int b = 0; b < bp; b++) {
        flx_block_slice(w->d_out, bp, b, &s->row_begin[b], &s->n_rows[b]);
        int n_tiles = (s->n_rows[b] + wp - 1) / wp;
        if (pack_stream(s, b, s->row_begin[b], wp, n_tiles, wp, s->row_begin[b] + s->n_rows[b], err) != 0)
            return -1;
    }
    return 0;
}

int flx_pack_prefill_streams(flx_weight_streams *s, const flx_qlinear *w, int wp, int n_blocks,
                             flx_error *err) {
    if (alloc_streams(s, n_blocks, w, err) != 0) return -1;
    int lanes = wp / n_blocks;
    int n_tiles = (w->d_out + wp - 1) / wp;
    for (int k = 0; k < n_blocks; k++) {
        s->row_begin[k] = 0;
        s->n_rows[k] = w->d_out;
        if (pack_stream(s, k, k * lanes, wp, n_tiles, lanes, w->d_out, err) != 0) return -1;
    }
    return 0;
}

void flx_weight_streams_free(flx_weight_streams *s) {
    for (int i = 0; i < s->n_streams && s->data; i++) free(s->data[i]);
    for (int i = 0; i < s->n_streams && s->data_lo; i++) free(s->data_lo[i]);
    free(s->data);
    free(s->data_lo);
    free(s->bytes);
    free(s->row_begin);
    free(s->n_rows);
    memset(s, 0, sizeof *s);
}
