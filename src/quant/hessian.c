#include "quant/hessian.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

/* Register tile of the GEMM kernel: GEMM_MR rows by GEMM_NR columns of C
 * stay in vector registers while a packed panel of A and B streams by. */
#if defined(__AVX512F__)
#define GEMM_MR 8
#define GEMM_NR 16
#elif defined(__AVX2__) && defined(__FMA__)
#define GEMM_MR 6
#define GEMM_NR 8
#else
#define GEMM_MR 4
#define GEMM_NR 8
#endif

/* Cache blocking: a GEMM_KC x GEMM_NC panel of B (1 MiB) stays in L2 while
 * GEMM_MC x GEMM_KC panels of A (192 KiB) pass through it. The sizes match
 * FLX_DGEMM_WORK_DOUBLES, and GEMM_MC is a multiple of every GEMM_MR above. */
#define GEMM_KC 256
#define GEMM_MC 96
#define GEMM_NC 512

/* Columns per block of the blocked Cholesky factorization and triangular
 * inverse. */
#define BLOCK 128

static inline int min_int(int a, int b) { return a < b ? a : b; }

static int max_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

static int thread_id(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* Packs rows i0..i0+mc-1, columns p0..p0+kc-1 of op(A) into strips of
 * GEMM_MR rows, each [kc][GEMM_MR], with zero rows past mc. */
static void pack_a(int trans, const double *a, int lda, int i0, int mc, int p0, int kc, double *out) {
    for (int s = 0; s < mc; s += GEMM_MR) {
        double *strip = out + (size_t)s * kc;
        int rows = min_int(GEMM_MR, mc - s);
        if (trans) {
            for (int p = 0; p < kc; p++) {
                const double *src = a + (size_t)(p0 + p) * lda + i0 + s;
                for (int r = 0; r < GEMM_MR; r++) strip[p * GEMM_MR + r] = r < rows ? src[r] : 0.0;
            }
        } else {
            for (int r = 0; r < GEMM_MR; r++) {
                const double *src = a + (size_t)(i0 + s + r) * lda + p0;
                for (int p = 0; p < kc; p++) strip[p * GEMM_MR + r] = r < rows ? src[p] : 0.0;
            }
        }
    }
}

/* Packs rows p0..p0+kc-1, columns j0..j0+nc-1 of op(B) into strips of
 * GEMM_NR columns, each [kc][GEMM_NR], with zero columns past nc. */
static void pack_b(int trans, const double *b, int ldb, int p0, int kc, int j0, int nc, double *out) {
    for (int s = 0; s < nc; s += GEMM_NR) {
        double *strip = out + (size_t)s * kc;
        int cols = min_int(GEMM_NR, nc - s);
        if (trans) {
            for (int j = 0; j < GEMM_NR; j++) {
                const double *src = b + (size_t)(j0 + s + j) * ldb + p0;
                for (int p = 0; p < kc; p++) strip[p * GEMM_NR + j] = j < cols ? src[p] : 0.0;
            }
        } else {
            for (int p = 0; p < kc; p++) {
                const double *src = b + (size_t)(p0 + p) * ldb + j0 + s;
                for (int j = 0; j < GEMM_NR; j++) strip[p * GEMM_NR + j] = j < cols ? src[j] : 0.0;
            }
        }
    }
}

/* tile [GEMM_MR][GEMM_NR] = sum over p < kc of a[p][r] * b[p][j], one fused
 * multiply-add per term in increasing p. */
static void gemm_kernel(int kc, const double *a, const double *b, double *tile) {
#if defined(__AVX512F__)
    __m512d acc[GEMM_MR][2];
    for (int r = 0; r < GEMM_MR; r++) acc[r][0] = acc[r][1] = _mm512_setzero_pd();
    for (int p = 0; p < kc; p++) {
        __m512d b0 = _mm512_loadu_pd(b + p * GEMM_NR), b1 = _mm512_loadu_pd(b + p * GEMM_NR + 8);
        for (int r = 0; r < GEMM_MR; r++) {
            __m512d av = _mm512_set1_pd(a[p * GEMM_MR + r]);
            acc[r][0] = _mm512_fmadd_pd(av, b0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_pd(av, b1, acc[r][1]);
        }
    }
    for (int r = 0; r < GEMM_MR; r++) {
        _mm512_storeu_pd(tile + r * GEMM_NR, acc[r][0]);
        _mm512_storeu_pd(tile + r * GEMM_NR + 8, acc[r][1]);
    }
#elif defined(__AVX2__) && defined(__FMA__)
    __m256d acc[GEMM_MR][2];
    for (int r = 0; r < GEMM_MR; r++) acc[r][0] = acc[r][1] = _mm256_setzero_pd();
    for (int p = 0; p < kc; p++) {
        __m256d b0 = _mm256_loadu_pd(b + p * GEMM_NR), b1 = _mm256_loadu_pd(b + p * GEMM_NR + 4);
        for (int r = 0; r < GEMM_MR; r++) {
            __m256d av = _mm256_set1_pd(a[p * GEMM_MR + r]);
            acc[r][0] = _mm256_fmadd_pd(av, b0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_pd(av, b1, acc[r][1]);
        }
    }
    for (int r = 0; r < GEMM_MR; r++) {
        _mm256_storeu_pd(tile + r * GEMM_NR, acc[r][0]);
        _mm256_storeu_pd(tile + r * GEMM_NR + 4, acc[r][1]);
    }
#else
    double acc[GEMM_MR][GEMM_NR] = {{0.0}};
    for (int p = 0; p < kc; p++)
        for (int r = 0; r < GEMM_MR; r++) {
            double av = a[p * GEMM_MR + r];
            for (int j = 0; j < GEMM_NR; j++) acc[r][j] = fma(av, b[p * GEMM_NR + j], acc[r][j]);
        }
    memcpy(tile, acc, sizeof acc);
#endif
}

/* C[m][n] += alpha op(A) op(B) on the calling thread (see flx_dgemm). */
static void gemm_serial(int trans_a, int trans_b, int m, int n, int k, double alpha, const double *a, int lda,
                        const double *b, int ldb, double *c, int ldc, double *work) {
    double *b_pack = work;
    double *a_pack = work + (size_t)GEMM_KC * GEMM_NC;
    double tile[GEMM_MR * GEMM_NR];
    for (int j0 = 0; j0 < n; j0 += GEMM_NC) {
        int nc = min_int(GEMM_NC, n - j0);
        for (int p0 = 0; p0 < k; p0 += GEMM_KC) {
            int kc = min_int(GEMM_KC, k - p0);
            pack_b(trans_b, b, ldb, p0, kc, j0, nc, b_pack);
            for (int i0 = 0; i0 < m; i0 += GEMM_MC) {
                int mc = min_int(GEMM_MC, m - i0);
                pack_a(trans_a, a, lda, i0, mc, p0, kc, a_pack);
                for (int jj = 0; jj < nc; jj += GEMM_NR) {
                    int cols = min_int(GEMM_NR, nc - jj);
                    for (int ii = 0; ii < mc; ii += GEMM_MR) {
                        int rows = min_int(GEMM_MR, mc - ii);
                        gemm_kernel(kc, a_pack + (size_t)ii * kc, b_pack + (size_t)jj * kc, tile);
                        for (int r = 0; r < rows; r++) {
                            double *crow = c + (size_t)(i0 + ii + r) * ldc + j0 + jj;
                            for (int j = 0; j < cols; j++) crow[j] = fma(alpha, tile[r * GEMM_NR + j], crow[j]);
                        }
                    }
                }
            }
        }
    }
}

/* Tiles of C that the threads share out. A tile's packed panel of B
 * (at most GEMM_KC x TASK_COLS) stays in cache while TASK_ROWS rows of A
 * stream past it, so B is read from memory once per task. */
#define TASK_ROWS 768
#define TASK_COLS 256

/* As gemm_serial, split into tasks of TASK_ROWS x TASK_COLS run by all
 * threads. With lower_only, tasks entirely above the diagonal of C
 * (column > row everywhere) are skipped. work has room for
 * FLX_DGEMM_WORK_DOUBLES per thread. */
static void gemm_parallel(int trans_a, int trans_b, int m, int n, int k, double alpha, const double *a, int lda,
                          const double *b, int ldb, double *c, int ldc, int lower_only, double *work) {
    int row_tasks = (m + TASK_ROWS - 1) / TASK_ROWS, col_tasks = (n + TASK_COLS - 1) / TASK_COLS;
    int n_tasks = row_tasks * col_tasks;
    double flops = 2.0 * m * n * k;
#pragma omp parallel for schedule(dynamic, 1) if (flops > 4e6 && n_tasks > 1)
    for (int t = 0; t < n_tasks; t++) {
        int i0 = (t / col_tasks) * TASK_ROWS, j0 = (t % col_tasks) * TASK_COLS;
        int rows = min_int(TASK_ROWS, m - i0), cols = min_int(TASK_COLS, n - j0);
        if (lower_only && j0 > i0 + rows - 1) continue;
        const double *a_at = trans_a ? a + i0 : a + (size_t)i0 * lda;
        const double *b_at = trans_b ? b + (size_t)j0 * ldb : b + j0;
        gemm_serial(trans_a, trans_b, rows, cols, k, alpha, a_at, lda, b_at, ldb, c + (size_t)i0 * ldc + j0, ldc,
                    work + (size_t)thread_id() * FLX_DGEMM_WORK_DOUBLES);
    }
}

static double *alloc_gemm_work(flx_error *err) {
    size_t count;
    if (flx_mul_overflows((size_t)max_threads(), FLX_DGEMM_WORK_DOUBLES * sizeof(double), &count)) {
        flx_fail(err, "GEMM workspace for %d threads is too large", max_threads());
        return NULL;
    }
    return flx_malloc(count, err);
}

int flx_dgemm(int trans_a, int trans_b, int m, int n, int k, double alpha, const double *a, int lda,
              const double *b, int ldb, double *c, int ldc, flx_error *err) {
    if (m < 0 || n < 0 || k < 0)
        return flx_fail(err, "matrix product of shape [%d][%d] x [%d][%d]: sizes must be >= 0", m, k, k, n);
    if (m == 0 || n == 0 || k == 0) return 0;
    double *work = alloc_gemm_work(err);
    if (!work) return -1;
    gemm_parallel(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, c, ldc, 0, work);
    free(work);
    return 0;
}

int flx_hessian_init(flx_hessian *h, int d, flx_error *err) {
    memset(h, 0, sizeof *h);
    if (d <= 0 || d > FLX_HESSIAN_MAX_DIM)
        return flx_fail(err, "Hessian of input width %d: expected 1 to %d", d, FLX_HESSIAN_MAX_DIM);
    h->sum = flx_calloc((size_t)d * d, sizeof(double), err);
    if (!h->sum) return -1;
    h->d = d;
    return 0;
}

void flx_hessian_free(flx_hessian *h) {
    free(h->sum);
    memset(h, 0, sizeof *h);
}

/* Input rows converted to double per GEMM call: one GEMM_KC panel. */
#define ADD_CHUNK_ROWS GEMM_KC

int flx_hessian_add(flx_hessian *h, const float *x, int n, flx_error *err) {
    if (!h->sum) return flx_fail(err, "Hessian accumulator is not initialized; call flx_hessian_init");
    if (n < 0) return flx_fail(err, "Hessian update with %d input rows: expected 0 or more", n);
    int d = h->d;
    for (size_t i = 0; i < (size_t)n * d; i++)
        if (!isfinite(x[i]))
            return flx_fail(err, "Hessian input row %zu column %zu is %g; the calibration activations overflowed",
                            i / (size_t)d, i % (size_t)d, (double)x[i]);
    if (n == 0) return 0;

    int chunk = min_int(n, ADD_CHUNK_ROWS);
    double *xd = flx_malloc((size_t)chunk * d * sizeof(double), err);
    double *work = xd ? alloc_gemm_work(err) : NULL;
    if (!work) {
        free(xd);
        return -1;
    }
    for (int t0 = 0; t0 < n; t0 += chunk) {
        int rows = min_int(chunk, n - t0);
        for (size_t i = 0; i < (size_t)rows * d; i++) xd[i] = x[(size_t)t0 * d + i];
        /* Adds X^T X to the lower triangle of sum. Tasks that straddle the
         * diagonal also fill part of the upper triangle, which is never read. */
        gemm_parallel(1, 0, d, d, rows, 1.0, xd, d, xd, d, h->sum, d, 1, work);
    }
    h->n += n;
    free(work);
    free(xd);
    return 0;
}

/* H[i][j] from the lower triangle of the sum. */
static inline double hessian_at(const flx_hessian *h, double scale, int i, int j) {
    return i >= j ? scale * h->sum[(size_t)i * h->d + j] : scale * h->sum[(size_t)j * h->d + i];
}

int flx_hessian_matrix(const flx_hessian *h, double *out, flx_error *err) {
    if (h->n <= 0) return flx_fail(err, "Hessian has no inputs; add calibration activations first");
    double scale = 2.0 / (double)h->n;
    int d = h->d;
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++) out[(size_t)i * d + j] = hessian_at(h, scale, i, j);
    return 0;
}

int flx_hessian_diag(const flx_hessian *h, double *out, flx_error *err) {
    if (h->n <= 0) return flx_fail(err, "Hessian has no inputs; add calibration activations first");
    double scale = 2.0 / (double)h->n;
    for (int i = 0; i < h->d; i++) out[i] = hessian_at(h, scale, i, i);
    return 0;
}

/* x [BLOCK][BLOCK] = inverse of the lower-triangular l [nb][nb] (row
 * stride ldl) by forward substitution, zero above the diagonal. */
static void invert_lower_block(const double *l, int ldl, int nb, double *x) {
    memset(x, 0, sizeof(double) * BLOCK * BLOCK);
    for (int j = 0; j < nb; j++) {
        x[j * BLOCK + j] = 1.0 / l[(size_t)j * ldl + j];
        for (int i = j + 1; i < nb; i++) {
            double s = 0.0;
            for (int p = j; p < i; p++) s += l[(size_t)i * ldl + p] * x[p * BLOCK + j];
            x[i * BLOCK + j] = -s / l[(size_t)i * ldl + i];
        }
    }
}

/* Factors the diagonal block at k0 of size kb (earlier columns already
 * eliminated from it). On failure stores the failing row in *bad. */
static int factor_diagonal_block(double *a, int n, int k0, int kb, const double *diag0, int *bad,
                                 double *pivot) {
    for (int j = k0; j < k0 + kb; j++) {
        double *row_j = a + (size_t)j * n;
        double dj = row_j[j];
        for (int p = k0; p < j; p++) dj -= row_j[p] * row_j[p];
        if (!(dj > 1e-12 * diag0[j])) {
            *bad = j;
            *pivot = dj;
            return -1;
        }
        double ljj = sqrt(dj);
        row_j[j] = ljj;
        for (int i = j + 1; i < k0 + kb; i++) {
            double *row_i = a + (size_t)i * n;
            double s = row_i[j];
            for (int p = k0; p < j; p++) s -= row_i[p] * row_j[p];
            row_i[j] = s / ljj;
        }
    }
    return 0;
}

/* Copies rows r0..n-1, columns k0..k0+kb-1 of a [n][n] into t [n-r0][BLOCK]
 * and zeroes them in a. */
static void move_panel(double *a, int n, int r0, int k0, int kb, double *t) {
#pragma omp parallel for schedule(static) if ((double)(n - r0) * kb > 1e5)
    for (int i = r0; i < n; i++) {
        double *src = a + (size_t)i * n + k0;
        memcpy(t + (size_t)(i - r0) * BLOCK, src, (size_t)kb * sizeof(double));
        memset(src, 0, (size_t)kb * sizeof(double));
    }
}

/* Overwrites the lower triangle of the symmetric a [n][n] with its
 * Cholesky factor L (a = L L^T), right-looking by blocks of BLOCK columns:
 * factor the diagonal block, solve the panel below it, then subtract the
 * panel's outer product from the trailing lower triangle. The strict upper
 * triangle ends up as scratch. t is scratch of n x BLOCK doubles. */
static int cholesky_lower(double *a, int n, const double *diag0, double *work, double *dinv, double *t, int *bad,
                          double *pivot) {
    for (int k0 = 0; k0 < n; k0 += BLOCK) {
        int kb = min_int(BLOCK, n - k0);
        if (factor_diagonal_block(a, n, k0, kb, diag0, bad, pivot) != 0) return -1;
        int r0 = k0 + kb;
        if (r0 >= n) break;
        invert_lower_block(a + (size_t)k0 * n + k0, n, kb, dinv);
        /* Panel: P := P L_kk^{-T}. */
        move_panel(a, n, r0, k0, kb, t);
        gemm_parallel(0, 1, n - r0, kb, kb, 1.0, t, BLOCK, dinv, BLOCK, a + (size_t)r0 * n + k0, n, 0, work);
        /* Trailing lower triangle: A22 -= P P^T. */
        gemm_parallel(0, 1, n - r0, n - r0, kb, -1.0, a + (size_t)r0 * n + k0, n, a + (size_t)r0 * n + k0, n,
                      a + (size_t)r0 * n + r0, n, 1, work);
    }
    return 0;
}

/* Overwrites the lower-triangular a [n][n] (zero strict upper triangle)
 * with its inverse X by block rows from the first. A right-hand side R,
 * stored where X goes, starts as the identity. Block row k of X is
 * X_kk R_k with X_kk = L_kk^{-1}, and then every later block row takes
 * R_i -= L_ik X_k. t is scratch of n x BLOCK doubles. */
static void invert_lower(double *a, int n, double *work, double *dinv, double *t) {
    for (int k0 = 0; k0 < n; k0 += BLOCK) {
        int kb = min_int(BLOCK, n - k0), k1 = k0 + kb;
        invert_lower_block(a + (size_t)k0 * n + k0, n, kb, dinv);
        if (k0 > 0) {
            /* X_k[0..k0) = X_kk R_k[0..k0). */
            for (int i = 0; i < kb; i++) {
                double *row = a + (size_t)(k0 + i) * n;
                memcpy(t + (size_t)i * k0, row, (size_t)k0 * sizeof(double));
                memset(row, 0, (size_t)k0 * sizeof(double));
            }
            gemm_parallel(0, 0, kb, k0, kb, 1.0, dinv, BLOCK, t, k0, a + (size_t)k0 * n, n, 0, work);
        }
        for (int i = 0; i < kb; i++)
            memcpy(a + (size_t)(k0 + i) * n + k0, dinv + (size_t)i * BLOCK, (size_t)kb * sizeof(double));
        if (k1 >= n) break;
        /* R_i[0..k1) -= L_ik X_k[0..k1) for the rows below. Block column k
         * of R starts at zero where L_ik was. */
        move_panel(a, n, k1, k0, kb, t);
        gemm_parallel(0, 0, n - k1, k1, kb, -1.0, t, BLOCK, a + (size_t)k0 * n, n, a + (size_t)k1 * n, n, 0, work);
    }
}

/* Reverses the order of the n*n elements of a, which maps element (i, j)
 * to (n-1-i, n-1-j). */
static void reverse_matrix(double *a, int n) {
    size_t total = (size_t)n * n;
#pragma omp parallel for schedule(static) if (total > (1u << 20))
    for (size_t i = 0; i < total / 2; i++) {
        double tmp = a[i];
        a[i] = a[total - 1 - i];
        a[total - 1 - i] = tmp;
    }
}

static int check_permutation(const int *perm, int d, flx_error *err) {
    unsigned char *seen = flx_calloc((size_t)d, 1, err);
    if (!seen) return -1;
    int rc = 0;
    for (int i = 0; i < d && rc == 0; i++) {
        if (perm[i] < 0 || perm[i] >= d)
            rc = flx_fail(err, "column order entry %d is %d: expected 0 to %d", i, perm[i], d - 1);
        else if (seen[perm[i]]++)
            rc = flx_fail(err, "column order lists column %d twice (at entry %d)", perm[i], i);
    }
    free(seen);
    return rc;
}

/* The factor comes from the reversed matrix M = J A J (J reverses the
 * order): with M = L L^T, A = (J L J)(J L J)^T where J L J is upper
 * triangular, so A^{-1} = U^T U with U = J L^{-1} J. That takes one
 * Cholesky factorization and one triangular inverse, 2/3 d^3 flops. */
int flx_hessian_inverse_factor(const flx_hessian *h, const int *perm, double damp, double *u,
                               flx_error *err) {
    if (h->n <= 0) return flx_fail(err, "Hessian has no inputs; add calibration activations first");
    if (!(damp >= 0.0) || !isfinite(damp))
        return flx_fail(err, "Hessian damping %g: expected a finite fraction >= 0 of the mean diagonal", damp);
    int d = h->d;
    if (perm && check_permutation(perm, d, err) != 0) return -1;

    double scale = 2.0 / (double)h->n;
    double *diag = flx_malloc((size_t)d * sizeof(double), err);
    if (!diag) return -1;
    double live_sum = 0.0;
    int n_live = 0;
    for (int i = 0; i < d; i++) {
        double v = hessian_at(h, scale, i, i);
        if (v > 0.0) {
            live_sum += v;
            n_live++;
        }
    }
    double lambda = damp * (n_live > 0 ? live_sum / n_live : 1.0);
    /* Diagonal of A in processing order, with dead columns set to 1. */
    for (int a = 0; a < d; a++) {
        int i = perm ? perm[a] : a;
        double v = hessian_at(h, scale, i, i);
        diag[a] = (v > 0.0 ? v : 1.0) + lambda;
    }

    /* M[a][b] = A[d-1-a][d-1-b], and diag0 gets M's diagonal. */
#pragma omp parallel for schedule(static) if ((double)d * d > 1e6)
    for (int a = 0; a < d; a++) {
        int ra = d - 1 - a;
        int i = perm ? perm[ra] : ra;
        double *row = u + (size_t)a * d;
        for (int b = 0; b < d; b++) {
            int rb = d - 1 - b;
            row[b] = ra == rb ? diag[ra] : hessian_at(h, scale, i, perm ? perm[rb] : rb);
        }
    }
    double *diag0 = flx_malloc((size_t)d * sizeof(double), err);
    double *work = diag0 ? alloc_gemm_work(err) : NULL;
    double *dinv = work ? flx_malloc((size_t)BLOCK * BLOCK * sizeof(double), err) : NULL;
    double *t = dinv ? flx_malloc((size_t)d * BLOCK * sizeof(double), err) : NULL;
    int rc = -1;
    if (!t) goto done;
    for (int a = 0; a < d; a++) diag0[a] = diag[d - 1 - a];

    int bad = -1;
    double pivot = 0.0;
    if (cholesky_lower(u, d, diag0, work, dinv, t, &bad, &pivot) != 0) {
        int a = d - 1 - bad;
        rc = flx_fail(err,
                      "damped Hessian is not positive definite: column %d (position %d in processing "
                      "order) leaves pivot %g of diagonal %g; raise the damping above %g",
                      perm ? perm[a] : a, a, pivot, diag0[bad], damp);
        goto done;
    }
    for (int i = 0; i < d; i++) memset(u + (size_t)i * d + i + 1, 0, (size_t)(d - 1 - i) * sizeof(double));
    invert_lower(u, d, work, dinv, t);
    reverse_matrix(u, d);
    rc = 0;
done:
    free(t);
    free(dinv);
    free(work);
    free(diag0);
    free(diag);
    return rc;
}
