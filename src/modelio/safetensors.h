/* Parser of one safetensors file held in memory: an 8-byte little-endian
 * header length N, N bytes of JSON mapping each tensor name to
 * {dtype, shape, data_offsets} (plus an optional "__metadata__" object of
 * strings), then the tensor bytes. data_offsets are [begin, end) relative to
 * the first byte after the header. */
#ifndef FLEXLLM_MODELIO_SAFETENSORS_H
#define FLEXLLM_MODELIO_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/strmap.h"

/* Headers above this size are rejected as corrupt. Hugging Face's Rust
 * reader (huggingface/safetensors, tensor.rs MAX_HEADER_SIZE) uses the same
 * limit. */
#define FLX_ST_MAX_HEADER_BYTES 100000000ull
#define FLX_ST_MAX_DIMS 8

/* The dtypes of the safetensors format. The model loader converts only F32,
 * F16 and BF16; the others are parsed so that sizes can be validated. */
typedef enum flx_st_dtype {
    FLX_ST_BOOL,
    FLX_ST_U8,
    FLX_ST_I8,
    FLX_ST_F8_E4M3,
    FLX_ST_F8_E5M2,
    FLX_ST_I16,
    FLX_ST_U16,
    FLX_ST_F16,
    FLX_ST_BF16,
    FLX_ST_I32,
    FLX_ST_U32,
    FLX_ST_F32,
    FLX_ST_F64,
    FLX_ST_I64,
    FLX_ST_U64,
    FLX_ST_N_DTYPES,
} flx_st_dtype;

typedef struct flx_st_tensor {
    char *name;
    flx_st_dtype dtype;
    int n_dims;
    int64_t shape[FLX_ST_MAX_DIMS]; /* outermost first */
    uint64_t begin, end;            /* byte range relative to the data section */
} flx_st_tensor;

typedef struct flx_st_metadata_entry {
    char *key;
    char *value;
} flx_st_metadata_entry;

typedef struct flx_st_file {
    const uint8_t *data;      /* [data_size] tensor bytes, inside the caller's buffer */
    uint64_t data_size;
    uint64_t data_offset;     /* position of data in the file: 8 + header length */
    flx_st_tensor *tensors;   /* [n_tensors], in the header's order */
    int n_tensors;
    flx_st_metadata_entry *metadata; /* [n_metadata] "__metadata__" entries */
    int n_metadata;
    flx_strmap by_name;       /* tensor name -> index in tensors */
} flx_st_file;

/* Parses and validates a whole safetensors file of size bytes. Rejects a
 * header length past the end or above FLX_ST_MAX_HEADER_BYTES, invalid JSON,
 * unknown dtypes, sizes that differ from product(shape) * dtype size, ranges
 * that are reversed, overlap, leave gaps or run past the end, and duplicate
 * names. path only names the file in messages. The result points into bytes,
 * which must outlive it. */
int flx_st_parse(flx_st_file *st, const uint8_t *bytes, size_t size, const char *path,
                 flx_error *err);
void flx_st_free(flx_st_file *st);

/* Returns the tensor called name, or NULL. */
const flx_st_tensor *flx_st_find(const flx_st_file *st, const char *name);

/* Name as the format spells it ("F32", "BF16", ...) and element size in bytes. */
const char *flx_st_dtype_name(flx_st_dtype dtype);
size_t flx_st_dtype_size(flx_st_dtype dtype);

#endif
