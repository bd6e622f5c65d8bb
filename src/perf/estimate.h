/* End-to-end estimate of one workload (a prompt of IN tokens, then OUT
 * generated tokens) on an FPGA device: prefill latency, decode time per
 * token as the context grows, HBM bandwidth limits per channel, resources
 * and energy. The prefill engine processes the first IN-1 prompt tokens
 * and each decode step one token, the first step taking the last prompt
 * token, as the reference host program does. */
#ifndef FLEXLLM_PERF_ESTIMATE_H
#define FLEXLLM_PERF_ESTIMATE_H

#include <stdint.h>

#include "common/error.h"
#include "engines/accel_config.h"
#include "engines/counters.h"
#include "perf/device.h"
#include "perf/perf_model.h"
#include "perf/resources.h"

typedef struct flx_workload {
    int input_tokens;
    int output_tokens;
} flx_workload;

/* Parses "IN:OUT" (two positive integers); returns -1 for other text. */
int flx_workload_parse(const char *text, flx_workload *w);

typedef struct flx_engine_estimate {
    double seconds;            /* with the bandwidth limits */
    double compute_seconds;    /* modeled cycles at the achieved clock */
    uint64_t cycles;
    double clock_mhz;
    double hbm_bytes;          /* bytes moved over HBM */
    double channel_bytes[FLX_MAX_HBM_CHANNELS];
    int busiest_channel;
    double busiest_fraction;   /* busiest channel's bytes / (seconds * its sustained rate) */
    double power_w, energy_j;
    flx_counters counters;     /* what the engine simulation would record */
    flx_design_resources res;
} flx_engine_estimate;

typedef struct flx_estimate {
    flx_workload workload;
    flx_accel_config cfg;          /* with the HBM map resolved */
    flx_engine_estimate prefill, decode;
    double end_to_end_s;
    double decode_tokens_per_s;
    double energy_per_token_j;     /* prefill and decode energy per generated token */
    double decode_energy_per_token_j;
    double decode_hbm_fraction;    /* decode HBM bytes / (decode time * peak HBM bandwidth) */
    double bytes_per_token;        /* decode HBM bytes per generated token */
    double weight_bytes_per_token;
    double ceiling_tokens_per_s;   /* peak HBM bandwidth / bytes_per_token */
    int fits;                      /* both bitstreams fit the device */
    char fit_error[1024];          /* why not, when fits == 0 */
} flx_estimate;

/* Checks the workload, the configuration and its HBM map against dev (an
 * FPGA) and m, then fills out. A design that does not fit the fabric or
 * the HBM capacity still gets its timing, with fits = 0 and the reason. */
int flx_perf_estimate(const flx_device *dev, const flx_accel_config *cfg, const flx_perf_model *m,
                      flx_workload w, flx_estimate *out, flx_error *err);

/* Decode seconds of the steps at positions first_pos .. first_pos+n-1
 * (bandwidth limits included); the prefill seconds of n tokens. Both
 * expect a configuration whose HBM map flx_hbm_resolve has completed, and
 * fill out->counters only when with_counters is set (it costs a pass over
 * every kernel call). */
double flx_perf_decode_seconds(const flx_device *dev, const flx_accel_config *cfg, const flx_perf_model *m,
                               int first_pos, int n, int with_counters, flx_engine_estimate *out);
double flx_perf_prefill_seconds(const flx_device *dev, const flx_accel_config *cfg, const flx_perf_model *m,
                                int n, int with_counters, flx_engine_estimate *out);

/* Integer multiply-accumulates of the linear layers and attention. */
double flx_perf_decode_macs(const flx_perf_model *m, int first_pos, int n);
double flx_perf_prefill_macs(const flx_perf_model *m, int n);

/* Checks that every decode HBM channel can hold its share of the weights
 * and of the K and V caches for max_seq positions. */
int flx_perf_check_capacity(const flx_device *dev, const flx_accel_config *cfg, const flx_perf_model *m, int max_seq,
                            flx_error *err);

/* KV cache positions the bitstreams are sized for: the workload's, at
 * least 2048 as in the reference design. */
int flx_perf_max_seq(flx_workload w);

#endif
