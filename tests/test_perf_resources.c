/* Resource model: DSP counts worked out by hand for u280-ref, rejection of
 * designs that overflow a resource (named, with the excess), of HBM maps
 * naming channels the device lacks and of channels too small for their
 * weights. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "perf/estimate.h"
#include "perf/hbm_map.h"
#include "perf/resources.h"

static double kind_dsp(const flx_design_resources *r, const char *kind) {
    flx_module_use kinds[48];
    int n = flx_perf_resources_by_kernel(r, kinds, 48);
    for (int i = 0; i < n; i++)
        if (!strcmp(kinds[i].name, kind)) return kinds[i].use.dsp;
    return -1;
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
        return flx_check_report("test_perf_resources");
    }
    static flx_design_resources pre, dec;
    flx_perf_resources(&dev, &cfg, &m, FLX_ENGINE_PREFILL, 2048, &pre);
    flx_perf_resources(&dev, &cfg, &m, FLX_ENGINE_DECODE, 2048, &dec);
    /* int4 x uint4 arrays pack 4 MACs into 2 DSPs. Decode has 16 x 64 MACs,
     * prefill two 8 x 24 arrays and three 8 x 96 arrays. */
    CHECK_INT_EQ(kind_dsp(&dec, "linear"), 16 * 64 / 2);
    CHECK_INT_EQ(kind_dsp(&pre, "linear"), 2 * 8 * 24 / 2 + 3 * 8 * 96 / 2);
    /* Attention: 8 lanes x 32 int8 MACs at 2 per DSP, plus 8 float dequant
     * multipliers of 3 DSPs (QK) or 16 (AV). */
    CHECK_INT_EQ(kind_dsp(&dec, "attn_qk"), 8 * 32 / 2 + 8 * 3);
    CHECK_INT_EQ(kind_dsp(&dec, "attn_av"), 8 * 32 / 2 + 16 * 3);
    /* Whole decode bitstream, per kernel (float mul 3 DSPs, add 2, exp 7):
     * rmsnorm 16(2*3+2), quant 16(3+2), linear 512, dequant 16(3*3+2),
     * rope 16(4*3+2*2), static quant 3*8*3, qk 152, softmax 8(3+4*2+7),
     * av 176, silu 16(2*3+2+7), fwht 16(3+2*2), residual 16*2. */
    double decode_dsp = 128 + 80 + 512 + 176 + 256 + 72 + 152 + 144 + 176 + 240 + 112 + 32;
    CHECK_INT_EQ(dec.total.dsp, decode_dsp);
    CHECK(dec.placed);
    CHECK(pre.placed);
    CHECK_INT_EQ(flx_perf_check_fit(&dev, &dec, &err), 0);
    CHECK_INT_EQ(flx_perf_check_fit(&dev, &pre, &err), 0);

    /* A device with 1,000 DSPs usable: the same design is over by the difference. */
    flx_device small = dev;
    small.n_slrs = 1;
    memset(&small.slr[0], 0, sizeof small.slr[0]);
    small.slr[0] = dev.total;
    small.slr[0].dsp = 1000;
    small.total = small.slr[0];
    small.max_utilization = 1.0;
    small.hbm_slr = 0;
    flx_perf_resources(&small, &cfg, &m, FLX_ENGINE_DECODE, 2048, &dec);
    CHECK_INT_EQ(flx_perf_check_fit(&small, &dec, &err), -1);
    fprintf(stderr, "expected rejection: %s\n", err.msg);
    CHECK(strstr(err.msg, "dsp needs 2080") != NULL);
    char excess[64];
    snprintf(excess, sizeof excess, "over by %.0f", decode_dsp - 1000);
    CHECK(strstr(err.msg, excess) != NULL);

    /* A too-wide decode engine on the real U280 overflows its DSPs. */
    flx_accel_config wide = cfg;
    wide.decode = (flx_decode_config){64, 64, 256, 128, 128};
    wide.hbm.decode_weights = 0;
    static flx_estimate e;
    flx_workload w = {1024, 1024};
    CHECK_INT_EQ(flx_perf_estimate(&dev, &wide, &m, w, &e, &err), 0);
    CHECK_INT_EQ(e.fits, 0);
    fprintf(stderr, "expected rejection: %s\n", e.fit_error);
    CHECK(strstr(e.fit_error, "decode bitstream does not fit u280: ") != NULL);
    CHECK(strstr(e.fit_error, "dsp needs") != NULL);
    CHECK(strstr(e.fit_error, "over by") != NULL);

    /* Weights of every layer on one 256 MiB channel do not fit. */
    flx_accel_config one = cfg;
    one.hbm.decode_weights = 1;
    one.hbm.decode_kv = 2;
    CHECK_INT_EQ(flx_perf_estimate(&dev, &one, &m, w, &e, &err), 0);
    CHECK_INT_EQ(e.fits, 0);
    fprintf(stderr, "expected rejection: %s\n", e.fit_error);
    CHECK(strstr(e.fit_error, "HBM channel 0") != NULL);
    CHECK(strstr(e.fit_error, "256 MiB") != NULL);

    /* A channel the U280 does not have. */
    flx_accel_config far = cfg;
    far.hbm.decode_kv = 1ull << 40;
    CHECK_INT_EQ(flx_perf_estimate(&dev, &far, &m, w, &e, &err), -1);
    CHECK(strstr(err.msg, "hbm.decode.kv uses HBM channel 40") != NULL);

    /* Stream spreading: 4 streams of 8 bytes over 2 channels, over 8 channels. */
    double load[FLX_MAX_HBM_CHANNELS] = {0};
    double bytes[4] = {8, 8, 8, 8};
    flx_hbm_spread(0x3, 4, bytes, load);
    CHECK_NEAR(load[0], 16, 0);
    CHECK_NEAR(load[1], 16, 0);
    memset(load, 0, sizeof load);
    flx_hbm_spread(0xff00, 4, bytes, load);
    CHECK_NEAR(load[8], 4, 0);
    CHECK_NEAR(load[15], 4, 0);
    CHECK_NEAR(load[0], 0, 0);
    return flx_check_report("test_perf_resources");
}
