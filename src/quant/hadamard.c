#include "quant/hadamard.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant/orthogonal.h"

int flx_is_pow2(int n) { return n > 0 && (n & (n - 1)) == 0; }

/* Stores p and k when q = p^k for a prime p, and returns 1; else 0. */
static int prime_power(int q, int *p_out, int *k_out) {
    if (q < 2) return 0;
    int p = q;
    for (int d = 2; (long long)d * d <= q; d++)
        if (q % d == 0) {
            p = d;
            break;
        }
    int k = 0;
    while (q % p == 0) {
        q /= p;
        k++;
    }
    if (q != 1) return 0;
    *p_out = p;
    *k_out = k;
    return 1;
}

/* Paley construction that gives a Hadamard matrix of order m, or NONE. */
static flx_hadamard_construction paley_kind(int m, int *q_out) {
    int p, k;
    if (m < 4 || m % 4 != 0) return FLX_HADAMARD_NONE;
    if (prime_power(m - 1, &p, &k) && (m - 1) % 4 == 3) {
        *q_out = m - 1;
        return FLX_HADAMARD_PALEY1;
    }
    if (prime_power(m / 2 - 1, &p, &k) && (m / 2 - 1) % 4 == 1) {
        *q_out = m / 2 - 1;
        return FLX_HADAMARD_PALEY2;
    }
    return FLX_HADAMARD_NONE;
}

/* Splits n into base * pow2 with the smallest Paley base, or base 1. */
static flx_hadamard_construction factor_order(int n, int *base, int *q) {
    if (n < 1 || n > FLX_HADAMARD_MAX_ORDER) return FLX_HADAMARD_NONE;
    if (flx_is_pow2(n)) {
        *base = 1;
        *q = 0;
        return FLX_HADAMARD_SYLVESTER;
    }
    int pow2 = n & -n; /* largest power of two dividing n */
    for (; pow2 >= 1; pow2 /= 2) {
        flx_hadamard_construction kind = paley_kind(n / pow2, q);
        if (kind != FLX_HADAMARD_NONE) {
            *base = n / pow2;
            return kind;
        }
    }
    return FLX_HADAMARD_NONE;
}

int flx_hadamard_supported(int n) {
    int base, q;
    return factor_order(n, &base, &q) != FLX_HADAMARD_NONE;
}

/* The finite field GF(q), q = p^k, with elements numbered 0..q-1 by their
 * polynomial coefficients read as base-p digits. The Paley constructions
 * need only subtraction (digit by digit) and the quadratic character. */
typedef struct galois_field {
    int p, k, q;
    uint8_t *is_square; /* [q] 1 for the nonzero squares */
} galois_field;

/* Reduces the coefficients r[0..len-1] modulo the monic g of degree d (in
 * place, mod p); returns 1 when the remainder is zero. */
static int poly_rem_is_zero(long long *r, int len, const int *g, int d, int p) {
    for (int i = len - 1; i >= d; i--) {
        long long c = r[i] % p;
        r[i] = 0;
        if (c == 0) continue;
        for (int j = 0; j < d; j++) r[i - d + j] = ((r[i - d + j] - c * g[j]) % p + p) % p;
    }
    for (int i = 0; i < d && i < len; i++)
        if (r[i] % p != 0) return 0;
    return 1;
}

/* Finds a monic irreducible polynomial f of degree k over GF(p) by trial
 * division with every monic polynomial of degree 1..k/2. */
static void find_irreducible(int p, int k, int *f) {
    int count = 1;
    for (int i = 0; i < k; i++) count *= p;
    for (int t = 0; t < count; t++) {
        for (int i = 0, v = t; i < k; i++, v /= p) f[i] = v % p;
        f[k] = 1;
        if (f[0] == 0) continue; /* divisible by x */
        int irreducible = 1;
        for (int d = 1; d <= k / 2 && irreducible; d++) {
            int n_g = 1;
            for (int i = 0; i < d; i++) n_g *= p;
            for (int s = 0; s < n_g && irreducible; s++) {
                int g[32];
                for (int i = 0, v = s; i < d; i++, v /= p) g[i] = v % p;
                g[d] = 1;
                long long r[32];
                for (int i = 0; i <= k; i++) r[i] = f[i];
                if (poly_rem_is_zero(r, k + 1, g, d, p)) irreducible = 0;
            }
        }
        if (irreducible) return;
    }
}

static int galois_init(galois_field *gf, int q, flx_error *err) {
    memset(gf, 0, sizeof *gf);
    if (!prime_power(q, &gf->p, &gf->k))
        return flx_fail(err, "Paley construction: field order %d is not a prime power", q);
    gf->q = q;
    gf->is_square = flx_calloc((size_t)q, 1, err);
    if (!gf->is_square) return -1;
    int p = gf->p, k = gf->k;
    if (k == 1) {
        for (long long x = 1; x < q; x++) gf->is_square[(x * x) % q] = 1;
        return 0;
    }
    /* k > 1 means p <= sqrt(FLX_HADAMARD_MAX_ORDER), and k <= 20. */
    int f[32];
    find_irreducible(p, k, f);
    for (int x = 1; x < q; x++) {
        int digits[32];
        for (int i = 0, v = x; i < k; i++, v /= p) digits[i] = v % p;
        long long prod[64] = {0};
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++) prod[i + j] += (long long)digits[i] * digits[j];
        for (int i = 0; i < 2 * k - 1; i++) prod[i] %= p;
        poly_rem_is_zero(prod, 2 * k - 1, f, k, p);
        int square = 0;
        for (int i = k - 1; i >= 0; i--) square = square * p + (int)(prod[i] % p);
        gf->is_square[square] = 1;
    }
    return 0;
}

/* Quadratic character: 0 for 0, 1 for a nonzero square, -1 otherwise. */
static int galois_chi(const galois_field *gf, int x) {
    if (x == 0) return 0;
    return gf->is_square[x] ? 1 : -1;
}

/* Writes row i of the Jacobsthal matrix, J[i][j] = chi(e_i - e_j) for
 * j < q. For a prime q the row is the slice of neg_chi [2q] starting at
 * q - i, where neg_chi[y] = chi(-y mod q). */
static void jacobsthal_row(const galois_field *gf, const int8_t *neg_chi, int i, int8_t *row) {
    if (neg_chi) {
        memcpy(row, neg_chi + gf->q - i, (size_t)gf->q);
        return;
    }
    /* Prime power: step j through its base-p digits and update the digits
     * of d = e_i - e_j with them, so each entry costs O(1) on average. */
    int p = gf->p, k = gf->k;
    int j_digit[32] = {0}, d_digit[32], place[32], d = i;
    for (int t = 0, v = i, scale = 1; t < k; t++, v /= p, scale *= p) {
        d_digit[t] = v % p;
        place[t] = scale;
    }
    for (int j = 0; j < gf->q; j++) {
        row[j] = (int8_t)galois_chi(gf, d);
        for (int t = 0; t < k; t++) {
            int old = d_digit[t];
            j_digit[t] = j_digit[t] + 1 == p ? 0 : j_digit[t] + 1;
            d_digit[t] = old == 0 ? p - 1 : old - 1;
            d += (d_digit[t] - old) * place[t];
            if (j_digit[t] != 0) break; /* no carry into the next digit */
        }
    }
}

/* Returns neg_chi [2q] for a prime field; NULL for a prime power field or
 * when out of memory, and jacobsthal_row then computes each entry. */
static int8_t *neg_chi_table(const galois_field *gf) {
    if (gf->k != 1) return NULL;
    int q = gf->q;
    int8_t *t = malloc(2 * (size_t)q);
    if (!t) return NULL;
    for (int y = 0; y < 2 * q; y++) t[y] = (int8_t)galois_chi(gf, (q - y % q) % q);
    return t;
}

/* Paley I: H = I + S with S = [[0, 1^T], [-1, J]] of order q + 1, where
 * J[i][j] = chi(e_i - e_j) is antisymmetric because q = 3 mod 4. */
static int paley1_fill(const galois_field *gf, int8_t *h, flx_error *err) {
    int q = gf->q, m = q + 1;
    int8_t *neg_chi = neg_chi_table(gf);
    int8_t *jrow = flx_malloc((size_t)q, err);
    if (!jrow) {
        free(neg_chi);
        return -1;
    }
    for (int j = 0; j < m; j++) h[j] = 1;
    for (int i = 1; i < m; i++) {
        int8_t *row = h + (size_t)i * m;
        jacobsthal_row(gf, neg_chi, i - 1, jrow);
        row[0] = -1;
        memcpy(row + 1, jrow, (size_t)q);
        row[i] = 1; /* chi(0) + 1 */
    }
    free(jrow);
    free(neg_chi);
    return 0;
}

/* Paley II: the symmetric conference matrix C = [[0, 1^T], [1, J]] of
 * order q + 1 (J symmetric because q = 1 mod 4) with each 0 replaced by
 * [[1, -1], [-1, -1]] and each +-1 by +-[[1, 1], [1, -1]]. */
static int paley2_fill(const galois_field *gf, int8_t *h, flx_error *err) {
    int q = gf->q, c_order = q + 1, m = 2 * c_order;
    int8_t *neg_chi = neg_chi_table(gf);
    int8_t *crow = flx_malloc((size_t)c_order, err);
    if (!crow) {
        free(neg_chi);
        return -1;
    }
    for (int a = 0; a < c_order; a++) {
        if (a == 0) {
            memset(crow, 1, (size_t)c_order);
        } else {
            crow[0] = 1;
            jacobsthal_row(gf, neg_chi, a - 1, crow + 1);
        }
        crow[a] = 0;
        int8_t *top = h + (size_t)(2 * a) * m, *bottom = top + m;
        for (int b = 0; b < c_order; b++) {
            int c = crow[b];
            top[2 * b] = (int8_t)(c == 0 ? 1 : c);
            top[2 * b + 1] = (int8_t)(c == 0 ? -1 : c);
            bottom[2 * b] = (int8_t)(c == 0 ? -1 : c);
            bottom[2 * b + 1] = (int8_t)(c == 0 ? -1 : -c);
        }
    }
    free(crow);
    free(neg_chi);
    return 0;
}

int flx_hadamard_init(flx_hadamard *h, int n, flx_error *err) {
    memset(h, 0, sizeof *h);
    int base, q;
    flx_hadamard_construction kind = factor_order(n, &base, &q);
    if (kind == FLX_HADAMARD_NONE)
        return flx_fail(err,
                        "no Hadamard matrix of order %d is available (supported: 1, 2 and m * 2^k with "
                        "m = 1, q + 1 for a prime power q = 3 mod 4, or 2 (q + 1) for a prime power "
                        "q = 1 mod 4, up to %d); use a random orthogonal matrix instead",
                        n, FLX_HADAMARD_MAX_ORDER);
    h->n = n;
    h->base = base;
    h->pow2 = n / base;
    h->construction = kind;
    h->q = q;
    if (base == 1) return 0;

    galois_field gf;
    if (galois_init(&gf, q, err) != 0) return -1;
    h->base_signs = flx_malloc((size_t)base * base, err);
    if (!h->base_signs) {
        free(gf.is_square);
        return -1;
    }
    int rc = kind == FLX_HADAMARD_PALEY1 ? paley1_fill(&gf, h->base_signs, err)
                                         : paley2_fill(&gf, h->base_signs, err);
    free(gf.is_square);
    if (rc != 0) flx_hadamard_free(h);
    return rc;
}

void flx_hadamard_free(flx_hadamard *h) {
    if (!h) return;
    free(h->base_signs);
    memset(h, 0, sizeof *h);
}

void flx_hadamard_describe(const flx_hadamard *h, char *out, size_t out_size) {
    if (h->base == 1)
        snprintf(out, out_size, "sylvester(%d)", h->n);
    else
        snprintf(out, out_size, "paley%s(q=%d) x sylvester(%d)",
                 h->construction == FLX_HADAMARD_PALEY1 ? "1" : "2", h->q, h->pow2);
}

/* Unnormalized in-place Walsh-Hadamard butterflies of n = 2^k values. */
static void fwht_raw_f64(double *x, int n) {
    for (int span = 1; span < n; span *= 2)
        for (int i = 0; i < n; i += 2 * span)
            for (int j = i; j < i + span; j++) {
                double a = x[j], b = x[j + span];
                x[j] = a + b;
                x[j + span] = a - b;
            }
}

void flx_hadamard_apply(const flx_hadamard *h, double *x, double *work, bool transpose) {
    int m = h->base, p = h->pow2;
    for (int a = 0; a < m; a++) fwht_raw_f64(x + (size_t)a * p, p);

    /* Mix the m blocks of p values with H_m (or its transpose). */
    if (m > 1) {
        memset(work, 0, (size_t)h->n * sizeof *work);
        for (int a = 0; a < m; a++) {
            double *out = work + (size_t)a * p;
            for (int c = 0; c < m; c++) {
                int sign = transpose ? h->base_signs[(size_t)c * m + a] : h->base_signs[(size_t)a * m + c];
                const double *in = x + (size_t)c * p;
                if (sign > 0)
                    for (int b = 0; b < p; b++) out[b] += in[b];
                else
                    for (int b = 0; b < p; b++) out[b] -= in[b];
            }
        }
        memcpy(x, work, (size_t)h->n * sizeof *x);
    }

    double norm = 1.0 / sqrt((double)h->n);
    for (int i = 0; i < h->n; i++) x[i] *= norm;
}

int flx_hadamard_signs(int n, int8_t *out, flx_error *err) {
    flx_hadamard h;
    if (flx_hadamard_init(&h, n, err) != 0) return -1;
    int m = h.base, p = h.pow2;
    /* Row a * p + b is [H_m[a][c] * S_b for each c], S_b row b of H_p. */
#pragma omp parallel for schedule(dynamic, 16) if (n >= 256)
    for (int i = 0; i < n; i++) {
        int a = i / p, b = i % p;
        int8_t *row = out + (size_t)i * n;
        if (p == 1 && m > 1) {
            memcpy(row, h.base_signs + (size_t)a * m, (size_t)m);
            continue;
        }
        int8_t first_sign = m == 1 ? 1 : h.base_signs[(size_t)a * m];
        for (int d = 0; d < p; d++)
            row[d] = (int8_t)(((__builtin_popcount((unsigned)(b & d)) & 1) ? -1 : 1) * first_sign);
        for (int c = 1; c < m; c++) {
            int8_t sign = (int8_t)(h.base_signs[(size_t)a * m + c] * first_sign);
            int8_t *block = row + (size_t)c * p;
            for (int d = 0; d < p; d++) block[d] = (int8_t)(sign * row[d]);
        }
    }
    flx_hadamard_free(&h);
    return 0;
}

/* Fills out [n][n] with H diag(signs) / sqrt(n); signs NULL means all +1. */
static int scaled_matrix(int n, const int8_t *signs, double *out, flx_error *err) {
    size_t count;
    if (flx_mul_overflows((size_t)n, (size_t)n, &count))
        return flx_fail(err, "Hadamard matrix of order %d is too large", n);
    int8_t *h = flx_malloc(count, err);
    if (!h) return -1;
    if (flx_hadamard_signs(n, h, err) != 0) {
        free(h);
        return -1;
    }
    double norm = 1.0 / sqrt((double)n);
    for (size_t i = 0; i < (size_t)n; i++)
        for (size_t j = 0; j < (size_t)n; j++)
            out[i * n + j] = h[i * n + j] * (signs ? signs[j] : 1) * norm;
    free(h);
    return 0;
}

int flx_hadamard_matrix(int n, double *out, flx_error *err) { return scaled_matrix(n, NULL, out, err); }

void flx_hadamard_random_signs(int n, uint64_t seed, int8_t *signs) {
    uint64_t state = seed;
    for (int i = 0; i < n; i++) signs[i] = (flx_rotation_rng_next(&state) >> 63) ? -1 : 1;
}

int flx_hadamard_random_matrix(int n, uint64_t seed, double *out, flx_error *err) {
    if (n < 1 || n > FLX_HADAMARD_MAX_ORDER)
        return flx_fail(err, "randomized Hadamard matrix of order %d: expected 1 to %d", n,
                        FLX_HADAMARD_MAX_ORDER);
    int8_t *signs = flx_malloc((size_t)n, err);
    if (!signs) return -1;
    flx_hadamard_random_signs(n, seed, signs);
    int rc = scaled_matrix(n, signs, out, err);
    free(signs);
    return rc;
}

void flx_fwht_f32(float *x, int n) {
    for (int span = 1; span < n; span *= 2)
        for (int i = 0; i < n; i += 2 * span)
            for (int j = i; j < i + span; j++) {
                float a = x[j], b = x[j + span];
                x[j] = a + b;
                x[j + span] = a - b;
            }
    float norm = 1.0f / sqrtf((float)n);
    for (int i = 0; i < n; i++) x[i] *= norm;
}

void flx_fwht_f64(double *x, int n) {
    fwht_raw_f64(x, n);
    double norm = 1.0 / sqrt((double)n);
    for (int i = 0; i < n; i++) x[i] *= norm;
}
