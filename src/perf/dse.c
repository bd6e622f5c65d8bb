#include "perf/dse.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/limits.h"
#include "perf/hbm_map.h"
#include "perf/power.h"
#include "perf/resources.h"

int flx_objective_parse(const char *text, flx_objective *out) {
    static const char *const names[] = {"latency", "decode", "energy"};
    for (int i = 0; i < 3; i++)
        if (!strcmp(text, names[i])) {
            *out = (flx_objective)i;
            return 0;
        }
    return -1;
}

const char *flx_objective_name(flx_objective o) {
    static const char *const names[] = {"latency", "decode", "energy"};
    return names[o];
}

/* A feasible design of one engine. */
typedef struct engine_point {
    flx_accel_config cfg;  /* only this engine's fields and HBM groups matter */
    double seconds, energy_j, utilization;
    int limit;
    double metric;         /* lower is better */
} engine_point;

typedef struct point_list {
    engine_point *items;
    int n, cap;
} point_list;

static int push(point_list *l, const engine_point *p, flx_error *err) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 256;
        engine_point *grown = realloc(l->items, (size_t)cap * sizeof *grown);
        if (!grown) return flx_fail(err, "dse: out of memory keeping %d candidate designs", cap);
        l->items = grown;
        l->cap = cap;
    }
    l->items[l->n++] = *p;
    return 0;
}

static double engine_metric(flx_objective o, double seconds, double energy_j) {
    return o == FLX_OBJECTIVE_ENERGY ? energy_j : seconds;
}

/* Evaluates one engine of cfg; returns 1 and fills p when it fits. */
static int evaluate(const flx_device *dev, const flx_perf_model *m, flx_workload w, flx_objective o,
                    flx_engine_kind engine, flx_accel_config *cfg, engine_point *p) {
    flx_error ignored;
    if (flx_accel_config_validate(cfg, &ignored) != 0 || flx_hbm_resolve(dev, cfg, &ignored) != 0) return 0;
    static flx_design_resources res; /* large; the search is single-threaded */
    int max_seq = flx_perf_max_seq(w);
    flx_perf_resources(dev, cfg, m, engine, max_seq, &res);
    if (flx_perf_check_fit(dev, &res, &ignored) != 0) return 0;
    if (engine == FLX_ENGINE_DECODE && flx_perf_check_capacity(dev, cfg, m, max_seq, &ignored) != 0) return 0;
    flx_engine_estimate e;
    double s = engine == FLX_ENGINE_PREFILL
                   ? flx_perf_prefill_seconds(dev, cfg, m, w.input_tokens - 1, 0, &e)
                   : flx_perf_decode_seconds(dev, cfg, m, w.input_tokens - 1, w.output_tokens, 0, &e);
    double power = flx_perf_power_w(dev, &res, e.clock_mhz * 1e6, s > 0 ? e.hbm_bytes / s : 0);
    p->cfg = *cfg;
    p->seconds = s;
    p->energy_j = power * s;
    p->utilization = flx_perf_peak_utilization(dev, &res, &p->limit);
    p->metric = engine_metric(o, s, p->energy_j);
    return 1;
}

static int search_prefill(const flx_device *dev, const flx_perf_model *m, flx_workload w, flx_objective o,
                          point_list *out, int *evaluated, flx_error *err) {
    static const int tps[] = {4, 8, 16, 32};
    static const int wpq[] = {8, 16, 24, 32, 48, 64, 96, 128};
    static const int wpf[] = {32, 48, 64, 96, 128, 192, 256};
    static const int blocks[] = {1, 2, 3, 4, 6, 8};
    static const int kvp[] = {8, 16, 32, 64};
    flx_accel_config base;
    if (flx_accel_config_get("u280-ref", &base, err) != 0) return -1;
    for (size_t a = 0; a < sizeof tps / sizeof tps[0]; a++)
        for (size_t b = 0; b < sizeof wpq / sizeof wpq[0]; b++)
            for (size_t c = 0; c < sizeof wpf / sizeof wpf[0]; c++)
                for (size_t d = 0; d < sizeof blocks / sizeof blocks[0]; d++)
                    for (size_t k = 0; k < sizeof kvp / sizeof kvp[0]; k++)
                        for (size_t v = 0; v < sizeof kvp / sizeof kvp[0]; v++) {
                            flx_accel_config cfg = base;
                            snprintf(cfg.name, sizeof cfg.name, "dse");
                            cfg.prefill = (flx_prefill_config){tps[a], wpq[b], wpf[c], blocks[d], kvp[k], kvp[v]};
                            memset(&cfg.hbm, 0, sizeof cfg.hbm);
                            cfg.hbm.decode_weights = base.hbm.decode_weights;
                            cfg.hbm.decode_kv = base.hbm.decode_kv;
                            cfg.hbm.decode_aux = base.hbm.decode_aux;
                            engine_point p;
                            (*evaluated)++;
                            if (evaluate(dev, m, w, o, FLX_ENGINE_PREFILL, &cfg, &p) && push(out, &p, err) != 0)
                                return -1;
                        }
    return 0;
}

static uint64_t channel_range(int first, int count) {
    uint64_t m = 0;
    for (int i = 0; i < count; i++) m |= 1ull << (first + i);
    return m;
}

static int search_decode(const flx_device *dev, const flx_perf_model *m, flx_workload w, flx_objective o,
                         point_list *out, int *evaluated, flx_error *err) {
    static const int bps[] = {4, 8, 16, 24, 32, 48, 64};
    static const int wps[] = {16, 32, 48, 64, 96, 128};
    static const int hps[] = {4, 8, 16, 32, 64};
    static const int kps[] = {16, 32, 64, 128};
    static const int vps[] = {8, 16, 32, 64};
    static const int weight_channels[] = {8, 16, 24, 32, 48, 64};
    int n_ch = dev->hbm_channels;
    flx_accel_config base;
    if (flx_accel_config_get("u280-ref", &base, err) != 0) return -1;

    /* HBM maps: weights on the first nw channels with the caches behind
     * them (the reference's mem_opt layout) or on channels of their own. */
    flx_hbm_config maps[2 * sizeof weight_channels / sizeof weight_channels[0]];
    int n_maps = 0;
    for (size_t i = 0; i < sizeof weight_channels / sizeof weight_channels[0]; i++) {
        int nw = weight_channels[i];
        if (nw > n_ch) continue;
        flx_hbm_config h = {0};
        h.decode_weights = channel_range(0, nw);
        h.decode_kv = h.decode_weights;
        h.decode_aux = nw < n_ch ? channel_range(nw, 1) : channel_range(0, 1);
        maps[n_maps++] = h;
        int nk = n_ch - nw - 1 < 16 ? n_ch - nw - 1 : 16;
        if (nk >= 2) {
            h.decode_kv = channel_range(nw, nk);
            h.decode_aux = channel_range(nw + nk, 1);
            maps[n_maps++] = h;
        }
    }
    for (size_t a = 0; a < sizeof bps / sizeof bps[0]; a++)
        for (size_t b = 0; b < sizeof wps / sizeof wps[0]; b++)
            for (size_t c = 0; c < sizeof hps / sizeof hps[0]; c++) {
                if (hps[c] > m->shape.n_heads && c > 0 && hps[c - 1] >= m->shape.n_heads) continue;
                for (size_t k = 0; k < sizeof kps / sizeof kps[0]; k++)
                    for (size_t v = 0; v < sizeof vps / sizeof vps[0]; v++)
                        for (int h = 0; h < n_maps; h++) {
                            if (flx_hbm_count(maps[h].decode_weights) > 2 * bps[a]) continue;
                            flx_accel_config cfg = base;
                            snprintf(cfg.name, sizeof cfg.name, "dse");
                            cfg.decode = (flx_decode_config){bps[a], hps[c], wps[b], kps[k], vps[v]};
                            cfg.hbm.decode_weights = maps[h].decode_weights;
                            cfg.hbm.decode_kv = maps[h].decode_kv;
                            cfg.hbm.decode_aux = maps[h].decode_aux;
                            engine_point p;
                            (*evaluated)++;
                            if (evaluate(dev, m, w, o, FLX_ENGINE_DECODE, &cfg, &p) && push(out, &p, err) != 0)
                                return -1;
                        }
            }
    return 0;
}

static int by_utilization(const void *a, const void *b) {
    const engine_point *x = a, *y = b;
    if (x->utilization != y->utilization) return x->utilization < y->utilization ? -1 : 1;
    return x->metric < y->metric ? -1 : x->metric > y->metric;
}

/* Keeps the points no other point beats in both metric and utilization. */
static int pareto(engine_point *items, int n) {
    qsort(items, (size_t)n, sizeof *items, by_utilization);
    int kept = 0;
    double best = INFINITY;
    for (int i = 0; i < n; i++)
        if (items[i].metric < best) {
            best = items[i].metric;
            items[kept++] = items[i];
        }
    return kept;
}

static void combine(const flx_device *dev, flx_workload w, flx_objective o, const engine_point *p,
                    const engine_point *d, flx_dse_point *out) {
    (void)dev;
    memset(out, 0, sizeof *out);
    out->cfg = d->cfg;
    out->cfg.prefill = p->cfg.prefill;
    out->cfg.hbm.prefill_qkvo = p->cfg.hbm.prefill_qkvo;
    out->cfg.hbm.prefill_ffn = p->cfg.hbm.prefill_ffn;
    out->cfg.hbm.prefill_kv = p->cfg.hbm.prefill_kv;
    out->cfg.hbm.prefill_aux = p->cfg.hbm.prefill_aux;
    snprintf(out->cfg.name, sizeof out->cfg.name, "dse-%s", flx_objective_name(o));
    out->prefill_s = p->seconds;
    out->decode_s = d->seconds;
    out->end_to_end_s = p->seconds + d->seconds;
    out->decode_tokens_per_s = w.output_tokens / d->seconds;
    out->energy_per_token_j = (p->energy_j + d->energy_j) / w.output_tokens;
    out->utilization = p->utilization > d->utilization ? p->utilization : d->utilization;
    out->limit_resource = p->utilization > d->utilization ? p->limit : d->limit;
    /* The decode objective breaks ties between equal decode designs with
     * the prefill time, weighted so that it never outweighs a decode gain
     * of more than 0.1% of the prefill time. */
    out->objective = o == FLX_OBJECTIVE_LATENCY  ? out->end_to_end_s
                     : o == FLX_OBJECTIVE_DECODE ? (d->seconds + 1e-3 * p->seconds) / w.output_tokens
                                                 : out->energy_per_token_j;
}

static int by_point_utilization(const void *a, const void *b) {
    const flx_dse_point *x = a, *y = b;
    if (x->utilization != y->utilization) return x->utilization < y->utilization ? -1 : 1;
    return x->objective < y->objective ? -1 : x->objective > y->objective;
}

/* Best point of list with utilization at most u, or NULL. */
static const engine_point *best_within(const engine_point *front, int n, double u) {
    const engine_point *best = NULL;
    for (int i = 0; i < n && front[i].utilization <= u; i++) best = &front[i];
    return best;
}

static void describe_limit(const flx_device *dev, const flx_perf_model *m, flx_workload w, flx_dse_result *r) {
    flx_accel_config cfg = r->best.cfg;
    flx_error ignored;
    flx_engine_estimate e;
    if (flx_hbm_resolve(dev, &cfg, &ignored) != 0) return;
    flx_perf_decode_seconds(dev, &cfg, m, w.input_tokens - 1, w.output_tokens, 1, &e);
    const flx_counters *c = &e.counters;
    double total = 0, linear = (double)c->cycles[FLX_KERNEL_LINEAR];
    for (int k = 0; k < FLX_KERNEL_COUNT; k++)
        if (k != FLX_KERNEL_SAMPLER) total += (double)c->cycles[k];
    double attention = (double)(c->cycles[FLX_KERNEL_QK] + c->cycles[FLX_KERNEL_AV] + c->cycles[FLX_KERNEL_SOFTMAX] +
                                c->cycles[FLX_KERNEL_PROB_QUANT]);
    double memory_share = e.seconds / e.compute_seconds - 1;
    static flx_design_resources res;
    flx_perf_resources(dev, &cfg, m, FLX_ENGINE_DECODE, flx_perf_max_seq(w), &res);
    int which = 0;
    double util = flx_perf_peak_utilization(dev, &res, &which);
    int bandwidth = memory_share > 0.02, fabric = util > 0.9 * dev->max_utilization;
    char verdict[128];
    if (bandwidth && fabric)
        snprintf(verdict, sizeof verdict, "HBM bandwidth of the weight channels and %s", flx_resource_name(which));
    else if (bandwidth)
        snprintf(verdict, sizeof verdict, "HBM bandwidth of the weight channels");
    else if (fabric)
        snprintf(verdict, sizeof verdict, "%s", flx_resource_name(which));
    else
        snprintf(verdict, sizeof verdict, "the array widths searched (compute-bound at the fitted clock)");
    snprintf(r->limit, sizeof r->limit,
             "best decode design: linear arrays %.0f%% of the cycles, attention %.0f%%, vector units %.0f%%; "
             "bandwidth limits add %.1f%%; busiest HBM channel at %.0f%% of its sustained rate; peak resource %s at "
             "%.0f%% of the device (usable %.0f%%); limited by %s",
             100 * linear / total, 100 * attention / total, 100 * (total - linear - attention) / total,
             100 * memory_share, 100 * e.busiest_fraction, flx_resource_name(which), 100 * util,
             100 * dev->max_utilization, verdict);
}

int flx_dse_run(const flx_device *dev, const flx_perf_model *m, flx_workload w, flx_objective objective,
                flx_dse_result *out, flx_error *err) {
    memset(out, 0, sizeof *out);
    out->objective = objective;
    out->workload = w;
    if (dev->kind != FLX_DEVICE_FPGA)
        return flx_fail(err, "%s is a GPU baseline, not an FPGA: there is no design space to search", dev->name);
    if (w.input_tokens < 1 || w.output_tokens < 1 || w.input_tokens + w.output_tokens > FLX_MAX_SEQ)
        return flx_fail(err, "workload %d:%d: lengths must be at least 1 and add up to at most %d", w.input_tokens,
                        w.output_tokens, FLX_MAX_SEQ);
    if (flx_perf_model_validate(m, err) != 0) return -1;
    point_list pre = {0}, dec = {0};
    int rc = -1;
    if (search_prefill(dev, m, w, objective, &pre, &out->n_prefill_evaluated, err) != 0 ||
        search_decode(dev, m, w, objective, &dec, &out->n_decode_evaluated, err) != 0)
        goto done;
    out->n_prefill_feasible = pre.n;
    out->n_decode_feasible = dec.n;
    if (pre.n == 0 || dec.n == 0) {
        flx_fail(err, "dse: no %s design of the search space fits %s", pre.n == 0 ? "prefill" : "decode", dev->name);
        goto done;
    }

    /* Cloud: every feasible design of one engine with the best design of
     * the other engine that is no larger. */
    qsort(pre.items, (size_t)pre.n, sizeof *pre.items, by_utilization);
    qsort(dec.items, (size_t)dec.n, sizeof *dec.items, by_utilization);
    engine_point *pre_front = malloc((size_t)pre.n * sizeof *pre_front);
    engine_point *dec_front = malloc((size_t)dec.n * sizeof *dec_front);
    if (!pre_front || !dec_front) {
        free(pre_front);
        free(dec_front);
        flx_fail(err, "dse: out of memory for the Pareto fronts");
        goto done;
    }
    memcpy(pre_front, pre.items, (size_t)pre.n * sizeof *pre_front);
    memcpy(dec_front, dec.items, (size_t)dec.n * sizeof *dec_front);
    int n_pre = pareto(pre_front, pre.n), n_dec = pareto(dec_front, dec.n);
    int total = pre.n + dec.n, stride = total / FLX_DSE_MAX_CLOUD + 1;
    for (int i = 0; i < total && out->n_cloud < FLX_DSE_MAX_CLOUD; i += stride) {
        const engine_point *p = i < pre.n ? &pre.items[i] : NULL;
        const engine_point *d = i < pre.n ? NULL : &dec.items[i - pre.n];
        if (p) d = best_within(dec_front, n_dec, p->utilization);
        else p = best_within(pre_front, n_pre, d->utilization);
        if (!p) p = &pre_front[0];
        if (!d) d = &dec_front[0];
        combine(dev, w, objective, p, d, &out->cloud[out->n_cloud++]);
    }

    /* Front: pairs of the two engine fronts, filtered again. */
    flx_dse_point *pairs = malloc((size_t)n_pre * n_dec * sizeof *pairs);
    if (!pairs) {
        free(pre_front);
        free(dec_front);
        flx_fail(err, "dse: out of memory combining %d x %d designs", n_pre, n_dec);
        goto done;
    }
    int n_pairs = 0;
    for (int i = 0; i < n_pre; i++)
        for (int j = 0; j < n_dec; j++) combine(dev, w, objective, &pre_front[i], &dec_front[j], &pairs[n_pairs++]);
    qsort(pairs, (size_t)n_pairs, sizeof *pairs, by_point_utilization);
    double best = INFINITY;
    flx_dse_point kept[FLX_DSE_MAX_FRONT * 4];
    int n_kept = 0;
    for (int i = 0; i < n_pairs; i++)
        if (pairs[i].objective < best) {
            best = pairs[i].objective;
            if (n_kept < (int)(sizeof kept / sizeof kept[0])) kept[n_kept++] = pairs[i];
            else kept[n_kept - 1] = pairs[i];
        }
    /* Keep at most FLX_DSE_MAX_FRONT points, always with both ends. */
    int step = n_kept / FLX_DSE_MAX_FRONT + 1;
    for (int i = 0; i < n_kept; i += step) out->front[out->n_front++] = kept[i];
    if (out->front[out->n_front - 1].objective != kept[n_kept - 1].objective) {
        if (out->n_front == FLX_DSE_MAX_FRONT) out->n_front--;
        out->front[out->n_front++] = kept[n_kept - 1];
    }
    out->best = kept[n_kept - 1];
    free(pairs);
    free(pre_front);
    free(dec_front);
    describe_limit(dev, m, w, out);
    rc = 0;
done:
    free(pre.items);
    free(dec.items);
    return rc;
}

void flx_dse_point_from_estimate(const flx_device *dev, const flx_estimate *e, flx_objective objective,
                                 flx_dse_point *p) {
    memset(p, 0, sizeof *p);
    p->cfg = e->cfg;
    p->prefill_s = e->prefill.seconds;
    p->decode_s = e->decode.seconds;
    p->end_to_end_s = e->end_to_end_s;
    p->decode_tokens_per_s = e->decode_tokens_per_s;
    p->energy_per_token_j = e->energy_per_token_j;
    int wp = 0, wd = 0;
    double up = flx_perf_peak_utilization(dev, &e->prefill.res, &wp);
    double ud = flx_perf_peak_utilization(dev, &e->decode.res, &wd);
    p->utilization = up > ud ? up : ud;
    p->limit_resource = up > ud ? wp : wd;
    int n = e->workload.output_tokens;
    p->objective = objective == FLX_OBJECTIVE_LATENCY  ? p->end_to_end_s
                   : objective == FLX_OBJECTIVE_DECODE ? (p->decode_s + 1e-3 * p->prefill_s) / n
                                                       : p->energy_per_token_j;
}
