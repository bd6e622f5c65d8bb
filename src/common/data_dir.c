#include "common/data_dir.h"

#include <stdio.h>
#include <stdlib.h>

const char *flx_data_dir(void) {
    const char *dir = getenv("FLEXLLM_DATA");
    return (dir && *dir) ? dir : "../shared/data";
}

char *flx_data_path(char *out, size_t out_size, const char *relative) {
    snprintf(out, out_size, "%s/%s", flx_data_dir(), relative);
    return out;
}
