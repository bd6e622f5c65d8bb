#include "perf/hbm_map.h"

#include <string.h>

int flx_hbm_count(uint64_t mask) {
    int n = 0;
    for (; mask; mask &= mask - 1) n++;
    return n;
}

/* Channel numbers of mask in ascending order; returns their count. */
static int channel_list(uint64_t mask, int *out) {
    int n = 0;
    for (int ch = 0; ch <= FLX_HBM_MAX_CHANNEL; ch++)
        if (mask >> ch & 1) out[n++] = ch;
    return n;
}

void flx_hbm_spread(uint64_t mask, int n_streams, const double *bytes, double *load) {
    int ch[FLX_HBM_MAX_CHANNEL + 1];
    int n = channel_list(mask, ch);
    if (n == 0 || n_streams <= 0) return;
    for (int i = 0; i < n_streams; i++) {
        if (n >= n_streams) {
            int first = i * n / n_streams, last = (i + 1) * n / n_streams;
            for (int k = first; k < last; k++) load[ch[k]] += bytes[i] / (last - first);
        } else {
            load[ch[(long)i * n / n_streams]] += bytes[i];
        }
    }
}

void flx_hbm_spread_even(uint64_t mask, double bytes, double *load) {
    int ch[FLX_HBM_MAX_CHANNEL + 1];
    int n = channel_list(mask, ch);
    for (int k = 0; k < n; k++) load[ch[k]] += bytes / n;
}

void flx_hbm_spread_half(uint64_t mask, int second_half, double bytes, double *load) {
    int ch[FLX_HBM_MAX_CHANNEL + 1];
    int n = channel_list(mask, ch);
    if (n == 0) return;
    if (n == 1) {
        load[ch[0]] += bytes;
        return;
    }
    int first = second_half ? n / 2 : 0, last = second_half ? n : n / 2;
    for (int k = first; k < last; k++) load[ch[k]] += bytes / (last - first);
}

double flx_hbm_channel_rate(const flx_device *dev, double clock_hz) {
    double rate = dev->hbm_channel_gbps * 1e9 * dev->port_efficiency;
    double port = dev->hbm_port_bytes * clock_hz;
    return port < rate ? port : rate;
}

/* Mask of count channels from next upward, wrapping around n_channels. */
static uint64_t take(int *next, int count, int n_channels) {
    uint64_t m = 0;
    for (int i = 0; i < count; i++) {
        m |= 1ull << (*next % n_channels);
        (*next)++;
    }
    return m;
}

int flx_hbm_resolve(const flx_device *dev, flx_accel_config *cfg, flx_error *err) {
    int n = dev->hbm_channels;
    flx_hbm_config *h = &cfg->hbm;
    /* Prefill: FFN blocks first, then the two QKVO streams, the caches and
     * two auxiliary channels. When the device runs out of channels, groups
     * wrap around and share them. */
    int next = 0;
    int ffn = 3 * cfg->prefill.ffn_blocks;
    if (!h->prefill_ffn) h->prefill_ffn = take(&next, ffn < n ? ffn : n, n);
    else next += ffn;
    if (!h->prefill_qkvo) h->prefill_qkvo = take(&next, 2, n);
    else next += 2;
    if (!h->prefill_kv) h->prefill_kv = take(&next, 2, n);
    else next += 2;
    if (!h->prefill_aux) h->prefill_aux = take(&next, 2, n);

    /* Decode: one channel per array while they last (one kept for the
     * auxiliary streams), K and V caches behind the weights. */
    int weights = cfg->decode.bp < n - 1 ? cfg->decode.bp : (n > 1 ? n - 1 : 1);
    next = 0;
    if (!h->decode_weights) h->decode_weights = take(&next, weights, n);
    if (!h->decode_kv) h->decode_kv = h->decode_weights;
    if (!h->decode_aux) {
        next = flx_hbm_count(h->decode_weights) % n;
        h->decode_aux = take(&next, 1, n);
    }

    const struct {
        const char *key;
        uint64_t mask;
    } groups[] = {
        {"hbm.prefill.qkvo", h->prefill_qkvo},     {"hbm.prefill.ffn", h->prefill_ffn},
        {"hbm.prefill.kv", h->prefill_kv},         {"hbm.prefill.aux", h->prefill_aux},
        {"hbm.decode.weights", h->decode_weights}, {"hbm.decode.kv", h->decode_kv},
        {"hbm.decode.aux", h->decode_aux},
    };
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++) {
        uint64_t outside = n >= 64 ? 0 : groups[i].mask >> n;
        if (outside) {
            int ch = n;
            while (!(outside & 1)) {
                outside >>= 1;
                ch++;
            }
            return flx_fail(err, "configuration %s: %s uses HBM channel %d, but %s has channels 0..%d", cfg->name,
                            groups[i].key, ch, dev->name, n - 1);
        }
    }
    return 0;
}
