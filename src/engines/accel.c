#include "engines/accel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernels/limits.h"
#include "kernels/sampler.h"
#include "perf/kernel_cost.h"
#include "reference/forward.h"

static int check_limit(const char *what, long value, long max, flx_error *err) {
    if (value > max)
        return flx_fail(err,
                        "model %s = %ld exceeds the kernel library's compile-time maximum %ld "
                        "(src/kernels/limits.h); rebuild with a larger limit or use a smaller model",
                        what, value, max);
    return 0;
}

static int check_model(const flx_qmodel *qm, int max_seq, flx_error *err) {
    const flx_config *c = &qm->config;
    if (check_limit("dim", c->dim, FLX_MAX_DIM, err) || check_limit("ffn_dim", c->ffn_dim, FLX_MAX_FFN, err) ||
        check_limit("head_dim", c->head_dim, FLX_MAX_HEAD_DIM, err) ||
        check_limit("n_heads", c->n_heads, FLX_MAX_HEADS, err) ||
        check_limit("n_kv_heads", c->n_kv_heads, FLX_MAX_KV_HEADS, err) ||
        check_limit("vocab_size", c->vocab_size, FLX_MAX_VOCAB, err) ||
        check_limit("n_heads * head_dim", (long)c->n_heads * c->head_dim, FLX_MAX_DIM, err) ||
        check_limit("KV cache positions", max_seq, FLX_MAX_SEQ, err))
        return -1;
    if (qm->online_hadamard_ffn && !qm->r4_matrix && (c->ffn_dim & (c->ffn_dim - 1)))
        return flx_fail(err, "the online Walsh-Hadamard transform needs a power-of-two ffn_dim, not %d",
                        c->ffn_dim);
    if (qm->online_hadamard_ffn && qm->r4_matrix &&
        check_limit("ffn_dim of the dense R4 rotation", c->ffn_dim, FLX_MAX_DENSE_ROTATION, err))
        return -1;
    for (int l = 0; l < c->n_layers; l++)
        if (qm->layers[l].wq.group_size != 0)
            return flx_fail(err,
                            "layer %d has per-group weights (group %d); the linear arrays dequantize with one "
                            "scale per output channel, so run this model with --engine fakequant or quantize it "
                            "without --weight-group",
                            l, qm->layers[l].wq.group_size);
    if (qm->online_hadamard_qk && (c->head_dim & (c->head_dim - 1)))
        return flx_fail(err, "the online R3 Walsh-Hadamard transform needs a power-of-two head_dim, not %d",
                        c->head_dim);
    if (qm->kv.dynamic && ((qm->kv.bits != 4 && qm->kv.bits != 8) || qm->kv.group_size <= 0 ||
                           c->head_dim % qm->kv.group_size != 0 || !(qm->kv.clip > 0.0f && qm->kv.clip <= 1.0f)))
        return flx_fail(err,
                        "dynamic KV cache of %d bits, group %d, clip %g is invalid for head_dim %d (expected 4 "
                        "or 8 bits, a group dividing head_dim, clip in (0, 1])",
                        qm->kv.bits, qm->kv.group_size, (double)qm->kv.clip, c->head_dim);
    return 0;
}

/* True when some linear has 16-bit weights, which need a second set of
 * accumulators for their low-byte pass. */
static int has_16bit_weights(const flx_qmodel *qm) {
    if (qm->lm_head.bits == 16) return 1;
    for (int l = 0; l < qm->config.n_layers; l++) {
        const flx_qlayer *q = &qm->layers[l];
        const flx_qlinear *all[7] = {&q->wq, &q->wk, &q->wv, &q->wo, &q->w_gate, &q->w_up, &q->w_down};
        for (int i = 0; i < 7; i++)
            if (all[i]->bits == 16) return 1;
    }
    return 0;
}

static int pack_layer(flx_packed_layer *p, const flx_qlayer *l, int decode, const flx_accel_config *cfg,
                      flx_error *err) {
    const flx_qlinear *qkvo[4] = {&l->wq, &l->wk, &l->wv, &l->wo};
    flx_weight_streams *qkvo_out[4] = {&p->wq, &p->wk, &p->wv, &p->wo};
    const flx_qlinear *ffn[3] = {&l->w_gate, &l->w_up, &l->w_down};
    flx_weight_streams *ffn_out[3] = {&p->w_gate, &p->w_up, &p->w_down};
    for (int i = 0; i < 4; i++) {
        int rc = decode ? flx_pack_decode_streams(qkvo_out[i], qkvo[i], cfg->decode.bp, cfg->decode.wp, err)
                        : flx_pack_prefill_streams(qkvo_out[i], qkvo[i], cfg->prefill.wp_qkvo, 1, err);
        if (rc != 0) return -1;
    }
    for (int i = 0; i < 3; i++) {
        int rc = decode ? flx_pack_decode_streams(ffn_out[i], ffn[i], cfg->decode.bp, cfg->decode.wp, err)
                        : flx_pack_prefill_streams(ffn_out[i], ffn[i], cfg->prefill.wp_ffn,
                                                   cfg->prefill.ffn_blocks, err);
        if (rc != 0) return -1;
    }
    return 0;
}

static void free_packed_layer(flx_packed_layer *p) {
    flx_weight_streams *all[7] = {&p->wq, &p->wk, &p->wv, &p->wo, &p->w_gate, &p->w_up, &p->w_down};
    for (int i = 0; i < 7; i++) flx_weight_streams_free(all[i]);
}

int flx_accel_pack_prefill(flx_accel *a, flx_error *err) {
    if (a->prefill_layers) return 0;
    const flx_qmodel *qm = a->qm;
    a->prefill_layers = flx_calloc((size_t)qm->config.n_layers, sizeof *a->prefill_layers, err);
    if (!a->prefill_layers) return -1;
    for (int l = 0; l < qm->config.n_layers; l++)
        if (pack_layer(&a->prefill_layers[l], &qm->layers[l], 0, &a->cfg, err) != 0) return -1;
    return flx_pack_prefill_streams(&a->prefill_lm_head, &qm->lm_head, a->cfg.prefill.wp_ffn,
                                    a->cfg.prefill.ffn_blocks, err);
}

static void *alloc_or_fail(size_t count, size_t size, int *failed, flx_error *err) {
    void *p = flx_calloc(count, size, err);
    if (!p) *failed = 1;
    return p;
}

int flx_accel_init(flx_accel *a, const flx_qmodel *qm, const flx_accel_config *cfg, int max_seq,
                   flx_error *err) {
    memset(a, 0, sizeof *a);
    if (flx_accel_config_validate(cfg, err) != 0 || check_model(qm, max_seq, err) != 0) return -1;
    a->qm = qm;
    a->cfg = *cfg;
    a->max_seq = max_seq;
    const flx_config *c = &qm->config;
    size_t kv_dim = (size_t)c->n_kv_heads * c->head_dim, q_dim = (size_t)c->n_heads * c->head_dim;
    size_t half = (size_t)c->rope_dim / 2;
    int failed = 0;

    /* Shared INT8 KV cache and the RoPE table. */
    a->k_cache = alloc_or_fail((size_t)c->n_layers * max_seq * kv_dim, 1, &failed, err);
    a->v_cache = alloc_or_fail((size_t)c->n_layers * max_seq * kv_dim, 1, &failed, err);
    a->rope_cos = alloc_or_fail((size_t)max_seq * half, sizeof(float), &failed, err);
    a->rope_sin = alloc_or_fail((size_t)max_seq * half, sizeof(float), &failed, err);
    if (qm->kv.dynamic) {
        a->kv_groups = c->head_dim / qm->kv.group_size;
        size_t scales = (size_t)c->n_layers * c->n_kv_heads * max_seq * (size_t)a->kv_groups;
        a->k_scales = alloc_or_fail(scales, sizeof(float), &failed, err);
        a->v_scales = alloc_or_fail(scales, sizeof(float), &failed, err);
        a->k_offsets = alloc_or_fail(scales, sizeof(float), &failed, err);
        a->v_offsets = alloc_or_fail(scales, sizeof(float), &failed, err);
    }
    if (failed) goto fail;
    flx_rope_table(c, qm->rope_freqs, max_seq, a->rope_cos, a->rope_sin);

    /* Decode weight streams. */
    a->decode_layers = alloc_or_fail((size_t)c->n_layers, sizeof *a->decode_layers, &failed, err);
    if (failed) goto fail;
    for (int l = 0; l < c->n_layers; l++)
        if (pack_layer(&a->decode_layers[l], &qm->layers[l], 1, cfg, err) != 0) goto fail;
    if (flx_pack_decode_streams(&a->decode_lm_head, &qm->lm_head, cfg->decode.bp, cfg->decode.wp, err) != 0)
        goto fail;

    /* Scratch: per-thread attention and accumulators, decode vectors. */
    a->n_threads = 1;
#ifdef _OPENMP
    a->n_threads = omp_get_max_threads();
#endif
    size_t max_out = (size_t)c->vocab_size;
    if ((size_t)c->ffn_dim > max_out) max_out = (size_t)c->ffn_dim;
    a->attn = alloc_or_fail((size_t)a->n_threads, sizeof *a->attn, &failed, err);
    a->acc = alloc_or_fail((size_t)a->n_threads, sizeof *a->acc, &failed, err);
    int split = has_16bit_weights(qm);
    if (split) a->acc_lo = alloc_or_fail((size_t)a->n_threads, sizeof *a->acc_lo, &failed, err);
    if (failed) goto fail;
    for (int t = 0; t < a->n_threads; t++) {
        flx_attention_scratch *s = &a->attn[t];
        s->q8 = alloc_or_fail(FLX_MAX_TP, sizeof *s->q8, &failed, err);
        s->scores = alloc_or_fail(FLX_MAX_TP, sizeof *s->scores, &failed, err);
        s->probs = alloc_or_fail(FLX_MAX_TP, sizeof *s->probs, &failed, err);
        s->out = alloc_or_fail(FLX_MAX_TP, sizeof *s->out, &failed, err);
        s->kv_rows = alloc_or_fail(FLX_MAX_TP, sizeof *s->kv_rows, &failed, err);
        s->kv_scales = alloc_or_fail(FLX_MAX_TP, sizeof *s->kv_scales, &failed, err);
        s->kv_offsets = alloc_or_fail(FLX_MAX_TP, sizeof *s->kv_offsets, &failed, err);
        a->acc[t] = alloc_or_fail((size_t)cfg->prefill.tp * max_out, sizeof(int32_t), &failed, err);
        if (split) a->acc_lo[t] = alloc_or_fail((size_t)cfg->prefill.tp * max_out, sizeof(int32_t), &failed, err);
    }
    size_t dim = (size_t)c->dim, ffn = (size_t)c->ffn_dim;
    size_t widest_in = ffn > q_dim ? ffn : q_dim;
    if (dim > widest_in) widest_in = dim;
    a->dec_x = alloc_or_fail(dim, sizeof(float), &failed, err);
    a->dec_xn = alloc_or_fail(dim, sizeof(float), &failed, err);
    a->dec_q = alloc_or_fail(q_dim, sizeof(float), &failed, err);
    a->dec_k = alloc_or_fail(kv_dim, sizeof(float), &failed, err);
    a->dec_v = alloc_or_fail(kv_dim, sizeof(float), &failed, err);
    a->dec_att = alloc_or_fail(q_dim, sizeof(float), &failed, err);
    a->dec_proj = alloc_or_fail(dim, sizeof(float), &failed, err);
    a->dec_gate = alloc_or_fail(ffn, sizeof(float), &failed, err);
    a->dec_up = alloc_or_fail(ffn, sizeof(float), &failed, err);
    a->dec_hidden = alloc_or_fail(ffn, sizeof(float), &failed, err);
    a->dec_logits = alloc_or_fail(max_out, sizeof(float), &failed, err);
    a->dec_xq = alloc_or_fail(widest_in, sizeof(int16_t), &failed, err);
    a->dec_acc = alloc_or_fail(max_out, sizeof(int32_t), &failed, err);
    if (split) a->dec_acc_lo = alloc_or_fail(max_out, sizeof(int32_t), &failed, err);
    if (failed) goto fail;
    return 0;

fail:
    flx_accel_free(a);
    return -1;
}

void flx_accel_free(flx_accel *a) {
    if (!a->qm) {
        memset(a, 0, sizeof *a);
        return;
    }
    int n_layers = a->qm->config.n_layers;
    for (int l = 0; a->decode_layers && l < n_layers; l++) free_packed_layer(&a->decode_layers[l]);
    for (int l = 0; a->prefill_layers && l < n_layers; l++) free_packed_layer(&a->prefill_layers[l]);
    free(a->decode_layers);
    free(a->prefill_layers);
    flx_weight_streams_free(&a->decode_lm_head);
    flx_weight_streams_free(&a->prefill_lm_head);
    for (int t = 0; a->attn && t < a->n_threads; t++) {
        free(a->attn[t].q8);
        free(a->attn[t].scores);
        free(a->attn[t].probs);
        free(a->attn[t].out);
        free(a->attn[t].kv_rows);
        free(a->attn[t].kv_scales);
        free(a->attn[t].kv_offsets);
    }
    for (int t = 0; a->acc && t < a->n_threads; t++) free(a->acc[t]);
    for (int t = 0; a->acc_lo && t < a->n_threads; t++) free(a->acc_lo[t]);
    free(a->attn);
    free(a->acc);
    free(a->acc_lo);
    void *bufs[] = {a->k_cache,    a->v_cache,  a->k_scales, a->v_scales,  a->k_offsets,  a->v_offsets,
                    a->rope_cos,   a->rope_sin, a->dec_x,    a->dec_xn,    a->dec_q,      a->dec_k,
                    a->dec_v,      a->dec_att,  a->dec_proj, a->dec_gate,  a->dec_up,     a->dec_hidden,
                    a->dec_logits, a->dec_xq,   a->dec_acc,  a->dec_acc_lo};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    memset(a, 0, sizeof *a);
}

int flx_accel_sample(flx_accel *a, const float *logits, int top_k, float temperature, float top_p, float r) {
    const flx_config *c = &a->qm->config;
    int k = top_k;
    if (k < 1) k = 1;
    if (k > FLX_MAX_TOPK) k = FLX_MAX_TOPK;
    flx_counters_add_kernel(&a->decode_counters, FLX_KERNEL_SAMPLER, 1, flx_cost_sampler(c->vocab_size, k));
    return flx_sample_topk_kernel(logits, c->vocab_size, k, temperature, top_p, r);
}
