/* MSE clip search and weight grids. The search is checked against a
 * brute-force evaluation of every documented ratio: never worse than
 * absmax and strictly better on heavy-tailed rows. Further cases: a
 * hand-made asymmetric grid, the importance weighting, RTN with absmax
 * equal to flx_rtn_quantize_rows, per-group grids, and option checks. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "quant/clip_search.h"
#include "quant/rtn.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static double uniform01(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return ((rng_state >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static double gaussian(void) {
    return sqrt(-2.0 * log(uniform01())) * cos(6.283185307179586 * uniform01());
}

/* Student's t with nu degrees of freedom: heavy tails for small nu. */
static double student_t(int nu) {
    double chi2 = 0.0;
    for (int i = 0; i < nu; i++) {
        double g = gaussian();
        chi2 += g * g;
    }
    return gaussian() / sqrt(chi2 / nu);
}

enum { DIST_GAUSS, DIST_UNIFORM, DIST_LAPLACE, DIST_T3, DIST_OUTLIER, DIST_SHIFTED, N_DISTS };

static void fill_row(float *w, int n, int dist) {
    for (int i = 0; i < n; i++) {
        double v;
        switch (dist) {
        case DIST_GAUSS: v = gaussian(); break;
        case DIST_UNIFORM: v = 2.0 * uniform01() - 1.0; break;
        case DIST_LAPLACE: v = (uniform01() < 0.5 ? -1.0 : 1.0) * log(uniform01()); break;
        case DIST_T3: v = student_t(3); break;
        case DIST_OUTLIER: v = i == n / 3 ? 25.0 : gaussian(); break;
        default: v = 1.0 + 0.3 * gaussian(); break;
        }
        w[i] = (float)(0.02 * v);
    }
}

/* The test's own grid for ratio r, from the formulas in clip_search.h. */
static void reference_grid(const float *w, int n, float r, int bits, int asym, float *scale, int *zero) {
    float lo = 0.0f, hi = 0.0f, amax = 0.0f;
    for (int i = 0; i < n; i++) {
        lo = fminf(lo, w[i]);
        hi = fmaxf(hi, w[i]);
        amax = fmaxf(amax, fabsf(w[i]));
    }
    *scale = 1.0f;
    *zero = 0;
    if (asym) {
        int maxq = (1 << bits) - 1;
        float s = (r * hi - r * lo) / (float)maxq;
        if (s > 0.0f) {
            *scale = s;
            float z = roundf(-(r * lo) / s);
            *zero = (int)fminf(fmaxf(z, 0.0f), (float)maxq);
        }
    } else {
        float s = r * amax / (float)((1 << (bits - 1)) - 1);
        if (s > 0.0f) *scale = s;
    }
}

/* Weighted squared error of w on a grid, with the test's own rounding. */
static double reference_error(const float *w, int n, const double *imp, float scale, int zero, int bits, int asym) {
    int lo = asym ? 0 : -((1 << (bits - 1)) - 1), hi = asym ? (1 << bits) - 1 : (1 << (bits - 1)) - 1;
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        float c = roundf(w[i] / scale) + (float)zero;
        c = fminf(fmaxf(c, (float)lo), (float)hi);
        double e = (double)w[i] - (double)(scale * (c - (float)zero));
        sum += (imp ? imp[i] : 1.0) * e * e;
    }
    return sum;
}

/* Smallest error over the default ratios 1 - k * 0.01f, k = 0..50. */
static double reference_best(const float *w, int n, const double *imp, int bits, int asym) {
    double best = INFINITY;
    for (int k = 0; k <= 50; k++) {
        float scale;
        int zero;
        reference_grid(w, n, (float)(1.0 - k * (double)0.01f), bits, asym, &scale, &zero);
        double e = reference_error(w, n, imp, scale, zero, bits, asym);
        if (e < best) best = e;
    }
    return best;
}

/* w = {-1, 0.62, 2} at 4 bits asymmetric with absmax: scale 3/15, zero
 * point round(1 / 0.2) = 5, codes 5 - 5, round(3.1) + 5 and 10 + 5. */
static void test_hand_made_asymmetric(void) {
    const float w[3] = {-1.0f, 0.62f, 2.0f};
    flx_grid g;
    flx_clip_search(w, 3, NULL, 4, true, NULL, &g);
    CHECK(g.scale == 3.0f / 15.0f);
    CHECK_INT_EQ(g.zero, 5);
    CHECK_INT_EQ(flx_grid_code(g, 0, 15, w[0]), 0);
    CHECK_INT_EQ(flx_grid_code(g, 0, 15, w[1]), 8);
    CHECK_INT_EQ(flx_grid_code(g, 0, 15, w[2]), 15);
    CHECK_NEAR(flx_grid_value(g, 15), 2.0f, 1e-6);
}

static void test_zero_segment(void) {
    const float w[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    flx_clip_options opt = flx_clip_options_default();
    for (int asym = 0; asym < 2; asym++) {
        flx_grid g;
        flx_clip_search(w, 4, NULL, 4, asym, &opt, &g);
        CHECK(g.scale == 1.0f);
        CHECK_INT_EQ(g.zero, 0);
        CHECK_INT_EQ(flx_grid_code(g, flx_grid_code_min(4, asym), flx_grid_code_max(4, asym), 0.0f), 0);
    }
}

/* On every distribution, width and symmetry: the searched grid's error is
 * the brute-force minimum over the documented ratios and never above the
 * absmax error. */
static void test_search_matches_brute_force(void) {
    const int n = 256;
    float w[256];
    double imp[256];
    flx_clip_options opt = flx_clip_options_default();
    int worse = 0, not_min = 0, rows = 0;
    for (int dist = 0; dist < N_DISTS; dist++)
        for (int bits = 4; bits <= 8; bits += 4)
            for (int asym = 0; asym < 2; asym++)
                for (int weighted = 0; weighted < 2; weighted++)
                    for (int rep = 0; rep < 8; rep++) {
                        fill_row(w, n, dist);
                        for (int i = 0; i < n; i++) imp[i] = weighted ? 0.1 + 4.0 * uniform01() : 1.0;
                        const double *im = weighted ? imp : NULL;
                        flx_grid g, g_abs;
                        flx_clip_search(w, n, im, bits, asym, &opt, &g);
                        flx_clip_search(w, n, im, bits, asym, NULL, &g_abs);
                        double e = reference_error(w, n, im, g.scale, g.zero, bits, asym);
                        double e_abs = reference_error(w, n, im, g_abs.scale, g_abs.zero, bits, asym);
                        double e_best = reference_best(w, n, im, bits, asym);
                        if (e > e_abs) worse++;
                        if (fabs(e - e_best) > 1e-12 * e_best) not_min++;
                        rows++;
                    }
    CHECK_INT_EQ(worse, 0);
    CHECK_INT_EQ(not_min, 0);
    CHECK_INT_EQ(rows, N_DISTS * 2 * 2 * 2 * 8);
}

/* Student-t rows with 2 degrees of freedom have outliers that stretch the
 * absmax range: clipping must lower the 4-bit error on every row. */
static void test_heavy_tails_strictly_better(void) {
    const int n = 512;
    float w[512];
    flx_clip_options opt = flx_clip_options_default();
    double sum_abs = 0.0, sum_clip = 0.0;
    int not_better = 0;
    for (int rep = 0; rep < 16; rep++) {
        for (int i = 0; i < n; i++) w[i] = (float)(0.01 * student_t(2));
        for (int asym = 0; asym < 2; asym++) {
            flx_grid g, g_abs;
            flx_clip_search(w, n, NULL, 4, asym, &opt, &g);
            flx_clip_search(w, n, NULL, 4, asym, NULL, &g_abs);
            double e = reference_error(w, n, NULL, g.scale, g.zero, 4, asym);
            double e_abs = reference_error(w, n, NULL, g_abs.scale, g_abs.zero, 4, asym);
            if (!(e < e_abs)) not_better++;
            sum_abs += e_abs;
            sum_clip += e;
        }
    }
    printf("heavy-tailed rows, 4 bits: clip search MSE / absmax MSE = %.3f\n", sum_clip / sum_abs);
    CHECK_INT_EQ(not_better, 0);
    CHECK(sum_clip < 0.95 * sum_abs);
}

/* With the importance on the first 8 columns, the weighted search must do
 * at least as well on the weighted error as the unweighted one. */
static void test_importance_weighting(void) {
    const int n = 128;
    float w[128];
    double imp[128];
    flx_clip_options opt = flx_clip_options_default();
    int worse = 0;
    for (int rep = 0; rep < 32; rep++) {
        fill_row(w, n, DIST_T3);
        for (int i = 0; i < n; i++) imp[i] = i < 8 ? 100.0 : 0.01;
        flx_grid gw, gu;
        flx_clip_search(w, n, imp, 4, false, &opt, &gw);
        flx_clip_search(w, n, NULL, 4, false, &opt, &gu);
        if (reference_error(w, n, imp, gw.scale, 0, 4, false) > reference_error(w, n, imp, gu.scale, 0, 4, false))
            worse++;
    }
    CHECK_INT_EQ(worse, 0);
}

/* Per-channel symmetric RTN with absmax ranges is flx_rtn_quantize_rows:
 * same codes, scales and, through flx_qweights_to_qlinear, row sums. */
static void test_absmax_rtn_matches_rtn(void) {
    enum { D_OUT = 24, D_IN = 96 };
    static float w[D_OUT * D_IN];
    for (int o = 0; o < D_OUT; o++) fill_row(w + o * D_IN, D_IN, o % N_DISTS);
    memset(w + 5 * D_IN, 0, D_IN * sizeof(float)); /* a zero row */
    for (int bits = 4; bits <= 8; bits += 4) {
        int8_t q[D_OUT * D_IN];
        float scale[D_OUT], rowsum[D_OUT];
        flx_error err;
        CHECK_INT_EQ(flx_rtn_quantize_rows(w, D_OUT, D_IN, bits, q, NULL, scale, rowsum, "w", &err), 0);
        flx_weight_format f = {bits, 0, false};
        flx_qweights qw;
        CHECK_INT_EQ(flx_rtn_clip_quantize(w, D_OUT, D_IN, &f, NULL, NULL, &qw, "w", &err), 0);
        CHECK_INT_EQ(memcmp(qw.q, q, sizeof q), 0);
        CHECK_INT_EQ(memcmp(qw.scale, scale, sizeof scale), 0);
        flx_qmodel owner;
        memset(&owner, 0, sizeof owner);
        flx_qlinear lin;
        CHECK_INT_EQ(flx_qweights_to_qlinear(&qw, &lin, &owner, "w", &err), 0);
        CHECK_INT_EQ(lin.bits, bits);
        CHECK_INT_EQ(memcmp(lin.q, q, sizeof q), 0);
        CHECK_INT_EQ(memcmp(lin.rowsum, rowsum, sizeof rowsum), 0);
        flx_qmodel_free(&owner);
        flx_qweights_free(&qw);
    }
}

/* Rows whose 32-column groups differ in magnitude by up to 60x: with
 * absmax every weight lies within half a step of its value, and group
 * scales beat per-channel scales on the squared error. */
static void test_group_grids(void) {
    enum { D_OUT = 16, D_IN = 256 };
    static float w[D_OUT * D_IN], deq[D_OUT * D_IN];
    const float magnitude[4] = {0.05f, 1.0f, 0.2f, 3.0f};
    for (int o = 0; o < D_OUT; o++)
        for (int i = 0; i < D_IN; i++) w[o * D_IN + i] = (float)(magnitude[(i / 32 + o) % 4] * gaussian());
    flx_error err;
    double err_group = 0.0, err_channel = 0.0;
    for (int asym = 0; asym < 2; asym++) {
        flx_weight_format fg = {4, 32, asym}, fc = {4, 0, asym};
        flx_qweights qg, qc;
        CHECK_INT_EQ(flx_rtn_clip_quantize(w, D_OUT, D_IN, &fg, NULL, NULL, &qg, "w", &err), 0);
        CHECK_INT_EQ(qg.n_groups, D_IN / 32);
        CHECK_INT_EQ(flx_rtn_clip_quantize(w, D_OUT, D_IN, &fc, NULL, NULL, &qc, "w", &err), 0);
        flx_qweights_dequantize(&qg, deq);
        int outside = 0;
        for (int o = 0; o < D_OUT; o++)
            for (int i = 0; i < D_IN; i++) {
                double d = fabs((double)w[o * D_IN + i] - deq[o * D_IN + i]);
                if (d > 0.5 * qg.scale[o * qg.n_groups + i / 32] * (1.0 + 1e-5)) outside++;
                err_group += d * d;
            }
        CHECK_INT_EQ(outside, 0);
        flx_qweights_dequantize(&qc, deq);
        for (int i = 0; i < D_OUT * D_IN; i++) err_channel += ((double)w[i] - deq[i]) * ((double)w[i] - deq[i]);
        if (asym) {
            int bad_code = 0;
            for (int i = 0; i < D_OUT * D_IN; i++) bad_code += qg.q_unsigned[i] > 15;
            CHECK_INT_EQ(bad_code, 0);
            CHECK(qg.q == NULL);
            CHECK(qg.zero != NULL);
        }
        flx_qweights_free(&qg);
        flx_qweights_free(&qc);
    }
    printf("group-32 RTN squared error / per-channel = %.3f\n", err_group / err_channel);
    CHECK(err_group < 0.5 * err_channel);
}

static void test_candidate_count(void) {
    flx_clip_options o = flx_clip_options_default();
    CHECK_INT_EQ(flx_clip_candidates(&o), 51);
    o.ratio_min = 0.9f;
    o.ratio_step = 0.05f;
    CHECK_INT_EQ(flx_clip_candidates(&o), 3);
    o.ratio_min = 1.0f;
    CHECK_INT_EQ(flx_clip_candidates(&o), 1);
}

static void expect_error(int rc, const flx_error *err, const char *needle) {
    CHECK_INT_EQ(rc, -1);
    if (!strstr(err->msg, needle)) {
        fprintf(stderr, "message '%s' lacks '%s'\n", err->msg, needle);
        flx_check_failures++;
    }
}

static void test_bad_options(void) {
    flx_error err;
    flx_clip_options o = flx_clip_options_default();
    o.ratio_max = 1.5f;
    expect_error(flx_clip_options_check(&o, &err), &err, "clip ratio maximum 1.5");
    o = flx_clip_options_default();
    o.ratio_min = 0.0f;
    expect_error(flx_clip_options_check(&o, &err), &err, "clip ratio minimum 0");
    o = flx_clip_options_default();
    o.ratio_min = 0.9f;
    o.ratio_max = 0.8f;
    expect_error(flx_clip_options_check(&o, &err), &err, "clip ratio minimum 0.9");
    o = flx_clip_options_default();
    o.ratio_step = 0.0f;
    expect_error(flx_clip_options_check(&o, &err), &err, "clip ratio step 0");
    o = flx_clip_options_default();
    o.ratio_step = 1e-5f;
    expect_error(flx_clip_options_check(&o, &err), &err, "more than 1000 candidates");

    float w[64] = {0};
    w[3] = NAN;
    flx_qweights qw;
    flx_weight_format f = {4, 0, false};
    expect_error(flx_rtn_clip_quantize(w, 2, 32, &f, NULL, NULL, &qw, "blk.0.wq", &err), &err,
                 "blk.0.wq: weight [0][3] = nan is not finite");
    w[3] = 0.0f;
    f.bits = 3;
    expect_error(flx_rtn_clip_quantize(w, 2, 32, &f, NULL, NULL, &qw, "wq", &err), &err,
                 "wq: invalid weight width of 3 bits");
    f.bits = 4;
    f.group_size = 48;
    expect_error(flx_rtn_clip_quantize(w, 2, 32, &f, NULL, NULL, &qw, "wq", &err), &err, "invalid group size 48");
    f.group_size = 64;
    expect_error(flx_rtn_clip_quantize(w, 1, 32, &f, NULL, NULL, &qw, "wq", &err), &err,
                 "group size 64 does not divide the input width 32");
    f.group_size = 0;
    double imp[32] = {0};
    imp[7] = -1.0;
    expect_error(flx_rtn_clip_quantize(w, 2, 32, &f, NULL, imp, &qw, "wq", &err), &err,
                 "importance of input column 7 is -1");
    flx_clip_options bad = flx_clip_options_default();
    bad.ratio_step = -0.1f;
    expect_error(flx_rtn_clip_quantize(w, 2, 32, &f, &bad, NULL, &qw, "wq", &err), &err, "wq: clip ratio step");

    f.asymmetric = true;
    CHECK_INT_EQ(flx_rtn_clip_quantize(w, 2, 32, &f, NULL, NULL, &qw, "wq", &err), 0);
    flx_qmodel owner;
    memset(&owner, 0, sizeof owner);
    flx_qlinear lin;
    expect_error(flx_qweights_to_qlinear(&qw, &lin, &owner, "wq", &err), &err,
                 "wq: the quantized model takes symmetric weights, not asymmetric ones");
    flx_qmodel_free(&owner);
    flx_qweights_free(&qw);
}

int main(void) {
    test_hand_made_asymmetric();
    test_zero_segment();
    test_search_matches_brute_force();
    test_heavy_tails_strictly_better();
    test_importance_weighting();
    test_absmax_rtn_matches_rtn();
    test_group_grids();
    test_candidate_count();
    test_bad_options();
    return flx_check_report("test_clip_search");
}
