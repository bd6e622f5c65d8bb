/* GGUF writer round trip: every metadata type (nested arrays included),
 * several tensor types streamed in small pieces, a non-default alignment,
 * vocabularies, and the writer's own error checks. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "modelio/gguf.h"
#include "modelio/gguf_writer.h"
#include "modelio/vocab.h"

static uint8_t *read_all(FILE *f, size_t *len) {
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    uint8_t *data = malloc(*len ? *len : 1);
    if (fread(data, 1, *len, f) != *len) *len = 0;
    return data;
}

static void write_metadata(flx_gguf_writer *w) {
    flx_gguf_writer_set_u8(w, "s.u8", 250);
    flx_gguf_writer_set_i8(w, "s.i8", -5);
    flx_gguf_writer_set_u16(w, "s.u16", 65535);
    flx_gguf_writer_set_i16(w, "s.i16", -32768);
    flx_gguf_writer_set_u32(w, "s.u32", 4294967295u);
    flx_gguf_writer_set_i32(w, "s.i32", -7);
    flx_gguf_writer_set_f32(w, "s.f32", 0.25f);
    flx_gguf_writer_set_bool(w, "s.bool", true);
    flx_gguf_writer_set_string(w, "s.string", "llama");
    flx_gguf_writer_set_u64(w, "s.u64", 1ull << 63);
    flx_gguf_writer_set_i64(w, "s.i64", -(1ll << 62));
    flx_gguf_writer_set_f64(w, "s.f64", 1e300);

    const uint8_t u8[3] = {1, 2, 255};
    const int8_t i8[3] = {-1, 0, 1};
    const uint16_t u16[3] = {1, 2, 65535};
    const int16_t i16[3] = {-300, 0, 300};
    const uint32_t u32[3] = {1, 2, 3000000000u};
    const int32_t i32[3] = {-1, -2, -3};
    const float f32[3] = {0.5f, -1.5f, 3.0f};
    const uint8_t bools[3] = {1, 0, 1};
    const uint64_t u64[3] = {1, 2, 1ull << 40};
    const int64_t i64[3] = {-1, 0, -(1ll << 40)};
    const double f64[3] = {0.1, 0.2, -0.3};
    flx_gguf_writer_set_array(w, "a.u8", FLX_GGUF_UINT8, u8, 3);
    flx_gguf_writer_set_array(w, "a.i8", FLX_GGUF_INT8, i8, 3);
    flx_gguf_writer_set_array(w, "a.u16", FLX_GGUF_UINT16, u16, 3);
    flx_gguf_writer_set_array(w, "a.i16", FLX_GGUF_INT16, i16, 3);
    flx_gguf_writer_set_array(w, "a.u32", FLX_GGUF_UINT32, u32, 3);
    flx_gguf_writer_set_array(w, "a.i32", FLX_GGUF_INT32, i32, 3);
    flx_gguf_writer_set_array(w, "a.f32", FLX_GGUF_FLOAT32, f32, 3);
    flx_gguf_writer_set_array(w, "a.bool", FLX_GGUF_BOOL, bools, 3);
    flx_gguf_writer_set_array(w, "a.u64", FLX_GGUF_UINT64, u64, 3);
    flx_gguf_writer_set_array(w, "a.i64", FLX_GGUF_INT64, i64, 3);
    flx_gguf_writer_set_array(w, "a.f64", FLX_GGUF_FLOAT64, f64, 3);
    const char *strings[3] = {"one", "", "thr\xc3\xa9\xc3\xa9"};
    flx_gguf_writer_set_string_array(w, "a.string", strings, 3);

    /* [["x", "yz"], ["w"]] */
    flx_gguf_writer_begin_key(w, "a.nested", FLX_GGUF_ARRAY);
    flx_gguf_writer_put_array_header(w, FLX_GGUF_ARRAY, 2);
    flx_gguf_writer_put_array_header(w, FLX_GGUF_STRING, 2);
    flx_gguf_writer_put_string(w, "x", 1);
    flx_gguf_writer_put_string(w, "yz", 2);
    flx_gguf_writer_put_array_header(w, FLX_GGUF_STRING, 1);
    flx_gguf_writer_put_string(w, "w", 1);
}

static void check_scalars(const flx_gguf *g) {
    flx_error err;
    int64_t i;
    double x;
    int b;
    flx_gguf_string s;
    CHECK_INT_EQ(flx_gguf_find(g, "s.u8")->value.type, FLX_GGUF_UINT8);
    CHECK_INT_EQ(flx_gguf_get_int(g, "s.u8", 0, 1000, &i, "p", &err), 1);
    CHECK_INT_EQ(i, 250);
    CHECK_INT_EQ(flx_gguf_find(g, "s.i8")->value.type, FLX_GGUF_INT8);
    CHECK_INT_EQ(flx_gguf_get_int(g, "s.i8", -1000, 1000, &i, "p", &err), 1);
    CHECK_INT_EQ(i, -5);
    CHECK_INT_EQ(flx_gguf_get_int(g, "s.u16", 0, 100000, &i, "p", &err), 1);
    CHECK_INT_EQ(i, 65535);
    CHECK_INT_EQ(flx_gguf_get_int(g, "s.i16", -100000, 0, &i, "p", &err), 1);
    CHECK_INT_EQ(i, -32768);
    CHECK_INT_EQ(flx_gguf_get_int(g, "s.u32", 0, INT64_MAX, &i, "p", &err), 1);
    CHECK_INT_EQ(i, 4294967295ll);
    CHECK_INT_EQ(flx_gguf_get_int(g, "s.i32", -10, 0, &i, "p", &err), 1);
    CHECK_INT_EQ(i, -7);
    CHECK_INT_EQ(flx_gguf_find(g, "s.f32")->value.type, FLX_GGUF_FLOAT32);
    CHECK_INT_EQ(flx_gguf_get_float(g, "s.f32", &x, "p", &err), 1);
    CHECK_NEAR(x, 0.25, 0);
    CHECK_INT_EQ(flx_gguf_get_bool(g, "s.bool", &b, "p", &err), 1);
    CHECK_INT_EQ(b, 1);
    CHECK_INT_EQ(flx_gguf_get_string(g, "s.string", &s, "p", &err), 1);
    CHECK(flx_gguf_string_eq(s, "llama"));
    CHECK(flx_gguf_find(g, "s.u64")->value.as.u64 == 1ull << 63);
    CHECK_INT_EQ(flx_gguf_get_int(g, "s.i64", INT64_MIN, 0, &i, "p", &err), 1);
    CHECK_INT_EQ(i, -(1ll << 62));
    CHECK_INT_EQ(flx_gguf_find(g, "s.f64")->value.type, FLX_GGUF_FLOAT64);
    CHECK_INT_EQ(flx_gguf_get_float(g, "s.f64", &x, "p", &err), 1);
    CHECK(x == 1e300);
}

/* Reads the n numeric elements of an array as doubles. */
static void array_numbers(const flx_gguf *g, const char *key, flx_gguf_type type, double *out, int n) {
    flx_error err;
    flx_gguf_value arr, e;
    CHECK_INT_EQ(flx_gguf_get_array(g, key, (int)type, &arr, "p", &err), 1);
    CHECK_INT_EQ(arr.as.array.count, n);
    uint64_t pos = 0;
    for (int k = 0; k < n; k++) {
        out[k] = -999;
        if (flx_gguf_array_next(&arr, &pos, &e) != 0) continue;
        switch (e.type) {
        case FLX_GGUF_UINT8: case FLX_GGUF_UINT16: case FLX_GGUF_UINT32: case FLX_GGUF_UINT64:
            out[k] = (double)e.as.u64;
            break;
        case FLX_GGUF_INT8: case FLX_GGUF_INT16: case FLX_GGUF_INT32: case FLX_GGUF_INT64:
            out[k] = (double)e.as.i64;
            break;
        case FLX_GGUF_BOOL:
            out[k] = e.as.boolean;
            break;
        default:
            out[k] = e.as.f64;
        }
    }
    CHECK_INT_EQ(pos, arr.as.array.n_bytes);
}

static void check_arrays(const flx_gguf *g) {
    const struct {
        const char *key;
        flx_gguf_type type;
        double want[3];
    } cases[] = {
        {"a.u8", FLX_GGUF_UINT8, {1, 2, 255}},
        {"a.i8", FLX_GGUF_INT8, {-1, 0, 1}},
        {"a.u16", FLX_GGUF_UINT16, {1, 2, 65535}},
        {"a.i16", FLX_GGUF_INT16, {-300, 0, 300}},
        {"a.u32", FLX_GGUF_UINT32, {1, 2, 3000000000.0}},
        {"a.i32", FLX_GGUF_INT32, {-1, -2, -3}},
        {"a.f32", FLX_GGUF_FLOAT32, {0.5, -1.5, 3.0}},
        {"a.bool", FLX_GGUF_BOOL, {1, 0, 1}},
        {"a.u64", FLX_GGUF_UINT64, {1, 2, 1099511627776.0}},
        {"a.i64", FLX_GGUF_INT64, {-1, 0, -1099511627776.0}},
        {"a.f64", FLX_GGUF_FLOAT64, {0.1, 0.2, -0.3}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        double got[3];
        array_numbers(g, cases[c].key, cases[c].type, got, 3);
        for (int k = 0; k < 3; k++) CHECK_NEAR(got[k], cases[c].want[k], 0);
    }

    flx_error err;
    flx_gguf_value arr, e, inner;
    uint64_t pos = 0, inner_pos;
    CHECK_INT_EQ(flx_gguf_get_array(g, "a.string", FLX_GGUF_STRING, &arr, "p", &err), 1);
    const char *want_strings[3] = {"one", "", "thr\xc3\xa9\xc3\xa9"};
    for (int k = 0; k < 3; k++) {
        CHECK_INT_EQ(flx_gguf_array_next(&arr, &pos, &e), 0);
        CHECK(flx_gguf_string_eq(e.as.str, want_strings[k]));
    }

    CHECK_INT_EQ(flx_gguf_get_array(g, "a.nested", FLX_GGUF_ARRAY, &arr, "p", &err), 1);
    CHECK_INT_EQ(arr.as.array.count, 2);
    pos = 0;
    const char *want_nested[3] = {"x", "yz", "w"};
    int seen = 0;
    while (flx_gguf_array_next(&arr, &pos, &e) == 0) {
        CHECK_INT_EQ(e.as.array.elem_type, FLX_GGUF_STRING);
        inner_pos = 0;
        while (seen < 3 && flx_gguf_array_next(&e, &inner_pos, &inner) == 0)
            CHECK(flx_gguf_string_eq(inner.as.str, want_nested[seen++]));
    }
    CHECK_INT_EQ(seen, 3);
}

/* Tensor contents, encoded by hand where the encoding is fixed. */
static float f32_data[15];
static uint8_t f16_bytes[8], bf16_bytes[8];
static float q8_values[128], q4_values[96];

static void write_tensors(flx_gguf_writer *w) {
    const uint64_t ne_f32[2] = {5, 3}, ne_f16[1] = {4}, ne_bf16[2] = {2, 2}, ne_q8[2] = {64, 2},
                   ne_q4[2] = {32, 3};
    flx_gguf_writer_add_tensor(w, "t.f32", 2, ne_f32, FLX_GGML_F32);
    flx_gguf_writer_add_tensor(w, "t.f16", 1, ne_f16, FLX_GGML_F16);
    flx_gguf_writer_add_tensor(w, "t.bf16", 2, ne_bf16, FLX_GGML_BF16);
    flx_gguf_writer_add_tensor(w, "t.q8", 2, ne_q8, FLX_GGML_Q8_0);
    flx_gguf_writer_add_tensor(w, "t.q4", 2, ne_q4, FLX_GGML_Q4_0);
    CHECK_INT_EQ(flx_gguf_writer_write_header(w), 0);

    for (int i = 0; i < 15; i++) f32_data[i] = (float)i * 0.5f - 3.0f;
    /* Stream the F32 tensor 7 bytes at a time. */
    const uint8_t *p = (const uint8_t *)f32_data;
    for (size_t off = 0; off < sizeof f32_data; off += 7) {
        size_t n = sizeof f32_data - off < 7 ? sizeof f32_data - off : 7;
        CHECK_INT_EQ(flx_gguf_writer_write_data(w, p + off, n), 0);
    }
    /* 1, -2, 0.5, 65504 in F16; 1, -3, 0.5, 256 in BF16. */
    const uint16_t h[4] = {0x3c00, 0xc000, 0x3800, 0x7bff}, bf[4] = {0x3f80, 0xc040, 0x3f00, 0x4380};
    memcpy(f16_bytes, h, 8);
    memcpy(bf16_bytes, bf, 8);
    CHECK_INT_EQ(flx_gguf_writer_write_data(w, f16_bytes, 8), 0);
    CHECK_INT_EQ(flx_gguf_writer_write_data(w, bf16_bytes, 8), 0);
    uint8_t q8[4 * 34], q4[3 * 18];
    /* Each Q8_0 block holds 31.75 = 127 * 0.25, so its scale is exactly
     * 0.25 and every multiple of 0.25 in range decodes exactly. */
    for (int i = 0; i < 128; i++) q8_values[i] = i % 32 == 0 ? 31.75f : 0.25f * (float)(i % 33 - 16);
    for (int i = 0; i < 96; i++) q4_values[i] = (float)(i % 16 - 8);
    flx_ggml_quantize(FLX_GGML_Q8_0, q8_values, q8, 128);
    flx_ggml_quantize(FLX_GGML_Q4_0, q4_values, q4, 96);
    CHECK_INT_EQ(flx_gguf_writer_write_data(w, q8, sizeof q8), 0);
    CHECK_INT_EQ(flx_gguf_writer_write_data(w, q4, 20), 0);
    CHECK_INT_EQ(flx_gguf_writer_write_data(w, q4 + 20, sizeof q4 - 20), 0);
    CHECK_INT_EQ(flx_gguf_writer_finish(w), 0);
}

static void check_tensor_values(const flx_gguf *g, const char *name, uint32_t type, uint64_t ne0,
                                uint64_t ne1, const float *want, int n) {
    const flx_gguf_tensor *t = flx_gguf_find_tensor(g, name);
    CHECK(t != NULL);
    if (!t) return;
    CHECK_INT_EQ(t->type, type);
    CHECK_INT_EQ(t->ne[0], ne0);
    CHECK_INT_EQ(t->ne[1], ne1);
    CHECK_INT_EQ(t->offset % 64, 0);
    float got[128];
    CHECK_INT_EQ(flx_ggml_dequantize(type, t->data, got, (uint64_t)n), 0);
    for (int i = 0; i < n; i++) CHECK_NEAR(got[i], want[i], 0);
}

static void test_round_trip(void) {
    FILE *f = tmpfile();
    CHECK(f != NULL);
    if (!f) return;
    flx_error err = {{0}};
    flx_gguf_writer w;
    flx_gguf_writer_init(&w, f, "round_trip.gguf", &err);
    CHECK_INT_EQ(flx_gguf_writer_set_alignment(&w, 64), 0);
    write_metadata(&w);
    write_tensors(&w);
    flx_gguf_writer_free(&w);
    if (err.msg[0]) fprintf(stderr, "writer: %s\n", err.msg);

    size_t len;
    uint8_t *data = read_all(f, &len);
    fclose(f);
    flx_gguf g;
    CHECK_INT_EQ(flx_gguf_parse(&g, data, len, "round_trip.gguf", &err), 0);
    CHECK_INT_EQ(g.version, 3);
    CHECK_INT_EQ(g.alignment, 64);
    CHECK_INT_EQ(g.n_kvs, 1 + 12 + 12 + 1);
    CHECK_INT_EQ(g.n_tensors, 5);
    CHECK_INT_EQ(g.data_offset % 64, 0);
    check_scalars(&g);
    check_arrays(&g);
    check_tensor_values(&g, "t.f32", FLX_GGML_F32, 5, 3, f32_data, 15);
    const float f16_want[4] = {1, -2, 0.5f, 65504}, bf16_want[4] = {1, -3, 0.5f, 256};
    check_tensor_values(&g, "t.f16", FLX_GGML_F16, 4, 1, f16_want, 4);
    check_tensor_values(&g, "t.bf16", FLX_GGML_BF16, 2, 2, bf16_want, 4);
    /* Integers -8..7 with -8 in every block are exact in Q4_0. */
    check_tensor_values(&g, "t.q8", FLX_GGML_Q8_0, 64, 2, q8_values, 128);
    check_tensor_values(&g, "t.q4", FLX_GGML_Q4_0, 32, 3, q4_values, 96);
    /* The writer pads the last tensor too. */
    CHECK_INT_EQ(len % 64, 0);
    flx_gguf_free(&g);
    free(data);
}

static void test_writer_errors(void) {
    FILE *f = tmpfile();
    if (!f) return;
    flx_error err = {{0}};
    flx_gguf_writer w;
    flx_gguf_writer_init(&w, f, "errors.gguf", &err);
    const uint64_t ne[1] = {8};
    CHECK_INT_EQ(flx_gguf_writer_add_tensor(&w, "v", 1, ne, FLX_GGML_F32), 0);
    CHECK_INT_EQ(flx_gguf_writer_write_header(&w), 0);
    CHECK_INT_EQ(flx_gguf_writer_set_u32(&w, "late", 1), -1);
    CHECK(strstr(err.msg, "metadata set after the header") != NULL);
    /* Errors are sticky. */
    float data[8] = {0};
    CHECK_INT_EQ(flx_gguf_writer_write_data(&w, data, sizeof data), -1);
    flx_gguf_writer_free(&w);

    rewind(f);
    flx_gguf_writer_init(&w, f, "errors.gguf", &err);
    CHECK_INT_EQ(flx_gguf_writer_add_tensor(&w, "v", 1, ne, FLX_GGML_F32), 0);
    CHECK_INT_EQ(flx_gguf_writer_write_header(&w), 0);
    CHECK_INT_EQ(flx_gguf_writer_write_data(&w, data, 16), 0);
    CHECK_INT_EQ(flx_gguf_writer_finish(&w), -1);
    CHECK(strstr(err.msg, "incomplete file: 0 of 1 tensors written") != NULL);
    flx_gguf_writer_free(&w);

    rewind(f);
    flx_gguf_writer_init(&w, f, "errors.gguf", &err);
    CHECK_INT_EQ(flx_gguf_writer_add_tensor(&w, "v", 1, ne, FLX_GGML_F32), 0);
    CHECK_INT_EQ(flx_gguf_writer_write_header(&w), 0);
    float too_many[9] = {0};
    CHECK_INT_EQ(flx_gguf_writer_write_data(&w, too_many, sizeof too_many), -1);
    CHECK(strstr(err.msg, "36 bytes written to tensor v, which has 32 of 32 bytes left") != NULL);
    flx_gguf_writer_free(&w);

    flx_gguf_writer_init(&w, f, "errors.gguf", &err);
    CHECK_INT_EQ(flx_gguf_writer_add_tensor(&w, "q", 1, ne, FLX_GGML_Q8_0), -1);
    CHECK(strstr(err.msg, "row length 8 is not a multiple of the Q8_0 block size 32") != NULL);
    flx_gguf_writer_free(&w);

    flx_gguf_writer_init(&w, f, "errors.gguf", &err);
    CHECK_INT_EQ(flx_gguf_writer_add_tensor(&w, "v", 1, ne, FLX_GGML_F32), 0);
    CHECK_INT_EQ(flx_gguf_writer_add_tensor(&w, "v", 1, ne, FLX_GGML_F32), -1);
    CHECK(strstr(err.msg, "duplicate tensor name v") != NULL);
    flx_gguf_writer_free(&w);

    flx_gguf_writer_init(&w, f, "errors.gguf", &err);
    CHECK_INT_EQ(flx_gguf_writer_set_alignment(&w, 24), -1);
    flx_gguf_writer_free(&w);
    fclose(f);
}

static char *dup(const char *s) {
    char *p = malloc(strlen(s) + 1);
    strcpy(p, s);
    return p;
}

static flx_vocab *make_vocab(flx_vocab_kind kind) {
    static const char *spm_tokens[5] = {"<unk>", "<s>", "</s>", "\xe2\x96\x81the", "<0x0A>"};
    static const char *bpe_tokens[5] = {"a", "b", "ab", "<|begin_of_text|>", "<|eot_id|>"};
    flx_vocab *v = calloc(1, sizeof *v);
    v->kind = kind;
    v->n_tokens = 5;
    v->tokens = calloc(5, sizeof *v->tokens);
    v->types = calloc(5, sizeof *v->types);
    for (int i = 0; i < 5; i++) {
        v->tokens[i] = dup(kind == FLX_VOCAB_SPM ? spm_tokens[i] : bpe_tokens[i]);
        v->types[i] = i < 3 ? FLX_TOKEN_NORMAL : FLX_TOKEN_CONTROL;
    }
    v->eot_id = -1;
    if (kind == FLX_VOCAB_SPM) {
        v->scores = calloc(5, sizeof *v->scores);
        for (int i = 0; i < 5; i++) v->scores[i] = -0.5f * (float)i;
        v->bos_id = 1;
        v->eos_id = 2;
        v->add_bos = 1;
        v->add_space_prefix = 1;
    } else {
        v->n_merges = 1;
        v->merges = calloc(1, sizeof *v->merges);
        v->merges[0] = dup("a b");
        strcpy(v->pre, "llama-bpe");
        v->bos_id = 3;
        v->eos_id = -1;
        v->add_bos = 1;
    }
    return v;
}

static void test_vocab_round_trip(flx_vocab_kind kind) {
    const char *path = kind == FLX_VOCAB_SPM ? "test_gguf_writer_spm.gguf" : "test_gguf_writer_bpe.gguf";
    flx_vocab *v = make_vocab(kind);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    flx_error err = {{0}};
    flx_gguf_writer w;
    flx_gguf_writer_init(&w, f, path, &err);
    flx_gguf_write_vocab(&w, v);
    CHECK_INT_EQ(flx_gguf_writer_write_header(&w), 0);
    CHECK_INT_EQ(flx_gguf_writer_finish(&w), 0);
    flx_gguf_writer_free(&w);
    fclose(f);

    flx_vocab *back = NULL;
    CHECK_INT_EQ(flx_vocab_load_gguf(&back, path, &err), 0);
    if (!back) {
        fprintf(stderr, "%s\n", err.msg);
        flx_check_failures++;
    } else {
        CHECK_INT_EQ(back->kind, kind);
        CHECK_INT_EQ(back->n_tokens, 5);
        for (int i = 0; i < 5; i++) {
            CHECK(strcmp(back->tokens[i], v->tokens[i]) == 0);
            CHECK_INT_EQ(back->types[i], v->types[i]);
        }
        CHECK_INT_EQ(back->bos_id, v->bos_id);
        CHECK_INT_EQ(back->eos_id, v->eos_id);
        CHECK_INT_EQ(back->add_bos, v->add_bos);
        CHECK_INT_EQ(back->add_space_prefix, v->add_space_prefix);
        CHECK(strcmp(back->pre, v->pre) == 0);
        if (kind == FLX_VOCAB_SPM) {
            CHECK(back->scores != NULL);
            for (int i = 0; back->scores && i < 5; i++) CHECK_NEAR(back->scores[i], v->scores[i], 0);
            CHECK_INT_EQ(back->eot_id, -1);
        } else {
            CHECK(back->scores == NULL);
            CHECK_INT_EQ(back->n_merges, 1);
            if (back->n_merges == 1) CHECK(strcmp(back->merges[0], "a b") == 0);
            CHECK_INT_EQ(back->eot_id, 4); /* found by its token text */
        }
        flx_vocab_free(back);
    }
    flx_vocab_free(v);
    remove(path);
}

int main(void) {
    test_round_trip();
    test_writer_errors();
    test_vocab_round_trip(FLX_VOCAB_SPM);
    test_vocab_round_trip(FLX_VOCAB_BPE);
    return flx_check_report("test_gguf_writer");
}
