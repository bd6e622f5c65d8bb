/* Fabric resources of the prefill and decode bitstreams, module by module.
 * DSPs come from the MACs and float operators with the device's DSP
 * packing, BRAM and URAM from buffer shapes, LUT and FF from per-operator
 * constants. The modules are then placed on the SLRs. A design that does
 * not fit is rejected with the resource that overflows. */
#ifndef FLEXLLM_PERF_RESOURCES_H
#define FLEXLLM_PERF_RESOURCES_H

#include "common/error.h"
#include "engines/accel_config.h"
#include "perf/device.h"
#include "perf/perf_model.h"

#define FLX_MAX_MODULES 192

typedef enum flx_engine_kind { FLX_ENGINE_PREFILL, FLX_ENGINE_DECODE } flx_engine_kind;

typedef struct flx_module_use {
    char name[32];
    flx_resources use;
    int hbm_port;   /* an HBM port: must sit in the HBM SLR */
    int slr;        /* placed SLR, -1 before placement */
} flx_module_use;

typedef struct flx_design_resources {
    flx_engine_kind engine;
    flx_module_use modules[FLX_MAX_MODULES];
    int n_modules;
    flx_resources total;
    flx_resources slr_use[FLX_MAX_SLRS];
    int placed;     /* 1 when every module found an SLR */
} flx_design_resources;

/* Builds the module list of one engine's bitstream for a KV cache of
 * max_seq positions, and places it on dev's SLRs. */
void flx_perf_resources(const flx_device *dev, const flx_accel_config *cfg, const flx_perf_model *m,
                        flx_engine_kind engine, int max_seq, flx_design_resources *out);

/* Returns 0 when the design fits, else fails naming the resource that
 * overflows and by how much (or the module no SLR can hold). */
int flx_perf_check_fit(const flx_device *dev, const flx_design_resources *r, flx_error *err);

/* Highest used/allowed fraction over the resources of the whole device. */
double flx_perf_peak_utilization(const flx_device *dev, const flx_design_resources *r, int *which);

/* Modules of one engine summed by kind (array modules and ports folded),
 * for printing: writes at most max entries and returns their count. */
int flx_perf_resources_by_kernel(const flx_design_resources *r, flx_module_use *out, int max);

#endif
