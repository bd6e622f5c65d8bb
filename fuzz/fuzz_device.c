/* Fuzzes the device-file reader on arbitrary bytes: it must reject or
 * accept without crashing or reading out of bounds, and an accepted device
 * must hold values inside the documented ranges. */
#include <stdint.h>
#include <stdlib.h>

#include "perf/device.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    flx_device dev;
    flx_error err;
    if (flx_device_parse(&dev, (const char *)data, size, "fuzz.json", &err) == 0 && dev.kind == FLX_DEVICE_FPGA) {
        if (dev.hbm_channels < 1 || dev.hbm_channels > FLX_MAX_HBM_CHANNELS || dev.n_slrs < 1 ||
            dev.n_slrs > FLX_MAX_SLRS || dev.hbm_slr >= dev.n_slrs)
            abort();
    }
    return 0;
}
