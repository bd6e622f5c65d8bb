/* SVG drawings of a design-space exploration: the Pareto front of the
 * objective against resource utilization, and a roofline (attained
 * operations per second against operations per HBM byte) of the prefill
 * and decode engines of the best and the reference designs. */
#ifndef FLEXLLM_PERF_SVG_H
#define FLEXLLM_PERF_SVG_H

#include "common/error.h"
#include "perf/dse.h"

/* Writes both plots side by side into path. reference may be NULL. */
int flx_svg_write_dse(const char *path, const flx_device *dev, const flx_perf_model *m, const flx_dse_result *r,
                      const flx_dse_point *reference, flx_error *err);

#endif
