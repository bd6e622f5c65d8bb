/* Checks C sources against the synthesizable subset that FlexLLM's HLS
 * kernels follow; see tools/hlscheck/README.md for the rules. */
#ifndef FLEXLLM_HLSCHECK_CHECK_H
#define FLEXLLM_HLSCHECK_CHECK_H

#include <stddef.h>

typedef struct hls_input {
    const char *path;  /* printed in violations */
    const char *canon; /* absolute path used to resolve quoted includes; may equal path */
    const char *text;
    size_t len;
} hls_input;

typedef struct hls_finding {
    size_t file; /* index into the inputs */
    int line;
    const char *rule; /* dynamic-memory, recursion, function-pointer, vla, unbounded-loop, include,
                         library-call, goto, asm, missing-pragma */
    char message[400];
} hls_finding;

typedef struct hls_result {
    size_t n_functions;     /* function definitions found */
    hls_finding *findings;  /* sorted by file, then line */
    size_t n_findings;
} hls_result;

/* Checks the n files together (recursion and calls span files). Returns 0
 * with the violations in out, or -1 with a message in err when a file
 * cannot be tokenized (unterminated comment or literal) or memory runs out. */
int hls_check(const hls_input *inputs, size_t n, hls_result *out, char *err, size_t err_size);

void hls_result_free(hls_result *result);

#endif
