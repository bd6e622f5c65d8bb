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
    /* Residual-stream channels with large values, as trained Llama models
     * have them: 0 (the default) writes none, else 1..dim channels. */
    int outlier_channels;
    float outlier_scale; /* > 0; their magnitude relative to the other channels */
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

/* Chooses the outlier channels from a hash of the seed: distinct channels
 * in [0, dim), in increasing order, in channels[0..outlier_channels-1].
 * channels needs room for dim values; the rest is overwritten. */
void flx_synth_outlier_list(const flx_synth_options *o, uint32_t *channels);

/* Checks the shape, the type (Q8_0 and Q4_0 need rows that are multiples
 * of 32) and that the vocabulary matches vocab_size. path labels messages. */
int flx_synth_check(const flx_synth_options *o, const char *path, flx_error *err);

/* Writes the GGUF file: llama.* keys as llama.cpp names them, norm gains of
 * 1, matrices uniform in +-flx_synth_scale(row length), rope_freqs.weight
 * for Llama 3 scaling, and the vocabulary if given. Writes to "PATH.partial"
 * and renames it when complete.
 *
 * With outlier channels, every write to the residual stream is
 * outlier_scale times larger in those channels: the token_embd.weight
 * columns and the attn_output / ffn_down rows of those channels are
 * multiplied by it, so every block's attn_norm and ffn_norm output, the
 * input of the linears, has those channels about outlier_scale times larger
 * than the rest. Their output_norm gains are 1/outlier_scale, which keeps
 * the LM head's input at the scale of the other channels. The file records
 * the channels and scale under flexllm.synth.outlier_channels (u32 array)
 * and flexllm.synth.outlier_scale (f32). */
int flx_synth_write(const flx_synth_options *o, const char *path, flx_error *err);

#endif
