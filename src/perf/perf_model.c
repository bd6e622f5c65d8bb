#include "perf/perf_model.h"

#include <stdio.h>
#include <string.h>

#include "kernels/limits.h"
#include "kernels/linear.h"
#include "kernels/stream.h"
#include "modelio/hf_config.h"
#include "modelio/synth.h"
#include "perf/kernel_cost.h"

static uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

int flx_perf_stream_bits(int bits) { return bits == 4 ? 4 : 8; }
int flx_perf_passes(int bits) { return bits == 16 ? 2 : 1; }

static int is_power_of_two(int n) { return n > 0 && (n & (n - 1)) == 0; }

int flx_perf_model_get(const char *name_or_path, flx_perf_model *m, flx_error *err) {
    memset(m, 0, sizeof *m);
    if (flx_synth_preset(name_or_path, &m->shape) != 0) {
        size_t n = strlen(name_or_path);
        if (n < 5 || strcmp(name_or_path + n - 5, ".json") != 0)
            return flx_fail(err, "unknown model shape '%s': expected one of %s, or a config.json path", name_or_path,
                            flx_synth_preset_names());
        if (flx_hf_config_load(&m->shape, name_or_path, err) != 0) return -1;
    }
    snprintf(m->name, sizeof m->name, "%s", name_or_path);
    m->weight_bits = 4;
    m->lm_head_bits = 4;
    m->act_bits = 4;
    m->online_hadamard = is_power_of_two(m->shape.ffn_dim);
    m->kv_bits = 8;
    return flx_perf_model_validate(m, err);
}

int flx_perf_model_validate(const flx_perf_model *m, flx_error *err) {
    const flx_config *c = &m->shape;
    struct {
        const char *what;
        int value, max;
    } limits[] = {
        {"dim", c->dim, FLX_MAX_DIM},          {"ffn_dim", c->ffn_dim, FLX_MAX_FFN},
        {"head_dim", c->head_dim, FLX_MAX_HEAD_DIM}, {"n_heads", c->n_heads, FLX_MAX_HEADS},
        {"n_kv_heads", c->n_kv_heads, FLX_MAX_KV_HEADS}, {"vocab_size", c->vocab_size, FLX_MAX_VOCAB},
        {"n_layers", c->n_layers, 4096},
    };
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++)
        if (limits[i].value < 1 || limits[i].value > limits[i].max)
            return flx_fail(err, "model %s: %s = %d is outside the kernel limits 1..%d", m->name, limits[i].what,
                            limits[i].value, limits[i].max);
    if (c->n_heads % c->n_kv_heads)
        return flx_fail(err, "model %s: n_heads = %d is not a multiple of n_kv_heads = %d", m->name, c->n_heads,
                        c->n_kv_heads);
    if ((m->weight_bits != 4 && m->weight_bits != 8 && m->weight_bits != 16) ||
        (m->lm_head_bits != 4 && m->lm_head_bits != 8 && m->lm_head_bits != 16) ||
        (m->act_bits != 4 && m->act_bits != 8))
        return flx_fail(err, "model %s: weight bits %d / LM head bits %d / activation bits %d: expected 4, 8 or 16 "
                             "for weights and 4 or 8 for activations",
                        m->name, m->weight_bits, m->lm_head_bits, m->act_bits);
    if (m->online_hadamard && !is_power_of_two(c->ffn_dim))
        return flx_fail(err, "model %s: the online Hadamard transform needs a power-of-two ffn_dim, not %d", m->name,
                        c->ffn_dim);
    if (m->online_hadamard && m->r4_dense)
        return flx_fail(err, "model %s: R4 is either the Walsh-Hadamard transform or a dense rotation, not both",
                        m->name);
    if (m->r4_dense && c->ffn_dim > FLX_MAX_DENSE_ROTATION)
        return flx_fail(err, "model %s: a dense R4 rotation of ffn_dim %d exceeds the kernel limit %d", m->name,
                        c->ffn_dim, FLX_MAX_DENSE_ROTATION);
    if (m->r3 && !is_power_of_two(c->head_dim))
        return flx_fail(err, "model %s: R3 needs a power-of-two head_dim, not %d", m->name, c->head_dim);
    if (!m->kv_dynamic && m->kv_bits != 8)
        return flx_fail(err, "model %s: the static KV cache is INT8, not %d bits", m->name, m->kv_bits);
    if (m->kv_dynamic && ((m->kv_bits != 4 && m->kv_bits != 8) || m->kv_group_size < 1 ||
                          m->kv_group_size > c->head_dim || c->head_dim % m->kv_group_size != 0))
        return flx_fail(err,
                        "model %s: dynamic KV cache of %d bits in groups of %d: expected 4 or 8 bits and a group "
                        "size dividing head_dim %d",
                        m->name, m->kv_bits, m->kv_group_size, c->head_dim);
    return 0;
}

uint64_t flx_perf_kv_row_bytes(const flx_perf_model *m) {
    uint64_t head_dim = (uint64_t)m->shape.head_dim;
    if (!m->kv_dynamic) return head_dim;
    uint64_t groups = head_dim / (uint64_t)m->kv_group_size;
    uint64_t per_group = m->kv_asymmetric ? 2 * sizeof(float) : sizeof(float);
    return ceil_div(head_dim * (uint64_t)m->kv_bits, 8) + groups * per_group;
}

uint64_t flx_perf_decode_stream_bytes(int d_in, int n_rows, int wp, int bits) {
    return ceil_div((uint64_t)n_rows, (uint64_t)wp) * (uint64_t)d_in *
           (uint64_t)flx_weight_word_bytes(wp, flx_perf_stream_bits(bits));
}

uint64_t flx_perf_prefill_stream_bytes(int d_in, int d_out, int wp, int n_blocks, int bits) {
    return ceil_div((uint64_t)d_out, (uint64_t)wp) * (uint64_t)d_in *
           (uint64_t)flx_weight_word_bytes(wp / n_blocks, flx_perf_stream_bits(bits));
}

/* One matrix through the shared decode linear engine. */
static void count_decode_linear(const flx_decode_config *d, int d_in, int d_out, int bits, flx_counters *c) {
    uint64_t passes = (uint64_t)flx_perf_passes(bits);
    uint64_t bytes = 0;
    int first_rows = 0;
    for (int b = 0; b < d->bp; b++) {
        int begin, rows;
        flx_block_slice(d_out, d->bp, b, &begin, &rows);
        if (b == 0) first_rows = rows;
        bytes += flx_perf_decode_stream_bytes(d_in, rows, d->wp, bits);
    }
    /* Array 0 has the most rows, so it is the slowest. */
    uint64_t slowest = flx_cost_linear_decode(d_in, first_rows, d->wp);
    flx_counters_add_kernel(c, FLX_KERNEL_QUANT, 1, flx_cost_quant_dynamic(d_in, d->bp));
    flx_counters_add_kernel(c, FLX_KERNEL_LINEAR, passes, passes * slowest);
    flx_counters_add_bytes(c, FLX_PORT_WEIGHTS, passes * bytes, 0);
    flx_counters_add_kernel(c, FLX_KERNEL_DEQUANT, 1, flx_cost_elementwise(d_out, d->bp));
    flx_counters_add_bytes(c, FLX_PORT_SCALES, (uint64_t)d_out * 2 * sizeof(float), 0);
}

static void count_decode_rmsnorm(const flx_config *s, int bp, flx_counters *c) {
    flx_counters_add_kernel(c, FLX_KERNEL_RMSNORM, 1, flx_cost_rmsnorm(s->dim, bp));
    flx_counters_add_bytes(c, FLX_PORT_PARAMS, (uint64_t)s->dim * sizeof(float), 0);
}

void flx_perf_count_decode_token(const flx_perf_model *m, const flx_accel_config *cfg, int pos, flx_counters *c) {
    const flx_config *s = &m->shape;
    const flx_decode_config *d = &cfg->decode;
    uint64_t before = 0, after = 0;
    for (int k = 0; k < FLX_KERNEL_COUNT; k++) before += c->cycles[k];
    int dim = s->dim, q_dim = s->n_heads * s->head_dim, kv_dim = s->n_kv_heads * s->head_dim;
    int half = s->rope_dim / 2, n_keys = pos + 1, wb = m->weight_bits;
    uint64_t rounds = ceil_div((uint64_t)s->n_heads, (uint64_t)d->hp);
    uint64_t row = flx_perf_kv_row_bytes(m), qk_heads = (uint64_t)(s->n_heads + s->n_kv_heads);
    flx_kernel_id kv_quant = m->kv_dynamic ? FLX_KERNEL_KV_QUANT : FLX_KERNEL_STATIC_QUANT;

    flx_counters_add_kernel(c, FLX_KERNEL_EMBEDDING, 1, flx_cost_elementwise(dim, d->bp));
    flx_counters_add_bytes(c, FLX_PORT_EMBEDDINGS, (uint64_t)dim * sizeof(float), 0);
    for (int l = 0; l < s->n_layers; l++) {
        count_decode_rmsnorm(s, d->bp, c);
        count_decode_linear(d, dim, kv_dim, wb, c);
        count_decode_linear(d, dim, kv_dim, wb, c);
        count_decode_linear(d, dim, q_dim, wb, c);
        flx_counters_add_kernel(c, FLX_KERNEL_ROPE, 2, flx_cost_elementwise((s->n_heads + s->n_kv_heads) * half, d->bp));
        /* R3: the HP head lanes take the Q and K heads in turn. */
        if (m->r3)
            flx_counters_add_kernel(c, FLX_KERNEL_FWHT, qk_heads,
                                    ((qk_heads + (uint64_t)d->hp - 1) / (uint64_t)d->hp) * flx_cost_fwht(s->head_dim, 1));

        /* K and V rows into the cache. */
        flx_counters_add_kernel(c, kv_quant, 2, 2 * flx_cost_elementwise(kv_dim, d->hp));
        flx_counters_add_kernel(c, FLX_KERNEL_KV_WRITE, 2, 2 * flx_cost_elementwise(kv_dim, d->hp));
        flx_counters_add_bytes(c, FLX_PORT_KV_CACHE, 0, 2 * (uint64_t)s->n_kv_heads * row);

        /* Attention: HP lanes take the heads in rounds. */
        uint64_t heads = (uint64_t)s->n_heads;
        flx_counters_add_kernel(c, FLX_KERNEL_STATIC_QUANT, heads, rounds * flx_cost_elementwise(s->head_dim, 1));
        flx_counters_add_kernel(c, FLX_KERNEL_QK, heads, rounds * flx_cost_qk(n_keys, s->head_dim, d->kp));
        flx_counters_add_kernel(c, FLX_KERNEL_SOFTMAX, heads, rounds * flx_cost_softmax(n_keys));
        flx_counters_add_kernel(c, FLX_KERNEL_PROB_QUANT, heads, rounds * flx_cost_elementwise(n_keys, 1));
        flx_counters_add_kernel(c, FLX_KERNEL_AV, heads, rounds * flx_cost_av(n_keys, s->head_dim, d->vp));
        flx_counters_add_bytes(c, FLX_PORT_KV_CACHE, 2 * heads * (uint64_t)n_keys * row, 0);

        count_decode_linear(d, q_dim, dim, wb, c);
        flx_counters_add_kernel(c, FLX_KERNEL_RESIDUAL, 1, flx_cost_elementwise(dim, d->bp));
        count_decode_rmsnorm(s, d->bp, c);
        count_decode_linear(d, dim, s->ffn_dim, wb, c);
        count_decode_linear(d, dim, s->ffn_dim, wb, c);
        flx_counters_add_kernel(c, FLX_KERNEL_SILU_GATE, 1, flx_cost_elementwise(s->ffn_dim, d->bp));
        if (m->r4_dense) {
            flx_counters_add_kernel(c, FLX_KERNEL_ROTATE_DENSE, 1, flx_cost_rotate_dense(s->ffn_dim, d->bp));
            flx_counters_add_bytes(c, FLX_PORT_PARAMS, (uint64_t)s->ffn_dim * s->ffn_dim * sizeof(float), 0);
        } else if (m->online_hadamard) {
            flx_counters_add_kernel(c, FLX_KERNEL_FWHT, 1, flx_cost_fwht(s->ffn_dim, d->bp));
        }
        count_decode_linear(d, s->ffn_dim, dim, wb, c);
        flx_counters_add_kernel(c, FLX_KERNEL_RESIDUAL, 1, flx_cost_elementwise(dim, d->bp));
    }
    count_decode_rmsnorm(s, d->bp, c);
    count_decode_linear(d, dim, s->vocab_size, m->lm_head_bits, c);

    for (int k = 0; k < FLX_KERNEL_COUNT; k++) after += c->cycles[k];
    c->engine_cycles += after - before;
    c->tokens++;
    c->runs++;
}

static const char *const prefill_module_names[FLX_PM_COUNT] = {
    "rmsnorm_attn", "linear_kq", "linear_vo", "rope",      "kv_write",  "fwht_qk",      "attn_qk",
    "softmax",      "attn_av",   "residual_attn", "rmsnorm_ffn", "linear_gate", "linear_up", "silu_gate",
    "fwht",         "rotate_dense", "linear_down", "residual_ffn",
};

const char *flx_prefill_module_name(int module) { return prefill_module_names[module]; }

/* Attention modules over every token block: one QK and one AV array take
 * each (block, head) pair in turn. */
static void prefill_attention(const flx_config *s, const flx_prefill_config *p, int n, int pos0, uint64_t *qk,
                              uint64_t *av, uint64_t *softmax, uint64_t *keys) {
    int n_blocks = (n + p->tp - 1) / p->tp;
    *qk = *av = *softmax = *keys = 0;
    for (int blk = 0; blk < n_blocks; blk++) {
        int t0 = blk * p->tp, nt = n - t0 < p->tp ? n - t0 : p->tp;
        int n_keys = pos0 + t0 + nt;
        *qk += (uint64_t)s->n_heads * flx_cost_qk(n_keys, s->head_dim, p->kp);
        *av += (uint64_t)s->n_heads * flx_cost_av(n_keys, s->head_dim, p->vp);
        *softmax += (uint64_t)s->n_heads * nt * flx_cost_softmax(n_keys) / (uint64_t)p->tp;
        *keys += (uint64_t)s->n_heads * n_keys;
    }
}

void flx_perf_prefill_layer(const flx_perf_model *m, const flx_accel_config *cfg, int n, int pos0,
                            flx_prefill_layer *out) {
    const flx_config *s = &m->shape;
    const flx_prefill_config *p = &cfg->prefill;
    memset(out, 0, sizeof *out);
    int dim = s->dim, q_dim = s->n_heads * s->head_dim, kv_dim = s->n_kv_heads * s->head_dim;
    uint64_t nb = ceil_div((uint64_t)n, (uint64_t)p->tp);
    uint64_t passes = (uint64_t)flx_perf_passes(m->weight_bits);
    uint64_t *mod = out->module;
    out->n_blocks = (int)nb;

    mod[FLX_PM_NORM_ATTN] = nb * flx_cost_rmsnorm(dim, 1);
    mod[FLX_PM_KQ] = passes * nb *
                     (flx_cost_linear_prefill(dim, kv_dim, p->wp_qkvo) + flx_cost_linear_prefill(dim, q_dim, p->wp_qkvo));
    mod[FLX_PM_VO] = passes * nb *
                     (flx_cost_linear_prefill(dim, kv_dim, p->wp_qkvo) + flx_cost_linear_prefill(q_dim, dim, p->wp_qkvo));
    mod[FLX_PM_ROPE] = nb * flx_cost_elementwise((s->n_heads + s->n_kv_heads) * (s->rope_dim / 2), 1);
    mod[FLX_PM_KV] = nb * flx_cost_elementwise(kv_dim, 1);
    mod[FLX_PM_R3] = m->r3 ? nb * (uint64_t)(s->n_heads + s->n_kv_heads) * flx_cost_fwht(s->head_dim, 1) : 0;
    uint64_t keys;
    prefill_attention(s, p, n, pos0, &mod[FLX_PM_QK], &mod[FLX_PM_AV], &mod[FLX_PM_SOFTMAX], &keys);
    mod[FLX_PM_RESIDUAL_ATTN] = nb * flx_cost_elementwise(dim, 1);
    mod[FLX_PM_NORM_FFN] = mod[FLX_PM_NORM_ATTN];
    mod[FLX_PM_GATE] = passes * nb * flx_cost_linear_prefill(dim, s->ffn_dim, p->wp_ffn);
    mod[FLX_PM_UP] = mod[FLX_PM_GATE];
    mod[FLX_PM_SILU] = nb * flx_cost_elementwise(s->ffn_dim, 1);
    mod[FLX_PM_FWHT] = m->online_hadamard && !m->r4_dense ? nb * flx_cost_fwht(s->ffn_dim, 1) : 0;
    mod[FLX_PM_ROTATE_DENSE] = m->r4_dense ? nb * flx_cost_rotate_dense(s->ffn_dim, 1) : 0;
    mod[FLX_PM_DOWN] = passes * nb * flx_cost_linear_prefill(s->ffn_dim, dim, p->wp_ffn);
    mod[FLX_PM_RESIDUAL_FFN] = mod[FLX_PM_RESIDUAL_ATTN];

    /* The dataflow runs at its slowest module; the first token block still
     * has to pass every other module once (pipeline fill). */
    for (int i = 1; i < FLX_PM_COUNT; i++)
        if (mod[i] > mod[out->slowest]) out->slowest = i;
    uint64_t fill = 0;
    for (int i = 0; i < FLX_PM_COUNT; i++)
        if (i != out->slowest) fill += mod[i] / nb;
    out->cycles = mod[out->slowest] + fill;
}

/* One matrix through a prefill array: the simulation's counters. */
static void count_prefill_linear(int n_blocks, int n, int d_in, int d_out, int bits, int wp, int n_streams,
                                 flx_counters *c) {
    uint64_t passes = (uint64_t)flx_perf_passes(bits), nb = (uint64_t)n_blocks;
    uint64_t bytes = passes * n_streams * flx_perf_prefill_stream_bytes(d_in, d_out, wp, n_streams, bits);
    flx_counters_add_kernel(c, FLX_KERNEL_QUANT, (uint64_t)n, nb * flx_cost_quant_dynamic(d_in, 1));
    flx_counters_add_kernel(c, FLX_KERNEL_LINEAR, passes * nb, passes * nb * flx_cost_linear_prefill(d_in, d_out, wp));
    flx_counters_add_kernel(c, FLX_KERNEL_DEQUANT, (uint64_t)n, nb * flx_cost_elementwise(d_out, 1));
    flx_counters_add_bytes(c, FLX_PORT_WEIGHTS, nb * bytes, 0);
    flx_counters_add_bytes(c, FLX_PORT_SCALES, nb * d_out * 2 * sizeof(float), 0);
}

void flx_perf_count_prefill(const flx_perf_model *m, const flx_accel_config *cfg, int n, int pos0, bool logits,
                            flx_counters *c) {
    const flx_config *s = &m->shape;
    const flx_prefill_config *p = &cfg->prefill;
    int dim = s->dim, q_dim = s->n_heads * s->head_dim, kv_dim = s->n_kv_heads * s->head_dim;
    int nb = (n + p->tp - 1) / p->tp, wb = m->weight_bits;
    uint64_t un = (uint64_t)n, unb = (uint64_t)nb;
    uint64_t row = flx_perf_kv_row_bytes(m), qk_heads = (uint64_t)(s->n_heads + s->n_kv_heads);
    flx_prefill_layer layer;
    flx_perf_prefill_layer(m, cfg, n, pos0, &layer);

    flx_counters_add_kernel(c, FLX_KERNEL_EMBEDDING, un, un * flx_cost_elementwise(dim, 1));
    flx_counters_add_bytes(c, FLX_PORT_EMBEDDINGS, un * dim * sizeof(float), 0);
    uint64_t qk, av, softmax, keys;
    prefill_attention(s, p, n, pos0, &qk, &av, &softmax, &keys);
    for (int l = 0; l < s->n_layers; l++) {
        flx_counters_add_kernel(c, FLX_KERNEL_RMSNORM, un, unb * flx_cost_rmsnorm(dim, 1));
        count_prefill_linear(nb, n, dim, kv_dim, wb, p->wp_qkvo, 1, c);
        count_prefill_linear(nb, n, dim, kv_dim, wb, p->wp_qkvo, 1, c);
        count_prefill_linear(nb, n, dim, q_dim, wb, p->wp_qkvo, 1, c);

        uint64_t kv = unb * flx_cost_elementwise(kv_dim, 1);
        flx_counters_add_kernel(c, FLX_KERNEL_ROPE, un, layer.module[FLX_PM_ROPE]);
        flx_counters_add_kernel(c, m->kv_dynamic ? FLX_KERNEL_KV_QUANT : FLX_KERNEL_STATIC_QUANT, 2 * un, 2 * kv);
        flx_counters_add_kernel(c, FLX_KERNEL_KV_WRITE, 2 * unb, 2 * kv);
        flx_counters_add_bytes(c, FLX_PORT_KV_CACHE, 0, 2 * un * s->n_kv_heads * row);
        if (m->r3) flx_counters_add_kernel(c, FLX_KERNEL_FWHT, un * qk_heads, layer.module[FLX_PM_R3]);

        uint64_t jobs = unb * s->n_heads;
        flx_counters_add_kernel(c, FLX_KERNEL_QK, jobs, qk);
        flx_counters_add_kernel(c, FLX_KERNEL_SOFTMAX, jobs, softmax);
        flx_counters_add_kernel(c, FLX_KERNEL_PROB_QUANT, jobs, softmax / 3);
        flx_counters_add_kernel(c, FLX_KERNEL_AV, jobs, av);
        flx_counters_add_bytes(c, FLX_PORT_KV_CACHE, 2 * keys * row, 0);

        count_prefill_linear(nb, n, q_dim, dim, wb, p->wp_qkvo, 1, c);
        flx_counters_add_kernel(c, FLX_KERNEL_RESIDUAL, un, layer.module[FLX_PM_RESIDUAL_ATTN]);
        flx_counters_add_kernel(c, FLX_KERNEL_RMSNORM, un, unb * flx_cost_rmsnorm(dim, 1));
        count_prefill_linear(nb, n, dim, s->ffn_dim, wb, p->wp_ffn, p->ffn_blocks, c);
        count_prefill_linear(nb, n, dim, s->ffn_dim, wb, p->wp_ffn, p->ffn_blocks, c);
        flx_counters_add_kernel(c, FLX_KERNEL_SILU_GATE, un, layer.module[FLX_PM_SILU]);
        if (m->r4_dense) {
            flx_counters_add_kernel(c, FLX_KERNEL_ROTATE_DENSE, un, layer.module[FLX_PM_ROTATE_DENSE]);
            /* The matrix streams once per token block. */
            flx_counters_add_bytes(c, FLX_PORT_PARAMS, unb * (uint64_t)s->ffn_dim * s->ffn_dim * sizeof(float), 0);
        } else if (m->online_hadamard) {
            flx_counters_add_kernel(c, FLX_KERNEL_FWHT, un, layer.module[FLX_PM_FWHT]);
        }
        count_prefill_linear(nb, n, s->ffn_dim, dim, wb, p->wp_ffn, p->ffn_blocks, c);
        flx_counters_add_kernel(c, FLX_KERNEL_RESIDUAL, un, layer.module[FLX_PM_RESIDUAL_FFN]);
        flx_counters_add_bytes(c, FLX_PORT_IO, un * dim * sizeof(float), un * dim * sizeof(float));
    }
    uint64_t engine = (uint64_t)s->n_layers * layer.cycles;
    if (logits) {
        uint64_t norm = unb * flx_cost_rmsnorm(dim, 1);
        uint64_t head = (uint64_t)flx_perf_passes(m->lm_head_bits) * unb *
                        flx_cost_linear_prefill(dim, s->vocab_size, p->wp_ffn);
        flx_counters_add_kernel(c, FLX_KERNEL_RMSNORM, un, norm);
        count_prefill_linear(nb, n, dim, s->vocab_size, m->lm_head_bits, p->wp_ffn, p->ffn_blocks, c);
        engine += (head > norm ? head + norm / unb : norm + head / unb);
    }
    c->engine_cycles += engine;
    c->tokens += un;
    c->runs++;
}
