/* Includes outside <stdint.h>, <stdbool.h>, <math.h> and the checked files. */
#include <stdint.h>
#include <stdio.h>    /* expect: include */
#include <string.h>   /* expect: include */
#include "missing.h"  /* expect: include */
#define INC_HEADER <stdlib.h>
#include INC_HEADER   /* expect: include */
#ifdef __SYNTHESIS__
#include <assert.h>   /* expect: include */
#else
#include <stdlib.h>
#endif

int32_t inc_identity(int32_t x) {
    return x;
}
