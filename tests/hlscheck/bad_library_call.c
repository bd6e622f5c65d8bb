/* Calls to functions that are neither in the checked files nor among the
 * allowed <math.h> functions. */
#include <math.h>
#include <stdint.h>

void lc_copy(float *dst, const float *src, int n) {
#pragma HLS INLINE
    memcpy(dst, src, (unsigned)n * sizeof *dst); /* expect: library-call */
    memset(dst, 0, 4);                           /* expect: library-call */
    printf("%d\n", n);                           /* expect: library-call */
    assert(n > 0);                               /* expect: library-call */
    dst[0] = tanhf(src[0]) + expf(src[1]);       /* expect: library-call */
    if (n < 0) exit(1);                          /* expect: library-call */
    int lc_helper(int);                          /* declared here, defined nowhere */
    dst[1] = (float)lc_helper(n);                /* expect: library-call */
#ifndef __SYNTHESIS__
    printf("debug only\n");
#endif
#if !defined(__SYNTHESIS__)
    puts("debug only");
#endif
}
