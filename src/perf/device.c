#include "perf/device.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/mapped_file.h"

#ifdef FLEXLLM_HAVE_CJSON
#include <cJSON.h>
#endif

static const char *const resource_names[FLX_RES_COUNT] = {"lut", "ff", "dsp", "bram18", "uram"};

const char *flx_resource_name(int index) { return resource_names[index]; }

double flx_resources_get(const flx_resources *r, int index) {
    const double v[FLX_RES_COUNT] = {r->lut, r->ff, r->dsp, r->bram18, r->uram};
    return v[index];
}

void flx_resources_set(flx_resources *r, int index, double value) {
    double *fields[FLX_RES_COUNT] = {&r->lut, &r->ff, &r->dsp, &r->bram18, &r->uram};
    *fields[index] = value;
}

void flx_resources_add(flx_resources *sum, const flx_resources *r, double times) {
    sum->lut += times * r->lut;
    sum->ff += times * r->ff;
    sum->dsp += times * r->dsp;
    sum->bram18 += times * r->bram18;
    sum->uram += times * r->uram;
}

double flx_device_hbm_gbps(const flx_device *dev) {
    if (dev->kind == FLX_DEVICE_GPU) return dev->mem_bandwidth_gbps;
    return dev->hbm_channels * dev->hbm_channel_gbps;
}

int flx_device_load(flx_device *dev, const char *path, flx_error *err) {
    size_t len = 0;
    char *text = flx_read_text_file(path, &len, err);
    if (!text) return -1;
    int rc = flx_device_parse(dev, text, len, path, err);
    free(text);
    return rc;
}

static int is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int flx_device_find(flx_device *dev, const char *name_or_path, flx_error *err) {
    size_t n = strlen(name_or_path);
    if (n == 0) return flx_fail(err, "empty device name: give a name such as u280 or a .json path");
    if (strchr(name_or_path, '/') || (n > 5 && !strcmp(name_or_path + n - 5, ".json")))
        return flx_device_load(dev, name_or_path, err);
    const char *dirs[3] = {getenv("FLEXLLM_DEVICES"), NULL, "devices"};
#ifdef FLEXLLM_DEVICES_DIR
    dirs[1] = FLEXLLM_DEVICES_DIR;
#endif
    char path[1024];
    for (int i = 0; i < 3; i++) {
        if (!dirs[i] || !*dirs[i]) continue;
        snprintf(path, sizeof path, "%s/%s.json", dirs[i], name_or_path);
        if (is_file(path)) return flx_device_load(dev, path, err);
    }
    return flx_fail(err,
                    "device '%s' not found: no %s.json in $FLEXLLM_DEVICES or ./devices; set FLEXLLM_DEVICES "
                    "to the repository's devices folder or pass a .json path",
                    name_or_path, name_or_path);
}

#ifndef FLEXLLM_HAVE_CJSON

int flx_device_parse(flx_device *dev, const char *json, size_t len, const char *path, flx_error *err) {
    (void)json;
    (void)len;
    memset(dev, 0, sizeof *dev);
    return flx_fail(err, "%s: built without cJSON; install libcjson-dev and rebuild to read device files", path);
}

#else

/* Reads the {"value", "source", "unverified"} objects of one file. */
typedef struct reader {
    const char *path;
    flx_error *err;
    int unverified;
} reader;

enum { ANY_NUMBER = 0, INTEGER = 1 };

/* Reads parent[key] (named where.key in messages) into *out, checking the
 * value lies in [min, max]. */
static int read_value(reader *r, const cJSON *parent, const char *where, const char *key, double min,
                      double max, int integer, double *out) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(parent, key);
    if (!item)
        return flx_fail(r->err, "%s: missing key %s.%s (write {\"value\": ..., \"source\": \"...\"})", r->path,
                        where, key);
    if (!cJSON_IsObject(item))
        return flx_fail(r->err, "%s: %s.%s must be an object {\"value\": number, \"source\": \"...\"}", r->path,
                        where, key);
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(item, "value");
    const cJSON *source = cJSON_GetObjectItemCaseSensitive(item, "source");
    const cJSON *unverified = cJSON_GetObjectItemCaseSensitive(item, "unverified");
    if (!cJSON_IsNumber(value))
        return flx_fail(r->err, "%s: %s.%s.value is missing or not a number", r->path, where, key);
    if (!cJSON_IsString(source) || !source->valuestring[0])
        return flx_fail(r->err, "%s: %s.%s has no \"source\" string: say where the value comes from", r->path,
                        where, key);
    if (unverified && !cJSON_IsBool(unverified))
        return flx_fail(r->err, "%s: %s.%s.unverified must be true or false", r->path, where, key);
    double v = value->valuedouble;
    if (!isfinite(v)) return flx_fail(r->err, "%s: %s.%s: value is not a finite number", r->path, where, key);
    if (v < 0 && min >= 0)
        return flx_fail(r->err, "%s: %s.%s: value %g is negative; expected %g..%g", r->path, where, key, v, min,
                        max);
    if (v < min || v > max)
        return flx_fail(r->err, "%s: %s.%s: value %g is outside %g..%g", r->path, where, key, v, min, max);
    if (integer && v != floor(v))
        return flx_fail(r->err, "%s: %s.%s: value %g is not an integer", r->path, where, key, v);
    if (cJSON_IsTrue(unverified)) r->unverified++;
    *out = v;
    return 0;
}

static int read_int(reader *r, const cJSON *parent, const char *where, const char *key, double min, double max,
                    int *out) {
    double v = 0;
    if (read_value(r, parent, where, key, min, max, INTEGER, &v) != 0) return -1;
    *out = (int)v;
    return 0;
}

static const cJSON *section(reader *r, const cJSON *root, const char *name) {
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!cJSON_IsObject(s)) {
        flx_fail(r->err, "%s: missing object \"%s\"", r->path, name);
        return NULL;
    }
    return s;
}

static int read_fpga_memory(reader *r, const cJSON *root, flx_device *d) {
    const cJSON *m = section(r, root, "memory");
    if (!m) return -1;
    return read_int(r, m, "memory", "hbm_channels", 1, FLX_MAX_HBM_CHANNELS, &d->hbm_channels) ||
                   read_value(r, m, "memory", "hbm_channel_gbps", 0, 1e4, ANY_NUMBER, &d->hbm_channel_gbps) ||
                   read_value(r, m, "memory", "hbm_channel_mib", 0, 1e7, ANY_NUMBER, &d->hbm_channel_mib) ||
                   read_int(r, m, "memory", "hbm_port_bytes", 1, 4096, &d->hbm_port_bytes) ||
                   read_value(r, m, "memory", "port_efficiency", 0.01, 1, ANY_NUMBER, &d->port_efficiency) ||
                   read_int(r, m, "memory", "ddr_channels", 0, 64, &d->ddr_channels) ||
                   read_value(r, m, "memory", "ddr_channel_gbps", 0, 1e4, ANY_NUMBER, &d->ddr_channel_gbps) ||
                   read_value(r, m, "memory", "ddr_gib", 0, 1e6, ANY_NUMBER, &d->ddr_gib)
               ? -1
               : 0;
}

static int read_fpga_fabric(reader *r, const cJSON *root, flx_device *d) {
    const cJSON *f = section(r, root, "fabric");
    if (!f) return -1;
    const cJSON *slrs = cJSON_GetObjectItemCaseSensitive(f, "slrs");
    int n = cJSON_GetArraySize(slrs);
    if (!cJSON_IsArray(slrs) || n < 1 || n > FLX_MAX_SLRS)
        return flx_fail(r->err, "%s: fabric.slrs must be an array of 1 to %d SLR objects", r->path, FLX_MAX_SLRS);
    d->n_slrs = n;
    memset(&d->total, 0, sizeof d->total);
    for (int s = 0; s < n; s++) {
        const cJSON *slr = cJSON_GetArrayItem(slrs, s);
        char where[32];
        snprintf(where, sizeof where, "fabric.slrs[%d]", s);
        if (!cJSON_IsObject(slr)) return flx_fail(r->err, "%s: %s must be an object", r->path, where);
        for (int k = 0; k < FLX_RES_COUNT; k++) {
            double v = 0;
            if (read_value(r, slr, where, resource_names[k], 0, 1e8, INTEGER, &v) != 0) return -1;
            flx_resources_set(&d->slr[s], k, v);
        }
        flx_resources_add(&d->total, &d->slr[s], 1.0);
    }
    if (read_int(r, f, "fabric", "hbm_slr", 0, n - 1, &d->hbm_slr) ||
        read_value(r, f, "fabric", "max_utilization", 0.05, 1, ANY_NUMBER, &d->max_utilization) ||
        read_value(r, f, "fabric", "int4_macs_per_dsp", 0.25, 16, ANY_NUMBER, &d->int4_macs_per_dsp) ||
        read_value(r, f, "fabric", "int8_macs_per_dsp", 0.25, 16, ANY_NUMBER, &d->int8_macs_per_dsp) ||
        read_value(r, f, "fabric", "fp32_mul_dsp", 0, 16, ANY_NUMBER, &d->fp32_mul_dsp) ||
        read_value(r, f, "fabric", "fp32_add_dsp", 0, 16, ANY_NUMBER, &d->fp32_add_dsp) ||
        read_value(r, f, "fabric", "fp32_exp_dsp", 0, 64, ANY_NUMBER, &d->fp32_exp_dsp))
        return -1;
    return 0;
}

static int read_fpga_clock_power(reader *r, const cJSON *root, flx_device *d) {
    const cJSON *c = section(r, root, "clock");
    if (!c) return -1;
    if (read_value(r, c, "clock", "target_mhz", 1, 5000, ANY_NUMBER, &d->target_clock_mhz) ||
        read_value(r, c, "clock", "prefill_mhz", 1, 5000, ANY_NUMBER, &d->prefill_clock_mhz) ||
        read_value(r, c, "clock", "decode_mhz", 1, 5000, ANY_NUMBER, &d->decode_clock_mhz))
        return -1;
    const cJSON *p = section(r, root, "power");
    if (!p) return -1;
    if (read_value(r, p, "power", "idle_w", 0, 1e4, ANY_NUMBER, &d->idle_w) ||
        read_value(r, p, "power", "max_w", 1, 1e4, ANY_NUMBER, &d->max_w) ||
        read_value(r, p, "power", "logic_w_per_ghz", 0, 1e4, ANY_NUMBER, &d->logic_w_per_ghz) ||
        read_value(r, p, "power", "hbm_pj_per_bit", 0, 1e3, ANY_NUMBER, &d->hbm_pj_per_bit))
        return -1;
    for (int k = 0; k < FLX_RES_COUNT; k++) {
        char key[32];
        snprintf(key, sizeof key, "weight_%s", resource_names[k]);
        if (read_value(r, p, "power", key, 0, 1e6, ANY_NUMBER, &d->power_weight[k]) != 0) return -1;
    }
    if (d->idle_w > d->max_w)
        return flx_fail(r->err, "%s: power.idle_w = %g exceeds power.max_w = %g", r->path, d->idle_w, d->max_w);
    return 0;
}

static int read_gpu(reader *r, const cJSON *root, flx_device *d) {
    const cJSON *m = section(r, root, "memory");
    const cJSON *c = m ? section(r, root, "compute") : NULL;
    const cJSON *p = c ? section(r, root, "power") : NULL;
    const cJSON *b = p ? section(r, root, "baseline") : NULL;
    if (!b) return -1;
    flx_gpu_baseline *g = &d->baseline;
    return read_value(r, m, "memory", "bandwidth_gbps", 1, 1e6, ANY_NUMBER, &d->mem_bandwidth_gbps) ||
                   read_value(r, m, "memory", "capacity_gib", 1, 1e6, ANY_NUMBER, &d->mem_capacity_gib) ||
                   read_value(r, c, "compute", "bf16_tflops", 1, 1e6, ANY_NUMBER, &d->bf16_tflops) ||
                   read_value(r, p, "power", "board_w", 1, 1e5, ANY_NUMBER, &d->board_power_w) ||
                   read_int(r, b, "baseline", "input_tokens", 1, 1 << 24, &g->input_tokens) ||
                   read_int(r, b, "baseline", "output_tokens", 1, 1 << 24, &g->output_tokens) ||
                   read_value(r, b, "baseline", "end_to_end_s", 1e-6, 1e6, ANY_NUMBER, &g->end_to_end_s) ||
                   read_value(r, b, "baseline", "decode_tokens_per_s", 1e-3, 1e7, ANY_NUMBER,
                              &g->decode_tokens_per_s) ||
                   read_value(r, b, "baseline", "power_w", 1, 1e5, ANY_NUMBER, &g->power_w)
               ? -1
               : 0;
}

static int copy_string(reader *r, const cJSON *root, const char *key, char *out, size_t size, int required) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!item && !required) return 0;
    if (!cJSON_IsString(item) || !item->valuestring[0])
        return flx_fail(r->err, "%s: missing string \"%s\"", r->path, key);
    if (strlen(item->valuestring) >= size)
        return flx_fail(r->err, "%s: \"%s\" is longer than %zu characters", r->path, key, size - 1);
    snprintf(out, size, "%s", item->valuestring);
    return 0;
}

int flx_device_parse(flx_device *dev, const char *json, size_t len, const char *path, flx_error *err) {
    memset(dev, 0, sizeof *dev);
    snprintf(dev->path, sizeof dev->path, "%s", path);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!root) {
        long at = end ? (long)(end - json) : 0;
        return flx_fail(err, "%s: invalid JSON near byte %ld; fix the syntax of the device file", path, at);
    }
    reader r = {path, err, 0};
    int rc = -1;
    char kind[16] = "";
    if (!cJSON_IsObject(root)) {
        flx_fail(err, "%s: the top level must be a JSON object", path);
        goto done;
    }
    if (copy_string(&r, root, "name", dev->name, sizeof dev->name, 1) ||
        copy_string(&r, root, "kind", kind, sizeof kind, 1) ||
        copy_string(&r, root, "description", dev->description, sizeof dev->description, 0))
        goto done;
    if (!strcmp(kind, "fpga")) {
        dev->kind = FLX_DEVICE_FPGA;
        if (read_fpga_memory(&r, root, dev) || read_fpga_fabric(&r, root, dev) || read_fpga_clock_power(&r, root, dev))
            goto done;
    } else if (!strcmp(kind, "gpu")) {
        dev->kind = FLX_DEVICE_GPU;
        if (read_gpu(&r, root, dev)) goto done;
    } else {
        flx_fail(err, "%s: kind \"%s\" is invalid: expected \"fpga\" or \"gpu\"", path, kind);
        goto done;
    }
    dev->n_unverified = r.unverified;
    rc = 0;
done:
    cJSON_Delete(root);
    return rc;
}

#endif
