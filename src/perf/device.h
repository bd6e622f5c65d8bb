/* Target devices of the performance model: FPGA cards (memory channels,
 * fabric resources per SLR, achieved clocks, power coefficients) and GPU
 * baselines (bandwidth, peak BF16, power, published figures). Each device
 * is a JSON file in the devices/ folder of the repository, where every
 * value is an object {"value": ..., "source": "..."} and values that could
 * not be checked against their source carry "unverified": true. */
#ifndef FLEXLLM_PERF_DEVICE_H
#define FLEXLLM_PERF_DEVICE_H

#include <stddef.h>

#include "common/error.h"

#define FLX_MAX_SLRS 4
#define FLX_MAX_HBM_CHANNELS 64

/* Fabric resources, as counts (BRAM in 18 Kb halves). */
typedef struct flx_resources {
    double lut, ff, dsp, bram18, uram;
} flx_resources;

enum { FLX_RES_LUT, FLX_RES_FF, FLX_RES_DSP, FLX_RES_BRAM18, FLX_RES_URAM, FLX_RES_COUNT };

/* Field r of a resources struct (r from the enum above). */
double flx_resources_get(const flx_resources *r, int index);
void flx_resources_set(flx_resources *r, int index, double value);
const char *flx_resource_name(int index);
void flx_resources_add(flx_resources *sum, const flx_resources *r, double times);

typedef enum flx_device_kind { FLX_DEVICE_FPGA, FLX_DEVICE_GPU } flx_device_kind;

/* Published figures of a GPU baseline for one workload. */
typedef struct flx_gpu_baseline {
    int input_tokens, output_tokens;
    double end_to_end_s;
    double decode_tokens_per_s;
    double power_w;          /* average board power while running */
} flx_gpu_baseline;

typedef struct flx_device {
    char name[64];
    char path[512];          /* file it was read from */
    char description[160];
    flx_device_kind kind;
    int n_unverified;        /* values marked "unverified" in the file */

    /* FPGA memory. */
    int hbm_channels;
    double hbm_channel_gbps;    /* peak GB/s (1e9 bytes) of one pseudo-channel */
    double hbm_channel_mib;     /* capacity of one pseudo-channel */
    int hbm_port_bytes;         /* bytes a kernel port moves per clock cycle */
    double port_efficiency;     /* achievable fraction of hbm_channel_gbps for long bursts */
    int ddr_channels;
    double ddr_channel_gbps;
    double ddr_gib;

    /* FPGA fabric: the user region of the shell, per SLR. */
    int n_slrs;
    flx_resources slr[FLX_MAX_SLRS];
    flx_resources total;        /* sum over the SLRs */
    int hbm_slr;                /* SLR the HBM ports attach to */
    double max_utilization;     /* fraction of each resource a design may use */
    double int4_macs_per_dsp;   /* packed int4 x int4 multiply-accumulates per DSP */
    double int8_macs_per_dsp;
    double fp32_mul_dsp, fp32_add_dsp, fp32_exp_dsp;

    /* Clocks, MHz. */
    double target_clock_mhz;
    double prefill_clock_mhz;   /* achieved by the prefill bitstream */
    double decode_clock_mhz;    /* achieved by the decode bitstream */

    /* Power. Dynamic logic power is logic_w_per_ghz * f[GHz] * sum_r
     * weight_r * used_r / 1000; HBM traffic adds hbm_pj_per_bit. */
    double idle_w;              /* board with a bitstream loaded, not running */
    double max_w;
    double logic_w_per_ghz;
    double hbm_pj_per_bit;
    double power_weight[FLX_RES_COUNT];

    /* GPU. */
    double mem_bandwidth_gbps;
    double mem_capacity_gib;
    double bf16_tflops;
    double board_power_w;
    flx_gpu_baseline baseline;
} flx_device;

/* Reads a device file. Every error names the file and the key (for example
 * "devices/u280.json: memory.hbm_channel_gbps: value -14.4 is negative"). */
int flx_device_load(flx_device *dev, const char *path, flx_error *err);

/* Parses the JSON text of a device file (len bytes); path labels messages. */
int flx_device_parse(flx_device *dev, const char *json, size_t len, const char *path, flx_error *err);

/* Finds a device by name (u280, v80, u55c, a100-40gb, ...) as NAME.json in
 * $FLEXLLM_DEVICES, then in the folder compiled in as FLEXLLM_DEVICES_DIR,
 * then in ./devices; a name containing '/' or ending in ".json" is read as
 * a path. */
int flx_device_find(flx_device *dev, const char *name_or_path, flx_error *err);

/* Aggregate HBM bandwidth in GB/s (peak, without port efficiency). */
double flx_device_hbm_gbps(const flx_device *dev);

#endif
