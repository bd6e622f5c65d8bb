/* Round-to-nearest (RTN) weight quantization: per output channel,
 * symmetric, 4, 8 or 16 bits, as docs/quantized-inference.md defines it. */
#ifndef FLEXLLM_QUANT_RTN_H
#define FLEXLLM_QUANT_RTN_H

#include <stdint.h>

#include "common/error.h"
#include "quant/qmodel.h"

/* Quantizes w [d_out][d_in] row by row with qmax = flx_weight_qmax(bits):
 * scale[o] = max_i |w[o][i]| / qmax (1 for a zero row), code[o][i] =
 * clamp(round(w[o][i] / scale[o]), -qmax, qmax), rowsum[o] = sum_i
 * scale[o] * code[o][i] added in double. For bits 4 and 8 the codes go to
 * q, and q_lo may be NULL. For bits 16, q gets the high bytes and q_lo the
 * low bytes (flx_code16_high, flx_code16_low). Fails on a non-finite
 * weight, naming row, column and value; name labels the matrix. */
int flx_rtn_quantize_rows(const float *w, int d_out, int d_in, int bits, int8_t *q, int8_t *q_lo,
                          float *scale, float *rowsum, const char *name, flx_error *err);

/* Fills out with the RTN quantization of w, its buffers owned by owner. */
int flx_rtn_quantize_linear(flx_qlinear *out, flx_qmodel *owner, const float *w, int d_out, int d_in,
                            int bits, const char *name, flx_error *err);

#endif
