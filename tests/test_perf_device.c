/* Device files: the shipped ones load with their documented values, and
 * broken ones (invalid JSON, a missing key, a negative value, a value
 * without a source, a wrong kind) fail with the file name and the key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "perf/device.h"

/* A minimal valid FPGA file; "%s" marks where a test splices in text. */
static const char *fpga_template =
    "{\"name\": \"testcard\", \"kind\": \"%s\",\n"
    " \"memory\": {\"hbm_channels\": {\"value\": 4, \"source\": \"s\"},\n"
    "   \"hbm_channel_gbps\": {\"value\": %s, \"source\": \"s\"},\n"
    "   \"hbm_channel_mib\": {\"value\": 256, \"source\": \"s\"},\n"
    "   \"hbm_port_bytes\": {\"value\": 64, \"source\": \"s\"},\n"
    "   \"port_efficiency\": {\"value\": 0.9, \"source\": \"%s\"},\n"
    "   %s\"ddr_channel_gbps\": {\"value\": 19.25, \"source\": \"s\"},\n"
    "   \"ddr_gib\": {\"value\": 32, \"source\": \"s\", \"unverified\": true}},\n"
    " \"fabric\": {\"slrs\": [{\"lut\": {\"value\": 1000, \"source\": \"s\"}, \"ff\": {\"value\": 2000, \"source\": \"s\"},\n"
    "   \"dsp\": {\"value\": 100, \"source\": \"s\"}, \"bram18\": {\"value\": 10, \"source\": \"s\"},\n"
    "   \"uram\": {\"value\": 0, \"source\": \"s\"}}],\n"
    "   \"hbm_slr\": {\"value\": 0, \"source\": \"s\"}, \"max_utilization\": {\"value\": 0.8, \"source\": \"s\"},\n"
    "   \"int4_macs_per_dsp\": {\"value\": 2, \"source\": \"s\"}, \"int8_macs_per_dsp\": {\"value\": 2, \"source\": \"s\"},\n"
    "   \"fp32_mul_dsp\": {\"value\": 3, \"source\": \"s\"}, \"fp32_add_dsp\": {\"value\": 2, \"source\": \"s\"},\n"
    "   \"fp32_exp_dsp\": {\"value\": 7, \"source\": \"s\"}},\n"
    " \"clock\": {\"target_mhz\": {\"value\": 300, \"source\": \"s\"}, \"prefill_mhz\": {\"value\": 250, \"source\": \"s\"},\n"
    "   \"decode_mhz\": {\"value\": 250, \"source\": \"s\"}},\n"
    " \"power\": {\"idle_w\": {\"value\": 30, \"source\": \"s\"}, \"max_w\": {\"value\": 200, \"source\": \"s\"},\n"
    "   \"logic_w_per_ghz\": {\"value\": 0.05, \"source\": \"s\"}, \"hbm_pj_per_bit\": {\"value\": 3.9, \"source\": \"s\"},\n"
    "   \"weight_lut\": {\"value\": 1, \"source\": \"s\"}, \"weight_ff\": {\"value\": 0.5, \"source\": \"s\"},\n"
    "   \"weight_dsp\": {\"value\": 20, \"source\": \"s\"}, \"weight_bram18\": {\"value\": 15, \"source\": \"s\"},\n"
    "   \"weight_uram\": {\"value\": 40, \"source\": \"s\"}}%s\n";

static const char *write_case(const char *name, const char *kind, const char *gbps, const char *source,
                              const char *ddr_channels, const char *end) {
    static char path[256];
    snprintf(path, sizeof path, "perf-device-%s-%d.json", name, (int)getpid());
    FILE *f = fopen(path, "w");
    if (!f) return NULL;
    fprintf(f, fpga_template, kind, gbps, source, ddr_channels, end);
    fclose(f);
    return path;
}

static const char *ddr = "\"ddr_channels\": {\"value\": 2, \"source\": \"s\"},\n   ";

/* Loads the case and checks it fails with a message naming the file and needle. */
static void expect_error(const char *path, const char *needle) {
    flx_error err;
    flx_device dev;
    CHECK(path != NULL);
    if (!path) return;
    CHECK_INT_EQ(flx_device_load(&dev, path, &err), -1);
    fprintf(stderr, "expected error: %s\n", err.msg);
    CHECK(strstr(err.msg, path) != NULL);
    CHECK(strstr(err.msg, needle) != NULL);
    remove(path);
}

static void check_shipped(void) {
    flx_error err;
    flx_device d;
    CHECK_INT_EQ(flx_device_load(&d, FLX_TEST_DEVICES_DIR "/u280.json", &err), 0);
    CHECK_INT_EQ(d.kind, FLX_DEVICE_FPGA);
    CHECK_INT_EQ(d.hbm_channels, 32);
    CHECK_NEAR(flx_device_hbm_gbps(&d), 460.0, 1e-12);
    CHECK_INT_EQ(d.n_slrs, 3);
    /* User region of xilinx_u280_gen3x16_xdma_1_202211_1. */
    CHECK_INT_EQ(d.total.lut, 1135680);
    CHECK_INT_EQ(d.total.ff, 2271360);
    CHECK_INT_EQ(d.total.dsp, 8304);
    CHECK_INT_EQ(d.total.bram18, 3552);
    CHECK_INT_EQ(d.total.uram, 960);
    CHECK(d.n_unverified > 0);
    const char *others[] = {"u55c", "v80", "a100-40gb", "a100-80gb"};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s.json", FLX_TEST_DEVICES_DIR, others[i]);
        int rc = flx_device_load(&d, path, &err);
        if (rc != 0) fprintf(stderr, "%s\n", err.msg);
        CHECK_INT_EQ(rc, 0);
        CHECK(!strcmp(d.name, others[i]));
    }
    CHECK_INT_EQ(d.kind, FLX_DEVICE_GPU);
    CHECK_NEAR(d.mem_bandwidth_gbps, 2039, 0);
    /* Lookup by name through $FLEXLLM_DEVICES. */
    setenv("FLEXLLM_DEVICES", FLX_TEST_DEVICES_DIR, 1);
    CHECK_INT_EQ(flx_device_find(&d, "v80", &err), 0);
    CHECK_INT_EQ(d.hbm_channels, 32);
    CHECK_INT_EQ(flx_device_find(&d, "no-such-card", &err), -1);
    CHECK(strstr(err.msg, "no-such-card") != NULL);
}

int main(void) {
    check_shipped();
    flx_error err;
    flx_device dev;
    const char *ok = write_case("ok", "fpga", "14.375", "s", ddr, "}");
    CHECK_INT_EQ(flx_device_load(&dev, ok, &err), 0);
    CHECK_INT_EQ(dev.n_unverified, 1);
    CHECK_NEAR(dev.hbm_channel_gbps, 14.375, 0);
    remove(ok);

    expect_error(write_case("truncated", "fpga", "14.375", "s", ddr, ""), "invalid JSON");
    expect_error(write_case("missing", "fpga", "14.375", "s", "", "}"), "memory.ddr_channels");
    expect_error(write_case("negative", "fpga", "-14.4", "s", ddr, "}"), "memory.hbm_channel_gbps: value -14.4 is negative");
    expect_error(write_case("string", "fpga", "\"fast\"", "s", ddr, "}"), "memory.hbm_channel_gbps.value");
    expect_error(write_case("nosource", "fpga", "14.375", "", ddr, "}"), "memory.port_efficiency has no \"source\"");
    expect_error(write_case("kind", "asic", "14.375", "s", ddr, "}"), "kind \"asic\" is invalid");
    expect_error(write_case("range", "fpga", "1e9", "s", ddr, "}"), "memory.hbm_channel_gbps: value 1e+09 is outside");

    CHECK_INT_EQ(flx_device_load(&dev, "perf-device-absent.json", &err), -1);
    CHECK(strstr(err.msg, "perf-device-absent.json") != NULL);
    return flx_check_report("test_perf_device");
}
