/* Kernels of the dynamically quantized KV cache and the dense online
 * rotation: flx_quant_kv_groups, flx_kv_write_scales, flx_attn_qk_grouped,
 * flx_attn_av_grouped and flx_rotate_dense_kernel. Each is compared bit for
 * bit with a scalar reference in this file that follows the float order of
 * the header. The mathematical checks cover code ranges, the max element
 * mapping to +-qmax, the rounding error bound, double-precision sums,
 * orthogonal rotations and hand-computed values. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kernels/attention.h"
#include "kernels/elementwise.h"
#include "kernels/kv_cache.h"
#include "kernels/quantize.h"

typedef int8_t code_rows[FLX_MAX_HEAD_DIM];
typedef float head_rows[FLX_MAX_HEAD_DIM];
typedef float score_rows[FLX_MAX_SEQ];
typedef uint8_t prob_rows[FLX_MAX_SEQ];

/* The kernels declare parameters such as x[FLX_MAX_HEAD_DIM], and GCC warns
 * when it detects a smaller buffer. Calling malloc through a volatile pointer
 * hides the size, so the tests pass buffers of exactly the used length and
 * AddressSanitizer reports any access past them. */
static void *(*volatile hidden_malloc)(size_t) = malloc;

static void *alloc_exact(size_t bytes) {
    void *p = hidden_malloc(bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "out of memory allocating %zu bytes\n", bytes);
        exit(1);
    }
    return p;
}

/* Deterministic inputs: a 32-bit LCG. */
static uint32_t next_u32(uint32_t *state) {
    *state = *state * 1664525u + 1013904223u;
    return *state;
}

static int rand_int(uint32_t *state, int lo, int hi) {
    return lo + (int)((next_u32(state) >> 8) % (uint32_t)(hi - lo + 1));
}

static float rand_float(uint32_t *state, float lo, float hi) {
    return lo + (hi - lo) * (float)((next_u32(state) >> 8) * (1.0 / 16777216.0));
}

static int same_bits(float a, float b) {
    return memcmp(&a, &b, sizeof a) == 0;
}

/* Prints the first mismatches of a whole test run and counts one check
 * failure per comparison that differs. */
static int printed_mismatches;

static void compare_f32_exact(const char *label, const float *got, const float *want, long n) {
    long bad = 0;
    for (long i = 0; i < n; i++) {
        if (same_bits(got[i], want[i])) continue;
        if (printed_mismatches++ < 10)
            fprintf(stderr, "%s[%ld]: got %.9g, expected %.9g\n", label, i, (double)got[i], (double)want[i]);
        bad++;
    }
    if (bad) fprintf(stderr, "%s: %ld of %ld elements differ\n", label, bad, n);
    CHECK(bad == 0);
}

static void compare_i8_exact(const char *label, const int8_t *got, const int8_t *want, long n) {
    long bad = 0;
    for (long i = 0; i < n; i++) {
        if (got[i] == want[i]) continue;
        if (printed_mismatches++ < 10) fprintf(stderr, "%s[%ld]: got %d, expected %d\n", label, i, got[i], want[i]);
        bad++;
    }
    if (bad) fprintf(stderr, "%s: %ld of %ld elements differ\n", label, bad, n);
    CHECK(bad == 0);
}

/* ---- scalar references, from the header comments ---- */

/* Per group: s = clip * max|x| / qmax (1 when 0), q = clamp(round(x / s)). */
static void quant_groups_ref(const float *x, int n, int group, int bits, float clip, int8_t *q, float *scales,
                             float *offsets) {
    const float qmax = (float)((1 << (bits - 1)) - 1);
    for (int g = 0; g < n / group; g++) {
        offsets[g] = 0.0f;
        float max_abs = 0.0f;
        for (int i = 0; i < group; i++) {
            float a = fabsf(x[g * group + i]);
            if (a > max_abs) max_abs = a;
        }
        float clipped = clip * max_abs;
        float s = clipped > 0.0f ? clipped / qmax : 1.0f;
        scales[g] = s;
        for (int i = 0; i < group; i++) {
            float v = roundf(x[g * group + i] / s);
            if (v > qmax) v = qmax;
            if (v < -qmax) v = -qmax;
            q[g * group + i] = (int8_t)v;
        }
    }
}

/* The asymmetric quantizer: range lo..hi (clipped min..max) in 2^bits - 1
 * steps, unsigned codes shifted down by 2^(bits-1), offset lo + s * 2^(bits-1). */
static void quant_groups_asym_ref(const float *x, int n, int group, int bits, float clip, int8_t *q,
                                  float *scales, float *offsets) {
    const float levels = (float)((1 << bits) - 1), half = (float)(1 << (bits - 1));
    for (int g = 0; g < n / group; g++) {
        float lo = x[g * group], hi = x[g * group];
        for (int i = 1; i < group; i++) {
            if (x[g * group + i] < lo) lo = x[g * group + i];
            if (x[g * group + i] > hi) hi = x[g * group + i];
        }
        lo *= clip;
        hi *= clip;
        float s = hi > lo ? (hi - lo) / levels : 1.0f;
        scales[g] = s;
        offsets[g] = lo + s * half;
        for (int i = 0; i < group; i++) {
            float u = roundf((x[g * group + i] - lo) / s);
            if (u < 0.0f) u = 0.0f;
            if (u > levels) u = levels;
            q[g * group + i] = (int8_t)(u - half);
        }
    }
}

/* scores [n_q][n_keys] = (sum over groups, in order, of (float)acc_g *
 * k_scales[p][g] + (float)qsum_g * k_offsets[p][g]) * q_scale, or
 * FLX_MASKED_SCORE for keys after q_pos[t]. */
static void qk_grouped_ref(const int8_t *q, int n_q, const int32_t *q_pos, const int8_t *k, const float *k_scales,
                           const float *k_offsets, int n_keys, int head_dim, int group, float q_scale, float *scores) {
    int n_groups = head_dim / group;
    for (int t = 0; t < n_q; t++)
        for (int p = 0; p < n_keys; p++) {
            if (p > q_pos[t]) {
                scores[(long)t * n_keys + p] = FLX_MASKED_SCORE;
                continue;
            }
            float sum = 0.0f;
            for (int g = 0; g < n_groups; g++) {
                int32_t acc = 0, qsum = 0;
                for (int d = g * group; d < (g + 1) * group; d++) {
                    acc += (int32_t)q[(long)t * head_dim + d] * k[(long)p * head_dim + d];
                    qsum += q[(long)t * head_dim + d];
                }
                long at = (long)p * n_groups + g;
                sum += (float)acc * k_scales[at] + (float)qsum * k_offsets[at];
            }
            scores[(long)t * n_keys + p] = sum * q_scale;
        }
}

/* out [n_q][head_dim] = (sum_p in key order of (float)(p * v) * v_scale +
 * (float)p * v_offset) * prob_scale. */
static void av_grouped_ref(const uint8_t *p, int n_q, const int8_t *v, const float *v_scales, const float *v_offsets,
                           int n_keys, int head_dim, int group, float prob_scale, float *out) {
    int n_groups = head_dim / group;
    for (int t = 0; t < n_q; t++)
        for (int d = 0; d < head_dim; d++) {
            float sum = 0.0f;
            for (int key = 0; key < n_keys; key++) {
                int32_t prob = p[(long)t * n_keys + key];
                int32_t prod = prob * v[(long)key * head_dim + d];
                long at = (long)key * n_groups + d / group;
                sum += (float)prod * v_scales[at] + (float)prob * v_offsets[at];
            }
            out[(long)t * head_dim + d] = sum * prob_scale;
        }
}

/* y[o] = sum over columns i, in order, of r[o][i] * x[i]. */
static void rotate_dense_ref(const float *r, int n, const float *x, float *y) {
    for (int o = 0; o < n; o++) {
        float sum = 0.0f;
        for (int i = 0; i < n; i++) sum += r[(long)o * n + i] * x[i];
        y[o] = sum;
    }
}

/* ---- flx_quant_kv_groups ---- */

/* Fills a K/V row whose groups have different magnitudes. Group
 * zero_group (if in range) is all zero. In every other group one element,
 * at a random channel and of random sign, has the largest |x|. */
static void fill_row(float *x, int n, int group, int zero_group, uint32_t *seed) {
    for (int g = 0; g < n / group; g++) {
        float magnitude = rand_float(seed, 1e-3f, 50.0f);
        for (int i = 0; i < group; i++) x[g * group + i] = rand_float(seed, -magnitude, magnitude);
        if (g == zero_group) {
            for (int i = 0; i < group; i++) x[g * group + i] = 0.0f;
            continue;
        }
        int peak = rand_int(seed, 0, group - 1);
        x[g * group + peak] = (rand_int(seed, 0, 1) ? 1.5f : -1.5f) * magnitude;
    }
}

static void check_quant_row(int head_dim, int group, int bits, float clip, uint32_t *seed) {
    int n_groups = head_dim / group;
    const int qmax = (1 << (bits - 1)) - 1;
    float *x = alloc_exact(sizeof(float) * (size_t)head_dim);
    int8_t *q = alloc_exact((size_t)head_dim), *want_q = alloc_exact((size_t)head_dim);
    float *scales = alloc_exact(sizeof(float) * (size_t)n_groups);
    float *want_scales = alloc_exact(sizeof(float) * (size_t)n_groups);
    float *offsets = alloc_exact(sizeof(float) * (size_t)n_groups);
    float *want_offsets = alloc_exact(sizeof(float) * (size_t)n_groups);
    int zero_group = n_groups > 1 ? n_groups - 1 : -1;
    fill_row(x, head_dim, group, zero_group, seed);

    flx_quant_kv_groups(x, head_dim, group, bits, false, clip, q, scales, offsets);
    quant_groups_ref(x, head_dim, group, bits, clip, want_q, want_scales, want_offsets);
    compare_f32_exact("quant symmetric offsets", offsets, want_offsets, n_groups);
    char label[128];
    snprintf(label, sizeof label, "quant head_dim=%d group=%d bits=%d clip=%g codes", head_dim, group, bits,
             (double)clip);
    compare_i8_exact(label, q, want_q, head_dim);
    snprintf(label, sizeof label, "quant head_dim=%d group=%d bits=%d clip=%g scales", head_dim, group, bits,
             (double)clip);
    compare_f32_exact(label, scales, want_scales, n_groups);

    for (int g = 0; g < n_groups; g++) {
        const float *xg = x + g * group;
        const int8_t *qg = q + g * group;
        double s = scales[g];
        if (g == zero_group) {
            CHECK(scales[g] == 1.0f);
            for (int i = 0; i < group; i++) CHECK_INT_EQ(qg[i], 0);
            continue;
        }
        int peak = 0;
        for (int i = 1; i < group; i++)
            if (fabsf(xg[i]) > fabsf(xg[peak])) peak = i;
        double want_scale = clip * fabs((double)xg[peak]) / qmax;
        CHECK(fabs(s - want_scale) <= 1e-6 * want_scale);
        if (clip == 1.0f) CHECK_INT_EQ(qg[peak], xg[peak] > 0 ? qmax : -qmax);

        for (int i = 0; i < group; i++) {
            CHECK(qg[i] >= -qmax);
            CHECK(qg[i] <= qmax);
            double ratio = fabs((double)xg[i]) / s;
            if (ratio <= qmax) {
                /* Unclipped: round to nearest. x / s is rounded to float
                 * first, so allow a relative 2^-24 of qmax on top of s/2. */
                CHECK(fabs((double)xg[i] - s * qg[i]) <= s * (0.5 + qmax * 1.2e-7));
            } else {
                /* Clipped: the code saturates with the sign of x. */
                CHECK_INT_EQ(qg[i], xg[i] > 0 ? qmax : -qmax);
            }
        }
    }
    free(x);
    free(q);
    free(want_q);
    free(scales);
    free(want_scales);
    free(offsets);
    free(want_offsets);
}

/* The asymmetric quantizer against its reference, and its bounds: codes in
 * [-2^(bits-1), 2^(bits-1) - 1], the group minimum and maximum at the ends
 * for clip 1, and |x - (s q + offset)| <= s/2 (plus rounding) within the
 * range. */
static void check_quant_row_asym(int head_dim, int group, int bits, float clip, uint32_t *seed) {
    int n_groups = head_dim / group;
    const int half = 1 << (bits - 1);
    float *x = alloc_exact(sizeof(float) * (size_t)head_dim);
    int8_t *q = alloc_exact((size_t)head_dim), *want_q = alloc_exact((size_t)head_dim);
    float *scales = alloc_exact(sizeof(float) * (size_t)n_groups), *want_scales = alloc_exact(sizeof(float) * (size_t)n_groups);
    float *offsets = alloc_exact(sizeof(float) * (size_t)n_groups), *want_offsets = alloc_exact(sizeof(float) * (size_t)n_groups);
    int zero_group = n_groups > 1 ? n_groups - 1 : -1;
    fill_row(x, head_dim, group, zero_group, seed);
    /* A positive shift makes the groups one-sided, as V rows often are. */
    for (int i = 0; i < head_dim / 2; i++) x[i] += 3.0f;

    flx_quant_kv_groups(x, head_dim, group, bits, true, clip, q, scales, offsets);
    quant_groups_asym_ref(x, head_dim, group, bits, clip, want_q, want_scales, want_offsets);
    char label[128];
    snprintf(label, sizeof label, "asym quant head_dim=%d group=%d bits=%d clip=%g codes", head_dim, group, bits,
             (double)clip);
    compare_i8_exact(label, q, want_q, head_dim);
    compare_f32_exact("asym quant scales", scales, want_scales, n_groups);
    compare_f32_exact("asym quant offsets", offsets, want_offsets, n_groups);
    for (int g = 0; g < n_groups; g++) {
        const float *xg = x + g * group;
        const int8_t *qg = q + g * group;
        double s = scales[g], z = offsets[g];
        int lo_i = 0, hi_i = 0;
        for (int i = 0; i < group; i++) {
            CHECK(qg[i] >= -half);
            CHECK(qg[i] <= half - 1);
            if (xg[i] < xg[lo_i]) lo_i = i;
            if (xg[i] > xg[hi_i]) hi_i = i;
        }
        if (clip != 1.0f || xg[lo_i] == xg[hi_i]) continue;
        CHECK_INT_EQ(qg[lo_i], -half);
        CHECK_INT_EQ(qg[hi_i], half - 1);
        for (int i = 0; i < group; i++) CHECK(fabs((double)xg[i] - (s * qg[i] + z)) <= s * 0.5 + 1e-5 * fabs(xg[i]) + 1e-6);
    }
    free(x);
    free(q);
    free(want_q);
    free(scales);
    free(want_scales);
    free(offsets);
    free(want_offsets);
}

static void test_quant_groups_shapes(void) {
    static const int head_dims[] = {8, 64, 128};
    static const int bit_widths[] = {4, 8};
    static const float clips[] = {1.0f, 0.9f};
    uint32_t seed = 7;
    for (size_t h = 0; h < sizeof head_dims / sizeof head_dims[0]; h++) {
        int head_dim = head_dims[h];
        const int groups[] = {8, 32, head_dim};
        for (size_t gi = 0; gi < sizeof groups / sizeof groups[0]; gi++) {
            if (groups[gi] > head_dim || head_dim % groups[gi]) continue;
            for (size_t b = 0; b < sizeof bit_widths / sizeof bit_widths[0]; b++)
                for (size_t c = 0; c < sizeof clips / sizeof clips[0]; c++)
                    for (int rep = 0; rep < 4; rep++) {
                        check_quant_row(head_dim, groups[gi], bit_widths[b], clips[c], &seed);
                        check_quant_row_asym(head_dim, groups[gi], bit_widths[b], clips[c], &seed);
                    }
        }
    }
}

/* INT4, one group of 8 with max |x| = 7: clip 1 gives s = 1, and the
 * halves round away from zero; clip 0.5 gives s = 0.5 and saturates the
 * values beyond 3.5. The second group is zero. */
static void test_quant_groups_by_hand(void) {
    float *x = alloc_exact(sizeof(float) * 16);
    int8_t *q = alloc_exact(16);
    float *scales = alloc_exact(sizeof(float) * 2), *offsets = alloc_exact(sizeof(float) * 2);
    const float row[8] = {7.0f, 2.5f, -3.5f, 0.4f, -0.6f, 1.0f, -7.0f, 6.5f};
    const int8_t want_clip1[8] = {7, 3, -4, 0, -1, 1, -7, 7};
    const int8_t want_clip05[8] = {7, 5, -7, 1, -1, 2, -7, 7};
    memcpy(x, row, sizeof row);
    memset(x + 8, 0, sizeof(float) * 8);

    flx_quant_kv_groups(x, 16, 8, 4, false, 1.0f, q, scales, offsets);
    CHECK(scales[0] == 1.0f);
    CHECK(scales[1] == 1.0f);
    for (int i = 0; i < 8; i++) CHECK_INT_EQ(q[i], want_clip1[i]);
    for (int i = 8; i < 16; i++) CHECK_INT_EQ(q[i], 0);

    flx_quant_kv_groups(x, 16, 8, 4, false, 0.5f, q, scales, offsets);
    CHECK(scales[0] == 0.5f);
    CHECK(scales[1] == 1.0f);
    for (int i = 0; i < 8; i++) CHECK_INT_EQ(q[i], want_clip05[i]);

    /* INT8, group 16: max |x| = 7, so s = 7/127 and -7 maps to -127. */
    flx_quant_kv_groups(x, 16, 16, 8, false, 1.0f, q, scales, offsets);
    CHECK(scales[0] == 7.0f / 127.0f);
    CHECK_INT_EQ(q[0], 127);
    CHECK_INT_EQ(q[6], -127);
    CHECK_INT_EQ(q[1], 45); /* 2.5 * 127 / 7 = 45.36 */
    CHECK(offsets[0] == 0.0f);

    /* Asymmetric INT4 over -7..8 (16 values 1 apart): s = 1, codes x - 1,
     * offset -7 + 8 = 1, so s q + offset gives x back. */
    for (int i = 0; i < 16; i++) x[i] = (float)(i - 7);
    flx_quant_kv_groups(x, 16, 16, 4, true, 1.0f, q, scales, offsets);
    CHECK(scales[0] == 1.0f);
    CHECK(offsets[0] == 1.0f);
    for (int i = 0; i < 16; i++) CHECK_INT_EQ(q[i], i - 8);
    free(x);
    free(q);
    free(scales);
    free(offsets);
}

/* ---- flx_kv_write_scales ---- */

static void check_write_scales(int max_seq, int n_groups, int pos, int n_tokens, uint32_t *seed) {
    long n_cache = (long)max_seq * n_groups;
    float *cache = alloc_exact(sizeof(float) * (size_t)n_cache);
    head_rows *rows = alloc_exact(sizeof(head_rows) * (size_t)n_tokens);
    const float untouched = -123.0f;
    for (long i = 0; i < n_cache; i++) cache[i] = untouched;
    for (int t = 0; t < n_tokens; t++)
        for (int g = 0; g < FLX_MAX_HEAD_DIM; g++) rows[t][g] = rand_float(seed, 1e-3f, 2.0f);

    flx_kv_write_scales(cache, pos, n_tokens, n_groups, rows);
    long wrong = 0;
    for (int p = 0; p < max_seq; p++)
        for (int g = 0; g < n_groups; g++) {
            float want = p >= pos && p < pos + n_tokens ? rows[p - pos][g] : untouched;
            if (!same_bits(cache[(long)p * n_groups + g], want)) wrong++;
        }
    if (wrong)
        fprintf(stderr, "kv_write_scales max_seq=%d n_groups=%d pos=%d n_tokens=%d: %ld wrong entries\n", max_seq,
                n_groups, pos, n_tokens, wrong);
    CHECK(wrong == 0);
    free(cache);
    free(rows);
}

static void test_write_scales(void) {
    uint32_t seed = 11;
    check_write_scales(1, 1, 0, 1, &seed);           /* one position, one group */
    check_write_scales(40, 4, 0, 5, &seed);          /* first prompt block */
    check_write_scales(40, 16, 39, 1, &seed);        /* decode into the last position */
    check_write_scales(64, 128, 32, FLX_MAX_TP, &seed); /* group 1 of head_dim 128, a full block at the end */
    check_write_scales(50, 8, 17, 3, &seed);
}

/* ---- flx_attn_qk_grouped and flx_attn_av_grouped ---- */

#define UNIT_ROUNDOFF 5.9604644775390625e-8 /* 2^-24, float */

typedef struct kv_case {
    int n_q, head_dim, group, kp, vp, n_keys, pos0, bits;
} kv_case;

/* Queries sit at positions pos0..pos0+n_q-1, so keys after pos0+t are
 * masked in row t, and keys after the last query in every row. */
static const kv_case CASES[] = {
    {1, 8, 8, 1, 1, 1, 0, 4},          /* first decode step */
    {1, 64, 32, 16, 3, 37, 36, 4},     /* decode, last key tile partly filled */
    {3, 8, 8, 3, 16, 5, 0, 8},         /* first prompt block, vp > head_dim */
    {5, 64, 8, 3, 16, 23, 15, 4},
    {17, 128, 32, 16, 3, 50, 20, 8},   /* 13 keys after the last query */
    {32, 128, 128, 16, 1, 77, 40, 4},  /* FLX_MAX_TP queries, one group per head */
    {2, 128, 8, 1, 16, 19, 17, 8},
    {7, 64, 64, 128, 128, 200, 150, 8}, /* widest tiles, 200 keys */
    {4, 128, 32, 3, 3, 1000, 996, 4},
    {31, 8, 8, 16, 3, 45, 14, 4},
};

static void check_kv_case(const kv_case *c, int with_offsets, uint32_t *seed) {
    const int n_q = c->n_q, head_dim = c->head_dim, group = c->group, n_keys = c->n_keys;
    const int n_groups = head_dim / group, qmax = (1 << (c->bits - 1)) - 1;
    const long n_scores = (long)n_q * n_keys;

    int8_t *q = alloc_exact((size_t)n_q * head_dim);
    int8_t *k = alloc_exact((size_t)n_keys * head_dim), *v = alloc_exact((size_t)n_keys * head_dim);
    float *k_scales = alloc_exact(sizeof(float) * (size_t)n_keys * n_groups);
    float *v_scales = alloc_exact(sizeof(float) * (size_t)n_keys * n_groups);
    float *k_offsets = alloc_exact(sizeof(float) * (size_t)n_keys * n_groups);
    float *v_offsets = alloc_exact(sizeof(float) * (size_t)n_keys * n_groups);
    int32_t *q_pos = alloc_exact(sizeof(int32_t) * (size_t)n_q);
    uint8_t *p = alloc_exact((size_t)n_scores);
    for (long i = 0; i < (long)n_q * head_dim; i++) q[i] = (int8_t)rand_int(seed, -127, 127);
    for (long i = 0; i < (long)n_keys * head_dim; i++) {
        k[i] = (int8_t)rand_int(seed, -qmax, qmax);
        v[i] = (int8_t)rand_int(seed, -qmax, qmax);
    }
    for (long i = 0; i < (long)n_keys * n_groups; i++) {
        /* Every seventh scale is 1, the scale of an all-zero group. */
        k_scales[i] = i % 7 == 3 ? 1.0f : rand_float(seed, 1e-3f, 0.5f);
        v_scales[i] = i % 7 == 5 ? 1.0f : rand_float(seed, 1e-3f, 0.5f);
        k_offsets[i] = with_offsets ? rand_float(seed, -2.0f, 2.0f) : 0.0f;
        v_offsets[i] = with_offsets ? rand_float(seed, -2.0f, 2.0f) : 0.0f;
    }
    for (long i = 0; i < n_scores; i++) p[i] = (uint8_t)rand_int(seed, 0, 255);
    for (int t = 0; t < n_q; t++) q_pos[t] = c->pos0 + t;

    /* The kernels take rows of fixed stride, the references packed rows. */
    code_rows *q_tile = alloc_exact(sizeof(code_rows) * (size_t)n_q);
    score_rows *scores = alloc_exact(sizeof(score_rows) * (size_t)n_q);
    prob_rows *p_tile = alloc_exact(sizeof(prob_rows) * (size_t)n_q);
    head_rows *out = alloc_exact(sizeof(head_rows) * (size_t)n_q);
    float *want = alloc_exact(sizeof(float) * (size_t)n_scores);
    float *got = alloc_exact(sizeof(float) * (size_t)n_scores);
    float *want_out = alloc_exact(sizeof(float) * (size_t)n_q * head_dim);
    float *got_out = alloc_exact(sizeof(float) * (size_t)n_q * head_dim);
    const float sentinel = 12345.0f;
    for (int t = 0; t < n_q; t++) {
        memcpy(q_tile[t], q + (long)t * head_dim, (size_t)head_dim);
        memcpy(p_tile[t], p + (long)t * n_keys, (size_t)n_keys);
        for (int j = 0; j < FLX_MAX_SEQ; j++) scores[t][j] = sentinel;
        for (int d = 0; d < FLX_MAX_HEAD_DIM; d++) out[t][d] = sentinel;
    }
    const float q_scale = 0.021f / sqrtf((float)head_dim), prob_scale = 1.0f / 255.0f;
    char label[160];

    qk_grouped_ref(q, n_q, q_pos, k, k_scales, k_offsets, n_keys, head_dim, group, q_scale, want);
    flx_attn_qk_grouped(q_tile, n_q, q_pos, k, k_scales, k_offsets, n_keys, head_dim, group, c->kp, q_scale, scores);
    for (int t = 0; t < n_q; t++) memcpy(got + (long)t * n_keys, scores[t], sizeof(float) * (size_t)n_keys);
    snprintf(label, sizeof label, "qk_grouped n_q=%d head_dim=%d group=%d kp=%d n_keys=%d scores", n_q, head_dim,
             group, c->kp, n_keys);
    compare_f32_exact(label, got, want, n_scores);

    /* Masking, writes past n_keys, and the sum against double precision.
     * By the recursive summation bound, a float sum of n rounded products,
     * scaled once, is within (n + 3) * 2^-24 times the sum of |terms|. */
    long wrong_mask = 0, wrong_value = 0, written_past = 0;
    for (int t = 0; t < n_q; t++) {
        if (n_keys < FLX_MAX_SEQ && !same_bits(scores[t][n_keys], sentinel)) written_past++;
        for (int key = 0; key < n_keys; key++) {
            float s = scores[t][key];
            if (key > q_pos[t]) {
                if (!same_bits(s, FLX_MASKED_SCORE)) wrong_mask++;
                continue;
            }
            double exact = 0.0, magnitude = 0.0;
            for (int d = 0; d < head_dim; d++) {
                long at = (long)key * n_groups + d / group;
                double qc = q[(long)t * head_dim + d];
                double term = qc * k[(long)key * head_dim + d] * k_scales[at] + qc * k_offsets[at];
                exact += term;
                magnitude += fabs(qc * k[(long)key * head_dim + d] * k_scales[at]) + fabs(qc * k_offsets[at]);
            }
            double bound = (2 * n_groups + 3) * UNIT_ROUNDOFF * magnitude * q_scale;
            if (!(fabs(s - exact * q_scale) <= bound)) wrong_value++;
        }
    }
    CHECK_INT_EQ(wrong_mask, 0);
    CHECK_INT_EQ(wrong_value, 0);
    CHECK_INT_EQ(written_past, 0);

    av_grouped_ref(p, n_q, v, v_scales, v_offsets, n_keys, head_dim, group, prob_scale, want_out);
    flx_attn_av_grouped(p_tile, n_q, v, v_scales, v_offsets, n_keys, head_dim, group, c->vp, prob_scale, out);
    for (int t = 0; t < n_q; t++) memcpy(got_out + (long)t * head_dim, out[t], sizeof(float) * (size_t)head_dim);
    snprintf(label, sizeof label, "av_grouped n_q=%d head_dim=%d group=%d vp=%d n_keys=%d out", n_q, head_dim, group,
             c->vp, n_keys);
    compare_f32_exact(label, got_out, want_out, (long)n_q * head_dim);

    wrong_value = 0;
    written_past = 0;
    for (int t = 0; t < n_q; t++) {
        for (int d = head_dim; d < FLX_MAX_HEAD_DIM; d++)
            if (!same_bits(out[t][d], sentinel)) written_past++;
        for (int d = 0; d < head_dim; d++) {
            double exact = 0.0, magnitude = 0.0;
            for (int key = 0; key < n_keys; key++) {
                long at = (long)key * n_groups + d / group;
                double pc = p[(long)t * n_keys + key];
                double term = pc * v[(long)key * head_dim + d] * v_scales[at] + pc * v_offsets[at];
                exact += term;
                magnitude += fabs(pc * v[(long)key * head_dim + d] * v_scales[at]) + fabs(pc * v_offsets[at]);
            }
            double bound = (n_keys + 4) * UNIT_ROUNDOFF * magnitude * prob_scale;
            if (!(fabs(out[t][d] - exact * prob_scale) <= bound)) wrong_value++;
        }
    }
    CHECK_INT_EQ(wrong_value, 0);
    CHECK_INT_EQ(written_past, 0);

    free(q);
    free(k);
    free(v);
    free(k_scales);
    free(v_scales);
    free(k_offsets);
    free(v_offsets);
    free(q_pos);
    free(p);
    free(q_tile);
    free(scores);
    free(p_tile);
    free(out);
    free(want);
    free(got);
    free(want_out);
    free(got_out);
}

static void test_grouped_attention_cases(void) {
    uint32_t seed = 23;
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        check_kv_case(&CASES[i], 0, &seed);
        check_kv_case(&CASES[i], 1, &seed);
    }
}

/* head_dim 8 in two groups of 4, one query at position 0, two keys. Key 0:
 * acc = (1+2+3+4, -1-2-3-4) = (10, -10) with scales (0.5, 0.25), so the
 * score is (10*0.5 - 10*0.25) * 2 = 5. Key 1 is after the query: masked.
 * AV with p = (255, 1), prob_scale 1: out[d] = 255*v0[d]*s0 + v1[d]*s1. */
static void test_grouped_attention_by_hand(void) {
    code_rows *q = alloc_exact(sizeof(code_rows));
    int8_t *k = alloc_exact(16);
    float *scales = alloc_exact(sizeof(float) * 4), *offsets = alloc_exact(sizeof(float) * 4);
    int32_t *q_pos = alloc_exact(sizeof(int32_t));
    score_rows *scores = alloc_exact(sizeof(score_rows));
    prob_rows *p = alloc_exact(sizeof(prob_rows));
    head_rows *out = alloc_exact(sizeof(head_rows));
    const int8_t q_row[8] = {1, 2, 3, 4, -1, -2, -3, -4};
    const int8_t keys[16] = {1, 1, 1, 1, 1, 1, 1, 1, /* key 1: */ 7, 7, 7, 7, 7, 7, 7, 7};
    const float key_scales[4] = {0.5f, 0.25f, 1.0f, 1.0f};
    memcpy(q[0], q_row, sizeof q_row);
    memcpy(k, keys, sizeof keys);
    memcpy(scales, key_scales, sizeof key_scales);
    memset(offsets, 0, sizeof(float) * 4);
    q_pos[0] = 0;

    flx_attn_qk_grouped(q, 1, q_pos, k, scales, offsets, 2, 8, 4, 3, 2.0f, scores);
    CHECK(scores[0][0] == 5.0f);
    CHECK(scores[0][1] == FLX_MASKED_SCORE);

    p[0][0] = 255;
    p[0][1] = 1;
    flx_attn_av_grouped(p, 1, k, scales, offsets, 2, 8, 4, 3, 1.0f, out);
    CHECK(out[0][0] == 255.0f * 0.5f + 7.0f); /* 134.5 */
    CHECK(out[0][3] == 134.5f);
    CHECK(out[0][4] == 255.0f * 0.25f + 7.0f); /* 70.75 */
    CHECK(out[0][7] == 70.75f);

    /* Offsets (key 0: 1 and -2): the query sums are 10 and -10, so the
     * score gains (10 * 1 + (-10) * (-2)) * 2 = 60; AV gains 255 * 1 in
     * the first group and 255 * (-2) in the second. */
    const float key_offsets[4] = {1.0f, -2.0f, 0.0f, 0.0f};
    memcpy(offsets, key_offsets, sizeof key_offsets);
    flx_attn_qk_grouped(q, 1, q_pos, k, scales, offsets, 2, 8, 4, 3, 2.0f, scores);
    CHECK(scores[0][0] == 65.0f);
    flx_attn_av_grouped(p, 1, k, scales, offsets, 2, 8, 4, 3, 1.0f, out);
    CHECK(out[0][0] == 134.5f + 255.0f);
    CHECK(out[0][4] == 70.75f - 510.0f);
    free(q);
    free(k);
    free(scales);
    free(offsets);
    free(q_pos);
    free(scores);
    free(p);
    free(out);
}

/* ---- flx_rotate_dense_kernel ---- */

static double norm2(const float *x, int n) {
    double s = 0.0;
    for (int i = 0; i < n; i++) s += (double)x[i] * x[i];
    return sqrt(s);
}

static void test_rotate_dense_random(void) {
    static const int orders[] = {1, 2, 3, 5, 64, 172, 257};
    uint32_t seed = 5;
    for (size_t c = 0; c < sizeof orders / sizeof orders[0]; c++) {
        int n = orders[c];
        float *r = alloc_exact(sizeof(float) * (size_t)n * n);
        float *x = alloc_exact(sizeof(float) * (size_t)n);
        float *y = alloc_exact(sizeof(float) * (size_t)n), *want = alloc_exact(sizeof(float) * (size_t)n);
        for (long i = 0; i < (long)n * n; i++) r[i] = rand_float(&seed, -1.0f, 1.0f);
        for (int i = 0; i < n; i++) x[i] = rand_float(&seed, -10.0f, 10.0f);
        flx_rotate_dense_kernel(r, n, x, y);
        rotate_dense_ref(r, n, x, want);
        char label[64];
        snprintf(label, sizeof label, "rotate_dense n=%d y", n);
        compare_f32_exact(label, y, want, n);
        free(r);
        free(x);
        free(y);
        free(want);
    }
}

/* The normalized Sylvester H_4 (entries +-1/2) maps (1, 2, 3, 4) to
 * (5, -1, -2, 0). A rotation by 30 degrees maps (2, 1) to
 * (2 cos - sin, 2 sin + cos). Both keep the norm. */
static void test_rotate_dense_orthogonal(void) {
    float *r = alloc_exact(sizeof(float) * 16);
    float *x = alloc_exact(sizeof(float) * 4), *y = alloc_exact(sizeof(float) * 4);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
            int common_bits = i & j;
            int odd = (common_bits ^ (common_bits >> 1)) & 1; /* parity of a 2-bit value */
            r[i * 4 + j] = odd ? -0.5f : 0.5f;
        }
    const float x4[4] = {1.0f, 2.0f, 3.0f, 4.0f};
    memcpy(x, x4, sizeof x4);
    flx_rotate_dense_kernel(r, 4, x, y);
    CHECK(y[0] == 5.0f);
    CHECK(y[1] == -1.0f);
    CHECK(y[2] == -2.0f);
    CHECK(y[3] == 0.0f);
    CHECK_NEAR(norm2(y, 4), sqrt(30.0), 1e-6);

    const double angle = 3.14159265358979323846 / 6.0;
    const float c = (float)cos(angle), s = (float)sin(angle);
    const float r2[4] = {c, -s, s, c};
    memcpy(r, r2, sizeof r2);
    x[0] = 2.0f;
    x[1] = 1.0f;
    flx_rotate_dense_kernel(r, 2, x, y);
    CHECK_NEAR(y[0], 2.0 * cos(angle) - sin(angle), 1e-6); /* 1.2320508 */
    CHECK_NEAR(y[1], 2.0 * sin(angle) + cos(angle), 1e-6); /* 1.8660254 */
    CHECK_NEAR(norm2(y, 2), sqrt(5.0), 1e-6);

    /* Rotation by 90 degrees, exact: (x0, x1) -> (-x1, x0). */
    const float r90[4] = {0.0f, -1.0f, 1.0f, 0.0f};
    memcpy(r, r90, sizeof r90);
    x[0] = 3.0f;
    x[1] = -4.0f;
    flx_rotate_dense_kernel(r, 2, x, y);
    CHECK(y[0] == 4.0f);
    CHECK(y[1] == 3.0f);
    free(r);
    free(x);
    free(y);
}

int main(void) {
    test_quant_groups_shapes();
    test_quant_groups_by_hand();
    test_write_scales();
    test_grouped_attention_cases();
    test_grouped_attention_by_hand();
    test_rotate_dense_random();
    test_rotate_dense_orthogonal();
    return flx_check_report("test_kernel_kv_dynamic");
}
