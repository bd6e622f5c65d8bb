#include "modelio/safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef FLEXLLM_HAVE_CJSON
#include <cJSON.h>
#endif

static const struct {
    const char *name;
    size_t size;
} dtype_table[FLX_ST_N_DTYPES] = {
    [FLX_ST_BOOL] = {"BOOL", 1},       [FLX_ST_U8] = {"U8", 1},
    [FLX_ST_I8] = {"I8", 1},           [FLX_ST_F8_E4M3] = {"F8_E4M3", 1},
    [FLX_ST_F8_E5M2] = {"F8_E5M2", 1}, [FLX_ST_I16] = {"I16", 2},
    [FLX_ST_U16] = {"U16", 2},         [FLX_ST_F16] = {"F16", 2},
    [FLX_ST_BF16] = {"BF16", 2},       [FLX_ST_I32] = {"I32", 4},
    [FLX_ST_U32] = {"U32", 4},         [FLX_ST_F32] = {"F32", 4},
    [FLX_ST_F64] = {"F64", 8},         [FLX_ST_I64] = {"I64", 8},
    [FLX_ST_U64] = {"U64", 8},
};

const char *flx_st_dtype_name(flx_st_dtype dtype) {
    return (unsigned)dtype < FLX_ST_N_DTYPES ? dtype_table[dtype].name : "?";
}

size_t flx_st_dtype_size(flx_st_dtype dtype) {
    return (unsigned)dtype < FLX_ST_N_DTYPES ? dtype_table[dtype].size : 0;
}

void flx_st_free(flx_st_file *st) {
    if (!st) return;
    for (int i = 0; i < st->n_tensors; i++) free(st->tensors[i].name);
    free(st->tensors);
    for (int i = 0; i < st->n_metadata; i++) {
        free(st->metadata[i].key);
        free(st->metadata[i].value);
    }
    free(st->metadata);
    flx_strmap_free(&st->by_name);
    memset(st, 0, sizeof *st);
}

const flx_st_tensor *flx_st_find(const flx_st_file *st, const char *name) {
    int32_t i = flx_strmap_get(&st->by_name, name, (uint32_t)strlen(name));
    return i < 0 ? NULL : &st->tensors[i];
}

#ifndef FLEXLLM_HAVE_CJSON

int flx_st_parse(flx_st_file *st, const uint8_t *bytes, size_t size, const char *path,
                 flx_error *err) {
    (void)bytes;
    (void)size;
    memset(st, 0, sizeof *st);
    return flx_fail(err, "%s: built without cJSON; install libcjson-dev and rebuild", path);
}

#else

/* JSON numbers are doubles, so integers are exact only up to 2^53. */
#define JSON_MAX_EXACT_INT 9007199254740992.0

static int json_to_u64(const cJSON *item, uint64_t *out) {
    if (!cJSON_IsNumber(item)) return -1;
    double v = item->valuedouble;
    if (!isfinite(v) || v < 0.0 || v > JSON_MAX_EXACT_INT || v != floor(v)) return -1;
    *out = (uint64_t)v;
    return 0;
}

static char *copy_string(const char *s, flx_error *err) {
    size_t n = strlen(s);
    char *copy = flx_malloc(n + 1, err);
    if (copy) memcpy(copy, s, n + 1);
    return copy;
}

static int parse_dtype(const char *name, flx_st_dtype *out) {
    for (int i = 0; i < FLX_ST_N_DTYPES; i++) {
        if (strcmp(name, dtype_table[i].name) == 0) {
            *out = (flx_st_dtype)i;
            return 0;
        }
    }
    return -1;
}

static int parse_metadata(flx_st_file *st, const cJSON *meta, const char *path, flx_error *err) {
    if (!cJSON_IsObject(meta))
        return flx_fail(err, "%s: invalid safetensors header: \"__metadata__\" is not an object",
                        path);
    int n = cJSON_GetArraySize(meta);
    st->metadata = flx_calloc((size_t)n, sizeof *st->metadata, err);
    if (!st->metadata) return -1;
    for (const cJSON *e = meta->child; e; e = e->next) {
        if (!cJSON_IsString(e))
            return flx_fail(err,
                            "%s: invalid safetensors header: \"__metadata__\" entry \"%s\" is not "
                            "a string",
                            path, e->string);
        flx_st_metadata_entry *m = &st->metadata[st->n_metadata];
        m->key = copy_string(e->string, err);
        m->value = m->key ? copy_string(e->valuestring, err) : NULL;
        if (!m->value) {
            free(m->key);
            return -1;
        }
        st->n_metadata++;
    }
    return 0;
}

static void format_shape(char *out, size_t out_size, const int64_t *shape, int n_dims) {
    size_t used = (size_t)snprintf(out, out_size, "[");
    for (int d = 0; d < n_dims && used < out_size; d++)
        used += (size_t)snprintf(out + used, out_size - used, d ? ", %lld" : "%lld",
                                 (long long)shape[d]);
    if (used < out_size) snprintf(out + used, out_size - used, "]");
}

/* Reads one header entry into t. Checks the dtype, shape and offsets of the
 * entry by itself; the overlap checks need all entries and come later. */
static int parse_tensor(flx_st_tensor *t, const cJSON *entry, uint64_t data_size,
                        const char *path, flx_error *err) {
    const char *name = entry->string;
    if (!cJSON_IsObject(entry))
        return flx_fail(err, "%s: invalid safetensors header: tensor %s is not a JSON object",
                        path, name);

    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(entry, "dtype");
    if (!cJSON_IsString(dtype))
        return flx_fail(err, "%s: tensor %s: missing or non-string \"dtype\"", path, name);
    if (parse_dtype(dtype->valuestring, &t->dtype) != 0)
        return flx_fail(err,
                        "%s: tensor %s: unknown dtype \"%s\" (expected one of BOOL, U8, I8, "
                        "F8_E4M3, F8_E5M2, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64)",
                        path, name, dtype->valuestring);

    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(entry, "shape");
    if (!cJSON_IsArray(shape))
        return flx_fail(err, "%s: tensor %s: missing or non-array \"shape\"", path, name);
    int n_dims = cJSON_GetArraySize(shape);
    if (n_dims > FLX_ST_MAX_DIMS)
        return flx_fail(err, "%s: tensor %s has %d dimensions (at most %d supported)", path, name,
                        n_dims, FLX_ST_MAX_DIMS);
    t->n_dims = n_dims;
    uint64_t n_elements = 1;
    int overflow = 0;
    int d = 0;
    for (const cJSON *dim = shape->child; dim; dim = dim->next, d++) {
        uint64_t v;
        if (json_to_u64(dim, &v) != 0)
            return flx_fail(err,
                            "%s: tensor %s: shape entry %d is not a non-negative integer", path,
                            name, d);
        t->shape[d] = (int64_t)v;
        if (v != 0 && n_elements > UINT64_MAX / v) overflow = 1;
        n_elements *= v;
    }

    const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(entry, "data_offsets");
    if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2 ||
        json_to_u64(offsets->child, &t->begin) != 0 ||
        json_to_u64(offsets->child->next, &t->end) != 0)
        return flx_fail(err,
                        "%s: tensor %s: \"data_offsets\" must be an array of two non-negative "
                        "integers [begin, end]",
                        path, name);
    if (t->end < t->begin)
        return flx_fail(err, "%s: tensor %s: data_offsets [%llu, %llu) end before they begin",
                        path, name, (unsigned long long)t->begin, (unsigned long long)t->end);
    if (t->end > data_size)
        return flx_fail(err,
                        "%s: tensor %s: data_offsets [%llu, %llu) run past the end of the data "
                        "section (%llu bytes); is the file truncated?",
                        path, name, (unsigned long long)t->begin, (unsigned long long)t->end,
                        (unsigned long long)data_size);

    uint64_t elem = flx_st_dtype_size(t->dtype);
    if (overflow || n_elements > UINT64_MAX / elem || n_elements * elem != t->end - t->begin) {
        char dims[160];
        format_shape(dims, sizeof dims, t->shape, t->n_dims);
        if (overflow || n_elements > UINT64_MAX / elem)
            return flx_fail(err, "%s: tensor %s: %s shape %s has more than 2^64 bytes", path,
                            name, flx_st_dtype_name(t->dtype), dims);
        return flx_fail(err,
                        "%s: tensor %s: data_offsets [%llu, %llu) hold %llu bytes, but %s shape "
                        "%s needs %llu bytes",
                        path, name, (unsigned long long)t->begin, (unsigned long long)t->end,
                        (unsigned long long)(t->end - t->begin), flx_st_dtype_name(t->dtype), dims,
                        (unsigned long long)(n_elements * elem));
    }
    return 0;
}

typedef struct byte_range {
    uint64_t begin, end;
    int tensor;
} byte_range;

static int compare_ranges(const void *a, const void *b) {
    const byte_range *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* Tensors must tile the data section exactly, as Hugging Face's reader
 * also requires: no overlap (which would alias two tensors) and no gap or
 * trailing bytes (which would let the file carry unindexed content). */
static int check_coverage(const flx_st_file *st, const char *path, flx_error *err) {
    byte_range *ranges = flx_calloc((size_t)st->n_tensors, sizeof *ranges, err);
    if (!ranges) return -1;
    for (int i = 0; i < st->n_tensors; i++)
        ranges[i] = (byte_range){st->tensors[i].begin, st->tensors[i].end, i};
    qsort(ranges, (size_t)st->n_tensors, sizeof *ranges, compare_ranges);
    uint64_t covered = 0;
    int rc = 0;
    for (int i = 0; i < st->n_tensors && rc == 0; i++) {
        const flx_st_tensor *t = &st->tensors[ranges[i].tensor];
        if (ranges[i].begin < covered)
            rc = flx_fail(err,
                          "%s: tensor %s: data_offsets [%llu, %llu) overlap tensor %s, which ends "
                          "at %llu",
                          path, t->name, (unsigned long long)t->begin, (unsigned long long)t->end,
                          st->tensors[ranges[i - 1].tensor].name, (unsigned long long)covered);
        else if (ranges[i].begin > covered)
            rc = flx_fail(err,
                          "%s: tensor %s: data_offsets [%llu, %llu) leave a gap of unindexed "
                          "bytes from %llu",
                          path, t->name, (unsigned long long)t->begin, (unsigned long long)t->end,
                          (unsigned long long)covered);
        covered = ranges[i].end;
    }
    free(ranges);
    if (rc == 0 && covered != st->data_size)
        rc = flx_fail(err,
                      "%s: data section has %llu bytes but its tensors cover only %llu; the file "
                      "has trailing bytes or a wrong header",
                      path, (unsigned long long)st->data_size, (unsigned long long)covered);
    return rc;
}

static int parse_header(flx_st_file *st, const cJSON *root, const char *path, flx_error *err) {
    if (!cJSON_IsObject(root))
        return flx_fail(err, "%s: invalid safetensors header: the JSON is not an object", path);
    int n_entries = cJSON_GetArraySize(root);
    st->tensors = flx_calloc((size_t)n_entries, sizeof *st->tensors, err);
    if (!st->tensors || flx_strmap_init(&st->by_name, (size_t)n_entries, err) != 0) return -1;

    for (const cJSON *entry = root->child; entry; entry = entry->next) {
        if (strcmp(entry->string, "__metadata__") == 0) {
            if (st->metadata)
                return flx_fail(err, "%s: invalid safetensors header: two \"__metadata__\" objects",
                                path);
            if (parse_metadata(st, entry, path, err) != 0) return -1;
            continue;
        }
        uint32_t len = (uint32_t)strlen(entry->string);
        if (flx_strmap_get(&st->by_name, entry->string, len) >= 0)
            return flx_fail(err, "%s: invalid safetensors header: tensor %s appears twice", path,
                            entry->string);
        flx_st_tensor *t = &st->tensors[st->n_tensors];
        if (parse_tensor(t, entry, st->data_size, path, err) != 0) return -1;
        t->name = copy_string(entry->string, err);
        if (!t->name) return -1;
        st->n_tensors++;
        if (flx_strmap_put(&st->by_name, t->name, len, st->n_tensors - 1) != 0)
            return flx_fail(err, "%s: tensor name table is full", path);
    }
    return check_coverage(st, path, err);
}

static int is_json_space(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

int flx_st_parse(flx_st_file *st, const uint8_t *bytes, size_t size, const char *path,
                 flx_error *err) {
    memset(st, 0, sizeof *st);
    if (size < 8)
        return flx_fail(err,
                        "%s: file has %zu bytes, too short for a safetensors header (8 bytes); is "
                        "it truncated?",
                        path, size);
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--) header_len = header_len << 8 | bytes[i];
    if (header_len > FLX_ST_MAX_HEADER_BYTES)
        return flx_fail(err,
                        "%s: safetensors header length %llu exceeds the limit of %llu bytes; the "
                        "file is corrupt or not a safetensors file",
                        path, (unsigned long long)header_len,
                        (unsigned long long)FLX_ST_MAX_HEADER_BYTES);
    if (header_len > size - 8)
        return flx_fail(err,
                        "%s: safetensors header length %llu runs past the end of the file (%zu "
                        "bytes); is it truncated?",
                        path, (unsigned long long)header_len, size);

    const char *header = (const char *)bytes + 8;
    const char *nul = memchr(header, 0, (size_t)header_len);
    if (nul)
        return flx_fail(err, "%s: invalid JSON in the safetensors header: NUL byte at offset %zu",
                        path, (size_t)(nul - header));
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(header, (size_t)header_len, &end, 0);
    if (!root) {
        size_t at = end && end >= header ? (size_t)(end - header) : 0;
        return flx_fail(err, "%s: invalid JSON in the safetensors header near byte %zu of %llu",
                        path, at, (unsigned long long)header_len);
    }
    /* The format allows the header to be padded with spaces. */
    size_t parsed = (size_t)(end - header);
    while (parsed < header_len && is_json_space((uint8_t)header[parsed])) parsed++;
    if (parsed != header_len) {
        cJSON_Delete(root);
        return flx_fail(err,
                        "%s: invalid JSON in the safetensors header: unexpected text after the "
                        "object at byte %zu of %llu",
                        path, parsed, (unsigned long long)header_len);
    }

    st->data_offset = 8 + header_len;
    st->data = bytes + st->data_offset;
    st->data_size = size - st->data_offset;
    int rc = parse_header(st, root, path, err);
    cJSON_Delete(root);
    if (rc != 0) flx_st_free(st);
    return rc;
}

#endif
