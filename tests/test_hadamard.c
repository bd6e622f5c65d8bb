/* Hadamard matrices and transforms: H H^T = n I for every supported order
 * (exactly, in integers), the Sylvester natural order, the randomized
 * matrix, the fast transforms against dense products, and the R3
 * invariance of Q K^T. Built twice: test_hadamard checks the orders up to
 * 2048, test_hadamard_all (HADAMARD_ALL_ORDERS) those up to 128 and from
 * 2049 to 8192. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kernels/elementwise.h"
#include "quant/hadamard.h"

#ifdef HADAMARD_ALL_ORDERS
#define EXACT_CHECK_FIRST 2049
#define EXACT_CHECK_LIMIT 8192
#else
#define EXACT_CHECK_FIRST 129
#define EXACT_CHECK_LIMIT 2048
#endif

/* Test-local xorshift64 generator, independent of the library's. */
static uint64_t rng_state = 0x2545f4914f6cdd1dull;
static uint64_t rng_next(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static double rng_uniform(void) { return (double)(rng_next() >> 11) * 0x1p-53 * 2.0 - 1.0; }

/* Returns the +-1 entries of H [n][n] in a buffer that the next call
 * reuses, so the order sweeps allocate once. */
static int8_t *signs_of(int n) {
    static int8_t *buffer;
    static size_t capacity;
    flx_error err;
    if ((size_t)n * n > capacity) {
        free(buffer);
        capacity = (size_t)n * n;
        buffer = malloc(capacity);
        if (!buffer) {
            capacity = 0;
            fprintf(stderr, "order %d: out of memory\n", n);
            return NULL;
        }
    }
    if (flx_hadamard_signs(n, buffer, &err) != 0) {
        fprintf(stderr, "order %d: %s\n", n, err.msg);
        return NULL;
    }
    return buffer;
}

/* Every entry is +-1 and every pair of rows is orthogonal: H H^T = n I. */
static void check_gram_exact(int n) {
    int8_t *h = signs_of(n);
    CHECK(h != NULL);
    if (!h) return;
    int bad_entries = 0, bad_products = 0;
    for (size_t i = 0; i < (size_t)n * n; i++) bad_entries += h[i] != 1 && h[i] != -1;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            long dot = 0;
            for (int k = 0; k < n; k++) dot += h[(size_t)i * n + k] * h[(size_t)j * n + k];
            bad_products += dot != (i == j ? n : 0);
        }
    if (bad_entries || bad_products)
        fprintf(stderr, "order %d: %d entries not +-1, %d wrong entries of H H^T\n", n, bad_entries, bad_products);
    CHECK_INT_EQ(bad_entries, 0);
    CHECK_INT_EQ(bad_products, 0);
}

/* One pass over H: for three random integer vectors x with entries in
 * [-1000, 1000], |H x|^2 == n |x|^2 exactly. x^T (H^T H - n I) x is a
 * nonzero quadratic polynomial in x unless H^T H = n I, so a wrong matrix
 * passes each vector with probability at most 2/2001. */
static void check_norms_exact(int n) {
    int8_t *h = signs_of(n);
    int32_t *x = malloc(3 * (size_t)n * sizeof *x);
    CHECK(h != NULL && x != NULL);
    if (!h || !x) {
        free(x);
        return;
    }
    int64_t want[3] = {0, 0, 0}, got[3] = {0, 0, 0};
    for (int v = 0; v < 3; v++)
        for (int i = 0; i < n; i++) {
            x[v * n + i] = (int32_t)(rng_next() % 2001) - 1000;
            want[v] += (int64_t)x[v * n + i] * x[v * n + i];
        }
    int bad_entries = 0;
    int64_t got0 = 0, got1 = 0, got2 = 0;
#pragma omp parallel for schedule(static) reduction(+ : bad_entries, got0, got1, got2)
    for (int i = 0; i < n; i++) {
        const int8_t *row = h + (size_t)i * n;
        /* |y| <= 1000 n fits int32 for n <= 8192. */
        int32_t y0 = 0, y1 = 0, y2 = 0, bad = 0;
        for (int j = 0; j < n; j++) {
            bad += row[j] * row[j] != 1;
            y0 += row[j] * x[j];
            y1 += row[j] * x[n + j];
            y2 += row[j] * x[2 * n + j];
        }
        bad_entries += bad;
        got0 += (int64_t)y0 * y0;
        got1 += (int64_t)y1 * y1;
        got2 += (int64_t)y2 * y2;
    }
    got[0] = got0;
    got[1] = got1;
    got[2] = got2;
    for (int v = 0; v < 3; v++) {
        if (got[v] != want[v] * n) fprintf(stderr, "order %d: |Hx|^2 = %lld, expected %lld\n", n,
                                           (long long)got[v], (long long)(want[v] * n));
        CHECK(got[v] == want[v] * n);
    }
    CHECK_INT_EQ(bad_entries, 0);
    free(x);
}

static void test_supported_orders(void) {
    int yes[] = {1, 2, 4, 8, 12, 20, 24, 28, 36, 40, 44, 48, 52, 60, 64, 100, 108, 140, 244, 8192, 1 << 20};
    int no[] = {0, -4, 3, 6, 10, 14, 92, 116, 156, 172, 184, 188, 232, 236, 2 << 20};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) CHECK_INT_EQ(flx_hadamard_supported(yes[i]), 1);
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) CHECK_INT_EQ(flx_hadamard_supported(no[i]), 0);
    /* A Hadamard matrix of order n > 2 exists only when 4 divides n. */
    int wrong = 0;
    for (int n = 3; n <= 70000; n++) wrong += flx_hadamard_supported(n) && n % 4 != 0;
    CHECK_INT_EQ(wrong, 0);
    for (int k = 0; k <= 20; k++) CHECK_INT_EQ(flx_hadamard_supported(1 << k), 1);

    flx_error err;
    double dummy[4];
    CHECK_INT_EQ(flx_hadamard_matrix(172, NULL, &err), -1);
    CHECK(strstr(err.msg, "order 172") != NULL);
    CHECK(strstr(err.msg, "random orthogonal") != NULL);
    flx_hadamard h;
    CHECK_INT_EQ(flx_hadamard_init(&h, 0, &err), -1);
    CHECK(strstr(err.msg, "order 0") != NULL);
    CHECK_INT_EQ(flx_hadamard_random_matrix(0, 1, dummy, &err), -1);
    CHECK(strstr(err.msg, "order 0") != NULL);

    char text[96];
    CHECK_INT_EQ(flx_hadamard_init(&h, 40, &err), 0);
    flx_hadamard_describe(&h, text, sizeof text);
    CHECK(strcmp(text, "paley1(q=19) x sylvester(2)") == 0);
    flx_hadamard_free(&h);
    CHECK_INT_EQ(flx_hadamard_init(&h, 36, &err), 0);
    flx_hadamard_describe(&h, text, sizeof text);
    CHECK(strcmp(text, "paley2(q=17) x sylvester(1)") == 0);
    flx_hadamard_free(&h);
}

static void test_orthogonal_every_order(void) {
    int checked = 0;
    for (int n = 1; n <= 128; n++)
        if (flx_hadamard_supported(n)) {
            check_gram_exact(n);
            checked++;
        }
    for (int n = EXACT_CHECK_FIRST; n <= EXACT_CHECK_LIMIT; n++)
        if (flx_hadamard_supported(n)) {
            check_norms_exact(n);
            checked++;
        }
    fprintf(stderr, "checked H H^T = n I for %d orders up to %d\n", checked, EXACT_CHECK_LIMIT);
    CHECK(checked > 0);
}

/* The Walsh-Hadamard transform of the engines uses the natural order. */
static void test_sylvester_natural_order(void) {
    int n = 64;
    int8_t *h = signs_of(n);
    CHECK(h != NULL);
    if (!h) return;
    int wrong = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            int parity = 0;
            for (int bits = i & j; bits; bits >>= 1) parity ^= bits & 1;
            wrong += h[i * n + j] != (parity ? -1 : 1);
        }
    CHECK_INT_EQ(wrong, 0);
}

static void test_normalized_and_randomized(void) {
    int orders[] = {12, 64, 100};
    for (size_t t = 0; t < sizeof orders / sizeof orders[0]; t++) {
        int n = orders[t];
        int8_t *h = signs_of(n);
        double *q = malloc((size_t)n * n * sizeof *q), *qr = malloc((size_t)n * n * sizeof *qr);
        int8_t *d = malloc((size_t)n);
        flx_error err;
        CHECK(h && q && qr && d);
        if (!h || !q || !qr || !d) return;
        CHECK_INT_EQ(flx_hadamard_matrix(n, q, &err), 0);
        CHECK_INT_EQ(flx_hadamard_random_matrix(n, 7, qr, &err), 0);
        flx_hadamard_random_signs(n, 7, d);
        double worst_q = 0, worst_qr = 0, worst_gram = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                worst_q = fmax(worst_q, fabs(q[i * n + j] - h[i * n + j] / sqrt(n)));
                worst_qr = fmax(worst_qr, fabs(qr[i * n + j] - h[i * n + j] * d[j] / sqrt(n)));
                double dot = 0;
                for (int k = 0; k < n; k++) dot += qr[k * n + i] * qr[k * n + j];
                worst_gram = fmax(worst_gram, fabs(dot - (i == j)));
            }
        CHECK(worst_q <= 1e-15);
        CHECK(worst_qr <= 1e-15);
        CHECK(worst_gram <= 1e-12);
        free(q);
        free(qr);
        free(d);
    }

    /* The random diagonal depends on the seed and is balanced. */
    int n = 4096;
    int8_t *a = malloc((size_t)n), *b = malloc((size_t)n), *c = malloc((size_t)n);
    CHECK(a && b && c);
    if (!a || !b || !c) return;
    flx_hadamard_random_signs(n, 1, a);
    flx_hadamard_random_signs(n, 1, b);
    flx_hadamard_random_signs(n, 2, c);
    int negative = 0, same = 0, differ = 0;
    for (int i = 0; i < n; i++) {
        negative += a[i] == -1;
        same += a[i] == b[i];
        differ += a[i] != c[i];
        CHECK(a[i] == 1 || a[i] == -1);
    }
    CHECK_INT_EQ(same, n);
    CHECK(negative > n / 2 - 200);
    CHECK(negative < n / 2 + 200);
    CHECK(differ > n / 2 - 200);
    CHECK(differ < n / 2 + 200);
    free(a);
    free(b);
    free(c);
}

/* y = H x / sqrt(n) (or H^T) in double from the +-1 entries. */
static void dense_product(const int8_t *h, int n, const double *x, double *y, int transpose) {
    for (int i = 0; i < n; i++) {
        double sum = 0;
        for (int j = 0; j < n; j++) sum += (transpose ? h[(size_t)j * n + i] : h[(size_t)i * n + j]) * x[j];
        y[i] = sum / sqrt(n);
    }
}

static void test_fast_transforms(void) {
    /* Power-of-two transforms against the dense Sylvester product. */
    for (int n = 1; n <= 8192; n *= 2) {
        int8_t *h = signs_of(n);
        double *x = malloc((size_t)n * sizeof *x), *want = malloc((size_t)n * sizeof *want);
        double *x64 = malloc((size_t)n * sizeof *x64);
        float *x32 = malloc((size_t)n * sizeof *x32);
        CHECK(h && x && want && x64 && x32);
        if (!h || !x || !want || !x64 || !x32) return;
        for (int i = 0; i < n; i++) {
            x32[i] = (float)rng_uniform();
            x[i] = x64[i] = x32[i];
        }
        dense_product(h, n, x, want, 0);
        flx_fwht_f32(x32, n);
        flx_fwht_f64(x64, n);
        double scale = 0, err32 = 0, err64 = 0;
        for (int i = 0; i < n; i++) {
            scale = fmax(scale, fabs(want[i]));
            err32 = fmax(err32, fabs(x32[i] - want[i]));
            err64 = fmax(err64, fabs(x64[i] - want[i]));
        }
        if (err32 > 1e-5 * scale || err64 > 1e-12 * scale)
            fprintf(stderr, "fwht n=%d: float error %g, double error %g, scale %g\n", n, err32, err64, scale);
        CHECK(err32 <= 1e-5 * scale);
        CHECK(err64 <= 1e-12 * scale);
        free(x);
        free(want);
        free(x64);
        free(x32);
    }

    /* Factored transforms (H_m (x) H_2^k) and their transposes. */
    int orders[] = {2, 12, 20, 24, 28, 36, 40, 44, 48, 52, 96, 100, 344, 1000, 2000};
    for (size_t t = 0; t < sizeof orders / sizeof orders[0]; t++) {
        int n = orders[t];
        int8_t *h = signs_of(n);
        double *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
        double *want = malloc((size_t)n * sizeof *want), *work = malloc((size_t)n * sizeof *work);
        flx_hadamard plan;
        flx_error err;
        CHECK(h && x && y && want && work);
        if (!h || !x || !y || !want || !work) return;
        CHECK_INT_EQ(flx_hadamard_init(&plan, n, &err), 0);
        for (int transpose = 0; transpose <= 1; transpose++) {
            for (int i = 0; i < n; i++) x[i] = y[i] = rng_uniform();
            dense_product(h, n, x, want, transpose);
            flx_hadamard_apply(&plan, y, work, transpose);
            double worst = 0;
            for (int i = 0; i < n; i++) worst = fmax(worst, fabs(y[i] - want[i]));
            if (worst > 1e-12) fprintf(stderr, "order %d transpose %d: error %g\n", n, transpose, worst);
            CHECK(worst <= 1e-12);
        }
        flx_hadamard_free(&plan);
        free(x);
        free(y);
        free(want);
        free(work);
    }
}

/* flx_fwht_f32 runs the engines' butterflies, so the results are equal. */
static void test_matches_engine_kernel(void) {
    static float a[FLX_MAX_FFN], b[FLX_MAX_FFN];
    for (int log2n = 0; (1 << log2n) <= FLX_MAX_FFN; log2n++) {
        int n = 1 << log2n;
        for (int i = 0; i < n; i++) a[i] = b[i] = (float)rng_uniform();
        flx_fwht_f32(a, n);
        flx_fwht_kernel(b, log2n);
        CHECK(memcmp(a, b, (size_t)n * sizeof *a) == 0);
    }
}

/* R3: the same normalized transform on every head of Q and K keeps every
 * score q . k, so it needs no change of the weights. */
static void test_r3_keeps_scores(void) {
    int head_dim = 64, n_heads = 4;
    float q[4 * 64], k[4 * 64], qh[4 * 64], kh[4 * 64];
    for (int i = 0; i < n_heads * head_dim; i++) {
        qh[i] = q[i] = (float)rng_uniform();
        kh[i] = k[i] = (float)(rng_uniform() * 3.0);
    }
    for (int h = 0; h < n_heads; h++) {
        flx_fwht_f32(qh + h * head_dim, head_dim);
        flx_fwht_f32(kh + h * head_dim, head_dim);
    }
    for (int hq = 0; hq < n_heads; hq++)
        for (int hk = 0; hk < n_heads; hk++) {
            double before = 0, after = 0;
            for (int i = 0; i < head_dim; i++) {
                before += (double)q[hq * head_dim + i] * k[hk * head_dim + i];
                after += (double)qh[hq * head_dim + i] * kh[hk * head_dim + i];
            }
            CHECK_NEAR(after, before, 1e-5);
        }
}

int main(void) {
    test_supported_orders();
    test_sylvester_natural_order();
    test_normalized_and_randomized();
    test_fast_transforms();
    test_matches_engine_kernel();
    test_r3_keeps_scores();
    test_orthogonal_every_order();
#ifdef HADAMARD_ALL_ORDERS
    return flx_check_report("test_hadamard_all");
#else
    return flx_check_report("test_hadamard");
#endif
}
