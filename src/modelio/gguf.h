/* GGUF container parsing (versions 2 and 3) from a memory buffer, plus the
 * ggml tensor type table and dequantization of the types FlexLLM reads.
 * The parsed structure points into the caller's buffer, which must outlive
 * it. All multi-byte fields are little-endian, as on the host. */
#ifndef FLEXLLM_MODELIO_GGUF_H
#define FLEXLLM_MODELIO_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "modelio/vocab.h"

/* Metadata value types, numbered as in the file. */
typedef enum flx_gguf_type {
    FLX_GGUF_UINT8 = 0,
    FLX_GGUF_INT8 = 1,
    FLX_GGUF_UINT16 = 2,
    FLX_GGUF_INT16 = 3,
    FLX_GGUF_UINT32 = 4,
    FLX_GGUF_INT32 = 5,
    FLX_GGUF_FLOAT32 = 6,
    FLX_GGUF_BOOL = 7,
    FLX_GGUF_STRING = 8,
    FLX_GGUF_ARRAY = 9,
    FLX_GGUF_UINT64 = 10,
    FLX_GGUF_INT64 = 11,
    FLX_GGUF_FLOAT64 = 12,
} flx_gguf_type;

/* ggml tensor type ids of the types FlexLLM dequantizes. */
enum {
    FLX_GGML_F32 = 0,
    FLX_GGML_F16 = 1,
    FLX_GGML_Q4_0 = 2,
    FLX_GGML_Q8_0 = 8,
    FLX_GGML_BF16 = 30,
};

#define FLX_GGUF_DEFAULT_ALIGNMENT 32
#define FLX_GGUF_MAX_DIMS 4
#define FLX_GGUF_MAX_NAME 95      /* tensor name bytes, so it fits flx_tensor_info.name */
#define FLX_GGUF_MAX_KVS (1u << 20)
#define FLX_GGUF_MAX_TENSORS (1u << 20)
#define FLX_GGUF_MAX_NESTING 8    /* arrays inside arrays */

/* A string inside the buffer, not NUL-terminated. */
typedef struct flx_gguf_string {
    const char *ptr;
    uint64_t len;
} flx_gguf_string;

typedef struct flx_gguf_value {
    flx_gguf_type type;
    union {
        uint64_t u64;        /* UINT8, UINT16, UINT32, UINT64 */
        int64_t i64;         /* INT8, INT16, INT32, INT64 */
        double f64;          /* FLOAT32, FLOAT64 */
        int boolean;         /* BOOL: 0 or 1 */
        flx_gguf_string str; /* STRING */
        struct {
            flx_gguf_type elem_type;
            uint64_t count;
            const uint8_t *data; /* [n_bytes] encoded elements */
            uint64_t n_bytes;
        } array;             /* ARRAY */
    } as;
} flx_gguf_value;

typedef struct flx_gguf_kv {
    flx_gguf_string key;
    flx_gguf_value value;
} flx_gguf_kv;

typedef struct flx_gguf_tensor {
    flx_gguf_string name;
    uint32_t n_dims;
    uint64_t ne[FLX_GGUF_MAX_DIMS]; /* ne[0] is the contiguous (innermost) dimension; unused = 1 */
    uint32_t type;                  /* ggml type id */
    uint64_t offset;                /* relative to the data section */
    uint64_t n_elements;
    uint64_t n_bytes;
    const uint8_t *data;            /* [n_bytes] inside the buffer */
} flx_gguf_tensor;

typedef struct flx_gguf {
    uint32_t version;
    uint64_t alignment;
    flx_gguf_kv *kvs;           /* [n_kvs] */
    uint64_t n_kvs;
    flx_gguf_tensor *tensors;   /* [n_tensors] */
    uint64_t n_tensors;
    uint64_t data_offset;       /* file offset of the aligned data section */
    const uint8_t *buffer;      /* [size] the whole file */
    size_t size;
} flx_gguf;

/* Parses the header, metadata and tensor infos of a GGUF file held in
 * buffer. Checks that every read stays inside the buffer, that counts fit
 * the bytes that remain before anything is allocated, that keys and tensor
 * names are unique, and that each tensor's data is aligned and inside the
 * file. path only labels error messages. */
int flx_gguf_parse(flx_gguf *g, const uint8_t *buffer, size_t size, const char *path,
                   flx_error *err);
void flx_gguf_free(flx_gguf *g);

/* Returns the entry for key, or NULL. */
const flx_gguf_kv *flx_gguf_find(const flx_gguf *g, const char *key);
const flx_gguf_tensor *flx_gguf_find_tensor(const flx_gguf *g, const char *name);

/* Typed metadata lookups. Each returns 1 when the key exists and has a
 * usable value, 0 when it is absent, and -1 (with a message naming path,
 * key and value) when it has the wrong type or is outside [min, max].
 * Integer lookups accept any integer type; float lookups accept floats and
 * integers. */
int flx_gguf_get_int(const flx_gguf *g, const char *key, int64_t min, int64_t max, int64_t *out,
                     const char *path, flx_error *err);
int flx_gguf_get_float(const flx_gguf *g, const char *key, double *out, const char *path,
                       flx_error *err);
int flx_gguf_get_bool(const flx_gguf *g, const char *key, int *out, const char *path,
                      flx_error *err);
int flx_gguf_get_string(const flx_gguf *g, const char *key, flx_gguf_string *out,
                        const char *path, flx_error *err);
/* Finds an array of elem_type (or of any type when elem_type < 0). */
int flx_gguf_get_array(const flx_gguf *g, const char *key, int elem_type, flx_gguf_value *out,
                       const char *path, flx_error *err);

/* True when s equals the NUL-terminated text. */
int flx_gguf_string_eq(flx_gguf_string s, const char *text);

/* Reads the array element at byte offset *pos of array->as.array.data and
 * advances *pos. The parser validated the array, so this fails (returns -1)
 * only when *pos is past the end. */
int flx_gguf_array_next(const flx_gguf_value *array, uint64_t *pos, flx_gguf_value *elem);

/* Name of a metadata value type, e.g. "UINT32" ("?" when unknown). */
const char *flx_gguf_type_name(uint32_t type);

/* ggml tensor types: name ("Q4_K") or NULL for an unknown id, and the
 * block geometry (values per block, bytes per block). Returns -1 for an
 * unknown id. */
const char *flx_ggml_type_name(uint32_t type);
int flx_ggml_type_block(uint32_t type, uint64_t *block_values, uint64_t *block_bytes);
/* 1 for F32, F16, BF16, Q8_0, Q4_0. */
int flx_ggml_type_supported(uint32_t type);

/* Dequantizes n values (a multiple of the type's block size) from src to
 * float32. Returns -1 for a type that is not supported. */
int flx_ggml_dequantize(uint32_t type, const uint8_t *src, float *dst, uint64_t n);

/* Reads the tokenizer.ggml.* keys of a parsed file. Returns 1 with *out
 * set, 0 when the file has no vocabulary (no tokenizer.ggml.model, or
 * "none"/"no_vocab"), -1 on a malformed vocabulary. */
int flx_gguf_read_vocab(const flx_gguf *g, flx_vocab **out, const char *path, flx_error *err);

#endif
