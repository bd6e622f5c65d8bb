/* GPTQ weight quantization (Frantar et al., "GPTQ: Accurate Post-Training
 * Quantization for Generative Pre-trained Transformers", ICLR 2023,
 * arXiv:2210.17323).
 *
 * Columns of W [d_out][d_in] are quantized one at a time, and each
 * column's rounding error is spread over the columns not yet quantized so
 * that the layer output W x on the calibration inputs changes least: with
 * U the upper Cholesky factor of the damped inverse Hessian
 * (H + lambda I)^{-1} = U^T U, quantizing column j gives the error
 * e = (w_j - value_j) / U[j][j], and every later column k takes
 * w_k -= e * U[j][k]. The updates of a block of columns reach the rest of
 * the matrix at once, as one matrix product, when the block ends. With
 * act_order the columns are taken by decreasing H[j][j], and the codes are
 * written back in the original order.
 *
 * Output rows are independent given U, so they run in parallel with
 * OpenMP, and the result does not depend on the thread count. */
#ifndef FLEXLLM_QUANT_GPTQ_H
#define FLEXLLM_QUANT_GPTQ_H

#include <stdbool.h>

#include "common/error.h"
#include "quant/clip_search.h"
#include "quant/hessian.h"
#include "quant/qmodel.h"

#define FLX_GPTQ_DEFAULT_DAMP 0.01
#define FLX_GPTQ_DEFAULT_BLOCK 128
#define FLX_GPTQ_MAX_BLOCK 4096

typedef struct flx_gptq_options {
    flx_weight_format format;
    flx_clip_options clip;  /* range of every grid (absmax when clip.search is false) */
    bool clip_weighted;     /* weight the clip search's squared errors by the Hessian diagonal */
    double damp;            /* added to the Hessian diagonal as a fraction of its mean (0.01 = 1 %) */
    int block_size;         /* columns per lazy update, a multiple of the group size */
    bool act_order;         /* take columns by decreasing Hessian diagonal */
} flx_gptq_options;

/* 4-bit per-channel symmetric weights with absmax ranges, damping 0.01,
 * blocks of 128 columns, columns in their stored order. */
flx_gptq_options flx_gptq_options_default(void);

/* Quantizes w [d_out][d_in] with the Hessian h of its input (h->d == d_in)
 * into out, allocated here. Per-channel grids come from the original row,
 * and so do group grids with act_order, which scatters a group's columns.
 * Without act_order a group's grid comes from its weights as updated when
 * its first column is reached. Input columns that were always zero in the
 * calibration data (zero Hessian diagonal) get the code of 0.0. Fails on
 * invalid options, a Hessian of another width or without inputs, a
 * non-finite weight, or a Hessian that is not positive definite after
 * damping. name labels the matrix in the message. */
int flx_gptq_quantize(const float *w, int d_out, int d_in, const flx_hessian *h, const flx_gptq_options *opt,
                      flx_qweights *out, const char *name, flx_error *err);

/* As flx_gptq_quantize for the quantized model's format: fills out, its
 * buffers owned by owner, with codes, scales and row sums (see
 * flx_qweights_to_qlinear). opt must select symmetric weights, per channel
 * or per group. */
int flx_gptq_quantize_linear(flx_qlinear *out, flx_qmodel *owner, const float *w, int d_out, int d_in,
                             const flx_hessian *h, const flx_gptq_options *opt, const char *name,
                             flx_error *err);

#endif
