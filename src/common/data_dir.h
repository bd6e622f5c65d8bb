/* The data folder (models, text, reference values) used by tests, demos and
 * benchmarks: $FLEXLLM_DATA, else ../shared/data relative to the working
 * directory. */
#ifndef FLEXLLM_COMMON_DATA_DIR_H
#define FLEXLLM_COMMON_DATA_DIR_H

#include <stddef.h>

const char *flx_data_dir(void);

/* Writes "<data dir>/<relative>" into out; returns out. */
char *flx_data_path(char *out, size_t out_size, const char *relative);

#endif
