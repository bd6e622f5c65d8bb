/* Error reporting: library functions return 0 on success and -1 on failure,
 * with a one-line message in a caller-owned flx_error. The message names the
 * file or value that failed and, where one exists, what to do about it. */
#ifndef FLEXLLM_COMMON_ERROR_H
#define FLEXLLM_COMMON_ERROR_H

#include <stddef.h>

typedef struct flx_error {
    char msg[1024];
} flx_error;

/* Formats a message into err (if err is not NULL) and returns -1. */
int flx_fail(flx_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prefixes the message already in err with "prefix: ". */
void flx_error_prefix(flx_error *err, const char *prefix);

/* Allocation helpers that report the failing size through err. */
void *flx_malloc(size_t size, flx_error *err);
void *flx_calloc(size_t count, size_t size, flx_error *err);

/* Returns true when a*b overflows size_t; else stores the product in out. */
int flx_mul_overflows(size_t a, size_t b, size_t *out);

#endif
