/* Fuzzes the learned-rotation file loader for a model of dim 8, head_dim
 * 4 and 2 layers; an accepted file must give orthogonal matrices. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_common.h"
#include "quant/rotate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    flx_config c = {.dim = 8, .n_layers = 2, .head_dim = 4};
    flx_rotation_file rf;
    flx_error err;
    const char *path = fuzz_write_temp(data, size, ".safetensors");
    if (flx_rotation_file_load(&rf, path, &c, &err) != 0) return 0;
    if (rf.r1 && !(flx_orthogonal_error(rf.r1, rf.dim) <= FLX_ROTATION_ORTHOGONALITY_TOLERANCE)) abort();
    for (int l = 0; rf.r2 && l < rf.n_layers; l++)
        if (!(flx_orthogonal_error(rf.r2 + (size_t)l * 16, 4) <= FLX_ROTATION_ORTHOGONALITY_TOLERANCE)) abort();
    flx_rotation_file_free(&rf);
    return 0;
}
