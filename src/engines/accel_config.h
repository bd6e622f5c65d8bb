/* Parallelism of the two engines. Named configurations (u280-ref and
 * smaller ones for tests) or a key = value file. */
#ifndef FLEXLLM_ENGINES_ACCEL_CONFIG_H
#define FLEXLLM_ENGINES_ACCEL_CONFIG_H

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

typedef struct flx_accel_config {
    char name[64];
    flx_prefill_config prefill;
    flx_decode_config decode;
} flx_accel_config;

/* Looks up a named configuration, or reads a file of "key = value" lines
 * (prefill.tp, prefill.wp_qkvo, prefill.wp_ffn, prefill.ffn_blocks,
 * prefill.kp, prefill.vp, decode.bp, decode.hp, decode.wp, decode.kp,
 * decode.vp; '#' starts a comment) starting from u280-ref. */
int flx_accel_config_get(const char *name_or_path, flx_accel_config *cfg, flx_error *err);

/* Checks every value against the kernel limits and lane-pairing rules. */
int flx_accel_config_validate(const flx_accel_config *cfg, flx_error *err);

/* Names of the built-in configurations, NULL-terminated. */
extern const char *const flx_accel_config_names[];

#endif
