#include "perf/calibrate.h"

#include <math.h>
#include <string.h>

#include "perf/estimate.h"
#include "perf/power.h"

const flx_measurement flx_u280_measurements[FLX_CAL_COUNT] = {
    {"prefill of 1024 tokens", 1024, 0, 1.6615},
    {"decode of 256 tokens after 1024", 1024, 256, 2.37094},
    {"decode of 512 tokens after 1024", 1024, 512, 4.80303},
    {"decode of 1024 tokens after 1024", 1024, 1024, 9.86104},
};

/* Mean of the 19 samples above 40 W in power_log_mem_opt.txt (40.8-43.5 W). */
const double flx_u280_running_power_w = 41.9;

/* Modeled seconds of measurement i on dev (bandwidth limits included). */
static double modeled(const flx_device *dev, const flx_accel_config *cfg, const flx_perf_model *m, int i) {
    const flx_measurement *x = &flx_u280_measurements[i];
    flx_engine_estimate e;
    if (x->output_tokens == 0) return flx_perf_prefill_seconds(dev, cfg, m, x->input_tokens, 0, &e);
    return flx_perf_decode_seconds(dev, cfg, m, x->input_tokens - 1, x->output_tokens, 0, &e);
}

/* Timings of every measurement equal their compute-only values. */
static int compute_bound(const flx_device *dev, const flx_accel_config *cfg, const flx_perf_model *m) {
    for (int i = 0; i < FLX_CAL_COUNT; i++) {
        const flx_measurement *x = &flx_u280_measurements[i];
        flx_engine_estimate e;
        if (x->output_tokens == 0)
            flx_perf_prefill_seconds(dev, cfg, m, x->input_tokens, 0, &e);
        else
            flx_perf_decode_seconds(dev, cfg, m, x->input_tokens - 1, x->output_tokens, 0, &e);
        if (e.seconds > e.compute_seconds * (1 + 1e-9)) return 0;
    }
    return 1;
}

int flx_perf_calibrate(const flx_device *dev, const flx_accel_config *cfg, const flx_perf_model *m,
                       flx_calibration *out, flx_error *err) {
    memset(out, 0, sizeof *out);
    flx_estimate probe;
    flx_workload w = {1024, 1024};
    if (flx_perf_estimate(dev, cfg, m, w, &probe, err) != 0) return -1;
    flx_accel_config resolved = probe.cfg;

    /* Prefill clock: modeled cycles over the measured time. */
    flx_engine_estimate e;
    const flx_measurement *pm = &flx_u280_measurements[FLX_CAL_PREFILL];
    flx_perf_prefill_seconds(dev, &resolved, m, pm->input_tokens, 0, &e);
    out->prefill_mhz = (double)e.cycles / pm->seconds / 1e6;

    /* Decode clock g = 1/f minimizing sum (a_i g - 1)^2 with a_i = cycles_i / seconds_i. */
    double sum_a = 0, sum_a2 = 0;
    for (int i = FLX_CAL_DECODE_256; i < FLX_CAL_COUNT; i++) {
        const flx_measurement *x = &flx_u280_measurements[i];
        flx_perf_decode_seconds(dev, &resolved, m, x->input_tokens - 1, x->output_tokens, 0, &e);
        double a = (double)e.cycles / x->seconds;
        sum_a += a;
        sum_a2 += a * a;
    }
    out->decode_mhz = sum_a2 / sum_a / 1e6;

    flx_device fitted = *dev;
    fitted.prefill_clock_mhz = out->prefill_mhz;
    fitted.decode_clock_mhz = out->decode_mhz;
    for (int i = 0; i < FLX_CAL_COUNT; i++) {
        out->modeled_s[i] = modeled(&fitted, &resolved, m, i);
        out->rel_error[i] = out->modeled_s[i] / flx_u280_measurements[i].seconds - 1;
    }

    /* Power scale: the mean power of the 1024-in, 1024-out run, as logged. */
    flx_estimate run;
    if (flx_perf_estimate(&fitted, cfg, m, w, &run, err) != 0) return -1;
    double total_s = run.prefill.seconds + run.decode.seconds, fixed_j = 0, per_scale_j = 0;
    const flx_engine_estimate *engines[2] = {&run.prefill, &run.decode};
    for (int k = 0; k < 2; k++) {
        const flx_engine_estimate *x = engines[k];
        fixed_j += (dev->idle_w + dev->hbm_pj_per_bit * 1e-12 * 8 * x->hbm_bytes / x->seconds) * x->seconds;
        per_scale_j += x->clock_mhz / 1000 * flx_perf_power_units(dev, &x->res) * x->seconds;
    }
    out->logic_w_per_ghz = (flx_u280_running_power_w * total_s - fixed_j) / per_scale_j;
    if (out->logic_w_per_ghz <= 0)
        return flx_fail(err, "%s: idle power %.1f W plus HBM power already exceed the measured %.1f W", dev->path,
                        dev->idle_w, flx_u280_running_power_w);
    fitted.logic_w_per_ghz = out->logic_w_per_ghz;
    if (flx_perf_estimate(&fitted, cfg, m, w, &run, err) != 0) return -1;
    out->modeled_power_w = (run.prefill.energy_j + run.decode.energy_j) / (run.prefill.seconds + run.decode.seconds);

    /* The measurements do not constrain the port efficiency while the
     * design stays compute-bound: find where that stops. */
    double lo = 0.001, hi = 1.0;
    fitted.port_efficiency = hi;
    if (compute_bound(&fitted, &resolved, m)) {
        for (int it = 0; it < 40; it++) {
            fitted.port_efficiency = 0.5 * (lo + hi);
            if (compute_bound(&fitted, &resolved, m))
                hi = fitted.port_efficiency;
            else
                lo = fitted.port_efficiency;
        }
        out->min_port_efficiency = hi;
    } else {
        out->min_port_efficiency = NAN;
    }
    return 0;
}

void flx_perf_apply_calibration(flx_device *dev, const flx_calibration *cal) {
    dev->prefill_clock_mhz = cal->prefill_mhz;
    dev->decode_clock_mhz = cal->decode_mhz;
    dev->logic_w_per_ghz = cal->logic_w_per_ghz;
}
