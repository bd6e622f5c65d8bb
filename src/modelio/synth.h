/* Synthetic Llama checkpoints: a real model shape with deterministic
 * pseudo-random weights, written as GGUF, for running and timing full-size
 * models without downloading them. */
#ifndef FLEXLLM_MODELIO_SYNTH_H
#define FLEXLLM_MODELIO_SYNTH_H

#include <stdint.h>

#include "common/error.h"
#include "modelio/model.h"
#include "modelio/vocab.h"

typedef struct flx_synth_options {
    flx_config config;
    uint32_t type;          /* ggml type of the matrices: F32, F16, BF16, Q8_0 or Q4_0 */
    uint64_t seed;
    const char *name;       /* general.name */
    const flx_vocab *vocab; /* embedded when not NULL, with n_tokens == config.vocab_size */
} flx_synth_options;

/* Fills c with the shape of a named model ("llama-3.2-1b", ...). Returns
 * -1 for an unknown name. */
int flx_synth_preset(const char *arch, flx_config *c);
/* Comma-separated preset names, for help text. */
const char *flx_synth_preset_names(void);

/* Computes the rope_dim/2 RoPE frequency divisors of Llama 3 scaling:
 * frequency i of theta^(-2i/rope_dim) is divided by out[i]. */
void flx_llama3_rope_divisors(const flx_config *c, float *out);

/* The per-tensor seed, and the weight generator: a uniform value in
 * [-1, 1) from a counter-based hash of (key, index), so any element can be
 * computed independently of the others. */
uint64_t flx_synth_tensor_key(uint64_t seed, const char *name);
float flx_synth_uniform(uint64_t key, uint64_t index);
/* Half-width of the uniform weights of a matrix with rows of fan_in
 * values: standard deviation 0.5/sqrt(fan_in). */
float flx_synth_scale(uint64_t fan_in);

/* Checks the shape, the type (Q8_0 and Q4_0 need rows that are multiples
 * of 32) and that the vocabulary matches vocab_size. path labels messages. */
int flx_synth_check(const flx_synth_options *o, const char *path, flx_error *err);

/* Writes the GGUF file: llama.* keys as llama.cpp names them, norm gains of
 * 1, matrices uniform in +-flx_synth_scale(row length), rope_freqs.weight
 * for Llama 3 scaling, and the vocabulary if given. Writes to "PATH.partial"
 * and renames it when complete. */
int flx_synth_write(const flx_synth_options *o, const char *path, flx_error *err);

#endif
