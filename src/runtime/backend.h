/* The model a command runs on: the float reference, the fake-quant float
 * model of a quantized artifact, or the accelerator engines simulating it. */
#ifndef FLEXLLM_RUNTIME_BACKEND_H
#define FLEXLLM_RUNTIME_BACKEND_H

#include <stdint.h>
#include <stdio.h>

#include "engines/accel.h"
#include "modelio/model.h"
#include "quant/fakequant.h"
#include "quant/qmodel.h"
#include "reference/forward.h"

typedef enum flx_engine_kind {
    FLX_ENGINE_REFERENCE,
    FLX_ENGINE_FAKEQUANT,
    FLX_ENGINE_ACCEL,
} flx_engine_kind;

typedef struct flx_backend {
    flx_engine_kind kind;
    const flx_model *model;   /* reference */
    flx_qmodel qm;            /* fakequant, accel */
    flx_state ref;
    flx_fakequant_state fq;
    flx_accel accel;
    flx_accel_config config;
    int vocab_size;
    int context_length;
    char source_model[512];   /* fakequant, accel: the float checkpoint the artifact records */
} flx_backend;

/* Parses "reference", "fakequant" or "accel"; returns -1 otherwise. */
int flx_engine_parse(const char *name, flx_engine_kind *kind);
const char *flx_engine_name(flx_engine_kind kind);

/* Opens the backend: the float model for reference (model must be loaded),
 * else the artifact at quantized_path with the accelerator configuration
 * config_name (accel only). max_seq positions, max_batch tokens per call. */
int flx_backend_open(flx_backend *b, flx_engine_kind kind, const flx_model *model,
                     const char *quantized_path, const char *config_name, int max_seq, int max_batch,
                     flx_error *err);
void flx_backend_close(flx_backend *b);

/* Processes a prompt from position 0 and writes the logits of its last
 * token. The accelerator runs tokens 0..n-2 through the prefill engine and
 * hands the KV cache to the decode engine for token n-1. */
int flx_backend_prompt(flx_backend *b, const int32_t *tokens, int n, float *logits, flx_error *err);

/* One decode step at position pos. */
int flx_backend_step(flx_backend *b, int32_t token, int pos, float *logits, flx_error *err);

/* Logits of every token of a window evaluated from position 0, [n][vocab]. */
int flx_backend_window(flx_backend *b, const int32_t *tokens, int n, float *logits, flx_error *err);

/* Prints the accelerator's counters (no-op for the float backends). */
void flx_backend_print_stats(const flx_backend *b, FILE *out);

#endif
