/* Float kernels of a decoder layer (RMSNorm, RoPE, SiLU gate, residual,
 * Walsh-Hadamard transform, embedding), the KV cache writer and the
 * vector movers, against the scalar references. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kernel_ref.h"
#include "kernels/elementwise.h"
#include "kernels/kv_cache.h"
#include "kernels/stream.h"

static void fill_uniform(float *x, long n, float lo, float hi, uint32_t *seed) {
    for (long i = 0; i < n; i++) x[i] = ref_rand_float(seed, lo, hi);
}

static void test_rmsnorm(void) {
    static const int ns[] = {1, 2, 3, 5, 64, 1000, FLX_MAX_DIM};
    static const float eps_values[] = {1e-5f, 1e-6f};
    /* Magnitudes where eps dominates, a typical one and a large one. */
    static const float magnitudes[] = {1e-3f, 4.0f, 1e3f};
    uint32_t seed = 41;
    for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
        int n = ns[ni];
        float *x = ref_alloc(sizeof(float) * (size_t)n), *gain = ref_alloc(sizeof(float) * (size_t)n);
        float *y = ref_alloc(sizeof(float) * (size_t)n), *want = ref_alloc(sizeof(float) * (size_t)n);
        double *exact = ref_alloc(sizeof(double) * (size_t)n);
        fill_uniform(gain, n, -2.0f, 2.0f, &seed);
        for (size_t m = 0; m < sizeof magnitudes / sizeof magnitudes[0]; m++)
            for (size_t e = 0; e < sizeof eps_values / sizeof eps_values[0]; e++) {
                fill_uniform(x, n, -magnitudes[m], magnitudes[m], &seed);
                rmsnorm_ref(x, n, gain, eps_values[e], want);
                flx_rmsnorm_kernel(x, n, gain, eps_values[e], y);
                char label[96];
                snprintf(label, sizeof label, "rmsnorm n=%d magnitude=%g eps=%g y", n, (double)magnitudes[m],
                         (double)eps_values[e]);
                compare_f32(label, y, want, n);

                /* The same normalization in double, any summation order. */
                double ss = 0;
                for (int i = 0; i < n; i++) ss += (double)x[i] * x[i];
                double inv_rms = 1.0 / sqrt(ss / n + eps_values[e]);
                for (int i = 0; i < n; i++) exact[i] = x[i] * inv_rms * gain[i];
                compare_near(label, y, exact, n, 1e-5);
            }
        free(x);
        free(gain);
        free(y);
        free(want);
        free(exact);
    }
}

static void test_rope(void) {
    static const int n_heads_list[] = {1, 4, FLX_MAX_HEADS};
    static const int dims[][2] = {{6, 6}, {6, 2}, {64, 64}, {64, 32}, {128, 128}}; /* head_dim, rope_dim */
    static const int positions[] = {0, 1, 4095};
    uint32_t seed = 43;
    for (size_t h = 0; h < sizeof n_heads_list / sizeof n_heads_list[0]; h++)
        for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++)
            for (size_t p = 0; p < sizeof positions / sizeof positions[0]; p++) {
                int n_heads = n_heads_list[h], head_dim = dims[d][0], rope_dim = dims[d][1];
                long n = (long)n_heads * head_dim;
                float *x = ref_alloc(sizeof(float) * (size_t)n), *in = ref_alloc(sizeof(float) * (size_t)n);
                double *want = ref_alloc(sizeof(double) * (size_t)n);
                float *cos_row = ref_alloc(sizeof(float) * (size_t)(rope_dim / 2));
                float *sin_row = ref_alloc(sizeof(float) * (size_t)(rope_dim / 2));
                for (int i = 0; i < rope_dim / 2; i++) {
                    double angle = positions[p] * pow(10000.0, -2.0 * i / rope_dim);
                    cos_row[i] = (float)cos(angle);
                    sin_row[i] = (float)sin(angle);
                }
                fill_uniform(in, n, -2.0f, 2.0f, &seed);
                memcpy(x, in, sizeof(float) * (size_t)n);
                rope_ref(in, n_heads, head_dim, rope_dim, cos_row, sin_row, want);
                flx_rope_kernel(x, n_heads, head_dim, rope_dim, cos_row, sin_row);
                char label[96];
                snprintf(label, sizeof label, "rope heads=%d head_dim=%d rope_dim=%d pos=%d x", n_heads, head_dim,
                         rope_dim, positions[p]);
                compare_near(label, x, want, n, 1e-6);
                /* Elements past rope_dim pass through unchanged. */
                for (int hd = 0; hd < n_heads; hd++)
                    compare_f32(label, x + (long)hd * head_dim + rope_dim, in + (long)hd * head_dim + rope_dim,
                                head_dim - rope_dim);
                free(x);
                free(in);
                free(want);
                free(cos_row);
                free(sin_row);
            }
}

static void test_silu_gate(void) {
    static const int ns[] = {1, 100, FLX_MAX_FFN};
    static const float specials[] = {0.0f, -0.0f, 100.0f, -100.0f, 88.0f, -88.0f, 1e-30f};
    uint32_t seed = 47;
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
        int n = ns[k];
        float *gate = ref_alloc(sizeof(float) * (size_t)n), *up = ref_alloc(sizeof(float) * (size_t)n);
        float *y = ref_alloc(sizeof(float) * (size_t)n), *want = ref_alloc(sizeof(float) * (size_t)n);
        double *exact = ref_alloc(sizeof(double) * (size_t)n);
        fill_uniform(gate, n, -20.0f, 20.0f, &seed);
        fill_uniform(up, n, -3.0f, 3.0f, &seed);
        for (int i = 0; i < n && i < (int)(sizeof specials / sizeof specials[0]); i++) gate[i] = specials[i];
        silu_gate_ref(gate, up, n, want);
        flx_silu_gate_kernel(gate, up, n, y);
        compare_f32("silu gate y", y, want, n);
        for (int i = 0; i < n; i++) exact[i] = gate[i] / (1.0 + exp(-(double)gate[i])) * up[i];
        compare_near("silu gate y (double)", y, exact, n, 1e-6);
        free(gate);
        free(up);
        free(y);
        free(want);
        free(exact);
    }
}

static void test_residual_add(void) {
    static const int ns[] = {1, 77, FLX_MAX_DIM};
    uint32_t seed = 53;
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
        int n = ns[k];
        float *x = ref_alloc(sizeof(float) * (size_t)n), *r = ref_alloc(sizeof(float) * (size_t)n);
        float *want = ref_alloc(sizeof(float) * (size_t)n);
        fill_uniform(x, n, -50.0f, 50.0f, &seed);
        fill_uniform(r, n, -1.0f, 1.0f, &seed);
        residual_add_ref(x, r, n, want);
        flx_residual_add_kernel(x, r, n);
        compare_f32("residual add x", x, want, n);
        free(x);
        free(r);
        free(want);
    }
}

/* Compares rows [begin, end) of the transform of in against the dense
 * product. got is the whole transform. */
static void check_hadamard_rows(const char *label, const float *in, const float *got, int n, int begin,
                                int end) {
    double *want = ref_alloc(sizeof(double) * (size_t)(end - begin));
    hadamard_ref(in, n, begin, end, want);
    compare_near(label, got + begin, want, end - begin, 1e-5);
    free(want);
}

static void test_fwht(void) {
    uint32_t seed = 59;
    for (int log2n = 0; log2n <= 14; log2n++) {
        int n = 1 << log2n;
        float *in = ref_alloc(sizeof(float) * (size_t)n), *x = ref_alloc(sizeof(float) * (size_t)n);
        fill_uniform(in, n, -1.0f, 1.0f, &seed);
        memcpy(x, in, sizeof(float) * (size_t)n);
        flx_fwht_kernel(x, log2n);
        char label[64];
        snprintf(label, sizeof label, "fwht n=%d x", n);
        if (log2n <= 12) {
            check_hadamard_rows(label, in, x, n, 0, n);
        } else {
            /* The dense product of 2^13 or 2^14 rows costs too much: check the
             * first, last and a spread of middle rows. */
            check_hadamard_rows(label, in, x, n, 0, 16);
            check_hadamard_rows(label, in, x, n, n - 16, n);
            for (int i = 1; i < 32; i++) check_hadamard_rows(label, in, x, n, i * (n / 32) + i, i * (n / 32) + i + 1);
        }

        /* The normalized transform is its own inverse. */
        flx_fwht_kernel(x, log2n);
        double *back = ref_alloc(sizeof(double) * (size_t)n);
        for (int i = 0; i < n; i++) back[i] = in[i];
        snprintf(label, sizeof label, "fwht twice n=%d x", n);
        compare_near(label, x, back, n, 1e-5);
        free(back);

        /* A unit vector maps to a column of H_n / sqrt(n). */
        memset(x, 0, sizeof(float) * (size_t)n);
        int j = n / 3;
        x[j] = 1.0f;
        flx_fwht_kernel(x, log2n);
        for (int i = 0; i < n; i++) CHECK_NEAR(x[i], hadamard_entry(i, j) / sqrt((double)n), 1e-7);
        free(in);
        free(x);
    }
}

static void test_embedding(void) {
    static const int shapes[][2] = {{50, 37}, {3, FLX_MAX_DIM}}; /* vocab, dim */
    uint32_t seed = 61;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int vocab = shapes[s][0], dim = shapes[s][1];
        float *table = ref_alloc(sizeof(float) * (size_t)vocab * dim), *out = ref_alloc(sizeof(float) * (size_t)dim);
        fill_uniform(table, (long)vocab * dim, -1.0f, 1.0f, &seed);
        int tokens[3] = {0, vocab / 2, vocab - 1};
        for (int t = 0; t < 3; t++) {
            flx_embedding_kernel(table, dim, tokens[t], out);
            compare_f32("embedding row", out, table + (long)tokens[t] * dim, dim);
        }
        free(table);
        free(out);
    }
}

typedef int8_t kv_rows[FLX_MAX_HEAD_DIM];

/* Writes blocks of rows into a cache of several layers and heads through
 * flx_kv_offset and flx_kv_write, and checks every byte of the cache
 * against a copy written by plain nested-loop addressing. */
static void test_kv_cache_write(void) {
    enum { N_LAYERS = 2, N_KV = 3, MAX_SEQ = 40, HEAD_DIM = 64 };
    const long size = (long)N_LAYERS * N_KV * MAX_SEQ * HEAD_DIM;
    int8_t *cache = ref_alloc((size_t)size), *want = ref_alloc((size_t)size);
    uint32_t seed = 67;
    for (long i = 0; i < size; i++) cache[i] = want[i] = (int8_t)ref_rand_int(&seed, -128, 127);

    /* The offset of (layer, head, pos) is the count of elements before it in
     * row-major order. */
    long counted = 0;
    for (int l = 0; l < N_LAYERS; l++)
        for (int h = 0; h < N_KV; h++)
            for (int p = 0; p < MAX_SEQ; p++, counted += HEAD_DIM)
                CHECK_INT_EQ(flx_kv_offset(l, h, p, N_KV, MAX_SEQ, HEAD_DIM), counted);
    /* Past 2^31 elements, for a 300-layer model with 16 heads of 128. */
    CHECK_INT_EQ(flx_kv_offset(300, 0, 0, 16, 4096, 128), 2516582400LL);

    /* (layer, head, first position, tokens): prefill blocks, then decode steps. */
    static const int writes[][4] = {{0, 0, 0, 8}, {0, 0, 8, 5}, {1, 2, 0, 32}, {0, 1, 13, 1},
                                    {1, 2, 32, 1}, {1, 0, 39, 1}, {0, 2, 20, 7}};
    for (size_t w = 0; w < sizeof writes / sizeof writes[0]; w++) {
        int layer = writes[w][0], head = writes[w][1], pos = writes[w][2], n_tokens = writes[w][3];
        kv_rows *rows = ref_alloc(sizeof(kv_rows) * (size_t)n_tokens);
        for (int t = 0; t < n_tokens; t++)
            for (int d = 0; d < HEAD_DIM; d++) {
                rows[t][d] = (int8_t)ref_rand_int(&seed, -128, 127);
                long at = (((long)layer * N_KV + head) * MAX_SEQ + pos + t) * HEAD_DIM + d;
                want[at] = rows[t][d];
            }
        flx_kv_write(cache + flx_kv_offset(layer, head, 0, N_KV, MAX_SEQ, HEAD_DIM), pos, n_tokens, HEAD_DIM, rows);
        free(rows);
    }
    compare_i8("kv cache bytes", cache, want, size);
    free(cache);
    free(want);
}

typedef float dim_rows[FLX_MAX_DIM];

static void test_distribute(void) {
    static const int ns[] = {1, 100, FLX_MAX_DIM};
    uint32_t seed = 71;
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++)
        for (int n_out = 1; n_out <= FLX_MAX_CONSUMERS; n_out++) {
            int n = ns[k];
            float *x = ref_alloc(sizeof(float) * (size_t)n);
            dim_rows *out = ref_alloc(sizeof(dim_rows) * (size_t)n_out);
            fill_uniform(x, n, -1.0f, 1.0f, &seed);
            flx_distribute_kernel(x, n, n_out, out);
            for (int c = 0; c < n_out; c++) compare_f32("distribute copy", out[c], x, n);
            free(x);
            free(out);
        }
}

static void test_merge_blocks(void) {
    static const int ns[] = {1, 5, 100, 1000}, bps[] = {1, 3, 16, 64};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
        for (size_t j = 0; j < sizeof bps / sizeof bps[0]; j++) {
            int n = ns[i], bp = bps[j];
            int per = (n + bp - 1) / bp, stride = per + 3;
            float *slices = ref_alloc(sizeof(float) * (size_t)bp * stride);
            float *y = ref_alloc(sizeof(float) * (size_t)n), *want = ref_alloc(sizeof(float) * (size_t)n);
            for (long e = 0; e < (long)bp * stride; e++) slices[e] = -1.0f;
            for (int b = 0; b < bp; b++) {
                int begin, count;
                block_slice_ref(n, bp, b, &begin, &count);
                for (int e = 0; e < count; e++) slices[(long)b * stride + e] = (float)(begin + e) + 0.5f;
            }
            for (int e = 0; e < n; e++) want[e] = (float)e + 0.5f;
            flx_merge_blocks_kernel(slices, stride, n, bp, y);
            char label[64];
            snprintf(label, sizeof label, "merge n=%d bp=%d y", n, bp);
            compare_f32(label, y, want, n);
            free(slices);
            free(y);
            free(want);
        }
}

int main(void) {
    test_rmsnorm();
    test_rope();
    test_silu_gate();
    test_residual_add();
    test_fwht();
    test_embedding();
    test_kv_cache_write();
    test_distribute();
    test_merge_blocks();
    return flx_check_report("test_kernel_elementwise");
}
