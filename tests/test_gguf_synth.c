/* Synthetic GGUF files: written by flx_synth_write, read back through
 * flx_model_load for every weight type, with the Llama 3 RoPE divisors
 * checked against a separate implementation of Meta's definition. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/data_dir.h"
#include "modelio/gguf.h"
#include "modelio/model.h"
#include "modelio/synth.h"
#include "modelio/vocab.h"

#define PATH "test_gguf_synth.gguf"

static flx_config small_config(void) {
    flx_config c = {.dim = 64, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .head_dim = 16,
                    .ffn_dim = 96, .vocab_size = 40, .context_length = 128, .norm_eps = 1e-5f,
                    .rope_theta = 500000.0f, .rope_dim = 16,
                    .rope_scaling = {FLX_ROPE_SCALING_LLAMA3, 8.0f, 1.0f, 4.0f, 8192},
                    .tied_embeddings = true};
    return c;
}

/* Meta's apply_scaling: keep high frequencies, divide low ones by the
 * factor, and interpolate the scaled frequency in between. */
static double reference_divisor(const flx_config *c, int i) {
    const flx_rope_scaling *s = &c->rope_scaling;
    double freq = 1.0 / pow(c->rope_theta, (2.0 * i) / c->rope_dim);
    double wavelen = 2.0 * 3.14159265358979323846 / freq;
    double scaled;
    if (wavelen < s->original_context_length / s->high_freq_factor) {
        scaled = freq;
    } else if (wavelen > s->original_context_length / s->low_freq_factor) {
        scaled = freq / s->factor;
    } else {
        double smooth = (s->original_context_length / wavelen - s->low_freq_factor) /
                        (s->high_freq_factor - s->low_freq_factor);
        scaled = (1.0 - smooth) * freq / s->factor + smooth * freq;
    }
    return freq / scaled;
}

static void test_rope_divisors(void) {
    flx_config c = small_config();
    float d[8];
    flx_llama3_rope_divisors(&c, d);
    for (int i = 0; i < 8; i++) CHECK_NEAR(d[i], reference_divisor(&c, i), 1e-6);
    /* Wavelengths 2*pi*500000^(i/8): i <= 3 are below 8192/4 = 2048, i = 4
     * (about 4443) lies between 2048 and 8192, i >= 5 are above 8192. */
    CHECK_NEAR(d[0], 1.0, 0);
    CHECK_NEAR(d[3], 1.0, 0);
    CHECK(d[4] > 1.0f);
    CHECK(d[4] < 8.0f);
    CHECK_NEAR(d[5], 8.0, 0);
    CHECK_NEAR(d[7], 8.0, 0);

    flx_config l1b;
    CHECK_INT_EQ(flx_synth_preset("llama-3.2-1b", &l1b), 0);
    float d1b[32];
    flx_llama3_rope_divisors(&l1b, d1b);
    int off = 0;
    for (int i = 0; i < 32; i++) off += fabs(d1b[i] - reference_divisor(&l1b, i)) > 1e-5 * reference_divisor(&l1b, i);
    CHECK_INT_EQ(off, 0);
    CHECK_NEAR(d1b[31], 32.0, 0);
}

static void test_presets(void) {
    flx_config c;
    CHECK_INT_EQ(flx_synth_preset("llama-3.2-1b", &c), 0);
    CHECK_INT_EQ(c.n_layers, 16);
    CHECK_INT_EQ(c.dim, 2048);
    CHECK_INT_EQ(c.n_heads, 32);
    CHECK_INT_EQ(c.n_kv_heads, 8);
    CHECK_INT_EQ(c.head_dim, 64);
    CHECK_INT_EQ(c.ffn_dim, 8192);
    CHECK_INT_EQ(c.vocab_size, 128256);
    CHECK_INT_EQ(c.context_length, 131072);
    CHECK(c.tied_embeddings);
    CHECK_INT_EQ(flx_config_validate(&c, "preset", NULL), 0);
    /* Meta publishes 1.24B parameters for Llama 3.2 1B. */
    CHECK_INT_EQ(flx_config_param_count(&c), 1235814400);
    CHECK_INT_EQ(flx_synth_preset("llama-3.1-8b", &c), 0);
    CHECK(!c.tied_embeddings);
    CHECK_INT_EQ(flx_config_param_count(&c), 8030261248ll);
    CHECK_INT_EQ(flx_synth_preset("gpt-2", &c), -1);
}

/* Largest allowed |loaded - generated| for a weight of the given type,
 * where scale bounds |generated|. */
static double tolerance(uint32_t type, double scale) {
    switch (type) {
    case FLX_GGML_F32:
        return 0;
    case FLX_GGML_F16:
        return scale * 0x1p-11;
    case FLX_GGML_BF16:
        return scale * 0x1p-8;
    case FLX_GGML_Q8_0:
        return scale / 127.0 * 0.51;
    default: /* Q4_0 */
        return scale / 8.0 * 1.01;
    }
}

static int count_far(const float *w, const char *name, uint64_t seed, uint64_t n, uint64_t fan_in,
                     uint32_t type) {
    const uint64_t key = flx_synth_tensor_key(seed, name);
    const float scale = flx_synth_scale(fan_in);
    const double tol = tolerance(type, scale);
    int far = 0;
    for (uint64_t i = 0; i < n; i++) {
        float want = scale * flx_synth_uniform(key, i); /* in float, as the generator computes it */
        if (fabs(w[i] - want) > tol) {
            if (far < 3)
                fprintf(stderr, "%s[%llu] = %.9g, expected %.9g\n", name, (unsigned long long)i,
                        (double)w[i], (double)want);
            far++;
        }
    }
    return far;
}

static void check_loaded(const flx_model *m, const flx_config *c, uint32_t type, uint64_t seed) {
    const flx_config *got = &m->config;
    CHECK_INT_EQ(got->dim, c->dim);
    CHECK_INT_EQ(got->n_layers, c->n_layers);
    CHECK_INT_EQ(got->n_heads, c->n_heads);
    CHECK_INT_EQ(got->n_kv_heads, c->n_kv_heads);
    CHECK_INT_EQ(got->head_dim, c->head_dim);
    CHECK_INT_EQ(got->ffn_dim, c->ffn_dim);
    CHECK_INT_EQ(got->vocab_size, c->vocab_size);
    CHECK_INT_EQ(got->context_length, c->context_length);
    CHECK_INT_EQ(got->rope_dim, c->rope_dim);
    CHECK_NEAR(got->norm_eps, c->norm_eps, 0);
    CHECK_NEAR(got->rope_theta, c->rope_theta, 0);
    CHECK_INT_EQ(got->tied_embeddings, c->tied_embeddings);
    CHECK(m->vocab == NULL);
    CHECK(m->rope_freqs != NULL);
    if (m->rope_freqs)
        for (int i = 0; i < c->rope_dim / 2; i++) CHECK_NEAR(m->rope_freqs[i], reference_divisor(c, i), 1e-6);
    /* Tensors: embedding, rope_freqs, 9 per layer, output norm, output. */
    CHECK_INT_EQ(m->n_tensors, 3 + 9 * c->n_layers + (c->tied_embeddings ? 0 : 1));

    const uint64_t dim = (uint64_t)c->dim, q = (uint64_t)c->n_heads * (uint64_t)c->head_dim,
                   kv = (uint64_t)c->n_kv_heads * (uint64_t)c->head_dim, ffn = (uint64_t)c->ffn_dim;
    CHECK_INT_EQ(count_far(m->token_embedding, "token_embd.weight", seed, (uint64_t)c->vocab_size * dim, dim, type), 0);
    if (c->tied_embeddings)
        CHECK(m->output == m->token_embedding);
    else
        CHECK_INT_EQ(count_far(m->output, "output.weight", seed, (uint64_t)c->vocab_size * dim, dim, type), 0);
    for (int l = 0; l < c->n_layers; l++) {
        const flx_layer_weights *w = &m->layers[l];
        char name[64];
#define CHECK_MATRIX(field, part, rows, cols)                                           \
    snprintf(name, sizeof name, "blk.%d.%s.weight", l, part);                           \
    CHECK_INT_EQ(count_far(w->field, name, seed, (rows) * (cols), (cols), type), 0)
        CHECK_MATRIX(wq, "attn_q", q, dim);
        CHECK_MATRIX(wk, "attn_k", kv, dim);
        CHECK_MATRIX(wv, "attn_v", kv, dim);
        CHECK_MATRIX(wo, "attn_output", dim, q);
        CHECK_MATRIX(w_gate, "ffn_gate", ffn, dim);
        CHECK_MATRIX(w_up, "ffn_up", ffn, dim);
        CHECK_MATRIX(w_down, "ffn_down", dim, ffn);
#undef CHECK_MATRIX
        int not_one = 0;
        for (uint64_t i = 0; i < dim; i++) not_one += w->attn_norm[i] != 1.0f || w->ffn_norm[i] != 1.0f;
        CHECK_INT_EQ(not_one, 0);
    }
}

static void test_types(void) {
    const uint32_t types[5] = {FLX_GGML_F32, FLX_GGML_F16, FLX_GGML_BF16, FLX_GGML_Q8_0, FLX_GGML_Q4_0};
    const char *names[5] = {"F32", "F16", "BF16", "Q8_0", "Q4_0"};
    for (int t = 0; t < 5; t++) {
        flx_synth_options o = {.config = small_config(), .type = types[t], .seed = 7, .name = "test"};
        o.config.tied_embeddings = t % 2 == 0;
        flx_error err;
        int rc = flx_synth_write(&o, PATH, &err);
        if (rc != 0) fprintf(stderr, "%s\n", err.msg);
        CHECK_INT_EQ(rc, 0);
        flx_model m;
        rc = flx_model_load(&m, PATH, &err);
        if (rc != 0) fprintf(stderr, "%s\n", err.msg);
        CHECK_INT_EQ(rc, 0);
        if (rc == 0) {
            fprintf(stderr, "checking %s\n", names[t]);
            check_loaded(&m, &o.config, types[t], 7);
            CHECK(strcmp(m.tensors[0].type, names[t]) == 0);
            CHECK(strcmp(m.tensors[1].name, "rope_freqs.weight") == 0);
            CHECK(strcmp(m.tensors[1].type, "F32") == 0);
            flx_model_free(&m);
        }
    }
    remove(PATH);
}

/* The weights follow the documented distribution: mean 0 and standard
 * deviation 0.5/sqrt(fan_in). */
static void test_distribution(void) {
    const uint64_t n = 1 << 18, fan_in = 2048;
    const uint64_t key = flx_synth_tensor_key(3, "blk.0.ffn_up.weight");
    double sum = 0, sum_sq = 0, max_abs = 0;
    for (uint64_t i = 0; i < n; i++) {
        double x = flx_synth_scale(fan_in) * flx_synth_uniform(key, i);
        sum += x;
        sum_sq += x * x;
        max_abs = fmax(max_abs, fabs(x));
    }
    double mean = sum / (double)n, sd = sqrt(sum_sq / (double)n - mean * mean);
    double want_sd = 0.5 / sqrt((double)fan_in);
    CHECK_NEAR(mean / want_sd, 0.0, 4.0 / sqrt((double)n));
    CHECK_NEAR(sd / want_sd, 1.0, 0.01);
    CHECK(max_abs <= want_sd * sqrt(3.0) * 1.0001);
    /* Different names and seeds give different streams. */
    CHECK(flx_synth_uniform(key, 5) != flx_synth_uniform(flx_synth_tensor_key(3, "blk.1.ffn_up.weight"), 5));
    CHECK(flx_synth_uniform(key, 5) != flx_synth_uniform(flx_synth_tensor_key(4, "blk.0.ffn_up.weight"), 5));
}

static unsigned char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    unsigned char *data = malloc(*len);
    if (fread(data, 1, *len, f) != *len) *len = 0;
    fclose(f);
    return data;
}

static void test_determinism(void) {
    flx_synth_options o = {.config = small_config(), .type = FLX_GGML_Q4_0, .seed = 11};
    flx_error err;
    size_t len_a = 0, len_b = 0, len_c = 0;
    CHECK_INT_EQ(flx_synth_write(&o, PATH, &err), 0);
    unsigned char *a = read_file(PATH, &len_a);
    CHECK_INT_EQ(flx_synth_write(&o, PATH, &err), 0);
    unsigned char *b = read_file(PATH, &len_b);
    o.seed = 12;
    CHECK_INT_EQ(flx_synth_write(&o, PATH, &err), 0);
    unsigned char *c = read_file(PATH, &len_c);
    CHECK(a != NULL);
    CHECK(b != NULL);
    CHECK(c != NULL);
    if (a && b && c) {
        CHECK_INT_EQ(len_a, len_b);
        CHECK_INT_EQ(len_a, len_c);
        size_t n = len_a < len_b ? len_a : len_b;
        n = n < len_c ? n : len_c;
        CHECK(memcmp(a, b, n) == 0);
        CHECK(memcmp(a, c, n) != 0);
    }
    free(a);
    free(b);
    free(c);
    remove(PATH);
}

static void expect_check_error(const flx_synth_options *o, const char *expected) {
    flx_error err = {{0}};
    CHECK_INT_EQ(flx_synth_check(o, "out.gguf", &err), -1);
    if (!strstr(err.msg, expected)) {
        fprintf(stderr, "expected \"%s\" in \"%s\"\n", expected, err.msg);
        flx_check_failures++;
    }
}

static void test_option_errors(void) {
    flx_synth_options o = {.config = small_config(), .type = FLX_GGML_Q8_0};
    o.config.ffn_dim = 100;
    expect_check_error(&o, "Q8_0 weights need rows that are multiples of 32 values, but ffn_dim = 100");
    o.config = small_config();
    o.config.n_kv_heads = 3;
    expect_check_error(&o, "n_heads = 4 is not a multiple of n_kv_heads = 3");
    o.config = small_config();
    o.type = 12;
    expect_check_error(&o, "weight type 12 is not one of");
    /* A failed check leaves no file behind. */
    flx_error err;
    CHECK_INT_EQ(flx_synth_write(&o, PATH, &err), -1);
    FILE *f = fopen(PATH, "rb");
    CHECK(f == NULL);
    if (f) fclose(f);
}

/* A vocabulary taken from the stories260K GGUF travels into the synthetic
 * file, and a size mismatch is rejected. */
static void test_embedded_vocab(void) {
    char vocab_path[1024];
    flx_data_path(vocab_path, sizeof vocab_path, "models/stories260K/stories260K.gguf");
    flx_vocab *v = NULL;
    flx_error err;
    CHECK_INT_EQ(flx_vocab_load_gguf(&v, vocab_path, &err), 0);
    if (!v) return;
    flx_synth_options o = {.config = small_config(), .type = FLX_GGML_F16, .vocab = v};
    expect_check_error(&o, "the tokenizer has 512 tokens but the model vocabulary size is 40");
    o.config.vocab_size = 512;
    o.config.rope_scaling = (flx_rope_scaling){FLX_ROPE_SCALING_LINEAR, 4.0f, 0, 0, 0};
    CHECK_INT_EQ(flx_synth_write(&o, PATH, &err), 0);
    flx_model m;
    int rc = flx_model_load(&m, PATH, &err);
    if (rc != 0) fprintf(stderr, "%s\n", err.msg);
    CHECK_INT_EQ(rc, 0);
    if (rc == 0) {
        CHECK(m.vocab != NULL);
        if (m.vocab) {
            CHECK_INT_EQ(m.vocab->kind, FLX_VOCAB_SPM);
            CHECK_INT_EQ(m.vocab->n_tokens, 512);
            CHECK_INT_EQ(m.vocab->bos_id, 1);
            CHECK_INT_EQ(m.vocab->eos_id, 2);
            int differ = 0;
            for (int i = 0; i < 512; i++)
                differ += strcmp(m.vocab->tokens[i], v->tokens[i]) != 0 || m.vocab->scores[i] != v->scores[i] ||
                          m.vocab->types[i] != v->types[i];
            CHECK_INT_EQ(differ, 0);
        }
        CHECK_INT_EQ(m.config.rope_scaling.type, FLX_ROPE_SCALING_LINEAR);
        CHECK_NEAR(m.config.rope_scaling.factor, 4.0, 0);
        CHECK(m.rope_freqs == NULL);
        flx_model_free(&m);
    }
    flx_vocab_free(v);
    remove(PATH);
}

int main(void) {
    test_rope_divisors();
    test_presets();
    test_distribution();
    test_types();
    test_determinism();
    test_option_errors();
    test_embedded_vocab();
    return flx_check_report("test_gguf_synth");
}
