/* Design-space exploration on the U280 for Llama-3.2-1B at 1024:1024. The
 * decode objective must find a design that fits and models at least twice
 * the reference design's measured 103.8 tokens/s (1024 tokens in 9.86104
 * s). The front must trade utilization for the objective monotonically, and
 * the best configuration must survive a save and load. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "perf/dse.h"

int main(void) {
    flx_error err;
    flx_device dev;
    flx_perf_model m;
    if (flx_device_load(&dev, FLX_TEST_DEVICES_DIR "/u280.json", &err) != 0 ||
        flx_perf_model_get("llama-3.2-1b", &m, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        CHECK(0);
        return flx_check_report("test_perf_dse");
    }
    flx_dse_result *r = malloc(sizeof *r);
    flx_workload w = {1024, 1024};
    CHECK_INT_EQ(flx_dse_run(&dev, &m, w, FLX_OBJECTIVE_DECODE, r, &err), 0);
    double measured_ref = 1024 / 9.86104;
    fprintf(stderr, "best decode %.1f tokens/s (%.2fx the measured reference); %s\n", r->best.decode_tokens_per_s,
            r->best.decode_tokens_per_s / measured_ref, r->limit);
    CHECK(r->best.decode_tokens_per_s >= 2 * measured_ref);
    CHECK(r->n_front >= 2);
    for (int i = 1; i < r->n_front; i++) {
        CHECK(r->front[i].utilization >= r->front[i - 1].utilization);
        CHECK(r->front[i].objective < r->front[i - 1].objective);
    }
    CHECK(r->best.utilization <= dev.max_utilization);

    /* The best design, written and read back, re-estimates the same and fits. */
    char path[128];
    snprintf(path, sizeof path, "perf-dse-%d.cfg", (int)getpid());
    CHECK_INT_EQ(flx_accel_config_save(&r->best.cfg, path, &err), 0);
    flx_accel_config back;
    CHECK_INT_EQ(flx_accel_config_get(path, &back, &err), 0);
    remove(path);
    static flx_estimate e;
    CHECK_INT_EQ(flx_perf_estimate(&dev, &back, &m, w, &e, &err), 0);
    CHECK(e.fits);
    CHECK_NEAR(e.decode_tokens_per_s, r->best.decode_tokens_per_s, 1e-9);
    CHECK_NEAR(e.end_to_end_s, r->best.end_to_end_s, 1e-9);

    /* Latency and energy objectives: their best beats u280-ref on their own measure. */
    flx_accel_config ref_cfg;
    CHECK_INT_EQ(flx_accel_config_get("u280-ref", &ref_cfg, &err), 0);
    static flx_estimate ref;
    CHECK_INT_EQ(flx_perf_estimate(&dev, &ref_cfg, &m, w, &ref, &err), 0);
    CHECK_INT_EQ(flx_dse_run(&dev, &m, w, FLX_OBJECTIVE_LATENCY, r, &err), 0);
    CHECK(r->best.end_to_end_s < ref.end_to_end_s);
    CHECK_INT_EQ(flx_dse_run(&dev, &m, w, FLX_OBJECTIVE_ENERGY, r, &err), 0);
    CHECK(r->best.energy_per_token_j < ref.energy_per_token_j);

    /* A GPU has no design space. */
    flx_device gpu;
    CHECK_INT_EQ(flx_device_load(&gpu, FLX_TEST_DEVICES_DIR "/a100-80gb.json", &err), 0);
    CHECK_INT_EQ(flx_dse_run(&gpu, &m, w, FLX_OBJECTIVE_DECODE, r, &err), -1);
    CHECK(strstr(err.msg, "GPU") != NULL);
    free(r);
    return flx_check_report("test_perf_dse");
}
