/* Float32 building blocks of the reference forward pass. */
#ifndef FLEXLLM_REFERENCE_OPS_H
#define FLEXLLM_REFERENCE_OPS_H

/* out[t][r] = sum_k x[t][k] * w[r][k] for t < n_tokens, r < rows:
 * x [n_tokens][cols], w [rows][cols], out [n_tokens][rows]. Threads split
 * the rows, so each weight row is read once per call. */
void flx_matmul(float *out, const float *x, const float *w, int n_tokens, int rows, int cols);

/* out = x / sqrt(mean(x^2) + eps) * gain, over size elements. */
void flx_rmsnorm(float *out, const float *x, const float *gain, int size, float eps);

/* In-place softmax over size elements. */
void flx_softmax(float *x, int size);

/* Rotates adjacent pairs (x[2i], x[2i+1]) by the angles whose cos/sin are
 * given, for i < n_pairs. */
void flx_rope_rotate(float *x, const float *cos_table, const float *sin_table, int n_pairs);

#endif
