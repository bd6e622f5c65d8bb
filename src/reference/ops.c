#include "reference/ops.h"

#include <math.h>

/* Below this many multiply-adds (about 0.1 ms of work) a call runs on one
 * thread: OpenMP's fork and join cost more than they save, and far more
 * when another process occupies a core. */
#define FLX_PARALLEL_MIN_MACS (1L << 18)

static float dot(const float *a, const float *b, int n) {
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int k = 0; k < n; k++) sum += a[k] * b[k];
    return sum;
}

void flx_matmul(float *out, const float *x, const float *w, int n_tokens, int rows, int cols) {
    long macs = (long)n_tokens * rows * cols;
    /* Rows are taken four at a time so that each activation vector loaded
     * from cache is used against four weight rows. */
    int n_blocks = (rows + 3) / 4;
#pragma omp parallel for schedule(static) if (macs >= FLX_PARALLEL_MIN_MACS)
    for (int b = 0; b < n_blocks; b++) {
        int r0 = b * 4;
        int r_end = r0 + 4 < rows ? r0 + 4 : rows;
        if (r_end - r0 == 4) {
            const float *w0 = w + (long)r0 * cols, *w1 = w0 + cols, *w2 = w1 + cols, *w3 = w2 + cols;
            for (int t = 0; t < n_tokens; t++) {
                const float *xt = x + (long)t * cols;
                float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
#pragma omp simd reduction(+ : s0, s1, s2, s3)
                for (int k = 0; k < cols; k++) {
                    s0 += w0[k] * xt[k];
                    s1 += w1[k] * xt[k];
                    s2 += w2[k] * xt[k];
                    s3 += w3[k] * xt[k];
                }
                float *o = out + (long)t * rows + r0;
                o[0] = s0;
                o[1] = s1;
                o[2] = s2;
                o[3] = s3;
            }
        } else {
            for (int r = r0; r < r_end; r++)
                for (int t = 0; t < n_tokens; t++)
                    out[(long)t * rows + r] = dot(w + (long)r * cols, x + (long)t * cols, cols);
        }
    }
}

void flx_rmsnorm(float *out, const float *x, const float *gain, int size, float eps) {
    double ss = 0.0;
    for (int i = 0; i < size; i++) ss += (double)x[i] * x[i];
    float scale = (float)(1.0 / sqrt(ss / size + eps));
    for (int i = 0; i < size; i++) out[i] = gain[i] * (scale * x[i]);
}

void flx_softmax(float *x, int size) {
    float max = x[0];
    for (int i = 1; i < size; i++)
        if (x[i] > max) max = x[i];
    double sum = 0.0;
    for (int i = 0; i < size; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    float inv = (float)(1.0 / sum);
    for (int i = 0; i < size; i++) x[i] *= inv;
}

void flx_rope_rotate(float *x, const float *cos_table, const float *sin_table, int n_pairs) {
    for (int i = 0; i < n_pairs; i++) {
        float a = x[2 * i], b = x[2 * i + 1];
        x[2 * i] = a * cos_table[i] - b * sin_table[i];
        x[2 * i + 1] = a * sin_table[i] + b * cos_table[i];
    }
}
