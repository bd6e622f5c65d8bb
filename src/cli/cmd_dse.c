/* flexllm dse: searches the accelerator's parallelism and HBM channel
 * assignment for one device and workload, prints the Pareto front and
 * writes the best configuration and an SVG of the front and a roofline. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "perf/dse.h"
#include "perf/svg.h"

int flx_cmd_dse(int argc, char **argv);

static const char usage[] =
    "usage: flexllm dse --target DEVICE --workload IN:OUT --objective latency|decode|energy\n"
    "                   [--model-shape NAME|CONFIG.json] [-o BEST.cfg] [--svg FRONT.svg]\n"
    "\n"
    "Searches prefill (TP, WP of the QKVO and FFN arrays, FFN blocks, KP, VP) and\n"
    "decode (BP, WP, HP, KP, VP, HBM channels of the weights and KV caches) designs\n"
    "that fit DEVICE, and prints the Pareto front of the objective against the peak\n"
    "resource utilization, next to the u280-ref design.\n"
    "\n"
    "options:\n"
    "  --target DEVICE     FPGA device name (u280, u55c, v80) or a device .json file\n"
    "  --workload IN:OUT   prompt and generated lengths in tokens, e.g. 1024:1024\n"
    "  --objective O       latency: end-to-end seconds; decode: decode tokens/s;\n"
    "                      energy: joules per generated token\n"
    "  --model-shape M     llama-3.2-1b (default), another flexllm synth shape, or a\n"
    "                      Hugging Face config.json\n"
    "  -o FILE             write the best configuration as a file that --config reads\n"
    "  --svg FILE          write the Pareto front and a roofline as SVG\n";

typedef struct dse_cli {
    const char *target, *workload, *objective, *shape, *out, *svg;
} dse_cli;

/* Returns 0, 1 after --help, or -1 on an invalid option (message printed). */
static int parse_options(int argc, char **argv, dse_cli *o) {
    const char *cmd = "dse";
    *o = (dse_cli){.shape = "llama-3.2-1b"};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return 1;
        }
        const char **target = !strcmp(a, "--target")                      ? &o->target
                              : !strcmp(a, "--workload")                  ? &o->workload
                              : !strcmp(a, "--objective")                 ? &o->objective
                              : !strcmp(a, "--model-shape")               ? &o->shape
                              : !strcmp(a, "-o") || !strcmp(a, "--output") ? &o->out
                              : !strcmp(a, "--svg")                       ? &o->svg
                                                                          : NULL;
        if (!target) {
            fprintf(stderr, "flexllm dse: unknown option '%s' (see flexllm dse --help)\n", a);
            return -1;
        }
        if (!(*target = flx_option_value(cmd, argc, argv, &i))) return -1;
    }
    const char *missing = NULL;
    if (!o->objective) missing = "--objective O";
    if (!o->workload) missing = "--workload IN:OUT";
    if (!o->target) missing = "--target DEVICE";
    if (missing) {
        fprintf(stderr, "flexllm dse: %s is required (see flexllm dse --help)\n", missing);
        return -1;
    }
    return 0;
}

static void print_point(const char *label, const flx_dse_point *p) {
    const flx_prefill_config *pc = &p->cfg.prefill;
    const flx_decode_config *dc = &p->cfg.decode;
    char channels[64];
    flx_hbm_format_channels(p->cfg.hbm.decode_weights, channels, sizeof channels);
    printf("%-9s %5.1f%% %-6s %8.3f %8.3f %8.3f %8.1f %8.3f  TP %2d WP %3d/%3d x%d KP %2d VP %2d | BP %2d WP %3d "
           "HP %2d KP %3d VP %2d HBM %s\n",
           label, 100 * p->utilization, flx_resource_name(p->limit_resource), p->prefill_s, p->decode_s, p->end_to_end_s,
           p->decode_tokens_per_s, p->energy_per_token_j, pc->tp, pc->wp_qkvo, pc->wp_ffn, pc->ffn_blocks, pc->kp,
           pc->vp, dc->bp, dc->wp, dc->hp, dc->kp, dc->vp, channels);
}

/* The reference design on this device, when it fits. */
static int reference_point(const flx_device *dev, const flx_perf_model *m, flx_workload w, flx_objective objective,
                           flx_dse_point *out) {
    flx_accel_config cfg;
    flx_error err;
    static flx_estimate e;
    if (flx_accel_config_get("u280-ref", &cfg, &err) != 0) return -1;
    if (flx_perf_estimate(dev, &cfg, m, w, &e, &err) != 0 || !e.fits) return -1;
    flx_dse_point_from_estimate(dev, &e, objective, out);
    return 0;
}

int flx_cmd_dse(int argc, char **argv) {
    dse_cli o;
    int rc = parse_options(argc, argv, &o);
    if (rc != 0) return rc > 0 ? FLX_EXIT_OK : FLX_EXIT_BAD_INPUT;
    flx_workload w;
    if (flx_workload_parse(o.workload, &w) != 0) {
        fprintf(stderr, "flexllm dse: invalid value '%s' for --workload: expected IN:OUT with two positive integers, "
                        "e.g. 1024:1024\n",
                o.workload);
        return FLX_EXIT_BAD_INPUT;
    }
    flx_objective objective;
    if (flx_objective_parse(o.objective, &objective) != 0) {
        fprintf(stderr, "flexllm dse: invalid value '%s' for --objective: expected latency, decode or energy\n",
                o.objective);
        return FLX_EXIT_BAD_INPUT;
    }
    flx_error err;
    flx_device dev;
    flx_perf_model m;
    if (flx_device_find(&dev, o.target, &err) != 0 || flx_perf_model_get(o.shape, &m, &err) != 0) {
        fprintf(stderr, "flexllm dse: %s\n", err.msg);
        return FLX_EXIT_BAD_INPUT;
    }
    flx_dse_result *r = malloc(sizeof *r);
    if (!r) {
        fprintf(stderr, "flexllm dse: out of memory for the search results\n");
        return FLX_EXIT_FAILURE;
    }
    if (flx_dse_run(&dev, &m, w, objective, r, &err) != 0) {
        fprintf(stderr, "flexllm dse: %s\n", err.msg);
        free(r);
        return FLX_EXIT_BAD_INPUT;
    }
    flx_dse_point ref;
    int have_ref = reference_point(&dev, &m, w, objective, &ref) == 0;

    printf("design-space exploration on %s, model %s, workload %d:%d, objective %s\n", dev.name, m.name,
           w.input_tokens, w.output_tokens, flx_objective_name(objective));
    printf("prefill designs: %d evaluated, %d fit; decode designs: %d evaluated, %d fit\n\n", r->n_prefill_evaluated,
           r->n_prefill_feasible, r->n_decode_evaluated, r->n_decode_feasible);
    printf("%-9s %6s %-6s %8s %8s %8s %8s %8s  configuration (prefill | decode)\n", "design", "util", "limit",
           "prefill", "decode", "e2e", "tok/s", "J/tok");
    for (int i = 0; i < r->n_front; i++) {
        char label[16];
        snprintf(label, sizeof label, "front%d", i);
        print_point(label, &r->front[i]);
    }
    printf("\n");
    print_point("best", &r->best);
    if (have_ref) {
        print_point("u280-ref", &ref);
        printf("\nbest versus u280-ref: decode %.2fx, end-to-end %.2fx, energy per token %.2fx\n",
               r->best.decode_tokens_per_s / ref.decode_tokens_per_s, ref.end_to_end_s / r->best.end_to_end_s,
               ref.energy_per_token_j / r->best.energy_per_token_j);
    } else {
        printf("\nu280-ref does not fit %s, so there is no reference point\n", dev.name);
    }
    printf("%s\n", r->limit);

    int status = FLX_EXIT_OK;
    if (o.out) {
        if (flx_accel_config_save(&r->best.cfg, o.out, &err) != 0) {
            fprintf(stderr, "flexllm dse: %s\n", err.msg);
            status = FLX_EXIT_FAILURE;
        } else {
            printf("wrote the best configuration to %s\n", o.out);
        }
    }
    if (o.svg) {
        if (flx_svg_write_dse(o.svg, &dev, &m, r, have_ref ? &ref : NULL, &err) != 0) {
            fprintf(stderr, "flexllm dse: %s\n", err.msg);
            status = FLX_EXIT_FAILURE;
        } else {
            printf("wrote the Pareto front and roofline to %s\n", o.svg);
        }
    }
    free(r);
    return status;
}
