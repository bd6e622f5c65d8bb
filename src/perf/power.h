/* Board power of a running bitstream: the idle board, dynamic logic power
 * proportional to the clock and the weighted resources in use, and HBM
 * access energy per bit moved. */
#ifndef FLEXLLM_PERF_POWER_H
#define FLEXLLM_PERF_POWER_H

#include "perf/device.h"
#include "perf/resources.h"

/* Weighted resource units (thousands) of a design, the quantity the
 * dynamic logic power scales with. */
double flx_perf_power_units(const flx_device *dev, const flx_design_resources *r);

/* Watts while the design runs at clock_hz moving hbm_bytes_per_s. */
double flx_perf_power_w(const flx_device *dev, const flx_design_resources *r, double clock_hz,
                        double hbm_bytes_per_s);

#endif
