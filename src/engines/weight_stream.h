/* Packs a quantized matrix into the weight streams the linear arrays read
 * (layout in kernels/linear.h): one stream per decode array or per prefill
 * weight block. A matrix of 16-bit weights gets a second set of streams:
 * its high bytes and its low bytes are two 8-bit matrices that run through
 * the same arrays one after the other. This is the host-side data mover
 * that lays weights out in HBM. */
#ifndef FLEXLLM_ENGINES_WEIGHT_STREAM_H
#define FLEXLLM_ENGINES_WEIGHT_STREAM_H

#include <stdint.h>

#include "common/error.h"
#include "quant/qmodel.h"

typedef struct flx_weight_streams {
    int n_streams;
    int bits;         /* width of the streamed words' weights: 4 or 8 (also for 16-bit matrices) */
    int n_passes;     /* 1, or 2 for 16-bit matrices: high bytes in data, low bytes in data_lo */
    uint8_t **data;   /* [n_streams] packed words */
    uint8_t **data_lo;/* [n_streams] packed low-byte words when n_passes == 2, else NULL */
    long *bytes;      /* [n_streams] bytes of one pass */
    int *row_begin;   /* [n_streams] decode: first output row of the array */
    int *n_rows;      /* [n_streams] decode: rows of the array */
    const flx_qlinear *matrix;
} flx_weight_streams;

/* Decode: BP arrays, array b owning rows flx_block_slice(d_out, bp, b). */
int flx_pack_decode_streams(flx_weight_streams *s, const flx_qlinear *w, int bp, int wp, flx_error *err);

/* Prefill: n_blocks streams, block k holding lanes [k*wp/n_blocks,
 * (k+1)*wp/n_blocks) of every tile of wp rows. */
int flx_pack_prefill_streams(flx_weight_streams *s, const flx_qlinear *w, int wp, int n_blocks,
                             flx_error *err);

void flx_weight_streams_free(flx_weight_streams *s);

#endif
