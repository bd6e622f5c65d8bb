/* QK^T with the causal mask, row softmax, probability quantizer and AV
 * against attn_qk_ref, softmax_ref and attn_av_ref, bit for bit. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kernel_ref.h"
#include "kernels/attention.h"
#include "kernels/quantize.h"

typedef int8_t q_rows[FLX_MAX_HEAD_DIM];
typedef float score_rows[FLX_MAX_SEQ];
typedef uint8_t prob_rows[FLX_MAX_SEQ];
typedef float out_rows[FLX_MAX_HEAD_DIM];

typedef struct attn_case {
    int n_q, kp, head_dim, n_keys, pos0, vp;
} attn_case;

/* Queries sit at positions pos0..pos0+n_q-1; keys past the last query are
 * masked for every row. */
static const attn_case CASES[] = {
    {1, 1, 64, 1, 0, 64},       /* first decode step */
    {1, 16, 64, 37, 36, 48},    /* decode, last tile partly filled */
    {5, 3, 8, 5, 0, 3},         /* first prompt block */
    {4, 8, 64, 45, 41, 7},      /* last prompt block of 4 */
    {2, 128, 64, 10, 8, 128},   /* fewer keys than one tile */
    {8, 128, 128, 300, 200, 3}, /* 92 keys after the last query */
    {32, 7, 96, 100, 68, 64},   /* FLX_MAX_TP queries */
    {2, 64, 80, 1000, 10, 80},
    {3, 128, 128, FLX_MAX_SEQ, FLX_MAX_SEQ - 3, 128}, /* full cache */
};

static void fill_int8(int8_t *v, long n, uint32_t *seed) {
    for (long i = 0; i < n; i++) v[i] = (int8_t)ref_rand_int(seed, -127, 127);
}

static void check_case(const attn_case *c, uint32_t *seed) {
    int n_q = c->n_q, head_dim = c->head_dim, n_keys = c->n_keys;
    long n_scores = (long)n_q * n_keys;
    int8_t *q = ref_alloc((size_t)n_q * head_dim);
    int8_t *k = ref_alloc((size_t)n_keys * head_dim), *v = ref_alloc((size_t)n_keys * head_dim);
    int32_t *q_pos = ref_alloc(sizeof(int32_t) * (size_t)n_q);
    fill_int8(q, (long)n_q * head_dim, seed);
    fill_int8(k, (long)n_keys * head_dim, seed);
    fill_int8(v, (long)n_keys * head_dim, seed);
    for (int t = 0; t < n_q; t++) q_pos[t] = c->pos0 + t;

    /* The kernels take rows of fixed stride, and the references packed rows. */
    q_rows *q_tile = ref_alloc(sizeof(q_rows) * (size_t)n_q);
    score_rows *scores = ref_alloc(sizeof(score_rows) * (size_t)n_q);
    prob_rows *p8 = ref_alloc(sizeof(prob_rows) * (size_t)n_q);
    out_rows *out = ref_alloc(sizeof(out_rows) * (size_t)n_q);
    for (int t = 0; t < n_q; t++) memcpy(q_tile[t], q + (long)t * head_dim, (size_t)head_dim);
    float *want_scores = ref_alloc(sizeof(float) * (size_t)n_scores);
    uint8_t *want_p8 = ref_alloc((size_t)n_scores);
    float *want_out = ref_alloc(sizeof(float) * (size_t)n_q * head_dim);
    float *got = ref_alloc(sizeof(float) * (size_t)n_scores);
    uint8_t *got_p8 = ref_alloc((size_t)n_scores);
    float *got_out = ref_alloc(sizeof(float) * (size_t)n_q * head_dim);

    const float q_scale = 0.02f, k_scale = 0.03f, prob_scale = 1.0f / 255.0f, v_scale = 0.05f;
    float score_scale = q_scale * k_scale / sqrtf((float)head_dim);
    char label[160];

    attn_qk_ref(q, n_q, q_pos, k, n_keys, head_dim, score_scale, want_scores);
    flx_attn_qk(q_tile, n_q, q_pos, k, n_keys, head_dim, c->kp, score_scale, scores);
    for (int t = 0; t < n_q; t++) memcpy(got + (long)t * n_keys, scores[t], sizeof(float) * (size_t)n_keys);
    snprintf(label, sizeof label, "qk n_q=%d kp=%d head_dim=%d n_keys=%d pos0=%d scores", n_q, c->kp, head_dim,
             n_keys, c->pos0);
    compare_f32(label, got, want_scores, n_scores);

    /* Softmax of the reference scores, so a QK mismatch does not repeat here. */
    for (int t = 0; t < n_q; t++) {
        memcpy(scores[t], want_scores + (long)t * n_keys, sizeof(float) * (size_t)n_keys);
        softmax_ref(want_scores + (long)t * n_keys, n_keys);
    }
    flx_softmax_rows(scores, n_q, n_keys);
    for (int t = 0; t < n_q; t++) memcpy(got + (long)t * n_keys, scores[t], sizeof(float) * (size_t)n_keys);
    snprintf(label, sizeof label, "softmax n_q=%d n_keys=%d probs", n_q, n_keys);
    compare_f32(label, got, want_scores, n_scores);
    for (int t = 0; t < n_q; t++) {
        double sum = 0;
        for (int p = 0; p < n_keys; p++) {
            sum += got[(long)t * n_keys + p];
            if (p > q_pos[t]) CHECK(got[(long)t * n_keys + p] == 0.0f);
        }
        CHECK_NEAR(sum, 1.0, 1e-5);
    }

    for (int t = 0; t < n_q; t++) {
        quant_prob_u8_ref(want_scores + (long)t * n_keys, n_keys, prob_scale, want_p8 + (long)t * n_keys);
        flx_quant_prob_u8(scores[t], n_keys, prob_scale, p8[t]);
        memcpy(got_p8 + (long)t * n_keys, p8[t], (size_t)n_keys);
    }
    snprintf(label, sizeof label, "prob u8 n_q=%d n_keys=%d codes", n_q, n_keys);
    compare_u8(label, got_p8, want_p8, n_scores);

    float out_scale = prob_scale * v_scale;
    attn_av_ref(want_p8, n_q, v, n_keys, head_dim, out_scale, want_out);
    for (int t = 0; t < n_q; t++) memcpy(p8[t], want_p8 + (long)t * n_keys, (size_t)n_keys);
    flx_attn_av(p8, n_q, v, n_keys, head_dim, c->vp, out_scale, out);
    for (int t = 0; t < n_q; t++) memcpy(got_out + (long)t * head_dim, out[t], sizeof(float) * (size_t)head_dim);
    snprintf(label, sizeof label, "av n_q=%d vp=%d head_dim=%d n_keys=%d out", n_q, c->vp, head_dim, n_keys);
    compare_f32(label, got_out, want_out, (long)n_q * head_dim);

    free(q);
    free(k);
    free(v);
    free(q_pos);
    free(q_tile);
    free(scores);
    free(p8);
    free(out);
    free(want_scores);
    free(want_p8);
    free(want_out);
    free(got);
    free(got_p8);
    free(got_out);
}

static void test_attention_cases(void) {
    uint32_t seed = 31;
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) check_case(&CASES[i], &seed);
}

/* Largest sums: |q . k| = 127 * 127 * 128 and p . v = 255 * 127 * 4096,
 * both exact in int32 and checked against the products themselves. */
static void test_extreme_sums(void) {
    const int head_dim = FLX_MAX_HEAD_DIM, n_keys = FLX_MAX_SEQ, n_q = 2;
    int8_t *k = ref_alloc((size_t)n_keys * head_dim);
    q_rows *q = ref_alloc(sizeof(q_rows) * n_q);
    int32_t *q_pos = ref_alloc(sizeof(int32_t) * n_q);
    score_rows *scores = ref_alloc(sizeof(score_rows) * n_q);
    prob_rows *p8 = ref_alloc(sizeof(prob_rows) * n_q);
    out_rows *out = ref_alloc(sizeof(out_rows) * n_q);
    memset(k, 127, (size_t)n_keys * head_dim);
    for (int t = 0; t < n_q; t++) {
        memset(q[t], t ? 0x81 /* -127 */ : 127, sizeof q[t]);
        memset(p8[t], 255, sizeof p8[t]);
        q_pos[t] = n_keys - 1;
    }
    flx_attn_qk(q, n_q, q_pos, k, n_keys, head_dim, 128, 1.0f, scores);
    CHECK(scores[0][0] == (float)(127 * 127 * 128));
    CHECK(scores[1][n_keys - 1] == (float)(-127 * 127 * 128));

    flx_attn_av(p8, n_q, k, n_keys, head_dim, 128, 1.0f, out);
    CHECK(out[0][0] == (float)(255 * 127 * n_keys));
    CHECK(out[1][head_dim - 1] == (float)(255 * 127 * n_keys));
    free(k);
    free(q);
    free(q_pos);
    free(scores);
    free(p8);
    free(out);
}

/* Softmax rows worked by hand: equal scores, a single unmasked key, and
 * scores far apart. */
static void test_softmax_hand_cases(void) {
    const int n_q = 3, n_keys = 4;
    score_rows *rows = ref_alloc(sizeof(score_rows) * n_q);
    const float inputs[3][4] = {{2.0f, 2.0f, 2.0f, 2.0f},
                                {5.0f, FLX_MASKED_SCORE, FLX_MASKED_SCORE, FLX_MASKED_SCORE},
                                {-80.0f, 0.0f, 80.0f, 80.0f}};
    for (int t = 0; t < n_q; t++) memcpy(rows[t], inputs[t], sizeof inputs[t]);
    flx_softmax_rows(rows, n_q, n_keys);
    for (int p = 0; p < n_keys; p++) CHECK(rows[0][p] == 0.25f);
    CHECK(rows[1][0] == 1.0f);
    for (int p = 1; p < n_keys; p++) CHECK(rows[1][p] == 0.0f);
    CHECK(rows[2][2] == 0.5f);
    CHECK(rows[2][3] == 0.5f);
    CHECK_NEAR(rows[2][1], 0.5 * exp(-80.0), 1e-9);
    free(rows);
}

int main(void) {
    test_attention_cases();
    test_extreme_sums();
    test_softmax_hand_cases();
    return flx_check_report("test_kernel_attention");
}
