/* GGUF layout: the header ("GGUF", uint32 version, uint64 tensor_count,
 * uint64 kv_count), then kv_count metadata entries (string key, uint32
 * value type, value), then tensor_count tensor infos (string name, uint32
 * n_dims, uint64 ne[n_dims], uint32 ggml type, uint64 offset). The data
 * section follows at the next multiple of general.alignment (default 32).
 * A string is a uint64 byte length and the bytes. An array is a uint32
 * element type, a uint64 count and the elements. */
#include "modelio/gguf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/half.h"
#include "common/strmap.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the GGUF reader assumes a little-endian host"
#endif

typedef struct reader {
    const uint8_t *buf;
    size_t size;
    size_t pos;
    const char *path;
    flx_error *err;
} reader;

/* What a read is for, formatted into a message only when the read fails:
 * "<kind> '<key>'" when key is set, else "<kind> <index>" when index is
 * set, else "<kind>". */
typedef struct field {
    const char *kind;
    const char *key;
    int64_t index; /* -1: none */
} field;

static field plain_field(const char *kind) {
    return (field){kind, NULL, -1};
}

static void describe(char *out, size_t size, field f) {
    if (f.key)
        snprintf(out, size, "%s '%.100s'", f.kind, f.key);
    else if (f.index >= 0)
        snprintf(out, size, "%s %" PRId64, f.kind, f.index);
    else
        snprintf(out, size, "%s", f.kind);
}

static size_t remaining(const reader *r) {
    return r->size - r->pos;
}

static int need(reader *r, uint64_t n, field f) {
    if (n <= remaining(r)) return 0;
    char context[160];
    describe(context, sizeof context, f);
    return flx_fail(r->err,
                    "%s: truncated file: %s at byte %zu needs %" PRIu64
                    " bytes but the file ends after %zu bytes",
                    r->path, context, r->pos, n, r->size);
}

static int read_bytes(reader *r, void *out, size_t n, field f) {
    if (need(r, n, f) != 0) return -1;
    memcpy(out, r->buf + r->pos, n);
    r->pos += n;
    return 0;
}

static int read_u32(reader *r, uint32_t *out, field f) {
    return read_bytes(r, out, sizeof *out, f);
}

static int read_u64(reader *r, uint64_t *out, field f) {
    return read_bytes(r, out, sizeof *out, f);
}

static int read_string(reader *r, flx_gguf_string *out, field f) {
    uint64_t len;
    if (read_u64(r, &len, f) != 0) return -1;
    if (len > remaining(r)) {
        char context[160];
        describe(context, sizeof context, f);
        return flx_fail(r->err,
                        "%s: %s: string length %" PRIu64
                        " at byte %zu runs past the end of the file (%zu bytes); the file is "
                        "truncated or corrupt",
                        r->path, context, len, r->pos - 8, r->size);
    }
    out->ptr = (const char *)(r->buf + r->pos);
    out->len = len;
    r->pos += (size_t)len;
    return 0;
}

/* Encoded size of fixed-size value types, 0 for STRING and ARRAY, -1 for an
 * unknown type. */
static int scalar_size(uint32_t type) {
    switch (type) {
    case FLX_GGUF_UINT8:
    case FLX_GGUF_INT8:
    case FLX_GGUF_BOOL:
        return 1;
    case FLX_GGUF_UINT16:
    case FLX_GGUF_INT16:
        return 2;
    case FLX_GGUF_UINT32:
    case FLX_GGUF_INT32:
    case FLX_GGUF_FLOAT32:
        return 4;
    case FLX_GGUF_UINT64:
    case FLX_GGUF_INT64:
    case FLX_GGUF_FLOAT64:
        return 8;
    case FLX_GGUF_STRING:
    case FLX_GGUF_ARRAY:
        return 0;
    default:
        return -1;
    }
}

const char *flx_gguf_type_name(uint32_t type) {
    static const char *names[] = {"UINT8", "INT8",   "UINT16", "INT16", "UINT32",
                                  "INT32", "FLOAT32", "BOOL",  "STRING", "ARRAY",
                                  "UINT64", "INT64", "FLOAT64"};
    return type < sizeof names / sizeof names[0] ? names[type] : "?";
}

/* Decodes one fixed-size value at p (the caller checked the bounds). */
static void decode_scalar(uint32_t type, const uint8_t *p, flx_gguf_value *v) {
    v->type = (flx_gguf_type)type;
    switch (type) {
    case FLX_GGUF_UINT8:
        v->as.u64 = p[0];
        break;
    case FLX_GGUF_INT8:
        v->as.i64 = (int8_t)p[0];
        break;
    case FLX_GGUF_BOOL:
        v->as.boolean = p[0];
        break;
    case FLX_GGUF_UINT16: {
        uint16_t x;
        memcpy(&x, p, 2);
        v->as.u64 = x;
        break;
    }
    case FLX_GGUF_INT16: {
        int16_t x;
        memcpy(&x, p, 2);
        v->as.i64 = x;
        break;
    }
    case FLX_GGUF_UINT32: {
        uint32_t x;
        memcpy(&x, p, 4);
        v->as.u64 = x;
        break;
    }
    case FLX_GGUF_INT32: {
        int32_t x;
        memcpy(&x, p, 4);
        v->as.i64 = x;
        break;
    }
    case FLX_GGUF_FLOAT32: {
        float x;
        memcpy(&x, p, 4);
        v->as.f64 = x;
        break;
    }
    case FLX_GGUF_UINT64:
        memcpy(&v->as.u64, p, 8);
        break;
    case FLX_GGUF_INT64:
        memcpy(&v->as.i64, p, 8);
        break;
    case FLX_GGUF_FLOAT64:
        memcpy(&v->as.f64, p, 8);
        break;
    default:
        break;
    }
}

/* Reads a value of the given type, checking arrays element by element.
 * key names the entry in messages. */
static int read_value(reader *r, uint32_t type, flx_gguf_value *v, const char *key, int depth) {
    const field f = {"value of key", key, -1};
    int size = scalar_size(type);
    if (size < 0)
        return flx_fail(r->err,
                        "%s: key '%s' has unknown value type %" PRIu32
                        " (expected 0 to 12); the file is corrupt or from a newer GGUF version",
                        r->path, key, type);
    memset(v, 0, sizeof *v);
    v->type = (flx_gguf_type)type;
    if (size > 0) {
        if (need(r, (uint64_t)size, f) != 0) return -1;
        decode_scalar(type, r->buf + r->pos, v);
        if (type == FLX_GGUF_BOOL && v->as.boolean > 1)
            return flx_fail(r->err, "%s: key '%s' has invalid BOOL value %d (expected 0 or 1)",
                            r->path, key, v->as.boolean);
        r->pos += (size_t)size;
        return 0;
    }
    if (type == FLX_GGUF_STRING) return read_string(r, &v->as.str, f);

    uint32_t elem_type;
    uint64_t count;
    if (read_u32(r, &elem_type, f) != 0 || read_u64(r, &count, f) != 0) return -1;
    int elem_size = scalar_size(elem_type);
    if (elem_size < 0)
        return flx_fail(r->err,
                        "%s: array '%s' has unknown element type %" PRIu32 " (expected 0 to 12)",
                        r->path, key, elem_type);
    if (elem_type == FLX_GGUF_ARRAY && depth + 1 >= FLX_GGUF_MAX_NESTING)
        return flx_fail(r->err, "%s: array '%s' nests arrays more than %d levels deep", r->path,
                        key, FLX_GGUF_MAX_NESTING);
    /* Smallest encoding of one element: a string is at least its 8-byte
     * length, a nested array its 12-byte header. */
    uint64_t min_elem = 12;
    if (elem_size > 0)
        min_elem = (uint64_t)elem_size;
    else if (elem_type == FLX_GGUF_STRING)
        min_elem = 8;
    if (count > remaining(r) / min_elem)
        return flx_fail(r->err,
                        "%s: array '%s' declares %" PRIu64
                        " %s elements, more than the remaining %zu bytes can hold; the file is "
                        "truncated or corrupt",
                        r->path, key, count, flx_gguf_type_name(elem_type), remaining(r));
    v->as.array.elem_type = (flx_gguf_type)elem_type;
    v->as.array.count = count;
    v->as.array.data = r->buf + r->pos;
    size_t start = r->pos;
    if (elem_size > 0) {
        if (elem_type == FLX_GGUF_BOOL) {
            for (uint64_t i = 0; i < count; i++)
                if (r->buf[r->pos + i] > 1)
                    return flx_fail(r->err,
                                    "%s: array '%s' element %" PRIu64
                                    " has invalid BOOL value %d (expected 0 or 1)",
                                    r->path, key, i, r->buf[r->pos + i]);
        }
        r->pos += (size_t)(count * (uint64_t)elem_size);
    } else {
        for (uint64_t i = 0; i < count; i++) {
            flx_gguf_value elem;
            if (read_value(r, elem_type, &elem, key, depth + 1) != 0) return -1;
        }
    }
    v->as.array.n_bytes = r->pos - start;
    return 0;
}

int flx_gguf_array_next(const flx_gguf_value *array, uint64_t *pos, flx_gguf_value *elem) {
    if (array->type != FLX_GGUF_ARRAY || *pos >= array->as.array.n_bytes) return -1;
    reader r = {array->as.array.data, (size_t)array->as.array.n_bytes, (size_t)*pos, "", NULL};
    if (read_value(&r, array->as.array.elem_type, elem, "", 1) != 0) return -1;
    *pos = r.pos;
    return 0;
}

/* ggml tensor types that a GGUF file may hold, with the block geometry the
 * bounds checks need. Only some of them are dequantized. */
typedef struct ggml_type_info {
    const char *name;
    uint32_t block_values;
    uint32_t block_bytes;
} ggml_type_info;

static const ggml_type_info ggml_types[] = {
    [0] = {"F32", 1, 4},        [1] = {"F16", 1, 2},        [2] = {"Q4_0", 32, 18},
    [3] = {"Q4_1", 32, 20},     [6] = {"Q5_0", 32, 22},     [7] = {"Q5_1", 32, 24},
    [8] = {"Q8_0", 32, 34},     [9] = {"Q8_1", 32, 36},     [10] = {"Q2_K", 256, 84},
    [11] = {"Q3_K", 256, 110},  [12] = {"Q4_K", 256, 144},  [13] = {"Q5_K", 256, 176},
    [14] = {"Q6_K", 256, 210},  [15] = {"Q8_K", 256, 292},  [16] = {"IQ2_XXS", 256, 66},
    [17] = {"IQ2_XS", 256, 74}, [18] = {"IQ3_XXS", 256, 98}, [19] = {"IQ1_S", 256, 50},
    [20] = {"IQ4_NL", 32, 18},  [21] = {"IQ3_S", 256, 110}, [22] = {"IQ2_S", 256, 82},
    [23] = {"IQ4_XS", 256, 136}, [24] = {"I8", 1, 1},       [25] = {"I16", 1, 2},
    [26] = {"I32", 1, 4},       [27] = {"I64", 1, 8},       [28] = {"F64", 1, 8},
    [29] = {"IQ1_M", 256, 56},  [30] = {"BF16", 1, 2},      [34] = {"TQ1_0", 256, 54},
    [35] = {"TQ2_0", 256, 66},
};

const char *flx_ggml_type_name(uint32_t type) {
    return type < sizeof ggml_types / sizeof ggml_types[0] ? ggml_types[type].name : NULL;
}

int flx_ggml_type_block(uint32_t type, uint64_t *block_values, uint64_t *block_bytes) {
    if (!flx_ggml_type_name(type)) return -1;
    *block_values = ggml_types[type].block_values;
    *block_bytes = ggml_types[type].block_bytes;
    return 0;
}

int flx_ggml_type_supported(uint32_t type) {
    return type == FLX_GGML_F32 || type == FLX_GGML_F16 || type == FLX_GGML_BF16 ||
           type == FLX_GGML_Q8_0 || type == FLX_GGML_Q4_0;
}

static uint16_t load_u16(const uint8_t *p) {
    uint16_t x;
    memcpy(&x, p, 2);
    return x;
}

int flx_ggml_dequantize(uint32_t type, const uint8_t *src, float *dst, uint64_t n) {
    switch (type) {
    case FLX_GGML_F32:
        memcpy(dst, src, (size_t)n * 4);
        return 0;
    case FLX_GGML_F16:
        for (uint64_t i = 0; i < n; i++) dst[i] = flx_f16_to_f32(load_u16(src + 2 * i));
        return 0;
    case FLX_GGML_BF16:
        for (uint64_t i = 0; i < n; i++) dst[i] = flx_bf16_to_f32(load_u16(src + 2 * i));
        return 0;
    case FLX_GGML_Q8_0:
        /* Block: fp16 scale d, then 32 int8 q, and x = d * q. */
        for (uint64_t b = 0; b < n / 32; b++) {
            const uint8_t *block = src + 34 * b;
            float d = flx_f16_to_f32(load_u16(block));
            for (int j = 0; j < 32; j++) dst[32 * b + j] = d * (float)(int8_t)block[2 + j];
        }
        return 0;
    case FLX_GGML_Q4_0:
        /* Block: fp16 scale d, then 16 bytes. The low nibbles hold values
         * 0..15 and the high nibbles values 16..31, each offset by 8. */
        for (uint64_t b = 0; b < n / 32; b++) {
            const uint8_t *block = src + 18 * b;
            float d = flx_f16_to_f32(load_u16(block));
            for (int j = 0; j < 16; j++) {
                int byte = block[2 + j];
                dst[32 * b + j] = (float)((byte & 0x0f) - 8) * d;
                dst[32 * b + j + 16] = (float)((byte >> 4) - 8) * d;
            }
        }
        return 0;
    default:
        return -1;
    }
}

static int read_tensor_info(reader *r, flx_gguf_tensor *t, uint64_t index) {
    if (read_string(r, &t->name, (field){"name of tensor", NULL, (int64_t)index}) != 0) return -1;
    if (t->name.len == 0 || t->name.len > FLX_GGUF_MAX_NAME)
        return flx_fail(r->err, "%s: tensor %" PRIu64 " has a name of %" PRIu64
                                " bytes (expected 1 to %d)",
                        r->path, index, t->name.len, FLX_GGUF_MAX_NAME);

    const char *name = t->name.ptr;
    int name_len = (int)t->name.len;
    const field f = {"info of tensor", NULL, (int64_t)index};
    if (read_u32(r, &t->n_dims, f) != 0) return -1;
    if (t->n_dims < 1 || t->n_dims > FLX_GGUF_MAX_DIMS)
        return flx_fail(r->err, "%s: tensor '%.*s' has n_dims = %" PRIu32 " (expected 1 to %d)",
                        r->path, name_len, name, t->n_dims, FLX_GGUF_MAX_DIMS);

    t->n_elements = 1;
    for (uint32_t d = 0; d < FLX_GGUF_MAX_DIMS; d++) t->ne[d] = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        if (read_u64(r, &t->ne[d], f) != 0) return -1;
        if (t->ne[d] == 0)
            return flx_fail(r->err, "%s: tensor '%.*s' has a zero-sized dimension (ne[%" PRIu32 "] = 0)",
                            r->path, name_len, name, d);
        if (t->ne[d] > (uint64_t)INT64_MAX / t->n_elements)
            return flx_fail(r->err,
                            "%s: tensor '%.*s' has an element count that overflows 64 bits "
                            "(ne[%" PRIu32 "] = %" PRIu64 ")",
                            r->path, name_len, name, d, t->ne[d]);
        t->n_elements *= t->ne[d];
    }

    if (read_u32(r, &t->type, f) != 0 || read_u64(r, &t->offset, f) != 0) return -1;
    uint64_t block_values, block_bytes;
    if (flx_ggml_type_block(t->type, &block_values, &block_bytes) != 0)
        return flx_fail(r->err, "%s: tensor '%.*s' has unknown ggml type id %" PRIu32, r->path,
                        name_len, name, t->type);
    if (t->ne[0] % block_values != 0)
        return flx_fail(r->err,
                        "%s: tensor '%.*s' of type %s has rows of %" PRIu64
                        " values, not a multiple of the block size %" PRIu64,
                        r->path, name_len, name, flx_ggml_type_name(t->type), t->ne[0],
                        block_values);

    uint64_t blocks = t->n_elements / block_values;
    if (blocks > UINT64_MAX / block_bytes)
        return flx_fail(r->err, "%s: tensor '%.*s' has a byte size that overflows 64 bits",
                        r->path, name_len, name);
    t->n_bytes = blocks * block_bytes;
    return 0;
}

static int check_unique(flx_strmap *map, const char *ptr, uint64_t len, const char *kind,
                        const reader *r) {
    if (flx_strmap_get(map, ptr, (uint32_t)len) >= 0)
        return flx_fail(r->err, "%s: duplicate %s '%.*s'", r->path, kind, (int)(len > 200 ? 200 : len),
                        ptr);
    if (flx_strmap_put(map, ptr, (uint32_t)len, 1) != 0)
        return flx_fail(r->err, "%s: internal error: %s table full", r->path, kind);
    return 0;
}

static int parse_header(reader *r, flx_gguf *g, uint64_t *n_tensors, uint64_t *n_kvs) {
    if (r->size == 0)
        return flx_fail(r->err, "%s: empty file (0 bytes), not a GGUF model", r->path);

    uint8_t magic[4] = {0};
    memcpy(magic, r->buf, r->size < 4 ? r->size : 4);
    if (r->size < 4 || memcmp(magic, "GGUF", 4) != 0)
        return flx_fail(r->err,
                        "%s: not a GGUF file: magic bytes %02x %02x %02x %02x, expected \"GGUF\"",
                        r->path, magic[0], magic[1], magic[2], magic[3]);

    r->pos = 4;
    if (read_u32(r, &g->version, plain_field("header")) != 0) return -1;
    if (g->version == 1)
        return flx_fail(r->err,
                        "%s: GGUF version 1 is not supported (it used 32-bit counts); convert "
                        "the model again with a current llama.cpp",
                        r->path);
    if (g->version != 2 && g->version != 3)
        return flx_fail(r->err,
                        "%s: unsupported GGUF version %" PRIu32
                        " (expected 2 or 3; a big-endian file shows as 33554432 or 50331648)",
                        r->path, g->version);

    if (read_u64(r, n_tensors, plain_field("header")) != 0 || read_u64(r, n_kvs, plain_field("header")) != 0)
        return -1;
    /* Smallest encodings: a metadata entry takes 14 bytes (key length, one
     * key byte, type, one value byte). A tensor info takes 33 bytes (name
     * length, one name byte, n_dims, one dimension, type, offset). */
    if (*n_kvs > FLX_GGUF_MAX_KVS || *n_kvs > remaining(r) / 14)
        return flx_fail(r->err,
                        "%s: invalid kv_count %" PRIu64
                        " in the header: the remaining %zu bytes cannot hold that many metadata "
                        "entries (limit %u); the file is truncated or corrupt",
                        r->path, *n_kvs, remaining(r), FLX_GGUF_MAX_KVS);
    if (*n_tensors > FLX_GGUF_MAX_TENSORS || *n_tensors > remaining(r) / 33)
        return flx_fail(r->err,
                        "%s: invalid tensor_count %" PRIu64
                        " in the header: the remaining %zu bytes cannot hold that many tensor "
                        "infos (limit %u); the file is truncated or corrupt",
                        r->path, *n_tensors, remaining(r), FLX_GGUF_MAX_TENSORS);
    return 0;
}

static int parse_metadata(reader *r, flx_gguf *g, uint64_t n_kvs) {
    g->kvs = flx_calloc((size_t)n_kvs, sizeof *g->kvs, r->err);
    if (!g->kvs) return -1;
    flx_strmap keys;
    if (flx_strmap_init(&keys, (size_t)n_kvs, r->err) != 0) return -1;
    int rc = 0;
    for (uint64_t i = 0; i < n_kvs && rc == 0; i++) {
        flx_gguf_kv *kv = &g->kvs[i];
        const field f = {"key of metadata entry", NULL, (int64_t)i};
        uint32_t type;
        if (read_string(r, &kv->key, f) != 0 || read_u32(r, &type, f) != 0) {
            rc = -1;
            break;
        }
        if (kv->key.len == 0 || kv->key.len > 1024) {
            rc = flx_fail(r->err, "%s: metadata entry %" PRIu64 " has a key of %" PRIu64
                                  " bytes (expected 1 to 1024)",
                          r->path, i, kv->key.len);
            break;
        }
        char key[1025];
        memcpy(key, kv->key.ptr, (size_t)kv->key.len);
        key[kv->key.len] = '\0';
        rc = check_unique(&keys, kv->key.ptr, kv->key.len, "metadata key", r);
        if (rc == 0) rc = read_value(r, type, &kv->value, key, 0);
        g->n_kvs = i + 1;
    }
    flx_strmap_free(&keys);
    return rc;
}

static int parse_alignment(reader *r, flx_gguf *g) {
    g->alignment = FLX_GGUF_DEFAULT_ALIGNMENT;
    const flx_gguf_kv *kv = flx_gguf_find(g, "general.alignment");
    if (!kv) return 0;
    if (kv->value.type != FLX_GGUF_UINT32)
        return flx_fail(r->err, "%s: general.alignment has type %s (expected UINT32)", r->path,
                        flx_gguf_type_name(kv->value.type));
    uint64_t a = kv->value.as.u64;
    if (a == 0 || (a & (a - 1)) != 0)
        return flx_fail(r->err, "%s: general.alignment = %" PRIu64 " is invalid (expected a power of two)",
                        r->path, a);
    g->alignment = a;
    return 0;
}

static int parse_tensor_infos(reader *r, flx_gguf *g, uint64_t n_tensors) {
    g->tensors = flx_calloc((size_t)n_tensors, sizeof *g->tensors, r->err);
    if (!g->tensors) return -1;
    flx_strmap names;
    if (flx_strmap_init(&names, (size_t)n_tensors, r->err) != 0) return -1;
    int rc = 0;
    for (uint64_t i = 0; i < n_tensors && rc == 0; i++) {
        rc = read_tensor_info(r, &g->tensors[i], i);
        if (rc == 0) rc = check_unique(&names, g->tensors[i].name.ptr, g->tensors[i].name.len, "tensor name", r);
        g->n_tensors = i + 1;
    }
    flx_strmap_free(&names);
    return rc;
}

/* Checks that every tensor's data is aligned and inside the data section,
 * and points it into the buffer. */
static int locate_tensor_data(reader *r, flx_gguf *g) {
    uint64_t header_end = r->pos;
    g->data_offset = (header_end + g->alignment - 1) / g->alignment * g->alignment;
    if (g->n_tensors == 0) return 0;
    uint64_t data_size = g->data_offset <= r->size ? r->size - g->data_offset : 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        flx_gguf_tensor *t = &g->tensors[i];
        int name_len = (int)t->name.len;
        if (t->offset % g->alignment != 0)
            return flx_fail(r->err,
                            "%s: tensor '%.*s' has offset %" PRIu64
                            ", not a multiple of the alignment %" PRIu64,
                            r->path, name_len, t->name.ptr, t->offset, g->alignment);
        if (t->offset > data_size || t->n_bytes > data_size - t->offset)
            return flx_fail(r->err,
                            "%s: tensor '%.*s' data (offset %" PRIu64 ", %" PRIu64
                            " bytes) runs past the end of the file: the data section at byte %" PRIu64
                            " holds %" PRIu64 " bytes; the file is truncated or corrupt",
                            r->path, name_len, t->name.ptr, t->offset, t->n_bytes, g->data_offset,
                            data_size);
        t->data = r->buf + g->data_offset + t->offset;
    }
    return 0;
}

int flx_gguf_parse(flx_gguf *g, const uint8_t *buffer, size_t size, const char *path,
                   flx_error *err) {
    memset(g, 0, sizeof *g);
    g->buffer = buffer;
    g->size = size;
    reader r = {buffer, size, 0, path, err};
    uint64_t n_tensors = 0, n_kvs = 0;
    if (parse_header(&r, g, &n_tensors, &n_kvs) != 0 || parse_metadata(&r, g, n_kvs) != 0 ||
        parse_alignment(&r, g) != 0 || parse_tensor_infos(&r, g, n_tensors) != 0 ||
        locate_tensor_data(&r, g) != 0) {
        flx_gguf_free(g);
        return -1;
    }
    return 0;
}

void flx_gguf_free(flx_gguf *g) {
    free(g->kvs);
    free(g->tensors);
    memset(g, 0, sizeof *g);
}

int flx_gguf_string_eq(flx_gguf_string s, const char *text) {
    size_t n = strlen(text);
    return s.len == n && memcmp(s.ptr, text, n) == 0;
}

const flx_gguf_kv *flx_gguf_find(const flx_gguf *g, const char *key) {
    for (uint64_t i = 0; i < g->n_kvs; i++)
        if (flx_gguf_string_eq(g->kvs[i].key, key)) return &g->kvs[i];
    return NULL;
}

const flx_gguf_tensor *flx_gguf_find_tensor(const flx_gguf *g, const char *name) {
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (flx_gguf_string_eq(g->tensors[i].name, name)) return &g->tensors[i];
    return NULL;
}

static int is_unsigned(flx_gguf_type t) {
    return t == FLX_GGUF_UINT8 || t == FLX_GGUF_UINT16 || t == FLX_GGUF_UINT32 ||
           t == FLX_GGUF_UINT64;
}

static int is_signed(flx_gguf_type t) {
    return t == FLX_GGUF_INT8 || t == FLX_GGUF_INT16 || t == FLX_GGUF_INT32 || t == FLX_GGUF_INT64;
}

int flx_gguf_get_int(const flx_gguf *g, const char *key, int64_t min, int64_t max, int64_t *out,
                     const char *path, flx_error *err) {
    const flx_gguf_kv *kv = flx_gguf_find(g, key);
    if (!kv) return 0;
    const flx_gguf_value *v = &kv->value;
    if (is_unsigned(v->type)) {
        if (v->as.u64 > (uint64_t)INT64_MAX || (int64_t)v->as.u64 < min || (int64_t)v->as.u64 > max)
            return flx_fail(err, "%s: %s = %" PRIu64 " is out of range (expected %" PRId64 " to %" PRId64 ")",
                            path, key, v->as.u64, min, max);
        *out = (int64_t)v->as.u64;
        return 1;
    }
    if (is_signed(v->type)) {
        if (v->as.i64 < min || v->as.i64 > max)
            return flx_fail(err, "%s: %s = %" PRId64 " is out of range (expected %" PRId64 " to %" PRId64 ")",
                            path, key, v->as.i64, min, max);
        *out = v->as.i64;
        return 1;
    }
    return flx_fail(err, "%s: %s has type %s (expected an integer)", path, key,
                    flx_gguf_type_name(v->type));
}

int flx_gguf_get_float(const flx_gguf *g, const char *key, double *out, const char *path,
                       flx_error *err) {
    const flx_gguf_kv *kv = flx_gguf_find(g, key);
    if (!kv) return 0;
    const flx_gguf_value *v = &kv->value;
    if (v->type == FLX_GGUF_FLOAT32 || v->type == FLX_GGUF_FLOAT64)
        *out = v->as.f64;
    else if (is_unsigned(v->type))
        *out = (double)v->as.u64;
    else if (is_signed(v->type))
        *out = (double)v->as.i64;
    else
        return flx_fail(err, "%s: %s has type %s (expected a number)", path, key,
                        flx_gguf_type_name(v->type));
    return 1;
}

int flx_gguf_get_bool(const flx_gguf *g, const char *key, int *out, const char *path,
                      flx_error *err) {
    const flx_gguf_kv *kv = flx_gguf_find(g, key);
    if (!kv) return 0;
    if (kv->value.type != FLX_GGUF_BOOL)
        return flx_fail(err, "%s: %s has type %s (expected BOOL)", path, key,
                        flx_gguf_type_name(kv->value.type));
    *out = kv->value.as.boolean;
    return 1;
}

int flx_gguf_get_string(const flx_gguf *g, const char *key, flx_gguf_string *out,
                        const char *path, flx_error *err) {
    const flx_gguf_kv *kv = flx_gguf_find(g, key);
    if (!kv) return 0;
    if (kv->value.type != FLX_GGUF_STRING)
        return flx_fail(err, "%s: %s has type %s (expected STRING)", path, key,
                        flx_gguf_type_name(kv->value.type));
    *out = kv->value.as.str;
    return 1;
}

int flx_gguf_get_array(const flx_gguf *g, const char *key, int elem_type, flx_gguf_value *out,
                       const char *path, flx_error *err) {
    const flx_gguf_kv *kv = flx_gguf_find(g, key);
    if (!kv) return 0;
    if (kv->value.type != FLX_GGUF_ARRAY)
        return flx_fail(err, "%s: %s has type %s (expected ARRAY)", path, key,
                        flx_gguf_type_name(kv->value.type));
    if (elem_type >= 0 && kv->value.as.array.elem_type != (flx_gguf_type)elem_type)
        return flx_fail(err, "%s: %s is an array of %s (expected %s)", path, key,
                        flx_gguf_type_name(kv->value.as.array.elem_type),
                        flx_gguf_type_name((uint32_t)elem_type));
    *out = kv->value;
    return 1;
}
