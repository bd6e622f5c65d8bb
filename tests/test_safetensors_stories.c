/* Writes stories260K as Hugging Face checkpoints (F32, F16, BF16, sharded,
 * untied lm_head) and loads them back with flx_model_load. Every weight must
 * equal the llama2.c model's exactly for F32. For F16 and BF16 it must equal
 * the value rounded in this test from the format definitions. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/data_dir.h"
#include "modelio/model.h"
#include "test_safetensors_writer.h"

#define OUT_DIR "safetensors-stories"

/* Rounds x to the nearest value with `bits` significant bits (ties to
 * even), with no step smaller than 2^min_step_exp: F16 has 11 bits and
 * steps down to 2^-24, BF16 has 8 bits. */
static float round_significand(float x, int bits, int min_step_exp) {
    if (x == 0.0f) return x;
    int e;
    frexp((double)x, &e); /* x = f * 2^e, 0.5 <= |f| < 1 */
    double step = ldexp(1.0, e - bits);
    double min_step = ldexp(1.0, min_step_exp);
    if (step < min_step) step = min_step;
    return (float)(nearbyint((double)x / step) * step);
}

static float expected_value(float x, const char *dtype) {
    if (strcmp(dtype, "F16") == 0) return round_significand(x, 11, -24);
    if (strcmp(dtype, "BF16") == 0) return round_significand(x, 8, -133);
    return x;
}

/* Counts elements of actual that differ from source rounded to dtype and
 * prints the first one. */
static void check_weights(const char *label, const float *actual, const float *source, size_t n,
                          const char *dtype) {
    size_t mismatches = 0;
    for (size_t i = 0; i < n; i++) {
        float expected = expected_value(source[i], dtype);
        if (actual[i] != expected) {
            if (mismatches == 0)
                fprintf(stderr, "%s [%s]: element %zu is %.9g, expected %.9g (source %.9g)\n",
                        label, dtype, i, (double)actual[i], (double)expected, (double)source[i]);
            mismatches++;
        }
    }
    CHECK_INT_EQ(mismatches, 0);
}

static int write_index(const char *dir, const st_write_tensor *t, const int *shard_of, int n,
                       int n_shards) {
    char path[1024];
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    size_t total = 0;
    for (int i = 0; i < n; i++) total += t[i].n_bytes;
    fprintf(f, "{\n  \"metadata\": {\"total_size\": %zu},\n  \"weight_map\": {\n", total);
    for (int i = 0; i < n; i++)
        fprintf(f, "    \"%s\": \"model-%05d-of-%05d.safetensors\"%s\n", t[i].name,
                shard_of[i] + 1, n_shards, i + 1 < n ? "," : "");
    fprintf(f, "  }\n}\n");
    return fclose(f);
}

/* Writes tensors into n_shards files of consecutive tensors plus the index. */
static int write_shards(const char *dir, const st_write_tensor *t, int n, int n_shards) {
    int shard_of[512];
    int start = 0;
    for (int s = 0; s < n_shards; s++) {
        int end = n * (s + 1) / n_shards;
        char path[1024];
        snprintf(path, sizeof path, "%s/model-%05d-of-%05d.safetensors", dir, s + 1, n_shards);
        if (st_write_file(path, t + start, end - start) != 0) return -1;
        for (int i = start; i < end; i++) shard_of[i] = s;
        start = end;
    }
    return write_index(dir, t, shard_of, n, n_shards);
}

typedef struct variant {
    const char *name;
    const char *dtype;
    int n_shards;        /* 0: a single model.safetensors */
    int untied;          /* 1: write a separate lm_head.weight */
    const char *load_as; /* path below the folder to load, "" for the folder */
} variant;

static void check_model(const flx_model *got, const flx_model *ref, const float *lm_head,
                        const variant *v) {
    const flx_config *c = &got->config, *r = &ref->config;
    CHECK(strcmp(got->format, "safetensors") == 0);
    CHECK_INT_EQ(c->dim, r->dim);
    CHECK_INT_EQ(c->n_layers, r->n_layers);
    CHECK_INT_EQ(c->n_heads, r->n_heads);
    CHECK_INT_EQ(c->n_kv_heads, r->n_kv_heads);
    CHECK_INT_EQ(c->head_dim, r->head_dim);
    CHECK_INT_EQ(c->rope_dim, r->rope_dim);
    CHECK_INT_EQ(c->ffn_dim, r->ffn_dim);
    CHECK_INT_EQ(c->vocab_size, r->vocab_size);
    CHECK_INT_EQ(c->context_length, r->context_length);
    CHECK(c->norm_eps == r->norm_eps);
    CHECK(c->rope_theta == r->rope_theta);
    CHECK_INT_EQ(c->rope_scaling.type, FLX_ROPE_SCALING_NONE);
    CHECK_INT_EQ(c->tied_embeddings, !v->untied);
    CHECK_INT_EQ(got->n_tensors, 2 + 9 * r->n_layers + v->untied);
    CHECK_INT_EQ(got->n_files, v->n_shards ? v->n_shards : 1);
    if (got->n_tensors > 0) CHECK(strcmp(got->tensors[0].type, v->dtype) == 0);

    size_t dim = (size_t)r->dim, ffn = (size_t)r->ffn_dim, vocab = (size_t)r->vocab_size;
    size_t q_dim = (size_t)r->n_heads * r->head_dim, kv_dim = (size_t)r->n_kv_heads * r->head_dim;
    const char *dt = v->dtype;
    check_weights("token_embedding", got->token_embedding, ref->token_embedding, vocab * dim, dt);
    check_weights("output_norm", got->output_norm, ref->output_norm, dim, dt);
    if (v->untied) {
        CHECK(got->output != got->token_embedding);
        check_weights("output", got->output, lm_head, vocab * dim, dt);
    } else {
        CHECK(got->output == got->token_embedding);
    }
    for (int l = 0; l < r->n_layers; l++) {
        const flx_layer_weights *a = &got->layers[l], *e = &ref->layers[l];
        char label[64];
#define CHECK_LAYER(field, count)                                   \
    snprintf(label, sizeof label, "layer %d %s", l, #field);          \
    check_weights(label, a->field, e->field, count, dt)
        CHECK_LAYER(attn_norm, dim);
        CHECK_LAYER(wq, q_dim * dim);
        CHECK_LAYER(wk, kv_dim * dim);
        CHECK_LAYER(wv, kv_dim * dim);
        CHECK_LAYER(wo, dim * q_dim);
        CHECK_LAYER(ffn_norm, dim);
        CHECK_LAYER(w_gate, ffn * dim);
        CHECK_LAYER(w_up, ffn * dim);
        CHECK_LAYER(w_down, dim * ffn);
#undef CHECK_LAYER
    }
}

static void run_variant(const flx_model *ref, const float *lm_head, const variant *v) {
    char dir[512];
    snprintf(dir, sizeof dir, OUT_DIR "/%s", v->name);
    CHECK(st_make_dirs(dir) == 0);
    CHECK(st_write_config(dir, &ref->config, !v->untied) == 0);

    st_write_tensor tensors[64];
    int n = st_tensors_from_model(tensors, ref, v->dtype, v->untied ? lm_head : NULL);
    CHECK(n == 2 + 9 * ref->config.n_layers + v->untied);
    if (n < 0) return;
    if (v->n_shards) {
        CHECK(write_shards(dir, tensors, n, v->n_shards) == 0);
    } else {
        char path[1024];
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        CHECK(st_write_file(path, tensors, n) == 0);
    }
    st_free_tensors(tensors, n);

    char load_path[1024];
    snprintf(load_path, sizeof load_path, "%s%s%s", dir, v->load_as[0] ? "/" : "", v->load_as);
    flx_model got;
    flx_error err = {{0}};
    int rc = flx_model_load(&got, load_path, &err);
    if (rc != 0) fprintf(stderr, "%s: load failed: %s\n", v->name, err.msg);
    CHECK_INT_EQ(rc, 0);
    if (rc == 0) check_model(&got, ref, lm_head, v);
    flx_model_free(&got);
}

int main(void) {
    char path[1024];
    flx_data_path(path, sizeof path, "models/stories260K/stories260K.bin");
    flx_model ref;
    flx_error err = {{0}};
    if (flx_model_load_llama2c(&ref, path, &err) != 0) {
        fprintf(stderr, "cannot load the reference model: %s\n", err.msg);
        return 1;
    }
    /* The shape the test expects, from the stories260K description. */
    CHECK_INT_EQ(ref.config.dim, 64);
    CHECK_INT_EQ(ref.config.n_layers, 5);
    CHECK_INT_EQ(ref.config.n_heads, 8);
    CHECK_INT_EQ(ref.config.n_kv_heads, 4);
    CHECK_INT_EQ(ref.config.ffn_dim, 172);
    CHECK_INT_EQ(ref.config.vocab_size, 512);

    /* A separate lm_head distinct from the embedding: rows reversed and negated. */
    size_t vocab = (size_t)ref.config.vocab_size, dim = (size_t)ref.config.dim;
    float *lm_head = malloc(vocab * dim * sizeof *lm_head);
    if (!lm_head) return 1;
    for (size_t i = 0; i < vocab; i++)
        for (size_t j = 0; j < dim; j++)
            lm_head[i * dim + j] = -ref.token_embedding[(vocab - 1 - i) * dim + j];

    const variant variants[] = {
        {"f32", "F32", 0, 0, ""},
        {"f16", "F16", 0, 0, "model.safetensors"},
        {"bf16", "BF16", 0, 0, ""},
        {"sharded", "F32", 3, 0, ""},
        {"sharded-index-path", "F16", 2, 0, "model.safetensors.index.json"},
        {"untied", "F32", 0, 1, "config.json"},
        {"untied-sharded-bf16", "BF16", 3, 1, ""},
    };
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++)
        run_variant(&ref, lm_head, &variants[i]);

    /* The rounding reference itself, on values with known F16/BF16 results. */
    CHECK(round_significand(1.0f + 1.0f / 2048.0f, 11, -24) == 1.0f);         /* tie to even */
    CHECK(round_significand(1.0f + 3.0f / 2048.0f, 11, -24) == 1.0f + 1.0f / 512.0f);
    CHECK(round_significand(1.0f + 1.0f / 4096.0f, 11, -24) == 1.0f);
    CHECK(round_significand(3.0e-8f, 11, -24) == (float)ldexp(1.0, -24));    /* subnormal */
    CHECK(round_significand(1.0f + 1.0f / 256.0f, 8, -133) == 1.0f);          /* tie to even */
    CHECK(round_significand(-1.0f - 3.0f / 256.0f, 8, -133) == -1.0f - 1.0f / 64.0f);

    free(lm_head);
    flx_model_free(&ref);
    return flx_check_report("test_safetensors_stories");
}
