/* Proves the direction of the Q/K row reordering: RoPE in Hugging Face's
 * rotate-half form, q*cos + rotate_half(q)*sin with rotate_half(x) =
 * [-x2, x1] and the cos/sin of frequency i repeated in both halves, applied to
 * a head in Hugging Face's layout, must equal interleaved-pair RoPE applied to
 * the same head reordered by flx_hf_qk_source_row, up to that reordering. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "modelio/hf_config.h"

#define MAX_HEAD_DIM 128

/* Hugging Face's formula, written out over the whole head. */
static void rope_rotate_half(double *out, const double *q, int head_dim, int pos, double theta) {
    int half = head_dim / 2;
    double cos_full[MAX_HEAD_DIM], sin_full[MAX_HEAD_DIM], rotated[MAX_HEAD_DIM];
    for (int j = 0; j < head_dim; j++) {
        int i = j % half;
        double angle = pos * pow(theta, -2.0 * i / head_dim);
        cos_full[j] = cos(angle);
        sin_full[j] = sin(angle);
    }
    for (int j = 0; j < half; j++) {
        rotated[j] = -q[j + half];
        rotated[j + half] = q[j];
    }
    for (int j = 0; j < head_dim; j++) out[j] = q[j] * cos_full[j] + rotated[j] * sin_full[j];
}

/* llama2.c's form: each adjacent pair (2i, 2i+1) rotated by frequency i. */
static void rope_interleaved(double *out, const double *x, int head_dim, int pos, double theta) {
    for (int i = 0; i < head_dim / 2; i++) {
        double angle = pos * pow(theta, -2.0 * i / head_dim);
        double c = cos(angle), s = sin(angle);
        out[2 * i] = x[2 * i] * c - x[2 * i + 1] * s;
        out[2 * i + 1] = x[2 * i] * s + x[2 * i + 1] * c;
    }
}

/* Largest difference between interleaved RoPE of the reordered head and the
 * reordered rotate-half RoPE, for the row mapping source_row. */
static double layout_mismatch(const double *q_hf, int head_dim, int pos, double theta,
                              int (*source_row)(int, int)) {
    double q_perm[MAX_HEAD_DIM], out_hf[MAX_HEAD_DIM], out_perm[MAX_HEAD_DIM];
    for (int r = 0; r < head_dim; r++) q_perm[r] = q_hf[source_row(r, head_dim)];
    rope_rotate_half(out_hf, q_hf, head_dim, pos, theta);
    rope_interleaved(out_perm, q_perm, head_dim, pos, theta);
    double worst = 0.0;
    for (int r = 0; r < head_dim; r++) {
        double d = fabs(out_perm[r] - out_hf[source_row(r, head_dim)]);
        if (d > worst) worst = d;
    }
    return worst;
}

static int loader_mapping(int row, int head_dim) { return flx_hf_qk_source_row(row, head_dim); }

/* The opposite direction (row i takes row 2i), which must not match. */
static int inverse_mapping(int row, int head_dim) {
    int half = head_dim / 2;
    return row < half ? 2 * row : 2 * (row - half) + 1;
}

int main(void) {
    srand(12345);
    const int head_dims[] = {8, 16, 64, 128};
    const int positions[] = {1, 7, 100, 4095};
    for (size_t h = 0; h < sizeof head_dims / sizeof head_dims[0]; h++) {
        int head_dim = head_dims[h];
        double q[MAX_HEAD_DIM];
        for (int j = 0; j < head_dim; j++) q[j] = (double)rand() / RAND_MAX * 2.0 - 1.0;
        for (size_t p = 0; p < sizeof positions / sizeof positions[0]; p++) {
            double same = layout_mismatch(q, head_dim, positions[p], 10000.0, loader_mapping);
            CHECK_NEAR(same, 0.0, 1e-12);
            double wrong = layout_mismatch(q, head_dim, positions[p], 500000.0, inverse_mapping);
            CHECK(wrong > 1e-3);
        }
    }

    /* The mapping is a permutation within each head, for several heads. */
    const int head_dim = 8, n_heads = 3;
    int seen[24] = {0};
    for (int r = 0; r < n_heads * head_dim; r++) {
        int s = flx_hf_qk_source_row(r, head_dim);
        CHECK(s / head_dim == r / head_dim);
        if (s >= 0 && s < n_heads * head_dim) seen[s]++;
    }
    for (int r = 0; r < n_heads * head_dim; r++) CHECK_INT_EQ(seen[r], 1);
    /* Head 1 of head_dim 8: rows 8..15 come from 8, 12, 9, 13, 10, 14, 11, 15. */
    const int expected[8] = {8, 12, 9, 13, 10, 14, 11, 15};
    for (int r = 0; r < 8; r++) CHECK_INT_EQ(flx_hf_qk_source_row(8 + r, 8), expected[r]);

    return flx_check_report("test_safetensors_rope");
}
