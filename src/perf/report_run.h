/* Modeled FPGA time of one run of the simulated engines: the simulation
 * counters converted to seconds at the device's achieved clocks, with the
 * HBM bandwidth of the configuration's channels as a lower bound. */
#ifndef FLEXLLM_PERF_REPORT_RUN_H
#define FLEXLLM_PERF_REPORT_RUN_H

#include <stdio.h>

#include "common/error.h"
#include "engines/accel_config.h"
#include "engines/counters.h"
#include "perf/device.h"
#include "perf/perf_model.h"
#include "quant/qmodel.h"

/* Fills m with the shape, weight widths, KV-cache quantizer and online
 * rotations (R3, R4 as Walsh-Hadamard or dense) of a quantized model. */
void flx_perf_model_from_qmodel(const flx_qmodel *qm, flx_perf_model *m);

/* Prints the modeled time, throughput and (when m is not NULL) energy of
 * the runs counted in prefill and decode (either may be NULL or empty).
 * Fails for a GPU device or an HBM map that does not fit dev. */
int flx_perf_report_run(FILE *out, const flx_device *dev, const flx_accel_config *cfg, const flx_perf_model *m,
                        const flx_counters *prefill, const flx_counters *decode, flx_error *err);

#endif
