/* Run-time allocation in a kernel; each annotated line must be reported. */
#include <stdint.h>

void dm_copy(const float *src, int n, float *dst) {
#pragma HLS INLINE
    float *tmp = malloc((unsigned)n * sizeof *tmp); /* expect: dynamic-memory */
    float *zeroed = calloc(4, sizeof(float));      /* expect: dynamic-memory */
    tmp = realloc(tmp, 8 * sizeof(float));          /* expect: dynamic-memory */
    dst[0] = src[0] + tmp[0] + zeroed[0];
    free(tmp);    /* expect: dynamic-memory */
    free(zeroed); /* expect: dynamic-memory */
    char *stack = alloca(16); /* expect: dynamic-memory */
    (void)stack;
}
