/* Float vector kernels of a decoder layer: RMSNorm, RoPE, SiLU gating,
 * residual add, fast Walsh-Hadamard transform, embedding lookup. */
#ifndef FLEXLLM_KERNELS_ELEMENTWISE_H
#define FLEXLLM_KERNELS_ELEMENTWISE_H

#include <stdint.h>

#include "kernels/limits.h"

/* y = x * (1 / sqrtf(mean(x^2) + eps)) * gain, the sum of squares taken as
 * four interleaved partial sums combined as (s0 + s1) + (s2 + s3). */
void flx_rmsnorm_kernel(const float x[FLX_MAX_DIM], int n, const float gain[FLX_MAX_DIM], float eps,
                        float y[FLX_MAX_DIM]);

/* Rotates adjacent pairs of the first rope_dim elements of each of n_heads
 * heads (x [n_heads][head_dim]) by the angles of one position, given as
 * cos/sin rows [rope_dim/2] of the RoPE table. */
void flx_rope_kernel(float *x, int n_heads, int head_dim, int rope_dim,
                     const float cos_row[FLX_MAX_HEAD_DIM / 2], const float sin_row[FLX_MAX_HEAD_DIM / 2]);

/* y[i] = silu(gate[i]) * up[i] with silu(g) = g / (1 + expf(-g)). */
void flx_silu_gate_kernel(const float gate[FLX_MAX_FFN], const float up[FLX_MAX_FFN], int n,
                          float y[FLX_MAX_FFN]);

/* x[i] += y[i]. */
void flx_residual_add_kernel(float x[FLX_MAX_DIM], const float y[FLX_MAX_DIM], int n);

/* In-place normalized Walsh-Hadamard transform in natural (Sylvester)
 * order of n = 2^log2n <= FLX_MAX_FFN elements: x <- H_n x / sqrt(n). */
void flx_fwht_kernel(float x[FLX_MAX_FFN], int log2n);

/* y = R x for a dense orthogonal R [n][n], row-major, n <=
 * FLX_MAX_DENSE_ROTATION: the online rotation where no fast transform of
 * order n exists. Each y[o] sums its n products in float in column order. */
void flx_rotate_dense_kernel(const float *r, int n, const float x[FLX_MAX_DENSE_ROTATION],
                             float y[FLX_MAX_DENSE_ROTATION]);

/* Copies row `token` of the float table [vocab][dim] into out. */
void flx_embedding_kernel(const float *table, int dim, int token, float out[FLX_MAX_DIM]);

#endif
