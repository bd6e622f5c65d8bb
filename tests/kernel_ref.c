#include "kernel_ref.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

void linear_ref(const int16_t *x, int n_tokens, const int8_t *w, int d_out, int d_in, int64_t *acc) {
    for (int t = 0; t < n_tokens; t++)
        for (int o = 0; o < d_out; o++) {
            int64_t sum = 0;
            for (int i = 0; i < d_in; i++) sum += (int64_t)x[(long)t * d_in + i] * w[(long)o * d_in + i];
            acc[(long)t * d_out + o] = sum;
        }
}

/* Converts a rounded float to an integer code in [lo, hi], clamping first so
 * that values outside int range never reach the conversion. */
static int clamp_code(float v, int lo, int hi) {
    if (v < (float)lo) return lo;
    if (v > (float)hi) return hi;
    return (int)v;
}

void quant_dynamic_ref(const float *x, int n, int bits, int asymmetric, float clip, int16_t *q,
                       float *scale, float *offset) {
    if (asymmetric) {
        float min = x[0], max = x[0];
        for (int i = 1; i < n; i++) {
            if (x[i] < min) min = x[i];
            if (x[i] > max) max = x[i];
        }
        int levels = (1 << bits) - 1;
        float lo = clip * min, hi = clip * max;
        float s = (hi - lo) / (float)levels;
        if (hi == lo) s = 1.0f;
        for (int i = 0; i < n; i++) q[i] = (int16_t)clamp_code(roundf((x[i] - lo) / s), 0, levels);
        *scale = s;
        *offset = lo;
        return;
    }
    float max_abs = 0.0f;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > max_abs) max_abs = fabsf(x[i]);
    int qmax = (1 << (bits - 1)) - 1;
    float m = clip * max_abs;
    float s = m / (float)qmax;
    if (m == 0.0f) s = 1.0f;
    for (int i = 0; i < n; i++) q[i] = (int16_t)clamp_code(roundf(x[i] / s), -qmax, qmax);
    *scale = s;
    *offset = 0.0f;
}

void quant_static_i8_ref(const float *x, int n, float scale, int8_t *q) {
    for (int i = 0; i < n; i++) q[i] = (int8_t)clamp_code(roundf(x[i] / scale), -127, 127);
}

void quant_prob_u8_ref(const float *p, int n, float scale, uint8_t *q) {
    for (int i = 0; i < n; i++) q[i] = (uint8_t)clamp_code(roundf(p[i] / scale), 0, 255);
}

void dequant_linear_ref(const int32_t *acc, int n, float x_scale, float x_offset, int asymmetric,
                        const float *w_scale, const float *w_rowsum, float *y) {
    for (int o = 0; o < n; o++) {
        float product = ((float)acc[o] * x_scale) * w_scale[o];
        if (asymmetric) {
            float shift = x_offset * w_rowsum[o];
            product = product + shift;
        }
        y[o] = product;
    }
}

void dequant_linear_split_ref(const int32_t *acc_hi, const int32_t *acc_lo, int n, float x_scale,
                              float x_offset, int asymmetric, const float *w_scale, const float *w_rowsum,
                              float *y) {
    for (int o = 0; o < n; o++) {
        double acc = 256.0 * (double)acc_hi[o] + (double)acc_lo[o];
        float product = ((float)acc * x_scale) * w_scale[o];
        if (asymmetric) {
            float shift = x_offset * w_rowsum[o];
            product = product + shift;
        }
        y[o] = product;
    }
}

void attn_qk_ref(const int8_t *q, int n_q, const int32_t *q_pos, const int8_t *k, int n_keys,
                 int head_dim, float score_scale, float *scores) {
    for (int t = 0; t < n_q; t++)
        for (int p = 0; p < n_keys; p++) {
            float *out = &scores[(long)t * n_keys + p];
            if (p > q_pos[t]) {
                *out = -1e30f;
                continue;
            }
            int32_t dot = 0;
            for (int d = 0; d < head_dim; d++) dot += (int32_t)q[t * head_dim + d] * k[(long)p * head_dim + d];
            *out = (float)dot * score_scale;
        }
}

void softmax_ref(float *row, int n) {
    float max = row[0];
    for (int p = 1; p < n; p++)
        if (row[p] > max) max = row[p];
    float sum = 0.0f;
    for (int p = 0; p < n; p++) {
        row[p] = expf(row[p] - max);
        sum += row[p];
    }
    float inv = 1.0f / sum;
    for (int p = 0; p < n; p++) row[p] = row[p] * inv;
}

void attn_av_ref(const uint8_t *p, int n_q, const int8_t *v, int n_keys, int head_dim,
                 float out_scale, float *out) {
    for (int t = 0; t < n_q; t++)
        for (int d = 0; d < head_dim; d++) {
            int32_t dot = 0;
            for (int key = 0; key < n_keys; key++) dot += (int32_t)p[(long)t * n_keys + key] * v[(long)key * head_dim + d];
            out[t * head_dim + d] = (float)dot * out_scale;
        }
}

void rmsnorm_ref(const float *x, int n, const float *gain, float eps, float *y) {
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    for (int i = 0; i < n; i++) {
        float sq = x[i] * x[i];
        switch (i % 4) {
        case 0: s0 += sq; break;
        case 1: s1 += sq; break;
        case 2: s2 += sq; break;
        default: s3 += sq; break;
        }
    }
    float ss = (s0 + s1) + (s2 + s3);
    float inv_rms = 1.0f / sqrtf(ss / (float)n + eps);
    for (int i = 0; i < n; i++) y[i] = x[i] * inv_rms * gain[i];
}

void rope_ref(const float *x, int n_heads, int head_dim, int rope_dim, const float *cos_row,
              const float *sin_row, double *y) {
    for (int h = 0; h < n_heads; h++) {
        const float *in = x + (long)h * head_dim;
        double *out = y + (long)h * head_dim;
        for (int d = 0; d < head_dim; d++) out[d] = in[d];
        for (int i = 0; i < rope_dim / 2; i++) {
            double c = cos_row[i], s = sin_row[i];
            out[2 * i] = in[2 * i] * c - in[2 * i + 1] * s;
            out[2 * i + 1] = in[2 * i] * s + in[2 * i + 1] * c;
        }
    }
}

void silu_gate_ref(const float *gate, const float *up, int n, float *y) {
    for (int i = 0; i < n; i++) y[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

void residual_add_ref(const float *x, const float *r, int n, float *y) {
    for (int i = 0; i < n; i++) y[i] = x[i] + r[i];
}

int hadamard_entry(int i, int j) {
    int bits = 0;
    for (unsigned v = (unsigned)(i & j); v; v >>= 1) bits += (int)(v & 1u);
    return bits % 2 ? -1 : 1;
}

void hadamard_ref(const float *x, int n, int row_begin, int row_end, double *y) {
    double norm = 1.0 / sqrt((double)n);
    for (int i = row_begin; i < row_end; i++) {
        double sum = 0.0;
        for (int j = 0; j < n; j++) sum += hadamard_entry(i, j) * (double)x[j];
        y[i - row_begin] = sum * norm;
    }
}

typedef struct scored_id {
    float logit;
    int id;
} scored_id;

static int by_logit_then_id(const void *a, const void *b) {
    const scored_id *x = a, *y = b;
    if (x->logit != y->logit) return x->logit > y->logit ? -1 : 1;
    return x->id - y->id;
}

/* Stores the candidates in order and their float weights, and returns how
 * many of them the top-p cut keeps. */
static int select_candidates(const float *logits, int n, int k, float temperature, float top_p,
                             scored_id *cand, float *weight, int *n_cand) {
    scored_id *all = malloc(sizeof(scored_id) * (size_t)n);
    for (int i = 0; i < n; i++) {
        all[i].logit = logits[i];
        all[i].id = i;
    }
    qsort(all, (size_t)n, sizeof(scored_id), by_logit_then_id);
    if (temperature <= 0.0f) k = 1;
    int count = k < n ? k : n;
    memcpy(cand, all, sizeof(scored_id) * (size_t)count);
    free(all);
    *n_cand = count;
    if (count == 1) {
        weight[0] = 1.0f;
        return 1;
    }

    float total = 0.0f;
    for (int j = 0; j < count; j++) {
        weight[j] = expf((cand[j].logit - cand[0].logit) / temperature);
        total += weight[j];
    }
    float running = 0.0f;
    for (int j = 0; j < count; j++) {
        running += weight[j];
        if (running >= top_p * total) return j + 1;
    }
    return count;
}

int sample_topk_ref(const float *logits, int n, int k, float temperature, float top_p, float r,
                    int *cand_ids, int *n_cand) {
    scored_id cand[64];
    float weight[64];
    int count;
    int keep = select_candidates(logits, n, k, temperature, top_p, cand, weight, &count);
    if (cand_ids) {
        for (int j = 0; j < count; j++) cand_ids[j] = cand[j].id;
        *n_cand = count;
    }

    float kept_mass = 0.0f;
    for (int j = 0; j < keep; j++) kept_mass += weight[j];
    float target = r * kept_mass, cdf = 0.0f;
    for (int j = 0; j < keep; j++) {
        cdf += weight[j];
        if (target < cdf) return cand[j].id;
    }
    return cand[keep - 1].id;
}

int sample_topk_probs_ref(const float *logits, int n, int k, float temperature, float top_p,
                          int *ids, double *probs) {
    scored_id cand[64];
    float weight[64];
    int count;
    int keep = select_candidates(logits, n, k, temperature, top_p, cand, weight, &count);
    double total = 0.0;
    for (int j = 0; j < keep; j++) {
        probs[j] = keep == 1 ? 1.0 : exp(((double)cand[j].logit - cand[0].logit) / temperature);
        total += probs[j];
        ids[j] = cand[j].id;
    }
    for (int j = 0; j < keep; j++) probs[j] /= total;
    return keep;
}

void block_slice_ref(int n, int bp, int b, int *begin, int *count) {
    int per = n / bp + (n % bp != 0);
    long first = (long)b * per;
    long last = first + per;
    if (first > n) first = n;
    if (last > n) last = n;
    *begin = (int)first;
    *count = (int)(last - first);
}

void *ref_alloc(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "ref_alloc: cannot allocate %zu bytes\n", bytes);
        exit(1);
    }
    return p;
}

uint32_t ref_rand_u32(uint32_t *state) {
    *state = *state * 1664525u + 1013904223u;
    return *state;
}

int ref_rand_int(uint32_t *state, int lo, int hi) {
    /* 48 random bits from the high bits of two draws, which are the better
     * ones of an LCG. */
    uint64_t bits = (uint64_t)(ref_rand_u32(state) >> 8) << 24;
    bits |= ref_rand_u32(state) >> 8;
    uint64_t span = (uint64_t)((int64_t)hi - lo) + 1u;
    return (int)((int64_t)lo + (int64_t)(bits % span));
}

float ref_rand_float(uint32_t *state, float lo, float hi) {
    float unit = (float)(ref_rand_u32(state) >> 8) / 16777216.0f;
    return lo + (hi - lo) * unit;
}

/* Mismatch lines printed so far by this test process. */
static int mismatches_printed;
enum { MAX_MISMATCH_LINES = 10 };

static int print_allowed(void) {
    if (mismatches_printed < MAX_MISMATCH_LINES) {
        mismatches_printed++;
        return 1;
    }
    if (mismatches_printed == MAX_MISMATCH_LINES) {
        fprintf(stderr, "(further mismatches not listed)\n");
        mismatches_printed++;
    }
    return 0;
}

static long finish_compare(const char *label, long differing, long n) {
    if (differing) {
        flx_check_failures++;
        fprintf(stderr, "%s: %ld of %ld elements differ\n", label, differing, n);
    }
    return differing;
}

#define DEFINE_COMPARE_INT(name, got_type, want_type)                                       \
    long name(const char *label, const got_type *got, const want_type *want, long n) {       \
        long differing = 0;                                                                  \
        for (long i = 0; i < n; i++) {                                                       \
            if ((long long)got[i] == (long long)want[i]) continue;                           \
            differing++;                                                                     \
            if (print_allowed())                                                             \
                fprintf(stderr, "%s[%ld]: got %lld, expected %lld\n", label, i,               \
                        (long long)got[i], (long long)want[i]);                              \
        }                                                                                    \
        return finish_compare(label, differing, n);                                           \
    }

DEFINE_COMPARE_INT(compare_i32, int32_t, int64_t)
DEFINE_COMPARE_INT(compare_i16, int16_t, int16_t)
DEFINE_COMPARE_INT(compare_i8, int8_t, int8_t)
DEFINE_COMPARE_INT(compare_u8, uint8_t, uint8_t)

long compare_f32(const char *label, const float *got, const float *want, long n) {
    long differing = 0;
    for (long i = 0; i < n; i++) {
        uint32_t g, w;
        memcpy(&g, &got[i], sizeof g);
        memcpy(&w, &want[i], sizeof w);
        if (g == w) continue;
        differing++;
        if (print_allowed())
            fprintf(stderr, "%s[%ld]: got %.9g (0x%08x), expected %.9g (0x%08x)\n", label, i,
                    (double)got[i], (unsigned)g, (double)want[i], (unsigned)w);
    }
    return finish_compare(label, differing, n);
}

long compare_near(const char *label, const float *got, const double *want, long n, double tol) {
    long differing = 0;
    for (long i = 0; i < n; i++) {
        double bound = tol * (fabs(want[i]) > 1.0 ? fabs(want[i]) : 1.0);
        if (fabs((double)got[i] - want[i]) <= bound) continue;
        differing++;
        if (print_allowed())
            fprintf(stderr, "%s[%ld]: got %.9g, expected %.9g (tolerance %g)\n", label, i,
                    (double)got[i], want[i], tol);
    }
    return finish_compare(label, differing, n);
}
