/* The spatial prefill engine: one module per operator, tokens flowing in
 * blocks of TP. Each linear layer has its own TP x WP systolic array (the
 * FFN ones split over several weight streams). Every module processes the
 * whole prompt for layer l before layer l+1 starts, as the hardware's layer
 * loop does. The simulation runs independent token blocks on separate
 * threads; the arithmetic per token is the decode engine's. */
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "engines/accel.h"
#include "kernels/elementwise.h"
#include "kernels/kv_cache.h"
#include "kernels/linear.h"
#include "kernels/quantize.h"
#include "perf/kernel_cost.h"

/* Per-layer module cycle totals: the layer takes as long as its slowest
 * module, since all modules of the dataflow run concurrently. */
typedef struct layer_timing {
    uint64_t module[32];
    int n;
} layer_timing;

static void add_module(layer_timing *t, uint64_t cycles) {
    if (t->n < 32) t->module[t->n++] = cycles;
}

static uint64_t slowest_module(const layer_timing *t) {
    uint64_t m = 0;
    for (int i = 0; i < t->n; i++)
        if (t->module[i] > m) m = t->module[i];
    return m;
}

typedef struct prefill_buffers {
    int n;
    float *x;        /* [n][dim] residual stream */
    float *xn;       /* [n][dim] */
    float *q;        /* [n][q_dim] */
    float *k, *v;    /* [n][kv_dim] */
    float *att;      /* [n][q_dim] */
    float *proj;     /* [n][dim] */
    float *gate, *up;/* [n][ffn] */
    int16_t *xq;     /* [n][max(dim, q_dim, ffn)] */
    flx_qparams *xp; /* [n] */
} prefill_buffers;

static void free_buffers(prefill_buffers *b) {
    void *all[] = {b->x, b->xn, b->q, b->k, b->v, b->att, b->proj, b->gate, b->up, b->xq, b->xp};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
    memset(b, 0, sizeof *b);
}

static int alloc_buffers(prefill_buffers *b, const flx_config *c, int n, flx_error *err) {
    memset(b, 0, sizeof *b);
    b->n = n;
    size_t N = (size_t)n, dim = (size_t)c->dim, q_dim = (size_t)c->n_heads * c->head_dim,
           kv_dim = (size_t)c->n_kv_heads * c->head_dim, ffn = (size_t)c->ffn_dim;
    size_t widest = ffn > q_dim ? ffn : q_dim;
    if (dim > widest) widest = dim;
    b->x = flx_calloc(N * dim, sizeof(float), err);
    b->xn = flx_calloc(N * dim, sizeof(float), err);
    b->q = flx_calloc(N * q_dim, sizeof(float), err);
    b->k = flx_calloc(N * kv_dim, sizeof(float), err);
    b->v = flx_calloc(N * kv_dim, sizeof(float), err);
    b->att = flx_calloc(N * q_dim, sizeof(float), err);
    b->proj = flx_calloc(N * dim, sizeof(float), err);
    b->gate = flx_calloc(N * ffn, sizeof(float), err);
    b->up = flx_calloc(N * ffn, sizeof(float), err);
    b->xq = flx_calloc(N * widest, sizeof(int16_t), err);
    b->xp = flx_calloc(N, sizeof(flx_qparams), err);
    if (!b->x || !b->xn || !b->q || !b->k || !b->v || !b->att || !b->proj || !b->gate || !b->up || !b->xq ||
        !b->xp) {
        free_buffers(b);
        return -1;
    }
    return 0;
}

/* Per-token quantization, the linear arrays over every token block (twice
 * for 16-bit weights: high bytes, then low bytes), and per-token
 * dequantization: y [n][d_out] from x [n][d_in]. Returns the array's
 * cycles, which the caller charges to the module that owns the array. */
static uint64_t prefill_linear(flx_accel *a, prefill_buffers *b, const flx_weight_streams *s, int wp,
                               const flx_act_quant *act, const float *x, float *y) {
    const flx_qlinear *w = s->matrix;
    int n = b->n, tp = a->cfg.prefill.tp;
    int n_blocks = (n + tp - 1) / tp;
    flx_counters *cnt = &a->prefill_counters;
    long macs = (long)n * w->d_in * w->d_out;

#pragma omp parallel for schedule(dynamic, 1) if (macs >= FLX_SIM_PARALLEL_MIN_WORK)
    for (int blk = 0; blk < n_blocks; blk++) {
        int thread = 0;
#ifdef _OPENMP
        thread = omp_get_thread_num();
#endif
        int t0 = blk * tp, nt = n - t0 < tp ? n - t0 : tp;
        int16_t *xq = b->xq + (long)t0 * w->d_in;
        for (int t = 0; t < nt; t++)
            b->xp[t0 + t] = flx_quant_dynamic(x + (long)(t0 + t) * w->d_in, w->d_in, act->bits, act->asymmetric,
                                              act->clip, xq + (long)t * w->d_in);
        int32_t *acc = a->acc[thread];
        for (int k = 0; k < s->n_streams; k++)
            flx_linear_prefill(xq, nt, w->d_in, w->d_out, s->data[k], s->bits, wp, k, s->n_streams, acc);
        if (s->n_passes == 2) {
            int32_t *acc_lo = a->acc_lo[thread];
            for (int k = 0; k < s->n_streams; k++)
                flx_linear_prefill(xq, nt, w->d_in, w->d_out, s->data_lo[k], s->bits, wp, k, s->n_streams, acc_lo);
            for (int t = 0; t < nt; t++)
                flx_dequant_linear_split(acc + (long)t * w->d_out, acc_lo + (long)t * w->d_out, w->d_out,
                                         b->xp[t0 + t], act->asymmetric, w->scale, w->rowsum,
                                         y + (long)(t0 + t) * w->d_out);
            continue;
        }
        for (int t = 0; t < nt; t++)
            flx_dequant_linear(acc + (long)t * w->d_out, w->d_out, b->xp[t0 + t], act->asymmetric, w->scale,
                               w->rowsum, y + (long)(t0 + t) * w->d_out);
    }

    /* Each token block re-streams the whole matrix, once per pass; the
     * blocks of a blocked engine run side by side. */
    uint64_t passes = (uint64_t)s->n_passes;
    uint64_t linear = passes * n_blocks * flx_cost_linear_prefill(w->d_in, w->d_out, wp);
    uint64_t bytes = 0;
    for (int k = 0; k < s->n_streams; k++) bytes += passes * (uint64_t)s->bytes[k];
    flx_counters_add_kernel(cnt, FLX_KERNEL_QUANT, (uint64_t)n, (uint64_t)n_blocks * flx_cost_quant_dynamic(w->d_in, 1));
    flx_counters_add_kernel(cnt, FLX_KERNEL_LINEAR, passes * n_blocks, linear);
    flx_counters_add_kernel(cnt, FLX_KERNEL_DEQUANT, (uint64_t)n, (uint64_t)n_blocks * flx_cost_elementwise(w->d_out, 1));
    flx_counters_add_bytes(cnt, FLX_PORT_WEIGHTS, (uint64_t)n_blocks * bytes, 0);
    flx_counters_add_bytes(cnt, FLX_PORT_SCALES, (uint64_t)n_blocks * w->d_out * 2 * sizeof(float), 0);
    return linear;
}

static void prefill_rmsnorm(flx_accel *a, prefill_buffers *b, const float *gain, layer_timing *timing) {
    const flx_config *c = &a->qm->config;
    for (int t = 0; t < b->n; t++)
        flx_rmsnorm_kernel(b->x + (long)t * c->dim, c->dim, gain, c->norm_eps, b->xn + (long)t * c->dim);
    int n_blocks = (b->n + a->cfg.prefill.tp - 1) / a->cfg.prefill.tp;
    uint64_t cycles = (uint64_t)n_blocks * flx_cost_rmsnorm(c->dim, 1);
    flx_counters_add_kernel(&a->prefill_counters, FLX_KERNEL_RMSNORM, (uint64_t)b->n, cycles);
    add_module(timing, cycles);
}

/* RoPE, R3 when enabled, K/V quantization and the bulk KV-cache write. */
static void rope_and_cache(flx_accel *a, prefill_buffers *b, int layer, int pos0, layer_timing *timing) {
    const flx_config *c = &a->qm->config;
    int q_dim = c->n_heads * c->head_dim, kv_dim = c->n_kv_heads * c->head_dim, half = c->rope_dim / 2;
    for (int t = 0; t < b->n; t++) {
        const float *cos_row = a->rope_cos + (long)(pos0 + t) * half, *sin_row = a->rope_sin + (long)(pos0 + t) * half;
        flx_rope_kernel(b->k + (long)t * kv_dim, c->n_kv_heads, c->head_dim, c->rope_dim, cos_row, sin_row);
        flx_rope_kernel(b->q + (long)t * q_dim, c->n_heads, c->head_dim, c->rope_dim, cos_row, sin_row);
    }
    if (a->qm->online_hadamard_qk)
        for (int t = 0; t < b->n; t++) {
            flx_accel_hadamard_heads(a, b->k + (long)t * kv_dim, c->n_kv_heads);
            flx_accel_hadamard_heads(a, b->q + (long)t * q_dim, c->n_heads);
        }
    int tp = a->cfg.prefill.tp;
    for (int t0 = 0; t0 < b->n; t0 += tp) {
        int nt = b->n - t0 < tp ? b->n - t0 : tp;
        flx_accel_store_kv(a, &a->attn[0], layer, pos0 + t0, nt, b->k + (long)t0 * kv_dim, b->v + (long)t0 * kv_dim);
    }
    int n_blocks = (b->n + tp - 1) / tp;
    flx_counters *cnt = &a->prefill_counters;
    uint64_t rope = (uint64_t)n_blocks * flx_cost_elementwise((c->n_heads + c->n_kv_heads) * half, 1);
    uint64_t kv = (uint64_t)n_blocks * flx_cost_elementwise(kv_dim, 1);
    flx_counters_add_kernel(cnt, FLX_KERNEL_ROPE, (uint64_t)b->n, rope);
    flx_kernel_id quant = a->qm->kv.dynamic ? FLX_KERNEL_KV_QUANT : FLX_KERNEL_STATIC_QUANT;
    flx_counters_add_kernel(cnt, quant, (uint64_t)b->n * 2, 2 * kv);
    flx_counters_add_kernel(cnt, FLX_KERNEL_KV_WRITE, (uint64_t)n_blocks * 2, 2 * kv);
    flx_counters_add_bytes(cnt, FLX_PORT_KV_CACHE, 0, 2 * (uint64_t)b->n * c->n_kv_heads * flx_accel_kv_row_bytes(a));
    add_module(timing, rope);
    add_module(timing, kv);
    if (a->qm->online_hadamard_qk) {
        uint64_t r3 = (uint64_t)n_blocks * (c->n_heads + c->n_kv_heads) * flx_cost_fwht(c->head_dim, 1);
        flx_counters_add_kernel(cnt, FLX_KERNEL_FWHT, (uint64_t)b->n * (c->n_heads + c->n_kv_heads), r3);
        add_module(timing, r3);
    }
}

static void prefill_attention(flx_accel *a, prefill_buffers *b, int layer, int pos0, layer_timing *timing) {
    const flx_config *c = &a->qm->config;
    const flx_prefill_config *p = &a->cfg.prefill;
    int q_dim = c->n_heads * c->head_dim;
    int n_blocks = (b->n + p->tp - 1) / p->tp;
    int n_jobs = n_blocks * c->n_heads;
    long work = (long)c->n_heads * b->n * (pos0 + b->n) * c->head_dim;
#pragma omp parallel for schedule(dynamic, 1) if (work >= FLX_SIM_PARALLEL_MIN_WORK)
    for (int job = 0; job < n_jobs; job++) {
        int thread = 0;
#ifdef _OPENMP
        thread = omp_get_thread_num();
#endif
        int blk = job / c->n_heads, h = job % c->n_heads;
        int t0 = blk * p->tp, nt = b->n - t0 < p->tp ? b->n - t0 : p->tp;
        flx_accel_attention_head(a, &a->attn[thread], layer, h, b->q + (long)t0 * q_dim + (long)h * c->head_dim,
                                 q_dim, nt, pos0 + t0, p->kp, p->vp, b->att + (long)t0 * q_dim + (long)h * c->head_dim,
                                 q_dim);
    }
    /* One QK and one AV array: every (block, head) pair in turn. */
    uint64_t qk = 0, av = 0, softmax = 0, keys = 0;
    for (int blk = 0; blk < n_blocks; blk++) {
        int t0 = blk * p->tp, nt = b->n - t0 < p->tp ? b->n - t0 : p->tp;
        int n_keys = pos0 + t0 + nt;
        qk += (uint64_t)c->n_heads * flx_cost_qk(n_keys, c->head_dim, p->kp);
        av += (uint64_t)c->n_heads * flx_cost_av(n_keys, c->head_dim, p->vp);
        softmax += (uint64_t)c->n_heads * nt * flx_cost_softmax(n_keys) / (uint64_t)p->tp;
        keys += (uint64_t)c->n_heads * n_keys;
    }
    flx_counters *cnt = &a->prefill_counters;
    uint64_t jobs = (uint64_t)n_jobs;
    flx_counters_add_kernel(cnt, FLX_KERNEL_QK, jobs, qk);
    flx_counters_add_kernel(cnt, FLX_KERNEL_SOFTMAX, jobs, softmax);
    flx_counters_add_kernel(cnt, FLX_KERNEL_PROB_QUANT, jobs, softmax / 3);
    flx_counters_add_kernel(cnt, FLX_KERNEL_AV, jobs, av);
    flx_counters_add_bytes(cnt, FLX_PORT_KV_CACHE, 2 * keys * flx_accel_kv_row_bytes(a), 0);
    add_module(timing, qk);
    add_module(timing, av);
    add_module(timing, softmax);
}

static void prefill_elementwise(flx_accel *a, int n, int width, flx_kernel_id kernel, layer_timing *timing) {
    int n_blocks = (n + a->cfg.prefill.tp - 1) / a->cfg.prefill.tp;
    uint64_t per_block = flx_cost_elementwise(width, 1);
    if (kernel == FLX_KERNEL_FWHT) per_block = flx_cost_fwht(width, 1);
    if (kernel == FLX_KERNEL_ROTATE_DENSE) per_block = flx_cost_rotate_dense(width, 1);
    uint64_t cycles = (uint64_t)n_blocks * per_block;
    flx_counters_add_kernel(&a->prefill_counters, kernel, (uint64_t)n, cycles);
    add_module(timing, cycles);
}

int flx_accel_prefill(flx_accel *a, const int32_t *tokens, int n, int pos0, float *logits, flx_error *err) {
    const flx_qmodel *qm = a->qm;
    const flx_config *c = &qm->config;
    if (n <= 0) return flx_fail(err, "prefill: no tokens");
    if (pos0 < 0 || pos0 + n > a->max_seq)
        return flx_fail(err, "prefill: positions %d..%d exceed the KV cache of %d positions; shorten the prompt",
                        pos0, pos0 + n - 1, a->max_seq);
    for (int t = 0; t < n; t++)
        if (tokens[t] < 0 || tokens[t] >= c->vocab_size)
            return flx_fail(err, "prefill: token id %d at index %d is outside the vocabulary (0..%d)", tokens[t], t,
                            c->vocab_size - 1);
    if (flx_accel_pack_prefill(a, err) != 0) return -1;
    prefill_buffers b;
    if (alloc_buffers(&b, c, n, err) != 0) return -1;
    flx_counters *cnt = &a->prefill_counters;
    const flx_prefill_config *p = &a->cfg.prefill;
    int dim = c->dim, q_dim = c->n_heads * c->head_dim;

    /* Embeddings of the whole prompt (the input loader). */
    for (int t = 0; t < n; t++) flx_embedding_kernel(qm->token_embedding, dim, tokens[t], b.x + (long)t * dim);
    flx_counters_add_kernel(cnt, FLX_KERNEL_EMBEDDING, (uint64_t)n, (uint64_t)n * flx_cost_elementwise(dim, 1));
    flx_counters_add_bytes(cnt, FLX_PORT_EMBEDDINGS, (uint64_t)n * dim * sizeof(float), 0);

    uint64_t engine_cycles = 0;
    for (int l = 0; l < c->n_layers; l++) {
        const flx_qlayer *ql = &qm->layers[l];
        const flx_packed_layer *pl = &a->prefill_layers[l];
        layer_timing timing = {{0}, 0};

        /* Attention half: norm, K/V/Q arrays, RoPE and cache, attention, O, residual. */
        prefill_rmsnorm(a, &b, ql->attn_norm, &timing);
        /* Two arrays are time-shared, as in the reference design: one
         * computes K then Q, the other V and later O. */
        uint64_t kq_array = prefill_linear(a, &b, &pl->wk, p->wp_qkvo, &qm->act, b.xn, b.k);
        uint64_t vo_array = prefill_linear(a, &b, &pl->wv, p->wp_qkvo, &qm->act, b.xn, b.v);
        kq_array += prefill_linear(a, &b, &pl->wq, p->wp_qkvo, &qm->act, b.xn, b.q);
        add_module(&timing, kq_array);
        rope_and_cache(a, &b, l, pos0, &timing);
        prefill_attention(a, &b, l, pos0, &timing);
        vo_array += prefill_linear(a, &b, &pl->wo, p->wp_qkvo, &qm->act, b.att, b.proj);
        add_module(&timing, vo_array);
        for (long i = 0; i < (long)n * dim; i += dim) flx_residual_add_kernel(b.x + i, b.proj + i, dim);
        prefill_elementwise(a, n, dim, FLX_KERNEL_RESIDUAL, &timing);

        /* FFN half: norm, gate and up (blocked arrays), gating, Hadamard, down, residual. */
        prefill_rmsnorm(a, &b, ql->ffn_norm, &timing);
        add_module(&timing, prefill_linear(a, &b, &pl->w_gate, p->wp_ffn, &qm->act, b.xn, b.gate));
        add_module(&timing, prefill_linear(a, &b, &pl->w_up, p->wp_ffn, &qm->act, b.xn, b.up));
        for (long t = 0; t < n; t++)
            flx_silu_gate_kernel(b.gate + t * c->ffn_dim, b.up + t * c->ffn_dim, c->ffn_dim, b.gate + t * c->ffn_dim);
        prefill_elementwise(a, n, c->ffn_dim, FLX_KERNEL_SILU_GATE, &timing);
        float *down_in = b.gate;
        if (qm->online_hadamard_ffn && qm->r4_matrix) {
            for (long t = 0; t < n; t++)
                flx_rotate_dense_kernel(qm->r4_matrix, c->ffn_dim, b.gate + t * c->ffn_dim, b.up + t * c->ffn_dim);
            prefill_elementwise(a, n, c->ffn_dim, FLX_KERNEL_ROTATE_DENSE, &timing);
            /* The matrix streams once per token block. */
            uint64_t n_blocks = (uint64_t)((n + p->tp - 1) / p->tp);
            flx_counters_add_bytes(cnt, FLX_PORT_PARAMS, n_blocks * c->ffn_dim * c->ffn_dim * sizeof(float), 0);
            down_in = b.up;
        } else if (qm->online_hadamard_ffn) {
            int log2n = 0;
            while ((1 << log2n) < c->ffn_dim) log2n++;
            for (long t = 0; t < n; t++) flx_fwht_kernel(b.gate + t * c->ffn_dim, log2n);
            prefill_elementwise(a, n, c->ffn_dim, FLX_KERNEL_FWHT, &timing);
        }
        add_module(&timing, prefill_linear(a, &b, &pl->w_down, p->wp_ffn, &qm->act, down_in, b.proj));
        for (long i = 0; i < (long)n * dim; i += dim) flx_residual_add_kernel(b.x + i, b.proj + i, dim);
        prefill_elementwise(a, n, dim, FLX_KERNEL_RESIDUAL, &timing);
        flx_counters_add_bytes(cnt, FLX_PORT_IO, (uint64_t)n * dim * sizeof(float), (uint64_t)n * dim * sizeof(float));
        engine_cycles += slowest_module(&timing);
    }
    (void)q_dim;

    /* Optional final norm and LM head for every token. */
    if (logits) {
        layer_timing timing = {{0}, 0};
        prefill_rmsnorm(a, &b, qm->output_norm, &timing);
        add_module(&timing, prefill_linear(a, &b, &a->prefill_lm_head, p->wp_ffn, &qm->lm_head_act, b.xn, logits));
        engine_cycles += slowest_module(&timing);
    }
    cnt->engine_cycles += engine_cycles;
    cnt->tokens += (uint64_t)n;
    cnt->runs++;
    free_buffers(&b);
    return 0;
}
