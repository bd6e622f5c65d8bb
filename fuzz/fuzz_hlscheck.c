/* Fuzzes flexllm-hlscheck's checker on arbitrary bytes: tokenizing,
 * preprocessing and every structural pass must neither crash nor read out
 * of bounds, whether the input is C or not. The first byte splits the input
 * into two files, so includes, calls and recursion across files run too.
 * The checker is built into tools/, not the library, so its sources are
 * compiled here directly. */
#include <stdint.h>
#include <stdlib.h>

#include "../tools/hlscheck/calls.c"
#include "../tools/hlscheck/check.c"
#include "../tools/hlscheck/consteval.c"
#include "../tools/hlscheck/decl.c"
#include "../tools/hlscheck/forbidden.c"
#include "../tools/hlscheck/lexer.c"
#include "../tools/hlscheck/loops.c"
#include "../tools/hlscheck/preprocess.c"
#include "../tools/hlscheck/program.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    size_t split = data[0] * (size - 1) / 255;
    const char *text = (const char *)data + 1;
    hls_input inputs[2] = {
        {"fuzz/a.c", "/fuzz/a.c", text, split},
        {"fuzz/kernels/a.h", "/fuzz/kernels/a.h", text + split, size - 1 - split},
    };
    hls_result result;
    char err[512];
    if (hls_check(inputs, 2, &result, err, sizeof err) != 0) return 0;
    for (size_t i = 0; i < result.n_findings; i++)
        if (result.findings[i].file > 1 || result.findings[i].line < 0) abort();
    hls_result_free(&result);
    return 0;
}
