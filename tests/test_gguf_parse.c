/* GGUF parser on hand-assembled buffers: every metadata value type, nested
 * arrays, alignment, tensor infos, and rejection of malformed headers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "modelio/gguf.h"

typedef struct buffer {
    uint8_t data[8192];
    size_t len;
} buffer;

static void put(buffer *b, const void *p, size_t n) {
    memcpy(b->data + b->len, p, n);
    b->len += n;
}
static void put_u8(buffer *b, uint8_t v) { put(b, &v, 1); }
static void put_u16(buffer *b, uint16_t v) { put(b, &v, 2); }
static void put_u32(buffer *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(buffer *b, uint64_t v) { put(b, &v, 8); }
static void put_str(buffer *b, const char *s) {
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}
static void put_key(buffer *b, const char *key, uint32_t type) {
    put_str(b, key);
    put_u32(b, type);
}
static void put_header(buffer *b, uint32_t version, uint64_t n_tensors, uint64_t n_kvs) {
    put(b, "GGUF", 4);
    put_u32(b, version);
    put_u64(b, n_tensors);
    put_u64(b, n_kvs);
}
static void put_tensor_info(buffer *b, const char *name, uint32_t n_dims, const uint64_t *ne,
                            uint32_t type, uint64_t offset) {
    put_str(b, name);
    put_u32(b, n_dims);
    for (uint32_t i = 0; i < n_dims; i++) put_u64(b, ne[i]);
    put_u32(b, type);
    put_u64(b, offset);
}
static void pad_to(buffer *b, size_t alignment) {
    while (b->len % alignment) put_u8(b, 0);
}

/* A file with one entry of every value type, alignment 64 and two tensors. */
static void build_full(buffer *b, uint32_t version) {
    memset(b, 0, sizeof *b);
    put_header(b, version, 2, 17);
    put_key(b, "t.u8", FLX_GGUF_UINT8), put_u8(b, 200);
    put_key(b, "t.i8", FLX_GGUF_INT8), put_u8(b, (uint8_t)(int8_t)-100);
    put_key(b, "t.u16", FLX_GGUF_UINT16), put_u16(b, 60000);
    put_key(b, "t.i16", FLX_GGUF_INT16), put_u16(b, (uint16_t)(int16_t)-30000);
    put_key(b, "t.u32", FLX_GGUF_UINT32), put_u32(b, 4000000000u);
    put_key(b, "t.i32", FLX_GGUF_INT32), put_u32(b, (uint32_t)(int32_t)-2000000000);
    float f = 1.5f;
    put_key(b, "t.f32", FLX_GGUF_FLOAT32), put(b, &f, 4);
    put_key(b, "t.bool", FLX_GGUF_BOOL), put_u8(b, 1);
    put_key(b, "t.string", FLX_GGUF_STRING), put_str(b, "h\xc3\xa9llo");
    put_key(b, "t.u64", FLX_GGUF_UINT64), put_u64(b, 18000000000000000000ull);
    put_key(b, "t.i64", FLX_GGUF_INT64), put_u64(b, (uint64_t)(int64_t)-9000000000000000000ll);
    double d = -2.25;
    put_key(b, "t.f64", FLX_GGUF_FLOAT64), put(b, &d, 8);
    put_key(b, "t.array_i16", FLX_GGUF_ARRAY), put_u32(b, FLX_GGUF_INT16), put_u64(b, 3);
    put_u16(b, 1), put_u16(b, (uint16_t)(int16_t)-2), put_u16(b, 3);
    put_key(b, "t.array_string", FLX_GGUF_ARRAY), put_u32(b, FLX_GGUF_STRING), put_u64(b, 2);
    put_str(b, "ab"), put_str(b, "");
    /* [[7, 8], [], [9]] as an array of arrays of INT32. */
    put_key(b, "t.nested", FLX_GGUF_ARRAY), put_u32(b, FLX_GGUF_ARRAY), put_u64(b, 3);
    put_u32(b, FLX_GGUF_INT32), put_u64(b, 2), put_u32(b, 7), put_u32(b, 8);
    put_u32(b, FLX_GGUF_INT32), put_u64(b, 0);
    put_u32(b, FLX_GGUF_INT32), put_u64(b, 1), put_u32(b, 9);
    put_key(b, "t.array_bool", FLX_GGUF_ARRAY), put_u32(b, FLX_GGUF_BOOL), put_u64(b, 2);
    put_u8(b, 0), put_u8(b, 1);
    put_key(b, "general.alignment", FLX_GGUF_UINT32), put_u32(b, 64);
    const uint64_t ne_a[2] = {4, 2}, ne_b[1] = {32};
    put_tensor_info(b, "a", 2, ne_a, FLX_GGML_F32, 0);
    put_tensor_info(b, "b", 1, ne_b, FLX_GGML_Q8_0, 64);
    pad_to(b, 64);
    for (int i = 0; i < 8; i++) {
        float x = (float)i;
        put(b, &x, 4);
    }
    pad_to(b, 64);
    for (int i = 0; i < 34; i++) put_u8(b, (uint8_t)i);
}

static void test_all_value_types(uint32_t version) {
    buffer b;
    build_full(&b, version);
    flx_gguf g;
    flx_error err = {{0}};
    CHECK_INT_EQ(flx_gguf_parse(&g, b.data, b.len, "full.gguf", &err), 0);
    if (err.msg[0]) fprintf(stderr, "%s\n", err.msg);
    CHECK_INT_EQ(g.version, version);
    CHECK_INT_EQ(g.n_kvs, 17);
    CHECK_INT_EQ(g.n_tensors, 2);
    CHECK_INT_EQ(g.alignment, 64);

    int64_t i;
    double x;
    int flag;
    flx_gguf_string s;
    CHECK_INT_EQ(flx_gguf_get_int(&g, "t.u8", 0, 1000, &i, "p", &err), 1);
    CHECK_INT_EQ(i, 200);
    CHECK_INT_EQ(flx_gguf_get_int(&g, "t.i8", -1000, 1000, &i, "p", &err), 1);
    CHECK_INT_EQ(i, -100);
    CHECK_INT_EQ(flx_gguf_get_int(&g, "t.u16", 0, 100000, &i, "p", &err), 1);
    CHECK_INT_EQ(i, 60000);
    CHECK_INT_EQ(flx_gguf_get_int(&g, "t.i16", -100000, 0, &i, "p", &err), 1);
    CHECK_INT_EQ(i, -30000);
    CHECK_INT_EQ(flx_gguf_get_int(&g, "t.u32", 0, INT64_MAX, &i, "p", &err), 1);
    CHECK_INT_EQ(i, 4000000000ll);
    CHECK_INT_EQ(flx_gguf_get_int(&g, "t.i32", INT64_MIN, 0, &i, "p", &err), 1);
    CHECK_INT_EQ(i, -2000000000ll);
    CHECK_INT_EQ(flx_gguf_get_float(&g, "t.f32", &x, "p", &err), 1);
    CHECK_NEAR(x, 1.5, 0);
    CHECK_INT_EQ(flx_gguf_get_bool(&g, "t.bool", &flag, "p", &err), 1);
    CHECK_INT_EQ(flag, 1);
    CHECK_INT_EQ(flx_gguf_get_string(&g, "t.string", &s, "p", &err), 1);
    CHECK(flx_gguf_string_eq(s, "h\xc3\xa9llo"));
    const flx_gguf_kv *kv = flx_gguf_find(&g, "t.u64");
    CHECK(kv != NULL);
    if (kv) {
        CHECK_INT_EQ(kv->value.type, FLX_GGUF_UINT64);
        CHECK(kv->value.as.u64 == 18000000000000000000ull);
    }
    CHECK_INT_EQ(flx_gguf_get_int(&g, "t.i64", INT64_MIN, 0, &i, "p", &err), 1);
    CHECK_INT_EQ(i, -9000000000000000000ll);
    CHECK_INT_EQ(flx_gguf_get_float(&g, "t.f64", &x, "p", &err), 1);
    CHECK_NEAR(x, -2.25, 0);

    /* Range and type errors name the key and the value. */
    CHECK_INT_EQ(flx_gguf_get_int(&g, "t.u8", 0, 100, &i, "p", &err), -1);
    CHECK(strstr(err.msg, "t.u8 = 200 is out of range") != NULL);
    CHECK_INT_EQ(flx_gguf_get_int(&g, "t.u64", 0, INT64_MAX, &i, "p", &err), -1);
    CHECK_INT_EQ(flx_gguf_get_int(&g, "t.string", 0, 1, &i, "p", &err), -1);
    CHECK(strstr(err.msg, "t.string has type STRING (expected an integer)") != NULL);
    CHECK_INT_EQ(flx_gguf_get_bool(&g, "t.u8", &flag, "p", &err), -1);
    CHECK_INT_EQ(flx_gguf_get_int(&g, "absent", 0, 1, &i, "p", &err), 0);
    CHECK_INT_EQ(flx_gguf_get_float(&g, "t.u16", &x, "p", &err), 1);
    CHECK_NEAR(x, 60000.0, 0);

    flx_gguf_value arr, elem;
    uint64_t pos = 0;
    CHECK_INT_EQ(flx_gguf_get_array(&g, "t.array_i16", FLX_GGUF_INT16, &arr, "p", &err), 1);
    CHECK_INT_EQ(arr.as.array.count, 3);
    const int64_t want_i16[3] = {1, -2, 3};
    for (int k = 0; k < 3; k++) {
        CHECK_INT_EQ(flx_gguf_array_next(&arr, &pos, &elem), 0);
        CHECK_INT_EQ(elem.as.i64, want_i16[k]);
    }
    CHECK_INT_EQ(flx_gguf_array_next(&arr, &pos, &elem), -1);
    CHECK_INT_EQ(flx_gguf_get_array(&g, "t.array_i16", FLX_GGUF_STRING, &arr, "p", &err), -1);
    CHECK(strstr(err.msg, "array of INT16 (expected STRING)") != NULL);

    CHECK_INT_EQ(flx_gguf_get_array(&g, "t.array_string", FLX_GGUF_STRING, &arr, "p", &err), 1);
    pos = 0;
    CHECK_INT_EQ(flx_gguf_array_next(&arr, &pos, &elem), 0);
    CHECK(flx_gguf_string_eq(elem.as.str, "ab"));
    CHECK_INT_EQ(flx_gguf_array_next(&arr, &pos, &elem), 0);
    CHECK_INT_EQ(elem.as.str.len, 0);

    CHECK_INT_EQ(flx_gguf_get_array(&g, "t.nested", FLX_GGUF_ARRAY, &arr, "p", &err), 1);
    CHECK_INT_EQ(arr.as.array.count, 3);
    pos = 0;
    const int want_counts[3] = {2, 0, 1};
    const int64_t want_values[3] = {7, 8, 9};
    int seen = 0;
    for (int k = 0; k < 3; k++) {
        CHECK_INT_EQ(flx_gguf_array_next(&arr, &pos, &elem), 0);
        CHECK_INT_EQ(elem.type, FLX_GGUF_ARRAY);
        CHECK_INT_EQ(elem.as.array.elem_type, FLX_GGUF_INT32);
        CHECK_INT_EQ(elem.as.array.count, want_counts[k]);
        uint64_t inner_pos = 0;
        flx_gguf_value inner;
        while (flx_gguf_array_next(&elem, &inner_pos, &inner) == 0 && seen < 3)
            CHECK_INT_EQ(inner.as.i64, want_values[seen++]);
    }
    CHECK_INT_EQ(seen, 3);
    CHECK_INT_EQ(pos, arr.as.array.n_bytes);

    const flx_gguf_tensor *a = flx_gguf_find_tensor(&g, "a");
    const flx_gguf_tensor *tb = flx_gguf_find_tensor(&g, "b");
    CHECK(a != NULL);
    CHECK(tb != NULL);
    if (a && tb) {
        CHECK_INT_EQ(g.data_offset % 64, 0);
        CHECK_INT_EQ(a->n_dims, 2);
        CHECK_INT_EQ(a->ne[0], 4);
        CHECK_INT_EQ(a->ne[1], 2);
        CHECK_INT_EQ(a->ne[2], 1);
        CHECK_INT_EQ(a->n_bytes, 32);
        CHECK_INT_EQ(tb->n_bytes, 34);
        CHECK(a->data == b.data + g.data_offset);
        CHECK(tb->data == b.data + g.data_offset + 64);
        float a7;
        memcpy(&a7, a->data + 28, 4);
        CHECK_NEAR(a7, 7.0, 0);
        CHECK_INT_EQ(tb->data[33], 33);
    }
    CHECK(flx_gguf_find_tensor(&g, "c") == NULL);
    flx_gguf_free(&g);
}

/* Every strict prefix of a valid file must be rejected without reading
 * past the prefix (the sanitizer build catches stray reads). */
static void test_every_truncation_rejected(void) {
    buffer b;
    build_full(&b, 3);
    int accepted = 0;
    for (size_t len = 0; len < b.len; len++) {
        uint8_t *copy = malloc(len ? len : 1);
        memcpy(copy, b.data, len);
        flx_gguf g;
        flx_error err;
        if (flx_gguf_parse(&g, copy, len, "cut.gguf", &err) == 0) {
            accepted++;
            flx_gguf_free(&g);
        } else if (strstr(err.msg, "cut.gguf") == NULL) {
            fprintf(stderr, "message without the file name: %s\n", err.msg);
            accepted += 1000;
        }
        free(copy);
    }
    CHECK_INT_EQ(accepted, 0);
}

/* Parses a buffer that must fail with a message containing expected. */
static void expect_error(const buffer *b, const char *expected) {
    flx_gguf g;
    flx_error err = {{0}};
    int rc = flx_gguf_parse(&g, b->data, b->len, "bad.gguf", &err);
    CHECK_INT_EQ(rc, -1);
    if (rc == 0) flx_gguf_free(&g);
    if (!strstr(err.msg, expected)) {
        fprintf(stderr, "expected an error containing \"%s\", got \"%s\"\n", expected, err.msg);
        flx_check_failures++;
    }
}

static void test_header_errors(void) {
    buffer b = {{0}, 0};
    expect_error(&b, "empty file");
    put(&b, "GGML", 4), put_u32(&b, 3);
    expect_error(&b, "not a GGUF file: magic bytes 47 47 4d 4c");
    b.len = 0;
    put_header(&b, 1, 0, 0);
    expect_error(&b, "GGUF version 1 is not supported");
    b.len = 0;
    put(&b, "GGUF", 4), put_u32(&b, 0x03000000u), put_u64(&b, 0), put_u64(&b, 0);
    expect_error(&b, "unsupported GGUF version 50331648");
    b.len = 0;
    put_header(&b, 3, 0, 1);
    b.len -= 3;
    expect_error(&b, "truncated file: header");
    b.len = 0;
    put_header(&b, 3, 0, 1000);
    expect_error(&b, "invalid kv_count 1000");
    b.len = 0;
    put_header(&b, 3, 5, 0);
    expect_error(&b, "invalid tensor_count 5");
}

static void test_metadata_errors(void) {
    buffer b = {{0}, 0};
    put_header(&b, 3, 0, 1);
    put_key(&b, "k", FLX_GGUF_BOOL), put_u8(&b, 2);
    expect_error(&b, "key 'k' has invalid BOOL value 2");

    b.len = 0;
    put_header(&b, 3, 0, 1);
    put_key(&b, "k", 13), put_u64(&b, 0);
    expect_error(&b, "key 'k' has unknown value type 13");

    b.len = 0;
    put_header(&b, 3, 0, 1);
    put_key(&b, "k", FLX_GGUF_ARRAY), put_u32(&b, FLX_GGUF_UINT32), put_u64(&b, 1ull << 60);
    put_u64(&b, 0);
    expect_error(&b, "array 'k' declares 1152921504606846976 UINT32 elements");

    b.len = 0;
    put_header(&b, 3, 0, 1);
    put_key(&b, "k", FLX_GGUF_ARRAY), put_u32(&b, 77), put_u64(&b, 0);
    expect_error(&b, "array 'k' has unknown element type 77");

    /* Nine levels of arrays inside arrays. */
    b.len = 0;
    put_header(&b, 3, 0, 1);
    put_key(&b, "deep", FLX_GGUF_ARRAY);
    for (int level = 0; level < 9; level++) put_u32(&b, FLX_GGUF_ARRAY), put_u64(&b, 1);
    put_u32(&b, FLX_GGUF_UINT8), put_u64(&b, 0);
    expect_error(&b, "nests arrays more than 8 levels deep");

    b.len = 0;
    put_header(&b, 3, 0, 2);
    put_key(&b, "k", FLX_GGUF_UINT8), put_u8(&b, 1);
    put_key(&b, "k", FLX_GGUF_UINT8), put_u8(&b, 2);
    put_u64(&b, 0); /* room so the count check passes */
    expect_error(&b, "duplicate metadata key 'k'");

    b.len = 0;
    put_header(&b, 3, 0, 1);
    put_key(&b, "general.alignment", FLX_GGUF_UINT32), put_u32(&b, 48);
    expect_error(&b, "general.alignment = 48 is invalid");

    b.len = 0;
    put_header(&b, 3, 0, 1);
    put_key(&b, "general.alignment", FLX_GGUF_UINT64), put_u64(&b, 64);
    expect_error(&b, "general.alignment has type UINT64");

    b.len = 0;
    put_header(&b, 3, 0, 1);
    put_u64(&b, 0), put_u32(&b, FLX_GGUF_UINT8), put_u8(&b, 0), put_u8(&b, 0);
    expect_error(&b, "metadata entry 0 has a key of 0 bytes");
}

/* One tensor info after an empty metadata section, plus data bytes. */
static void build_one_tensor(buffer *b, const char *name, uint32_t n_dims, const uint64_t *ne,
                             uint32_t type, uint64_t offset, size_t data_bytes) {
    b->len = 0;
    put_header(b, 3, 1, 0);
    put_tensor_info(b, name, n_dims, ne, type, offset);
    pad_to(b, 32);
    for (size_t i = 0; i < data_bytes; i++) put_u8(b, 0);
}

static void test_tensor_errors(void) {
    buffer b;
    const uint64_t ne[5] = {32, 2, 1, 1, 1};
    build_one_tensor(&b, "w", 2, ne, FLX_GGML_F32, 0, 256);
    flx_gguf g;
    flx_error err;
    CHECK_INT_EQ(flx_gguf_parse(&g, b.data, b.len, "ok.gguf", &err), 0);
    flx_gguf_free(&g);

    build_one_tensor(&b, "w", 2, ne, FLX_GGML_F32, 0, 255);
    expect_error(&b, "tensor 'w' data (offset 0, 256 bytes) runs past the end of the file");
    build_one_tensor(&b, "w", 2, ne, FLX_GGML_F32, 1ull << 62, 256);
    expect_error(&b, "runs past the end of the file");
    build_one_tensor(&b, "w", 2, ne, FLX_GGML_F32, 16, 512);
    expect_error(&b, "tensor 'w' has offset 16, not a multiple of the alignment 32");
    build_one_tensor(&b, "w", 5, ne, FLX_GGML_F32, 0, 256);
    expect_error(&b, "tensor 'w' has n_dims = 5");
    build_one_tensor(&b, "w", 0, ne, FLX_GGML_F32, 0, 256);
    expect_error(&b, "tensor 'w' has n_dims = 0");
    const uint64_t zero[2] = {32, 0};
    build_one_tensor(&b, "w", 2, zero, FLX_GGML_F32, 0, 256);
    expect_error(&b, "tensor 'w' has a zero-sized dimension (ne[1] = 0)");
    const uint64_t huge[3] = {1ull << 40, 1ull << 20, 1ull << 10};
    build_one_tensor(&b, "w", 3, huge, FLX_GGML_F32, 0, 256);
    expect_error(&b, "tensor 'w' has an element count that overflows 64 bits");
    const uint64_t half_block[1] = {16};
    build_one_tensor(&b, "w", 1, half_block, FLX_GGML_Q8_0, 0, 256);
    expect_error(&b, "tensor 'w' of type Q8_0 has rows of 16 values, not a multiple of the block size 32");
    build_one_tensor(&b, "w", 2, ne, 31, 0, 256);
    expect_error(&b, "tensor 'w' has unknown ggml type id 31");
    char long_name[200];
    memset(long_name, 'x', 120);
    long_name[120] = '\0';
    build_one_tensor(&b, long_name, 2, ne, FLX_GGML_F32, 0, 256);
    expect_error(&b, "has a name of 120 bytes (expected 1 to 95)");

    b.len = 0;
    put_header(&b, 3, 2, 0);
    put_tensor_info(&b, "w", 1, ne, FLX_GGML_F32, 0);
    put_tensor_info(&b, "w", 1, ne, FLX_GGML_F32, 128);
    pad_to(&b, 32);
    for (int i = 0; i < 256; i++) put_u8(&b, 0);
    expect_error(&b, "duplicate tensor name 'w'");
}

static void test_type_table(void) {
    uint64_t values, bytes;
    CHECK_INT_EQ(flx_ggml_type_block(12, &values, &bytes), 0);
    CHECK_INT_EQ(values, 256);
    CHECK_INT_EQ(bytes, 144);
    CHECK(strcmp(flx_ggml_type_name(12), "Q4_K") == 0);
    CHECK(strcmp(flx_ggml_type_name(30), "BF16") == 0);
    CHECK(flx_ggml_type_name(4) == NULL);
    CHECK(flx_ggml_type_name(1000) == NULL);
    CHECK_INT_EQ(flx_ggml_type_block(4, &values, &bytes), -1);
    CHECK(flx_ggml_type_supported(FLX_GGML_Q4_0));
    CHECK(!flx_ggml_type_supported(12));
}

int main(void) {
    test_all_value_types(3);
    test_all_value_types(2);
    test_every_truncation_rejected();
    test_header_errors();
    test_metadata_errors();
    test_tensor_errors();
    test_type_table();
    return flx_check_report("test_gguf_parse");
}
