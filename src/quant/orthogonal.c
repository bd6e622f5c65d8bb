#include "quant/orthogonal.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define ORTHO_PI 3.14159265358979323846

uint64_t flx_rotation_rng_next(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Standard normal values by the Box-Muller transform, two per draw. */
static void gaussian_fill(double *a, size_t count, uint64_t seed) {
    uint64_t state = seed;
    for (size_t i = 0; i < count; i += 2) {
        double u1 = (double)((flx_rotation_rng_next(&state) >> 11) + 1) * 0x1p-53; /* (0, 1] */
        double u2 = (double)(flx_rotation_rng_next(&state) >> 11) * 0x1p-53;       /* [0, 1) */
        double radius = sqrt(-2.0 * log(u1));
        a[i] = radius * cos(2.0 * ORTHO_PI * u2);
        if (i + 1 < count) a[i + 1] = radius * sin(2.0 * ORTHO_PI * u2);
    }
}

static int check_order(int n, const char *matrix_name, flx_error *err) {
    if (n < 1 || n > FLX_ORTHOGONAL_MAX_ORDER)
        return flx_fail(err, "%s of order %d: expected 1 to %d", matrix_name, n, FLX_ORTHOGONAL_MAX_ORDER);
    return 0;
}

/* Applies the reflector I - beta v v^T (v nonzero from row k on) to the
 * columns first..n-1 of m [n][n]. v[k] is vk and v[i] for i > k is
 * v_col[i * n]; v_col must not lie in the columns being changed. */
static void reflect_columns(double *m, int n, int k, int first, double vk, const double *v_col,
                            double beta) {
    const int block = 64;
#pragma omp parallel for schedule(static) if (n - first >= 128)
    for (int j0 = first; j0 < n; j0 += block) {
        int j1 = j0 + block < n ? j0 + block : n;
        double w[64];
        for (int j = j0; j < j1; j++) w[j - j0] = vk * m[(size_t)k * n + j];
        for (int i = k + 1; i < n; i++) {
            double vi = v_col[(size_t)i * n];
            const double *row = m + (size_t)i * n;
            for (int j = j0; j < j1; j++) w[j - j0] += vi * row[j];
        }
        for (int j = j0; j < j1; j++) m[(size_t)k * n + j] -= beta * vk * w[j - j0];
        for (int i = k + 1; i < n; i++) {
            double scaled = beta * v_col[(size_t)i * n];
            double *row = m + (size_t)i * n;
            for (int j = j0; j < j1; j++) row[j] -= scaled * w[j - j0];
        }
    }
}

int flx_orthogonal_random(int n, uint64_t seed, double *q, flx_error *err) {
    if (check_order(n, "random orthogonal matrix", err) != 0) return -1;
    size_t nn = (size_t)n * n;
    double *a = flx_malloc(nn * sizeof *a, err);
    double *vk = flx_malloc((size_t)n * sizeof *vk, err);
    double *beta = flx_malloc((size_t)n * sizeof *beta, err);
    double *rdiag = flx_malloc((size_t)n * sizeof *rdiag, err);
    if (!a || !vk || !beta || !rdiag) {
        free(a);
        free(vk);
        free(beta);
        free(rdiag);
        return -1;
    }
    gaussian_fill(a, nn, seed);

    /* Householder QR: reflector k maps column k (rows k..n-1) onto
     * alpha e_k. Its vector stays in column k below the diagonal (R is zero
     * there), with the diagonal element in vk[k]. */
    for (int k = 0; k < n; k++) {
        double tail2 = 0.0;
        for (int i = k + 1; i < n; i++) tail2 += a[(size_t)i * n + k] * a[(size_t)i * n + k];
        double x0 = a[(size_t)k * n + k];
        double norm = sqrt(x0 * x0 + tail2);
        double alpha = x0 > 0.0 ? -norm : norm;
        vk[k] = x0 - alpha; /* the sign of alpha avoids cancellation here */
        double vnorm2 = vk[k] * vk[k] + tail2;
        beta[k] = (k == n - 1 || vnorm2 <= 0.0) ? 0.0 : 2.0 / vnorm2;
        if (beta[k] == 0.0) {
            rdiag[k] = x0;
            continue;
        }
        /* Column k itself becomes alpha e_k; only its diagonal is kept. */
        reflect_columns(a, n, k, k + 1, vk[k], a + k, beta[k]);
        a[(size_t)k * n + k] = alpha;
        rdiag[k] = alpha;
    }

    /* Q = H_0 H_1 ... H_(n-1): apply the reflectors to I from the last. */
    memset(q, 0, nn * sizeof *q);
    for (int i = 0; i < n; i++) q[(size_t)i * n + i] = 1.0;
    for (int k = n - 1; k >= 0; k--)
        if (beta[k] != 0.0) reflect_columns(q, n, k, k, vk[k], a + k, beta[k]);

    /* A = (Q D)(D R) with D = diag(sign(R_kk)) gives R a positive diagonal. */
    for (int k = 0; k < n; k++)
        if (rdiag[k] < 0.0)
            for (int i = 0; i < n; i++) q[(size_t)i * n + k] = -q[(size_t)i * n + k];
    free(a);
    free(vk);
    free(beta);
    free(rdiag);
    return 0;
}

double flx_orthogonal_error(const double *q, int n) {
    double worst = 0.0;
    bool out_of_memory = false;
#pragma omp parallel
    {
        double *gram_row = malloc((size_t)n * sizeof *gram_row);
        double local = 0.0;
        if (!gram_row) {
#pragma omp atomic write
            out_of_memory = true;
        }
#pragma omp for schedule(dynamic, 8)
        for (int i = 0; i < n; i++) {
            if (!gram_row) continue;
            memset(gram_row, 0, (size_t)n * sizeof *gram_row);
            for (int k = 0; k < n; k++) {
                double qki = q[(size_t)k * n + i];
                const double *qk = q + (size_t)k * n;
                for (int j = 0; j < n; j++) gram_row[j] += qki * qk[j];
            }
            for (int j = 0; j < n; j++) {
                double dev = fabs(gram_row[j] - (i == j ? 1.0 : 0.0));
                if (!(dev <= local)) local = dev; /* NaN propagates as the worst */
            }
        }
        free(gram_row);
#pragma omp critical
        if (!(local <= worst)) worst = local;
    }
    return out_of_memory ? INFINITY : worst;
}

int flx_rotation_init_dense(flx_rotation *r, int n, const double *q, flx_error *err) {
    memset(r, 0, sizeof *r);
    if (check_order(n, "orthogonal matrix", err) != 0) return -1;
    r->n = n;
    r->matrix = flx_malloc((size_t)n * n * sizeof *r->matrix, err);
    if (!r->matrix) return -1;
    memcpy(r->matrix, q, (size_t)n * n * sizeof *q);
    return 0;
}

int flx_rotation_init_random(flx_rotation *r, int n, uint64_t seed, flx_error *err) {
    memset(r, 0, sizeof *r);
    if (check_order(n, "random orthogonal matrix", err) != 0) return -1;
    r->n = n;
    r->matrix = flx_malloc((size_t)n * n * sizeof *r->matrix, err);
    if (!r->matrix) return -1;
    if (flx_orthogonal_random(n, seed, r->matrix, err) != 0) {
        flx_rotation_free(r);
        return -1;
    }
    return 0;
}

int flx_rotation_init_hadamard(flx_rotation *r, int n, uint64_t seed, flx_error *err) {
    memset(r, 0, sizeof *r);
    if (flx_hadamard_init(&r->hadamard, n, err) != 0) return -1;
    r->n = n;
    r->signs = flx_malloc((size_t)n, err);
    if (!r->signs) {
        flx_rotation_free(r);
        return -1;
    }
    flx_hadamard_random_signs(n, seed, r->signs);
    return 0;
}

void flx_rotation_free(flx_rotation *r) {
    if (!r) return;
    free(r->matrix);
    free(r->signs);
    flx_hadamard_free(&r->hadamard);
    memset(r, 0, sizeof *r);
}

int flx_rotation_to_matrix(const flx_rotation *r, double *out, flx_error *err) {
    int n = r->n;
    if (r->matrix) {
        memcpy(out, r->matrix, (size_t)n * n * sizeof *out);
        return 0;
    }
    int8_t *h = flx_malloc((size_t)n * n, err);
    if (!h) return -1;
    if (flx_hadamard_signs(n, h, err) != 0) {
        free(h);
        return -1;
    }
    double norm = 1.0 / sqrt((double)n);
    for (size_t i = 0; i < (size_t)n; i++)
        for (size_t j = 0; j < (size_t)n; j++) out[i * n + j] = h[i * n + j] * r->signs[j] * norm;
    free(h);
    return 0;
}

void flx_rotation_apply_transpose(const flx_rotation *r, double *x, double *work) {
    int n = r->n;
    if (r->matrix) {
        memset(work, 0, (size_t)n * sizeof *work);
        for (int k = 0; k < n; k++) {
            const double *qk = r->matrix + (size_t)k * n;
            for (int j = 0; j < n; j++) work[j] += qk[j] * x[k];
        }
        memcpy(x, work, (size_t)n * sizeof *x);
        return;
    }
    /* Q^T = D H^T / sqrt(n). */
    flx_hadamard_apply(&r->hadamard, x, work, true);
    for (int j = 0; j < n; j++) x[j] *= r->signs[j];
}

/* Rows per block of the dense product W Q: each row of Q is reused this
 * many times while it is in cache. */
#define RIGHT_BLOCK 8

int flx_rotation_right(const flx_rotation *r, float *w, size_t rows, size_t row_stride, flx_error *err) {
    int n = r->n;
    bool out_of_memory = false;
#pragma omp parallel
    {
        double *buf = malloc((size_t)(RIGHT_BLOCK + 1) * n * sizeof *buf);
        if (!buf) {
#pragma omp atomic write
            out_of_memory = true;
        }
#pragma omp for schedule(dynamic, 1)
        for (size_t r0 = 0; r0 < rows; r0 += RIGHT_BLOCK) {
            if (!buf) continue;
            size_t r1 = r0 + RIGHT_BLOCK < rows ? r0 + RIGHT_BLOCK : rows;
            if (!r->matrix) {
                /* Row i <- (Q^T row_i^T)^T, one row at a time. */
                for (size_t i = r0; i < r1; i++) {
                    float *row = w + i * row_stride;
                    for (int j = 0; j < n; j++) buf[j] = row[j];
                    flx_rotation_apply_transpose(r, buf, buf + n);
                    for (int j = 0; j < n; j++) row[j] = (float)buf[j];
                }
                continue;
            }
            memset(buf, 0, (r1 - r0) * n * sizeof *buf);
            for (int k = 0; k < n; k++) {
                const double *qk = r->matrix + (size_t)k * n;
                for (size_t i = r0; i < r1; i++) {
                    double a = w[i * row_stride + k];
                    double *acc = buf + (i - r0) * n;
                    for (int j = 0; j < n; j++) acc[j] += a * qk[j];
                }
            }
            for (size_t i = r0; i < r1; i++)
                for (int j = 0; j < n; j++) w[i * row_stride + j] = (float)buf[(i - r0) * n + j];
        }
        free(buf);
    }
    if (out_of_memory) return flx_fail(err, "out of memory rotating a matrix of order %d", n);
    return 0;
}

/* Columns per block of Q^T W. */
#define LEFT_BLOCK 32

int flx_rotation_left_transpose(const flx_rotation *r, float *w, size_t cols, flx_error *err) {
    int n = r->n;
    bool out_of_memory = false;
#pragma omp parallel
    {
        /* Dense: acc [n][LEFT_BLOCK]. Hadamard: columns as rows [LEFT_BLOCK][n] plus work [n]. */
        double *buf = malloc((size_t)(LEFT_BLOCK + 1) * n * sizeof *buf);
        if (!buf) {
#pragma omp atomic write
            out_of_memory = true;
        }
#pragma omp for schedule(dynamic, 1)
        for (size_t c0 = 0; c0 < cols; c0 += LEFT_BLOCK) {
            if (!buf) continue;
            size_t width = c0 + LEFT_BLOCK < cols ? LEFT_BLOCK : cols - c0;
            if (!r->matrix) {
                for (int k = 0; k < n; k++)
                    for (size_t c = 0; c < width; c++) buf[c * n + k] = w[(size_t)k * cols + c0 + c];
                for (size_t c = 0; c < width; c++)
                    flx_rotation_apply_transpose(r, buf + c * n, buf + (size_t)LEFT_BLOCK * n);
                for (int k = 0; k < n; k++)
                    for (size_t c = 0; c < width; c++) w[(size_t)k * cols + c0 + c] = (float)buf[c * n + k];
                continue;
            }
            /* out[j][c] = sum_k Q[k][j] W[k][c] */
            memset(buf, 0, (size_t)n * LEFT_BLOCK * sizeof *buf);
            for (int k = 0; k < n; k++) {
                const float *wk = w + (size_t)k * cols + c0;
                const double *qk = r->matrix + (size_t)k * n;
                for (int j = 0; j < n; j++) {
                    double qkj = qk[j];
                    double *acc = buf + (size_t)j * LEFT_BLOCK;
                    for (size_t c = 0; c < width; c++) acc[c] += qkj * wk[c];
                }
            }
            for (int j = 0; j < n; j++)
                for (size_t c = 0; c < width; c++) w[(size_t)j * cols + c0 + c] = (float)buf[(size_t)j * LEFT_BLOCK + c];
        }
        free(buf);
    }
    if (out_of_memory) return flx_fail(err, "out of memory rotating a matrix of order %d", n);
    return 0;
}
