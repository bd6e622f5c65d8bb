/* A streaming GGUF (version 3) writer. The caller sets the metadata and
 * declares every tensor, writes the header, then streams each tensor's
 * bytes in declaration order, so tensor data never has to sit in memory as
 * a whole. Errors are sticky: after the first failure every call returns -1
 * and the first message stays in the caller's flx_error. */
#ifndef FLEXLLM_MODELIO_GGUF_WRITER_H
#define FLEXLLM_MODELIO_GGUF_WRITER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/error.h"
#include "modelio/gguf.h"
#include "modelio/vocab.h"

typedef struct flx_gguf_writer_tensor {
    char name[FLX_GGUF_MAX_NAME + 1];
    uint32_t n_dims;
    uint64_t ne[FLX_GGUF_MAX_DIMS]; /* ne[0] innermost */
    uint32_t type;                  /* ggml type id */
    uint64_t offset;                /* relative to the data section */
    uint64_t n_bytes;
} flx_gguf_writer_tensor;

typedef struct flx_gguf_writer {
    FILE *file;
    const char *path;       /* for messages */
    flx_error *err;
    int failed;
    uint64_t alignment;
    uint8_t *meta;          /* [meta_len] encoded metadata entries */
    size_t meta_len, meta_cap;
    uint64_t n_kvs;
    flx_gguf_writer_tensor *tensors; /* [n_tensors] */
    uint64_t n_tensors, cap_tensors;
    uint64_t data_size;     /* data section bytes so far, padding included */
    int header_written;
    uint64_t current;       /* tensor receiving data */
    uint64_t current_written;
} flx_gguf_writer;

/* Starts a file on an open stream; path only labels messages. */
void flx_gguf_writer_init(flx_gguf_writer *w, FILE *file, const char *path, flx_error *err);
void flx_gguf_writer_free(flx_gguf_writer *w);

/* Metadata entries, written in the order they are set. */
int flx_gguf_writer_set_u8(flx_gguf_writer *w, const char *key, uint8_t value);
int flx_gguf_writer_set_i8(flx_gguf_writer *w, const char *key, int8_t value);
int flx_gguf_writer_set_u16(flx_gguf_writer *w, const char *key, uint16_t value);
int flx_gguf_writer_set_i16(flx_gguf_writer *w, const char *key, int16_t value);
int flx_gguf_writer_set_u32(flx_gguf_writer *w, const char *key, uint32_t value);
int flx_gguf_writer_set_i32(flx_gguf_writer *w, const char *key, int32_t value);
int flx_gguf_writer_set_f32(flx_gguf_writer *w, const char *key, float value);
int flx_gguf_writer_set_bool(flx_gguf_writer *w, const char *key, bool value);
int flx_gguf_writer_set_string(flx_gguf_writer *w, const char *key, const char *value);
int flx_gguf_writer_set_u64(flx_gguf_writer *w, const char *key, uint64_t value);
int flx_gguf_writer_set_i64(flx_gguf_writer *w, const char *key, int64_t value);
int flx_gguf_writer_set_f64(flx_gguf_writer *w, const char *key, double value);
/* An array of fixed-size elements (not STRING or ARRAY), elems in host
 * (little-endian) layout; BOOL elements are one byte each. */
int flx_gguf_writer_set_array(flx_gguf_writer *w, const char *key, flx_gguf_type elem_type,
                              const void *elems, uint64_t count);
int flx_gguf_writer_set_string_array(flx_gguf_writer *w, const char *key,
                                     const char *const *strings, uint64_t count);
/* Sets general.alignment, a power of two (default 32), and aligns the
 * data section and every tensor to it. */
int flx_gguf_writer_set_alignment(flx_gguf_writer *w, uint32_t alignment);

/* Building blocks for values the setters above do not cover, such as
 * arrays of arrays: begin_key writes the key and the value type, then the
 * value follows through the put_* calls. */
int flx_gguf_writer_begin_key(flx_gguf_writer *w, const char *key, flx_gguf_type type);
int flx_gguf_writer_put_array_header(flx_gguf_writer *w, flx_gguf_type elem_type, uint64_t count);
int flx_gguf_writer_put_scalar(flx_gguf_writer *w, flx_gguf_type type, const void *value);
int flx_gguf_writer_put_string(flx_gguf_writer *w, const char *s, uint64_t len);

/* Declares a tensor; ne[0] is the innermost dimension. */
int flx_gguf_writer_add_tensor(flx_gguf_writer *w, const char *name, uint32_t n_dims,
                               const uint64_t *ne, uint32_t type);

/* Writes the header, metadata and tensor infos. */
int flx_gguf_writer_write_header(flx_gguf_writer *w);
/* Appends bytes to the current tensor. When the tensor is complete, the
 * writer pads to the alignment and moves on to the next one. */
int flx_gguf_writer_write_data(flx_gguf_writer *w, const void *data, size_t n);
/* Checks that every tensor received all its bytes and flushes the stream.
 * Does not close it. */
int flx_gguf_writer_finish(flx_gguf_writer *w);

/* Sets the tokenizer.ggml.* keys that describe a vocabulary. */
int flx_gguf_write_vocab(flx_gguf_writer *w, const flx_vocab *vocab);

/* Encodes n float32 values (a multiple of the type's block size) as F32,
 * F16, BF16, Q8_0 or Q4_0. Returns -1 for another type. */
int flx_ggml_quantize(uint32_t type, const float *src, uint8_t *dst, uint64_t n);

#endif
