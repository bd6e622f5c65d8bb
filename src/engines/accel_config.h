/* Parallelism of the two engines. Named configurations (u280-ref and
 * smaller ones for tests) or a key = value file. */
#ifndef FLEXLLM_ENGINES_ACCEL_CONFIG_H
#define FLEXLLM_ENGINES_ACCEL_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/error.h"

typedef struct flx_prefill_config {
    int tp;          /* tokens per block (rows of every systolic array) */
    int wp_qkvo;     /* weight lanes of the Q/K/V/O linear arrays */
    int wp_ffn;      /* weight lanes of the gate/up/down arrays */
    int ffn_blocks;  /* weight streams (HBM channels) the FFN lanes are split over */
    int kp;          /* keys per QK tile */
    int vp;          /* head-dim lanes of the AV array */
} flx_prefill_config;

typedef struct flx_decode_config {
    int bp;          /* linear arrays, each owning a contiguous slice of output rows */
    int hp;          /* attention head lanes */
    int wp;          /* weight lanes per array */
    int kp;          /* keys per QK tile */
    int vp;          /* head-dim lanes of the AV array */
} flx_decode_config;

/* HBM pseudo-channels of each group of memory streams, as bit masks (bit i
 * = HBM[i]); 0 leaves the choice to the performance model. A group's
 * streams take its channels in ascending order: with at least as many
 * channels as streams each stream is split evenly over its own channels,
 * otherwise neighbouring streams share one. The engines ignore these; the
 * performance model bounds every stream by its channels' bandwidth. */
typedef struct flx_hbm_config {
    uint64_t prefill_qkvo;   /* the K-then-Q and V-then-O weight streams */
    uint64_t prefill_ffn;    /* gate, up and down weight blocks, in that order */
    uint64_t prefill_kv;     /* K cache, then V cache */
    uint64_t prefill_aux;    /* activations, scales and norm gains */
    uint64_t decode_weights; /* the BP array streams */
    uint64_t decode_kv;      /* K caches on the first half, V caches on the second */
    uint64_t decode_aux;     /* activations, scales and norm gains */
} flx_hbm_config;

/* Highest HBM channel index a mask can name. */
#define FLX_HBM_MAX_CHANNEL 63

typedef struct flx_accel_config {
    char name[64];
    flx_prefill_config prefill;
    flx_decode_config decode;
    flx_hbm_config hbm;
} flx_accel_config;

/* Looks up a named configuration, or reads a file of "key = value" lines
 * (prefill.tp, prefill.wp_qkvo, prefill.wp_ffn, prefill.ffn_blocks,
 * prefill.kp, prefill.vp, decode.bp, decode.hp, decode.wp, decode.kp,
 * decode.vp; '#' starts a comment) starting from u280-ref. The HBM keys
 * (hbm.prefill.qkvo, hbm.prefill.ffn, hbm.prefill.kv, hbm.prefill.aux,
 * hbm.decode.weights, hbm.decode.kv, hbm.decode.aux) take a channel list
 * such as "5-12,16-23", or "auto". */
int flx_accel_config_get(const char *name_or_path, flx_accel_config *cfg, flx_error *err);

/* Writes cfg as a file that flx_accel_config_get reads back to the same
 * values. */
int flx_accel_config_save(const flx_accel_config *cfg, const char *path, flx_error *err);
void flx_accel_config_write(const flx_accel_config *cfg, FILE *out);

/* Parses a channel list ("3", "5-12,16-23" or "auto" for 0) into a mask.
 * Returns -1 for any other text or a channel above FLX_HBM_MAX_CHANNEL. */
int flx_hbm_parse_channels(const char *text, uint64_t *mask);
/* Formats a mask as a channel list ("auto" for 0). */
void flx_hbm_format_channels(uint64_t mask, char *out, size_t out_size);

/* Checks every value against the kernel limits and lane-pairing rules. */
int flx_accel_config_validate(const flx_accel_config *cfg, flx_error *err);

/* Names of the built-in configurations, NULL-terminated. */
extern const char *const flx_accel_config_names[];

#endif
