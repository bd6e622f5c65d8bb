/* The calibrated U280 model against the reference design's measurements.
 * The measurements are 3-run averages of the mem_opt bitstreams running
 * Llama-3.2-1B and an xbutil power log (FPGA_Friendly_SpinQuant,
 * run/U280_test_result). Every modeled time must lie within 10%, the mean
 * board power within the logged 41-43 W, and the constants stored in
 * devices/u280.json must equal a fresh fit. */
#include <math.h>
#include <stdio.h>

#include "check.h"
#include "perf/calibrate.h"
#include "perf/estimate.h"

static void check_within(double modeled, double measured, double tolerance, const char *what) {
    double rel = modeled / measured - 1;
    fprintf(stderr, "%s: modeled %.4f, measured %.4f (%+.1f%%)\n", what, modeled, measured, 100 * rel);
    CHECK(fabs(rel) <= tolerance);
}

int main(void) {
    flx_error err;
    flx_device dev;
    flx_accel_config cfg;
    flx_perf_model m;
    if (flx_device_load(&dev, FLX_TEST_DEVICES_DIR "/u280.json", &err) != 0 ||
        flx_accel_config_get("u280-ref", &cfg, &err) != 0 || flx_perf_model_get("llama-3.2-1b", &m, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        CHECK(0);
        return flx_check_report("test_perf_calibration");
    }

    /* Measured kernel times (Pref_1024_Dec_{256,512,1024}.txt). */
    const struct {
        int out;
        double decode_s;
    } runs[] = {{256, 2.37094}, {512, 4.80303}, {1024, 9.86104}};
    static flx_estimate e;
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        flx_workload w = {1024, runs[i].out};
        CHECK_INT_EQ(flx_perf_estimate(&dev, &cfg, &m, w, &e, &err), 0);
        CHECK(e.fits);
        char what[64];
        snprintf(what, sizeof what, "decode of %d tokens", runs[i].out);
        check_within(e.decode.seconds, runs[i].decode_s, 0.10, what);
        check_within(e.prefill.seconds, 1.6615, 0.10, "prefill of 1024 tokens");
    }
    /* Running board power 41-43 W: the mean power of the 1024:1024 run. */
    double mean_w = (e.prefill.energy_j + e.decode.energy_j) / e.end_to_end_s;
    fprintf(stderr, "mean power %.2f W\n", mean_w);
    CHECK(mean_w >= 41.0);
    CHECK(mean_w <= 43.0);
    CHECK(e.prefill.power_w >= 41.0);
    CHECK(e.prefill.power_w <= 43.0);
    CHECK(e.decode.power_w >= 41.0);
    CHECK(e.decode.power_w <= 43.0);

    /* The stored constants are the fit's (rounded to 0.1 MHz and 3 digits). */
    flx_calibration cal;
    CHECK_INT_EQ(flx_perf_calibrate(&dev, &cfg, &m, &cal, &err), 0);
    fprintf(stderr,
            "fit: prefill clock %.1f MHz, decode clock %.1f MHz, logic power %.4f W per GHz and 1000 weighted "
            "resources, mean power %.2f W; port efficiencies from %.2f up give the same times\n",
            cal.prefill_mhz, cal.decode_mhz, cal.logic_w_per_ghz, cal.modeled_power_w, cal.min_port_efficiency);
    for (int i = 0; i < FLX_CAL_COUNT; i++)
        fprintf(stderr, "fit: %s: modeled %.4f s, measured %.4f s (%+.1f%%)\n", flx_u280_measurements[i].what,
                cal.modeled_s[i], flx_u280_measurements[i].seconds, 100 * cal.rel_error[i]);
    CHECK_NEAR(dev.prefill_clock_mhz, cal.prefill_mhz, 0.001);
    CHECK_NEAR(dev.decode_clock_mhz, cal.decode_mhz, 0.001);
    CHECK(fabs(dev.logic_w_per_ghz / cal.logic_w_per_ghz - 1) < 0.005);
    for (int i = 0; i < FLX_CAL_COUNT; i++) CHECK(fabs(cal.rel_error[i]) <= 0.10);
    /* The fitted clocks stay below the 300 MHz the builds targeted. */
    CHECK(cal.prefill_mhz < dev.target_clock_mhz);
    CHECK(cal.decode_mhz < dev.target_clock_mhz);
    /* The reference design is compute-bound: any efficiency above the bound
     * gives the same times, including the device file's. */
    CHECK(cal.min_port_efficiency > 0);
    CHECK(cal.min_port_efficiency < dev.port_efficiency);
    CHECK(fabs(e.decode.seconds - e.decode.compute_seconds) < 1e-9 * e.decode.seconds);
    return flx_check_report("test_perf_calibration");
}
