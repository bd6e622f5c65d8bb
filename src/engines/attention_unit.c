/* The attention path of one query head, shared by both engines so that a
 * token gets the same arithmetic whichever engine processes it: static INT8
 * quantization of Q, QK^T with causal mask, softmax, UINT8 probabilities,
 * AV. */
#include <math.h>

#include "engines/accel.h"
#include "kernels/attention.h"
#include "kernels/kv_cache.h"
#include "kernels/quantize.h"

void flx_accel_attention_head(flx_accel *a, flx_attention_scratch *s, int layer, int h,
                              const float *q_rows, int q_stride, int n_q, int pos0, int kp, int vp,
                              float *out_rows, int out_stride) {
    const flx_config *c = &a->qm->config;
    const flx_qlayer *ql = &a->qm->layers[layer];
    int head_dim = c->head_dim;
    int kv_head = h / (c->n_heads / c->n_kv_heads);
    long head = flx_kv_offset(layer, kv_head, 0, c->n_kv_heads, a->max_seq, head_dim);
    int32_t q_pos[FLX_MAX_TP];
    for (int t = 0; t < n_q; t++) {
        flx_quant_static_i8(q_rows + (long)t * q_stride, head_dim, ql->q_scale[h], s->q8[t]);
        q_pos[t] = pos0 + t;
    }
    int n_keys = pos0 + n_q;
    float score_scale = (ql->q_scale[h] * ql->k_scale[kv_head]) / sqrtf((float)head_dim);
    flx_attn_qk((const int8_t(*)[FLX_MAX_HEAD_DIM])s->q8, n_q, q_pos, a->k_cache + head, n_keys, head_dim,
                kp, score_scale, s->scores);
    flx_softmax_rows(s->scores, n_q, n_keys);
    for (int t = 0; t < n_q; t++) flx_quant_prob_u8(s->scores[t], n_keys, ql->prob_scale, s->probs[t]);
    float out_scale = ql->prob_scale * ql->v_scale[kv_head];
    flx_attn_av((const uint8_t(*)[FLX_MAX_SEQ])s->probs, n_q, a->v_cache + head, n_keys, head_dim, vp,
                out_scale, s->out);
    for (int t = 0; t < n_q; t++)
        for (int d = 0; d < head_dim; d++) out_rows[(long)t * out_stride + d] = s->out[t][d];
}
