/* Read-only view of a whole file: mmap where possible, else read into memory. */
#ifndef FLEXLLM_COMMON_MAPPED_FILE_H
#define FLEXLLM_COMMON_MAPPED_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

typedef struct flx_mapped_file {
    const uint8_t *data; /* [size] file contents */
    size_t size;
    int is_mmap;         /* 1: data is an mmap, 0: data is malloc'd */
} flx_mapped_file;

/* Maps path read-only. An empty file maps to data == NULL, size == 0. */
int flx_map_file(flx_mapped_file *file, const char *path, flx_error *err);
void flx_unmap_file(flx_mapped_file *file);

/* Reads a whole file into a NUL-terminated malloc'd buffer. */
char *flx_read_text_file(const char *path, size_t *size_out, flx_error *err);

#endif
