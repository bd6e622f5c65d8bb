/* Helpers shared by the fuzz targets. */
#ifndef FLEXLLM_FUZZ_COMMON_H
#define FLEXLLM_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* Writes data to a per-process scratch file with the given suffix (e.g.
 * ".gguf") and returns its path, so file-based loaders can be fuzzed. */
const char *fuzz_write_temp(const uint8_t *data, size_t size, const char *suffix);

#endif
