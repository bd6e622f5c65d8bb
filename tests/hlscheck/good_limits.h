/* Sizes and helpers shared by good.c; included through a quoted path. */
#ifndef HLSCHECK_GOOD_LIMITS_H
#define HLSCHECK_GOOD_LIMITS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FLX_MAX_DIM 256
#define FLX_MAX_TP 8
#define FLX_MAX_HEAD_DIM (FLX_MAX_DIM / 4)

typedef struct good_pair {
    int32_t lo;
    int32_t hi;
    int32_t lanes[FLX_MAX_TP];
} good_pair;

/* Sums the first n entries; the loop is clamped by a constant. */
static inline int32_t good_sum(const int32_t v[FLX_MAX_TP], int n) {
    int32_t s = 0;
sum_loop:
    for (int i = 0; i < n && i < FLX_MAX_TP; i++) {
#pragma HLS UNROLL
        s += v[i];
    }
    return s;
}

void good_scale_rows(const int8_t w[], int n, const float x[FLX_MAX_DIM], float y[FLX_MAX_DIM]);

#ifdef __cplusplus
}
#endif

#endif
