/* Fuzzes the accelerator configuration file reader (key = value lines,
 * HBM channel lists) on arbitrary bytes: an accepted configuration passes
 * validation and survives a write-then-read round trip. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engines/accel_config.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_temp(data, size, ".cfg");
    if (!path) return 0;
    flx_accel_config cfg, back;
    flx_error err;
    if (flx_accel_config_get(path, &cfg, &err) != 0) return 0;
    if (flx_accel_config_validate(&cfg, &err) != 0) abort();
    char out[4096];
    snprintf(out, sizeof out, "%s.out", path);
    if (flx_accel_config_save(&cfg, out, &err) != 0) return 0;
    if (flx_accel_config_get(out, &back, &err) != 0) abort();
    if (memcmp(&cfg.prefill, &back.prefill, sizeof cfg.prefill) || memcmp(&cfg.decode, &back.decode, sizeof cfg.decode) ||
        memcmp(&cfg.hbm, &back.hbm, sizeof cfg.hbm))
        abort();
    remove(out);
    return 0;
}
