/* Packs a quantized matrix into the weight streams the linear arrays read
 * (layout in kernels/linear.h): one stream per decode array or per prefill
 * weight block. This is the host-side data mover that lays weights out in
 * HBM. */
#ifndef FLEXLLM_ENGINES_WEIGHT_STREAM_H
#define FLEXLLM_ENGINES_WEIGHT_STREAM_H

#include <stdint.h>

#include "common/error.h"
#include "quant/qmodel.h"

typedef struct flx_weight_streams {
    int n_streams;
    uint8_t **data;   /* [n_streams] packed words */
    long *bytes;      /* [n_streams] */
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
