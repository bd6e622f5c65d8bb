#include "perf/power.h"

double flx_perf_power_units(const flx_device *dev, const flx_design_resources *r) {
    double units = 0;
    for (int k = 0; k < FLX_RES_COUNT; k++) units += dev->power_weight[k] * flx_resources_get(&r->total, k);
    return units / 1000.0;
}

double flx_perf_power_w(const flx_device *dev, const flx_design_resources *r, double clock_hz,
                        double hbm_bytes_per_s) {
    double logic = dev->logic_w_per_ghz * (clock_hz / 1e9) * flx_perf_power_units(dev, r);
    double hbm = dev->hbm_pj_per_bit * 1e-12 * 8.0 * hbm_bytes_per_s;
    return dev->idle_w + logic + hbm;
}
