/* Dequantization of F16, BF16, Q8_0 and Q4_0 against hand-computed values,
 * and the quantizers the writer uses against their error bounds. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "modelio/gguf.h"
#include "modelio/gguf_writer.h"

static void put_u16(uint8_t *p, uint16_t v) {
    memcpy(p, &v, 2);
}

static void test_f16(void) {
    /* 0x3c00 = 1, 0xc000 = -2, 0x3555 = 0x555/1024 * 2^-2 + 2^-2, 0x0001 = 2^-24
     * (smallest subnormal), 0x7bff = 65504 (largest finite), 0x8000 = -0. */
    const uint16_t bits[6] = {0x3c00, 0xc000, 0x3555, 0x0001, 0x7bff, 0x8000};
    const double want[6] = {1.0, -2.0, 0.333251953125, 5.9604644775390625e-08, 65504.0, -0.0};
    uint8_t src[12];
    for (int i = 0; i < 6; i++) put_u16(src + 2 * i, bits[i]);
    float out[6];
    CHECK_INT_EQ(flx_ggml_dequantize(FLX_GGML_F16, src, out, 6), 0);
    for (int i = 0; i < 6; i++) CHECK_NEAR(out[i], want[i], 0);
    CHECK(signbit(out[5]));

    uint8_t encoded[2];
    float third = 1.0f / 3.0f;
    CHECK_INT_EQ(flx_ggml_quantize(FLX_GGML_F16, &third, encoded, 1), 0);
    uint16_t h;
    memcpy(&h, encoded, 2);
    CHECK_INT_EQ(h, 0x3555);
}

static void test_bf16(void) {
    /* bfloat16 is the top half of a float32: 0x3f80 = 1, 0xc040 = -3,
     * 0x3eab = 0x3eab0000 = 0.333984375. */
    const uint16_t bits[3] = {0x3f80, 0xc040, 0x3eab};
    const double want[3] = {1.0, -3.0, 0.333984375};
    uint8_t src[6];
    for (int i = 0; i < 3; i++) put_u16(src + 2 * i, bits[i]);
    float out[3];
    CHECK_INT_EQ(flx_ggml_dequantize(FLX_GGML_BF16, src, out, 3), 0);
    for (int i = 0; i < 3; i++) CHECK_NEAR(out[i], want[i], 0);

    uint8_t encoded[2];
    float third = 1.0f / 3.0f; /* 0x3eaaaaab rounds up to 0x3eab */
    CHECK_INT_EQ(flx_ggml_quantize(FLX_GGML_BF16, &third, encoded, 1), 0);
    uint16_t h;
    memcpy(&h, encoded, 2);
    CHECK_INT_EQ(h, 0x3eab);
}

static void test_q8_0(void) {
    /* Block 0: d = 0.5 (0x3800), q[j] = j - 16, so x[j] = 0.5 * (j - 16).
     * Block 1: d = 2 (0x4000), q alternates 127 and -127. */
    uint8_t src[68];
    put_u16(src, 0x3800);
    for (int j = 0; j < 32; j++) src[2 + j] = (uint8_t)(int8_t)(j - 16);
    put_u16(src + 34, 0x4000);
    for (int j = 0; j < 32; j++) src[36 + j] = (uint8_t)(int8_t)(j % 2 ? -127 : 127);
    float out[64];
    CHECK_INT_EQ(flx_ggml_dequantize(FLX_GGML_Q8_0, src, out, 64), 0);
    for (int j = 0; j < 32; j++) CHECK_NEAR(out[j], 0.5 * (j - 16), 0);
    for (int j = 0; j < 32; j++) CHECK_NEAR(out[32 + j], j % 2 ? -254.0 : 254.0, 0);

    /* Values k/2 with max |x| = 63.5 give d = 0.5 exactly: quantizing and
     * dequantizing returns them unchanged. */
    float x[32], back[32];
    for (int j = 0; j < 32; j++) x[j] = (j == 0) ? 63.5f : 0.5f * (float)(j * 7 % 41 - 20);
    uint8_t block[34];
    CHECK_INT_EQ(flx_ggml_quantize(FLX_GGML_Q8_0, x, block, 32), 0);
    uint16_t d;
    memcpy(&d, block, 2);
    CHECK_INT_EQ(d, 0x3800);
    flx_ggml_dequantize(FLX_GGML_Q8_0, block, back, 32);
    for (int j = 0; j < 32; j++) CHECK_NEAR(back[j], x[j], 0);
}

static void test_q4_0(void) {
    /* Block 0: d = 1 (0x3c00); byte j holds j in the low nibble and 15 - j
     * in the high nibble, so x[j] = j - 8 and x[j + 16] = 7 - j.
     * Block 1: d = -0.25 (0xb400) and every byte 0x0f, so values 0..15 are
     * (15 - 8) * -0.25 = -1.75 and values 16..31 are (0 - 8) * -0.25 = 2. */
    uint8_t src[36];
    put_u16(src, 0x3c00);
    for (int j = 0; j < 16; j++) src[2 + j] = (uint8_t)(j | ((15 - j) << 4));
    put_u16(src + 18, 0xb400);
    for (int j = 0; j < 16; j++) src[20 + j] = 0x0f;
    float out[64];
    CHECK_INT_EQ(flx_ggml_dequantize(FLX_GGML_Q4_0, src, out, 64), 0);
    for (int j = 0; j < 16; j++) {
        CHECK_NEAR(out[j], j - 8, 0);
        CHECK_NEAR(out[16 + j], 7 - j, 0);
        CHECK_NEAR(out[32 + j], -1.75, 0);
        CHECK_NEAR(out[48 + j], 2.0, 0);
    }

    /* Integers in [-8, 7] with -8 present give d = 1 exactly. */
    float x[32], back[32];
    for (int j = 0; j < 32; j++) x[j] = (float)(j % 16 - 8);
    uint8_t block[18];
    CHECK_INT_EQ(flx_ggml_quantize(FLX_GGML_Q4_0, x, block, 32), 0);
    flx_ggml_dequantize(FLX_GGML_Q4_0, block, back, 32);
    for (int j = 0; j < 32; j++) CHECK_NEAR(back[j], x[j], 0);
}

/* Quantization error stays within half a step (one step for Q4_0 values
 * on the far side of the largest magnitude, which clamp at level 15). */
static void test_error_bounds(void) {
    float x[256], back[256];
    uint32_t state = 12345;
    for (int i = 0; i < 256; i++) {
        state = state * 1664525u + 1013904223u;
        x[i] = ((float)(state >> 8) / 16777216.0f - 0.5f) * (i < 128 ? 0.02f : 30.0f);
    }
    uint8_t q8[8 * 34], q4[8 * 18];
    flx_ggml_quantize(FLX_GGML_Q8_0, x, q8, 256);
    flx_ggml_dequantize(FLX_GGML_Q8_0, q8, back, 256);
    int over = 0;
    for (int b = 0; b < 8; b++) {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[32 * b + j]));
        float step = amax / 127.0f;
        for (int j = 0; j < 32; j++) over += fabsf(back[32 * b + j] - x[32 * b + j]) > 0.501f * step * 1.002f;
    }
    CHECK_INT_EQ(over, 0);

    flx_ggml_quantize(FLX_GGML_Q4_0, x, q4, 256);
    flx_ggml_dequantize(FLX_GGML_Q4_0, q4, back, 256);
    over = 0;
    for (int b = 0; b < 8; b++) {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[32 * b + j]));
        float step = amax / 8.0f;
        for (int j = 0; j < 32; j++) over += fabsf(back[32 * b + j] - x[32 * b + j]) > 1.002f * step;
    }
    CHECK_INT_EQ(over, 0);

    /* An all-zero block encodes d = 0 and decodes to zeros. */
    float zeros[32] = {0}, out[32];
    flx_ggml_quantize(FLX_GGML_Q4_0, zeros, q4, 32);
    flx_ggml_dequantize(FLX_GGML_Q4_0, q4, out, 32);
    for (int j = 0; j < 32; j++) CHECK_NEAR(out[j], 0, 0);
}

static void test_unsupported(void) {
    uint8_t src[144] = {0};
    float out[256];
    CHECK_INT_EQ(flx_ggml_dequantize(12, src, out, 256), -1);
    CHECK_INT_EQ(flx_ggml_quantize(12, out, src, 256), -1);
}

int main(void) {
    test_f16();
    test_bf16();
    test_q8_0();
    test_q4_0();
    test_error_bounds();
    test_unsupported();
    return flx_check_report("test_gguf_dequant");
}
