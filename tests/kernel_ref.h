/* Scalar references for the HLS kernels in src/kernels/, written from
 * docs/quantized-inference.md and the kernel headers: plain loops in
 * row-major layouts, no tiling and no kernel headers. Also random inputs
 * and comparisons that list the first mismatches of a test. */
#ifndef FLEXLLM_TESTS_KERNEL_REF_H
#define FLEXLLM_TESTS_KERNEL_REF_H

#include <stddef.h>
#include <stdint.h>

/* Linear layer: acc[t][o] = sum_i x[t][i] * w[o][i], with x [n_tokens][d_in]
 * and w [d_out][d_in] row-major, one weight per byte. The sum is taken in
 * 64 bits, so a result outside int32 is reported instead of wrapped. */
void linear_ref(const int16_t *x, int n_tokens, const int8_t *w, int d_out, int d_in, int64_t *acc);

/* Dynamic quantizer of one vector x[n] with the spec formulas: asymmetric
 * codes 0..2^bits-1 with offset clip*min, or symmetric codes
 * -(2^(bits-1)-1)..2^(bits-1)-1 with offset 0. */
void quant_dynamic_ref(const float *x, int n, int bits, int asymmetric, float clip, int16_t *q,
                       float *scale, float *offset);

/* q = clamp(round(x / scale), -127, 127). */
void quant_static_i8_ref(const float *x, int n, float scale, int8_t *q);

/* q = clamp(round(p / scale), 0, 255). */
void quant_prob_u8_ref(const float *p, int n, float scale, uint8_t *q);

/* y[o] = ((float)acc[o] * x_scale) * w_scale[o], plus x_offset * w_rowsum[o]
 * when asymmetric. */
void dequant_linear_ref(const int32_t *acc, int n, float x_scale, float x_offset, int asymmetric,
                        const float *w_scale, const float *w_rowsum, float *y);

/* dequant_linear_ref for 16-bit weights run as two 8-bit passes: the
 * accumulator 256 * acc_hi + acc_lo is formed in double (exact below 2^53)
 * and rounded to float once. */
void dequant_linear_split_ref(const int32_t *acc_hi, const int32_t *acc_lo, int n, float x_scale,
                              float x_offset, int asymmetric, const float *w_scale, const float *w_rowsum,
                              float *y);

/* Attention scores of q [n_q][head_dim] against k [n_keys][head_dim]:
 * scores [n_q][n_keys] = (float)acc * score_scale for keys at or before
 * q_pos[t], else -1e30. */
void attn_qk_ref(const int8_t *q, int n_q, const int32_t *q_pos, const int8_t *k, int n_keys,
                 int head_dim, float score_scale, float *scores);

/* Float softmax of row[n] in place: e = expf(s - max), sum in position
 * order, p = e * (1 / sum). */
void softmax_ref(float *row, int n);

/* out [n_q][head_dim] = (float)(sum_p p[t][p] * v[p][d]) * out_scale, with
 * p [n_q][n_keys] and v [n_keys][head_dim]. */
void attn_av_ref(const uint8_t *p, int n_q, const int8_t *v, int n_keys, int head_dim,
                 float out_scale, float *out);

/* y = x * (1 / sqrtf(ss / n + eps)) * gain, ss summed as four interleaved
 * partial sums combined as (s0 + s1) + (s2 + s3). */
void rmsnorm_ref(const float *x, int n, const float *gain, float eps, float *y);

/* Double-precision RoPE of x [n_heads][head_dim]: pair (2i, 2i+1) of the
 * first rope_dim elements is rotated by cos_row[i], sin_row[i], and the
 * rest is copied. */
void rope_ref(const float *x, int n_heads, int head_dim, int rope_dim, const float *cos_row,
              const float *sin_row, double *y);

/* y[i] = gate[i] / (1 + expf(-gate[i])) * up[i]. */
void silu_gate_ref(const float *gate, const float *up, int n, float *y);

/* y[i] = x[i] + r[i]. */
void residual_add_ref(const float *x, const float *r, int n, float *y);

/* Entry (i, j) of the Sylvester Hadamard matrix H_n: (-1)^popcount(i & j). */
int hadamard_entry(int i, int j);

/* Rows [row_begin, row_end) of H_n x / sqrt(n) as a dense product in double. */
void hadamard_ref(const float *x, int n, int row_begin, int row_end, double *y);

/* Sampler by full sort: candidates are the k largest logits (ties by
 * lower id, k = 1 when temperature <= 0), weighted expf((l - l_max) / T),
 * cut to the shortest prefix holding top_p of their mass, and the first
 * candidate whose running mass exceeds r times the kept mass is chosen.
 * k is in 1..64. The candidate ids in order go to cand_ids[k] and their
 * count to *n_cand when cand_ids is not NULL. */
int sample_topk_ref(const float *logits, int n, int k, float temperature, float top_p, float r,
                    int *cand_ids, int *n_cand);

/* Computes in double the renormalized probabilities of the candidates that
 * sample_topk_ref keeps after the top-p cut, in candidate order, and
 * returns their count. */
int sample_topk_probs_ref(const float *logits, int n, int k, float temperature, float top_p,
                          int *ids, double *probs);

/* Lane b of bp when n elements are split into contiguous slices of
 * ceil(n / bp), the last lanes holding fewer or none. */
void block_slice_ref(int n, int bp, int b, int *begin, int *count);

/* malloc that exits on failure. The kernels declare parameters such as
 * x[FLX_MAX_LINEAR_IN], and GCC warns when it can see that a buffer is
 * smaller. Allocating in another file hides the size, so tests can pass
 * buffers of exactly n elements and AddressSanitizer catches any access
 * past them. */
void *ref_alloc(size_t bytes);

/* Deterministic random inputs (a 32-bit LCG, so runs repeat). */
uint32_t ref_rand_u32(uint32_t *state);
int ref_rand_int(uint32_t *state, int lo, int hi); /* in [lo, hi] */
float ref_rand_float(uint32_t *state, float lo, float hi);

/* Comparisons that print "label[i]: got G, expected E" for the first
 * mismatches (ten per test process in total), count one check failure per
 * comparison that differs, and return the number of differing elements.
 * Floats compare bit for bit. */
long compare_i32(const char *label, const int32_t *got, const int64_t *want, long n);
long compare_i16(const char *label, const int16_t *got, const int16_t *want, long n);
long compare_i8(const char *label, const int8_t *got, const int8_t *want, long n);
long compare_u8(const char *label, const uint8_t *got, const uint8_t *want, long n);
long compare_f32(const char *label, const float *got, const float *want, long n);

/* |got - want| <= tol * max(1, |want|) for each element. */
long compare_near(const char *label, const float *got, const double *want, long n, double tol);

#endif
