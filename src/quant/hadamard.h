/* Hadamard matrices (entries +-1, H H^T = n I) and the normalized
 * transforms x <- H x / sqrt(n) used by the rotation step of the
 * quantization suite.
 *
 * Supported orders n <= FLX_HADAMARD_MAX_ORDER are 1, 2 and m * 2^k with
 * k >= 0, where the base order m is
 *   - 1 (Sylvester: H_2k = [[H, H], [H, -H]], natural order, so
 *     H[i][j] = (-1)^popcount(i & j)),
 *   - q + 1 for a prime power q = 3 mod 4 (Paley construction I), or
 *   - 2 (q + 1) for a prime power q = 1 mod 4 (Paley construction II).
 * The matrix of order m * 2^k is the Kronecker product H_m (x) H_(2^k), with
 * index a * 2^k + b for row a of H_m and row b of H_(2^k). The smallest such
 * m is used, Paley I before Paley II when both give m. Among the multiples
 * of 4 up to 256 this leaves out 92, 116, 156, 172, 184, 188, 232 and 236;
 * those orders need stored matrices (Williamson and other constructions),
 * which this file does not have. */
#ifndef FLEXLLM_QUANT_HADAMARD_H
#define FLEXLLM_QUANT_HADAMARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define FLX_HADAMARD_MAX_ORDER (1 << 20)

typedef enum flx_hadamard_construction {
    FLX_HADAMARD_NONE = 0,
    FLX_HADAMARD_SYLVESTER,
    FLX_HADAMARD_PALEY1,
    FLX_HADAMARD_PALEY2,
} flx_hadamard_construction;

/* A Hadamard matrix of order n factored as H_base (x) H_pow2. */
typedef struct flx_hadamard {
    int n;
    int base;                            /* m: 1 for Sylvester, else a Paley order */
    int pow2;                            /* n / base, a power of two */
    flx_hadamard_construction construction; /* of the base */
    int q;                               /* Paley field order, 0 for Sylvester */
    int8_t *base_signs;                  /* [base][base] +-1, NULL when base == 1 */
} flx_hadamard;

/* Returns 1 when a Hadamard matrix of order n is constructed here, else 0. */
int flx_hadamard_supported(int n);

/* Returns 1 when n is a power of two (n >= 1). */
int flx_is_pow2(int n);

/* Builds the factored matrix of order n; fails for an unsupported order. */
int flx_hadamard_init(flx_hadamard *h, int n, flx_error *err);
void flx_hadamard_free(flx_hadamard *h);

/* Writes e.g. "paley1(q=11) x sylvester(4)" or "sylvester(64)" into out. */
void flx_hadamard_describe(const flx_hadamard *h, char *out, size_t out_size);

/* x <- H x / sqrt(n), or H^T x / sqrt(n) when transpose is set, in
 * O(n (log2(pow2) + base)) operations, using work [n] as scratch space. */
void flx_hadamard_apply(const flx_hadamard *h, double *x, double *work, bool transpose);

/* Fills out [n][n] with the +-1 entries of H (not normalized). */
int flx_hadamard_signs(int n, int8_t *out, flx_error *err);

/* Fills out [n][n] with the orthogonal matrix H / sqrt(n). */
int flx_hadamard_matrix(int n, double *out, flx_error *err);

/* Fills signs [n] with the seeded random +-1 diagonal D of the randomized
 * Hadamard matrix H D / sqrt(n). */
void flx_hadamard_random_signs(int n, uint64_t seed, int8_t *signs);

/* Fills out [n][n] with the randomized Hadamard matrix H D / sqrt(n), D
 * from flx_hadamard_random_signs(n, seed). */
int flx_hadamard_random_matrix(int n, uint64_t seed, double *out, flx_error *err);

/* In-place normalized Walsh-Hadamard transform x <- H x / sqrt(n) for n a
 * power of two (the caller checks), H the Sylvester matrix in natural
 * order, which is symmetric, so the transform is its own inverse. The
 * float version runs the butterfly stages in the order of the engines'
 * kernel (span 1, 2, 4, ...) and then multiplies by 1 / sqrtf(n). The
 * online R3 rotation is this transform on each head of Q and K after RoPE;
 * it needs no offline change because it cancels inside Q K^T. */
void flx_fwht_f32(float *x, int n);
void flx_fwht_f64(double *x, int n);

#endif
