/* flexllm estimate: modeled latency, throughput, energy, resources and HBM
 * use of one accelerator configuration on one device. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "perf/device.h"
#include "perf/estimate.h"
#include "perf/resources.h"

int flx_cmd_estimate(int argc, char **argv);

static const char usage[] =
    "usage: flexllm estimate --target DEVICE --workload IN:OUT [--config NAME|FILE]\n"
    "                        [--model-shape NAME|CONFIG.json] [--kv static|static-layer|int4|int8]\n"
    "                        [--kv-group N] [--kv-asymmetric] [--r3] [--json]\n"
    "\n"
    "Models a run of IN prompt tokens and OUT generated tokens on DEVICE: prefill\n"
    "latency, decode tokens/s, end-to-end latency, energy per token, resources per\n"
    "kernel and per SLR, HBM use against the peak, and the memory-bound decode\n"
    "ceiling. A GPU device prints its published baseline and ceiling instead.\n"
    "\n"
    "options:\n"
    "  --target DEVICE     device name (u280, u55c, v80, a100-40gb, a100-80gb) looked up\n"
    "                      in $FLEXLLM_DEVICES or ./devices, or a device .json file\n"
    "  --workload IN:OUT   prompt and generated lengths in tokens, e.g. 1024:1024\n"
    "  --config C          accelerator configuration: u280-ref (default), u280-base,\n"
    "                      v80-proj, tiny, small, or a key = value file\n"
    "  --model-shape M     llama-3.2-1b (default) or another flexllm synth shape, or a\n"
    "                      Hugging Face config.json; 4-bit weights and activations\n"
    "  --kv Q              KV cache: static (default; INT8 with one static scale per\n"
    "                      head or, as static-layer, per layer: the same bytes), or\n"
    "                      int4 / int8 quantized per\n"
    "                      token with a float scale per group of channels\n"
    "  --kv-group N        channels per scale of --kv int4/int8; divides head_dim\n"
    "                      (default head_dim: one scale per head row)\n"
    "  --kv-asymmetric     --kv int4/int8 with a float offset per group besides the\n"
    "                      scale (the QuaRot and SpinQuant recipes)\n"
    "  --r3                add R3, the Walsh-Hadamard transform of every Q and K head\n"
    "                      (--kv, --kv-group and --r3 apply to FPGA devices)\n"
    "  --json              print one JSON object instead of text\n";

typedef struct estimate_cli {
    const char *target, *workload, *config, *shape, *kv, *kv_group;
    int json, r3, kv_asymmetric;
} estimate_cli;

/* Returns 0, 1 after --help, or -1 on an invalid option (message printed). */
static int parse_options(int argc, char **argv, estimate_cli *o) {
    const char *cmd = "estimate";
    *o = (estimate_cli){.config = "u280-ref", .shape = "llama-3.2-1b", .kv = "static"};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return 1;
        }
        if (!strcmp(a, "--json")) {
            o->json = 1;
            continue;
        }
        if (!strcmp(a, "--r3")) {
            o->r3 = 1;
            continue;
        }
        if (!strcmp(a, "--kv-asymmetric")) {
            o->kv_asymmetric = 1;
            continue;
        }
        const char **target = !strcmp(a, "--target")        ? &o->target
                              : !strcmp(a, "--workload")    ? &o->workload
                              : !strcmp(a, "--config")      ? &o->config
                              : !strcmp(a, "--model-shape") ? &o->shape
                              : !strcmp(a, "--kv")          ? &o->kv
                              : !strcmp(a, "--kv-group")    ? &o->kv_group
                                                            : NULL;
        if (!target) {
            fprintf(stderr, "flexllm estimate: unknown option '%s' (see flexllm estimate --help)\n", a);
            return -1;
        }
        if (!(*target = flx_option_value(cmd, argc, argv, &i))) return -1;
    }
    if (!o->target || !o->workload) {
        fprintf(stderr, "flexllm estimate: %s is required (see flexllm estimate --help)\n",
                !o->target ? "--target DEVICE" : "--workload IN:OUT");
        return -1;
    }
    return 0;
}

/* Sets the KV-cache quantizer and R3 of m from --kv, --kv-group and --r3.
 * Returns -1 after printing why the values are invalid for m's shape. */
static int apply_quant_options(const estimate_cli *o, flx_perf_model *m) {
    int bits = -1;
    if (!strcmp(o->kv, "static") || !strcmp(o->kv, "static-layer")) bits = 0;
    if (!strcmp(o->kv, "int4")) bits = 4;
    if (!strcmp(o->kv, "int8")) bits = 8;
    if (bits < 0) {
        fprintf(stderr, "flexllm estimate: invalid value '%s' for --kv: expected static, static-layer, int4 or int8\n",
                o->kv);
        return -1;
    }

    /* The group size of a dynamic cache. */
    int head_dim = m->shape.head_dim;
    long long group = head_dim;
    if (o->kv_group) {
        if (bits == 0) {
            fprintf(stderr,
                    "flexllm estimate: --kv-group %s needs --kv int4 or int8, because the static KV cache has "
                    "one scale per head\n",
                    o->kv_group);
            return -1;
        }
        if (flx_parse_int("estimate", "--kv-group", o->kv_group, 1, head_dim, &group) != 0) return -1;
        if (head_dim % group != 0) {
            fprintf(stderr, "flexllm estimate: invalid value '%s' for --kv-group: it must divide head_dim %d of %s\n",
                    o->kv_group, head_dim, m->name);
            return -1;
        }
    }

    if (o->kv_asymmetric && bits == 0) {
        fprintf(stderr, "flexllm estimate: --kv-asymmetric applies to --kv int4 or int8, not to the static cache\n");
        return -1;
    }
    m->kv_dynamic = bits != 0;
    m->kv_bits = bits ? bits : 8;
    m->kv_group_size = bits ? (int)group : 0;
    m->kv_asymmetric = o->kv_asymmetric != 0;
    m->r3 = o->r3 != 0;
    return 0;
}

/* "static INT8" or "dynamic INT4 in groups of 64". */
static void describe_kv(const flx_perf_model *m, char *out, size_t size) {
    if (m->kv_dynamic)
        snprintf(out, size, "dynamic INT%d in groups of %d%s", m->kv_bits, m->kv_group_size,
                 m->kv_asymmetric ? ", asymmetric" : "");
    else
        snprintf(out, size, "static INT8");
}

/* Prints text as a JSON string literal. */
static void print_json_string(const char *text) {
    putchar('"');
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        if (*c == '"' || *c == '\\')
            printf("\\%c", *c);
        else if (*c < 0x20)
            printf("\\u%04x", *c);
        else
            putchar(*c);
    }
    putchar('"');
}

static void print_gpu(const flx_device *d, const flx_perf_model *m, flx_workload w, int json) {
    const flx_config *s = &m->shape;
    double q_dim = (double)s->n_heads * s->head_dim, kv_dim = (double)s->n_kv_heads * s->head_dim;
    double weights = s->n_layers * (s->dim * (2 * kv_dim + q_dim) + q_dim * s->dim + 3.0 * s->dim * s->ffn_dim) +
                     (double)s->dim * s->vocab_size;
    double mean_ctx = w.input_tokens + (w.output_tokens - 1) / 2.0;
    double bytes = 2 * weights + 2.0 * 2 * s->n_layers * kv_dim * mean_ctx; /* BF16 weights and KV cache */
    double ceiling = d->mem_bandwidth_gbps * 1e9 / bytes;
    const flx_gpu_baseline *b = &d->baseline;
    if (json) {
        printf("{\"device\": ");
        print_json_string(d->name);
        printf(", \"kind\": \"gpu\", \"model\": ");
        print_json_string(m->name);
        printf(", \"workload\": [%d, %d], "
               "\"bandwidth_gbps\": %.6g, \"bf16_tflops\": %.6g, \"bytes_per_token\": %.6g, "
               "\"ceiling_tokens_per_s\": %.6g, \"baseline\": {\"workload\": [%d, %d], \"end_to_end_s\": %.6g, "
               "\"decode_tokens_per_s\": %.6g, \"power_w\": %.6g, \"energy_per_token_j\": %.6g}, "
               "\"unverified_values\": %d}\n",
               w.input_tokens, w.output_tokens, d->mem_bandwidth_gbps, d->bf16_tflops, bytes, ceiling,
               b->input_tokens, b->output_tokens, b->end_to_end_s, b->decode_tokens_per_s, b->power_w,
               b->power_w * b->end_to_end_s / b->output_tokens, d->n_unverified);
        return;
    }
    printf("%s: %s (GPU baseline, BF16)\n", d->name, d->description);
    printf("memory-bound decode ceiling: %.0f tokens/s (%.0f GB/s / %.3f GB per token of BF16 weights and KV cache "
           "at a mean context of %.0f)\n",
           ceiling, d->mem_bandwidth_gbps, bytes / 1e9, mean_ctx);
    printf("published baseline (%d:%d): end-to-end %.2f s, decode %.1f tokens/s, %.0f W, %.3f J per generated token\n",
           b->input_tokens, b->output_tokens, b->end_to_end_s, b->decode_tokens_per_s, b->power_w,
           b->power_w * b->end_to_end_s / b->output_tokens);
    printf("%d values of %s are marked unverified\n", d->n_unverified, d->path);
}

static void print_resources_text(const flx_device *d, const flx_design_resources *r, const char *engine) {
    flx_module_use kinds[48];
    int n = flx_perf_resources_by_kernel(r, kinds, 48);
    printf("%s bitstream resources:\n  %-14s %9s %9s %7s %7s %6s\n", engine, "kernel", "LUT", "FF", "DSP", "BRAM18",
           "URAM");
    for (int i = 0; i < n; i++)
        printf("  %-14s %9.0f %9.0f %7.0f %7.0f %6.0f\n", kinds[i].name, kinds[i].use.lut, kinds[i].use.ff,
               kinds[i].use.dsp, kinds[i].use.bram18, kinds[i].use.uram);
    printf("  %-14s %9.0f %9.0f %7.0f %7.0f %6.0f\n", "total", r->total.lut, r->total.ff, r->total.dsp,
           r->total.bram18, r->total.uram);
    for (int s = 0; s < d->n_slrs; s++) {
        printf("  SLR%d:", s);
        for (int k = 0; k < FLX_RES_COUNT; k++) {
            double have = flx_resources_get(&d->slr[s], k);
            printf(" %s %.0f%%", flx_resource_name(k), have > 0 ? 100 * flx_resources_get(&r->slr_use[s], k) / have : 0);
        }
        printf("\n");
    }
}

static void print_text(const flx_device *d, const flx_perf_model *m, const flx_estimate *e) {
    const flx_workload *w = &e->workload;
    double peak = flx_device_hbm_gbps(d);
    printf("%s on %s (%s), model %s, workload %d:%d\n", e->cfg.name, d->name, d->description, m->name,
           w->input_tokens, w->output_tokens);
    printf("clocks: prefill %.1f MHz, decode %.1f MHz; HBM %d x %.3f GB/s, port efficiency %.2f; %d device values "
           "unverified\n\n",
           d->prefill_clock_mhz, d->decode_clock_mhz, d->hbm_channels, d->hbm_channel_gbps, d->port_efficiency,
           d->n_unverified);
    const flx_engine_estimate *p = &e->prefill, *dec = &e->decode;
    printf("prefill latency:     %.4f s for %d tokens (%.1f tokens/s; bandwidth limits add %.1f%%)\n", p->seconds,
           w->input_tokens - 1, p->seconds > 0 ? (w->input_tokens - 1) / p->seconds : 0,
           p->compute_seconds > 0 ? fmax(0, 100 * (p->seconds / p->compute_seconds - 1)) : 0);
    printf("decode:              %.4f s for %d tokens, %.1f tokens/s, %.3f ms per token (bandwidth limits add %.1f%%)\n",
           dec->seconds, w->output_tokens, e->decode_tokens_per_s, 1e3 * dec->seconds / w->output_tokens,
           fmax(0, 100 * (dec->seconds / dec->compute_seconds - 1)));
    printf("end-to-end latency:  %.4f s\n", e->end_to_end_s);
    char kv[64];
    describe_kv(m, kv, sizeof kv);
    printf("KV cache:            %s, %llu bytes per cached head row; decode reads %llu bytes and writes %llu bytes "
           "of it%s\n",
           kv, (unsigned long long)flx_perf_kv_row_bytes(m),
           (unsigned long long)dec->counters.bytes_read[FLX_PORT_KV_CACHE],
           (unsigned long long)dec->counters.bytes_written[FLX_PORT_KV_CACHE],
           m->r3 ? "; R3 on every Q and K head" : "");
    printf("energy:              %.4f J per generated token (decode alone %.4f J); prefill %.1f W, decode %.1f W\n",
           e->energy_per_token_j, e->decode_energy_per_token_j, p->power_w, dec->power_w);
    printf("HBM use (decode):    %.1f%% of the %.0f GB/s peak; %.1f MB per token (weights %.1f MB); busiest "
           "channel HBM[%d] at %.0f%% of its sustained rate\n",
           100 * e->decode_hbm_fraction, peak, e->bytes_per_token / 1e6, e->weight_bytes_per_token / 1e6,
           dec->busiest_channel, 100 * dec->busiest_fraction);
    printf("decode ceiling:      %.1f tokens/s memory-bound (%.0f GB/s / %.1f MB per token); modeled %.1f tokens/s "
           "= %.0f%% of it\n\n",
           e->ceiling_tokens_per_s, peak, e->bytes_per_token / 1e6, e->decode_tokens_per_s,
           100 * e->decode_tokens_per_s / e->ceiling_tokens_per_s);
    print_resources_text(d, &p->res, "prefill");
    print_resources_text(d, &dec->res, "decode");
}

static void print_resources_json(const flx_device *d, const flx_design_resources *r) {
    flx_module_use kinds[48];
    int n = flx_perf_resources_by_kernel(r, kinds, 48);
    printf("{\"kernels\": {");
    for (int i = 0; i < n; i++)
        printf("%s\"%s\": {\"lut\": %.0f, \"ff\": %.0f, \"dsp\": %.0f, \"bram18\": %.0f, \"uram\": %.0f}", i ? ", " : "",
               kinds[i].name, kinds[i].use.lut, kinds[i].use.ff, kinds[i].use.dsp, kinds[i].use.bram18,
               kinds[i].use.uram);
    printf("}, \"total\": {\"lut\": %.0f, \"ff\": %.0f, \"dsp\": %.0f, \"bram18\": %.0f, \"uram\": %.0f}, \"slrs\": [",
           r->total.lut, r->total.ff, r->total.dsp, r->total.bram18, r->total.uram);
    for (int s = 0; s < d->n_slrs; s++)
        printf("%s{\"lut\": %.0f, \"ff\": %.0f, \"dsp\": %.0f, \"bram18\": %.0f, \"uram\": %.0f}", s ? ", " : "",
               r->slr_use[s].lut, r->slr_use[s].ff, r->slr_use[s].dsp, r->slr_use[s].bram18, r->slr_use[s].uram);
    printf("]}");
}

static void print_json(const flx_device *d, const flx_perf_model *m, const flx_estimate *e) {
    const flx_engine_estimate *p = &e->prefill, *dec = &e->decode;
    printf("{\"device\": ");
    print_json_string(d->name);
    printf(", \"config\": ");
    print_json_string(e->cfg.name);
    printf(", \"model\": ");
    print_json_string(m->name);
    printf(", \"workload\": [%d, %d], ", e->workload.input_tokens, e->workload.output_tokens);
    char kv[64];
    describe_kv(m, kv, sizeof kv);
    printf("\"kv_cache\": ");
    print_json_string(kv);
    printf(", \"kv_row_bytes\": %llu, \"decode_kv_bytes_read\": %llu, \"decode_kv_bytes_written\": %llu, "
           "\"r3\": %s, ",
           (unsigned long long)flx_perf_kv_row_bytes(m), (unsigned long long)dec->counters.bytes_read[FLX_PORT_KV_CACHE],
           (unsigned long long)dec->counters.bytes_written[FLX_PORT_KV_CACHE], m->r3 ? "true" : "false");
    printf("\"prefill_mhz\": %.6g, \"decode_mhz\": %.6g, \"prefill_s\": %.6g, \"decode_s\": %.6g, "
           "\"decode_tokens_per_s\": %.6g, \"end_to_end_s\": %.6g, \"energy_per_token_j\": %.6g, "
           "\"decode_energy_per_token_j\": %.6g, \"prefill_power_w\": %.6g, \"decode_power_w\": %.6g, ",
           d->prefill_clock_mhz, d->decode_clock_mhz, p->seconds, dec->seconds, e->decode_tokens_per_s, e->end_to_end_s,
           e->energy_per_token_j, e->decode_energy_per_token_j, p->power_w, dec->power_w);
    printf("\"decode_hbm_fraction\": %.6g, \"bytes_per_token\": %.6g, \"weight_bytes_per_token\": %.6g, "
           "\"ceiling_tokens_per_s\": %.6g, \"prefill_cycles\": %llu, \"decode_cycles\": %llu, \"fits\": %s, ",
           e->decode_hbm_fraction, e->bytes_per_token, e->weight_bytes_per_token, e->ceiling_tokens_per_s,
           (unsigned long long)p->cycles, (unsigned long long)dec->cycles, e->fits ? "true" : "false");
    printf("\"prefill_resources\": ");
    print_resources_json(d, &p->res);
    printf(", \"decode_resources\": ");
    print_resources_json(d, &dec->res);
    printf(", \"unverified_values\": %d}\n", d->n_unverified);
}

int flx_cmd_estimate(int argc, char **argv) {
    estimate_cli o;
    int rc = parse_options(argc, argv, &o);
    if (rc != 0) return rc > 0 ? FLX_EXIT_OK : FLX_EXIT_BAD_INPUT;
    flx_workload w;
    if (flx_workload_parse(o.workload, &w) != 0) {
        fprintf(stderr, "flexllm estimate: invalid value '%s' for --workload: expected IN:OUT with two positive "
                        "integers, e.g. 1024:1024\n",
                o.workload);
        return FLX_EXIT_BAD_INPUT;
    }
    flx_error err;
    flx_device dev;
    flx_perf_model m;
    if (flx_device_find(&dev, o.target, &err) != 0 || flx_perf_model_get(o.shape, &m, &err) != 0) {
        fprintf(stderr, "flexllm estimate: %s\n", err.msg);
        return FLX_EXIT_BAD_INPUT;
    }
    if (apply_quant_options(&o, &m) != 0) return FLX_EXIT_BAD_INPUT;
    if (dev.kind == FLX_DEVICE_GPU && (strcmp(o.kv, "static") || o.kv_group || o.r3 || o.kv_asymmetric))
        fprintf(stderr, "flexllm estimate: warning: --kv, --kv-group, --kv-asymmetric and --r3 apply to FPGA "
                        "devices; %s prints its published baseline without them\n", dev.name);
    if (dev.kind == FLX_DEVICE_GPU) {
        print_gpu(&dev, &m, w, o.json);
        return FLX_EXIT_OK;
    }
    flx_accel_config cfg;
    if (flx_accel_config_get(o.config, &cfg, &err) != 0) {
        fprintf(stderr, "flexllm estimate: %s\n", err.msg);
        return FLX_EXIT_BAD_INPUT;
    }
    static flx_estimate e;
    if (flx_perf_estimate(&dev, &cfg, &m, w, &e, &err) != 0) {
        fprintf(stderr, "flexllm estimate: %s\n", err.msg);
        return FLX_EXIT_BAD_INPUT;
    }
    if (!e.fits) {
        fprintf(stderr, "flexllm estimate: configuration %s rejected: %s\n", cfg.name, e.fit_error);
        return FLX_EXIT_BAD_INPUT;
    }
    if (o.json)
        print_json(&dev, &m, &e);
    else
        print_text(&dev, &m, &e);
    return FLX_EXIT_OK;
}
