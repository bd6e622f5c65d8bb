/* The safetensors parser on hand-built buffers: a valid file with metadata
 * and padding, then one buffer per validation rule. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "modelio/safetensors.h"

#define NAME "mem.safetensors"

/* Builds length field + header + n_data bytes of data (value i at byte i). */
static uint8_t *build(const char *header, size_t header_len, uint64_t length_field,
                      size_t n_data, size_t *size) {
    *size = 8 + header_len + n_data;
    uint8_t *buf = malloc(*size);
    if (!buf) exit(1);
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)(length_field >> (8 * i));
    memcpy(buf + 8, header, header_len);
    for (size_t i = 0; i < n_data; i++) buf[8 + header_len + i] = (uint8_t)i;
    return buf;
}

/* Parses a buffer that must be rejected with a message containing fragment
 * and the file name. */
static void expect_error(const char *case_name, const char *header, size_t header_len,
                         uint64_t length_field, size_t n_data, const char *fragment) {
    size_t size;
    uint8_t *buf = build(header, header_len, length_field, n_data, &size);
    flx_st_file st;
    flx_error err = {{0}};
    int rc = flx_st_parse(&st, buf, size, NAME, &err);
    if (rc == 0 || !strstr(err.msg, fragment) || !strstr(err.msg, NAME))
        fprintf(stderr, "case %s: rc %d, message \"%s\", expected \"%s\"\n", case_name, rc, err.msg,
                fragment);
    CHECK_INT_EQ(rc, -1);
    CHECK(strstr(err.msg, fragment) != NULL);
    CHECK(strstr(err.msg, NAME) != NULL);
    free(buf);
}

static void expect_header_error(const char *case_name, const char *header, size_t n_data,
                                const char *fragment) {
    expect_error(case_name, header, strlen(header), strlen(header), n_data, fragment);
}

static void test_valid(void) {
    /* Two tensors given out of order, metadata, and space padding. */
    const char *header =
        "{\"b\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[24,30]},"
        "\"__metadata__\":{\"format\":\"pt\",\"note\":\"x\"},"
        "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
        "\"scalar\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[30,38]},"
        "\"empty\":{\"dtype\":\"BF16\",\"shape\":[0,5],\"data_offsets\":[38,38]}}   ";
    size_t size;
    uint8_t *buf = build(header, strlen(header), strlen(header), 38, &size);
    flx_st_file st;
    flx_error err = {{0}};
    int rc = flx_st_parse(&st, buf, size, NAME, &err);
    if (rc != 0) fprintf(stderr, "valid file rejected: %s\n", err.msg);
    CHECK_INT_EQ(rc, 0);
    if (rc != 0) {
        free(buf);
        return;
    }
    CHECK_INT_EQ(st.n_tensors, 4);
    CHECK_INT_EQ(st.data_offset, 8 + strlen(header));
    CHECK_INT_EQ(st.data_size, 38);
    CHECK(st.data == buf + 8 + strlen(header));
    CHECK_INT_EQ(st.n_metadata, 2);
    if (st.n_metadata == 2) {
        CHECK(strcmp(st.metadata[0].key, "format") == 0);
        CHECK(strcmp(st.metadata[0].value, "pt") == 0);
    }

    const flx_st_tensor *a = flx_st_find(&st, "a");
    CHECK(a != NULL);
    if (a) {
        CHECK_INT_EQ(a->dtype, FLX_ST_F32);
        CHECK_INT_EQ(a->n_dims, 2);
        CHECK_INT_EQ(a->shape[0], 2);
        CHECK_INT_EQ(a->shape[1], 3);
        CHECK_INT_EQ(a->begin, 0);
        CHECK_INT_EQ(a->end, 24);
    }
    const flx_st_tensor *b = flx_st_find(&st, "b");
    CHECK(b != NULL);
    if (b) {
        CHECK_INT_EQ(b->dtype, FLX_ST_F16);
        CHECK_INT_EQ(b->n_dims, 1);
        CHECK_INT_EQ(b->begin, 24);
        CHECK_INT_EQ(st.data[b->begin], 24); /* build() writes byte i as i */
    }
    const flx_st_tensor *scalar = flx_st_find(&st, "scalar");
    CHECK(scalar != NULL);
    if (scalar) {
        CHECK_INT_EQ(scalar->n_dims, 0);
        CHECK_INT_EQ(scalar->dtype, FLX_ST_I64);
    }
    CHECK(flx_st_find(&st, "missing") == NULL);
    CHECK(flx_st_find(&st, "__metadata__") == NULL);
    flx_st_free(&st);
    free(buf);

    CHECK_INT_EQ(flx_st_dtype_size(FLX_ST_BF16), 2);
    CHECK_INT_EQ(flx_st_dtype_size(FLX_ST_F64), 8);
    CHECK(strcmp(flx_st_dtype_name(FLX_ST_F8_E4M3), "F8_E4M3") == 0);

    /* An empty header object padded to 8 bytes, as Hugging Face's writer
     * pads it, with no data is a valid, empty file. */
    buf = build("{}      ", 8, 8, 0, &size);
    rc = flx_st_parse(&st, buf, size, NAME, &err);
    CHECK_INT_EQ(rc, 0);
    if (rc == 0) {
        CHECK_INT_EQ(st.n_tensors, 0);
        flx_st_free(&st);
    }
    free(buf);
}

static void test_header_framing(void) {
    uint8_t short_buf[5] = {0};
    flx_st_file st;
    flx_error err = {{0}};
    CHECK_INT_EQ(flx_st_parse(&st, short_buf, sizeof short_buf, NAME, &err), -1);
    CHECK(strstr(err.msg, "too short") != NULL);

    expect_error("length past end", "{}", 2, 1000, 0, "runs past the end of the file");
    expect_error("absurd length", "{}", 2, 1ull << 40, 0, "exceeds the limit");
    expect_error("length 2^64-1", "{}", 2, UINT64_MAX, 0, "exceeds the limit");
    expect_error("length cuts JSON", "{\"a\":1}", 7, 3, 5, "invalid JSON");
    expect_error("NUL in header", "{} \0 ", 5, 5, 0, "NUL byte at offset 3");
}

static void test_json_errors(void) {
    expect_header_error("truncated JSON", "{\"a\": [1, 2", 0, "invalid JSON");
    expect_header_error("not an object", "[1, 2, 3]", 0, "not an object");
    expect_header_error("trailing text", "{}  x", 0, "unexpected text after the object");
    expect_header_error("tensor not an object", "{\"w\": 5}", 0, "tensor w is not a JSON object");
    expect_header_error("metadata not strings", "{\"__metadata__\":{\"n\":5}}", 0,
                        "\"__metadata__\" entry \"n\" is not a string");
    expect_header_error("metadata not an object", "{\"__metadata__\":[1]}", 0,
                        "\"__metadata__\" is not an object");
    expect_header_error(
        "duplicate name",
        "{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
        "\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
        2, "tensor w appears twice");
}

static void test_tensor_errors(void) {
    expect_header_error("unknown dtype",
                        "{\"w\":{\"dtype\":\"Q4_K\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4,
                        "tensor w: unknown dtype \"Q4_K\"");
    expect_header_error("missing dtype", "{\"w\":{\"shape\":[4],\"data_offsets\":[0,4]}}", 4,
                        "tensor w: missing or non-string \"dtype\"");
    expect_header_error("missing shape", "{\"w\":{\"dtype\":\"U8\",\"data_offsets\":[0,4]}}", 4,
                        "tensor w: missing or non-array \"shape\"");
    expect_header_error("negative dimension",
                        "{\"w\":{\"dtype\":\"U8\",\"shape\":[-4],\"data_offsets\":[0,4]}}", 4,
                        "shape entry 0 is not a non-negative integer");
    expect_header_error("fractional dimension",
                        "{\"w\":{\"dtype\":\"U8\",\"shape\":[2,1.5],\"data_offsets\":[0,3]}}", 3,
                        "shape entry 1 is not a non-negative integer");
    expect_header_error(
        "too many dimensions",
        "{\"w\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1,
        "has 9 dimensions");
    expect_header_error("one offset", "{\"w\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4]}}",
                        4, "must be an array of two");
    expect_header_error("string offset",
                        "{\"w\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[\"0\",4]}}", 4,
                        "must be an array of two");
    expect_header_error("end before begin",
                        "{\"w\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,0]}}", 4,
                        "tensor w: data_offsets [4, 0) end before they begin");

    expect_header_error("offsets past end",
                        "{\"w\":{\"dtype\":\"U8\",\"shape\":[64],\"data_offsets\":[0,64]}}", 16,
                        "run past the end of the data section (16 bytes)");
    expect_header_error("size mismatch",
                        "{\"w\":{\"dtype\":\"F32\",\"shape\":[4,4],\"data_offsets\":[0,60]}}", 60,
                        "hold 60 bytes, but F32 shape [4, 4] needs 64 bytes");
    expect_header_error(
        "shape overflow",
        "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", 4,
        "more than 2^64 bytes");
}

static void test_layout_errors(void) {
    expect_header_error("overlap",
                        "{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
                        "\"b\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[4,12]}}",
                        12, "tensor b: data_offsets [4, 12) overlap tensor a");
    expect_header_error("same range",
                        "{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
                        "\"b\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]}}",
                        8, "overlap");
    expect_header_error("gap",
                        "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                        "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[8,12]}}",
                        12, "tensor b: data_offsets [8, 12) leave a gap");
    expect_header_error("trailing bytes",
                        "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 10,
                        "data section has 10 bytes but its tensors cover only 4");
}

int main(void) {
    test_valid();
    test_header_framing();
    test_json_errors();
    test_tensor_errors();
    test_layout_errors();
    return flx_check_report("test_safetensors_parse");
}
