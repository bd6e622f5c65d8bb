#include "quant/rtn.h"

#include <math.h>
#include <stddef.h>

int flx_rtn_quantize_rows(const float *w, int d_out, int d_in, int bits, int8_t *q, int8_t *q_lo,
                          float *scale, float *rowsum, const char *name, flx_error *err) {
    if (bits != 4 && bits != 8 && bits != 16)
        return flx_fail(err, "%s: invalid weight width of %d bits (expected 4, 8 or 16)", name, bits);
    if (bits == 16 && !q_lo)
        return flx_fail(err, "%s: 16-bit weights need a buffer for the low bytes", name);
    int qmax = flx_weight_qmax(bits);
    for (int o = 0; o < d_out; o++) {
        const float *row = w + (size_t)o * d_in;
        float max_abs = 0.0f;
        for (int i = 0; i < d_in; i++) {
            if (!isfinite(row[i]))
                return flx_fail(err, "%s: weight [%d][%d] = %g is not finite; the checkpoint is corrupt",
                                name, o, i, (double)row[i]);
            float a = fabsf(row[i]);
            if (a > max_abs) max_abs = a;
        }
        float s = max_abs > 0.0f ? max_abs / (float)qmax : 1.0f;
        size_t base = (size_t)o * d_in;
        long long code_sum = 0;
        for (int i = 0; i < d_in; i++) {
            float v = roundf(row[i] / s);
            if (v > (float)qmax) v = (float)qmax;
            if (v < (float)-qmax) v = (float)-qmax;
            int code = (int)v;
            if (bits == 16) {
                q[base + i] = flx_code16_high(code);
                q_lo[base + i] = flx_code16_low(code);
            } else {
                q[base + i] = (int8_t)code;
            }
            code_sum += code;
        }
        scale[o] = s;
        /* A 24-bit scale times a code sum below 2^29 (d_in <= 16384 at 16
         * bits) is exact in double, so rowsum is the exact sum of
         * scale * code rounded once to float. */
        rowsum[o] = (float)((double)s * (double)code_sum);
    }
    return 0;
}

int flx_rtn_quantize_linear(flx_qlinear *out, flx_qmodel *owner, const float *w, int d_out, int d_in,
                            int bits, const char *name, flx_error *err) {
    size_t n;
    if (d_out <= 0 || d_in <= 0 || flx_mul_overflows((size_t)d_out, (size_t)d_in, &n))
        return flx_fail(err, "%s: invalid matrix shape [%d][%d]", name, d_out, d_in);
    out->d_in = d_in;
    out->d_out = d_out;
    out->bits = bits;
    out->q_lo = NULL;
    out->q = flx_qmodel_alloc(owner, n, err);
    if (out->q && bits == 16) out->q_lo = flx_qmodel_alloc(owner, n, err);
    int have_codes = out->q && (bits != 16 || out->q_lo);
    out->scale = have_codes ? flx_qmodel_alloc(owner, (size_t)d_out * sizeof(float), err) : NULL;
    out->rowsum = out->scale ? flx_qmodel_alloc(owner, (size_t)d_out * sizeof(float), err) : NULL;
    if (!out->rowsum) return -1;
    return flx_rtn_quantize_rows(w, d_out, d_in, bits, out->q, out->q_lo, out->scale, out->rowsum, name, err);
}
