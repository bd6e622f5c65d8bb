/* Quantizers and the linear dequantizers (also the two-pass one of 16-bit
 * weights) against the spec formulas in kernel_ref.c, bit for bit, plus
 * hand-worked cases. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kernel_ref.h"
#include "kernels/quantize.h"

/* Kinds of test vector for the dynamic quantizer. */
enum vector_kind { MIXED, NEGATIVE, POSITIVE, CONSTANT, CONSTANT_NEGATIVE, ZEROS, OUTLIER, N_KINDS };
static const char *const KIND_NAMES[N_KINDS] = {"mixed",          "negative-only", "positive-only", "constant",
                                                "constant-negative", "zeros",      "outlier"};

static void fill_vector(float *x, int n, enum vector_kind kind, uint32_t *seed) {
    for (int i = 0; i < n; i++) {
        switch (kind) {
        case MIXED: x[i] = ref_rand_float(seed, -3.0f, 5.0f); break;
        case NEGATIVE: x[i] = ref_rand_float(seed, -6.0f, -0.5f); break;
        case POSITIVE: x[i] = ref_rand_float(seed, 0.25f, 4.0f); break;
        case CONSTANT: x[i] = 2.5f; break;
        case CONSTANT_NEGATIVE: x[i] = -1.25f; break;
        case ZEROS: x[i] = 0.0f; break;
        case OUTLIER: x[i] = i == n / 2 ? 300.0f : ref_rand_float(seed, -1.0f, 1.0f); break;
        default: break;
        }
    }
}

static void test_dynamic_against_reference(void) {
    static const int ns[] = {1, 7, 256, FLX_MAX_LINEAR_IN};
    static const float clips[] = {1.0f, 0.9f};
    uint32_t seed = 5;
    for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
        int n = ns[ni];
        float *x = ref_alloc(sizeof(float) * (size_t)n);
        int16_t *q = ref_alloc(sizeof(int16_t) * (size_t)n);
        int16_t *want = ref_alloc(sizeof(int16_t) * (size_t)n);
        for (int kind = 0; kind < N_KINDS; kind++) {
            fill_vector(x, n, (enum vector_kind)kind, &seed);
            for (int bits = 4; bits <= 8; bits += 4)
                for (int asym = 0; asym <= 1; asym++)
                    for (int c = 0; c < 2; c++) {
                        float want_scale, want_offset;
                        quant_dynamic_ref(x, n, bits, asym, clips[c], want, &want_scale, &want_offset);
                        memset(q, 0x55, sizeof(int16_t) * (size_t)n);
                        flx_qparams p = flx_quant_dynamic(x, n, bits, asym, clips[c], q);
                        char label[128];
                        snprintf(label, sizeof label, "%s n=%d bits=%d %s clip=%g", KIND_NAMES[kind], n, bits,
                                 asym ? "asym" : "sym", (double)clips[c]);
                        char field[160];
                        snprintf(field, sizeof field, "%s codes", label);
                        compare_i16(field, q, want, n);
                        snprintf(field, sizeof field, "%s scale", label);
                        compare_f32(field, &p.scale, &want_scale, 1);
                        snprintf(field, sizeof field, "%s offset", label);
                        compare_f32(field, &p.offset, &want_offset, 1);
                    }
        }
        free(x);
        free(q);
        free(want);
    }
}

/* Codes of a vector with the clip at 1 reconstruct it to half a step. */
static void test_dynamic_reconstruction(void) {
    const int n = 300;
    uint32_t seed = 9;
    float *x = ref_alloc(sizeof(float) * n);
    int16_t *q = ref_alloc(sizeof(int16_t) * n);
    fill_vector(x, n, MIXED, &seed);
    for (int bits = 4; bits <= 8; bits += 4)
        for (int asym = 0; asym <= 1; asym++) {
            flx_qparams p = flx_quant_dynamic(x, n, bits, asym, 1.0f, q);
            int lo = asym ? 0 : -((1 << (bits - 1)) - 1);
            int hi = asym ? (1 << bits) - 1 : (1 << (bits - 1)) - 1;
            for (int i = 0; i < n; i++) {
                CHECK(q[i] >= lo);
                CHECK(q[i] <= hi);
                double back = (double)p.scale * q[i] + p.offset;
                CHECK_NEAR(back, x[i], 0.5 * p.scale * (1 + 1e-5));
            }
        }
    free(x);
    free(q);
}

static void check_codes(const char *label, const float *values, int n, int bits, int asym, float clip,
                        const int16_t *want, float want_scale, float want_offset) {
    float *x = ref_alloc(sizeof(float) * (size_t)n);
    int16_t *q = ref_alloc(sizeof(int16_t) * (size_t)n);
    memcpy(x, values, sizeof(float) * (size_t)n);
    flx_qparams p = flx_quant_dynamic(x, n, bits, asym, clip, q);
    compare_i16(label, q, want, n);
    CHECK_NEAR(p.scale, want_scale, 1e-7);
    CHECK_NEAR(p.offset, want_offset, 1e-7);
    free(x);
    free(q);
}

/* Worked by hand from the spec: halves round away from zero, codes clamp,
 * and a zero range gives scale 1. */
static void test_dynamic_hand_cases(void) {
    /* lo 0, hi 15: step 1, so 2.5 and 7.5 are exact halves. */
    check_codes("asym4 halves", (const float[]){0.0f, 2.5f, 7.5f, 15.0f}, 4, 4, 1, 1.0f,
                (const int16_t[]){0, 3, 8, 15}, 1.0f, 0.0f);
    /* max |x| 7 at 4 bits: step 1. */
    check_codes("sym4 halves", (const float[]){-7.0f, -2.5f, 0.5f, 3.5f}, 4, 4, 0, 1.0f,
                (const int16_t[]){-7, -3, 1, 4}, 1.0f, 0.0f);
    /* Constant vector: hi == lo, scale 1, every code round(x - lo) = 0. */
    check_codes("asym constant", (const float[]){2.5f, 2.5f, 2.5f}, 3, 8, 1, 1.0f,
                (const int16_t[]){0, 0, 0}, 1.0f, 2.5f);
    /* Clipped constant: lo = hi = 2, scale 1, code round(4 - 2) = 2. */
    check_codes("asym clipped constant", (const float[]){4.0f, 4.0f}, 2, 4, 1, 0.5f,
                (const int16_t[]){2, 2}, 1.0f, 2.0f);
    check_codes("sym zeros", (const float[]){0.0f, 0.0f, 0.0f}, 3, 8, 0, 1.0f,
                (const int16_t[]){0, 0, 0}, 1.0f, 0.0f);
    /* Negative only: lo -4, hi -1, step 3/255, -2 sits at 2/3 of 255. */
    check_codes("asym negative", (const float[]){-4.0f, -2.0f, -1.0f}, 3, 8, 1, 1.0f,
                (const int16_t[]){0, 170, 255}, 3.0f / 255.0f, -4.0f);
    /* Clip 0.5 of max |x| 10 gives step 5/127: -10 and 9.9 clamp, 1 -> 25.4 -> 25. */
    check_codes("sym clipped", (const float[]){-10.0f, 1.0f, 9.9f}, 3, 8, 0, 0.5f,
                (const int16_t[]){-127, 25, 127}, 5.0f / 127.0f, 0.0f);
    /* Clip 0.5 asymmetric gives lo -1, hi 2, step 0.2: -2 clamps to 0, 4 to 15. */
    check_codes("asym clipped", (const float[]){-2.0f, 0.0f, 4.0f}, 3, 4, 1, 0.5f,
                (const int16_t[]){0, 5, 15}, 0.2f, -1.0f);
}

static void test_static_i8(void) {
    /* Scale 0.5: 0.25 -> 0.5 -> 1, 63.4 -> 126.8 -> 127, 63.6 and -100 clamp. */
    static const float values[] = {0.25f, -0.25f, 63.4f, 63.6f, -100.0f, 0.1f, -63.75f, 0.0f};
    static const int8_t expected[] = {1, -1, 127, 127, -127, 0, -127, 0};
    int n = (int)(sizeof values / sizeof values[0]);
    float *x = ref_alloc(sizeof values);
    int8_t *q = ref_alloc((size_t)n);
    memcpy(x, values, sizeof values);
    flx_quant_static_i8(x, n, 0.5f, q);
    compare_i8("static i8 hand cases", q, expected, n);
    free(x);
    free(q);

    static const int ns[] = {1, 64, FLX_MAX_HEAD_DIM};
    uint32_t seed = 3;
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
        n = ns[k];
        x = ref_alloc(sizeof(float) * (size_t)n);
        q = ref_alloc((size_t)n);
        int8_t *want = ref_alloc((size_t)n);
        for (int i = 0; i < n; i++) x[i] = ref_rand_float(&seed, -4.0f, 4.0f);
        float scale = 3.0f / 127.0f; /* values past 3 clamp */
        quant_static_i8_ref(x, n, scale, want);
        flx_quant_static_i8(x, n, scale, q);
        compare_i8("static i8 random", q, want, n);
        free(x);
        free(q);
        free(want);
    }
}

static void test_prob_u8(void) {
    /* Scale 0.25: 0.125 -> 0.5 -> 1 and 0.375 -> 1.5 -> 2. Negatives clamp to 0. */
    static const float values[] = {0.0f, 0.125f, 0.375f, -0.1f, -1.0f, 63.75f, 64.0f, 1000.0f};
    static const uint8_t expected[] = {0, 1, 2, 0, 0, 255, 255, 255};
    int n = (int)(sizeof values / sizeof values[0]);
    float *p = ref_alloc(sizeof values);
    uint8_t *q = ref_alloc((size_t)n);
    memcpy(p, values, sizeof values);
    flx_quant_prob_u8(p, n, 0.25f, q);
    compare_u8("prob u8 hand cases", q, expected, n);
    free(p);
    free(q);

    /* Probabilities at the attention scale 1/255 over a full cache. */
    n = FLX_MAX_SEQ;
    uint32_t seed = 4;
    p = ref_alloc(sizeof(float) * (size_t)n);
    q = ref_alloc((size_t)n);
    uint8_t *want = ref_alloc((size_t)n);
    for (int i = 0; i < n; i++) p[i] = i == 0 ? 1.0f : ref_rand_float(&seed, 0.0f, 1.0f);
    quant_prob_u8_ref(p, n, 1.0f / 255.0f, want);
    flx_quant_prob_u8(p, n, 1.0f / 255.0f, q);
    compare_u8("prob u8 random", q, want, n);
    CHECK_INT_EQ(q[0], 255);
    free(p);
    free(q);
    free(want);
}

static void test_dequant(void) {
    const int n = 1000;
    uint32_t seed = 8;
    int32_t *acc = ref_alloc(sizeof(int32_t) * n);
    float *w_scale = ref_alloc(sizeof(float) * n), *w_rowsum = ref_alloc(sizeof(float) * n);
    float *y = ref_alloc(sizeof(float) * n), *want = ref_alloc(sizeof(float) * n);
    for (int o = 0; o < n; o++) {
        acc[o] = ref_rand_int(&seed, -(1 << 30), 1 << 30);
        w_scale[o] = ref_rand_float(&seed, 1e-4f, 0.05f);
        w_rowsum[o] = ref_rand_float(&seed, -20.0f, 20.0f);
    }
    acc[0] = 0;
    acc[1] = INT32_MAX;
    acc[2] = -INT32_MAX;
    for (int asym = 0; asym <= 1; asym++) {
        /* The symmetric call gets an offset too, which it must ignore. */
        flx_qparams xq = {0.0123f, -1.75f};
        dequant_linear_ref(acc, n, xq.scale, xq.offset, asym, w_scale, w_rowsum, want);
        flx_dequant_linear(acc, n, xq, asym, w_scale, w_rowsum, y);
        compare_f32(asym ? "dequant asym y" : "dequant sym y", y, want, n);
    }
    free(acc);
    free(w_scale);
    free(w_rowsum);
    free(y);
    free(want);
}

/* Quantize, integer dot product, dequantize: the result equals the double
 * product of the dequantized weights and activations (the spec's identity
 * sum_i (w_s q_w)(x_s q_x + off) = x_s w_s acc + off rowsum) to float
 * rounding. */
static void test_dequant_identity(void) {
    const int d_in = 200, d_out = 17, bits = 8;
    uint32_t seed = 12;
    float *x = ref_alloc(sizeof(float) * d_in);
    int16_t *qx = ref_alloc(sizeof(int16_t) * d_in);
    int8_t *qw = ref_alloc((size_t)d_out * d_in);
    int64_t *dot = ref_alloc(sizeof(int64_t) * d_out);
    int32_t *acc = ref_alloc(sizeof(int32_t) * d_out);
    float *w_scale = ref_alloc(sizeof(float) * d_out), *w_rowsum = ref_alloc(sizeof(float) * d_out);
    float *y = ref_alloc(sizeof(float) * d_out);

    fill_vector(x, d_in, MIXED, &seed);
    for (int o = 0; o < d_out; o++) {
        w_scale[o] = ref_rand_float(&seed, 0.001f, 0.01f);
        double rowsum = 0;
        for (int i = 0; i < d_in; i++) {
            qw[o * d_in + i] = (int8_t)ref_rand_int(&seed, -127, 127);
            rowsum += (double)w_scale[o] * qw[o * d_in + i];
        }
        w_rowsum[o] = (float)rowsum;
    }

    for (int asym = 0; asym <= 1; asym++) {
        flx_qparams xq = flx_quant_dynamic(x, d_in, bits, asym, 1.0f, qx);
        linear_ref(qx, 1, qw, d_out, d_in, dot);
        for (int o = 0; o < d_out; o++) acc[o] = (int32_t)dot[o];
        flx_dequant_linear(acc, d_out, xq, asym, w_scale, w_rowsum, y);
        for (int o = 0; o < d_out; o++) {
            double want = 0;
            for (int i = 0; i < d_in; i++)
                want += ((double)w_scale[o] * qw[o * d_in + i]) * ((double)xq.scale * qx[i] + xq.offset);
            CHECK_NEAR(y[o], want, 1e-5);
        }
    }

    free(x);
    free(qx);
    free(qw);
    free(dot);
    free(acc);
    free(w_scale);
    free(w_rowsum);
    free(y);
}

static void test_dequant_split(void) {
    const int n = 1000;
    uint32_t seed = 21;
    int32_t *hi = ref_alloc(sizeof(int32_t) * n), *lo = ref_alloc(sizeof(int32_t) * n);
    float *w_scale = ref_alloc(sizeof(float) * n), *w_rowsum = ref_alloc(sizeof(float) * n);
    float *y = ref_alloc(sizeof(float) * n), *want = ref_alloc(sizeof(float) * n);
    for (int o = 0; o < n; o++) {
        hi[o] = ref_rand_int(&seed, -(1 << 30), 1 << 30);
        lo[o] = ref_rand_int(&seed, -(1 << 30), 1 << 30);
        w_scale[o] = ref_rand_float(&seed, 1e-7f, 1e-4f);
        w_rowsum[o] = ref_rand_float(&seed, -20.0f, 20.0f);
    }

    /* The int32 extremes, and accumulators of the size real layers give. */
    hi[0] = INT32_MAX;
    lo[0] = INT32_MAX;
    hi[1] = INT32_MIN;
    lo[1] = INT32_MIN;
    hi[2] = 0;
    lo[2] = -1;
    for (int o = 3; o < 100; o++) {
        hi[o] = ref_rand_int(&seed, -4000000, 4000000);
        lo[o] = ref_rand_int(&seed, -4000000, 4000000);
    }

    for (int asym = 0; asym <= 1; asym++) {
        flx_qparams xq = {0.0123f, -1.75f};
        dequant_linear_split_ref(hi, lo, n, xq.scale, xq.offset, asym, w_scale, w_rowsum, want);
        flx_dequant_linear_split(hi, lo, n, xq, asym, w_scale, w_rowsum, y);
        compare_f32(asym ? "dequant split asym y" : "dequant split sym y", y, want, n);
    }
    free(hi);
    free(lo);
    free(w_scale);
    free(w_rowsum);
    free(y);
    free(want);
}

/* 256 * 16777217 + 100 = 4294967652 lies 356 above 2^32, where floats are
 * 512 apart, so it rounds up to 4294967808. Rounding acc_hi to float first
 * would give 2^32. */
static void test_dequant_split_hand_case(void) {
    int32_t *hi = ref_alloc(sizeof(int32_t) * 2), *lo = ref_alloc(sizeof(int32_t) * 2);
    float *one = ref_alloc(sizeof(float) * 2), *zero = ref_alloc(sizeof(float) * 2);
    float *y = ref_alloc(sizeof(float) * 2);
    hi[0] = 16777217;
    lo[0] = 100;
    hi[1] = 1; /* 256 - 1 = 255 */
    lo[1] = -1;
    one[0] = one[1] = 1.0f;
    zero[0] = zero[1] = 0.0f;
    flx_dequant_linear_split(hi, lo, 2, (flx_qparams){1.0f, 0.0f}, false, one, zero, y);
    CHECK(y[0] == 4294967808.0f);
    CHECK(y[1] == 255.0f);
    free(hi);
    free(lo);
    free(one);
    free(zero);
    free(y);
}

/* 16-bit codes split into high and low bytes: the two 8-bit passes and the
 * split dequantizer give the bits of one pass over the whole codes. */
static void test_dequant_split_recombines(void) {
    const int d_in = 200, d_out = 23;
    uint32_t seed = 33;
    float *x = ref_alloc(sizeof(float) * d_in);
    int16_t *qx = ref_alloc(sizeof(int16_t) * d_in);
    int8_t *w_hi = ref_alloc((size_t)d_out * d_in), *w_lo = ref_alloc((size_t)d_out * d_in);
    int *codes = ref_alloc(sizeof(int) * (size_t)d_out * d_in);
    int64_t *dot_hi = ref_alloc(sizeof(int64_t) * d_out), *dot_lo = ref_alloc(sizeof(int64_t) * d_out);
    int32_t *acc_hi = ref_alloc(sizeof(int32_t) * d_out), *acc_lo = ref_alloc(sizeof(int32_t) * d_out);
    int32_t *acc = ref_alloc(sizeof(int32_t) * d_out);
    float *w_scale = ref_alloc(sizeof(float) * d_out), *w_rowsum = ref_alloc(sizeof(float) * d_out);
    float *y = ref_alloc(sizeof(float) * d_out), *want = ref_alloc(sizeof(float) * d_out);

    fill_vector(x, d_in, MIXED, &seed);
    for (int o = 0; o < d_out; o++) {
        w_scale[o] = ref_rand_float(&seed, 1e-6f, 1e-5f);
        double rowsum = 0;
        for (int i = 0; i < d_in; i++) {
            /* Row 0 takes the extreme codes, the others random ones. */
            int c = ref_rand_int(&seed, -32639, 32639);
            if (o == 0) c = i % 2 ? 32639 : -32639;
            int hi = (int)floor((c + 128) / 256.0);
            codes[o * d_in + i] = c;
            w_hi[o * d_in + i] = (int8_t)hi;
            w_lo[o * d_in + i] = (int8_t)(c - 256 * hi);
            rowsum += (double)w_scale[o] * c;
        }
        w_rowsum[o] = (float)rowsum;
    }

    for (int asym = 0; asym <= 1; asym++) {
        flx_qparams xq = flx_quant_dynamic(x, d_in, 8, asym, 1.0f, qx);
        linear_ref(qx, 1, w_hi, d_out, d_in, dot_hi);
        linear_ref(qx, 1, w_lo, d_out, d_in, dot_lo);
        for (int o = 0; o < d_out; o++) {
            int64_t whole = 0;
            for (int i = 0; i < d_in; i++) whole += (int64_t)qx[i] * codes[o * d_in + i];
            CHECK(whole == 256 * dot_hi[o] + dot_lo[o]);
            /* In int32, so that dequant_linear_ref can take it. */
            CHECK(whole >= INT32_MIN);
            CHECK(whole <= INT32_MAX);
            acc[o] = (int32_t)whole;
            acc_hi[o] = (int32_t)dot_hi[o];
            acc_lo[o] = (int32_t)dot_lo[o];
        }
        dequant_linear_ref(acc, d_out, xq.scale, xq.offset, asym, w_scale, w_rowsum, want);
        flx_dequant_linear_split(acc_hi, acc_lo, d_out, xq, asym, w_scale, w_rowsum, y);
        compare_f32(asym ? "split vs whole codes asym" : "split vs whole codes sym", y, want, d_out);
    }

    free(x);
    free(qx);
    free(w_hi);
    free(w_lo);
    free(codes);
    free(dot_hi);
    free(dot_lo);
    free(acc_hi);
    free(acc_lo);
    free(acc);
    free(w_scale);
    free(w_rowsum);
    free(y);
    free(want);
}

int main(void) {
    test_dynamic_against_reference();
    test_dynamic_reconstruction();
    test_dynamic_hand_cases();
    test_static_i8();
    test_prob_u8();
    test_dequant();
    test_dequant_identity();
    test_dequant_split();
    test_dequant_split_hand_case();
    test_dequant_split_recombines();
    return flx_check_report("test_kernel_quantize");
}
