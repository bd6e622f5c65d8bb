#include "modelio/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "modelio/vocab.h"

void *flx_model_alloc(flx_model *model, size_t size, flx_error *err) {
    if (model->n_owned == model->cap_owned) {
        int cap = model->cap_owned ? model->cap_owned * 2 : 16;
        void **grown = realloc(model->owned, (size_t)cap * sizeof *grown);
        if (!grown) {
            flx_fail(err, "out of memory");
            return NULL;
        }
        model->owned = grown;
        model->cap_owned = cap;
    }
    void *p = flx_malloc(size, err);
    if (p) model->owned[model->n_owned++] = p;
    return p;
}

int flx_model_add_tensor_info(flx_model *model, const flx_tensor_info *info, flx_error *err) {
    flx_tensor_info *grown = realloc(model->tensors, (size_t)(model->n_tensors + 1) * sizeof *grown);
    if (!grown) return flx_fail(err, "out of memory");
    model->tensors = grown;
    model->tensors[model->n_tensors++] = *info;
    return 0;
}

void flx_model_free(flx_model *model) {
    if (!model) return;
    for (int i = 0; i < model->n_owned; i++) free(model->owned[i]);
    free(model->owned);
    for (int i = 0; i < model->n_files; i++) flx_unmap_file(&model->files[i]);
    free(model->files);
    free(model->layers);
    free(model->tensors);
    if (model->vocab) flx_vocab_free(model->vocab);
    memset(model, 0, sizeof *model);
}

void flx_vocab_free(flx_vocab *vocab) {
    if (!vocab) return;
    for (int i = 0; i < vocab->n_tokens; i++) free(vocab->tokens ? vocab->tokens[i] : NULL);
    free(vocab->tokens);
    free(vocab->scores);
    free(vocab->types);
    for (int i = 0; i < vocab->n_merges; i++) free(vocab->merges[i]);
    free(vocab->merges);
    free(vocab);
}

/* Sizes above these are rejected as corrupt rather than allocated. */
#define FLX_MAX_DIM (1 << 16)
#define FLX_MAX_LAYERS 1024
#define FLX_MAX_VOCAB (1 << 22)

int flx_config_validate(const flx_config *c, const char *path, flx_error *err) {
    struct {
        const char *name;
        long long value, max;
    } sizes[] = {
        {"dim", c->dim, FLX_MAX_DIM},           {"n_layers", c->n_layers, FLX_MAX_LAYERS},
        {"n_heads", c->n_heads, FLX_MAX_DIM},   {"n_kv_heads", c->n_kv_heads, FLX_MAX_DIM},
        {"head_dim", c->head_dim, FLX_MAX_DIM}, {"ffn_dim", c->ffn_dim, 1 << 20},
        {"vocab_size", c->vocab_size, FLX_MAX_VOCAB},
        {"context_length", c->context_length, 1 << 24},
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (sizes[i].value <= 0 || sizes[i].value > sizes[i].max)
            return flx_fail(err, "%s: invalid model shape: %s = %lld (expected 1 to %lld)", path,
                            sizes[i].name, sizes[i].value, sizes[i].max);
    if (c->n_heads % c->n_kv_heads != 0)
        return flx_fail(err,
                        "%s: inconsistent model shape: n_heads = %d is not a multiple of "
                        "n_kv_heads = %d",
                        path, c->n_heads, c->n_kv_heads);
    if (c->rope_dim <= 0 || c->rope_dim > c->head_dim || c->rope_dim % 2 != 0)
        return flx_fail(err, "%s: invalid RoPE dimension count %d for head_dim %d (expected an even number up to head_dim)",
                        path, c->rope_dim, c->head_dim);
    if (!(c->norm_eps > 0.0f) || !isfinite(c->norm_eps) || c->norm_eps > 1.0f)
        return flx_fail(err, "%s: invalid RMSNorm epsilon %g (expected a value in (0, 1])", path,
                        (double)c->norm_eps);
    if (!(c->rope_theta > 0.0f) || !isfinite(c->rope_theta))
        return flx_fail(err, "%s: invalid RoPE theta %g (expected a positive number)", path,
                        (double)c->rope_theta);
    if (c->rope_scaling.type == FLX_ROPE_SCALING_LLAMA3) {
        const flx_rope_scaling *s = &c->rope_scaling;
        if (!(s->factor >= 1.0f) || !(s->low_freq_factor > 0.0f) ||
            !(s->high_freq_factor > s->low_freq_factor) || s->original_context_length <= 0)
            return flx_fail(err,
                            "%s: invalid llama3 RoPE scaling (factor %g, low_freq_factor %g, "
                            "high_freq_factor %g, original context %d)",
                            path, (double)s->factor, (double)s->low_freq_factor,
                            (double)s->high_freq_factor, s->original_context_length);
    } else if (c->rope_scaling.type == FLX_ROPE_SCALING_LINEAR && !(c->rope_scaling.factor > 0.0f)) {
        return flx_fail(err, "%s: invalid linear RoPE scaling factor %g", path,
                        (double)c->rope_scaling.factor);
    }
    return 0;
}

uint64_t flx_config_param_count(const flx_config *c) {
    uint64_t d = (uint64_t)c->dim, q = (uint64_t)c->n_heads * c->head_dim,
             kv = (uint64_t)c->n_kv_heads * c->head_dim, f = (uint64_t)c->ffn_dim;
    uint64_t per_layer = 2 * d + d * q * 2 + d * kv * 2 + 3 * d * f;
    uint64_t total = (uint64_t)c->vocab_size * d + (uint64_t)c->n_layers * per_layer + d;
    if (!c->tied_embeddings) total += (uint64_t)c->vocab_size * d;
    return total;
}

static int has_suffix(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

int flx_model_load(flx_model *model, const char *path, flx_error *err) {
    memset(model, 0, sizeof *model);
    struct stat st;
    if (stat(path, &st) != 0) return flx_fail(err, "%s: model file not found", path);
    if (S_ISDIR(st.st_mode) || has_suffix(path, ".safetensors") || has_suffix(path, ".json"))
        return flx_model_load_safetensors(model, path, err);
    FILE *f = fopen(path, "rb");
    if (!f) return flx_fail(err, "%s: cannot open", path);
    unsigned char magic[4] = {0};
    size_t got = fread(magic, 1, 4, f);
    fclose(f);
    if (got == 4 && memcmp(magic, "GGML", 4) == 0)
        return flx_fail(err, "%s: old GGML/GGJT file; convert it to GGUF with llama.cpp", path);
    if ((got == 4 && memcmp(magic, "GGUF", 4) == 0) || has_suffix(path, ".gguf"))
        return flx_model_load_gguf(model, path, err);
    return flx_model_load_llama2c(model, path, err);
}

static const char *rope_scaling_name(flx_rope_scaling_type t) {
    static const char *names[] = {"none", "linear", "llama3"};
    return names[t];
}

void flx_model_print(const flx_model *model) {
    const flx_config *c = &model->config;
    printf("file            %s\n", model->path);
    printf("format          %s\n", model->format);
    printf("dim             %d\n", c->dim);
    printf("layers          %d\n", c->n_layers);
    printf("heads           %d\n", c->n_heads);
    printf("kv heads        %d\n", c->n_kv_heads);
    printf("head dim        %d\n", c->head_dim);
    printf("ffn dim         %d\n", c->ffn_dim);
    printf("vocab           %d\n", c->vocab_size);
    printf("context length  %d\n", c->context_length);
    printf("norm eps        %g\n", (double)c->norm_eps);
    printf("rope theta      %g\n", (double)c->rope_theta);
    printf("rope dims       %d\n", c->rope_dim);
    printf("rope scaling    %s", rope_scaling_name(c->rope_scaling.type));
    if (c->rope_scaling.type == FLX_ROPE_SCALING_LLAMA3)
        printf(" (factor %g, low_freq_factor %g, high_freq_factor %g, original context %d)",
               (double)c->rope_scaling.factor, (double)c->rope_scaling.low_freq_factor,
               (double)c->rope_scaling.high_freq_factor, c->rope_scaling.original_context_length);
    else if (c->rope_scaling.type == FLX_ROPE_SCALING_LINEAR)
        printf(" (factor %g)", (double)c->rope_scaling.factor);
    printf("\n");
    printf("rope freqs      %s\n", model->rope_freqs ? "from tensor rope_freqs" : "computed");
    printf("tied embeddings %s\n", c->tied_embeddings ? "yes" : "no");
    printf("parameters      %llu\n", (unsigned long long)flx_config_param_count(c));
    if (model->vocab)
        printf("vocabulary      %s, %d tokens, bos %d, eos %d\n",
               model->vocab->kind == FLX_VOCAB_SPM ? "sentencepiece" : "byte-level BPE",
               model->vocab->n_tokens, model->vocab->bos_id, model->vocab->eos_id);
    else
        printf("vocabulary      none (pass --tokenizer)\n");
    printf("\n%-40s %-6s %-24s %14s %14s\n", "tensor", "type", "shape", "offset", "bytes");
    for (int i = 0; i < model->n_tensors; i++) {
        const flx_tensor_info *t = &model->tensors[i];
        char shape[64] = "";
        size_t used = 0;
        for (int d = 0; d < t->n_dims; d++)
            used += (size_t)snprintf(shape + used, sizeof shape - used, d ? " x %lld" : "%lld",
                                     (long long)t->shape[d]);
        printf("%-40s %-6s %-24s %14llu %14llu\n", t->name, t->type, shape,
               (unsigned long long)t->offset, (unsigned long long)t->n_bytes);
    }
}
