/* Orthogonal matrices for the rotation step: seeded Haar-random matrices,
 * the orthogonality check, and flx_rotation, an orthogonal matrix Q (dense,
 * or a randomized Hadamard matrix applied fast) that multiplies float
 * weight matrices in double precision. */
#ifndef FLEXLLM_QUANT_ORTHOGONAL_H
#define FLEXLLM_QUANT_ORTHOGONAL_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "quant/hadamard.h"

/* Largest order of a dense orthogonal matrix: 16384^2 doubles are 2 GiB. */
#define FLX_ORTHOGONAL_MAX_ORDER 16384

/* Next value of the splitmix64 generator behind every seeded rotation, so
 * that a seed gives the same matrix on every platform. */
uint64_t flx_rotation_rng_next(uint64_t *state);

/* Fills q [n][n] with a Haar-distributed random orthogonal matrix. It is
 * the Q of the Householder QR factorization (in double) of an n x n matrix
 * of standard normal values drawn from the seed. Each column is multiplied
 * by the sign of the matching diagonal entry of R, so R has a positive
 * diagonal and Q does not depend on the sign convention of the reflectors. */
int flx_orthogonal_random(int n, uint64_t seed, double *q, flx_error *err);

/* Returns max_ij |(Q^T Q - I)[i][j]| of q [n][n]. */
double flx_orthogonal_error(const double *q, int n);

/* The orthogonal matrix Q of a rotation. */
typedef struct flx_rotation {
    int n;
    double *matrix;        /* [n][n] row-major Q, or NULL for a randomized Hadamard */
    flx_hadamard hadamard; /* Q = H diag(signs) / sqrt(n) when matrix is NULL */
    int8_t *signs;         /* [n] when matrix is NULL */
} flx_rotation;

/* Copies the dense orthogonal matrix q [n][n]. */
int flx_rotation_init_dense(flx_rotation *r, int n, const double *q, flx_error *err);
/* Draws a Haar-random Q of order n from the seed (flx_orthogonal_random). */
int flx_rotation_init_random(flx_rotation *r, int n, uint64_t seed, flx_error *err);
/* Uses the randomized Hadamard matrix H D / sqrt(n) of the seed, D from
 * flx_hadamard_random_signs; fails when no Hadamard matrix of order n is
 * available. */
int flx_rotation_init_hadamard(flx_rotation *r, int n, uint64_t seed, flx_error *err);
void flx_rotation_free(flx_rotation *r);

/* Writes Q [n][n] in double into out. */
int flx_rotation_to_matrix(const flx_rotation *r, double *out, flx_error *err);

/* x <- Q^T x for x [n], using work [n] as scratch space. */
void flx_rotation_apply_transpose(const flx_rotation *r, double *x, double *work);

/* W <- W Q for the rows of a float matrix: row i has n values starting at
 * w + i * row_stride (row_stride >= n), for i < rows. */
int flx_rotation_right(const flx_rotation *r, float *w, size_t rows, size_t row_stride, flx_error *err);

/* W <- Q^T W for a float matrix w [n][cols], rows contiguous. */
int flx_rotation_left_transpose(const flx_rotation *r, float *w, size_t cols, flx_error *err);

#endif
