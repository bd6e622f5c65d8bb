#include "cli/cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/mapped_file.h"
#include "tokenizer/utf8.h"

int flx_parse_int(const char *cmd, const char *option, const char *text, long long min,
                  long long max, long long *out) {
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "flexllm %s: invalid value '%s' for %s: expected an integer from %lld to %lld\n",
                cmd, text, option, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

int flx_parse_float(const char *cmd, const char *option, const char *text, double min,
                    double max, double *out) {
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end != '\0' || !isfinite(v) || v < min || v > max) {
        fprintf(stderr, "flexllm %s: invalid value '%s' for %s: expected a number from %g to %g\n",
                cmd, text, option, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

const char *flx_option_value(const char *cmd, int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        fprintf(stderr, "flexllm %s: option %s needs a value (see flexllm %s --help)\n", cmd,
                argv[*i], cmd);
        return NULL;
    }
    (*i)++;
    return argv[*i];
}

char *flx_cli_read_utf8_text(const char *cmd, const char *path, size_t *len) {
    flx_error err;
    char *text = flx_read_text_file(path, len, &err);
    if (!text) {
        fprintf(stderr, "flexllm %s: %s\n", cmd, err.msg);
        return NULL;
    }
    size_t bad_offset;
    if (!flx_utf8_valid(text, *len, &bad_offset)) {
        fprintf(stderr, "flexllm %s: %s: not UTF-8 text (invalid byte at offset %zu); pass a UTF-8 text file\n", cmd,
                path, bad_offset);
        free(text);
        return NULL;
    }
    return text;
}
