#include <math.h>

#include "kernels/sampler.h"

int flx_sample_topk_kernel(const float logits[FLX_MAX_VOCAB], int n, int k, float temperature,
                           float top_p, float r) {
    float best[FLX_MAX_TOPK];
    int ids[FLX_MAX_TOPK];
#pragma HLS ARRAY_PARTITION variable = best complete
#pragma HLS ARRAY_PARTITION variable = ids complete
    if (k > FLX_MAX_TOPK) k = FLX_MAX_TOPK;
    if (k < 1 || temperature <= 0.0f) k = 1;
    int kept = 0;

    /* Insertion into a sorted list of the k largest; a later equal logit
     * goes after the earlier one, so ties keep id order. */
scan_loop:
    for (int id = 0; id < n && id < FLX_MAX_VOCAB; id++) {
#pragma HLS PIPELINE II = 1
#pragma HLS loop_tripcount min = 512 max = 262144
        float v = logits[id];
        if (kept == k && !(v > best[k - 1])) continue;
        int slot = kept < k ? kept : k - 1;
    shift_loop:
        for (int j = FLX_MAX_TOPK - 1; j > 0; j--) {
#pragma HLS UNROLL
            if (j <= slot && best[j - 1] < v) {
                best[j] = best[j - 1];
                ids[j] = ids[j - 1];
                slot = j - 1;
            }
        }
        best[slot] = v;
        ids[slot] = id;
        if (kept < k) kept++;
    }
    if (kept == 1) return ids[0];

    /* Softmax over the candidates, then the nucleus cut. */
    float prob[FLX_MAX_TOPK];
    float sum = 0.0f;
softmax_loop:
    for (int j = 0; j < kept && j < FLX_MAX_TOPK; j++) {
#pragma HLS PIPELINE II = 1
        prob[j] = expf((best[j] - best[0]) / temperature);
        sum += prob[j];
    }
    int n_keep = kept;
    float mass = 0.0f;
nucleus_loop:
    for (int j = 0; j < kept && j < FLX_MAX_TOPK; j++) {
#pragma HLS PIPELINE II = 1
        mass += prob[j];
        if (mass >= top_p * sum && j + 1 < n_keep) n_keep = j + 1;
    }
    float kept_mass = 0.0f;
kept_loop:
    for (int j = 0; j < n_keep && j < FLX_MAX_TOPK; j++) {
#pragma HLS PIPELINE II = 1
        kept_mass += prob[j];
    }

    /* The first candidate whose cumulative mass exceeds r. */
    float target = r * kept_mass, cdf = 0.0f;
    int chosen = -1;
cdf_loop:
    for (int j = 0; j < n_keep && j < FLX_MAX_TOPK; j++) {
#pragma HLS PIPELINE II = 1
        cdf += prob[j];
        if (chosen < 0 && target < cdf) chosen = ids[j];
    }
    /* Rounding can leave target at the total mass: take the last candidate. */
    if (chosen < 0) chosen = ids[n_keep - 1];
    return chosen;
}
