/* flexllm-hlscheck: checks HLS kernel sources against the synthesizable C
 * subset. Exit status 0 when clean, 1 with violations, 2 for bad usage or a
 * file that cannot be read or tokenized. */
/* realpath() is an XSI function. */
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <stdbool.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

enum { EXIT_CLEAN = 0, EXIT_VIOLATIONS = 1, EXIT_BAD_INPUT = 2 };

static void print_usage(FILE *out) {
    fprintf(out,
            "usage: flexllm-hlscheck [--help] FILE...\n"
            "\n"
            "Checks C kernel sources (.c and .h) against the synthesizable subset: no dynamic\n"
            "memory, recursion, function pointers, variable-length arrays, unbounded loops,\n"
            "goto or inline assembly; only <stdint.h>, <stdbool.h>, <math.h> and headers among\n"
            "the given files; no library calls but a few <math.h> functions; a '#pragma HLS'\n"
            "line in every function with loops, unless its name ends in _ref. Code inside\n"
            "'#ifndef __SYNTHESIS__' is skipped. Calls and recursion are checked across all\n"
            "files, so pass a kernel together with the headers and kernels it uses.\n"
            "\n"
            "Prints FILE:LINE: RULE: message per violation and a summary line.\n"
            "Exit status: 0 clean, 1 violations found, 2 bad usage or unreadable file.\n");
}

/* Reads a whole file into a NUL-terminated buffer. */
static char *read_file(const char *path, size_t *len) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;

    char *buf = NULL;
    size_t used = 0, cap = 0;
    for (;;) {
        if (used + 4096 + 1 > cap) {
            size_t grown = cap ? cap * 2 : 65536;
            char *next = realloc(buf, grown);
            if (!next) {
                free(buf);
                fclose(fp);
                errno = ENOMEM;
                return NULL;
            }
            buf = next;
            cap = grown;
        }
        size_t got = fread(buf + used, 1, cap - used - 1, fp);
        used += got;
        if (got == 0) break;
    }

    int failed = ferror(fp);
    int saved = errno;
    fclose(fp);
    if (failed) {
        free(buf);
        errno = saved ? saved : EIO;
        return NULL;
    }
    buf[used] = '\0';
    *len = used;
    return buf;
}

int main(int argc, char **argv) {
    int first = 1;
    for (; first < argc; first++) {
        const char *a = argv[first];
        if (!strcmp(a, "--")) {
            first++;
            break;
        }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            print_usage(stdout);
            return EXIT_CLEAN;
        }
        if (a[0] != '-' || a[1] == '\0') break;
        fprintf(stderr, "flexllm-hlscheck: unknown option '%s'; run with --help for the usage\n", a);
        return EXIT_BAD_INPUT;
    }
    if (first >= argc) {
        fprintf(stderr, "flexllm-hlscheck: no input files\n\n");
        print_usage(stderr);
        return EXIT_BAD_INPUT;
    }

    size_t n_args = (size_t)(argc - first);
    hls_input *inputs = calloc(n_args, sizeof *inputs);
    char **canons = calloc(n_args, sizeof *canons);
    if (!inputs || !canons) {
        fprintf(stderr, "flexllm-hlscheck: out of memory\n");
        return EXIT_BAD_INPUT;
    }
    int status = EXIT_BAD_INPUT;
    size_t n = 0;
    for (size_t a = 0; a < n_args; a++) {
        const char *path = argv[first + (int)a];
        char *canon = realpath(path, NULL);
        bool duplicate = false;
        for (size_t k = 0; k < n && canon; k++)
            if (!strcmp(canons[k], canon)) duplicate = true;
        if (duplicate) {
            free(canon);
            continue;
        }
        size_t len = 0;
        char *text = read_file(path, &len);
        if (!text) {
            fprintf(stderr, "flexllm-hlscheck: cannot read '%s': %s\n", path, strerror(errno));
            free(canon);
            goto done;
        }
        canons[n] = canon ? canon : strdup(path);
        inputs[n] = (hls_input){path, canons[n], text, len};
        n++;
        if (!canons[n - 1]) {
            fprintf(stderr, "flexllm-hlscheck: out of memory\n");
            goto done;
        }
    }

    hls_result result;
    char err[512];
    if (hls_check(inputs, n, &result, err, sizeof err) != 0) {
        fprintf(stderr, "flexllm-hlscheck: %s\n", err);
        goto done;
    }
    for (size_t i = 0; i < result.n_findings; i++) {
        const hls_finding *v = &result.findings[i];
        printf("%s:%d: %s: %s\n", inputs[v->file].path, v->line, v->rule, v->message);
    }
    printf("hlscheck: %zu files, %zu functions, %zu violations\n", n, result.n_functions, result.n_findings);
    status = result.n_findings ? EXIT_VIOLATIONS : EXIT_CLEAN;
    hls_result_free(&result);

done:
    for (size_t i = 0; i < n; i++) {
        free((char *)inputs[i].text);
        free(canons[i]);
    }
    free(inputs);
    free(canons);
    return status;
}
