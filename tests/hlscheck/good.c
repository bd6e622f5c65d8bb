/* Legal kernel constructs: the checker must accept this file and
 * good_limits.h without a single violation. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "hlscheck/good_limits.h"

#ifndef __SYNTHESIS__
#include <stdio.h>
#endif

#define FLX_MAX_N 64
#define HALF(x) ((x) / 2)
#define N_TAPS (sizeof(taps) / sizeof(taps[0]))
#define TAP_LUT_SIZE (1 << 4)

enum { LANES = 8, GROUPS = LANES * 2 };
enum good_mode { MODE_SUM, MODE_MAX };

static const float taps[4] = {0.25f, 0.5f, 0.75f, 1.0f};

static int32_t clamp_i32(int32_t v, int32_t lo, int32_t hi) {
#pragma HLS INLINE
    return v < lo ? lo : (v > hi ? hi : v);
}

/* A loop bounded by a parameter, with a trip count for the scheduler. */
void good_scale_rows(const int8_t w[], int n, const float x[FLX_MAX_DIM], float y[FLX_MAX_DIM]) {
#pragma HLS INTERFACE m_axi port = w bundle = weights
rows:
    for (int i = 0; i < n; i++) {
#pragma HLS loop_tripcount min = 1 max = 64
    cols:
        for (int j = 0; j < LANES; j++) {
#pragma HLS UNROLL
            int32_t v = (int32_t)w[i * LANES + j];
            y[i] += (float)clamp_i32(v, -127, 127) * x[j];
        }
    }
}

float good_mixed_loops(const float q[FLX_MAX_TP][FLX_MAX_HEAD_DIM], int n, float out[][FLX_MAX_DIM],
                       int (*rows)[LANES], const int32_t *src, bool verbose) {
    static int32_t calls = 0; /* state kept across calls */
    static const float table[] = {1.0f, 2.0f};
    float buf[HALF(FLX_MAX_DIM)];
    int32_t acc[GROUPS], *cursor = 0, best = 0;
    uint8_t lut[TAP_LUT_SIZE];
    int sel[FLX_MAX_N > 8 ? 8 : FLX_MAX_N];
    good_pair pair = (good_pair){1, 2, {0}};
    enum good_mode mode = MODE_SUM;
    uint16_t hex_sized[0x10u];
#pragma HLS ARRAY_PARTITION variable = acc complete
    calls++;
    (void)cursor;
    (void)verbose;

clamped_loop:
    for (int i = 0; i < n && i < FLX_MAX_N; i++) {
#pragma HLS PIPELINE II = 1
        buf[i] = q[0][i] * table[i & 1];
    }
    for (int j = GROUPS - 1; j > 0; j--) acc[j] = acc[j - 1];
    for (unsigned k = 0; k < sizeof taps / sizeof taps[0]; k++) buf[k] += taps[k];
    for (unsigned k = 0; k < N_TAPS; k += 2) lut[k] = (uint8_t)k;
    int k2;
    for (k2 = 0; FLX_MAX_TP > k2; ++k2) sel[k2 & 7] = k2;
    for (int t = 0; t < n && t < FLX_MAX_TP; t++)
        for (int d = 0; d < n && d < FLX_MAX_HEAD_DIM; d++) {
#pragma HLS UNROLL
            out[t][d] = q[t][d] > 0.0f ? q[t][d] : -q[t][d];
        }
    for (int i = 0; i <= n - 1; i++) {
#pragma HLS loop_tripcount max = FLX_MAX_N
        rows[i][0] = (int)(uint32_t)(src[i]) >> 4;
    }
    for (int i = n - 1; i >= 0; i--) {
#pragma HLS loop_tripcount max = 64
        buf[i] = 0.0f;
    }
    for (int i = 0, j = n - 1; i < j && i < FLX_MAX_N; i++, j--) buf[i] = buf[j];
    for (int i = 0; i < (n < FLX_MAX_N ? n : FLX_MAX_N); i++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 64
        hex_sized[i & 15] = (uint16_t)i;
    }

    int left = n;
    while (left > 0) {
#pragma HLS loop_tripcount max = 64
        left -= LANES;
        if (left == 3) continue;
        if (left < -LANES) break;
    }
    do {
#pragma HLS loop_tripcount max = 4
        left++;
    } while (left < 0);

    do {
        left = left > 0 ? left : 0;
    } while (0);
#if 0
    printf("disabled code is not checked\n");
#endif

    switch (mode) {
    case MODE_SUM:
        best = good_sum(pair.lanes, FLX_MAX_TP);
        break;
    default:
        best = pair.hi > pair.lo ? pair.hi : pair.lo;
        break;
    }
#ifndef __SYNTHESIS__
    if (verbose) printf("best %d after %d calls\n", (int)best, (int)calls);
#endif
#ifdef __SYNTHESIS__
    best += 0;
#else
    fprintf(stderr, "simulation only\n");
#endif
    float s = expf(buf[0]) + sqrtf(fabsf(buf[1])) + fminf(buf[2], fmaxf(buf[3], 0.0f));
    s += roundf(buf[4]) + floorf(buf[5]) + ceilf(buf[6]) + powf(buf[7], 2.0f) + (float)lrintf(buf[8]);
    s += (float)sizeof(acc) + (float)sizeof acc[0] + (float)lut[1] + (float)sel[0];
    return s + (float)best;
}

/* A scalar reference: loops without pragmas are fine in *_ref functions. */
float good_dot_ref(const float *a, const float *b, int n) {
    float s = 0.0f;
    for (int i = 0; i < n && i < FLX_MAX_N; i++) s += a[i] * b[i];
    return s;
}
