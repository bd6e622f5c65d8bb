#include "perf/estimate.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/limits.h"
#include "kernels/stream.h"
#include "perf/hbm_map.h"
#include "perf/kernel_cost.h"
#include "perf/power.h"

static uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

int flx_workload_parse(const char *text, flx_workload *w) {
    char *end = NULL;
    if (*text < '0' || *text > '9') return -1;
    errno = 0;
    long in = strtol(text, &end, 10);
    if (errno || *end != ':' || in < 1 || in > 1 << 24) return -1;
    const char *rest = end + 1;
    if (*rest < '0' || *rest > '9') return -1;
    long out = strtol(rest, &end, 10);
    if (errno || *end != '\0' || out < 1 || out > 1 << 24) return -1;
    w->input_tokens = (int)in;
    w->output_tokens = (int)out;
    return 0;
}

int flx_perf_max_seq(flx_workload w) {
    int n = w.input_tokens + w.output_tokens;
    return n > 2048 ? n : 2048;
}

static double busiest_load(const double *load, int n_channels) {
    double worst = 0;
    for (int ch = 0; ch < n_channels; ch++)
        if (load[ch] > worst) worst = load[ch];
    return worst;
}

static void add_loads(double *total, const double *load, double times) {
    for (int ch = 0; ch < FLX_MAX_HBM_CHANNELS; ch++) total[ch] += times * load[ch];
}

/* Cycles of one decode step without the context-dependent attention
 * kernels (QK, softmax, probability quantizer, AV). */
static uint64_t step_cycles_fixed(const flx_perf_model *m, const flx_accel_config *cfg) {
    const flx_config *s = &m->shape;
    const flx_decode_config *d = &cfg->decode;
    flx_counters c;
    memset(&c, 0, sizeof c);
    flx_perf_count_decode_token(m, cfg, 0, &c);
    uint64_t rounds = ceil_div((uint64_t)s->n_heads, (uint64_t)d->hp);
    uint64_t attention = rounds * (flx_cost_qk(1, s->head_dim, d->kp) + flx_cost_av(1, s->head_dim, d->vp) +
                                   flx_cost_softmax(1) + flx_cost_elementwise(1, 1));
    return c.engine_cycles - (uint64_t)s->n_layers * attention;
}

double flx_perf_decode_macs(const flx_perf_model *m, int first_pos, int n) {
    const flx_config *s = &m->shape;
    double q_dim = (double)s->n_heads * s->head_dim, kv_dim = (double)s->n_kv_heads * s->head_dim;
    double per_layer = s->dim * (2 * kv_dim + q_dim) + q_dim * s->dim + 3.0 * s->dim * s->ffn_dim;
    double weights = s->n_layers * per_layer + (double)s->dim * s->vocab_size;
    double keys = (double)n * first_pos + (double)n * (n + 1) / 2;
    return n * weights + 2.0 * s->n_layers * s->n_heads * s->head_dim * keys;
}

double flx_perf_prefill_macs(const flx_perf_model *m, int n) {
    const flx_config *s = &m->shape;
    double q_dim = (double)s->n_heads * s->head_dim, kv_dim = (double)s->n_kv_heads * s->head_dim;
    double per_layer = s->dim * (2 * kv_dim + q_dim) + q_dim * s->dim + 3.0 * s->dim * s->ffn_dim;
    double keys = (double)n * (n + 1) / 2;
    return n * s->n_layers * per_layer + 2.0 * s->n_layers * s->n_heads * s->head_dim * keys;
}

/* One decode matrix: seconds of its linear phase (the arrays streaming
 * weights, the scales streaming beside them) and of its quantizer and
 * dequantizer, with the bytes it puts on each channel. */
static double decode_matrix(const flx_device *dev, const flx_accel_config *cfg, int d_in, int d_out, int bits,
                            double f, double rate, double *load) {
    const flx_decode_config *d = &cfg->decode;
    double streams[FLX_MAX_BP], local[FLX_MAX_HBM_CHANNELS] = {0};
    int passes = flx_perf_passes(bits), first_rows = 0;
    for (int b = 0; b < d->bp; b++) {
        int begin, rows;
        flx_block_slice(d_out, d->bp, b, &begin, &rows);
        if (b == 0) first_rows = rows;
        streams[b] = (double)passes * (double)flx_perf_decode_stream_bytes(d_in, rows, d->wp, bits);
    }
    flx_hbm_spread(cfg->hbm.decode_weights, d->bp, streams, local);
    double weights_busiest = busiest_load(local, FLX_MAX_HBM_CHANNELS);
    double scales[FLX_MAX_HBM_CHANNELS] = {0};
    flx_hbm_spread_even(cfg->hbm.decode_aux, (double)d_out * 2 * sizeof(float), scales);
    double scales_busiest = busiest_load(scales, FLX_MAX_HBM_CHANNELS);
    add_loads(local, scales, 1.0);
    add_loads(load, local, 1.0);

    double linear = passes * (double)flx_cost_linear_decode(d_in, first_rows, d->wp) / f;
    double memory = fmax(weights_busiest, scales_busiest) / rate;
    double vector = (double)(flx_cost_quant_dynamic(d_in, d->bp) + flx_cost_elementwise(d_out, d->bp)) / f;
    (void)dev;
    return fmax(linear, memory) + vector;
}

double flx_perf_decode_seconds(const flx_device *dev, const flx_accel_config *cfg, const flx_perf_model *m,
                               int first_pos, int n, int with_counters, flx_engine_estimate *out) {
    const flx_config *s = &m->shape;
    const flx_decode_config *d = &cfg->decode;
    memset(out, 0, sizeof *out);
    double f = dev->decode_clock_mhz * 1e6, rate = flx_hbm_channel_rate(dev, f);
    out->clock_mhz = dev->decode_clock_mhz;
    int dim = s->dim, q_dim = s->n_heads * s->head_dim, kv_dim = s->n_kv_heads * s->head_dim;
    int wb = m->weight_bits;

    /* Context-independent part of one step, per layer and once. */
    double layer_load[FLX_MAX_HBM_CHANNELS] = {0}, once_load[FLX_MAX_HBM_CHANNELS] = {0};
    const struct {
        int d_in, d_out, calls;
    } mats[] = {{dim, kv_dim, 2}, {dim, q_dim, 1}, {q_dim, dim, 1}, {dim, s->ffn_dim, 2}, {s->ffn_dim, dim, 1}};
    double layer_s = 0;
    for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++) {
        double load[FLX_MAX_HBM_CHANNELS] = {0};
        layer_s += mats[i].calls * decode_matrix(dev, cfg, mats[i].d_in, mats[i].d_out, wb, f, rate, load);
        add_loads(layer_load, load, mats[i].calls);
    }

    uint64_t rounds = ceil_div((uint64_t)s->n_heads, (uint64_t)d->hp);
    uint64_t qk_heads = (uint64_t)(s->n_heads + s->n_kv_heads);
    uint64_t vector = 2 * flx_cost_rmsnorm(dim, d->bp) +
                      flx_cost_elementwise((s->n_heads + s->n_kv_heads) * (s->rope_dim / 2), d->bp) +
                      4 * flx_cost_elementwise(kv_dim, d->hp) + rounds * flx_cost_elementwise(s->head_dim, 1) +
                      2 * flx_cost_elementwise(dim, d->bp) + flx_cost_elementwise(s->ffn_dim, d->bp) +
                      (m->r3 ? ceil_div(qk_heads, (uint64_t)d->hp) * flx_cost_fwht(s->head_dim, 1) : 0) +
                      (m->online_hadamard && !m->r4_dense ? flx_cost_fwht(s->ffn_dim, d->bp) : 0);
    layer_s += (double)vector / f;
    if (m->r4_dense) {
        /* The dense R4 matrix streams from the auxiliary channels at every use. */
        double bytes = (double)s->ffn_dim * s->ffn_dim * sizeof(float);
        int n_aux = flx_hbm_count(cfg->hbm.decode_aux);
        double rotate = (double)flx_cost_rotate_dense(s->ffn_dim, d->bp) / f;
        layer_s += fmax(rotate, n_aux > 0 ? bytes / n_aux / rate : 0);
        flx_hbm_spread_even(cfg->hbm.decode_aux, bytes, layer_load);
    }
    uint64_t step_cycles = step_cycles_fixed(m, cfg);
    double params[FLX_MAX_HBM_CHANNELS] = {0};
    flx_hbm_spread_even(cfg->hbm.decode_aux, 2.0 * dim * sizeof(float), params);
    add_loads(layer_load, params, 1.0);
    double row = (double)flx_perf_kv_row_bytes(m);
    flx_hbm_spread_half(cfg->hbm.decode_kv, 0, (double)s->n_kv_heads * row, layer_load);
    flx_hbm_spread_half(cfg->hbm.decode_kv, 1, (double)s->n_kv_heads * row, layer_load);

    double once_s = decode_matrix(dev, cfg, dim, s->vocab_size, m->lm_head_bits, f, rate, once_load) +
                    (double)(flx_cost_rmsnorm(dim, d->bp) + flx_cost_elementwise(dim, d->bp)) / f;
    flx_hbm_spread_even(cfg->hbm.decode_aux, (double)dim * sizeof(float), once_load);
    double step_s = s->n_layers * layer_s + once_s;

    /* Attention grows with the context: K and V bytes of every query head
     * from their halves of the KV channels. */
    int n_kv = flx_hbm_count(cfg->hbm.decode_kv);
    int k_channels = n_kv == 1 ? 1 : n_kv / 2, v_channels = n_kv == 1 ? 1 : n_kv - n_kv / 2;
    double total_s = 0, kv_bytes = 0;
    for (int i = 0; i < n; i++) {
        int n_keys = first_pos + i + 1;
        double bytes = (double)s->n_heads * n_keys * row;
        double qk = (double)(rounds * flx_cost_qk(n_keys, s->head_dim, d->kp)) / f;
        double av = (double)(rounds * flx_cost_av(n_keys, s->head_dim, d->vp)) / f;
        double other = (double)(rounds * (flx_cost_softmax(n_keys) + flx_cost_elementwise(n_keys, 1))) / f;
        double attn = fmax(qk, bytes / k_channels / rate) + fmax(av, bytes / v_channels / rate) + other;
        total_s += step_s + s->n_layers * attn;
        kv_bytes += s->n_layers * bytes;
        out->cycles += step_cycles + (uint64_t)s->n_layers * rounds *
                                         (flx_cost_qk(n_keys, s->head_dim, d->kp) + flx_cost_av(n_keys, s->head_dim, d->vp) +
                                          flx_cost_softmax(n_keys) + flx_cost_elementwise(n_keys, 1));
        if (with_counters) flx_perf_count_decode_token(m, cfg, first_pos + i, &out->counters);
    }
    flx_hbm_spread_half(cfg->hbm.decode_kv, 0, kv_bytes, out->channel_bytes);
    flx_hbm_spread_half(cfg->hbm.decode_kv, 1, kv_bytes, out->channel_bytes);
    add_loads(out->channel_bytes, layer_load, (double)n * s->n_layers);
    add_loads(out->channel_bytes, once_load, n);

    out->compute_seconds = (double)out->cycles / f;
    out->seconds = total_s;
    for (int ch = 0; ch < FLX_MAX_HBM_CHANNELS; ch++) out->hbm_bytes += out->channel_bytes[ch];
    out->busiest_channel = 0;
    for (int ch = 1; ch < FLX_MAX_HBM_CHANNELS; ch++)
        if (out->channel_bytes[ch] > out->channel_bytes[out->busiest_channel]) out->busiest_channel = ch;
    out->busiest_fraction = total_s > 0 ? out->channel_bytes[out->busiest_channel] / (total_s * rate) : 0;
    return total_s;
}

double flx_perf_prefill_seconds(const flx_device *dev, const flx_accel_config *cfg, const flx_perf_model *m,
                                int n, int with_counters, flx_engine_estimate *out) {
    const flx_config *s = &m->shape;
    const flx_prefill_config *p = &cfg->prefill;
    memset(out, 0, sizeof *out);
    out->clock_mhz = dev->prefill_clock_mhz;
    if (n <= 0) return 0;
    double f = dev->prefill_clock_mhz * 1e6, rate = flx_hbm_channel_rate(dev, f);
    int dim = s->dim, q_dim = s->n_heads * s->head_dim, kv_dim = s->n_kv_heads * s->head_dim;
    int wb = m->weight_bits, wq = p->wp_qkvo, wf = p->wp_ffn, blocks = p->ffn_blocks;
    flx_prefill_layer layer;
    flx_perf_prefill_layer(m, cfg, n, 0, &layer);
    double nb = layer.n_blocks, passes = flx_perf_passes(wb);

    /* Bytes of one layer on each channel: every token block re-streams the
     * weights; the caches are written once and re-read per block and head. */
    double load[FLX_MAX_HBM_CHANNELS] = {0};
    double qkvo[2] = {
        nb * passes *
            (double)(flx_perf_prefill_stream_bytes(dim, kv_dim, wq, 1, wb) + flx_perf_prefill_stream_bytes(dim, q_dim, wq, 1, wb)),
        nb * passes *
            (double)(flx_perf_prefill_stream_bytes(dim, kv_dim, wq, 1, wb) + flx_perf_prefill_stream_bytes(q_dim, dim, wq, 1, wb)),
    };
    flx_hbm_spread(cfg->hbm.prefill_qkvo, 2, qkvo, load);
    double ffn[3 * FLX_MAX_BLOCKS];
    for (int k = 0; k < blocks; k++) {
        ffn[k] = ffn[blocks + k] = nb * passes * (double)flx_perf_prefill_stream_bytes(dim, s->ffn_dim, wf, blocks, wb);
        ffn[2 * blocks + k] = nb * passes * (double)flx_perf_prefill_stream_bytes(s->ffn_dim, dim, wf, blocks, wb);
    }
    flx_hbm_spread(cfg->hbm.prefill_ffn, 3 * blocks, ffn, load);
    double keys = 0;
    for (int blk = 0; blk < layer.n_blocks; blk++) {
        int t0 = blk * p->tp, nt = n - t0 < p->tp ? n - t0 : p->tp;
        keys += (double)s->n_heads * (t0 + nt);
    }
    double row = (double)flx_perf_kv_row_bytes(m);
    double cache = (double)n * s->n_kv_heads * row + keys * row;
    double kv[2] = {cache, cache};
    flx_hbm_spread(cfg->hbm.prefill_kv, 2, kv, load);
    double aux = 2.0 * n * dim * sizeof(float) + 2.0 * dim * sizeof(float) +
                 nb * (2.0 * kv_dim + q_dim + dim + 2.0 * s->ffn_dim + dim) * 2 * sizeof(float) +
                 (m->r4_dense ? (double)s->ffn_dim * s->ffn_dim * sizeof(float) : 0);
    flx_hbm_spread_even(cfg->hbm.prefill_aux, aux, load);

    double compute = (double)layer.cycles / f;
    double memory = busiest_load(load, FLX_MAX_HBM_CHANNELS) / rate;
    out->seconds = s->n_layers * fmax(compute, memory);
    add_loads(out->channel_bytes, load, s->n_layers);
    if (with_counters) flx_perf_count_prefill(m, cfg, n, 0, false, &out->counters);
    out->cycles = (uint64_t)s->n_layers * layer.cycles;
    out->compute_seconds = (double)out->cycles / f;
    for (int ch = 0; ch < FLX_MAX_HBM_CHANNELS; ch++) out->hbm_bytes += out->channel_bytes[ch];
    for (int ch = 1; ch < FLX_MAX_HBM_CHANNELS; ch++)
        if (out->channel_bytes[ch] > out->channel_bytes[out->busiest_channel]) out->busiest_channel = ch;
    out->busiest_fraction = out->channel_bytes[out->busiest_channel] / (out->seconds * rate);
    return out->seconds;
}

/* Bytes each decode channel stores: weights of every layer and the LM
 * head, then the K and V caches for max_seq positions. */
int flx_perf_check_capacity(const flx_device *dev, const flx_accel_config *cfg, const flx_perf_model *m, int max_seq,
                            flx_error *err) {
    const flx_config *s = &m->shape;
    const flx_decode_config *d = &cfg->decode;
    double stored[FLX_MAX_HBM_CHANNELS] = {0};
    int q_dim = s->n_heads * s->head_dim, kv_dim = s->n_kv_heads * s->head_dim;
    const struct {
        int d_in, d_out, bits;
        double times;
    } mats[] = {
        {s->dim, kv_dim, m->weight_bits, 2.0 * s->n_layers},  {s->dim, q_dim, m->weight_bits, s->n_layers},
        {q_dim, s->dim, m->weight_bits, s->n_layers},         {s->dim, s->ffn_dim, m->weight_bits, 2.0 * s->n_layers},
        {s->ffn_dim, s->dim, m->weight_bits, s->n_layers},    {s->dim, s->vocab_size, m->lm_head_bits, 1},
    };
    for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++) {
        double streams[FLX_MAX_BP];
        for (int b = 0; b < d->bp; b++) {
            int begin, rows;
            flx_block_slice(mats[i].d_out, d->bp, b, &begin, &rows);
            streams[b] = mats[i].times * flx_perf_passes(mats[i].bits) *
                         (double)flx_perf_decode_stream_bytes(mats[i].d_in, rows, d->wp, mats[i].bits);
        }
        flx_hbm_spread(cfg->hbm.decode_weights, d->bp, streams, stored);
    }
    double cache = (double)s->n_layers * s->n_kv_heads * (double)flx_perf_kv_row_bytes(m) * max_seq;
    flx_hbm_spread_half(cfg->hbm.decode_kv, 0, cache, stored);
    flx_hbm_spread_half(cfg->hbm.decode_kv, 1, cache, stored);
    double capacity = dev->hbm_channel_mib * 1024 * 1024;
    for (int ch = 0; ch < dev->hbm_channels; ch++)
        if (stored[ch] > capacity)
            return flx_fail(err,
                            "decode HBM channel %d would hold %.1f MiB of weights and KV cache but has %.0f MiB, "
                            "over by %.1f MiB; spread hbm.decode.weights over more channels",
                            ch, stored[ch] / 1048576.0, dev->hbm_channel_mib, (stored[ch] - capacity) / 1048576.0);
    return 0;
}

int flx_perf_estimate(const flx_device *dev, const flx_accel_config *cfg, const flx_perf_model *m,
                      flx_workload w, flx_estimate *out, flx_error *err) {
    memset(out, 0, sizeof *out);
    if (dev->kind != FLX_DEVICE_FPGA)
        return flx_fail(err, "%s is a GPU baseline, not an FPGA: it has no accelerator to estimate", dev->name);
    if (w.input_tokens < 1 || w.output_tokens < 1)
        return flx_fail(err, "workload %d:%d: input and output lengths must be at least 1", w.input_tokens,
                        w.output_tokens);
    if (w.input_tokens + w.output_tokens > FLX_MAX_SEQ)
        return flx_fail(err, "workload %d:%d: %d positions exceed the KV cache limit of %d", w.input_tokens,
                        w.output_tokens, w.input_tokens + w.output_tokens, FLX_MAX_SEQ);
    if (flx_perf_model_validate(m, err) != 0) return -1;
    out->workload = w;
    out->cfg = *cfg;
    if (flx_accel_config_validate(&out->cfg, err) != 0 || flx_hbm_resolve(dev, &out->cfg, err) != 0) return -1;

    flx_perf_prefill_seconds(dev, &out->cfg, m, w.input_tokens - 1, 1, &out->prefill);
    flx_perf_decode_seconds(dev, &out->cfg, m, w.input_tokens - 1, w.output_tokens, 1, &out->decode);
    int max_seq = flx_perf_max_seq(w);
    flx_perf_resources(dev, &out->cfg, m, FLX_ENGINE_PREFILL, max_seq, &out->prefill.res);
    flx_perf_resources(dev, &out->cfg, m, FLX_ENGINE_DECODE, max_seq, &out->decode.res);

    flx_engine_estimate *engines[2] = {&out->prefill, &out->decode};
    for (int e = 0; e < 2; e++) {
        flx_engine_estimate *x = engines[e];
        double bytes_per_s = x->seconds > 0 ? x->hbm_bytes / x->seconds : 0;
        x->power_w = flx_perf_power_w(dev, &x->res, x->clock_mhz * 1e6, bytes_per_s);
        x->energy_j = x->power_w * x->seconds;
    }
    out->end_to_end_s = out->prefill.seconds + out->decode.seconds;
    out->decode_tokens_per_s = w.output_tokens / out->decode.seconds;
    out->energy_per_token_j = (out->prefill.energy_j + out->decode.energy_j) / w.output_tokens;
    out->decode_energy_per_token_j = out->decode.energy_j / w.output_tokens;
    double peak = flx_device_hbm_gbps(dev) * 1e9;
    out->decode_hbm_fraction = out->decode.hbm_bytes / (out->decode.seconds * peak);
    out->bytes_per_token = out->decode.hbm_bytes / w.output_tokens;
    out->weight_bytes_per_token = (double)out->decode.counters.bytes_read[FLX_PORT_WEIGHTS] / w.output_tokens;
    out->ceiling_tokens_per_s = peak / out->bytes_per_token;

    flx_error why;
    out->fits = 1;
    if (flx_perf_check_fit(dev, &out->prefill.res, &why) != 0 || flx_perf_check_fit(dev, &out->decode.res, &why) != 0) {
        out->fits = 0;
        snprintf(out->fit_error, sizeof out->fit_error, "%s", why.msg);
    } else if (flx_perf_check_capacity(dev, &out->cfg, m, max_seq, &why) != 0) {
        out->fits = 0;
        snprintf(out->fit_error, sizeof out->fit_error, "%s", why.msg);
    }
    return 0;
}
