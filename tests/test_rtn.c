/* RTN weight quantization: exact codes, scales and row sums on a hand-made
 * matrix, the |W - s q| <= s/2 bound on random matrices, and the recipe
 * table. */
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
    CHECK_INT_EQ(flx_rtn_quantize_rows(&w[0][0], 3, 5, 4, q, scale, rowsum, "hand", &err), 0);
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
    CHECK_INT_EQ(flx_rtn_quantize_rows(w, 1, 4, 8, q, &scale, &rowsum, "hand", &err), 0);
    CHECK(scale == 2.54f / 127.0f);
    CHECK_INT_EQ(q[0], -127);
    CHECK_INT_EQ(q[1], 50);
    CHECK_INT_EQ(q[2], 1);
    CHECK_INT_EQ(q[3], 100);
    CHECK(rowsum == (float)((double)scale * 24.0));
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static float uniform(float lo, float hi) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * (float)((rng_state >> 40) * (1.0 / 16777216.0));
}

static void test_random_bound(int bits) {
    enum { ROWS = 37, COLS = 129 };
    float *w = malloc(sizeof(float) * ROWS * COLS);
    int8_t *q = malloc(ROWS * COLS);
    float scale[ROWS], rowsum[ROWS];
    for (int o = 0; o < ROWS; o++) {
        float range = powf(10.0f, uniform(-4.0f, 2.0f));
        for (int i = 0; i < COLS; i++) w[o * COLS + i] = uniform(-range, range);
    }

    flx_error err;
    CHECK_INT_EQ(flx_rtn_quantize_rows(w, ROWS, COLS, bits, q, scale, rowsum, "random", &err), 0);

    int qmax = bits == 4 ? 7 : 127;
    int worst = 0;
    for (int o = 0; o < ROWS; o++) {
        int hits_max = 0;
        double sum = 0.0;
        for (int i = 0; i < COLS; i++) {
            int code = q[o * COLS + i];
            CHECK(code >= -qmax);
            CHECK(code <= qmax);
            if (code == qmax || code == -qmax) hits_max = 1;
            double e = fabs((double)w[o * COLS + i] - (double)scale[o] * code);
            if (e > scale[o] * 0.5 * (1.0 + 1e-5)) worst++;
            sum += (double)scale[o] * code;
        }
        CHECK(hits_max);
        CHECK(rowsum[o] == (float)sum);
    }
    CHECK_INT_EQ(worst, 0);
    free(w);
    free(q);
}

static void test_rejects_bad_input(void) {
    float w[2] = {1.0f, NAN};
    int8_t q[2];
    float scale, rowsum;
    flx_error err;
    CHECK_INT_EQ(flx_rtn_quantize_rows(w, 1, 2, 8, q, &scale, &rowsum, "blk.3.attn_q", &err), -1);
    CHECK(strstr(err.msg, "blk.3.attn_q: weight [0][1]") != NULL);
    CHECK(strstr(err.msg, "not finite") != NULL);
    w[1] = 0.5f;
    CHECK_INT_EQ(flx_rtn_quantize_rows(w, 1, 2, 3, q, &scale, &rowsum, "m", &err), -1);
    CHECK(strstr(err.msg, "3 bits") != NULL);
}

static void test_recipes(void) {
    flx_error err;
    const flx_recipe *r = flx_recipe_find("rtn-w8a8", &err);
    CHECK(r != NULL);
    if (r) {
        CHECK_INT_EQ(r->weight_bits, 8);
        CHECK_INT_EQ(r->act.bits, 8);
        CHECK(!r->act.asymmetric);
        CHECK_INT_EQ(r->lm_head_weight_bits, 8);
    }

    r = flx_recipe_find("rtn-w4a8", &err);
    CHECK(r != NULL);
    if (r) {
        CHECK_INT_EQ(r->weight_bits, 4);
        CHECK_INT_EQ(r->act.bits, 8);
        CHECK_INT_EQ(r->lm_head_weight_bits, 8);
        CHECK_INT_EQ(r->lm_head_act.bits, 8);
    }

    r = flx_recipe_find("rtn-w4a4", &err);
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
    CHECK(strstr(err.msg, "rtn-w8a8, rtn-w4a8, rtn-w4a4") != NULL);
    CHECK_INT_EQ(flx_recipe_count(), 3);
}

int main(void) {
    test_hand_made_4bit();
    test_hand_made_8bit();
    test_random_bound(4);
    test_random_bound(8);
    test_rejects_bad_input();
    test_recipes();
    return flx_check_report("test_rtn");
}
