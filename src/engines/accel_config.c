#include "engines/accel_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/limits.h"

typedef struct named_config {
    const char *name;
    flx_prefill_config prefill;
    flx_decode_config decode;
} named_config;

/* u280-ref is the deployed "mem_opt" build of the FlexLLM reference design
 * for Llama-3.2-1B on the Alveo U280; u280-base its first build. The small
 * ones exercise uneven tiling in tests. */
static const named_config named[] = {
    {"u280-ref", {8, 24, 96, 3, 16, 16}, {16, 8, 64, 32, 32}},
    {"u280-base", {8, 16, 64, 2, 16, 16}, {8, 4, 64, 32, 32}},
    {"v80-proj", {16, 32, 128, 4, 32, 32}, {32, 8, 64, 32, 32}},
    {"tiny", {2, 2, 6, 3, 3, 3}, {3, 1, 2, 5, 3}},
    {"small", {5, 8, 12, 2, 4, 6}, {4, 2, 16, 8, 4}},
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
            return flx_accel_config_validate(cfg, err);
        }
    cfg->prefill = named[0].prefill;
    cfg->decode = named[0].decode;
    snprintf(cfg->name, sizeof cfg->name, "%s", name_or_path);
    if (read_config_file(name_or_path, cfg, err) != 0) return -1;
    return flx_accel_config_validate(cfg, err);
}
