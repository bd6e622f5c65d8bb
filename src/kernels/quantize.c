#include "kernels/quantize.h"

#include <math.h>

flx_qparams flx_quant_dynamic(const float x[FLX_MAX_LINEAR_IN], int n, int bits, bool asymmetric,
                              float clip, int16_t q[FLX_MAX_LINEAR_IN]) {
    flx_qparams p;
    float lo = x[0], hi = x[0];
range_loop:
    for (int i = 1; i < n && i < FLX_MAX_LINEAR_IN; i++) {
#pragma HLS PIPELINE II = 1
#pragma HLS loop_tripcount min = 64 max = 16384
        lo = fminf(lo, x[i]);
        hi = fmaxf(hi, x[i]);
    }
    if (asymmetric) {
        int qmax = (1 << bits) - 1;
        lo *= clip;
        hi *= clip;
        p.scale = hi > lo ? (hi - lo) / (float)qmax : 1.0f;
        p.offset = lo;
    asym_loop:
        for (int i = 0; i < n && i < FLX_MAX_LINEAR_IN; i++) {
#pragma HLS PIPELINE II = 1
#pragma HLS loop_tripcount min = 64 max = 16384
            float v = roundf((x[i] - lo) / p.scale);
            v = fminf(fmaxf(v, 0.0f), (float)qmax);
            q[i] = (int16_t)v;
        }
    } else {
        int qmax = (1 << (bits - 1)) - 1;
        float m = fmaxf(fabsf(lo), fabsf(hi)) * clip;
        p.scale = m > 0.0f ? m / (float)qmax : 1.0f;
        p.offset = 0.0f;
    sym_loop:
        for (int i = 0; i < n && i < FLX_MAX_LINEAR_IN; i++) {
#pragma HLS PIPELINE II = 1
#pragma HLS loop_tripcount min = 64 max = 16384
            float v = roundf(x[i] / p.scale);
            v = fminf(fmaxf(v, (float)-qmax), (float)qmax);
            q[i] = (int16_t)v;
        }
    }
    return p;
}

void flx_quant_static_i8(const float x[FLX_MAX_HEAD_DIM], int n, float scale,
                         int8_t q[FLX_MAX_HEAD_DIM]) {
i8_loop:
    for (int i = 0; i < n && i < FLX_MAX_HEAD_DIM; i++) {
#pragma HLS PIPELINE II = 1
#pragma HLS loop_tripcount min = 64 max = 128
        float v = roundf(x[i] / scale);
        q[i] = (int8_t)fminf(fmaxf(v, -127.0f), 127.0f);
    }
}

void flx_quant_kv_groups(const float x[FLX_MAX_HEAD_DIM], int n, int group, int bits, bool asymmetric, float clip,
                         int8_t q[FLX_MAX_HEAD_DIM], float scales[FLX_MAX_HEAD_DIM], float offsets[FLX_MAX_HEAD_DIM]) {
    int n_groups = n / group;
    float qmax = (float)((1 << (bits - 1)) - 1), umax = (float)((1 << bits) - 1), half = (float)(1 << (bits - 1));
group_loop:
    for (int g = 0; g < n_groups && g < FLX_MAX_HEAD_DIM; g++) {
#pragma HLS loop_tripcount min = 1 max = 128
        int d0 = g * group;
        float m = 0.0f, lo = x[d0], hi = x[d0];
    range_loop:
        for (int d = d0; d < d0 + group && d < FLX_MAX_HEAD_DIM; d++) {
#pragma HLS PIPELINE II = 1
#pragma HLS loop_tripcount min = 1 max = 128
            m = fmaxf(m, fabsf(x[d]));
            lo = fminf(lo, x[d]);
            hi = fmaxf(hi, x[d]);
        }
        float s, offset = 0.0f;
        if (asymmetric) {
            lo *= clip;
            hi *= clip;
            s = hi > lo ? (hi - lo) / umax : 1.0f;
            offset = lo + s * half;
        } else {
            m *= clip;
            s = m > 0.0f ? m / qmax : 1.0f;
        }
        scales[g] = s;
        offsets[g] = offset;
    code_loop:
        for (int d = d0; d < d0 + group && d < FLX_MAX_HEAD_DIM; d++) {
#pragma HLS PIPELINE II = 1
#pragma HLS loop_tripcount min = 1 max = 128
            if (asymmetric) {
                float u = fminf(fmaxf(roundf((x[d] - lo) / s), 0.0f), umax);
                q[d] = (int8_t)(u - half);
            } else {
                float v = roundf(x[d] / s);
                q[d] = (int8_t)fminf(fmaxf(v, -qmax), qmax);
            }
        }
    }
}

void flx_quant_prob_u8(const float p[FLX_MAX_SEQ], int n, float scale, uint8_t q[FLX_MAX_SEQ]) {
u8_loop:
    for (int i = 0; i < n && i < FLX_MAX_SEQ; i++) {
#pragma HLS PIPELINE II = 1
#pragma HLS loop_tripcount min = 1 max = 4096
        float v = roundf(p[i] / scale);
        q[i] = (uint8_t)fminf(fmaxf(v, 0.0f), 255.0f);
    }
}

void flx_dequant_linear(const int32_t acc[FLX_MAX_VOCAB], int n, flx_qparams xq, bool asymmetric,
                        const float w_scale[FLX_MAX_VOCAB], const float w_rowsum[FLX_MAX_VOCAB],
                        float y[FLX_MAX_VOCAB]) {
dequant_loop:
    for (int o = 0; o < n && o < FLX_MAX_VOCAB; o++) {
#pragma HLS PIPELINE II = 1
#pragma HLS loop_tripcount min = 64 max = 262144
        float v = ((float)acc[o] * xq.scale) * w_scale[o];
        if (asymmetric) v += xq.offset * w_rowsum[o];
        y[o] = v;
    }
}

void flx_dequant_linear_split(const int32_t acc_hi[FLX_MAX_VOCAB], const int32_t acc_lo[FLX_MAX_VOCAB], int n,
                              flx_qparams xq, bool asymmetric, const float w_scale[FLX_MAX_VOCAB],
                              const float w_rowsum[FLX_MAX_VOCAB], float y[FLX_MAX_VOCAB]) {
split_dequant_loop:
    for (int o = 0; o < n && o < FLX_MAX_VOCAB; o++) {
#pragma HLS PIPELINE II = 1
#pragma HLS loop_tripcount min = 64 max = 262144
        /* Any two int32 accumulators give |acc| < 2^40: exact in 64 bits. */
        int64_t acc = (int64_t)acc_hi[o] * 256 + (int64_t)acc_lo[o];
        float v = ((float)acc * xq.scale) * w_scale[o];
        if (asymmetric) v += xq.offset * w_rowsum[o];
        y[o] = v;
    }
}
