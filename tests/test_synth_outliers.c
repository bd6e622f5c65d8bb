/* Outlier channels of synthetic models (flx_synth_options.outlier_channels):
 * the RMSNorm output of the embedding rows, computed here, has exactly the
 * recorded channels far above the rest; the attn_output / ffn_down rows and
 * output_norm gains of those channels are scaled; bad counts and scales are
 * rejected. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/mapped_file.h"
#include "modelio/gguf.h"
#include "modelio/model.h"
#include "modelio/synth.h"

#define PATH "test_synth_outliers.gguf"
#define N_OUTLIERS 3
#define SCALE 20.0f

static flx_synth_options small_options(void) {
    flx_synth_options o = {
        .config = {.dim = 64, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .head_dim = 16, .ffn_dim = 96,
                   .vocab_size = 512, .context_length = 128, .norm_eps = 1e-5f, .rope_theta = 10000.0f,
                   .rope_dim = 16, .tied_embeddings = true},
        .type = FLX_GGML_F32,
        .seed = 11,
        .outlier_channels = N_OUTLIERS,
        .outlier_scale = SCALE,
    };
    return o;
}

/* Reads the flexllm.synth.* keys; returns the channel count found. */
static int read_recorded_outliers(uint32_t *channels, int max, double *scale) {
    flx_error err;
    flx_mapped_file f;
    flx_gguf g;
    CHECK_INT_EQ(flx_map_file(&f, PATH, &err), 0);
    CHECK_INT_EQ(flx_gguf_parse(&g, f.data, f.size, PATH, &err), 0);
    flx_gguf_value array;
    int n = 0;
    CHECK_INT_EQ(flx_gguf_get_array(&g, "flexllm.synth.outlier_channels", FLX_GGUF_UINT32, &array, PATH, &err), 1);
    uint64_t pos = 0;
    flx_gguf_value elem;
    while (n < max && flx_gguf_array_next(&array, &pos, &elem) == 0) channels[n++] = (uint32_t)elem.as.u64;
    CHECK_INT_EQ(flx_gguf_get_float(&g, "flexllm.synth.outlier_scale", scale, PATH, &err), 1);
    flx_gguf_free(&g);
    flx_unmap_file(&f);
    return n;
}

static void test_outlier_model(void) {
    flx_synth_options o = small_options();
    const int dim = o.config.dim, vocab = o.config.vocab_size;
    flx_error err;
    CHECK_INT_EQ(flx_synth_write(&o, PATH, &err), 0);

    uint32_t recorded[64];
    double scale = 0;
    CHECK_INT_EQ(read_recorded_outliers(recorded, 64, &scale), N_OUTLIERS);
    CHECK_NEAR(scale, SCALE, 0);
    for (int i = 1; i < N_OUTLIERS; i++) CHECK(recorded[i - 1] < recorded[i]);
    for (int i = 0; i < N_OUTLIERS; i++) CHECK(recorded[i] < (uint32_t)dim);
    int is_outlier[64] = {0};
    for (int i = 0; i < N_OUTLIERS; i++) is_outlier[recorded[i] % 64] = 1;

    flx_model m;
    CHECK_INT_EQ(flx_model_load(&m, PATH, &err), 0);
    if (flx_check_failures) return;

    /* RMSNorm of every embedding row with block 0's attn_norm gains. A
     * uniform value can fall near 0 in any single row, so each channel's
     * magnitude is the mean |output| over all rows. */
    double mean_abs[64] = {0};
    for (int r = 0; r < vocab; r++) {
        const float *x = m.token_embedding + (size_t)r * dim;
        double ss = 0;
        for (int j = 0; j < dim; j++) ss += (double)x[j] * x[j];
        double inv_rms = 1.0 / sqrt(ss / dim + o.config.norm_eps);
        for (int j = 0; j < dim; j++) mean_abs[j] += fabs(x[j] * inv_rms * m.layers[0].attn_norm[j]) / vocab;
    }
    double normal_mean = 0, outlier_mean = 0;
    for (int j = 0; j < dim; j++) {
        if (is_outlier[j]) outlier_mean += mean_abs[j] / N_OUTLIERS;
        else normal_mean += mean_abs[j] / (dim - N_OUTLIERS);
    }
    /* Threshold sqrt(SCALE) times the typical channel: the outliers sit
     * SCALE times above it, the others within a few percent of it. */
    int above = 0;
    for (int j = 0; j < dim; j++) {
        int large = mean_abs[j] > sqrtf(SCALE) * normal_mean;
        above += large;
        CHECK_INT_EQ(large, is_outlier[j]);
    }
    CHECK_INT_EQ(above, N_OUTLIERS);
    CHECK_NEAR(outlier_mean / normal_mean, SCALE, 0.15);

    /* Every write to the residual stream carries the outliers: the rows of
     * attn_output and ffn_down are the generator's values times SCALE.
     * The LM head's input is brought back by output_norm gains of 1/SCALE. */
    const int q = o.config.n_heads * o.config.head_dim, ffn = o.config.ffn_dim;
    uint64_t wo_key = flx_synth_tensor_key(o.seed, "blk.1.attn_output.weight");
    uint64_t down_key = flx_synth_tensor_key(o.seed, "blk.1.ffn_down.weight");
    for (int j = 0; j < dim; j++) {
        float factor = is_outlier[j] ? SCALE : 1.0f;
        CHECK_NEAR(m.layers[1].wo[(size_t)j * q + 5],
                   factor * (flx_synth_scale((uint64_t)q) * flx_synth_uniform(wo_key, (uint64_t)j * q + 5)), 1e-7);
        CHECK_NEAR(m.layers[1].w_down[(size_t)j * ffn + 7],
                   factor * (flx_synth_scale((uint64_t)ffn) * flx_synth_uniform(down_key, (uint64_t)j * ffn + 7)),
                   1e-7);
        CHECK_NEAR(m.output_norm[j], is_outlier[j] ? 1.0 / SCALE : 1.0, 1e-7);
        CHECK_NEAR(m.layers[1].attn_norm[j], 1.0, 0);
        CHECK_NEAR(m.layers[1].ffn_norm[j], 1.0, 0);
    }
    /* Other matrices keep the generator's values. */
    uint64_t q_key = flx_synth_tensor_key(o.seed, "blk.0.attn_q.weight");
    for (int j = 0; j < dim; j++)
        CHECK_NEAR(m.layers[0].wq[j], flx_synth_scale((uint64_t)dim) * flx_synth_uniform(q_key, (uint64_t)j), 0);
    flx_model_free(&m);
    remove(PATH);
}

static void test_outlier_list(void) {
    flx_synth_options o = small_options();
    uint32_t a[64], b[64];
    /* All channels: a permutation, so sorted it is 0..dim-1. */
    o.outlier_channels = 64;
    flx_synth_outlier_list(&o, a);
    for (int j = 0; j < 64; j++) CHECK_INT_EQ(a[j], j);
    /* Another seed chooses other channels. */
    o.outlier_channels = 4;
    flx_synth_outlier_list(&o, a);
    o.seed = 12;
    flx_synth_outlier_list(&o, b);
    CHECK(memcmp(a, b, 4 * sizeof a[0]) != 0);
}

static void test_bad_options(void) {
    flx_error err;
    flx_synth_options o = small_options();
    o.outlier_channels = -1;
    CHECK_INT_EQ(flx_synth_check(&o, PATH, &err), -1);
    CHECK(strstr(err.msg, "invalid outlier channel count -1") != NULL);
    o.outlier_channels = 65;
    CHECK_INT_EQ(flx_synth_check(&o, PATH, &err), -1);
    CHECK(strstr(err.msg, "count 65: expected 0 to dim = 64") != NULL);
    o.outlier_channels = 2;
    o.outlier_scale = 0.0f;
    CHECK_INT_EQ(flx_synth_check(&o, PATH, &err), -1);
    CHECK(strstr(err.msg, "invalid outlier scale 0") != NULL);
    o.outlier_scale = NAN;
    CHECK_INT_EQ(flx_synth_check(&o, PATH, &err), -1);
    /* Without outlier channels the scale is not used. */
    o.outlier_channels = 0;
    CHECK_INT_EQ(flx_synth_check(&o, PATH, &err), 0);
}

int main(void) {
    test_outlier_model();
    test_outlier_list();
    test_bad_options();
    return flx_check_report("test_synth_outliers");
}
