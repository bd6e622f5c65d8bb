#include "perf/report_run.h"

#include <math.h>
#include <string.h>

#include "perf/estimate.h"
#include "perf/hbm_map.h"
#include "perf/power.h"
#include "perf/resources.h"

void flx_perf_model_from_qmodel(const flx_qmodel *qm, flx_perf_model *m) {
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", qm->recipe[0] ? qm->recipe : "quantized model");
    m->shape = qm->config;
    m->weight_bits = qm->config.n_layers > 0 ? qm->layers[0].wq.bits : 4;
    m->lm_head_bits = qm->lm_head.bits;
    m->act_bits = qm->act.bits;
    m->online_hadamard = qm->online_hadamard_ffn && !qm->r4_matrix;
    m->r4_dense = qm->online_hadamard_ffn && qm->r4_matrix != NULL;
    m->r3 = qm->online_hadamard_qk;
    m->kv_dynamic = qm->kv.dynamic;
    m->kv_bits = qm->kv.dynamic ? qm->kv.bits : 8;
    m->kv_group_size = 0;
    m->kv_asymmetric = qm->kv.dynamic && qm->kv.asymmetric;
    if (qm->kv.dynamic) {
        /* A group size of 0 in a recipe means one scale per head row. */
        m->kv_group_size = qm->kv.group_size > 0 ? qm->kv.group_size : qm->config.head_dim;
    }
}

/* Seconds to move bytes over the channels of mask at rate bytes/s each. */
static double transfer_s(uint64_t mask, double bytes, double rate) {
    int n = flx_hbm_count(mask);
    return n > 0 ? bytes / (n * rate) : 0;
}

static int kv_half_channels(uint64_t mask) {
    int n = flx_hbm_count(mask);
    return n <= 1 ? n : n / 2;
}

int flx_perf_report_run(FILE *out, const flx_device *dev, const flx_accel_config *in_cfg, const flx_perf_model *m,
                        const flx_counters *prefill, const flx_counters *decode, flx_error *err) {
    if (dev->kind != FLX_DEVICE_FPGA)
        return flx_fail(err, "%s is a GPU baseline: the modeled FPGA time needs an FPGA device", dev->name);
    flx_accel_config cfg = *in_cfg;
    if (flx_hbm_resolve(dev, &cfg, err) != 0) return -1;
    const flx_hbm_config *h = &cfg.hbm;
    fprintf(out, "modeled FPGA time on %s, configuration %s:\n", dev->name, cfg.name);
    double total_s = 0, total_j = 0;
    if (prefill && prefill->runs) {
        double f = dev->prefill_clock_mhz * 1e6, rate = flx_hbm_channel_rate(dev, f);
        double compute = (double)prefill->engine_cycles / f;
        /* Every prefill module streams at the same time: the slowest group bounds the run. */
        double weights = transfer_s(h->prefill_qkvo | h->prefill_ffn, (double)prefill->bytes_read[FLX_PORT_WEIGHTS], rate);
        double kv = transfer_s(h->prefill_kv,
                               (double)(prefill->bytes_read[FLX_PORT_KV_CACHE] + prefill->bytes_written[FLX_PORT_KV_CACHE]),
                               rate);
        double aux = transfer_s(h->prefill_aux,
                                (double)(prefill->bytes_read[FLX_PORT_SCALES] + prefill->bytes_read[FLX_PORT_IO] +
                                         prefill->bytes_written[FLX_PORT_IO] + prefill->bytes_read[FLX_PORT_PARAMS]),
                                rate);
        double bound = fmax(weights, fmax(kv, aux)), s = fmax(compute, bound);
        fprintf(out,
                "  prefill: %llu runs, %llu tokens, %llu cycles at %.1f MHz = %.6g s; HBM lower bound %.6g s; "
                "modeled %.6g s (%.1f tokens/s)\n",
                (unsigned long long)prefill->runs, (unsigned long long)prefill->tokens,
                (unsigned long long)prefill->engine_cycles, dev->prefill_clock_mhz, compute, bound, s,
                prefill->tokens / s);
        total_s += s;
        if (m) {
            flx_design_resources res;
            flx_perf_resources(dev, &cfg, m, FLX_ENGINE_PREFILL, 2048, &res);
            double bytes = 0;
            for (int p = 0; p < FLX_PORT_COUNT; p++)
                if (p != FLX_PORT_EMBEDDINGS) bytes += (double)(prefill->bytes_read[p] + prefill->bytes_written[p]);
            double watts = flx_perf_power_w(dev, &res, f, bytes / s);
            fprintf(out, "  prefill energy: %.4g J at %.1f W\n", watts * s, watts);
            total_j += watts * s;
        }
    }
    if (decode && decode->runs) {
        double f = dev->decode_clock_mhz * 1e6, rate = flx_hbm_channel_rate(dev, f);
        double compute = (double)decode->engine_cycles / f;
        /* The temporal engine streams weights and caches in turn; scales stream beside the weights. */
        double weights = transfer_s(h->decode_weights, (double)decode->bytes_read[FLX_PORT_WEIGHTS], rate);
        double scales = transfer_s(h->decode_aux, (double)decode->bytes_read[FLX_PORT_SCALES], rate);
        int half = kv_half_channels(h->decode_kv);
        double kv = half > 0 ? (double)decode->bytes_read[FLX_PORT_KV_CACHE] / 2 / (half * rate) : 0;
        double bound = fmax(weights, scales) + 2 * kv, s = fmax(compute, bound);
        fprintf(out,
                "  decode: %llu steps, %llu cycles at %.1f MHz = %.6g s; HBM lower bound %.6g s; modeled %.6g s "
                "(%.3g ms per token, %.1f tokens/s)\n",
                (unsigned long long)decode->runs, (unsigned long long)decode->engine_cycles, dev->decode_clock_mhz,
                compute, bound, s, 1e3 * s / decode->runs, decode->runs / s);
        total_s += s;
        if (m) {
            flx_design_resources res;
            flx_perf_resources(dev, &cfg, m, FLX_ENGINE_DECODE, 2048, &res);
            double bytes = 0;
            for (int p = 0; p < FLX_PORT_COUNT; p++)
                if (p != FLX_PORT_EMBEDDINGS) bytes += (double)(decode->bytes_read[p] + decode->bytes_written[p]);
            double watts = flx_perf_power_w(dev, &res, f, bytes / s);
            fprintf(out, "  decode energy: %.4g J at %.1f W (%.3g J per token)\n", watts * s, watts,
                    watts * s / decode->runs);
            total_j += watts * s;
        }
    }
    fprintf(out, "  total: %.6g s", total_s);
    if (m) fprintf(out, ", %.4g J", total_j);
    fprintf(out, " (the lower bounds use aggregate bytes; flexllm estimate models each phase)\n");
    return 0;
}
