/* Reference operators against straightforward double-precision loops. */
#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "modelio/model.h"
#include "reference/forward.h"
#include "reference/ops.h"

static float frand(unsigned *state) {
    *state = *state * 1664525u + 1013904223u;
    return (float)((*state >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static void test_matmul_shapes(void) {
    /* Rows not a multiple of 4 and several token counts exercise both paths. */
    const int shapes[][3] = {{1, 1, 1}, {3, 7, 5}, {5, 9, 64}, {17, 130, 33}, {2, 256, 300}};
    unsigned seed = 1;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int n = shapes[s][0], rows = shapes[s][1], cols = shapes[s][2];
        float *x = malloc(sizeof(float) * n * cols), *w = malloc(sizeof(float) * rows * cols);
        float *out = malloc(sizeof(float) * n * rows);
        for (int i = 0; i < n * cols; i++) x[i] = frand(&seed);
        for (int i = 0; i < rows * cols; i++) w[i] = frand(&seed);
        flx_matmul(out, x, w, n, rows, cols);
        for (int t = 0; t < n; t++)
            for (int r = 0; r < rows; r++) {
                double want = 0;
                for (int k = 0; k < cols; k++) want += (double)x[t * cols + k] * w[r * cols + k];
                CHECK_NEAR(out[t * rows + r], want, 1e-5);
            }
        free(x);
        free(w);
        free(out);
    }
}

static void test_rmsnorm_softmax(void) {
    float x[4] = {1, -2, 3, -4}, g[4] = {1, 2, 0.5f, 1}, y[4];
    flx_rmsnorm(y, x, g, 4, 0.0f);
    double rms = sqrt((1 + 4 + 9 + 16) / 4.0);
    for (int i = 0; i < 4; i++) CHECK_NEAR(y[i], x[i] / rms * g[i], 1e-6);

    float p[3] = {0, log(2.0), log(3.0)};
    flx_softmax(p, 3);
    CHECK_NEAR(p[0], 1.0 / 6, 1e-6);
    CHECK_NEAR(p[1], 2.0 / 6, 1e-6);
    CHECK_NEAR(p[2], 3.0 / 6, 1e-6);
}

static void test_rope_rotation(void) {
    /* Rotating (1, 0) by 90 degrees gives (0, 1). */
    float v[2] = {1, 0}, c = 0, s = 1;
    flx_rope_rotate(v, &c, &s, 1);
    CHECK_NEAR(v[0], 0, 1e-7);
    CHECK_NEAR(v[1], 1, 1e-7);
}

static void test_llama3_frequencies(void) {
    /* Llama-3.2-1B: theta 500000, head dim 64, llama3 scaling with factor 32,
     * low 1, high 4, original context 8192. Pair 0 has wavelength 2*pi,
     * below 8192/4, so it is unchanged; pair 31 has wavelength
     * 2*pi*500000^(62/64) > 8192, so it is divided by 32; pair 20 lies in
     * the smooth band. */
    flx_config c = {.dim = 2048, .n_heads = 32, .n_kv_heads = 8, .head_dim = 64, .rope_dim = 64,
                    .rope_theta = 500000.0f};
    c.rope_scaling = (flx_rope_scaling){FLX_ROPE_SCALING_LLAMA3, 32.0f, 1.0f, 4.0f, 8192};
    CHECK_NEAR(flx_rope_inv_freq(&c, NULL, 0), 1.0, 1e-12);
    double f31 = pow(500000.0, -62.0 / 64.0);
    CHECK_NEAR(flx_rope_inv_freq(&c, NULL, 31) / (f31 / 32.0), 1.0, 1e-9);
    double f20 = pow(500000.0, -40.0 / 64.0);
    double wavelen = 2 * 3.14159265358979323846 / f20; /* about 23300, inside (2048, 8192)? */
    if (wavelen > 2048 && wavelen < 8192) {
        double smooth = (8192 / wavelen - 1.0) / 3.0;
        CHECK_NEAR(flx_rope_inv_freq(&c, NULL, 20), (1 - smooth) * f20 / 32 + smooth * f20, 1e-9);
    } else {
        CHECK_NEAR(flx_rope_inv_freq(&c, NULL, 20), wavelen >= 8192 ? f20 / 32 : f20, 1e-9);
    }
    /* Without scaling: theta^(-2i/d). */
    c.rope_scaling.type = FLX_ROPE_SCALING_NONE;
    CHECK_NEAR(flx_rope_inv_freq(&c, NULL, 31), f31, 1e-12);
    /* A rope_freqs tensor divides the base frequency. */
    float freqs[32];
    for (int i = 0; i < 32; i++) freqs[i] = 2.0f;
    CHECK_NEAR(flx_rope_inv_freq(&c, freqs, 31), f31 / 2, 1e-12);
}

int main(void) {
    test_matmul_shapes();
    test_rmsnorm_softmax();
    test_rope_rotation();
    test_llama3_frequencies();
    return flx_check_report("test_ops");
}
