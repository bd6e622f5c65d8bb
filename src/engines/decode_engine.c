/* The temporal decode engine: one token per step. A single BP x WP linear
 * engine runs every projection in turn (Q, K, V, O, gate, up, down, then the
 * LM head). Attention runs on HP head lanes. Norms, RoPE, gating and
 * residuals are small vector modules working on BP lanes. */
#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "engines/accel.h"
#include "kernels/attention.h"
#include "kernels/elementwise.h"
#include "kernels/kv_cache.h"
#include "kernels/linear.h"
#include "kernels/quantize.h"
#include "perf/kernel_cost.h"

/* Runs the BP arrays of the shared linear engine over one set of streams
 * (threads take whole arrays, as the arrays are independent in hardware). */
static void run_arrays(flx_accel *a, const flx_weight_streams *s, uint8_t *const *data, int32_t *acc) {
    const flx_qlinear *w = s->matrix;
    const int16_t *xq = a->dec_xq;
    int wp = a->cfg.decode.wp;
    long macs = (long)w->d_in * w->d_out;
#pragma omp parallel for schedule(dynamic, 1) if (macs >= FLX_SIM_PARALLEL_MIN_WORK)
    for (int b = 0; b < s->n_streams; b++)
        if (s->n_rows[b] > 0)
            flx_linear_decode(xq, w->d_in, s->n_rows[b], data[b], s->bits, wp, acc + s->row_begin[b]);
}

/* Quantizes x, runs the arrays (twice for 16-bit weights: high bytes, then
 * low bytes), dequantizes. */
static void decode_linear(flx_accel *a, const flx_weight_streams *s, const flx_act_quant *act,
                          const float *x, float *y) {
    const flx_qlinear *w = s->matrix;
    flx_counters *cnt = &a->decode_counters;
    int bp = a->cfg.decode.bp, wp = a->cfg.decode.wp;
    flx_qparams xp = flx_quant_dynamic(x, w->d_in, act->bits, act->asymmetric, act->clip, a->dec_xq);
    flx_counters_add_kernel(cnt, FLX_KERNEL_QUANT, 1, flx_cost_quant_dynamic(w->d_in, bp));

    run_arrays(a, s, s->data, a->dec_acc);
    if (s->n_passes == 2) run_arrays(a, s, s->data_lo, a->dec_acc_lo);
    uint64_t slowest = 0, bytes = 0;
    for (int b = 0; b < s->n_streams; b++) {
        uint64_t cycles = flx_cost_linear_decode(w->d_in, s->n_rows[b], wp);
        if (cycles > slowest) slowest = cycles;
        bytes += (uint64_t)s->bytes[b];
    }
    uint64_t passes = (uint64_t)s->n_passes;
    flx_counters_add_kernel(cnt, FLX_KERNEL_LINEAR, passes, passes * slowest);
    flx_counters_add_bytes(cnt, FLX_PORT_WEIGHTS, passes * bytes, 0);

    if (s->n_passes == 2)
        flx_dequant_linear_split(a->dec_acc, a->dec_acc_lo, w->d_out, xp, act->asymmetric, w->scale, w->rowsum, y);
    else
        flx_dequant_linear(a->dec_acc, w->d_out, xp, act->asymmetric, w->scale, w->rowsum, y);
    flx_counters_add_kernel(cnt, FLX_KERNEL_DEQUANT, 1, flx_cost_elementwise(w->d_out, bp));
    flx_counters_add_bytes(cnt, FLX_PORT_SCALES, (uint64_t)w->d_out * 2 * sizeof(float), 0);
}

static void rmsnorm(flx_accel *a, const float *x, const float *gain, float *y) {
    const flx_config *c = &a->qm->config;
    flx_rmsnorm_kernel(x, c->dim, gain, c->norm_eps, y);
    flx_counters_add_kernel(&a->decode_counters, FLX_KERNEL_RMSNORM, 1,
                            flx_cost_rmsnorm(c->dim, a->cfg.decode.bp));
    flx_counters_add_bytes(&a->decode_counters, FLX_PORT_PARAMS, (uint64_t)c->dim * sizeof(float), 0);
}

/* Quantization of this step's K and V rows, appended to the cache (the
 * decode KV-cache manager). */
static void append_kv(flx_accel *a, int layer, int pos) {
    const flx_config *c = &a->qm->config;
    flx_accel_store_kv(a, &a->attn[0], layer, pos, 1, a->dec_k, a->dec_v);
    int kv_dim = c->n_kv_heads * c->head_dim;
    flx_kernel_id quant = a->qm->kv.dynamic ? FLX_KERNEL_KV_QUANT : FLX_KERNEL_STATIC_QUANT;
    flx_counters_add_kernel(&a->decode_counters, quant, 2, 2 * flx_cost_elementwise(kv_dim, a->cfg.decode.hp));
    flx_counters_add_kernel(&a->decode_counters, FLX_KERNEL_KV_WRITE, 2, 2 * flx_cost_elementwise(kv_dim, a->cfg.decode.hp));
    flx_counters_add_bytes(&a->decode_counters, FLX_PORT_KV_CACHE, 0,
                           2 * (uint64_t)c->n_kv_heads * flx_accel_kv_row_bytes(a));
}

static void attention(flx_accel *a, int layer, int pos) {
    const flx_config *c = &a->qm->config;
    const flx_decode_config *d = &a->cfg.decode;
    long work = (long)c->n_heads * (pos + 1) * c->head_dim;
#pragma omp parallel for schedule(dynamic, 1) if (work >= FLX_SIM_PARALLEL_MIN_WORK)
    for (int h = 0; h < c->n_heads; h++) {
        int thread = 0;
#ifdef _OPENMP
        thread = omp_get_thread_num();
#endif
        flx_accel_attention_head(a, &a->attn[thread], layer, h, a->dec_q + (long)h * c->head_dim, c->head_dim,
                                 1, pos, d->kp, d->vp, a->dec_att + (long)h * c->head_dim, c->head_dim);
    }
    /* HP lanes each take ceil(n_heads / HP) heads in turn. */
    uint64_t rounds = (uint64_t)(c->n_heads + d->hp - 1) / d->hp;
    int n_keys = pos + 1;
    flx_counters *cnt = &a->decode_counters;
    flx_counters_add_kernel(cnt, FLX_KERNEL_STATIC_QUANT, (uint64_t)c->n_heads, rounds * flx_cost_elementwise(c->head_dim, 1));
    flx_counters_add_kernel(cnt, FLX_KERNEL_QK, (uint64_t)c->n_heads, rounds * flx_cost_qk(n_keys, c->head_dim, d->kp));
    flx_counters_add_kernel(cnt, FLX_KERNEL_SOFTMAX, (uint64_t)c->n_heads, rounds * flx_cost_softmax(n_keys));
    flx_counters_add_kernel(cnt, FLX_KERNEL_PROB_QUANT, (uint64_t)c->n_heads, rounds * flx_cost_elementwise(n_keys, 1));
    flx_counters_add_kernel(cnt, FLX_KERNEL_AV, (uint64_t)c->n_heads, rounds * flx_cost_av(n_keys, c->head_dim, d->vp));
    /* Each query head streams its KV head's keys and values once. */
    flx_counters_add_bytes(cnt, FLX_PORT_KV_CACHE, 2 * (uint64_t)c->n_heads * n_keys * flx_accel_kv_row_bytes(a), 0);
}

int flx_accel_decode(flx_accel *a, int32_t token, int pos, float *logits, flx_error *err) {
    const flx_qmodel *qm = a->qm;
    const flx_config *c = &qm->config;
    if (token < 0 || token >= c->vocab_size)
        return flx_fail(err, "decode: token id %d is outside the vocabulary (0..%d)", token, c->vocab_size - 1);
    if (pos < 0 || pos >= a->max_seq)
        return flx_fail(err, "decode: position %d is outside the KV cache of %d positions", pos, a->max_seq);
    flx_counters *cnt = &a->decode_counters;
    uint64_t cycles_before = 0;
    for (int k = 0; k < FLX_KERNEL_COUNT; k++) cycles_before += cnt->cycles[k];
    int bp = a->cfg.decode.bp;
    int dim = c->dim, q_dim = c->n_heads * c->head_dim, half = c->rope_dim / 2;

    /* Embedding of the input token. */
    flx_embedding_kernel(qm->token_embedding, dim, token, a->dec_x);
    flx_counters_add_kernel(cnt, FLX_KERNEL_EMBEDDING, 1, flx_cost_elementwise(dim, bp));
    flx_counters_add_bytes(cnt, FLX_PORT_EMBEDDINGS, (uint64_t)dim * sizeof(float), 0);

    for (int l = 0; l < c->n_layers; l++) {
        const flx_qlayer *ql = &qm->layers[l];
        const flx_packed_layer *pl = &a->decode_layers[l];

        /* Attention norm, then K, V and Q through the shared linear engine. */
        rmsnorm(a, a->dec_x, ql->attn_norm, a->dec_xn);
        decode_linear(a, &pl->wk, &qm->act, a->dec_xn, a->dec_k);
        decode_linear(a, &pl->wv, &qm->act, a->dec_xn, a->dec_v);
        decode_linear(a, &pl->wq, &qm->act, a->dec_xn, a->dec_q);

        /* RoPE at this position, K and V into the cache, attention. */
        const float *cos_row = a->rope_cos + (long)pos * half, *sin_row = a->rope_sin + (long)pos * half;
        flx_rope_kernel(a->dec_k, c->n_kv_heads, c->head_dim, c->rope_dim, cos_row, sin_row);
        flx_rope_kernel(a->dec_q, c->n_heads, c->head_dim, c->rope_dim, cos_row, sin_row);
        flx_counters_add_kernel(cnt, FLX_KERNEL_ROPE, 2,
                                flx_cost_elementwise((c->n_heads + c->n_kv_heads) * half, bp));
        if (qm->online_hadamard_qk) {
            /* R3 on every Q and K head, on the HP head lanes in turn. */
            flx_accel_hadamard_heads(a, a->dec_k, c->n_kv_heads);
            flx_accel_hadamard_heads(a, a->dec_q, c->n_heads);
            uint64_t qk_heads = (uint64_t)(c->n_heads + c->n_kv_heads), hp = (uint64_t)a->cfg.decode.hp;
            flx_counters_add_kernel(cnt, FLX_KERNEL_FWHT, qk_heads,
                                    ((qk_heads + hp - 1) / hp) * flx_cost_fwht(c->head_dim, 1));
        }
        append_kv(a, l, pos);
        attention(a, l, pos);

        /* Output projection and residual. */
        decode_linear(a, &pl->wo, &qm->act, a->dec_att, a->dec_proj);
        flx_residual_add_kernel(a->dec_x, a->dec_proj, dim);
        flx_counters_add_kernel(cnt, FLX_KERNEL_RESIDUAL, 1, flx_cost_elementwise(dim, bp));

        /* FFN: norm, gate and up, SiLU gating, optional Hadamard, down, residual. */
        rmsnorm(a, a->dec_x, ql->ffn_norm, a->dec_xn);
        decode_linear(a, &pl->w_gate, &qm->act, a->dec_xn, a->dec_gate);
        decode_linear(a, &pl->w_up, &qm->act, a->dec_xn, a->dec_up);
        flx_silu_gate_kernel(a->dec_gate, a->dec_up, c->ffn_dim, a->dec_hidden);
        flx_counters_add_kernel(cnt, FLX_KERNEL_SILU_GATE, 1, flx_cost_elementwise(c->ffn_dim, bp));
        float *down_in = a->dec_hidden;
        if (qm->online_hadamard_ffn && qm->r4_matrix) {
            flx_rotate_dense_kernel(qm->r4_matrix, c->ffn_dim, a->dec_hidden, a->dec_gate);
            flx_counters_add_kernel(cnt, FLX_KERNEL_ROTATE_DENSE, 1, flx_cost_rotate_dense(c->ffn_dim, bp));
            flx_counters_add_bytes(cnt, FLX_PORT_PARAMS, (uint64_t)c->ffn_dim * c->ffn_dim * sizeof(float), 0);
            down_in = a->dec_gate;
        } else if (qm->online_hadamard_ffn) {
            int log2n = 0;
            while ((1 << log2n) < c->ffn_dim) log2n++;
            flx_fwht_kernel(a->dec_hidden, log2n);
            flx_counters_add_kernel(cnt, FLX_KERNEL_FWHT, 1, flx_cost_fwht(c->ffn_dim, bp));
        }
        decode_linear(a, &pl->w_down, &qm->act, down_in, a->dec_proj);
        flx_residual_add_kernel(a->dec_x, a->dec_proj, dim);
        flx_counters_add_kernel(cnt, FLX_KERNEL_RESIDUAL, 1, flx_cost_elementwise(dim, bp));
        (void)q_dim;
    }

    /* Final norm and the LM head on the same linear engine. */
    rmsnorm(a, a->dec_x, qm->output_norm, a->dec_xn);
    decode_linear(a, &a->decode_lm_head, &qm->lm_head_act, a->dec_xn, logits);

    uint64_t cycles_after = 0;
    for (int k = 0; k < FLX_KERNEL_COUNT; k++) cycles_after += cnt->cycles[k];
    cnt->engine_cycles += cycles_after - cycles_before;
    cnt->tokens++;
    cnt->runs++;
    return 0;
}
