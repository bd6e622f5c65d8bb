/* Quantizers and the linear-layer dequantizer (docs/quantized-inference.md). */
#ifndef FLEXLLM_KERNELS_QUANTIZE_H
#define FLEXLLM_KERNELS_QUANTIZE_H

#include <stdbool.h>
#include <stdint.h>

#include "kernels/limits.h"

/* Scale and offset of one dynamically quantized vector: x ~= s*q + offset. */
typedef struct flx_qparams {
    float scale;
    float offset; /* the clipped minimum (asymmetric), 0 (symmetric) */
} flx_qparams;

/* Quantizes x[n] (n >= 1) with its own range: asymmetric to unsigned codes
 * 0..2^bits-1 with offset = clip*min, or symmetric to
 * -(2^(bits-1)-1)..2^(bits-1)-1. One call per token (prefill) or per
 * vector (decode).
 * NOTE: a clip ratio below 1 scales min and max toward zero, so for a
 * vector of one sign one end moves past the data; only clip 1 is used. */
flx_qparams flx_quant_dynamic(const float x[FLX_MAX_LINEAR_IN], int n, int bits, bool asymmetric,
                              float clip, int16_t q[FLX_MAX_LINEAR_IN]);

/* Static symmetric INT8: q = clamp(round(x / scale), -127, 127). */
void flx_quant_static_i8(const float x[FLX_MAX_HEAD_DIM], int n, float scale,
                         int8_t q[FLX_MAX_HEAD_DIM]);

/* Dynamic quantizer of one K or V row of a head (x [n]): each group of
 * `group` consecutive channels (group divides n) gets its own scale and
 * offset, x ~= s * q + offset. Symmetric: s = clip * max|x| / qmax, or 1
 * when that is 0, q = clamp(round(x / s), -qmax, qmax) with
 * qmax = 2^(bits-1) - 1, offset 0. Asymmetric: lo and hi are clip times
 * the group's min and max, s = (hi - lo) / (2^bits - 1), or 1 when
 * hi == lo, u = clamp(round((x - lo) / s), 0, 2^bits - 1), and the signed
 * code q = u - 2^(bits-1) with offset = lo + s * 2^(bits-1). Writes the
 * n / group scales and offsets. */
void flx_quant_kv_groups(const float x[FLX_MAX_HEAD_DIM], int n, int group, int bits, bool asymmetric, float clip,
                         int8_t q[FLX_MAX_HEAD_DIM], float scales[FLX_MAX_HEAD_DIM], float offsets[FLX_MAX_HEAD_DIM]);

/* Static unsigned probability quantizer: q = clamp(round(p / scale), 0, 255). */
void flx_quant_prob_u8(const float p[FLX_MAX_SEQ], int n, float scale, uint8_t q[FLX_MAX_SEQ]);

/* y[o] = acc[o] * s_x * w_scale[o] (+ offset_x * w_rowsum[o] when asymmetric). */
void flx_dequant_linear(const int32_t acc[FLX_MAX_VOCAB], int n, flx_qparams xq, bool asymmetric,
                        const float w_scale[FLX_MAX_VOCAB], const float w_rowsum[FLX_MAX_VOCAB],
                        float y[FLX_MAX_VOCAB]);

/* Dequantizer of a 16-bit-weight linear run as two 8-bit passes: acc_hi
 * from the high-byte matrix, acc_lo from the low-byte matrix. Forms
 * acc = 256 * acc_hi + acc_lo exactly in 64 bits, then computes the
 * expression of flx_dequant_linear with (float)acc. */
void flx_dequant_linear_split(const int32_t acc_hi[FLX_MAX_VOCAB], const int32_t acc_lo[FLX_MAX_VOCAB], int n,
                              flx_qparams xq, bool asymmetric, const float w_scale[FLX_MAX_VOCAB],
                              const float w_rowsum[FLX_MAX_VOCAB], float y[FLX_MAX_VOCAB]);

#endif
