/* RTN weight quantization: exact codes, scales and row sums on hand-made
 * matrices, the |W - s q| <= s/2 bound on random matrices, the split of
 * 16-bit codes into two bytes, and the recipe table. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "quant/recipe.h"
#include "quant/rtn.h"

/* Rows chosen so that no w/scale lands on a rounding tie. */
static void test_hand_made_4bit(void) {
    const float w[3][5] = {
        {3.5f, -1.2f, 0.8f, 0.1f, 2.2f},  /* scale 0.5: codes 7, -2, 2, 0, 4 */
        {0.0f, 0.0f, 0.0f, 0.0f, 0.0f},   /* zero row: scale 1, codes 0 */
        {-0.7f, 0.33f, 0.0f, 0.66f, 0.2f} /* scale 0.1: codes -7, 3, 0, 7, 2 */
    };
    int8_t q[15];
    float scale[3], rowsum[3];
    flx_error err;
    CHECK_INT_EQ(flx_rtn_quantize_rows(&w[0][0], 3, 5, 4, q, NULL, scale, rowsum, "hand", &err), 0);
    const int8_t expected[15] = {7, -2, 2, 0, 4, 0, 0, 0, 0, 0, -7, 3, 0, 7, 2};
    float s2 = 0.7f / 7.0f;
    for (int i = 0; i < 15; i++) CHECK_INT_EQ(q[i], expected[i]);
    CHECK(scale[0] == 0.5f);
    CHECK(scale[1] == 1.0f);
    CHECK(scale[2] == s2);
    CHECK(rowsum[0] == 5.5f);
    CHECK(rowsum[1] == 0.0f);
    CHECK(rowsum[2] == (float)((double)s2 * 5.0));
}

static void test_hand_made_8bit(void) {
    const float w[4] = {-2.54f, 1.0f, 0.013f, 2.0f};
    int8_t q[4];
    float scale, rowsum;
    flx_error err;
    CHECK_INT_EQ(flx_rtn_quantize_rows(w, 1, 4, 8, q, NULL, &scale, &rowsum, "hand", &err), 0);
    CHECK(scale == 2.54f / 127.0f);
    CHECK_INT_EQ(q[0], -127);
    CHECK_INT_EQ(q[1], 50);
    CHECK_INT_EQ(q[2], 1);
    CHECK_INT_EQ(q[3], 100);
    CHECK(rowsum == (float)((double)scale * 24.0));
}

/* Scale 3.2639 / 32639 = 1e-4 (to float rounding): codes 32639, -10000, 1,
 * 20000, which split as (127, 127), (-39, -16), (0, 1), (78, 32). */
static void test_hand_made_16bit(void) {
    const float w[4] = {3.2639f, -1.0f, 0.0001f, 2.0f};
    int8_t hi[4], lo[4];
    float scale, rowsum;
    flx_error err;
    CHECK_INT_EQ(flx_rtn_quantize_rows(w, 1, 4, 16, hi, lo, &scale, &rowsum, "hand", &err), 0);
    CHECK(scale == 3.2639f / 32639.0f);
    const int8_t want_hi[4] = {127, -39, 0, 78}, want_lo[4] = {127, -16, 1, 32};
    for (int i = 0; i < 4; i++) {
        CHECK_INT_EQ(hi[i], want_hi[i]);
        CHECK_INT_EQ(lo[i], want_lo[i]);
    }
    CHECK(rowsum == (float)((double)scale * 42640.0));
}

/* Every 16-bit code splits into bytes in the documented ranges that
 * recombine exactly. The expected high byte floor((c + 128) / 256) is
 * computed in double here. */
static void test_split_all_codes(void) {
    int bad_range = 0, bad_value = 0, hi_min = 0, lo_min = 0, hi_max = 0, lo_max = 0;
    for (int c = -FLX_QMAX16; c <= FLX_QMAX16; c++) {
        int hi = flx_code16_high(c), lo = flx_code16_low(c);
        if (hi < -127 || hi > 127 || lo < -128 || lo > 127) bad_range++;
        if (256 * hi + lo != c || hi != (int)floor((c + 128) / 256.0)) bad_value++;
        if (hi < hi_min) hi_min = hi;
        if (hi > hi_max) hi_max = hi;
        if (lo < lo_min) lo_min = lo;
        if (lo > lo_max) lo_max = lo;
    }
    CHECK_INT_EQ(bad_range, 0);
    CHECK_INT_EQ(bad_value, 0);
    /* The ranges are tight: both ends are reached. */
    CHECK_INT_EQ(hi_min, -127);
    CHECK_INT_EQ(hi_max, 127);
    CHECK_INT_EQ(lo_min, -128);
    CHECK_INT_EQ(lo_max, 127);
    CHECK_INT_EQ(flx_weight_qmax(16), 32639);
    CHECK_INT_EQ(flx_weight_qmax(8), 127);
    CHECK_INT_EQ(flx_weight_qmax(4), 7);

    /* flx_qlinear_code recombines the bytes of a 16-bit matrix. */
    int8_t q[3] = {-127, 0, 127}, q_lo[3] = {-127, -128, 127};
    flx_qlinear lin = {.d_in = 3, .d_out = 1, .bits = 16, .q = q, .q_lo = q_lo};
    CHECK_INT_EQ(flx_qlinear_code(&lin, 0), -32639);
    CHECK_INT_EQ(flx_qlinear_code(&lin, 1), -128);
    CHECK_INT_EQ(flx_qlinear_code(&lin, 2), 32639);
    lin.bits = 8;
    CHECK_INT_EQ(flx_qlinear_code(&lin, 0), -127);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static float uniform(float lo, float hi) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * (float)((rng_state >> 40) * (1.0 / 16777216.0));
}

static void test_random_bound(int bits) {
    enum { ROWS = 37, COLS = 129 };
    float *w = malloc(sizeof(float) * ROWS * COLS);
    int8_t *q = malloc(ROWS * COLS), *q_lo = malloc(ROWS * COLS);
    float scale[ROWS], rowsum[ROWS];
    for (int o = 0; o < ROWS; o++) {
        float range = powf(10.0f, uniform(-4.0f, 2.0f));
        for (int i = 0; i < COLS; i++) w[o * COLS + i] = uniform(-range, range);
    }

    flx_error err;
    CHECK_INT_EQ(flx_rtn_quantize_rows(w, ROWS, COLS, bits, q, bits == 16 ? q_lo : NULL, scale, rowsum,
                                       "random", &err), 0);

    int qmax = 32639;
    if (bits == 4) qmax = 7;
    if (bits == 8) qmax = 127;
    int worst = 0;
    for (int o = 0; o < ROWS; o++) {
        int hits_max = 0;
        double sum = 0.0;
        for (int i = 0; i < COLS; i++) {
            int code = bits == 16 ? 256 * q[o * COLS + i] + q_lo[o * COLS + i] : q[o * COLS + i];
            CHECK(code >= -qmax);
            CHECK(code <= qmax);
            if (code == qmax || code == -qmax) hits_max = 1;
            double e = fabs((double)w[o * COLS + i] - (double)scale[o] * code);
            /* roundf gets w / scale rounded to float, off by up to
             * qmax * 2^-24 codes, which widens the half-step bound. */
            if (e > scale[o] * (0.5 + qmax / 8388608.0)) worst++;
            sum += (double)scale[o] * code;
        }
        CHECK(hits_max);
        CHECK(rowsum[o] == (float)sum);
    }
    CHECK_INT_EQ(worst, 0);
    free(w);
    free(q);
    free(q_lo);
}

static void test_rejects_bad_input(void) {
    float w[2] = {1.0f, NAN};
    int8_t q[2];
    float scale, rowsum;
    flx_error err;
    CHECK_INT_EQ(flx_rtn_quantize_rows(w, 1, 2, 8, q, NULL, &scale, &rowsum, "blk.3.attn_q", &err), -1);
    CHECK(strstr(err.msg, "blk.3.attn_q: weight [0][1]") != NULL);
    CHECK(strstr(err.msg, "not finite") != NULL);
    w[1] = 0.5f;
    CHECK_INT_EQ(flx_rtn_quantize_rows(w, 1, 2, 3, q, NULL, &scale, &rowsum, "m", &err), -1);
    CHECK(strstr(err.msg, "3 bits") != NULL);
    CHECK_INT_EQ(flx_rtn_quantize_rows(w, 1, 2, 16, q, NULL, &scale, &rowsum, "output", &err), -1);
    CHECK(strstr(err.msg, "output: 16-bit weights need a buffer for the low bytes") != NULL);

    /* A caller-built recipe with an invalid width fails before any weight is read. */
    flx_error rerr;
    const flx_recipe *base = flx_recipe_find("w4a8", &rerr);
    CHECK(base != NULL);
    if (!base) return;
    flx_model model;
    memset(&model, 0, sizeof model);
    flx_qmodel qm;
    flx_recipe custom = *base;
    custom.lm_head_weight_bits = 12;
    CHECK_INT_EQ(flx_recipe_apply(&qm, &model, &custom, &rerr), -1);
    CHECK(strstr(rerr.msg, "recipe w4a8: LM-head weight width of 12 bits is invalid (expected 4, 8 or 16)") != NULL);
    custom = *base;
    custom.weight_bits = 16;
    CHECK_INT_EQ(flx_recipe_apply(&qm, &model, &custom, &rerr), -1);
    CHECK(strstr(rerr.msg, "layer weight width of 16 bits is invalid (expected 4 or 8)") != NULL);
    custom = *base;
    custom.lm_head_act.bits = 16;
    CHECK_INT_EQ(flx_recipe_apply(&qm, &model, &custom, &rerr), -1);
    CHECK(strstr(rerr.msg, "LM-head input quantizer of 16 bits") != NULL);
}

static void test_recipes(void) {
    flx_error err;
    const flx_recipe *r = flx_recipe_find("w8a8", &err);
    CHECK(r != NULL);
    if (r) {
        CHECK_INT_EQ(r->weight_bits, 8);
        CHECK_INT_EQ(r->act.bits, 8);
        CHECK(!r->act.asymmetric);
        CHECK_INT_EQ(r->lm_head_weight_bits, 16);
        CHECK_INT_EQ(r->lm_head_act.bits, 8);
        CHECK(r->lm_head_act.asymmetric);
    }

    r = flx_recipe_find("w4a8", &err);
    CHECK(r != NULL);
    if (r) {
        CHECK_INT_EQ(r->weight_bits, 4);
        CHECK_INT_EQ(r->act.bits, 8);
        CHECK_INT_EQ(r->lm_head_weight_bits, 8);
        CHECK_INT_EQ(r->lm_head_act.bits, 8);
    }

    r = flx_recipe_find("w4a4-rtn", &err);
    CHECK(r != NULL);
    if (r) {
        CHECK_INT_EQ(r->weight_bits, 4);
        CHECK_INT_EQ(r->act.bits, 4);
        CHECK(r->act.asymmetric);
        CHECK_INT_EQ(r->lm_head_weight_bits, 4);
        CHECK(r->lm_head_act.asymmetric);
        CHECK(r->act.clip == 1.0f);
    }

    CHECK(flx_recipe_find("bogus", &err) == NULL);
    CHECK(strstr(err.msg, "unknown recipe 'bogus'") != NULL);
    CHECK(strstr(err.msg, "w8a8, w4a8, w4a4-rtn") != NULL);
    CHECK_INT_EQ(flx_recipe_count(), 8);
    /* The names of the issue and the former names of the RTN recipes. */
    const char *names[] = {"w8a8", "w4a8", "w4a4-rtn", "quarot-w4a4kv4", "spinquant-w4a4kv4", "flexllm-hw"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) CHECK(flx_recipe_find(names[i], &err) != NULL);
    CHECK(flx_recipe_find("rtn-w8a8", &err) == flx_recipe_find("w8a8", &err));
    CHECK(flx_recipe_find("rtn-w4a8", &err) == flx_recipe_find("w4a8", &err));
    CHECK(flx_recipe_find("rtn-w4a4", &err) == flx_recipe_find("w4a4-rtn", &err));
    /* QuaRot's settings: R3 and R4 online, KV cache INT4 per token and head. */
    const flx_recipe *quarot = flx_recipe_find("quarot-w4a4kv4", &err);
    CHECK(quarot != NULL);
    if (quarot) {
        CHECK(quarot->r3);
        CHECK(quarot->r4);
        CHECK(quarot->kv.dynamic);
        CHECK_INT_EQ(quarot->kv.bits, 4);
        CHECK(!quarot->act.asymmetric);
        CHECK(quarot->act.clip == 0.9f);
    }
}

int main(void) {
    test_hand_made_4bit();
    test_hand_made_8bit();
    test_hand_made_16bit();
    test_split_all_codes();
    test_random_bound(4);
    test_random_bound(8);
    test_random_bound(16);
    test_rejects_bad_input();
    test_recipes();
    return flx_check_report("test_rtn");
}
