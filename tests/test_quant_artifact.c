/* The quantized-model artifact: save then load returns the same model for
 * every recipe (odd widths exercise the 4-bit nibble padding; w8a8 has
 * a 16-bit LM head stored as two byte tensors), and truncated,
 * mislabelled, reshaped or corrupted files are rejected with a message
 * naming the file and the tensor or key. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/data_dir.h"
#include "common/mapped_file.h"
#include "modelio/safetensors.h"
#include "quant/artifact.h"
#include "quant/calibrate.h"
#include "quant/fakequant.h"
#include "quant/recipe.h"

static uint64_t rng_state = 0x243f6a8885a308d3ull;

static float uniform(float lo, float hi) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * (float)((rng_state >> 40) * (1.0 / 16777216.0));
}

static const float *random_floats(flx_model *m, size_t n, float lo, float hi) {
    flx_error err;
    float *p = flx_model_alloc(m, n * sizeof(float), &err);
    for (size_t i = 0; i < n; i++) p[i] = uniform(lo, hi);
    return p;
}

/* dim 8, 2 layers, 2 heads of 4, 1 KV head, FFN 7 (odd, so the 4-bit
 * ffn_down codes end in a padding nibble), vocab 11, untied. */
static void build_model(flx_model *m, int with_rope_freqs) {
    memset(m, 0, sizeof *m);
    flx_config *c = &m->config;
    *c = (flx_config){.dim = 8, .n_layers = 2, .n_heads = 2, .n_kv_heads = 1, .head_dim = 4,
                      .ffn_dim = 7, .vocab_size = 11, .context_length = 16, .norm_eps = 1e-5f,
                      .rope_theta = 10000.0f, .rope_dim = 4};
    snprintf(m->path, sizeof m->path, "synthetic");
    m->layers = calloc((size_t)c->n_layers, sizeof *m->layers); /* flx_model_free frees it */
    int q_dim = c->n_heads * c->head_dim, kv_dim = c->n_kv_heads * c->head_dim;
    m->token_embedding = random_floats(m, (size_t)c->vocab_size * c->dim, -1.0f, 1.0f);
    m->output_norm = random_floats(m, (size_t)c->dim, 0.5f, 1.5f);
    m->output = random_floats(m, (size_t)c->vocab_size * c->dim, -0.5f, 0.5f);
    if (with_rope_freqs) m->rope_freqs = random_floats(m, (size_t)c->rope_dim / 2, 1.0f, 4.0f);
    for (int l = 0; l < c->n_layers; l++) {
        flx_layer_weights *w = &m->layers[l];
        w->attn_norm = random_floats(m, (size_t)c->dim, 0.5f, 1.5f);
        w->ffn_norm = random_floats(m, (size_t)c->dim, 0.5f, 1.5f);
        w->wq = random_floats(m, (size_t)q_dim * c->dim, -0.5f, 0.5f);
        w->wk = random_floats(m, (size_t)kv_dim * c->dim, -0.5f, 0.5f);
        w->wv = random_floats(m, (size_t)kv_dim * c->dim, -0.5f, 0.5f);
        w->wo = random_floats(m, (size_t)c->dim * q_dim, -0.5f, 0.5f);
        w->w_gate = random_floats(m, (size_t)c->ffn_dim * c->dim, -0.5f, 0.5f);
        w->w_up = random_floats(m, (size_t)c->ffn_dim * c->dim, -0.5f, 0.5f);
        w->w_down = random_floats(m, (size_t)c->dim * c->ffn_dim, -0.5f, 0.5f);
    }
}

static int same_floats(const float *a, const float *b, size_t n) {
    return memcmp(a, b, n * sizeof(float)) == 0;
}

static void check_linear_equal(const flx_qlinear *a, const flx_qlinear *b) {
    CHECK_INT_EQ(a->d_in, b->d_in);
    CHECK_INT_EQ(a->d_out, b->d_out);
    CHECK_INT_EQ(a->bits, b->bits);
    if (a->d_in != b->d_in || a->d_out != b->d_out) return;
    CHECK(memcmp(a->q, b->q, (size_t)a->d_out * a->d_in) == 0);
    CHECK((a->q_lo == NULL) == (b->q_lo == NULL));
    CHECK((a->q_lo != NULL) == (a->bits == 16));
    if (a->q_lo && b->q_lo) CHECK(memcmp(a->q_lo, b->q_lo, (size_t)a->d_out * a->d_in) == 0);
    CHECK(same_floats(a->scale, b->scale, (size_t)a->d_out));
    CHECK(same_floats(a->rowsum, b->rowsum, (size_t)a->d_out));
}

static void check_models_equal(const flx_qmodel *a, const flx_qmodel *b) {
    const flx_config *c = &a->config;
    CHECK(memcmp(&a->config, &b->config, sizeof a->config) == 0);
    CHECK(memcmp(&a->act, &b->act, sizeof a->act) == 0);
    CHECK(memcmp(&a->lm_head_act, &b->lm_head_act, sizeof a->lm_head_act) == 0);
    CHECK(strcmp(a->recipe, b->recipe) == 0);
    CHECK(a->online_hadamard_ffn == b->online_hadamard_ffn);
    CHECK(same_floats(a->token_embedding, b->token_embedding, (size_t)c->vocab_size * c->dim));
    CHECK(same_floats(a->output_norm, b->output_norm, (size_t)c->dim));
    CHECK((a->rope_freqs == NULL) == (b->rope_freqs == NULL));
    if (a->rope_freqs && b->rope_freqs) CHECK(same_floats(a->rope_freqs, b->rope_freqs, (size_t)c->rope_dim / 2));
    check_linear_equal(&a->lm_head, &b->lm_head);
    for (int l = 0; l < c->n_layers; l++) {
        const flx_qlayer *x = &a->layers[l], *y = &b->layers[l];
        CHECK(same_floats(x->attn_norm, y->attn_norm, (size_t)c->dim));
        CHECK(same_floats(x->ffn_norm, y->ffn_norm, (size_t)c->dim));
        check_linear_equal(&x->wq, &y->wq);
        check_linear_equal(&x->wk, &y->wk);
        check_linear_equal(&x->wv, &y->wv);
        check_linear_equal(&x->wo, &y->wo);
        check_linear_equal(&x->w_gate, &y->w_gate);
        check_linear_equal(&x->w_up, &y->w_up);
        check_linear_equal(&x->w_down, &y->w_down);
        CHECK(same_floats(x->q_scale, y->q_scale, (size_t)c->n_heads));
        CHECK(same_floats(x->k_scale, y->k_scale, (size_t)c->n_kv_heads));
        CHECK(same_floats(x->v_scale, y->v_scale, (size_t)c->n_kv_heads));
        CHECK(x->prob_scale == y->prob_scale);
    }
}

static char scratch[1024];

static const char *scratch_path(const char *name) {
    static char path[1200];
    snprintf(path, sizeof path, "%s/%s", scratch, name);
    return path;
}

/* Quantizes the model with recipe, calibrates on pseudo-random tokens. */
static int quantize(flx_qmodel *qm, flx_model *m, const char *recipe) {
    flx_error err;
    const flx_recipe *r = flx_recipe_find(recipe, &err);
    if (!r || flx_recipe_apply(qm, m, r, &err) != 0) return -1;
    int32_t tokens[40];
    for (int i = 0; i < 40; i++) tokens[i] = (int32_t)(uniform(0.0f, 10.99f));
    flx_calib_result cal;
    if (flx_calibrate(qm, tokens, 40, 1, 2048, &cal, &err) != 0) {
        fprintf(stderr, "calibration failed: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static void test_round_trip(const char *recipe, int with_rope_freqs) {
    flx_model m;
    build_model(&m, with_rope_freqs);
    flx_qmodel qm, back;
    CHECK_INT_EQ(quantize(&qm, &m, recipe), 0);
    flx_artifact_provenance prov = {.calib_tokens = 40}, prov_back;
    snprintf(prov.source_model, sizeof prov.source_model, "models/\"quoted\"\\name.bin");
    snprintf(prov.calib_text, sizeof prov.calib_text, "text/calib\n.txt");
    const char *path = scratch_path("round-trip.safetensors");
    flx_error err;
    CHECK_INT_EQ(flx_artifact_save(&qm, &prov, path, &err), 0);
    if (flx_artifact_load(&back, &prov_back, path, &err) != 0) {
        fprintf(stderr, "load failed: %s\n", err.msg);
        CHECK(0);
    } else {
        check_models_equal(&qm, &back);
        CHECK(back.source == NULL);
        CHECK(strcmp(prov_back.source_model, prov.source_model) == 0);
        CHECK(strcmp(prov_back.calib_text, prov.calib_text) == 0);
        CHECK_INT_EQ(prov_back.calib_tokens, 40);

        /* Same logits from the in-memory and the reloaded model. */
        float a[11 * 5], b[11 * 5];
        int32_t toks[5] = {1, 4, 9, 2, 10};
        flx_fakequant_state s;
        CHECK_INT_EQ(flx_fakequant_state_init(&s, &qm, 8, 5, &err), 0);
        CHECK_INT_EQ(flx_fakequant_forward(&qm, &s, toks, 5, 0, a, 1, &err), 0);
        CHECK_INT_EQ(flx_fakequant_forward(&back, &s, toks, 5, 0, b, 1, &err), 0);
        CHECK(memcmp(a, b, sizeof a) == 0);
        flx_fakequant_state_free(&s);
        flx_qmodel_free(&back);
    }
    flx_qmodel_free(&qm);
    flx_model_free(&m);
}

/* File bytes, to be damaged and written back. */
typedef struct blob {
    uint8_t *data;
    size_t size;
} blob;

static blob read_blob(const char *path) {
    flx_error err;
    size_t size = 0;
    char *text = flx_read_text_file(path, &size, &err);
    return (blob){(uint8_t *)text, size};
}

static void write_blob(const char *path, const uint8_t *data, size_t size) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK(fwrite(data, 1, size, f) == size);
    fclose(f);
}

/* Replaces the first occurrence of from with to (same length) in the header. */
static int patch(blob *b, const char *from, const char *to) {
    size_t n = strlen(from);
    for (size_t i = 0; i + n <= b->size; i++)
        if (memcmp(b->data + i, from, n) == 0) {
            memcpy(b->data + i, to, n);
            return 0;
        }
    return -1;
}

/* Loads path and checks that it fails with a message containing each of
 * the fragments. */
static void expect_load_error(const char *path, const char *fragment1, const char *fragment2) {
    flx_qmodel qm;
    flx_error err;
    err.msg[0] = '\0';
    CHECK_INT_EQ(flx_artifact_load(&qm, NULL, path, &err), -1);
    if (!strstr(err.msg, fragment1) || (fragment2 && !strstr(err.msg, fragment2))) {
        fprintf(stderr, "unexpected message: %s\n", err.msg);
        CHECK(0);
    }
}

/* Offset in the file of tensor name's first byte. */
static size_t tensor_offset(const blob *b, const char *name) {
    flx_st_file st;
    flx_error err;
    if (flx_st_parse(&st, b->data, b->size, "blob", &err) != 0) return 0;
    const flx_st_tensor *t = flx_st_find(&st, name);
    size_t at = t ? (size_t)(st.data_offset + t->begin) : 0;
    flx_st_free(&st);
    return at;
}

static void test_malformed(void) {
    flx_model m;
    build_model(&m, 0);
    flx_qmodel qm;
    CHECK_INT_EQ(quantize(&qm, &m, "w8a8"), 0);
    const char *good = scratch_path("good.safetensors");
    flx_error err;
    CHECK_INT_EQ(flx_artifact_save(&qm, NULL, good, &err), 0);
    blob orig = read_blob(good);
    CHECK(orig.data != NULL);
    if (!orig.data) return;
    uint8_t *copy = malloc(orig.size);
    blob b = {copy, orig.size};
    const char *bad = scratch_path("bad.safetensors");

    /* Truncated: half the file. */
    write_blob(bad, orig.data, orig.size / 2);
    expect_load_error(bad, "bad.safetensors", "truncated");

    /* Wrong format tag and version. */
    memcpy(copy, orig.data, orig.size);
    CHECK_INT_EQ(patch(&b, "\"flexllm-quantized\"", "\"flexllm-quantizex\""), 0);
    write_blob(bad, b.data, b.size);
    expect_load_error(bad, "bad.safetensors: metadata format is 'flexllm-quantizex'",
                      "not a flexllm quantized artifact");
    memcpy(copy, orig.data, orig.size);
    CHECK_INT_EQ(patch(&b, "\"format_version\":\"1\"", "\"format_version\":\"7\""), 0);
    write_blob(bad, b.data, b.size);
    expect_load_error(bad, "format version '7' is not supported", NULL);

    /* Shape mismatch: the metadata says dim 9 but the tensors have 8. */
    memcpy(copy, orig.data, orig.size);
    CHECK_INT_EQ(patch(&b, "\"dim\":\"8\"", "\"dim\":\"9\""), 0);
    write_blob(bad, b.data, b.size);
    expect_load_error(bad, "bad.safetensors: tensor token_embd has shape [11, 8]", "implies [11, 9]");

    /* Unknown weight granularity, KV cache and online rotations. */
    memcpy(copy, orig.data, orig.size);
    CHECK_INT_EQ(patch(&b, "\"granularity\":\"per-channel\"", "\"granularity\":\"per-group-8\""), 0);
    write_blob(bad, b.data, b.size);
    expect_load_error(bad, "bad.safetensors: metadata granularity = 'per-group-8' is not supported", NULL);
    memcpy(copy, orig.data, orig.size);
    CHECK_INT_EQ(patch(&b, "\"kv_cache\":\"int8-static-per-head\"", "\"kv_cache\":\"int8-static-per-hexd\""), 0);
    write_blob(bad, b.data, b.size);
    expect_load_error(bad, "metadata kv_cache = 'int8-static-per-hexd' is not supported", NULL);
    memcpy(copy, orig.data, orig.size);
    CHECK_INT_EQ(patch(&b, "\"online_rotations\":\"none\"", "\"online_rotations\":\"nope\""), 0);
    write_blob(bad, b.data, b.size);
    expect_load_error(bad, "metadata online_rotations = 'nope' is not supported", NULL);

    /* A tensor stored with another dtype. */
    memcpy(copy, orig.data, orig.size);
    CHECK_INT_EQ(patch(&b, "\"blk.1.attn_v.q\":{\"dtype\":\"I8\"", "\"blk.1.attn_v.q\":{\"dtype\":\"U8\""), 0);
    write_blob(bad, b.data, b.size);
    expect_load_error(bad, "tensor blk.1.attn_v.q has dtype U8, expected I8", NULL);

    /* A missing metadata key. */
    memcpy(copy, orig.data, orig.size);
    CHECK_INT_EQ(patch(&b, "\"ffn_dim\"", "\"ffn_dum\""), 0);
    write_blob(bad, b.data, b.size);
    expect_load_error(bad, "metadata key 'ffn_dim' is missing", NULL);

    /* An out-of-range code (-128) and a row sum that disagrees. */
    memcpy(copy, orig.data, orig.size);
    size_t at = tensor_offset(&b, "blk.0.ffn_up.q");
    CHECK(at > 0);
    copy[at + 3] = 0x80;
    write_blob(bad, b.data, b.size);
    expect_load_error(bad, "tensor blk.0.ffn_up.q: code [0][3] = -128 is outside [-127, 127]", NULL);
    memcpy(copy, orig.data, orig.size);
    at = tensor_offset(&b, "output.rowsum");
    CHECK(at > 0);
    float wrong = 123.0f;
    memcpy(copy + at + 4, &wrong, 4);
    write_blob(bad, b.data, b.size);
    expect_load_error(bad, "tensor output.rowsum: entry 1 = 123", "corrupt");

    /* A zero attention scale. */
    memcpy(copy, orig.data, orig.size);
    at = tensor_offset(&b, "blk.1.k_scale");
    CHECK(at > 0);
    memset(copy + at, 0, 4);
    write_blob(bad, b.data, b.size);
    expect_load_error(bad, "tensor blk.1.k_scale: entry 0 = 0 is not a positive number", NULL);

    /* Not an artifact at all, and no file. */
    write_blob(bad, (const uint8_t *)"hello", 5);
    expect_load_error(bad, "bad.safetensors", "too short");
    expect_load_error(scratch_path("missing.safetensors"), "missing.safetensors: cannot open", NULL);

    free(copy);
    free(orig.data);
    remove(bad);
    remove(good);
    flx_qmodel_free(&qm);
    flx_model_free(&m);
}

/* A 4-bit artifact with a non-zero padding nibble is corrupt. */
static void test_padding_nibble(void) {
    flx_model m;
    build_model(&m, 0);
    flx_qmodel qm;
    CHECK_INT_EQ(quantize(&qm, &m, "w4a4-rtn"), 0);
    const char *path = scratch_path("w4.safetensors");
    flx_error err;
    CHECK_INT_EQ(flx_artifact_save(&qm, NULL, path, &err), 0);
    blob b = read_blob(path);
    size_t at = tensor_offset(&b, "blk.0.ffn_down.q");
    CHECK(at > 0);
    /* Row 0 of ffn_down has 7 codes in 4 bytes; the last high nibble pads. */
    CHECK_INT_EQ(b.data[at + 3] >> 4, 0);
    b.data[at + 3] |= 0x10;
    write_blob(path, b.data, b.size);
    expect_load_error(path, "tensor blk.0.ffn_down.q: row 0: the unused high nibble", NULL);
    free(b.data);
    remove(path);
    flx_qmodel_free(&qm);
    flx_model_free(&m);
}

/* The 4-bit packing on a hand-made row: codes 1, -2, 7, -7, 3 pack to
 * 0xe1, 0x97, 0x03. */
static void test_nibble_layout(void) {
    flx_model m;
    build_model(&m, 0);
    flx_qmodel qm;
    CHECK_INT_EQ(quantize(&qm, &m, "w4a4-rtn"), 0);
    const int8_t row[7] = {1, -2, 7, -7, 3, 0, -1};
    memcpy(qm.layers[0].w_down.q, row, 7);
    qm.layers[0].w_down.rowsum[0] = (float)((double)qm.layers[0].w_down.scale[0] * 1.0);
    const char *path = scratch_path("nibbles.safetensors");
    flx_error err;
    CHECK_INT_EQ(flx_artifact_save(&qm, NULL, path, &err), 0);
    blob b = read_blob(path);
    size_t at = tensor_offset(&b, "blk.0.ffn_down.q");
    CHECK_INT_EQ(b.data[at], 0xe1);
    CHECK_INT_EQ(b.data[at + 1], 0x97);
    CHECK_INT_EQ(b.data[at + 2], 0x03);
    CHECK_INT_EQ(b.data[at + 3], 0x0f);
    flx_qmodel back;
    CHECK_INT_EQ(flx_artifact_load(&back, NULL, path, &err), 0);
    CHECK(memcmp(back.layers[0].w_down.q, row, 7) == 0);
    flx_qmodel_free(&back);
    free(b.data);
    remove(path);
    flx_qmodel_free(&qm);
    flx_model_free(&m);
}

/* Metadata value of key in the artifact at path, or "" when missing. */
static void read_meta(const char *path, const char *key, char *out, size_t size) {
    blob b = read_blob(path);
    flx_st_file st;
    flx_error err;
    out[0] = '\0';
    if (b.data && flx_st_parse(&st, b.data, b.size, path, &err) == 0) {
        for (int i = 0; i < st.n_metadata; i++)
            if (strcmp(st.metadata[i].key, key) == 0) snprintf(out, size, "%s", st.metadata[i].value);
        flx_st_free(&st);
    }
    free(b.data);
}

/* A 16-bit LM head: hand-set codes -32639, -128, 300, 32639 are stored as
 * high bytes (-127, 0, 1, 127) in output.q and low bytes (-127, -128, 44,
 * 127) in output.q_lo, and load back as the same codes. */
static void test_16bit_lm_head_layout(void) {
    flx_model m;
    build_model(&m, 0);
    flx_qmodel qm;
    CHECK_INT_EQ(quantize(&qm, &m, "w8a8"), 0);
    CHECK_INT_EQ(qm.lm_head.bits, 16);
    const int8_t hi[4] = {-127, 0, 1, 127}, lo[4] = {-127, -128, 44, 127};
    memcpy(qm.lm_head.q, hi, 4);
    memcpy(qm.lm_head.q_lo, lo, 4);
    memset(qm.lm_head.q + 4, 0, 4);
    memset(qm.lm_head.q_lo + 4, 0, 4);
    /* Code sum of row 0: -32639 - 128 + 300 + 32639 = 172. */
    qm.lm_head.rowsum[0] = (float)((double)qm.lm_head.scale[0] * 172.0);
    const char *path = scratch_path("w16.safetensors");
    flx_error err;
    CHECK_INT_EQ(flx_artifact_save(&qm, NULL, path, &err), 0);

    char bits[16];
    read_meta(path, "lm_head_weight_bits", bits, sizeof bits);
    CHECK(strcmp(bits, "16") == 0);
    read_meta(path, "weight_bits", bits, sizeof bits);
    CHECK(strcmp(bits, "8") == 0);
    blob b = read_blob(path);
    size_t at_hi = tensor_offset(&b, "output.q"), at_lo = tensor_offset(&b, "output.q_lo");
    CHECK(at_hi > 0);
    CHECK(at_lo > 0);
    if (at_hi && at_lo) {
        for (int i = 0; i < 4; i++) {
            CHECK_INT_EQ((int8_t)b.data[at_hi + i], hi[i]);
            CHECK_INT_EQ((int8_t)b.data[at_lo + i], lo[i]);
        }
    }

    flx_qmodel back;
    if (flx_artifact_load(&back, NULL, path, &err) != 0) {
        fprintf(stderr, "load failed: %s\n", err.msg);
        CHECK(0);
    } else {
        const int want[4] = {-32639, -128, 300, 32639};
        CHECK_INT_EQ(back.lm_head.bits, 16);
        for (int i = 0; i < 4; i++) CHECK_INT_EQ(flx_qlinear_code(&back.lm_head, (size_t)i), want[i]);
        flx_qmodel_free(&back);
    }

    const char *bad = scratch_path("w16-bad.safetensors");
    uint8_t *copy = malloc(b.size);
    blob c = {copy, b.size};

    /* High byte -127 with low byte -128 is -32640, one below the range. */
    memcpy(copy, b.data, b.size);
    copy[at_lo] = 0x80;
    write_blob(bad, c.data, c.size);
    expect_load_error(bad, "tensors output.q and output.q_lo: code [0][0] = -32640 is outside [-32639, 32639]",
                      NULL);

    /* A high byte of -128. */
    memcpy(copy, b.data, b.size);
    copy[at_hi + 1] = 0x80;
    write_blob(bad, c.data, c.size);
    expect_load_error(bad, "tensor output.q: high byte [0][1] = -128 is outside [-127, 127]", NULL);

    /* The low bytes missing. */
    memcpy(copy, b.data, b.size);
    CHECK_INT_EQ(patch(&c, "\"output.q_lo\"", "\"output.q_lx\""), 0);
    write_blob(bad, c.data, c.size);
    expect_load_error(bad, "tensor output.q_lo (I8 [11, 8]) not found", NULL);

    /* Metadata of 8 bits for a file with low bytes, and an invalid width. */
    memcpy(copy, b.data, b.size);
    CHECK_INT_EQ(patch(&c, "\"lm_head_weight_bits\":\"16\"", "\"lm_head_weight_bits\":\"08\""), 0);
    write_blob(bad, c.data, c.size);
    expect_load_error(bad, "unexpected tensor output.q_lo", NULL);
    memcpy(copy, b.data, b.size);
    CHECK_INT_EQ(patch(&c, "\"lm_head_weight_bits\":\"16\"", "\"lm_head_weight_bits\":\"12\""), 0);
    write_blob(bad, c.data, c.size);
    expect_load_error(bad, "metadata lm_head_weight_bits = 12 is invalid (expected 4, 8 or 16)", NULL);

    /* Layer linears stay 4 or 8 bits: a model with a 16-bit layer is not saved. */
    qm.layers[1].w_up.bits = 16;
    CHECK_INT_EQ(flx_artifact_save(&qm, NULL, bad, &err), -1);
    CHECK(strstr(err.msg, "blk.1.ffn_up has 16-bit weights but blk.0.attn_q has 8") != NULL);

    free(copy);
    free(b.data);
    remove(bad);
    remove(path);
    flx_qmodel_free(&qm);
    flx_model_free(&m);
}

/* A per-layer static KV cache: every head of a layer gets the largest of
 * the per-head scales (Q too), the artifact keeps it, and a file whose per-layer
 * scales differ between heads is rejected. */
static void test_kv_per_layer(void) {
    flx_model m;
    flx_qmodel head, layer, back;
    flx_error err;
    char model_path[1024];
    CHECK_INT_EQ(flx_model_load(&m, flx_data_path(model_path, sizeof model_path, "models/stories260K/stories260K.bin"), &err), 0);
    if (flx_check_failures) return;
    CHECK_INT_EQ(flx_recipe_apply(&head, &m, flx_recipe_find("w8a8", &err), &err), 0);
    const flx_recipe *w8a8 = flx_recipe_find("w8a8", &err);
    flx_recipe r = *w8a8;
    r.kv.per_layer = true;
    CHECK_INT_EQ(flx_recipe_apply(&layer, &m, &r, &err), 0);
    int32_t tokens[40];
    for (int i = 0; i < 40; i++) tokens[i] = (int32_t)(3 + 7 * i % 500);
    flx_calib_result cal;
    CHECK_INT_EQ(flx_calibrate(&head, tokens, 40, 1, 2048, &cal, &err), 0);
    CHECK_INT_EQ(flx_calibrate(&layer, tokens, 40, 1, 2048, &cal, &err), 0);
    if (flx_check_failures) return;
    const flx_config *c = &m.config;
    CHECK(c->n_kv_heads > 1);
    for (int l = 0; l < c->n_layers; l++) {
        float k_max = 0.0f, v_max = 0.0f;
        for (int h = 0; h < c->n_kv_heads; h++) {
            if (head.layers[l].k_scale[h] > k_max) k_max = head.layers[l].k_scale[h];
            if (head.layers[l].v_scale[h] > v_max) v_max = head.layers[l].v_scale[h];
        }
        for (int h = 0; h < c->n_kv_heads; h++) {
            CHECK(layer.layers[l].k_scale[h] == k_max);
            CHECK(layer.layers[l].v_scale[h] == v_max);
        }
        float q_max = 0.0f;
        for (int h = 0; h < c->n_heads; h++)
            if (head.layers[l].q_scale[h] > q_max) q_max = head.layers[l].q_scale[h];
        for (int h = 0; h < c->n_heads; h++) CHECK(layer.layers[l].q_scale[h] == q_max);
    }
    const char *path = scratch_path("kv-per-layer.safetensors");
    CHECK_INT_EQ(flx_artifact_save(&layer, NULL, path, &err), 0);
    CHECK_INT_EQ(flx_artifact_load(&back, NULL, path, &err), 0);
    CHECK(back.kv.per_layer);
    CHECK(!back.kv.dynamic);
    flx_qmodel_free(&back);

    layer.layers[0].k_scale[1] *= 2.0f;
    CHECK_INT_EQ(flx_artifact_save(&layer, NULL, path, &err), 0);
    CHECK_INT_EQ(flx_artifact_load(&back, NULL, path, &err), -1);
    CHECK(strstr(err.msg, "kv_cache is per layer, but blk.0.q_scale, k_scale or v_scale differs between heads 0 and 1") != NULL);
    remove(path);
    flx_qmodel_free(&head);
    flx_qmodel_free(&layer);
    flx_model_free(&m);
}

int main(void) {
    test_kv_per_layer();
    const char *tmp = getenv("TMPDIR");
    snprintf(scratch, sizeof scratch, "%s/flexllm-quant-artifact-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(scratch)) {
        perror("mkdtemp");
        return 1;
    }
    test_round_trip("w8a8", 0);
    test_round_trip("w4a8", 1);
    test_round_trip("w4a4-rtn", 0);
    test_malformed();
    test_padding_nibble();
    test_nibble_layout();
    test_16bit_lm_head_layout();
    remove(scratch);
    return flx_check_report("test_quant_artifact");
}
