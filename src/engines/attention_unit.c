/* The attention path of one query head, shared by both engines so that a
 * token gets the same arithmetic whichever engine processes it: optional
 * R3 on Q and K, the KV-cache quantizer (static INT8, or dynamic per token
 * and group), static INT8 Q, QK^T with causal mask, softmax, UINT8
 * probabilities, AV. */
#include <math.h>

#include "engines/accel.h"
#include "kernels/attention.h"
#include "kernels/elementwise.h"
#include "kernels/kv_cache.h"
#include "kernels/quantize.h"

void flx_accel_hadamard_heads(const flx_accel *a, float *x, int n_heads) {
    int head_dim = a->qm->config.head_dim, log2n = 0;
    while ((1 << log2n) < head_dim) log2n++;
    for (int h = 0; h < n_heads; h++) flx_fwht_kernel(x + (long)h * head_dim, log2n);
}

uint64_t flx_accel_kv_row_bytes(const flx_accel *a) {
    const flx_qmodel *qm = a->qm;
    uint64_t head_dim = (uint64_t)qm->config.head_dim;
    if (!qm->kv.dynamic) return head_dim;
    uint64_t per_group = qm->kv.asymmetric ? 2 * sizeof(float) : sizeof(float);
    return (head_dim * (uint64_t)qm->kv.bits + 7) / 8 + (uint64_t)a->kv_groups * per_group;
}

/* Quantizes rows [n][stride] of one KV head (columns from col) into the
 * head's codes and, when dynamic, its scales. */
static void store_rows(flx_accel *a, flx_attention_scratch *s, int8_t *codes, float *scales, float *offsets,
                       float static_scale, int pos, int n, const float *x, int stride, int col) {
    const flx_qmodel *qm = a->qm;
    int head_dim = qm->config.head_dim;
    for (int t = 0; t < n; t++) {
        const float *row = x + (long)t * stride + col;
        if (qm->kv.dynamic)
            flx_quant_kv_groups(row, head_dim, qm->kv.group_size, qm->kv.bits, qm->kv.asymmetric, qm->kv.clip,
                                s->kv_rows[t], s->kv_scales[t], s->kv_offsets[t]);
        else
            flx_quant_static_i8(row, head_dim, static_scale, s->kv_rows[t]);
    }
    flx_kv_write(codes, pos, n, head_dim, (const int8_t(*)[FLX_MAX_HEAD_DIM])s->kv_rows);
    if (qm->kv.dynamic) {
        flx_kv_write_scales(scales, pos, n, a->kv_groups, (const float(*)[FLX_MAX_HEAD_DIM])s->kv_scales);
        flx_kv_write_scales(offsets, pos, n, a->kv_groups, (const float(*)[FLX_MAX_HEAD_DIM])s->kv_offsets);
    }
}

void flx_accel_store_kv(flx_accel *a, flx_attention_scratch *s, int layer, int pos, int n, const float *k,
                        const float *v) {
    const flx_config *c = &a->qm->config;
    const flx_qlayer *ql = &a->qm->layers[layer];
    int kv_dim = c->n_kv_heads * c->head_dim;
    for (int h = 0; h < c->n_kv_heads; h++) {
        long head = flx_kv_offset(layer, h, 0, c->n_kv_heads, a->max_seq, c->head_dim);
        long head_scales = flx_kv_offset(layer, h, 0, c->n_kv_heads, a->max_seq, a->kv_groups);
        float *ks = a->k_scales ? a->k_scales + head_scales : NULL;
        float *vs = a->v_scales ? a->v_scales + head_scales : NULL;
        float *kz = a->k_offsets ? a->k_offsets + head_scales : NULL;
        float *vz = a->v_offsets ? a->v_offsets + head_scales : NULL;
        store_rows(a, s, a->k_cache + head, ks, kz, ql->k_scale[h], pos, n, k, kv_dim, h * c->head_dim);
        store_rows(a, s, a->v_cache + head, vs, vz, ql->v_scale[h], pos, n, v, kv_dim, h * c->head_dim);
    }
}

void flx_accel_attention_head(flx_accel *a, flx_attention_scratch *s, int layer, int h,
                              const float *q_rows, int q_stride, int n_q, int pos0, int kp, int vp,
                              float *out_rows, int out_stride) {
    const flx_qmodel *qm = a->qm;
    const flx_config *c = &qm->config;
    const flx_qlayer *ql = &qm->layers[layer];
    int head_dim = c->head_dim;
    int kv_head = h / (c->n_heads / c->n_kv_heads);
    long head = flx_kv_offset(layer, kv_head, 0, c->n_kv_heads, a->max_seq, head_dim);
    int32_t q_pos[FLX_MAX_TP];
    for (int t = 0; t < n_q; t++) {
        flx_quant_static_i8(q_rows + (long)t * q_stride, head_dim, ql->q_scale[h], s->q8[t]);
        q_pos[t] = pos0 + t;
    }
    int n_keys = pos0 + n_q;
    const int8_t(*q8)[FLX_MAX_HEAD_DIM] = (const int8_t(*)[FLX_MAX_HEAD_DIM])s->q8;
    const uint8_t(*probs)[FLX_MAX_SEQ] = (const uint8_t(*)[FLX_MAX_SEQ])s->probs;
    long head_scales = flx_kv_offset(layer, kv_head, 0, c->n_kv_heads, a->max_seq, a->kv_groups);

    /* Scores over the cached keys: per-key group scales when dynamic. */
    if (qm->kv.dynamic) {
        float q_scale = ql->q_scale[h] / sqrtf((float)head_dim);
        flx_attn_qk_grouped(q8, n_q, q_pos, a->k_cache + head, a->k_scales + head_scales, a->k_offsets + head_scales,
                            n_keys, head_dim, qm->kv.group_size, kp, q_scale, s->scores);
    } else {
        float score_scale = (ql->q_scale[h] * ql->k_scale[kv_head]) / sqrtf((float)head_dim);
        flx_attn_qk(q8, n_q, q_pos, a->k_cache + head, n_keys, head_dim, kp, score_scale, s->scores);
    }

    /* Softmax and UINT8 probabilities, then AV. */
    flx_softmax_rows(s->scores, n_q, n_keys);
    for (int t = 0; t < n_q; t++) flx_quant_prob_u8(s->scores[t], n_keys, ql->prob_scale, s->probs[t]);
    if (qm->kv.dynamic) {
        flx_attn_av_grouped(probs, n_q, a->v_cache + head, a->v_scales + head_scales, a->v_offsets + head_scales,
                            n_keys, head_dim, qm->kv.group_size, vp, ql->prob_scale, s->out);
    } else {
        float out_scale = ql->prob_scale * ql->v_scale[kv_head];
        flx_attn_av(probs, n_q, a->v_cache + head, n_keys, head_dim, vp, out_scale, s->out);
    }
    for (int t = 0; t < n_q; t++)
        for (int d = 0; d < head_dim; d++) out_rows[(long)t * out_stride + d] = s->out[t][d];
}
