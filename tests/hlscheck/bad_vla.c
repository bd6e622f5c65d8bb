/* Array dimensions that are not integer constant expressions. */
#include <stdint.h>

#define VLA_MAX 64
#define VLA_ROWS n_rows

void vla_params(int n, float x[n], const float y[VLA_MAX]); /* expect: vla */
void vla_star(int n, float z[*]);                           /* expect: vla */

float vla_locals(int n, int n_rows) {
#pragma HLS INLINE
    float buf[n];           /* expect: vla */
    int32_t pairs[n * 2];   /* expect: vla */
    const int m = 4;
    int16_t by_const[m];    /* expect: vla */
    float rows[VLA_ROWS];   /* expect: vla */
    float scale[2.5];       /* expect: vla */
    float fine[VLA_MAX * 2], *ok = 0;
    int32_t grid[VLA_MAX][n]; /* expect: vla */
    (void)ok;
    return buf[0] + (float)pairs[0] + (float)by_const[0] + rows[0] + scale[0] + fine[0] + (float)grid[0][0];
}

struct vla_member {
    int32_t fixed[VLA_MAX];
    int32_t open[];
};
