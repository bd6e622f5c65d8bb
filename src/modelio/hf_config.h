/* Hugging Face Llama checkpoint conventions: the config.json that describes
 * the model shape, and the row order of the Q and K projections. */
#ifndef FLEXLLM_MODELIO_HF_CONFIG_H
#define FLEXLLM_MODELIO_HF_CONFIG_H

#include <stddef.h>

#include "common/error.h"
#include "modelio/model.h"

/* Parses the text of a config.json (len bytes, no NUL needed) into c and
 * validates it with flx_config_validate. Accepts architectures containing
 * "LlamaForCausalLM" or model_type "llama". Required keys: hidden_size,
 * num_hidden_layers, num_attention_heads, intermediate_size, vocab_size,
 * max_position_embeddings, rms_norm_eps. Defaults: num_key_value_heads =
 * num_attention_heads, head_dim = hidden_size / num_attention_heads,
 * rope_theta = 10000, tie_word_embeddings = false, no rope_scaling. path only
 * names the file in messages. */
int flx_hf_config_parse(flx_config *c, const char *json, size_t len, const char *path,
                        flx_error *err);

/* Reads and parses a config.json file. */
int flx_hf_config_load(flx_config *c, const char *path, flx_error *err);

/* Maps a row of the Q or K projection in the interleaved RoPE layout of
 * llama2.c and GGUF to the row of the Hugging Face layout that contains the
 * same weights. Interleaved heads pair dimension 2i with 2i+1, while Hugging
 * Face's rotate-half heads pair dimension i with i + head_dim/2. So within
 * each head, row 2i comes from row i and row 2i+1 from row i + head_dim/2.
 * head_dim must be even. */
static inline int flx_hf_qk_source_row(int row, int head_dim) {
    int head = row / head_dim, j = row % head_dim;
    return head * head_dim + (j % 2 == 0 ? j / 2 : j / 2 + head_dim / 2);
}

#endif
