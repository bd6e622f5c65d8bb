/* The in-memory model description shared by every checkpoint format: the
 * Llama shape, RoPE settings and float32 weights. Loaders dequantize F16,
 * BF16, Q8_0 and Q4_0 to float32 and convert Q/K rows to one RoPE layout
 * (interleaved pairs, as llama2.c and GGUF use), so the forward pass and the
 * accelerator engines see a single convention. */
#ifndef FLEXLLM_MODELIO_MODEL_H
#define FLEXLLM_MODELIO_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/mapped_file.h"

typedef enum flx_rope_scaling_type {
    FLX_ROPE_SCALING_NONE = 0,
    FLX_ROPE_SCALING_LINEAR,
    FLX_ROPE_SCALING_LLAMA3,
} flx_rope_scaling_type;

typedef struct flx_rope_scaling {
    flx_rope_scaling_type type;
    float factor;                   /* e.g. 32 for Llama-3.2 */
    float low_freq_factor;          /* llama3: 1 */
    float high_freq_factor;         /* llama3: 4 */
    int original_context_length;    /* llama3: 8192 */
} flx_rope_scaling;

typedef struct flx_config {
    int dim;            /* model width (hidden size) */
    int n_layers;
    int n_heads;        /* query heads */
    int n_kv_heads;     /* key/value heads (GQA when < n_heads) */
    int head_dim;
    int ffn_dim;        /* SwiGLU inner width */
    int vocab_size;
    int context_length; /* maximum positions the model was built for */
    float norm_eps;     /* RMSNorm epsilon */
    float rope_theta;   /* RoPE base frequency */
    int rope_dim;       /* rotated dimensions per head (usually head_dim) */
    flx_rope_scaling rope_scaling;
    bool tied_embeddings; /* output projection shares token_embedding */
} flx_config;

typedef struct flx_layer_weights {
    const float *attn_norm; /* [dim] */
    const float *wq;        /* [n_heads*head_dim][dim] */
    const float *wk;        /* [n_kv_heads*head_dim][dim] */
    const float *wv;        /* [n_kv_heads*head_dim][dim] */
    const float *wo;        /* [dim][n_heads*head_dim] */
    const float *ffn_norm;  /* [dim] */
    const float *w_gate;    /* [ffn_dim][dim] */
    const float *w_up;      /* [ffn_dim][dim] */
    const float *w_down;    /* [dim][ffn_dim] */
} flx_layer_weights;

/* One tensor as stored in the checkpoint, for `flexllm inspect`. */
typedef struct flx_tensor_info {
    char name[96];
    char type[12];       /* "F32", "F16", "BF16", "Q8_0", "Q4_0" */
    int n_dims;
    int64_t shape[4];    /* outermost first, as PyTorch writes it */
    uint64_t offset;     /* byte offset in its file */
    uint64_t n_bytes;
} flx_tensor_info;

typedef struct flx_vocab flx_vocab;

typedef struct flx_model {
    flx_config config;
    const float *token_embedding;  /* [vocab_size][dim] */
    flx_layer_weights *layers;     /* [n_layers] */
    const float *output_norm;      /* [dim] */
    const float *output;           /* [vocab_size][dim]; == token_embedding when tied */
    const float *rope_freqs;       /* [rope_dim/2] per-frequency divisors, or NULL */

    char format[16];               /* "llama2.c", "gguf", "safetensors" */
    char path[512];
    flx_tensor_info *tensors;      /* [n_tensors] */
    int n_tensors;
    flx_vocab *vocab;              /* vocabulary stored with the weights, or NULL */

    /* Ownership: mapped files and heap blocks released by flx_model_free. */
    flx_mapped_file *files;        /* [n_files] */
    int n_files;
    void **owned;                  /* [n_owned] */
    int n_owned;
    int cap_owned;
} flx_model;

/* Loads a model, picking the format from the file contents: llama2.c .bin,
 * GGUF, a .safetensors file, a model.safetensors.index.json, or a folder
 * holding config.json with safetensors files. */
int flx_model_load(flx_model *model, const char *path, flx_error *err);
void flx_model_free(flx_model *model);

/* Format-specific loaders (flx_model_load picks one). */
int flx_model_load_llama2c(flx_model *model, const char *path, flx_error *err);
int flx_model_load_gguf(flx_model *model, const char *path, flx_error *err);
int flx_model_load_safetensors(flx_model *model, const char *path, flx_error *err);

/* Checks shape consistency: positive sizes, head_dim*n_heads, GQA
 * divisibility, even rope_dim, finite eps and theta. Names the file. */
int flx_config_validate(const flx_config *c, const char *path, flx_error *err);

/* Prints the description and tensor table to stdout. */
void flx_model_print(const flx_model *model);

/* Helpers for loaders. */
void *flx_model_alloc(flx_model *model, size_t size, flx_error *err);
int flx_model_add_tensor_info(flx_model *model, const flx_tensor_info *info, flx_error *err);

/* Parameter count of the float model (embedding, layers, norms, and the
 * output matrix unless tied). */
uint64_t flx_config_param_count(const flx_config *c);

#endif
