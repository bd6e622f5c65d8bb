#include "perf/resources.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "perf/hbm_map.h"

/* NOTE: LUT and FF per operator are estimates for HLS operators on
 * UltraScale+; no synthesis report of the reference design could be read,
 * so they are not fitted. DSP counts come from the device file's packing
 * and float-operator figures. */
#define LUT_PER_MAC 12.0     /* packing correction, operand registers */
#define FF_PIPE_PER_MAC 16.0 /* operand pipeline registers besides the accumulator */
#define LUT_FMUL 80.0
#define FF_FMUL 150.0
#define LUT_FADD 220.0
#define FF_FADD 350.0
#define LUT_FEXP 900.0
#define FF_FEXP 1100.0
#define LUT_FDIV 800.0
#define FF_FDIV 1300.0
#define LUT_COMPARE 40.0     /* float compare for min/max */
#define LUT_TO_FLOAT 60.0    /* int32 to float conversion */
#define LUT_MODULE 600.0     /* control, FIFOs of a dataflow task */
#define FF_MODULE 900.0
#define LUT_AXI 2200.0       /* one AXI master with burst buffering */
#define FF_AXI 3500.0
#define BRAM_AXI 4.0

typedef struct builder {
    const flx_device *dev;
    flx_design_resources *r;
} builder;

static flx_module_use *add_module(builder *b, const char *name) {
    flx_design_resources *r = b->r;
    if (r->n_modules == FLX_MAX_MODULES) return &r->modules[FLX_MAX_MODULES - 1];
    flx_module_use *m = &r->modules[r->n_modules++];
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", name);
    m->slr = -1;
    m->use.lut = LUT_MODULE;
    m->use.ff = FF_MODULE;
    return m;
}

static void add_fp(const builder *b, flx_module_use *m, double muls, double adds, double exps, double divs) {
    const flx_device *d = b->dev;
    m->use.dsp += muls * d->fp32_mul_dsp + adds * d->fp32_add_dsp + exps * d->fp32_exp_dsp;
    m->use.lut += muls * LUT_FMUL + adds * LUT_FADD + exps * LUT_FEXP + divs * LUT_FDIV;
    m->use.ff += muls * FF_FMUL + adds * FF_FADD + exps * FF_FEXP + divs * FF_FDIV;
}

/* Integer MACs with one accumulator each (output-stationary arrays). */
static void add_macs(const builder *b, flx_module_use *m, double n_macs, int int4, int acc_bits) {
    double per_dsp = int4 ? b->dev->int4_macs_per_dsp : b->dev->int8_macs_per_dsp;
    m->use.dsp += ceil(n_macs / per_dsp);
    m->use.lut += n_macs * LUT_PER_MAC;
    m->use.ff += n_macs * (acc_bits + FF_PIPE_PER_MAC);
}

/* BRAM18 blocks of one bank of depth x width bits: the best aspect ratio. */
static double bram18_per_bank(double depth, double width) {
    static const double shapes[][2] = {{512, 36}, {1024, 18}, {2048, 9}, {4096, 4}, {8192, 2}, {16384, 1}};
    double best = 1e300;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        double n = ceil(depth / shapes[i][0]) * ceil(width / shapes[i][1]);
        if (n < best) best = n;
    }
    return best;
}

/* A buffer split into banks: tiny banks become LUTRAM, banks of 4K words
 * or more become URAM (4K x 72) where the device has it, the rest BRAM. */
static void add_buffer(const builder *b, flx_module_use *m, double depth, double width_bits, double banks) {
    double per_bank = ceil(depth / banks);
    double bits = per_bank * width_bits;
    if (bits <= 1024) {
        m->use.lut += banks * ceil(bits / 64.0);
    } else if (per_bank >= 4096 && b->dev->total.uram > 0) {
        m->use.uram += banks * ceil(per_bank / 4096.0) * ceil(width_bits / 72.0);
    } else {
        m->use.bram18 += banks * bram18_per_bank(per_bank, width_bits);
    }
}

static void add_port(builder *b, const char *name) {
    flx_module_use *m = add_module(b, name);
    m->use.lut = LUT_AXI;
    m->use.ff = FF_AXI;
    m->use.bram18 = BRAM_AXI;
    m->hbm_port = 1;
}

static int ceil_log2(int n) {
    int k = 0;
    while ((1 << k) < n) k++;
    return k;
}

static int max3(int a, int b, int c) {
    int m = a > b ? a : b;
    return m > c ? m : c;
}

/* R3: a Walsh-Hadamard butterfly per lane over one head at a time. */
static void add_fwht_qk(builder *b, const flx_perf_model *m, double lanes) {
    flx_module_use *u = add_module(b, "fwht_qk");
    add_fp(b, u, lanes, 2 * lanes, 0, 0);
    add_buffer(b, u, 2.0 * m->shape.head_dim, 32 * lanes, 2);
}

/* Dynamic KV quantizer of the K and V rows: group maximum, scale, round
 * (it replaces the static K and V quantizers). */
static void add_quant_kv(builder *b, double lanes) {
    flx_module_use *u = add_module(b, "quant_kv");
    add_fp(b, u, 2 * lanes, 0, 0, 2);
    u->use.lut += 2 * lanes * LUT_COMPARE;
}

/* Dense R4: one multiply-add per lane and cycle over the streamed
 * [ffn_dim][ffn_dim] float matrix, with the input and output vectors. */
static void add_rotate_dense(builder *b, int ffn_dim, double lanes) {
    flx_module_use *u = add_module(b, "rotate_dense");
    add_fp(b, u, lanes, lanes, 0, 0);
    add_buffer(b, u, 2.0 * ffn_dim, 32, 2);
}

static void build_prefill(builder *b, const flx_accel_config *cfg, const flx_perf_model *m, int max_seq) {
    const flx_config *s = &m->shape;
    const flx_prefill_config *p = &cfg->prefill;
    double L = p->tp;
    int q_dim = s->n_heads * s->head_dim, kv_dim = s->n_kv_heads * s->head_dim;
    int wide_in = max3(s->dim, q_dim, 0);
    int int4 = flx_perf_stream_bits(m->weight_bits) == 4 && m->act_bits == 4;
    char name[32];
    flx_module_use *u;

    /* Residual streams wait in deep FIFOs of 8 x dim token vectors, as in the reference. */
    u = add_module(b, "io");
    add_buffer(b, u, 8.0 * s->dim, 32 * L, 2);
    for (int i = 0; i < 2; i++) {
        u = add_module(b, i ? "rmsnorm.ffn" : "rmsnorm.attn");
        add_fp(b, u, 2 * L, L, 0, 0);
        add_buffer(b, u, s->dim, 32 * L, 1);
    }
    const struct {
        const char *name;
        int d_in, lanes, blocks;
    } arrays[] = {
        {"kq", s->dim, p->wp_qkvo, 1},         {"vo", wide_in, p->wp_qkvo, 1},
        {"gate", s->dim, p->wp_ffn, p->ffn_blocks}, {"up", s->dim, p->wp_ffn, p->ffn_blocks},
        {"down", s->ffn_dim, p->wp_ffn, p->ffn_blocks},
    };
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++) {
        int acc_bits = ceil_log2(arrays[i].d_in) + (int4 ? 8 : 16);
        snprintf(name, sizeof name, "quant.%s", arrays[i].name);
        u = add_module(b, name);
        add_fp(b, u, L, L, 0, 0);
        u->use.lut += 2 * L * LUT_COMPARE;
        add_buffer(b, u, arrays[i].d_in, 32 * L, 1);
        for (int k = 0; k < arrays[i].blocks; k++) {
            snprintf(name, sizeof name, "linear.%s%d", arrays[i].name, k);
            u = add_module(b, name);
            add_macs(b, u, L * arrays[i].lanes / arrays[i].blocks, int4, acc_bits);
            add_buffer(b, u, arrays[i].d_in, m->act_bits * L, 1);
        }
        snprintf(name, sizeof name, "dequant.%s", arrays[i].name);
        u = add_module(b, name);
        add_fp(b, u, 3 * L, L, 0, 0);
        u->use.lut += L * LUT_TO_FLOAT;
    }
    u = add_module(b, "rope");
    add_fp(b, u, 4 * L, 2 * L, 0, 0);
    add_buffer(b, u, (double)max_seq * (s->rope_dim / 2), 64, 1);
    if (m->r3) add_fwht_qk(b, m, L);
    u = add_module(b, "quant_static");
    add_fp(b, u, m->kv_dynamic ? 2 * L : 4 * L, 0, 0, 0);
    if (m->kv_dynamic) add_quant_kv(b, L);
    u = add_module(b, "kv_cache");
    add_buffer(b, u, (double)kv_dim, m->kv_bits * L, 2);
    u = add_module(b, "attn_qk");
    add_macs(b, u, L * p->kp, 0, 16 + ceil_log2(s->head_dim));
    add_buffer(b, u, s->head_dim, 8 * L, 1);
    add_fp(b, u, L, 0, 0, 0);
    u = add_module(b, "softmax");
    add_fp(b, u, L, 4 * L, L, 0);
    add_buffer(b, u, max_seq, 32 * L, 1);
    u = add_module(b, "attn_av");
    add_macs(b, u, L * p->vp, 0, 16 + ceil_log2(max_seq));
    add_buffer(b, u, max_seq, 8 * L, 1);
    add_fp(b, u, 2 * L, 0, 0, 0);
    u = add_module(b, "silu_gate");
    add_fp(b, u, 2 * L, L, L, L);
    if (m->online_hadamard) {
        u = add_module(b, "fwht");
        add_fp(b, u, L, 2 * L, 0, 0);
        add_buffer(b, u, 2.0 * s->ffn_dim, 32 * L, 2);
    }
    if (m->r4_dense) add_rotate_dense(b, s->ffn_dim, L);
    for (int i = 0; i < 2; i++) {
        u = add_module(b, i ? "residual.ffn" : "residual.attn");
        add_fp(b, u, 0, L, 0, 0);
    }

    /* Memory ports: activations, two norm tables, kq and vo weights and
     * scales, K and V caches, FFN blocks and their scales. */
    const char *fixed[] = {"port.io", "port.gamma0", "port.gamma1", "port.kq", "port.kq_scales", "port.vo",
                           "port.vo_scales", "port.k_cache", "port.v_cache", "port.ffn_scales0",
                           "port.ffn_scales1", "port.ffn_scales2"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) add_port(b, fixed[i]);
    for (int k = 0; k < 3 * p->ffn_blocks; k++) {
        snprintf(name, sizeof name, "port.ffn%d", k);
        add_port(b, name);
    }
    if (m->r4_dense) add_port(b, "port.r4");
}

static void build_decode(builder *b, const flx_accel_config *cfg, const flx_perf_model *m, int max_seq) {
    const flx_config *s = &m->shape;
    const flx_decode_config *d = &cfg->decode;
    double L = d->bp, H = d->hp;
    int q_dim = s->n_heads * s->head_dim;
    int max_in = max3(s->dim, q_dim, s->ffn_dim);
    int array_bits = flx_perf_stream_bits(m->weight_bits) > flx_perf_stream_bits(m->lm_head_bits)
                         ? flx_perf_stream_bits(m->weight_bits)
                         : flx_perf_stream_bits(m->lm_head_bits);
    int int4 = array_bits == 4 && m->act_bits == 4;
    int acc_bits = ceil_log2(max_in) + (int4 ? 8 : 16);
    char name[32];
    flx_module_use *u;

    u = add_module(b, "io");
    add_buffer(b, u, s->dim, 32, L);
    u = add_module(b, "rmsnorm");
    add_fp(b, u, 2 * L, L, 0, 0);
    add_buffer(b, u, s->dim, 32, L);
    u = add_module(b, "quant");
    add_fp(b, u, L, L, 0, 0);
    u->use.lut += 2 * L * LUT_COMPARE;
    add_buffer(b, u, max_in, 32, L);
    /* Each array reads the whole input vector, so each keeps its own copy. */
    for (int a = 0; a < d->bp; a++) {
        snprintf(name, sizeof name, "linear.a%d", a);
        u = add_module(b, name);
        add_macs(b, u, d->wp, int4, acc_bits);
        add_buffer(b, u, max_in, m->act_bits, 1);
    }
    u = add_module(b, "dequant");
    add_fp(b, u, 3 * L, L, 0, 0);
    u->use.lut += L * LUT_TO_FLOAT;
    u = add_module(b, "rope");
    add_fp(b, u, 4 * L, 2 * L, 0, 0);
    add_buffer(b, u, (double)max_seq * (s->rope_dim / 2), 64, 1);
    if (m->r3) add_fwht_qk(b, m, H);
    u = add_module(b, "quant_static");
    add_fp(b, u, m->kv_dynamic ? H : 3 * H, 0, 0, 0);
    if (m->kv_dynamic) add_quant_kv(b, H);
    u = add_module(b, "kv_cache");
    add_buffer(b, u, (double)d->kp * s->head_dim, m->kv_bits, H);
    u = add_module(b, "attn_qk");
    add_macs(b, u, H * d->kp, 0, 16 + ceil_log2(s->head_dim));
    add_buffer(b, u, s->head_dim, 8, H);
    add_fp(b, u, H, 0, 0, 0);
    u = add_module(b, "softmax");
    add_fp(b, u, H, 4 * H, H, 0);
    add_buffer(b, u, max_seq, 32, H);
    u = add_module(b, "attn_av");
    add_macs(b, u, H * d->vp, 0, 16 + ceil_log2(max_seq));
    add_buffer(b, u, max_seq, 8, H);
    add_fp(b, u, 2 * H, 0, 0, 0);
    u = add_module(b, "silu_gate");
    add_fp(b, u, 2 * L, L, L, L);
    if (m->online_hadamard) {
        u = add_module(b, "fwht");
        add_fp(b, u, L, 2 * L, 0, 0);
        add_buffer(b, u, 2.0 * s->ffn_dim, 32, L);
    }
    if (m->r4_dense) add_rotate_dense(b, s->ffn_dim, L);
    u = add_module(b, "residual");
    add_fp(b, u, 0, L, 0, 0);
    add_buffer(b, u, s->dim, 32, L);
    u = add_module(b, "sampler");
    u->use.lut += 5000;
    u->use.ff += 6000;

    /* Ports: one per array stream or weight channel, the caches (behind the weights when they
     * share channels), scales, activations and norm gains. */
    int weight_ports = flx_hbm_count(cfg->hbm.decode_weights);
    if (weight_ports < d->bp) weight_ports = d->bp;
    for (int a = 0; a < weight_ports; a++) {
        snprintf(name, sizeof name, "port.w%d", a);
        add_port(b, name);
    }
    if (cfg->hbm.decode_kv & ~cfg->hbm.decode_weights) {
        int n_kv = flx_hbm_count(cfg->hbm.decode_kv);
        for (int k = 0; k < n_kv; k++) {
            snprintf(name, sizeof name, "port.kv%d", k);
            add_port(b, name);
        }
    }
    add_port(b, "port.scales");
    add_port(b, "port.io");
    add_port(b, "port.gamma");
    add_port(b, "port.embeddings");
    if (m->r4_dense) add_port(b, "port.r4");
}

/* Largest used/capacity fraction of r if u were added to used. */
static double fill_after(const flx_resources *used, const flx_resources *u, const flx_resources *cap) {
    double worst = 0;
    for (int k = 0; k < FLX_RES_COUNT; k++) {
        double need = flx_resources_get(used, k) + flx_resources_get(u, k), have = flx_resources_get(cap, k);
        double f = 0;
        if (need > 0) f = have > 0 ? need / have : 1e9;
        if (f > worst) worst = f;
    }
    return worst;
}

static int compare_size(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    if (x < y) return 1;
    return x > y ? -1 : 0;
}

/* Places HBM ports in the HBM SLR, then the other modules, largest first,
 * each where the fullest resource stays lowest. */
static void place(const flx_device *dev, flx_design_resources *r) {
    flx_resources cap[FLX_MAX_SLRS];
    for (int s = 0; s < dev->n_slrs; s++) {
        memset(&cap[s], 0, sizeof cap[s]);
        flx_resources_add(&cap[s], &dev->slr[s], dev->max_utilization);
    }
    memset(r->slr_use, 0, sizeof r->slr_use);
    double order[FLX_MAX_MODULES][2];
    for (int i = 0; i < r->n_modules; i++) {
        flx_resources none = {0};
        order[i][0] = r->modules[i].hbm_port ? 1e12 : fill_after(&none, &r->modules[i].use, &dev->total);
        order[i][1] = i;
    }
    qsort(order, (size_t)r->n_modules, sizeof order[0], compare_size);
    r->placed = 1;
    for (int k = 0; k < r->n_modules; k++) {
        flx_module_use *m = &r->modules[(int)order[k][1]];
        int best = -1;
        double best_fill = 1.0;
        for (int s = 0; s < dev->n_slrs; s++) {
            if (m->hbm_port && s != dev->hbm_slr) continue;
            double f = fill_after(&r->slr_use[s], &m->use, &cap[s]);
            if (f <= best_fill) {
                best_fill = f;
                best = s;
            }
        }
        m->slr = best;
        if (best < 0) {
            r->placed = 0;
            continue;
        }
        flx_resources_add(&r->slr_use[best], &m->use, 1.0);
    }
}

void flx_perf_resources(const flx_device *dev, const flx_accel_config *cfg, const flx_perf_model *m,
                        flx_engine_kind engine, int max_seq, flx_design_resources *out) {
    memset(out, 0, sizeof *out);
    out->engine = engine;
    builder b = {dev, out};
    if (engine == FLX_ENGINE_PREFILL)
        build_prefill(&b, cfg, m, max_seq);
    else
        build_decode(&b, cfg, m, max_seq);
    for (int i = 0; i < out->n_modules; i++) flx_resources_add(&out->total, &out->modules[i].use, 1.0);
    place(dev, out);
}

static const char *engine_name(flx_engine_kind e) { return e == FLX_ENGINE_PREFILL ? "prefill" : "decode"; }

int flx_perf_check_fit(const flx_device *dev, const flx_design_resources *r, flx_error *err) {
    char over[768] = "";
    size_t used = 0;
    for (int k = 0; k < FLX_RES_COUNT; k++) {
        double need = flx_resources_get(&r->total, k), have = flx_resources_get(&dev->total, k);
        double allowed = floor(have * dev->max_utilization);
        if (need <= allowed) continue;
        int n = snprintf(over + used, sizeof over - used, "%s%s needs %.0f but %.0f are usable (%.0f%% of %.0f), over by %.0f",
                         used ? "; " : "", flx_resource_name(k), need, allowed, 100 * dev->max_utilization, have,
                         need - allowed);
        if (n > 0 && (size_t)n < sizeof over - used) used += (size_t)n;
    }
    if (used)
        return flx_fail(err, "%s bitstream does not fit %s: %s; reduce the parallelism", engine_name(r->engine),
                        dev->name, over);
    for (int i = 0; i < r->n_modules; i++) {
        const flx_module_use *m = &r->modules[i];
        if (m->slr >= 0) continue;
        int worst = 0;
        for (int k = 1; k < FLX_RES_COUNT; k++)
            if (flx_resources_get(&m->use, k) / (flx_resources_get(&dev->total, k) + 1e-9) >
                flx_resources_get(&m->use, worst) / (flx_resources_get(&dev->total, worst) + 1e-9))
                worst = k;
        return flx_fail(err,
                        "%s bitstream does not fit %s: module %s (%.0f %s) fits in no SLR%s once the larger "
                        "modules are placed; reduce the parallelism",
                        engine_name(r->engine), dev->name, m->name, flx_resources_get(&m->use, worst),
                        flx_resource_name(worst), m->hbm_port ? " next to the HBM" : "");
    }
    return 0;
}

double flx_perf_peak_utilization(const flx_device *dev, const flx_design_resources *r, int *which) {
    double worst = 0;
    int at = 0;
    for (int k = 0; k < FLX_RES_COUNT; k++) {
        double have = flx_resources_get(&dev->total, k);
        double f = have > 0 ? flx_resources_get(&r->total, k) / have : 0;
        if (f > worst) {
            worst = f;
            at = k;
        }
    }
    if (which) *which = at;
    return worst;
}

int flx_perf_resources_by_kernel(const flx_design_resources *r, flx_module_use *out, int max) {
    int n = 0;
    for (int i = 0; i < r->n_modules; i++) {
        char kind[32];
        snprintf(kind, sizeof kind, "%s", r->modules[i].name);
        char *dot = strchr(kind, '.');
        if (dot) *dot = '\0';
        int at = 0;
        while (at < n && strcmp(out[at].name, kind) != 0) at++;
        if (at == n) {
            if (n == max) continue;
            memset(&out[n], 0, sizeof out[n]);
            snprintf(out[n].name, sizeof out[n].name, "%s", kind);
            out[n].slr = -1;
            n++;
        }
        flx_resources_add(&out[at].use, &r->modules[i].use, 1.0);
    }
    return n;
}
