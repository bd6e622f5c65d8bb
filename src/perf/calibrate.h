/* Calibration against the measured U280 runs of the reference design. Only
 * the achieved clock of each bitstream and the dynamic power scale are
 * fitted. Everything else comes from the cycle model and the device file. */
#ifndef FLEXLLM_PERF_CALIBRATE_H
#define FLEXLLM_PERF_CALIBRATE_H

#include "common/error.h"
#include "engines/accel_config.h"
#include "perf/device.h"
#include "perf/perf_model.h"

/* Kernel times of the reference design's mem_opt bitstreams on a U280 for
 * Llama-3.2-1B, averaged over 3 runs (FPGA_Friendly_SpinQuant,
 * run/U280_test_result/Pref_1024_Dec_*.txt), and the mean board power of
 * the running samples in its power log. */
enum { FLX_CAL_PREFILL, FLX_CAL_DECODE_256, FLX_CAL_DECODE_512, FLX_CAL_DECODE_1024, FLX_CAL_COUNT };

typedef struct flx_measurement {
    const char *what;
    int input_tokens;   /* prompt length */
    int output_tokens;  /* decode steps; 0 for the prefill kernel */
    double seconds;
} flx_measurement;

extern const flx_measurement flx_u280_measurements[FLX_CAL_COUNT];
extern const double flx_u280_running_power_w;

typedef struct flx_calibration {
    double prefill_mhz;          /* fitted achieved clock of the prefill bitstream */
    double decode_mhz;           /* fitted, least squares of the relative errors */
    double logic_w_per_ghz;      /* fitted dynamic power scale */
    double modeled_s[FLX_CAL_COUNT];  /* with the fitted constants, bandwidth limits included */
    double rel_error[FLX_CAL_COUNT];  /* modeled / measured - 1 */
    double modeled_power_w;      /* mean board power of the 1024-in, 1024-out run */
    double min_port_efficiency;  /* lowest port efficiency that leaves the timings unchanged */
} flx_calibration;

/* Fits the constants for configuration cfg (u280-ref) and model m
 * (Llama-3.2-1B) on device dev, the U280 file, whose fitted fields are
 * ignored. Then evaluates the fit. */
int flx_perf_calibrate(const flx_device *dev, const flx_accel_config *cfg, const flx_perf_model *m,
                       flx_calibration *out, flx_error *err);

/* Copies the fitted constants into dev. */
void flx_perf_apply_calibration(flx_device *dev, const flx_calibration *cal);

#endif
