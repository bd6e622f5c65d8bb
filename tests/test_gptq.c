/* GPTQ and its Hessians. The GEMM and the inverse factor are checked
 * against naive arithmetic, and GPTQ against a textbook unblocked
 * implementation and against RTN on correlated inputs with outlier
 * channels. Further cases: exact agreement with RTN for a diagonal
 * Hessian, dead columns, group and asymmetric formats, bad input, and the
 * calibration capture on stories260K with every layer quantized. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "check.h"
#include "common/data_dir.h"
#include "common/mapped_file.h"
#include "modelio/model.h"
#include "quant/calib_capture.h"
#include "quant/gptq.h"
#include "quant/hessian.h"
#include "quant/rtn.h"
#include "reference/forward.h"
#include "tokenizer/tokenizer.h"

static uint64_t rng_state = 0x243F6A8885A308D3ull;

static double uniform01(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return ((rng_state >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static double gaussian(void) {
    return sqrt(-2.0 * log(uniform01())) * cos(6.283185307179586 * uniform01());
}

static void fill_gaussian(float *w, size_t n, double sigma) {
    for (size_t i = 0; i < n; i++) w[i] = (float)(sigma * gaussian());
}

/* Inputs x [n][d] that mix d/4 latent factors plus 0.3 noise per column,
 * so the columns are correlated. With outliers, every 64th column (from 5)
 * is 20 times larger. */
static void make_inputs(float *x, int n, int d, int outliers) {
    int k = d / 4 > 0 ? d / 4 : 1;
    float *mix = malloc(sizeof(float) * (size_t)d * k);
    double *latent = malloc(sizeof(double) * k);
    for (size_t i = 0; i < (size_t)d * k; i++) mix[i] = (float)(gaussian() / sqrt(k));
    for (int t = 0; t < n; t++) {
        for (int j = 0; j < k; j++) latent[j] = gaussian();
        for (int i = 0; i < d; i++) {
            double v = 0.3 * gaussian();
            for (int j = 0; j < k; j++) v += mix[(size_t)i * k + j] * latent[j];
            if (outliers && i % 64 == 5) v *= 20.0;
            x[(size_t)t * d + i] = (float)v;
        }
    }
    free(latent);
    free(mix);
}

/* sum over inputs t of |(W - Wq) x_t|^2. */
static double output_error(const float *w, const float *wq, const float *x, int n, int d_out, int d_in) {
    double *diff = malloc(sizeof(double) * (size_t)d_out * d_in);
    for (size_t i = 0; i < (size_t)d_out * d_in; i++) diff[i] = (double)w[i] - (double)wq[i];
    double sum = 0.0;
    for (int t = 0; t < n; t++) {
        const float *xt = x + (size_t)t * d_in;
        for (int o = 0; o < d_out; o++) {
            double y = 0.0;
            for (int i = 0; i < d_in; i++) y += diff[(size_t)o * d_in + i] * xt[i];
            sum += y * y;
        }
    }
    free(diff);
    return sum;
}

/* tr((W - Wq) H (W - Wq)^T) with H [d_in][d_in]: the output error
 * 2/n sum_t |(W - Wq) x_t|^2 on the inputs behind H. */
static double hessian_error(const float *w, const float *wq, const double *h, int d_out, int d_in) {
    double *diff = malloc(sizeof(double) * d_in);
    double sum = 0.0;
    for (int o = 0; o < d_out; o++) {
        for (int i = 0; i < d_in; i++) diff[i] = (double)w[(size_t)o * d_in + i] - (double)wq[(size_t)o * d_in + i];
        for (int i = 0; i < d_in; i++) {
            double hd = 0.0;
            for (int j = 0; j < d_in; j++) hd += h[(size_t)i * d_in + j] * diff[j];
            sum += diff[i] * hd;
        }
    }
    free(diff);
    return sum;
}

/* RTN from rtn.c, dequantized. */
static void rtn_dequantized(const float *w, int d_out, int d_in, int bits, float *out) {
    int8_t *q = malloc((size_t)d_out * d_in);
    float *scale = malloc(sizeof(float) * d_out), *rowsum = malloc(sizeof(float) * d_out);
    flx_error err;
    CHECK_INT_EQ(flx_rtn_quantize_rows(w, d_out, d_in, bits, q, NULL, scale, rowsum, "rtn", &err), 0);
    for (int o = 0; o < d_out; o++)
        for (int i = 0; i < d_in; i++) out[(size_t)o * d_in + i] = scale[o] * (float)q[(size_t)o * d_in + i];
    free(q);
    free(scale);
    free(rowsum);
}

static flx_hessian hessian_of(const float *x, int n, int d) {
    flx_hessian h;
    flx_error err;
    CHECK_INT_EQ(flx_hessian_init(&h, d, &err), 0);
    CHECK_INT_EQ(flx_hessian_add(&h, x, n, &err), 0);
    return h;
}

/* GPTQ with options o, dequantized into out; returns 0 on success. */
static int gptq_dequantized(const float *w, int d_out, int d_in, const flx_hessian *h, const flx_gptq_options *o,
                            float *out) {
    flx_qweights qw;
    flx_error err;
    if (flx_gptq_quantize(w, d_out, d_in, h, o, &qw, "w", &err) != 0) {
        fprintf(stderr, "GPTQ failed: %s\n", err.msg);
        flx_check_failures++;
        return -1;
    }
    flx_qweights_dequantize(&qw, out);
    flx_qweights_free(&qw);
    return 0;
}

/* C += alpha op(A) op(B) against a naive triple loop, on every transpose
 * combination and on sizes that cross the kernel's register, cache and
 * task tiles. */
static void test_dgemm_matches_naive(void) {
    const int sizes[4][3] = {{1, 1, 1}, {13, 29, 7}, {100, 37, 300}, {790, 530, 260}};
    for (int s = 0; s < 4; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                int m = sizes[s][0], n = sizes[s][1], k = sizes[s][2];
                double *a = malloc(sizeof(double) * m * k), *b = malloc(sizeof(double) * k * n);
                double *c = malloc(sizeof(double) * m * n), *c0 = malloc(sizeof(double) * m * n);
                for (int i = 0; i < m * k; i++) a[i] = gaussian();
                for (int i = 0; i < k * n; i++) b[i] = gaussian();
                for (int i = 0; i < m * n; i++) c[i] = c0[i] = gaussian();
                flx_error err;
                CHECK_INT_EQ(flx_dgemm(ta, tb, m, n, k, -0.75, a, ta ? m : k, b, tb ? k : n, c, n, &err), 0);
                int bad = 0;
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < n; j++) {
                        double sum = 0.0, mag = 0.0;
                        for (int p = 0; p < k; p++) {
                            double av = ta ? a[(size_t)p * m + i] : a[(size_t)i * k + p];
                            double bv = tb ? b[(size_t)j * k + p] : b[(size_t)p * n + j];
                            sum += av * bv;
                            mag += fabs(av * bv);
                        }
                        double want = c0[(size_t)i * n + j] - 0.75 * sum;
                        if (fabs(c[(size_t)i * n + j] - want) > 1e-13 * (mag + 1.0)) bad++;
                    }
                CHECK_INT_EQ(bad, 0);
                free(a);
                free(b);
                free(c);
                free(c0);
            }
}

/* Checks U A U^T z = z for three random z, which holds when
 * A^{-1} = U^T U, and that U is upper triangular with a positive
 * diagonal. A [d][d] comes from the test. */
static void check_inverse_factor(const double *u, const double *a, int d) {
    int lower_nonzero = 0, bad_diag = 0;
    for (int i = 0; i < d; i++) {
        for (int j = 0; j < i; j++) lower_nonzero += u[(size_t)i * d + j] != 0.0;
        bad_diag += !(u[(size_t)i * d + i] > 0.0);
    }
    CHECK_INT_EQ(lower_nonzero, 0);
    CHECK_INT_EQ(bad_diag, 0);
    double *z = malloc(sizeof(double) * d), *y = malloc(sizeof(double) * d), *y2 = malloc(sizeof(double) * d);
    for (int rep = 0; rep < 3; rep++) {
        for (int i = 0; i < d; i++) z[i] = gaussian();
        for (int j = 0; j < d; j++) { /* y = U^T z */
            y[j] = 0.0;
            for (int i = 0; i <= j; i++) y[j] += u[(size_t)i * d + j] * z[i];
        }
        for (int i = 0; i < d; i++) { /* y2 = A y */
            y2[i] = 0.0;
            for (int j = 0; j < d; j++) y2[i] += a[(size_t)i * d + j] * y[j];
        }
        double max_err = 0.0, max_z = 0.0;
        for (int i = 0; i < d; i++) { /* U y2 */
            double v = 0.0;
            for (int j = i; j < d; j++) v += u[(size_t)i * d + j] * y2[j];
            max_err = fmax(max_err, fabs(v - z[i]));
            max_z = fmax(max_z, fabs(z[i]));
        }
        CHECK(max_err < 1e-8 * max_z);
    }
    free(z);
    free(y);
    free(y2);
}

/* A = H[perm][perm] + lambda I with zero diagonal entries set to 1 and
 * lambda = damp * mean of the nonzero diagonal, as hessian.h documents. */
static void damped_matrix(const double *h, const int *perm, int d, double damp, double *a) {
    double sum = 0.0;
    int live = 0;
    for (int i = 0; i < d; i++)
        if (h[(size_t)i * d + i] > 0.0) {
            sum += h[(size_t)i * d + i];
            live++;
        }
    double lambda = damp * (live ? sum / live : 1.0);
    for (int r = 0; r < d; r++)
        for (int c = 0; c < d; c++) {
            int i = perm ? perm[r] : r, j = perm ? perm[c] : c;
            double v = h[(size_t)i * d + j];
            if (r == c) v = (v > 0.0 ? v : 1.0) + lambda;
            a[(size_t)r * d + c] = v;
        }
}

static void random_permutation(int *perm, int d) {
    for (int i = 0; i < d; i++) perm[i] = i;
    for (int i = d - 1; i > 0; i--) {
        int j = (int)(uniform01() * (i + 1));
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

/* H from two flx_hessian_add calls equals 2/n sum x x^T; the inverse
 * factor of the damped, permuted H satisfies U A U^T = I, also with dead
 * columns and across many blocks and tasks (d = 900). */
static void test_hessian_and_factor(void) {
    const int dims[2] = {300, 900};
    for (int s = 0; s < 2; s++) {
        int d = dims[s], n = 600;
        float *x = malloc(sizeof(float) * (size_t)n * d);
        make_inputs(x, n, d, 1);
        for (int t = 0; t < n; t++) x[(size_t)t * d + 7] = 0.0f; /* a dead column */
        flx_hessian h;
        flx_error err;
        CHECK_INT_EQ(flx_hessian_init(&h, d, &err), 0);
        CHECK_INT_EQ(flx_hessian_add(&h, x, 123, &err), 0);
        CHECK_INT_EQ(flx_hessian_add(&h, x + (size_t)123 * d, n - 123, &err), 0);
        CHECK_INT_EQ(h.n, n);
        double *hm = malloc(sizeof(double) * (size_t)d * d);
        CHECK_INT_EQ(flx_hessian_matrix(&h, hm, &err), 0);
        int bad = 0;
        for (int rep = 0; rep < 3000; rep++) {
            int i = (int)(uniform01() * d), j = (int)(uniform01() * d);
            double sum = 0.0, mag = 0.0;
            for (int t = 0; t < n; t++) {
                double p = (double)x[(size_t)t * d + i] * x[(size_t)t * d + j];
                sum += p;
                mag += fabs(p);
            }
            if (fabs(hm[(size_t)i * d + j] - 2.0 * sum / n) > 1e-13 * 2.0 * mag / n) bad++;
        }
        CHECK_INT_EQ(bad, 0);
        CHECK(hm[7 * d + 7] == 0.0);

        int *perm = malloc(sizeof(int) * d);
        random_permutation(perm, d);
        double *u = malloc(sizeof(double) * (size_t)d * d), *a = malloc(sizeof(double) * (size_t)d * d);
        for (int with_perm = 0; with_perm < 2; with_perm++) {
            const int *p = with_perm ? perm : NULL;
            CHECK_INT_EQ(flx_hessian_inverse_factor(&h, p, 0.01, u, &err), 0);
            damped_matrix(hm, p, d, 0.01, a);
            check_inverse_factor(u, a, d);
        }
        free(a);
        free(u);
        free(perm);
        free(hm);
        flx_hessian_free(&h);
        free(x);
    }
}

/* Unblocked GPTQ straight from its definition: A^{-1} by Gauss-Jordan
 * elimination, U^T = the lower Cholesky factor of A^{-1}, then each column
 * quantized with absmax grids and its error spread over the later columns
 * at once. group 0 means per-channel grids. Writes codes in the original
 * column order. */
static void reference_gptq(const float *w, int d_out, int d_in, const double *hm, int act_order, int group, int bits,
                           int8_t *codes) {
    int d = d_in, qmax = (1 << (bits - 1)) - 1;
    int *perm = malloc(sizeof(int) * d);
    for (int i = 0; i < d; i++) perm[i] = i;
    if (act_order) /* insertion sort by decreasing diagonal, stable */
        for (int i = 1; i < d; i++)
            for (int j = i; j > 0 && hm[(size_t)perm[j] * d + perm[j]] > hm[(size_t)perm[j - 1] * d + perm[j - 1]]; j--) {
                int t = perm[j];
                perm[j] = perm[j - 1];
                perm[j - 1] = t;
            }
    double *a = malloc(sizeof(double) * d * d), *inv = malloc(sizeof(double) * d * d);
    damped_matrix(hm, perm, d, 0.01, a);
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++) inv[i * d + j] = i == j;
    for (int c = 0; c < d; c++) { /* SPD: no pivoting needed */
        double p = a[c * d + c];
        for (int j = 0; j < d; j++) {
            a[c * d + j] /= p;
            inv[c * d + j] /= p;
        }
        for (int r = 0; r < d; r++) {
            if (r == c) continue;
            double f = a[r * d + c];
            for (int j = 0; j < d; j++) {
                a[r * d + j] -= f * a[c * d + j];
                inv[r * d + j] -= f * inv[c * d + j];
            }
        }
    }
    double *l = calloc((size_t)d * d, sizeof(double));
    for (int j = 0; j < d; j++) {
        double s = inv[j * d + j];
        for (int p = 0; p < j; p++) s -= l[j * d + p] * l[j * d + p];
        l[j * d + j] = sqrt(s);
        for (int i = j + 1; i < d; i++) {
            double t = inv[i * d + j];
            for (int p = 0; p < j; p++) t -= l[i * d + p] * l[j * d + p];
            l[i * d + j] = t / l[j * d + j];
        }
    }
    double *row = malloc(sizeof(double) * d);
    for (int o = 0; o < d_out; o++) {
        for (int j = 0; j < d; j++) row[j] = hm[(size_t)perm[j] * d + perm[j]] > 0.0 ? w[(size_t)o * d + perm[j]] : 0.0;
        float scale = 1.0f;
        if (!group) {
            float amax = 0.0f;
            for (int j = 0; j < d; j++) amax = fmaxf(amax, fabsf((float)row[j]));
            if (amax > 0.0f) scale = amax / (float)qmax;
        }
        for (int j = 0; j < d; j++) {
            if (group && j % group == 0) {
                float amax = 0.0f;
                for (int i = j; i < j + group; i++) amax = fmaxf(amax, fabsf((float)row[i]));
                scale = amax > 0.0f ? amax / (float)qmax : 1.0f;
            }
            float c = fminf(fmaxf(roundf((float)row[j] / scale), (float)-qmax), (float)qmax);
            codes[(size_t)o * d + perm[j]] = (int8_t)c;
            double e = (row[j] - (double)(scale * c)) / l[j * d + j]; /* U[j][j] = L[j][j] */
            for (int k = j + 1; k < d; k++) row[k] -= e * l[k * d + j]; /* U[j][k] = L[k][j] */
        }
    }
    free(row);
    free(l);
    free(inv);
    free(a);
    free(perm);
}

/* The blocked, lazily updated GPTQ gives the textbook codes, up to rare
 * flips where float rounding of the updates decides a tie. */
static void test_gptq_matches_reference(void) {
    enum { D_OUT = 32, D_IN = 96, N = 1024 };
    float *x = malloc(sizeof(float) * N * D_IN), *w = malloc(sizeof(float) * D_OUT * D_IN);
    make_inputs(x, N, D_IN, 1);
    for (int t = 0; t < N; t++) x[(size_t)t * D_IN + 40] = 0.0f; /* a dead column */
    fill_gaussian(w, (size_t)D_OUT * D_IN, 1.0);
    flx_hessian h = hessian_of(x, N, D_IN);
    double *hm = malloc(sizeof(double) * D_IN * D_IN);
    flx_error err;
    CHECK_INT_EQ(flx_hessian_matrix(&h, hm, &err), 0);

    int8_t ref[D_OUT * D_IN];
    struct {
        int act_order, group, block, bits;
    } cases[] = {{0, 0, 128, 4}, {1, 0, 128, 4}, {0, 0, 32, 4}, {1, 0, 1, 8}, {0, 32, 64, 4}, {0, 32, 32, 4}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        reference_gptq(w, D_OUT, D_IN, hm, cases[c].act_order, cases[c].group, cases[c].bits, ref);
        flx_gptq_options o = flx_gptq_options_default();
        o.act_order = cases[c].act_order;
        o.format.group_size = cases[c].group;
        o.format.bits = cases[c].bits;
        o.block_size = cases[c].block;
        flx_qweights qw;
        CHECK_INT_EQ(flx_gptq_quantize(w, D_OUT, D_IN, &h, &o, &qw, "w", &err), 0);

        int mismatch = 0;
        for (int i = 0; i < D_OUT * D_IN; i++) mismatch += qw.q[i] != ref[i];
        if (mismatch > D_OUT * D_IN / 200)
            fprintf(stderr, "case %zu: %d of %d codes differ from the reference\n", c, mismatch, D_OUT * D_IN);
        CHECK(mismatch <= D_OUT * D_IN / 200);
        flx_qweights_free(&qw);
    }
    flx_hessian_free(&h);
    free(hm);
    free(w);
    free(x);
}

/* On correlated inputs with outlier channels, 4-bit per-channel GPTQ has a
 * clearly lower output error than RTN, and act_order lowers it further.
 * The engines' format carries the same codes with exact row sums, and the
 * result does not depend on the thread count. */
static void test_gptq_beats_rtn(void) {
    enum { D_OUT = 64, D_IN = 256, N = 2048 };
    float *x = malloc(sizeof(float) * N * D_IN), *w = malloc(sizeof(float) * D_OUT * D_IN);
    float *wq = malloc(sizeof(float) * D_OUT * D_IN);
    make_inputs(x, N, D_IN, 1);
    fill_gaussian(w, (size_t)D_OUT * D_IN, 1.0);
    flx_hessian h = hessian_of(x, N, D_IN);

    rtn_dequantized(w, D_OUT, D_IN, 4, wq);
    double e_rtn = output_error(w, wq, x, N, D_OUT, D_IN);
    flx_gptq_options o = flx_gptq_options_default();
    gptq_dequantized(w, D_OUT, D_IN, &h, &o, wq);
    double e_gptq = output_error(w, wq, x, N, D_OUT, D_IN);
    o.act_order = true;
    gptq_dequantized(w, D_OUT, D_IN, &h, &o, wq);
    double e_act = output_error(w, wq, x, N, D_OUT, D_IN);
    o.clip = flx_clip_options_default();
    o.clip_weighted = true;
    gptq_dequantized(w, D_OUT, D_IN, &h, &o, wq);
    double e_clip = output_error(w, wq, x, N, D_OUT, D_IN);
    printf("outlier layer, 4-bit output error / RTN: GPTQ %.3f, act_order %.3f, act_order + MSE clip %.3f\n",
           e_gptq / e_rtn, e_act / e_rtn, e_clip / e_rtn);
    CHECK(e_gptq < 0.8 * e_rtn);
    CHECK(e_act < e_gptq);
    CHECK(e_clip < 0.8 * e_rtn);

    /* Engines' format: the same codes and scales, row sums in double. */
    o = flx_gptq_options_default();
    o.act_order = true;
    flx_qweights qw;
    flx_error err;
    CHECK_INT_EQ(flx_gptq_quantize(w, D_OUT, D_IN, &h, &o, &qw, "w", &err), 0);
    flx_qmodel owner;
    memset(&owner, 0, sizeof owner);
    flx_qlinear lin;
    CHECK_INT_EQ(flx_gptq_quantize_linear(&lin, &owner, w, D_OUT, D_IN, &h, &o, "w", &err), 0);
    CHECK_INT_EQ(lin.bits, 4);
    CHECK_INT_EQ(lin.d_out, D_OUT);
    CHECK_INT_EQ(lin.d_in, D_IN);
    CHECK_INT_EQ(memcmp(lin.q, qw.q, (size_t)D_OUT * D_IN), 0);
    int bad_rowsum = 0, out_of_range = 0;
    for (int r = 0; r < D_OUT; r++) {
        long long sum = 0;
        for (int i = 0; i < D_IN; i++) {
            int c = lin.q[(size_t)r * D_IN + i];
            sum += c;
            out_of_range += c < -7 || c > 7;
        }
        bad_rowsum += lin.rowsum[r] != (float)((double)lin.scale[r] * (double)sum);
        bad_rowsum += lin.scale[r] != qw.scale[r];
    }
    CHECK_INT_EQ(bad_rowsum, 0);
    CHECK_INT_EQ(out_of_range, 0);
#ifdef _OPENMP
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    flx_qweights single;
    CHECK_INT_EQ(flx_gptq_quantize(w, D_OUT, D_IN, &h, &o, &single, "w", &err), 0);
    omp_set_num_threads(threads);
    CHECK_INT_EQ(memcmp(single.q, qw.q, (size_t)D_OUT * D_IN), 0);
    CHECK_INT_EQ(memcmp(single.scale, qw.scale, sizeof(float) * D_OUT), 0);
    flx_qweights_free(&single);
#endif
    flx_qmodel_free(&owner);
    flx_qweights_free(&qw);
    flx_hessian_free(&h);
    free(wq);
    free(w);
    free(x);
}

/* A diagonal Hessian couples no columns, so GPTQ must give exactly the RTN
 * codes and scales, in any column order and block size. */
static void test_diagonal_hessian_equals_rtn(void) {
    enum { D_OUT = 40, D_IN = 96 };
    static float x[D_IN * D_IN], w[D_OUT * D_IN];
    for (int t = 0; t < D_IN; t++) x[t * D_IN + t] = 0.5f + (float)(t % 7);
    fill_gaussian(w, (size_t)D_OUT * D_IN, 1.0);
    flx_hessian h = hessian_of(x, D_IN, D_IN);
    for (int bits = 4; bits <= 8; bits += 4)
        for (int act = 0; act < 2; act++)
            for (int block = 32; block <= 128; block *= 4) {
                int8_t q[D_OUT * D_IN];
                float scale[D_OUT], rowsum[D_OUT];
                flx_error err;
                CHECK_INT_EQ(flx_rtn_quantize_rows(w, D_OUT, D_IN, bits, q, NULL, scale, rowsum, "w", &err), 0);
                flx_gptq_options o = flx_gptq_options_default();
                o.format.bits = bits;
                o.act_order = act;
                o.block_size = block;
                flx_qweights qw;
                CHECK_INT_EQ(flx_gptq_quantize(w, D_OUT, D_IN, &h, &o, &qw, "w", &err), 0);
                CHECK_INT_EQ(memcmp(qw.q, q, sizeof q), 0);
                CHECK_INT_EQ(memcmp(qw.scale, scale, sizeof scale), 0);
                flx_qweights_free(&qw);
            }
    flx_hessian_free(&h);
}

/* Uncorrelated unit-variance inputs give a Hessian near 2 I, so GPTQ stays
 * within one code of RTN and mostly equal to it. */
static void test_uncorrelated_close_to_rtn(void) {
    enum { D_OUT = 64, D_IN = 64, N = 8192 };
    float *x = malloc(sizeof(float) * N * D_IN);
    static float w[D_OUT * D_IN];
    fill_gaussian(x, (size_t)N * D_IN, 1.0);
    fill_gaussian(w, (size_t)D_OUT * D_IN, 1.0);
    flx_hessian h = hessian_of(x, N, D_IN);
    int8_t q[D_OUT * D_IN];
    float scale[D_OUT], rowsum[D_OUT];
    flx_error err;
    CHECK_INT_EQ(flx_rtn_quantize_rows(w, D_OUT, D_IN, 4, q, NULL, scale, rowsum, "w", &err), 0);
    flx_gptq_options o = flx_gptq_options_default();
    flx_qweights qw;
    CHECK_INT_EQ(flx_gptq_quantize(w, D_OUT, D_IN, &h, &o, &qw, "w", &err), 0);
    int equal = 0, far = 0;
    for (int i = 0; i < D_OUT * D_IN; i++) {
        equal += qw.q[i] == q[i];
        far += abs(qw.q[i] - q[i]) > 1;
    }
    printf("uncorrelated inputs: %.1f %% of GPTQ codes equal RTN's\n", 100.0 * equal / (D_OUT * D_IN));
    CHECK(equal >= 0.9 * D_OUT * D_IN);
    CHECK_INT_EQ(far, 0);
    flx_qweights_free(&qw);
    flx_hessian_free(&h);
    free(x);
}

/* Columns that were always zero, including the first and the last, give
 * the code of 0.0 and finite scales in every format. An all-zero input
 * gives all-zero weights. */
static void test_dead_columns(void) {
    enum { D_OUT = 24, D_IN = 128, N = 512 };
    float *x = malloc(sizeof(float) * N * D_IN);
    static float w[D_OUT * D_IN], wq[D_OUT * D_IN];
    const int dead[4] = {0, 17, 63, D_IN - 1};
    make_inputs(x, N, D_IN, 1);
    for (int t = 0; t < N; t++)
        for (int k = 0; k < 4; k++) x[(size_t)t * D_IN + dead[k]] = 0.0f;
    fill_gaussian(w, (size_t)D_OUT * D_IN, 1.0);
    flx_hessian h = hessian_of(x, N, D_IN);
    for (int c = 0; c < 6; c++) {
        flx_gptq_options o = flx_gptq_options_default();
        o.act_order = c & 1;
        o.format.group_size = c >= 2 ? 32 : 0;
        o.format.asymmetric = c >= 4;
        o.clip = flx_clip_options_default();
        o.clip_weighted = true;
        flx_qweights qw;
        flx_error err;
        CHECK_INT_EQ(flx_gptq_quantize(w, D_OUT, D_IN, &h, &o, &qw, "w", &err), 0);
        int bad_scale = 0, bad_code = 0, not_finite = 0;
        for (int i = 0; i < D_OUT * qw.n_groups; i++) bad_scale += !(qw.scale[i] > 0.0f) || !isfinite(qw.scale[i]);
        int group = o.format.group_size ? o.format.group_size : D_IN;
        for (int r = 0; r < D_OUT; r++)
            for (int k = 0; k < 4; k++) {
                size_t at = (size_t)r * D_IN + dead[k];
                int code = qw.q ? qw.q[at] : qw.q_unsigned[at];
                bad_code += code != flx_qweights_grid(&qw, r, dead[k] / group).zero;
            }
        flx_qweights_dequantize(&qw, wq);
        for (int i = 0; i < D_OUT * D_IN; i++) not_finite += !isfinite(wq[i]);
        CHECK_INT_EQ(bad_scale, 0);
        CHECK_INT_EQ(bad_code, 0);
        CHECK_INT_EQ(not_finite, 0);
        flx_qweights_free(&qw);
    }
    flx_hessian_free(&h);

    memset(x, 0, sizeof(float) * N * D_IN);
    h = hessian_of(x, N, D_IN);
    flx_gptq_options o = flx_gptq_options_default();
    o.act_order = true;
    CHECK_INT_EQ(gptq_dequantized(w, D_OUT, D_IN, &h, &o, wq), 0);
    int nonzero = 0;
    for (int i = 0; i < D_OUT * D_IN; i++) nonzero += wq[i] != 0.0f;
    CHECK_INT_EQ(nonzero, 0);
    flx_hessian_free(&h);
    free(x);
}

/* Rows whose 32-column groups differ in magnitude by up to 60x. Per-group
 * scales give a lower output error than per-channel ones for every group
 * size, also with act_order and asymmetric. Groups of 32, which follow the
 * magnitudes, win by a wide margin. */
static void test_groups_beat_channel(void) {
    enum { D_OUT = 48, D_IN = 256, N = 1024 };
    float *x = malloc(sizeof(float) * N * D_IN);
    static float w[D_OUT * D_IN], wq[D_OUT * D_IN];
    const float magnitude[4] = {0.05f, 1.0f, 0.2f, 3.0f};
    make_inputs(x, N, D_IN, 0);
    for (int o = 0; o < D_OUT; o++)
        for (int i = 0; i < D_IN; i++) w[o * D_IN + i] = (float)(magnitude[(i / 32 + o) % 4] * gaussian());
    flx_hessian h = hessian_of(x, N, D_IN);
    flx_gptq_options o = flx_gptq_options_default();
    gptq_dequantized(w, D_OUT, D_IN, &h, &o, wq);
    double e_channel = output_error(w, wq, x, N, D_OUT, D_IN);
    struct {
        int group, act, asym;
    } cases[] = {{32, 0, 0}, {64, 0, 0}, {128, 0, 0}, {32, 1, 0}, {32, 0, 1}, {32, 1, 1}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        o.format.group_size = cases[c].group;
        o.act_order = cases[c].act;
        o.format.asymmetric = cases[c].asym;
        gptq_dequantized(w, D_OUT, D_IN, &h, &o, wq);
        double e = output_error(w, wq, x, N, D_OUT, D_IN);
        printf("group %d%s%s: output error / per-channel %.3f\n", cases[c].group, cases[c].act ? ", act_order" : "",
               cases[c].asym ? ", asymmetric" : "", e / e_channel);
        CHECK(e < e_channel);
        if (cases[c].group == 32) CHECK(e < 0.5 * e_channel);
    }
    flx_hessian_free(&h);
    free(x);
}

/* Rows of mostly positive weights waste half a symmetric grid: asymmetric
 * GPTQ has the lower error, and its codes stay in [0, 15]. */
static void test_asymmetric_on_shifted_rows(void) {
    enum { D_OUT = 32, D_IN = 128, N = 1024 };
    float *x = malloc(sizeof(float) * N * D_IN);
    static float w[D_OUT * D_IN], wq[D_OUT * D_IN];
    make_inputs(x, N, D_IN, 0);
    for (int i = 0; i < D_OUT * D_IN; i++) w[i] = (float)(1.0 + 0.3 * gaussian());
    flx_hessian h = hessian_of(x, N, D_IN);
    flx_gptq_options o = flx_gptq_options_default();
    gptq_dequantized(w, D_OUT, D_IN, &h, &o, wq);
    double e_sym = output_error(w, wq, x, N, D_OUT, D_IN);
    o.format.asymmetric = true;
    flx_qweights qw;
    flx_error err;
    CHECK_INT_EQ(flx_gptq_quantize(w, D_OUT, D_IN, &h, &o, &qw, "w", &err), 0);
    int out_of_range = 0;
    for (int i = 0; i < D_OUT * D_IN; i++) out_of_range += qw.q_unsigned[i] > 15;
    for (int r = 0; r < D_OUT; r++) out_of_range += qw.zero[r] > 15;
    CHECK_INT_EQ(out_of_range, 0);
    flx_qweights_dequantize(&qw, wq);
    double e_asym = output_error(w, wq, x, N, D_OUT, D_IN);
    printf("shifted rows: asymmetric / symmetric output error %.3f\n", e_asym / e_sym);
    CHECK(e_asym < 0.7 * e_sym);
    flx_qweights_free(&qw);
    flx_hessian_free(&h);
    free(x);
}

static void expect_error(int rc, const flx_error *err, const char *needle) {
    CHECK_INT_EQ(rc, -1);
    if (!strstr(err->msg, needle)) {
        fprintf(stderr, "message '%s' lacks '%s'\n", err->msg, needle);
        flx_check_failures++;
    }
}

static void test_bad_input(void) {
    enum { D_OUT = 4, D_IN = 64 };
    static float x[8 * D_IN], w[D_OUT * D_IN];
    fill_gaussian(x, 8 * D_IN, 1.0);
    fill_gaussian(w, D_OUT * D_IN, 1.0);
    flx_error err;
    flx_hessian h, empty, narrow;
    expect_error(flx_hessian_init(&h, 0, &err), &err, "Hessian of input width 0");
    expect_error(flx_hessian_init(&h, FLX_HESSIAN_MAX_DIM + 1, &err), &err, "expected 1 to 16384");
    CHECK_INT_EQ(flx_hessian_init(&h, D_IN, &err), 0);
    CHECK_INT_EQ(flx_hessian_init(&empty, D_IN, &err), 0);
    CHECK_INT_EQ(flx_hessian_init(&narrow, 32, &err), 0);
    CHECK_INT_EQ(flx_hessian_add(&narrow, x, 8, &err), 0);

    float bad_x[D_IN] = {0};
    bad_x[9] = INFINITY;
    expect_error(flx_hessian_add(&h, bad_x, 1, &err), &err, "row 0 column 9 is inf");
    CHECK_INT_EQ(h.n, 0);
    expect_error(flx_hessian_add(&h, x, -1, &err), &err, "-1 input rows");
    CHECK_INT_EQ(flx_hessian_add(&h, x, 8, &err), 0);
    double diag[D_IN];
    expect_error(flx_hessian_diag(&empty, diag, &err), &err, "no inputs");

    flx_gptq_options o = flx_gptq_options_default();
    flx_qweights qw;
    expect_error(flx_gptq_quantize(w, D_OUT, D_IN, &narrow, &o, &qw, "blk.3.wo", &err), &err,
                 "blk.3.wo: Hessian of input width 32 does not match the 64 input columns");
    expect_error(flx_gptq_quantize(w, D_OUT, D_IN, &empty, &o, &qw, "wo", &err), &err, "Hessian has no inputs");
    expect_error(flx_gptq_quantize(w, 0, D_IN, &h, &o, &qw, "wo", &err), &err, "invalid matrix shape [0][64]");
    o.format.bits = 3;
    expect_error(flx_gptq_quantize(w, D_OUT, D_IN, &h, &o, &qw, "wo", &err), &err, "invalid weight width of 3 bits");
    o = flx_gptq_options_default();
    o.format.group_size = 48;
    expect_error(flx_gptq_quantize(w, D_OUT, D_IN, &h, &o, &qw, "wo", &err), &err, "invalid group size 48");
    o.format.group_size = 128;
    expect_error(flx_gptq_quantize(w, D_OUT, D_IN, &h, &o, &qw, "wo", &err), &err,
                 "group size 128 does not divide the input width 64");
    o.format.group_size = 32;
    o.block_size = 48;
    expect_error(flx_gptq_quantize(w, D_OUT, D_IN, &h, &o, &qw, "wo", &err), &err,
                 "block size 48: expected 1 to 4096 columns and a multiple of the group size 32");
    o = flx_gptq_options_default();
    o.block_size = 0;
    expect_error(flx_gptq_quantize(w, D_OUT, D_IN, &h, &o, &qw, "wo", &err), &err, "block size 0");
    o = flx_gptq_options_default();
    o.damp = -0.5;
    expect_error(flx_gptq_quantize(w, D_OUT, D_IN, &h, &o, &qw, "wo", &err), &err, "damping -0.5");
    o = flx_gptq_options_default();
    o.clip.search = true;
    o.clip.ratio_min = 2.0f;
    expect_error(flx_gptq_quantize(w, D_OUT, D_IN, &h, &o, &qw, "wo", &err), &err, "wo: clip ratio minimum 2");
    o = flx_gptq_options_default();
    w[5] = NAN;
    expect_error(flx_gptq_quantize(w, D_OUT, D_IN, &h, &o, &qw, "wo", &err), &err, "weight [0][5] = nan is not finite");
    w[5] = 0.5f;

    flx_qmodel owner;
    memset(&owner, 0, sizeof owner);
    flx_qlinear lin;
    o.format.asymmetric = true;
    expect_error(flx_gptq_quantize_linear(&lin, &owner, w, D_OUT, D_IN, &h, &o, "wo", &err), &err,
                 "wo: the quantized model takes symmetric weights");
    /* Per-group weights: one scale per row and group, and each row sum is
     * the per-group products scale * (code sum) added in order. */
    o = flx_gptq_options_default();
    o.format.group_size = 32;
    CHECK_INT_EQ(flx_gptq_quantize_linear(&lin, &owner, w, D_OUT, D_IN, &h, &o, "wo", &err), 0);
    CHECK_INT_EQ(lin.group_size, 32);
    CHECK_INT_EQ(flx_qlinear_groups(&lin), D_IN / 32);
    for (int r = 0; r < D_OUT && !flx_check_failures; r++) {
        double want = 0.0;
        for (int g = 0; g < D_IN / 32; g++) {
            long long codes = 0;
            for (int i = g * 32; i < (g + 1) * 32; i++) codes += lin.q[(size_t)r * D_IN + i];
            want += (double)lin.scale[(size_t)r * (D_IN / 32) + g] * (double)codes;
        }
        CHECK(lin.rowsum[r] == (float)want);
    }
    flx_qmodel_free(&owner);

    /* Eight inputs span at most 8 of 64 dimensions: without damping the
     * Hessian is singular. */
    o = flx_gptq_options_default();
    o.damp = 0.0;
    expect_error(flx_gptq_quantize(w, D_OUT, D_IN, &h, &o, &qw, "wo", &err), &err,
                 "damped Hessian is not positive definite");
    CHECK(strstr(err.msg, "raise the damping") != NULL);
    double u[D_IN * D_IN];
    int perm[D_IN];
    for (int i = 0; i < D_IN; i++) perm[i] = i;
    perm[3] = 5;
    expect_error(flx_hessian_inverse_factor(&h, perm, 0.01, u, &err), &err, "lists column 5 twice");
    perm[3] = D_IN;
    expect_error(flx_hessian_inverse_factor(&h, perm, 0.01, u, &err), &err, "entry 3 is 64");
    flx_hessian_free(&h);
    flx_hessian_free(&empty);
    flx_hessian_free(&narrow);
}

/* --- stories260K --- */

typedef struct linear_site {
    char name[32];
    const float *w;
    int d_out, d_in;
    const flx_hessian *h;
} linear_site;

static int stories_sites(const flx_model *m, const flx_calib_hessians *hs, linear_site *sites) {
    const flx_config *c = &m->config;
    int q_dim = c->n_heads * c->head_dim, kv_dim = c->n_kv_heads * c->head_dim, n = 0;
    for (int l = 0; l < c->n_layers; l++) {
        const flx_layer_weights *lw = &m->layers[l];
        const flx_layer_hessians *lh = &hs->layers[l];
        const struct {
            const char *name;
            const float *w;
            int d_out, d_in;
            const flx_hessian *h;
        } table[7] = {{"wq", lw->wq, q_dim, c->dim, &lh->attn_in},       {"wk", lw->wk, kv_dim, c->dim, &lh->attn_in},
                      {"wv", lw->wv, kv_dim, c->dim, &lh->attn_in},       {"wo", lw->wo, c->dim, q_dim, &lh->attn_out},
                      {"w_gate", lw->w_gate, c->ffn_dim, c->dim, &lh->ffn_in},
                      {"w_up", lw->w_up, c->ffn_dim, c->dim, &lh->ffn_in},
                      {"w_down", lw->w_down, c->dim, c->ffn_dim, &lh->ffn_act}};
        for (int k = 0; k < 7; k++, n++) {
            snprintf(sites[n].name, sizeof sites[n].name, "%d.%s", l, table[k].name);
            sites[n].w = table[k].w;
            sites[n].d_out = table[k].d_out;
            sites[n].d_in = table[k].d_in;
            sites[n].h = table[k].h;
        }
    }
    snprintf(sites[n].name, sizeof sites[n].name, "lm_head");
    sites[n].w = m->output;
    sites[n].d_out = c->vocab_size;
    sites[n].d_in = c->dim;
    sites[n].h = &hs->lm_head;
    return n + 1;
}

/* Encodes the first text_bytes of a data file (cut after a newline). */
static int32_t *encode_prefix(const flx_tokenizer *tok, const char *relative, size_t text_bytes, int *n_tokens) {
    char path[1024];
    size_t len;
    flx_error err;
    char *text = flx_read_text_file(flx_data_path(path, sizeof path, relative), &len, &err);
    if (!text) {
        fprintf(stderr, "%s\n", err.msg);
        flx_check_failures++;
        return NULL;
    }
    size_t cut = len < text_bytes ? len : text_bytes;
    while (cut > 0 && text[cut - 1] != '\n') cut--;
    int32_t *ids = NULL;
    CHECK_INT_EQ(flx_tokenizer_encode(tok, text, cut, 0, &ids, n_tokens, &err), 0);
    free(text);
    return ids;
}

/* Layer 0's attention input is RMSNorm of the token embedding, so its
 * Hessian follows from the embeddings alone (computed here in double). */
static void check_first_attention_input(const flx_model *m, const flx_calib_hessians *hs, const int32_t *tokens,
                                        int bos) {
    const flx_config *c = &m->config;
    int d = c->dim;
    double *want = calloc((size_t)d * d, sizeof(double)), *got = malloc(sizeof(double) * d * d);
    double *xn = malloc(sizeof(double) * d);
    long positions = 0;
    for (int win = 0; win < hs->n_windows; win++)
        for (int p = 0; p < hs->window; p++) {
            int id = p == 0 ? bos : tokens[(size_t)win * (hs->window - 1) + p - 1];
            const float *e = m->token_embedding + (size_t)id * d;
            double ss = 0.0;
            for (int i = 0; i < d; i++) ss += (double)e[i] * e[i];
            double inv = 1.0 / sqrt(ss / d + c->norm_eps);
            for (int i = 0; i < d; i++) xn[i] = m->layers[0].attn_norm[i] * inv * e[i];
            for (int i = 0; i < d; i++)
                for (int j = 0; j < d; j++) want[(size_t)i * d + j] += xn[i] * xn[j];
            positions++;
        }
    flx_error err;
    CHECK_INT_EQ(flx_hessian_matrix(&hs->layers[0].attn_in, got, &err), 0);
    double max_abs = 0.0, max_err = 0.0;
    for (int i = 0; i < d * d; i++) {
        want[i] *= 2.0 / positions;
        max_abs = fmax(max_abs, fabs(want[i]));
        max_err = fmax(max_err, fabs(got[i] - want[i]));
    }
    CHECK(max_err < 1e-5 * max_abs);
    free(want);
    free(got);
    free(xn);
}

/* The LM head's Hessian against the float reference's logits:
 * sum_t |W x_t|^2 = n/2 tr(W H W^T). */
static void check_lm_head_input(const flx_model *m, const flx_calib_hessians *hs, const int32_t *tokens, int bos) {
    const flx_config *c = &m->config;
    flx_state s;
    flx_error err;
    CHECK_INT_EQ(flx_state_init(&s, m, hs->window, hs->window, &err), 0);
    float *logits = malloc(sizeof(float) * (size_t)hs->window * c->vocab_size);
    int32_t *buf = malloc(sizeof(int32_t) * hs->window);
    double sum_sq = 0.0;
    for (int win = 0; win < hs->n_windows; win++) {
        buf[0] = bos;
        memcpy(buf + 1, tokens + (size_t)win * (hs->window - 1), sizeof(int32_t) * (hs->window - 1));
        CHECK_INT_EQ(flx_forward(m, &s, buf, hs->window, 0, logits, 1, &err), 0);
        for (size_t i = 0; i < (size_t)hs->window * c->vocab_size; i++) sum_sq += (double)logits[i] * logits[i];
    }
    double *h = malloc(sizeof(double) * c->dim * c->dim);
    CHECK_INT_EQ(flx_hessian_matrix(&hs->lm_head, h, &err), 0);
    double trace = 0.0;
    for (int o = 0; o < c->vocab_size; o++) {
        const float *wo = m->output + (size_t)o * c->dim;
        for (int i = 0; i < c->dim; i++)
            for (int j = 0; j < c->dim; j++) trace += wo[i] * h[(size_t)i * c->dim + j] * wo[j];
    }
    CHECK_NEAR(hs->lm_head.n / 2.0 * trace, sum_sq, 1e-4);
    free(h);
    free(buf);
    free(logits);
    flx_state_free(&s);
}

/* Sizes, symmetry and positive semi-definiteness of every captured Hessian. */
static void check_hessian_shapes(const flx_model *m, const flx_calib_hessians *hs) {
    const flx_config *c = &m->config;
    linear_site sites[64];
    int n_sites = stories_sites(m, hs, sites);
    CHECK_INT_EQ(n_sites, 7 * c->n_layers + 1);
    int asymmetric = 0, negative_diag = 0, wrong_width = 0, wrong_count = 0, factor_failed = 0;
    for (int k = 0; k < n_sites; k++) {
        const flx_hessian *h = sites[k].h;
        wrong_width += h->d != sites[k].d_in;
        wrong_count += h->n != hs->n_positions;
        int d = h->d;
        double *hm = malloc(sizeof(double) * d * d), *u = malloc(sizeof(double) * d * d);
        flx_error err;
        CHECK_INT_EQ(flx_hessian_matrix(h, hm, &err), 0);
        for (int i = 0; i < d; i++) {
            negative_diag += hm[(size_t)i * d + i] < 0.0;
            for (int j = 0; j < i; j++) asymmetric += hm[(size_t)i * d + j] != hm[(size_t)j * d + i];
        }
        if (flx_hessian_inverse_factor(h, NULL, 0.01, u, &err) != 0) {
            fprintf(stderr, "%s: %s\n", sites[k].name, err.msg);
            factor_failed++;
        }
        free(hm);
        free(u);
    }
    CHECK_INT_EQ(wrong_width, 0);
    CHECK_INT_EQ(wrong_count, 0);
    CHECK_INT_EQ(asymmetric, 0);
    CHECK_INT_EQ(negative_diag, 0);
    CHECK_INT_EQ(factor_failed, 0);
}

/* Sum over all linears of the output error tr(D H D^T) on hs for RTN and
 * GPTQ codes made with the Hessians of calib. */
static void layer_errors(const flx_model *m, const flx_calib_hessians *calib, const flx_calib_hessians *eval,
                         const flx_gptq_options *o, double *sum_rtn, double *sum_gptq, int verbose) {
    linear_site cs[64], es[64];
    int n_sites = stories_sites(m, calib, cs);
    stories_sites(m, eval, es);
    *sum_rtn = *sum_gptq = 0.0;
    for (int k = 0; k < n_sites; k++) {
        int d_out = cs[k].d_out, d_in = cs[k].d_in;
        float *wq = malloc(sizeof(float) * (size_t)d_out * d_in);
        double *hm = malloc(sizeof(double) * d_in * d_in);
        flx_error err;
        CHECK_INT_EQ(flx_hessian_matrix(es[k].h, hm, &err), 0);
        rtn_dequantized(cs[k].w, d_out, d_in, 4, wq);
        double e_rtn = hessian_error(cs[k].w, wq, hm, d_out, d_in);
        gptq_dequantized(cs[k].w, d_out, d_in, cs[k].h, o, wq);
        double e_gptq = hessian_error(cs[k].w, wq, hm, d_out, d_in);
        if (verbose) printf("  %-9s RTN %10.4g  GPTQ %10.4g  (%.3f)\n", cs[k].name, e_rtn, e_gptq, e_gptq / e_rtn);
        *sum_rtn += e_rtn;
        *sum_gptq += e_gptq;
        free(hm);
        free(wq);
    }
}

static void test_stories(void) {
    char path[1024];
    flx_error err;
    flx_model m;
    flx_tokenizer *tok = NULL;
    if (flx_model_load(&m, flx_data_path(path, sizeof path, "models/stories260K/stories260K.bin"), &err) != 0 ||
        flx_tokenizer_load(&tok, flx_data_path(path, sizeof path, "models/stories260K/tok512.bin"), &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        flx_check_failures++;
        return;
    }
    int bos = flx_tokenizer_bos(tok);
    int n_wiki = 0, n_story = 0;
    int32_t *wiki = encode_prefix(tok, "text/wikitext-2/wiki.test.raw", 16384, &n_wiki);
    int32_t *story = encode_prefix(tok, "text/tinystories/tinystories_valid_first1000_clean.txt", 16384, &n_story);
    CHECK(n_wiki >= 1022);
    CHECK(n_story >= 1022);
    if (flx_check_failures) return;

    flx_capture_options co = flx_capture_options_default(&m.config);
    co.max_tokens = 1022;
    flx_calib_hessians calib, held_out;
    CHECK_INT_EQ(flx_calib_capture(&calib, &m, wiki, n_wiki, bos, &co, &err), 0);
    CHECK_INT_EQ(flx_calib_capture(&held_out, &m, story, n_story, bos, &co, &err), 0);
    CHECK_INT_EQ(calib.n_windows, 2);
    CHECK_INT_EQ(calib.window, 512);
    CHECK_INT_EQ(calib.n_tokens, 1022);
    CHECK_INT_EQ(calib.n_positions, 1024);
    CHECK_INT_EQ(calib.n_layers, m.config.n_layers);
    CHECK(calib.has_lm_head);
    if (flx_check_failures) return;

    check_hessian_shapes(&m, &calib);
    check_first_attention_input(&m, &calib, wiki, bos);
    check_lm_head_input(&m, &calib, wiki, bos);

    flx_gptq_options o = flx_gptq_options_default();
    double rtn, gptq, rtn_held, gptq_held;
    printf("stories260K, 4-bit per-channel output error on the calibration text:\n");
    layer_errors(&m, &calib, &calib, &o, &rtn, &gptq, 1);
    layer_errors(&m, &calib, &held_out, &o, &rtn_held, &gptq_held, 0);
    printf("  sum: GPTQ / RTN %.3f on the calibration text, %.3f on held-out text\n", gptq / rtn,
           gptq_held / rtn_held);
    CHECK(gptq < 0.9 * rtn);
    CHECK(gptq_held < rtn_held);
    o.act_order = true;
    layer_errors(&m, &calib, &calib, &o, &rtn, &gptq, 0);
    printf("  sum with act_order: GPTQ / RTN %.3f\n", gptq / rtn);
    CHECK(gptq < 0.9 * rtn);

    /* A layer range without the LM head, and bad capture requests. */
    co.first_layer = 3;
    co.n_layers = 2;
    co.lm_head = false;
    flx_calib_hessians part;
    CHECK_INT_EQ(flx_calib_capture(&part, &m, wiki, n_wiki, bos, &co, &err), 0);
    CHECK_INT_EQ(part.n_layers, 2);
    CHECK(!part.has_lm_head);
    CHECK(part.lm_head.sum == NULL);
    double *a = malloc(sizeof(double) * m.config.ffn_dim * m.config.ffn_dim);
    double *b = malloc(sizeof(double) * m.config.ffn_dim * m.config.ffn_dim);
    CHECK_INT_EQ(flx_hessian_matrix(&part.layers[1].ffn_act, a, &err), 0);
    CHECK_INT_EQ(flx_hessian_matrix(&calib.layers[4].ffn_act, b, &err), 0);
    CHECK_INT_EQ(memcmp(a, b, sizeof(double) * m.config.ffn_dim * m.config.ffn_dim), 0);
    free(a);
    free(b);
    flx_calib_hessians_free(&part);
    co.n_layers = 3;
    expect_error(flx_calib_capture(&part, &m, wiki, n_wiki, bos, &co, &err), &err,
                 "capture of 3 layers from layer 3: the model has layers 0 to 4");
    co = flx_capture_options_default(&m.config);
    expect_error(flx_calib_capture(&part, &m, wiki, 0, bos, &co, &err), &err, "the calibration text has no tokens");
    co.max_tokens = 0;
    expect_error(flx_calib_capture(&part, &m, wiki, n_wiki, bos, &co, &err), &err, "calibration token count 0");
    co = flx_capture_options_default(&m.config);
    int32_t bad_tokens[3] = {5, 512, 7};
    expect_error(flx_calib_capture(&part, &m, bad_tokens, 3, bos, &co, &err), &err,
                 "calibration token 1 is id 512, outside the vocabulary (0..511)");

    flx_calib_hessians_free(&calib);
    flx_calib_hessians_free(&held_out);
    free(wiki);
    free(story);
    flx_tokenizer_free(tok);
    flx_model_free(&m);
}

int main(void) {
    test_dgemm_matches_naive();
    test_hessian_and_factor();
    test_gptq_matches_reference();
    test_gptq_beats_rtn();
    test_diagonal_hessian_equals_rtn();
    test_uncorrelated_close_to_rtn();
    test_dead_columns();
    test_groups_beat_channel();
    test_asymmetric_on_shifted_rows();
    test_bad_input();
    test_stories();
    return flx_check_report("test_gptq");
}
