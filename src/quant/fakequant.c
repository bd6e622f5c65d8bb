#include "quant/fakequant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "reference/forward.h"

/* Below this many multiply-adds a loop runs on one thread. */
#define PARALLEL_MIN_MACS (1L << 18)

void flx_fakequant_state_free(flx_fakequant_state *s) {
    float **bufs[] = {&s->x,   &s->xb,  &s->xb2,   &s->q,         &s->k,           &s->v,
                      &s->hb,  &s->hb2, &s->xq,    &s->xcode,     &s->xscale,      &s->xoffset,
                      &s->wrows,        &s->att,   &s->q_codes,   &s->key_cache,
                      &s->value_cache,  &s->key_scales, &s->value_scales, &s->key_offsets, &s->value_offsets, &s->rope_cos, &s->rope_sin};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        free(*bufs[i]);
        *bufs[i] = NULL;
    }
}

static float *alloc_floats(size_t count, flx_error *err) {
    size_t bytes;
    if (flx_mul_overflows(count, sizeof(float), &bytes)) {
        flx_fail(err, "buffer of %zu floats is too large", count);
        return NULL;
    }
    return flx_calloc(1, bytes, err);
}

static size_t max3(size_t a, size_t b, size_t c) {
    size_t m = a > b ? a : b;
    return m > c ? m : c;
}

int flx_fakequant_state_init(flx_fakequant_state *s, const flx_qmodel *qm, int max_seq, int max_batch,
                             flx_error *err) {
    const flx_config *c = &qm->config;
    memset(s, 0, sizeof *s);
    if (max_seq <= 0 || max_batch <= 0)
        return flx_fail(err, "invalid fake-quant state size: %d positions, batch %d", max_seq, max_batch);
    s->max_seq = max_seq;
    s->max_batch = max_batch;
    size_t B = (size_t)max_batch, q_dim = (size_t)c->n_heads * c->head_dim,
           kv_dim = (size_t)c->n_kv_heads * c->head_dim, dim = (size_t)c->dim, ffn = (size_t)c->ffn_dim;
    size_t wide = q_dim > dim ? q_dim : dim;
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    s->n_att_rows = threads;
    size_t half = (size_t)c->rope_dim / 2;
    size_t cache = (size_t)c->n_layers * max_seq * kv_dim;
    if (!(s->x = alloc_floats(B * dim, err)) || !(s->xb = alloc_floats(B * wide, err)) ||
        !(s->xb2 = alloc_floats(B * dim, err)) || !(s->q = alloc_floats(B * q_dim, err)) ||
        !(s->k = alloc_floats(B * kv_dim, err)) || !(s->v = alloc_floats(B * kv_dim, err)) ||
        !(s->hb = alloc_floats(B * ffn, err)) || !(s->hb2 = alloc_floats(B * ffn, err)) ||
        !(s->xq = alloc_floats(B * max3(dim, q_dim, ffn), err)) ||
        !(s->xcode = alloc_floats(B * max3(dim, q_dim, ffn), err)) ||
        !(s->xscale = alloc_floats(B, err)) || !(s->xoffset = alloc_floats(B, err)) ||
        !(s->wrows = alloc_floats((size_t)threads * max3(dim, q_dim, ffn), err)) ||
        !(s->att = alloc_floats((size_t)threads * max_seq, err)) ||
        !(s->q_codes = alloc_floats((size_t)threads * c->head_dim, err)) ||
        !(s->key_cache = alloc_floats(cache, err)) || !(s->value_cache = alloc_floats(cache, err)) ||
        !(s->rope_cos = alloc_floats((size_t)max_seq * half, err)) ||
        !(s->rope_sin = alloc_floats((size_t)max_seq * half, err))) {
        flx_fakequant_state_free(s);
        return -1;
    }
    if (qm->kv.dynamic) {
        if (qm->kv.group_size <= 0 || c->head_dim % qm->kv.group_size != 0) {
            flx_fakequant_state_free(s);
            return flx_fail(err, "dynamic KV group size %d does not divide head_dim %d", qm->kv.group_size,
                            c->head_dim);
        }
        s->kv_groups = c->head_dim / qm->kv.group_size;
        size_t scales = (size_t)c->n_layers * c->n_kv_heads * max_seq * (size_t)s->kv_groups;
        if (!(s->key_scales = alloc_floats(scales, err)) || !(s->value_scales = alloc_floats(scales, err)) ||
            !(s->key_offsets = alloc_floats(scales, err)) || !(s->value_offsets = alloc_floats(scales, err))) {
            flx_fakequant_state_free(s);
            return -1;
        }
    }
    flx_rope_table(c, qm->rope_freqs, max_seq, s->rope_cos, s->rope_sin);
    return 0;
}

static float clampf(float v, float lo, float hi) {
    if (v < lo) return lo;
    if (v > hi) return hi;
    return v;
}

/* Quantizes x [n] like flx_fakequant_dynamic and also returns the integer
 * codes (as floats), the scale and the offset. */
static void quantize_codes(float *dequant, float *codes, float *scale_out, float *offset_out, const float *x,
                           int n, const flx_act_quant *aq) {
    float lo = x[0], hi = x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
    }
    float s, offset, qmin, qmax;
    if (aq->asymmetric) {
        qmin = 0.0f;
        qmax = (float)((1 << aq->bits) - 1);
        lo = aq->clip * lo;
        hi = aq->clip * hi;
        s = hi == lo ? 1.0f : (hi - lo) / qmax;
        offset = lo;
    } else {
        qmax = (float)((1 << (aq->bits - 1)) - 1);
        qmin = -qmax;
        float m = aq->clip * fmaxf(fabsf(lo), fabsf(hi));
        s = m == 0.0f ? 1.0f : m / qmax;
        offset = 0.0f;
    }
    for (int i = 0; i < n; i++) {
        float q = aq->asymmetric ? roundf((x[i] - offset) / s) : roundf(x[i] / s);
        q = clampf(q, qmin, qmax);
        codes[i] = q;
        dequant[i] = aq->asymmetric ? s * q + offset : s * q;
    }
    *scale_out = s;
    *offset_out = offset;
}

void flx_fakequant_dynamic(float *out, const float *x, int n, const flx_act_quant *aq) {
    float lo = x[0], hi = x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
    }
    if (aq->asymmetric) {
        float qmax = (float)((1 << aq->bits) - 1);
        lo = aq->clip * lo;
        hi = aq->clip * hi;
        float s = hi == lo ? 1.0f : (hi - lo) / qmax;
        for (int i = 0; i < n; i++) {
            float q = roundf((x[i] - lo) / s);
            q = clampf(q, 0.0f, qmax);
            out[i] = s * q + lo;
        }
    } else {
        float qmax = (float)((1 << (aq->bits - 1)) - 1);
        float m = aq->clip * fmaxf(fabsf(lo), fabsf(hi));
        float s = m == 0.0f ? 1.0f : m / qmax;
        for (int i = 0; i < n; i++) {
            float q = roundf(x[i] / s);
            q = clampf(q, -qmax, qmax);
            out[i] = s * q;
        }
    }
}

/* Static symmetric INT8 quantize, then dequantize, of x [n] in place. */
static void fake_quant_static_i8(float *x, int n, float scale) {
    for (int i = 0; i < n; i++) {
        float q = roundf(x[i] / scale);
        q = clampf(q, -127.0f, 127.0f);
        x[i] = q * scale;
    }
}

/* Dynamic quantization of one head's row x [hd] per group of
 * kv->group_size channels. Symmetric: scale = clip * max|x| / qmax (1 for
 * an all-zero group), offset 0. Asymmetric: the clipped min..max range in
 * 2^bits - 1 steps, codes shifted down by 2^(bits-1) so that they fit a
 * signed byte, offset = min + scale * 2^(bits-1). Writes the codes (as
 * floats), the group scales and the group offsets. */
static void quant_kv_row(float *codes, float *scales, float *offsets, const float *x, int hd,
                         const flx_kv_quant *kv) {
    float qmax = (float)((1 << (kv->bits - 1)) - 1), levels = (float)((1 << kv->bits) - 1);
    float half = (float)(1 << (kv->bits - 1));
    for (int g = 0; g < hd / kv->group_size; g++) {
        const float *xg = x + g * kv->group_size;
        float *cg = codes + g * kv->group_size;
        if (kv->asymmetric) {
            float lo = xg[0], hi = xg[0];
            for (int i = 1; i < kv->group_size; i++) {
                lo = fminf(lo, xg[i]);
                hi = fmaxf(hi, xg[i]);
            }
            lo *= kv->clip;
            hi *= kv->clip;
            float scale = hi > lo ? (hi - lo) / levels : 1.0f;
            scales[g] = scale;
            offsets[g] = lo + scale * half;
            for (int i = 0; i < kv->group_size; i++) cg[i] = clampf(roundf((xg[i] - lo) / scale), 0.0f, levels) - half;
            continue;
        }
        float m = 0.0f;
        for (int i = 0; i < kv->group_size; i++) m = fmaxf(m, fabsf(xg[i]));
        m *= kv->clip;
        float scale = m > 0.0f ? m / qmax : 1.0f;
        scales[g] = scale;
        offsets[g] = 0.0f;
        for (int i = 0; i < kv->group_size; i++) cg[i] = clampf(roundf(xg[i] / scale), -qmax, qmax);
    }
}

void flx_fakequant_hadamard(float *x, int n) {
    for (int len = 1; len < n; len <<= 1)
        for (int i = 0; i < n; i += 2 * len)
            for (int j = i; j < i + len; j++) {
                float a = x[j], b = x[j + len];
                x[j] = a + b;
                x[j + len] = a - b;
            }
    float norm = 1.0f / sqrtf((float)n);
    for (int i = 0; i < n; i++) x[i] *= norm;
}

/* RMSNorm with the sum of squares in four interleaved float partial sums. */
static void rmsnorm(float *out, const float *x, const float *gain, int n, float eps) {
    float part[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int i = 0; i < n; i++) part[i % 4] += x[i] * x[i];
    float ss = (part[0] + part[1]) + (part[2] + part[3]);
    float inv = 1.0f / sqrtf(ss / (float)n + eps);
    for (int i = 0; i < n; i++) out[i] = x[i] * inv * gain[i];
}

static void rope_rotate(float *x, const float *cos_t, const float *sin_t, int n_pairs) {
    for (int i = 0; i < n_pairs; i++) {
        float a = x[2 * i], b = x[2 * i + 1];
        x[2 * i] = a * cos_t[i] - b * sin_t[i];
        x[2 * i + 1] = a * sin_t[i] + b * cos_t[i];
    }
}

/* The dequantized input of a linear layer: x [n][d] quantized per token
 * with aq, or copied when aq is NULL. */
static void linear_input(flx_fakequant_state *s, const float *x, int n, int d, const flx_act_quant *aq) {
    for (int t = 0; t < n; t++) {
        if (aq)
            quantize_codes(s->xq + (size_t)t * d, s->xcode + (size_t)t * d, &s->xscale[t], &s->xoffset[t],
                           x + (size_t)t * d, d, aq);
        else
            memcpy(s->xq + (size_t)t * d, x + (size_t)t * d, (size_t)d * sizeof(float));
    }
}

/* Sum of a[i] * b[i] in double, in four interleaved partial sums so that
 * the additions pipeline. */
static double dot_double(const float *a, const float *b, int n) {
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += (double)a[i] * (double)b[i];
        s1 += (double)a[i + 1] * (double)b[i + 1];
        s2 += (double)a[i + 2] * (double)b[i + 2];
        s3 += (double)a[i + 3] * (double)b[i + 3];
    }
    for (; i < n; i++) s0 += (double)a[i] * (double)b[i];
    return (s0 + s1) + (s2 + s3);
}

/* y[t][o] = sum_i x[t][i] * w[o][i] for x [n][d_in] (s->xq) and
 * y [n][d_out]. With quantized activations (aq) and weights, the sum of
 * code products is an exact integer and y takes the float expression of
 * the quantized-inference spec: (acc * s_x) * scale[o] + offset * rowsum[o],
 * with per-group weights the sum over groups of (acc_g * s_x) * scale[o][g].
 * Otherwise the sum runs in double over dequantized values: the weights
 * are w_float when given, else scale[o] * code[o][i]. Weight codes (16-bit
 * ones as 256 * high + low) and dequantized rows are formed in wrows, one
 * row of d_in floats per thread, row_stride apart. */
static void linear(float *y, const flx_fakequant_state *s, int n, const flx_qlinear *w,
                   const float *w_float, const flx_act_quant *aq, float *wrows, size_t row_stride) {
    const float *x = s->xq;
    int d_in = w->d_in, d_out = w->d_out;
    if (aq && !w_float) {
        long int_macs = (long)n * d_in * d_out;
#pragma omp parallel for schedule(static) if (int_macs >= PARALLEL_MIN_MACS)
        for (int o = 0; o < d_out; o++) {
            int thread = 0;
#ifdef _OPENMP
            thread = omp_get_thread_num();
#endif
            float *q = wrows + (size_t)thread * row_stride;
            for (int i = 0; i < d_in; i++) q[i] = (float)flx_qlinear_code(w, (size_t)o * d_in + i);
            int groups = flx_qlinear_groups(w), group = d_in / groups;
            for (int t = 0; t < n; t++) {
                const float *codes = s->xcode + (size_t)t * d_in;
                /* Per group, in order from 0: ((float)acc_g * s_x) * scale[o][g], where
                 * acc_g is integer-valued and exact for d_in < 2^30, as each code
                 * product is below 2^23. One group adds to 0 exactly. */
                float v = 0.0f;
                for (int g = 0; g < groups; g++) {
                    double acc = 0.0;
                    for (int i = g * group; i < (g + 1) * group; i++) acc += (double)codes[i] * (double)q[i];
                    v += ((float)acc * s->xscale[t]) * w->scale[(size_t)o * groups + g];
                }
                if (aq->asymmetric) v += s->xoffset[t] * w->rowsum[o];
                y[(size_t)t * d_out + o] = v;
            }
        }
        return;
    }
    long macs = (long)n * d_in * d_out;
#pragma omp parallel for schedule(static) if (macs >= PARALLEL_MIN_MACS)
    for (int o = 0; o < d_out; o++) {
        const float *row;
        if (w_float) {
            row = w_float + (size_t)o * d_in;
        } else {
            int thread = 0;
#ifdef _OPENMP
            thread = omp_get_thread_num();
#endif
            float *deq = wrows + (size_t)thread * row_stride;
            int groups = flx_qlinear_groups(w), group = d_in / groups;
            for (int i = 0; i < d_in; i++)
                deq[i] = w->scale[(size_t)o * groups + i / group] * (float)flx_qlinear_code(w, (size_t)o * d_in + i);
            row = deq;
        }
        for (int t = 0; t < n; t++) y[(size_t)t * d_out + o] = (float)dot_double(x + (size_t)t * d_in, row, d_in);
    }
}

/* Causal attention of the n tokens at positions pos..pos+n-1 of layer l:
 * reads s->q, writes s->xb [n][q_dim]. */
static void attention(const flx_qmodel *qm, flx_fakequant_state *s, int l, int n, int pos) {
    const flx_config *c = &qm->config;
    const flx_qlayer *ql = &qm->layers[l];
    int hd = c->head_dim, q_dim = c->n_heads * hd, group = c->n_heads / c->n_kv_heads;
    int quantized = !s->options.float_attention;
    size_t layer_off = (size_t)l * c->n_kv_heads * s->max_seq * hd;
    float inv_sqrt = 1.0f / sqrtf((float)hd);
    float prob_scale = ql->prob_scale;
    long work = (long)n * c->n_heads * (pos + n) * hd;
#pragma omp parallel for collapse(2) schedule(dynamic, 1) if (work >= PARALLEL_MIN_MACS)
    for (int t = 0; t < n; t++) {
        for (int h = 0; h < c->n_heads; h++) {
            int thread = 0;
#ifdef _OPENMP
            thread = omp_get_thread_num();
#endif
            float *att = s->att + (size_t)thread * s->max_seq;
            const float *q = s->q + (size_t)t * q_dim + (size_t)h * hd;
            int kv = h / group;
            const float *kc = s->key_cache + layer_off + (size_t)kv * s->max_seq * hd;
            const float *vc = s->value_cache + layer_off + (size_t)kv * s->max_seq * hd;
            int n_ctx = pos + t + 1; /* later positions are masked out */

            /* Quantized attention follows the spec's float expressions. A
             * static cache contains code * scale, and code = round(value /
             * scale) recovers the INT8 code exactly. A dynamic cache contains
             * the codes, with a scale and an offset per key and group. */
            int dynamic = quantized && qm->kv.dynamic;
            int n_groups = s->kv_groups, gs = qm->kv.group_size;
            const float *ks = dynamic ? s->key_scales + ((size_t)l * c->n_kv_heads + kv) * s->max_seq * n_groups : NULL;
            const float *vs = dynamic ? s->value_scales + ((size_t)l * c->n_kv_heads + kv) * s->max_seq * n_groups : NULL;
            const float *kz = dynamic ? s->key_offsets + ((size_t)l * c->n_kv_heads + kv) * s->max_seq * n_groups : NULL;
            const float *vz = dynamic ? s->value_offsets + ((size_t)l * c->n_kv_heads + kv) * s->max_seq * n_groups : NULL;
            float q_scale = quantized ? ql->q_scale[h] : 1.0f, k_scale = quantized ? ql->k_scale[kv] : 1.0f;
            float v_scale = quantized ? ql->v_scale[kv] : 1.0f;
            float score_scale = (q_scale * k_scale) / sqrtf((float)hd);
            float q_dyn_scale = q_scale / sqrtf((float)hd);
            /* The query's INT8 codes, once per query and head. */
            float *q_codes = s->q_codes + (size_t)thread * hd;
            for (int d = 0; quantized && d < hd; d++) q_codes[d] = roundf(q[d] / q_scale);
            float max = -INFINITY;
            for (int p = 0; p < n_ctx; p++) {
                const float *k = kc + (size_t)p * hd;
                if (dynamic) {
                    /* Per group: sum of code products and of query codes, both exact. */
                    float sum = 0.0f;
                    for (int g = 0; g < n_groups; g++) {
                        double acc = 0.0, q_sum = 0.0;
                        for (int d = g * gs; d < (g + 1) * gs; d++) {
                            acc += (double)q_codes[d] * (double)k[d];
                            q_sum += q_codes[d];
                        }
                        size_t at = (size_t)p * n_groups + g;
                        sum += (float)acc * ks[at] + (float)q_sum * kz[at];
                    }
                    att[p] = sum * q_dyn_scale;
                } else if (quantized) {
                    double acc = 0.0;
                    for (int d = 0; d < hd; d++) acc += (double)q_codes[d] * (double)roundf(k[d] / k_scale);
                    att[p] = (float)acc * score_scale;
                } else {
                    att[p] = (float)dot_double(q, k, hd) * inv_sqrt;
                }
                if (att[p] > max) max = att[p];
            }
            float sum = 0.0f;
            for (int p = 0; p < n_ctx; p++) {
                att[p] = expf(att[p] - max);
                sum += att[p];
            }
            float inv_sum = 1.0f / sum;
            for (int p = 0; p < n_ctx; p++) {
                float prob = att[p] * inv_sum;
                if (quantized) prob = clampf(roundf(prob / prob_scale), 0.0f, 255.0f); /* the UINT8 code */
                att[p] = prob;
            }

            float *out = s->xb + (size_t)t * q_dim + (size_t)h * hd;
            float out_scale = prob_scale * v_scale;
            for (int d = 0; d < hd; d++) {
                if (dynamic) {
                    /* Float sum in key order of each code product times its key's scale. */
                    float acc = 0.0f;
                    for (int p = 0; p < n_ctx; p++) {
                        size_t at = (size_t)p * n_groups + d / gs;
                        acc += att[p] * vc[(size_t)p * hd + d] * vs[at] + att[p] * vz[at];
                    }
                    out[d] = acc * prob_scale;
                    continue;
                }
                double acc = 0.0;
                for (int p = 0; p < n_ctx; p++) {
                    float v = vc[(size_t)p * hd + d];
                    acc += (double)att[p] * (double)(quantized ? roundf(v / v_scale) : v);
                }
                out[d] = quantized ? (float)acc * out_scale : (float)acc;
            }
        }
    }
}

/* Checks what the options need from the model: float weights for
 * float_weights, positive finite attention scales for the quantizers. */
static int check_model(const flx_qmodel *qm, const flx_fakequant_options *o, flx_error *err) {
    if (o->float_weights && !qm->source)
        return flx_fail(err,
                        "fake-quant with float weights needs the source float model, but this "
                        "quantized model (recipe %s) has none; it was probably loaded from an artifact",
                        qm->recipe);
    if (o->float_attention) return 0;
    const flx_config *c = &qm->config;
    for (int l = 0; l < c->n_layers; l++) {
        const flx_qlayer *ql = &qm->layers[l];
        struct {
            const char *name;
            const float *v;
            int n;
        } sets[] = {{"q_scale", ql->q_scale, c->n_heads},
                    {"k_scale", ql->k_scale, c->n_kv_heads},
                    {"v_scale", ql->v_scale, c->n_kv_heads},
                    {"prob_scale", &ql->prob_scale, 1}};
        for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++)
            for (int h = 0; h < sets[i].n; h++)
                if (!(sets[i].v[h] > 0.0f) || !isfinite(sets[i].v[h]))
                    return flx_fail(err,
                                    "layer %d: %s[%d] = %g is not a positive number; calibrate the "
                                    "quantized model before running it",
                                    l, sets[i].name, h, (double)sets[i].v[h]);
    }
    return 0;
}

int flx_fakequant_forward(const flx_qmodel *qm, flx_fakequant_state *s, const int32_t *tokens, int n,
                          int pos, float *logits, int all_logits, flx_error *err) {
    const flx_config *c = &qm->config;
    const flx_fakequant_options *o = &s->options;
    if (n <= 0 || n > s->max_batch)
        return flx_fail(err, "fake-quant forward pass of %d tokens: expected 1 to %d", n, s->max_batch);
    if (pos < 0 || pos + n > s->max_seq)
        return flx_fail(err,
                        "positions %d..%d exceed the fake-quant KV cache of %d positions; use a "
                        "shorter prompt or a larger context",
                        pos, pos + n - 1, s->max_seq);
    if (check_model(qm, o, err) != 0) return -1;
    if (qm->online_hadamard_ffn && !qm->r4_matrix && !o->float_weights && (c->ffn_dim & (c->ffn_dim - 1)) != 0)
        return flx_fail(err,
                        "the online Hadamard transform needs a power-of-two FFN width, but ffn_dim = %d",
                        c->ffn_dim);

    int dim = c->dim, hd = c->head_dim, ffn = c->ffn_dim, half = c->rope_dim / 2;
    int q_dim = c->n_heads * hd, kv_dim = c->n_kv_heads * hd;
    const flx_act_quant *act = o->float_activations ? NULL : &qm->act;
    const flx_act_quant *head_act = o->float_activations ? NULL : &qm->lm_head_act;
    const flx_model *src = qm->source;
    size_t row_stride = max3((size_t)dim, (size_t)q_dim, (size_t)ffn);

    for (int t = 0; t < n; t++) {
        if (tokens[t] < 0 || tokens[t] >= c->vocab_size)
            return flx_fail(err, "token id %d at batch index %d is outside the vocabulary (0..%d)",
                            tokens[t], t, c->vocab_size - 1);
        memcpy(s->x + (size_t)t * dim, qm->token_embedding + (size_t)tokens[t] * dim,
               (size_t)dim * sizeof(float));
    }

    for (int l = 0; l < c->n_layers; l++) {
        const flx_qlayer *ql = &qm->layers[l];
        const flx_layer_weights *fw = o->float_weights ? &src->layers[l] : NULL;

        /* Attention RMSNorm, one quantized input for Q, K and V, RoPE. */
        for (int t = 0; t < n; t++)
            rmsnorm(s->xb + (size_t)t * dim, s->x + (size_t)t * dim, ql->attn_norm, dim, c->norm_eps);
        linear_input(s, s->xb, n, dim, act);
        linear(s->q, s, n, &ql->wq, fw ? fw->wq : NULL, act, s->wrows, row_stride);
        linear(s->k, s, n, &ql->wk, fw ? fw->wk : NULL, act, s->wrows, row_stride);
        linear(s->v, s, n, &ql->wv, fw ? fw->wv : NULL, act, s->wrows, row_stride);
        for (int t = 0; t < n; t++) {
            const float *cos_t = s->rope_cos + (size_t)(pos + t) * half;
            const float *sin_t = s->rope_sin + (size_t)(pos + t) * half;
            for (int h = 0; h < c->n_heads; h++)
                rope_rotate(s->q + (size_t)t * q_dim + (size_t)h * hd, cos_t, sin_t, half);
            for (int h = 0; h < c->n_kv_heads; h++)
                rope_rotate(s->k + (size_t)t * kv_dim + (size_t)h * hd, cos_t, sin_t, half);
        }
        /* R3: the normalized Walsh-Hadamard transform of every Q and K head;
         * Q K^T is unchanged in exact arithmetic. */
        if (qm->online_hadamard_qk)
            for (int t = 0; t < n; t++) {
                for (int h = 0; h < c->n_heads; h++) flx_fakequant_hadamard(s->q + (size_t)t * q_dim + (size_t)h * hd, hd);
                for (int h = 0; h < c->n_kv_heads; h++)
                    flx_fakequant_hadamard(s->k + (size_t)t * kv_dim + (size_t)h * hd, hd);
            }
        if (o->observe) o->observe(o->observe_ctx, l, n, s->q, s->k, s->v);

        /* Static INT8 Q; static INT8 K and V go to the cache dequantized,
         * dynamic ones as codes with their group scales. */
        int kv_dynamic = qm->kv.dynamic && !o->float_attention;
        for (int t = 0; t < n; t++) {
            if (!o->float_attention) {
                for (int h = 0; h < c->n_heads; h++)
                    fake_quant_static_i8(s->q + (size_t)t * q_dim + (size_t)h * hd, hd, ql->q_scale[h]);
                for (int h = 0; h < c->n_kv_heads && !kv_dynamic; h++) {
                    fake_quant_static_i8(s->k + (size_t)t * kv_dim + (size_t)h * hd, hd, ql->k_scale[h]);
                    fake_quant_static_i8(s->v + (size_t)t * kv_dim + (size_t)h * hd, hd, ql->v_scale[h]);
                }
            }
            for (int h = 0; h < c->n_kv_heads; h++) {
                size_t row = ((size_t)l * c->n_kv_heads + h) * s->max_seq + pos + t;
                const float *k = s->k + (size_t)t * kv_dim + (size_t)h * hd, *v = s->v + (size_t)t * kv_dim + (size_t)h * hd;
                if (kv_dynamic) {
                    size_t g0 = row * s->kv_groups;
                    quant_kv_row(s->key_cache + row * hd, s->key_scales + g0, s->key_offsets + g0, k, hd, &qm->kv);
                    quant_kv_row(s->value_cache + row * hd, s->value_scales + g0, s->value_offsets + g0, v, hd, &qm->kv);
                } else {
                    memcpy(s->key_cache + row * hd, k, (size_t)hd * sizeof(float));
                    memcpy(s->value_cache + row * hd, v, (size_t)hd * sizeof(float));
                }
            }
        }

        /* Attention, output projection, residual. */
        attention(qm, s, l, n, pos);
        linear_input(s, s->xb, n, q_dim, act);
        linear(s->xb2, s, n, &ql->wo, fw ? fw->wo : NULL, act, s->wrows, row_stride);
        for (size_t i = 0; i < (size_t)n * dim; i++) s->x[i] += s->xb2[i];

        /* FFN RMSNorm, SwiGLU, optional Hadamard, down projection, residual. */
        for (int t = 0; t < n; t++)
            rmsnorm(s->xb + (size_t)t * dim, s->x + (size_t)t * dim, ql->ffn_norm, dim, c->norm_eps);
        linear_input(s, s->xb, n, dim, act);
        linear(s->hb, s, n, &ql->w_gate, fw ? fw->w_gate : NULL, act, s->wrows, row_stride);
        linear(s->hb2, s, n, &ql->w_up, fw ? fw->w_up : NULL, act, s->wrows, row_stride);
        for (size_t i = 0; i < (size_t)n * ffn; i++) {
            float g = s->hb[i];
            s->hb[i] = g / (1.0f + expf(-g)) * s->hb2[i];
        }
        /* The source float w_down is not rotated, so float_weights skips R4. */
        if (qm->online_hadamard_ffn && !o->float_weights && qm->r4_matrix) {
            /* Dense R4: h <- R h, each output a float sum in column order. */
            for (int t = 0; t < n; t++) {
                const float *h = s->hb + (size_t)t * ffn;
                float *rh = s->hb2 + (size_t)t * ffn;
                for (int i = 0; i < ffn; i++) {
                    const float *r = qm->r4_matrix + (size_t)i * ffn;
                    float sum = 0.0f;
                    for (int j = 0; j < ffn; j++) sum += r[j] * h[j];
                    rh[i] = sum;
                }
            }
            memcpy(s->hb, s->hb2, (size_t)n * ffn * sizeof(float));
        } else if (qm->online_hadamard_ffn && !o->float_weights) {
            for (int t = 0; t < n; t++) flx_fakequant_hadamard(s->hb + (size_t)t * ffn, ffn);
        }
        linear_input(s, s->hb, n, ffn, act);
        linear(s->xb2, s, n, &ql->w_down, fw ? fw->w_down : NULL, act, s->wrows, row_stride);
        for (size_t i = 0; i < (size_t)n * dim; i++) s->x[i] += s->xb2[i];
    }

    /* Final RMSNorm and the LM head with its own activation quantizer. */
    int first = all_logits ? 0 : n - 1;
    int n_out = n - first;
    for (int t = first; t < n; t++)
        rmsnorm(s->xb + (size_t)(t - first) * dim, s->x + (size_t)t * dim, qm->output_norm, dim,
                c->norm_eps);
    linear_input(s, s->xb, n_out, dim, head_act);
    linear(logits, s, n_out, &qm->lm_head, o->float_weights ? src->output : NULL, head_act, s->wrows, row_stride);
    return 0;
}
