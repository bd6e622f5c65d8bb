/* The Hessian of a linear layer's output error, H = 2 X^T X / n, over the
 * n calibration inputs x of the layer (the rows of X), accumulated in
 * double. Also the factor of its damped inverse that GPTQ consumes, and the
 * dense double-precision kernels that both need. */
#ifndef FLEXLLM_QUANT_HESSIAN_H
#define FLEXLLM_QUANT_HESSIAN_H

#include "common/error.h"

/* Largest input width accepted: the d x d double matrices of a Hessian and
 * its factor then take 2 GiB each. */
#define FLX_HESSIAN_MAX_DIM 16384

typedef struct flx_hessian {
    int d;          /* input width of the layer */
    long n;         /* input vectors added so far */
    double *sum;    /* [d][d] sum of x x^T over the inputs, lower triangle only */
} flx_hessian;

/* Allocates an empty accumulator for inputs of width d. */
int flx_hessian_init(flx_hessian *h, int d, flx_error *err);
void flx_hessian_free(flx_hessian *h);

/* Adds the n input vectors x [n][d] (n >= 0). Fails on a non-finite value,
 * naming its row and column, and leaves h unchanged then. Uses all
 * OpenMP threads when the work is large. */
int flx_hessian_add(flx_hessian *h, const float *x, int n, flx_error *err);

/* Writes H [d][d] = 2 sum / n, both triangles. Fails when nothing was added. */
int flx_hessian_matrix(const flx_hessian *h, double *out, flx_error *err);

/* Writes the diagonal of H [d], the mean squared input per column times 2.
 * Fails when nothing was added. */
int flx_hessian_diag(const flx_hessian *h, double *out, flx_error *err);

/* Computes the upper-triangular U [d][d] with A^{-1} = U^T U, where
 * A[a][b] = H[perm[a]][perm[b]] + lambda * (a == b). A zero diagonal entry of
 * H (an input column that was always zero) is replaced by 1 first, which
 * decouples that column from the others, and lambda = damp * the mean of the other
 * diagonal entries (damp alone when every column is zero). perm may be NULL
 * for the identity. The strict lower triangle of u is set to zero.
 * Fails, naming the column, when A is not positive definite to working
 * precision (a pivot below 1e-12 times its diagonal entry): raise damp. */
int flx_hessian_inverse_factor(const flx_hessian *h, const int *perm, double damp, double *u,
                               flx_error *err);

/* Doubles of GEMM workspace per thread: packed panels of A and B. */
#define FLX_DGEMM_WORK_DOUBLES ((size_t)256 * (512 + 96))

/* C[m][n] += alpha * op(A) * op(B) on row-major matrices, where op(A) is
 * A [m][k] (lda >= k) or, when trans_a is set, the transpose of A [k][m]
 * (lda >= m). Likewise op(B) is B [k][n] or the transpose of B [n][k].
 * Tiles of C run on all OpenMP threads. Every product is a fused
 * multiply-add summed in a fixed order, so the result does not depend on
 * the thread count or the SIMD width. Fails only when the workspace
 * cannot be allocated or a size is negative. */
int flx_dgemm(int trans_a, int trans_b, int m, int n, int k, double alpha, const double *a, int lda,
              const double *b, int ldb, double *c, int ldc, flx_error *err);

#endif
