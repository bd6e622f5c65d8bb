/* Round-to-nearest (RTN) weight quantization: per output channel,
 * symmetric, 4 or 8 bits, as docs/quantized-inference.md defines it. */
#ifndef FLEXLLM_QUANT_RTN_H
#define FLEXLLM_QUANT_RTN_H

#include <stdint.h>

#include "common/error.h"
#include "quant/qmodel.h"

/* Largest weight code of a bits-bit symmetric quantizer: 2^(bits-1) - 1. */
static inline int flx_rtn_qmax(int bits) { return (1 << (bits - 1)) - 1; }

/* Quantizes w [d_out][d_in] row by row: scale[o] = max_i |w[o][i]| / qmax
 * (1 for a zero row), q[o][i] = clamp(round(w[o][i] / scale[o]), -qmax,
 * qmax), rowsum[o] = sum_i scale[o] * q[o][i] added in double. Fails on a
 * non-finite weight, naming row, column and value; name labels the matrix. */
int flx_rtn_quantize_rows(const float *w, int d_out, int d_in, int bits, int8_t *q, float *scale,
                          float *rowsum, const char *name, flx_error *err);

/* Fills out with the RTN quantization of w, its buffers owned by owner. */
int flx_rtn_quantize_linear(flx_qlinear *out, flx_qmodel *owner, const float *w, int d_out, int d_in,
                            int bits, const char *name, flx_error *err);

#endif
