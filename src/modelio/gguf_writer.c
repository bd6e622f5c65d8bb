#include "modelio/gguf_writer.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/half.h"

static int writer_fail(flx_gguf_writer *w) {
    w->failed = 1;
    return -1;
}

void flx_gguf_writer_init(flx_gguf_writer *w, FILE *file, const char *path, flx_error *err) {
    memset(w, 0, sizeof *w);
    w->file = file;
    w->path = path;
    w->err = err;
    w->alignment = FLX_GGUF_DEFAULT_ALIGNMENT;
}

void flx_gguf_writer_free(flx_gguf_writer *w) {
    free(w->meta);
    free(w->tensors);
    w->meta = NULL;
    w->tensors = NULL;
}

static int meta_append(flx_gguf_writer *w, const void *bytes, size_t n) {
    if (w->failed) return -1;
    if (w->header_written) {
        flx_fail(w->err, "%s: metadata set after the header was written", w->path);
        return writer_fail(w);
    }
    if (w->meta_len + n > w->meta_cap) {
        size_t cap = w->meta_cap ? w->meta_cap : 4096;
        while (cap < w->meta_len + n) cap *= 2;
        uint8_t *grown = realloc(w->meta, cap);
        if (!grown) {
            flx_fail(w->err, "%s: out of memory for %zu bytes of metadata", w->path, cap);
            return writer_fail(w);
        }
        w->meta = grown;
        w->meta_cap = cap;
    }
    memcpy(w->meta + w->meta_len, bytes, n);
    w->meta_len += n;
    return 0;
}

int flx_gguf_writer_put_string(flx_gguf_writer *w, const char *s, uint64_t len) {
    if (meta_append(w, &len, sizeof len) != 0) return -1;
    return meta_append(w, s, (size_t)len);
}

static int scalar_bytes(flx_gguf_type type) {
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
    default:
        return 0;
    }
}

int flx_gguf_writer_put_scalar(flx_gguf_writer *w, flx_gguf_type type, const void *value) {
    int n = scalar_bytes(type);
    if (n == 0) {
        flx_fail(w->err, "%s: put_scalar called with non-scalar type %s", w->path,
                 flx_gguf_type_name(type));
        return writer_fail(w);
    }
    return meta_append(w, value, (size_t)n);
}

int flx_gguf_writer_put_array_header(flx_gguf_writer *w, flx_gguf_type elem_type, uint64_t count) {
    uint32_t t = (uint32_t)elem_type;
    if (meta_append(w, &t, sizeof t) != 0) return -1;
    return meta_append(w, &count, sizeof count);
}

int flx_gguf_writer_begin_key(flx_gguf_writer *w, const char *key, flx_gguf_type type) {
    uint32_t t = (uint32_t)type;
    if (flx_gguf_writer_put_string(w, key, strlen(key)) != 0) return -1;
    if (meta_append(w, &t, sizeof t) != 0) return -1;
    w->n_kvs++;
    return 0;
}

static int set_scalar(flx_gguf_writer *w, const char *key, flx_gguf_type type, const void *value) {
    if (flx_gguf_writer_begin_key(w, key, type) != 0) return -1;
    return flx_gguf_writer_put_scalar(w, type, value);
}

int flx_gguf_writer_set_u8(flx_gguf_writer *w, const char *key, uint8_t value) {
    return set_scalar(w, key, FLX_GGUF_UINT8, &value);
}
int flx_gguf_writer_set_i8(flx_gguf_writer *w, const char *key, int8_t value) {
    return set_scalar(w, key, FLX_GGUF_INT8, &value);
}
int flx_gguf_writer_set_u16(flx_gguf_writer *w, const char *key, uint16_t value) {
    return set_scalar(w, key, FLX_GGUF_UINT16, &value);
}
int flx_gguf_writer_set_i16(flx_gguf_writer *w, const char *key, int16_t value) {
    return set_scalar(w, key, FLX_GGUF_INT16, &value);
}
int flx_gguf_writer_set_u32(flx_gguf_writer *w, const char *key, uint32_t value) {
    return set_scalar(w, key, FLX_GGUF_UINT32, &value);
}
int flx_gguf_writer_set_i32(flx_gguf_writer *w, const char *key, int32_t value) {
    return set_scalar(w, key, FLX_GGUF_INT32, &value);
}
int flx_gguf_writer_set_f32(flx_gguf_writer *w, const char *key, float value) {
    return set_scalar(w, key, FLX_GGUF_FLOAT32, &value);
}
int flx_gguf_writer_set_bool(flx_gguf_writer *w, const char *key, bool value) {
    uint8_t b = value ? 1 : 0;
    return set_scalar(w, key, FLX_GGUF_BOOL, &b);
}
int flx_gguf_writer_set_u64(flx_gguf_writer *w, const char *key, uint64_t value) {
    return set_scalar(w, key, FLX_GGUF_UINT64, &value);
}
int flx_gguf_writer_set_i64(flx_gguf_writer *w, const char *key, int64_t value) {
    return set_scalar(w, key, FLX_GGUF_INT64, &value);
}
int flx_gguf_writer_set_f64(flx_gguf_writer *w, const char *key, double value) {
    return set_scalar(w, key, FLX_GGUF_FLOAT64, &value);
}

int flx_gguf_writer_set_string(flx_gguf_writer *w, const char *key, const char *value) {
    if (flx_gguf_writer_begin_key(w, key, FLX_GGUF_STRING) != 0) return -1;
    return flx_gguf_writer_put_string(w, value, strlen(value));
}

int flx_gguf_writer_set_array(flx_gguf_writer *w, const char *key, flx_gguf_type elem_type,
                              const void *elems, uint64_t count) {
    int size = scalar_bytes(elem_type);
    if (size == 0) {
        if (!w->failed)
            flx_fail(w->err, "%s: set_array needs a fixed-size element type, not %s", w->path,
                     flx_gguf_type_name(elem_type));
        return writer_fail(w);
    }
    if (flx_gguf_writer_begin_key(w, key, FLX_GGUF_ARRAY) != 0 ||
        flx_gguf_writer_put_array_header(w, elem_type, count) != 0)
        return -1;
    return meta_append(w, elems, (size_t)(count * (uint64_t)size));
}

int flx_gguf_writer_set_string_array(flx_gguf_writer *w, const char *key,
                                     const char *const *strings, uint64_t count) {
    if (flx_gguf_writer_begin_key(w, key, FLX_GGUF_ARRAY) != 0 ||
        flx_gguf_writer_put_array_header(w, FLX_GGUF_STRING, count) != 0)
        return -1;
    for (uint64_t i = 0; i < count; i++)
        if (flx_gguf_writer_put_string(w, strings[i], strlen(strings[i])) != 0) return -1;
    return 0;
}

int flx_gguf_writer_set_alignment(flx_gguf_writer *w, uint32_t alignment) {
    if (w->failed) return -1;
    if (alignment == 0 || (alignment & (alignment - 1)) != 0 || w->n_tensors > 0) {
        flx_fail(w->err, "%s: invalid alignment %" PRIu32 " (expected a power of two, set before any tensor)",
                 w->path, alignment);
        return writer_fail(w);
    }
    w->alignment = alignment;
    return flx_gguf_writer_set_u32(w, "general.alignment", alignment);
}

static uint64_t align_up(uint64_t x, uint64_t alignment) {
    return (x + alignment - 1) / alignment * alignment;
}

int flx_gguf_writer_add_tensor(flx_gguf_writer *w, const char *name, uint32_t n_dims,
                               const uint64_t *ne, uint32_t type) {
    if (w->failed) return -1;
    uint64_t block_values, block_bytes;
    if (w->header_written || strlen(name) == 0 || strlen(name) > FLX_GGUF_MAX_NAME ||
        n_dims < 1 || n_dims > FLX_GGUF_MAX_DIMS ||
        flx_ggml_type_block(type, &block_values, &block_bytes) != 0) {
        flx_fail(w->err, "%s: cannot add tensor '%.100s' (type %" PRIu32 ", %" PRIu32 " dims)%s",
                 w->path, name, type, n_dims, w->header_written ? " after the header" : "");
        return writer_fail(w);
    }
    if (w->n_tensors == w->cap_tensors) {
        uint64_t cap = w->cap_tensors ? w->cap_tensors * 2 : 64;
        flx_gguf_writer_tensor *grown = realloc(w->tensors, (size_t)cap * sizeof *grown);
        if (!grown) {
            flx_fail(w->err, "%s: out of memory for tensor infos", w->path);
            return writer_fail(w);
        }
        w->tensors = grown;
        w->cap_tensors = cap;
    }
    flx_gguf_writer_tensor *t = &w->tensors[w->n_tensors];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->n_dims = n_dims;
    uint64_t count = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (ne[d] == 0 || ne[d] > (uint64_t)INT64_MAX / count) {
            flx_fail(w->err, "%s: tensor %s: invalid dimension ne[%" PRIu32 "] = %" PRIu64,
                     w->path, name, d, ne[d]);
            return writer_fail(w);
        }
        t->ne[d] = ne[d];
        count *= ne[d];
    }
    if (ne[0] % block_values != 0) {
        flx_fail(w->err, "%s: tensor %s: row length %" PRIu64 " is not a multiple of the %s block size %" PRIu64,
                 w->path, name, ne[0], flx_ggml_type_name(type), block_values);
        return writer_fail(w);
    }
    for (uint64_t i = 0; i < w->n_tensors; i++)
        if (strcmp(w->tensors[i].name, name) == 0) {
            flx_fail(w->err, "%s: duplicate tensor name %s", w->path, name);
            return writer_fail(w);
        }
    t->type = type;
    t->n_bytes = count / block_values * block_bytes;
    t->offset = align_up(w->data_size, w->alignment);
    w->data_size = align_up(t->offset + t->n_bytes, w->alignment);
    w->n_tensors++;
    return 0;
}

static int file_write(flx_gguf_writer *w, const void *data, size_t n) {
    if (n && fwrite(data, 1, n, w->file) != n) {
        flx_fail(w->err, "%s: write failed: %s", w->path, strerror(errno));
        return writer_fail(w);
    }
    return 0;
}

static int write_padding(flx_gguf_writer *w, uint64_t n) {
    static const uint8_t zeros[256];
    while (n > 0) {
        size_t chunk = n < sizeof zeros ? (size_t)n : sizeof zeros;
        if (file_write(w, zeros, chunk) != 0) return -1;
        n -= chunk;
    }
    return 0;
}

int flx_gguf_writer_write_header(flx_gguf_writer *w) {
    if (w->failed) return -1;
    const uint32_t version = 3;
    uint64_t header_bytes = 4 + 4 + 8 + 8 + w->meta_len;
    if (file_write(w, "GGUF", 4) != 0 || file_write(w, &version, 4) != 0 ||
        file_write(w, &w->n_tensors, 8) != 0 || file_write(w, &w->n_kvs, 8) != 0 ||
        file_write(w, w->meta, w->meta_len) != 0)
        return -1;
    for (uint64_t i = 0; i < w->n_tensors; i++) {
        const flx_gguf_writer_tensor *t = &w->tensors[i];
        uint64_t name_len = strlen(t->name);
        if (file_write(w, &name_len, 8) != 0 || file_write(w, t->name, (size_t)name_len) != 0 ||
            file_write(w, &t->n_dims, 4) != 0 || file_write(w, t->ne, 8 * (size_t)t->n_dims) != 0 ||
            file_write(w, &t->type, 4) != 0 || file_write(w, &t->offset, 8) != 0)
            return -1;
        header_bytes += 8 + name_len + 4 + 8 * t->n_dims + 4 + 8;
    }
    if (write_padding(w, align_up(header_bytes, w->alignment) - header_bytes) != 0) return -1;
    w->header_written = 1;
    w->current = 0;
    w->current_written = 0;
    return 0;
}

int flx_gguf_writer_write_data(flx_gguf_writer *w, const void *data, size_t n) {
    if (w->failed) return -1;
    if (!w->header_written || w->current >= w->n_tensors) {
        flx_fail(w->err, "%s: tensor data written %s", w->path,
                 w->header_written ? "after the last tensor" : "before the header");
        return writer_fail(w);
    }
    const flx_gguf_writer_tensor *t = &w->tensors[w->current];
    if (n > t->n_bytes - w->current_written) {
        flx_fail(w->err, "%s: %zu bytes written to tensor %s, which has %" PRIu64 " of %" PRIu64 " bytes left",
                 w->path, n, t->name, t->n_bytes - w->current_written, t->n_bytes);
        return writer_fail(w);
    }
    if (file_write(w, data, n) != 0) return -1;
    w->current_written += n;
    if (w->current_written == t->n_bytes) {
        if (write_padding(w, align_up(t->n_bytes, w->alignment) - t->n_bytes) != 0) return -1;
        w->current++;
        w->current_written = 0;
    }
    return 0;
}

int flx_gguf_writer_finish(flx_gguf_writer *w) {
    if (w->failed) return -1;
    if (!w->header_written || w->current != w->n_tensors) {
        flx_fail(w->err, "%s: incomplete file: %" PRIu64 " of %" PRIu64 " tensors written", w->path,
                 w->header_written ? w->current : 0, w->n_tensors);
        return writer_fail(w);
    }
    if (fflush(w->file) != 0) {
        flx_fail(w->err, "%s: write failed: %s", w->path, strerror(errno));
        return writer_fail(w);
    }
    return 0;
}

static long clamp_long(long x, long lo, long hi) {
    if (x < lo) return lo;
    if (x > hi) return hi;
    return x;
}

/* Q8_0: per block of 32, d = max|x| / 127 rounded to fp16, q = round(x / d). */
static void quantize_q8_0(const float *x, uint8_t *block) {
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
    uint16_t d16 = flx_f32_to_f16(amax / 127.0f);
    float d = flx_f16_to_f32(d16);
    float inv = d != 0.0f ? 1.0f / d : 0.0f;
    memcpy(block, &d16, 2);
    for (int j = 0; j < 32; j++) {
        long q = clamp_long(lroundf(x[j] * inv), -127, 127);
        block[2 + j] = (uint8_t)(int8_t)q;
    }
}

/* Q4_0: per block of 32, the value m of largest magnitude maps to level 0,
 * so d = m / -8 and q = round(x / d) + 8 in 0..15. */
static void quantize_q4_0(const float *x, uint8_t *block) {
    float m = 0.0f;
    for (int j = 0; j < 32; j++)
        if (fabsf(x[j]) > fabsf(m)) m = x[j];
    uint16_t d16 = flx_f32_to_f16(m / -8.0f);
    float d = flx_f16_to_f32(d16);
    float inv = d != 0.0f ? 1.0f / d : 0.0f;
    memcpy(block, &d16, 2);
    for (int j = 0; j < 16; j++) {
        long lo = clamp_long(lroundf(x[j] * inv) + 8, 0, 15);
        long hi = clamp_long(lroundf(x[j + 16] * inv) + 8, 0, 15);
        block[2 + j] = (uint8_t)(lo | (hi << 4));
    }
}

int flx_ggml_quantize(uint32_t type, const float *src, uint8_t *dst, uint64_t n) {
    switch (type) {
    case FLX_GGML_F32:
        memcpy(dst, src, (size_t)n * 4);
        return 0;
    case FLX_GGML_F16:
        for (uint64_t i = 0; i < n; i++) {
            uint16_t h = flx_f32_to_f16(src[i]);
            memcpy(dst + 2 * i, &h, 2);
        }
        return 0;
    case FLX_GGML_BF16:
        for (uint64_t i = 0; i < n; i++) {
            uint16_t h = flx_f32_to_bf16(src[i]);
            memcpy(dst + 2 * i, &h, 2);
        }
        return 0;
    case FLX_GGML_Q8_0:
        for (uint64_t b = 0; b < n / 32; b++) quantize_q8_0(src + 32 * b, dst + 34 * b);
        return 0;
    case FLX_GGML_Q4_0:
        for (uint64_t b = 0; b < n / 32; b++) quantize_q4_0(src + 32 * b, dst + 18 * b);
        return 0;
    default:
        return -1;
    }
}
