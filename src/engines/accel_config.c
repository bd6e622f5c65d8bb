#include "engines/accel_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/limits.h"

typedef struct named_config {
    const char *name;
    flx_prefill_config prefill;
    flx_decode_config decode;
    flx_hbm_config hbm;
} named_config;

#define HBM_CH(i) (1ull << (i))
#define HBM_RANGE(first, last) (((2ull << (last)) - 1) & ~((1ull << (first)) - 1))

/* u280-ref is the deployed "mem_opt" build of the FlexLLM reference design
 * for Llama-3.2-1B on the Alveo U280; u280-base its first build. Their HBM
 * maps are the reference's Vitis connectivity files: mem_opt keeps the K
 * and V caches behind the weights in the 16 decode weight channels. The
 * small ones exercise uneven tiling in tests. */
static const named_config named[] = {
    {"u280-ref", {8, 24, 96, 3, 16, 16}, {16, 8, 64, 32, 32},
     {HBM_CH(19) | HBM_CH(21), HBM_RANGE(1, 3) | HBM_RANGE(5, 7) | HBM_RANGE(9, 11), HBM_RANGE(23, 24),
      HBM_CH(4) | HBM_CH(8) | HBM_CH(12) | HBM_CH(14) | HBM_CH(16) | HBM_CH(18) | HBM_CH(20) | HBM_CH(22),
      HBM_RANGE(5, 12) | HBM_RANGE(16, 23), HBM_RANGE(5, 12) | HBM_RANGE(16, 23),
      HBM_CH(0) | HBM_CH(14) | HBM_CH(24)}},
    {"u280-base", {8, 16, 64, 2, 16, 16}, {8, 4, 64, 32, 32},
     {HBM_CH(19) | HBM_CH(21), HBM_CH(3) | HBM_CH(5) | HBM_CH(7), HBM_RANGE(23, 24),
      HBM_CH(2) | HBM_CH(4) | HBM_CH(6) | HBM_CH(8) | HBM_CH(16) | HBM_CH(18) | HBM_CH(20) | HBM_CH(22),
      HBM_RANGE(1, 8), HBM_RANGE(16, 19) | HBM_RANGE(24, 27), HBM_CH(0) | HBM_CH(9) | HBM_CH(28)}},
    {"v80-proj", {16, 32, 128, 4, 32, 32}, {32, 8, 64, 32, 32}, {0}},
    {"tiny", {2, 2, 6, 3, 3, 3}, {3, 1, 2, 5, 3}, {0}},
    {"small", {5, 8, 12, 2, 4, 6}, {4, 2, 16, 8, 4}, {0}},
};

const char *const flx_accel_config_names[] = {"u280-ref", "u280-base", "v80-proj", "tiny", "small", NULL};

int flx_accel_config_validate(const flx_accel_config *c, flx_error *err) {
    const flx_prefill_config *p = &c->prefill;
    const flx_decode_config *d = &c->decode;
    struct {
        const char *key;
        int value, max;
    } limits[] = {
        {"prefill.tp", p->tp, FLX_MAX_TP},       {"prefill.wp_qkvo", p->wp_qkvo, FLX_MAX_WP},
        {"prefill.wp_ffn", p->wp_ffn, FLX_MAX_WP}, {"prefill.ffn_blocks", p->ffn_blocks, FLX_MAX_BLOCKS},
        {"prefill.kp", p->kp, FLX_MAX_KP},       {"prefill.vp", p->vp, FLX_MAX_VP},
        {"decode.bp", d->bp, FLX_MAX_BP},        {"decode.hp", d->hp, FLX_MAX_HP},
        {"decode.wp", d->wp, FLX_MAX_WP},        {"decode.kp", d->kp, FLX_MAX_KP},
        {"decode.vp", d->vp, FLX_MAX_VP},
    };
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++)
        if (limits[i].value < 1 || limits[i].value > limits[i].max)
            return flx_fail(err, "configuration %s: %s = %d is outside 1..%d", c->name, limits[i].key,
                            limits[i].value, limits[i].max);
    /* 4-bit words pack two lanes per byte, so every array has an even lane count. */
    if (p->wp_qkvo % 2 || d->wp % 2)
        return flx_fail(err, "configuration %s: weight lanes must be even (prefill.wp_qkvo = %d, decode.wp = %d)",
                        c->name, p->wp_qkvo, d->wp);
    if (p->wp_ffn % p->ffn_blocks || (p->wp_ffn / p->ffn_blocks) % 2)
        return flx_fail(err,
                        "configuration %s: prefill.wp_ffn = %d must split into %d blocks of an even "
                        "number of lanes",
                        c->name, p->wp_ffn, p->ffn_blocks);
    return 0;
}

static int set_key(flx_accel_config *c, const char *key, int value) {
    struct {
        const char *key;
        int *field;
    } keys[] = {
        {"prefill.tp", &c->prefill.tp},         {"prefill.wp_qkvo", &c->prefill.wp_qkvo},
        {"prefill.wp_ffn", &c->prefill.wp_ffn}, {"prefill.ffn_blocks", &c->prefill.ffn_blocks},
        {"prefill.kp", &c->prefill.kp},         {"prefill.vp", &c->prefill.vp},
        {"decode.bp", &c->decode.bp},           {"decode.hp", &c->decode.hp},
        {"decode.wp", &c->decode.wp},           {"decode.kp", &c->decode.kp},
        {"decode.vp", &c->decode.vp},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (!strcmp(key, keys[i].key)) {
            *keys[i].field = value;
            return 0;
        }
    return -1;
}

static uint64_t *hbm_field(flx_accel_config *c, const char *key) {
    struct {
        const char *key;
        uint64_t *field;
    } keys[] = {
        {"hbm.prefill.qkvo", &c->hbm.prefill_qkvo},     {"hbm.prefill.ffn", &c->hbm.prefill_ffn},
        {"hbm.prefill.kv", &c->hbm.prefill_kv},         {"hbm.prefill.aux", &c->hbm.prefill_aux},
        {"hbm.decode.weights", &c->hbm.decode_weights}, {"hbm.decode.kv", &c->hbm.decode_kv},
        {"hbm.decode.aux", &c->hbm.decode_aux},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (!strcmp(key, keys[i].key)) return keys[i].field;
    return NULL;
}

int flx_hbm_parse_channels(const char *text, uint64_t *mask) {
    if (!strcmp(text, "auto")) {
        *mask = 0;
        return 0;
    }
    uint64_t m = 0;
    const char *p = text;
    for (;;) {
        char *end = NULL;
        if (*p < '0' || *p > '9') return -1;
        long first = strtol(p, &end, 10), last = first;
        p = end;
        if (*p == '-') {
            if (p[1] < '0' || p[1] > '9') return -1;
            last = strtol(p + 1, &end, 10);
            p = end;
        }
        if (first > FLX_HBM_MAX_CHANNEL || last > FLX_HBM_MAX_CHANNEL || last < first) return -1;
        for (long ch = first; ch <= last; ch++) m |= 1ull << ch;
        if (*p == '\0') break;
        if (*p++ != ',') return -1;
    }
    *mask = m;
    return 0;
}

void flx_hbm_format_channels(uint64_t mask, char *out, size_t out_size) {
    size_t used = 0;
    out[0] = '\0';
    if (mask == 0) {
        snprintf(out, out_size, "auto");
        return;
    }
    for (int ch = 0; ch <= FLX_HBM_MAX_CHANNEL; ch++) {
        if (!(mask >> ch & 1)) continue;
        int last = ch;
        while (last < FLX_HBM_MAX_CHANNEL && (mask >> (last + 1) & 1)) last++;
        int n = last == ch ? snprintf(out + used, out_size - used, "%s%d", used ? "," : "", ch)
                           : snprintf(out + used, out_size - used, "%s%d-%d", used ? "," : "", ch, last);
        if (n < 0 || (size_t)n >= out_size - used) return;
        used += (size_t)n;
        ch = last;
    }
}

static int read_config_file(const char *path, flx_accel_config *c, flx_error *err) {
    FILE *f = fopen(path, "r");
    if (!f)
        return flx_fail(err, "'%s' is neither a configuration name (u280-ref, u280-base, v80-proj, tiny, small) nor a readable file",
                        path);
    char line[256];
    int line_no = 0;
    while (fgets(line, sizeof line, f)) {
        line_no++;
        char *hash = strchr(line, '#');
        if (hash) *hash = '\0';
        char key[64];
        char value_text[64];
        int fields = sscanf(line, " %63[a-z_.] = %63s", key, value_text);
        if (fields <= 0) {
            char probe[2];
            if (sscanf(line, " %1s", probe) != 1) continue; /* blank line */
        }
        uint64_t *channels = fields == 2 ? hbm_field(c, key) : NULL;
        if (channels) {
            if (flx_hbm_parse_channels(value_text, channels) != 0) {
                fclose(f);
                return flx_fail(err,
                                "%s:%d: invalid channel list '%s' for %s: expected channels 0..%d such as "
                                "5-12,16-23, or auto",
                                path, line_no, value_text, key, FLX_HBM_MAX_CHANNEL);
            }
            continue;
        }
        char *end = NULL;
        long value = fields == 2 ? strtol(value_text, &end, 10) : 0;
        if (fields != 2 || *end != '\0' || value < 1 || value > 1 << 20) {
            fclose(f);
            return flx_fail(err, "%s:%d: expected 'key = positive integer'", path, line_no);
        }
        if (set_key(c, key, (int)value) != 0) {
            fclose(f);
            return flx_fail(err, "%s:%d: unknown key '%s'", path, line_no, key);
        }
    }
    fclose(f);
    return 0;
}

int flx_accel_config_get(const char *name_or_path, flx_accel_config *cfg, flx_error *err) {
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
        if (!strcmp(name_or_path, named[i].name)) {
            snprintf(cfg->name, sizeof cfg->name, "%s", named[i].name);
            cfg->prefill = named[i].prefill;
            cfg->decode = named[i].decode;
            cfg->hbm = named[i].hbm;
            return flx_accel_config_validate(cfg, err);
        }
    cfg->prefill = named[0].prefill;
    cfg->decode = named[0].decode;
    cfg->hbm = named[0].hbm;
    snprintf(cfg->name, sizeof cfg->name, "%s", name_or_path);
    if (read_config_file(name_or_path, cfg, err) != 0) return -1;
    return flx_accel_config_validate(cfg, err);
}

void flx_accel_config_write(const flx_accel_config *c, FILE *out) {
    const flx_prefill_config *p = &c->prefill;
    const flx_decode_config *d = &c->decode;
    fprintf(out, "# accelerator configuration %s\n", c->name);
    fprintf(out, "prefill.tp = %d\nprefill.wp_qkvo = %d\nprefill.wp_ffn = %d\nprefill.ffn_blocks = %d\n", p->tp,
            p->wp_qkvo, p->wp_ffn, p->ffn_blocks);
    fprintf(out, "prefill.kp = %d\nprefill.vp = %d\n", p->kp, p->vp);
    fprintf(out, "decode.bp = %d\ndecode.hp = %d\ndecode.wp = %d\ndecode.kp = %d\ndecode.vp = %d\n", d->bp, d->hp,
            d->wp, d->kp, d->vp);
    const struct {
        const char *key;
        uint64_t mask;
    } hbm[] = {
        {"hbm.prefill.qkvo", c->hbm.prefill_qkvo},     {"hbm.prefill.ffn", c->hbm.prefill_ffn},
        {"hbm.prefill.kv", c->hbm.prefill_kv},         {"hbm.prefill.aux", c->hbm.prefill_aux},
        {"hbm.decode.weights", c->hbm.decode_weights}, {"hbm.decode.kv", c->hbm.decode_kv},
        {"hbm.decode.aux", c->hbm.decode_aux},
    };
    for (size_t i = 0; i < sizeof hbm / sizeof hbm[0]; i++) {
        char list[256];
        flx_hbm_format_channels(hbm[i].mask, list, sizeof list);
        fprintf(out, "%s = %s\n", hbm[i].key, list);
    }
}

int flx_accel_config_save(const flx_accel_config *cfg, const char *path, flx_error *err) {
    FILE *f = fopen(path, "w");
    if (!f) return flx_fail(err, "cannot write the configuration file '%s': check the folder exists and is writable", path);
    flx_accel_config_write(cfg, f);
    if (fclose(f) != 0) return flx_fail(err, "writing the configuration file '%s' failed (disk full?)", path);
    return 0;
}
