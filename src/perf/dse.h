/* Design-space exploration. It enumerates prefill parallelism (TP, WP of
 * the QKVO and FFN arrays, FFN blocks, KP, VP) and decode parallelism (BP,
 * WP, HP, KP, VP, HBM channels of the weights and KV caches). It keeps the
 * designs that fit the device and returns the Pareto front of the
 * objective against the peak resource utilization. The prefill and decode
 * bitstreams are separate, so each is searched on its own and the fronts
 * are combined. */
#ifndef FLEXLLM_PERF_DSE_H
#define FLEXLLM_PERF_DSE_H

#include "common/error.h"
#include "engines/accel_config.h"
#include "perf/device.h"
#include "perf/estimate.h"
#include "perf/perf_model.h"

typedef enum flx_objective { FLX_OBJECTIVE_LATENCY, FLX_OBJECTIVE_DECODE, FLX_OBJECTIVE_ENERGY } flx_objective;

/* Parses "latency", "decode" or "energy"; -1 otherwise. */
int flx_objective_parse(const char *text, flx_objective *out);
const char *flx_objective_name(flx_objective o);

typedef struct flx_dse_point {
    flx_accel_config cfg;
    double prefill_s, decode_s, end_to_end_s;
    double decode_tokens_per_s;
    double energy_per_token_j;     /* prefill and decode energy per generated token */
    double utilization;            /* peak used fraction of any resource, over both bitstreams */
    int limit_resource;            /* the resource at that peak */
    double objective;              /* lower is better: seconds, seconds per token, or joules per token */
} flx_dse_point;

#define FLX_DSE_MAX_FRONT 64
#define FLX_DSE_MAX_CLOUD 4096

typedef struct flx_dse_result {
    flx_objective objective;
    flx_workload workload;
    flx_dse_point best;
    flx_dse_point front[FLX_DSE_MAX_FRONT];  /* by rising utilization */
    int n_front;
    flx_dse_point cloud[FLX_DSE_MAX_CLOUD];  /* other feasible combinations, for plots */
    int n_cloud;
    int n_prefill_evaluated, n_prefill_feasible;
    int n_decode_evaluated, n_decode_feasible;
    char limit[512];               /* what keeps the best decode design from going faster */
} flx_dse_result;

/* Searches the space for dev, model m and workload w. Fails when no
 * prefill or no decode design fits. */
int flx_dse_run(const flx_device *dev, const flx_perf_model *m, flx_workload w, flx_objective objective,
                flx_dse_result *out, flx_error *err);

/* Fills a point from a full estimate (for the reference design). */
void flx_dse_point_from_estimate(const flx_device *dev, const flx_estimate *e, flx_objective objective,
                                 flx_dse_point *p);

#endif
