#include "common/error.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int flx_fail(flx_error *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void flx_error_prefix(flx_error *err, const char *prefix) {
    if (!err) return;
    char tmp[sizeof err->msg];
    size_t n = strlen(prefix);
    if (n > sizeof tmp - 3) n = sizeof tmp - 3;
    memcpy(tmp, prefix, n);
    memcpy(tmp + n, ": ", 2);
    size_t rest = strlen(err->msg);
    if (rest > sizeof tmp - n - 3) rest = sizeof tmp - n - 3;
    memcpy(tmp + n + 2, err->msg, rest);
    tmp[n + 2 + rest] = '\0';
    memcpy(err->msg, tmp, sizeof tmp);
}

void *flx_malloc(size_t size, flx_error *err) {
    void *p = malloc(size ? size : 1);
    if (!p) flx_fail(err, "out of memory allocating %zu bytes", size);
    return p;
}

void *flx_calloc(size_t count, size_t size, flx_error *err) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) flx_fail(err, "out of memory allocating %zu x %zu bytes", count, size);
    return p;
}

int flx_mul_overflows(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return 1;
    *out = a * b;
    return 0;
}
