#include "modelio/synth.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/strmap.h"
#include "modelio/gguf_writer.h"

#define SYNTH_PI 3.14159265358979323846

typedef struct synth_preset {
    const char *name;
    flx_config config;
} synth_preset;

/* Shapes from the models' published config.json / params.json files. */
static const synth_preset presets[] = {
    {"llama-3.2-1b",
     {.dim = 2048, .n_layers = 16, .n_heads = 32, .n_kv_heads = 8, .head_dim = 64, .ffn_dim = 8192,
      .vocab_size = 128256, .context_length = 131072, .norm_eps = 1e-5f, .rope_theta = 500000.0f,
      .rope_dim = 64, .rope_scaling = {FLX_ROPE_SCALING_LLAMA3, 32.0f, 1.0f, 4.0f, 8192},
      .tied_embeddings = true}},
    {"llama-3.2-3b",
     {.dim = 3072, .n_layers = 28, .n_heads = 24, .n_kv_heads = 8, .head_dim = 128, .ffn_dim = 8192,
      .vocab_size = 128256, .context_length = 131072, .norm_eps = 1e-5f, .rope_theta = 500000.0f,
      .rope_dim = 128, .rope_scaling = {FLX_ROPE_SCALING_LLAMA3, 32.0f, 1.0f, 4.0f, 8192},
      .tied_embeddings = true}},
    {"llama-3.1-8b",
     {.dim = 4096, .n_layers = 32, .n_heads = 32, .n_kv_heads = 8, .head_dim = 128, .ffn_dim = 14336,
      .vocab_size = 128256, .context_length = 131072, .norm_eps = 1e-5f, .rope_theta = 500000.0f,
      .rope_dim = 128, .rope_scaling = {FLX_ROPE_SCALING_LLAMA3, 8.0f, 1.0f, 4.0f, 8192},
      .tied_embeddings = false}},
    {"llama-2-7b",
     {.dim = 4096, .n_layers = 32, .n_heads = 32, .n_kv_heads = 32, .head_dim = 128, .ffn_dim = 11008,
      .vocab_size = 32000, .context_length = 4096, .norm_eps = 1e-5f, .rope_theta = 10000.0f,
      .rope_dim = 128, .tied_embeddings = false}},
    {"stories260k",
     {.dim = 64, .n_layers = 5, .n_heads = 8, .n_kv_heads = 4, .head_dim = 8, .ffn_dim = 172,
      .vocab_size = 512, .context_length = 512, .norm_eps = 1e-5f, .rope_theta = 10000.0f,
      .rope_dim = 8, .tied_embeddings = true}},
};

int flx_synth_preset(const char *arch, flx_config *c) {
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (strcasecmp(arch, presets[i].name) == 0) {
            *c = presets[i].config;
            return 0;
        }
    return -1;
}

const char *flx_synth_preset_names(void) {
    return "llama-3.2-1b, llama-3.2-3b, llama-3.1-8b, llama-2-7b, stories260k";
}

void flx_llama3_rope_divisors(const flx_config *c, float *out) {
    const flx_rope_scaling *s = &c->rope_scaling;
    const double orig = s->original_context_length;
    const double low_freq_wavelen = orig / s->low_freq_factor;
    const double high_freq_wavelen = orig / s->high_freq_factor;
    for (int i = 0; i < c->rope_dim / 2; i++) {
        double freq = pow((double)c->rope_theta, -2.0 * i / c->rope_dim);
        double wavelen = 2.0 * SYNTH_PI / freq;
        double divisor;
        if (wavelen < high_freq_wavelen) {
            divisor = 1.0;
        } else if (wavelen > low_freq_wavelen) {
            divisor = s->factor;
        } else {
            /* Between the two wavelengths, blend scaled and unscaled. */
            double smooth = (orig / wavelen - s->low_freq_factor) /
                            (s->high_freq_factor - s->low_freq_factor);
            divisor = 1.0 / ((1.0 - smooth) / s->factor + smooth);
        }
        out[i] = (float)divisor;
    }
}

/* splitmix64's output function: a bijective 64-bit mixer. */
static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t flx_synth_tensor_key(uint64_t seed, const char *name) {
    return mix64(mix64(seed) ^ flx_hash_bytes(name, strlen(name)));
}

float flx_synth_uniform(uint64_t key, uint64_t index) {
    uint64_t z = mix64(key + index * 0x9e3779b97f4a7c15ull);
    /* The top 24 bits give a float in [0, 1) exactly. */
    return (float)(z >> 40) * (2.0f / 16777216.0f) - 1.0f;
}

float flx_synth_scale(uint64_t fan_in) {
    return 0.5f * sqrtf(3.0f) / sqrtf((float)fan_in);
}

static int compare_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

void flx_synth_outlier_list(const flx_synth_options *o, uint32_t *channels) {
    const uint32_t dim = (uint32_t)o->config.dim, n = (uint32_t)o->outlier_channels;
    const uint64_t key = flx_synth_tensor_key(o->seed, "flexllm.synth.outlier_channels");
    /* The first n steps of a Fisher-Yates shuffle of 0..dim-1. */
    for (uint32_t j = 0; j < dim; j++) channels[j] = j;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t k = i + (uint32_t)(mix64(key + i * 0x9e3779b97f4a7c15ull) % (dim - i));
        uint32_t t = channels[i];
        channels[i] = channels[k];
        channels[k] = t;
    }
    qsort(channels, n, sizeof *channels, compare_u32);
}

typedef enum synth_kind { SYNTH_ONES, SYNTH_UNIFORM, SYNTH_ROPE } synth_kind;

/* Which values of a tensor the outlier channels scale. */
typedef enum synth_outlier {
    OUTLIER_NONE,
    OUTLIER_COLUMNS,  /* element j of every row, by outlier_scale */
    OUTLIER_ROWS,     /* every element of row j, by outlier_scale */
    OUTLIER_INV_GAIN, /* element j of a norm gain, by 1/outlier_scale */
} synth_outlier;

typedef struct synth_tensor {
    char name[64];
    uint64_t ne0, ne1; /* ne1 == 0 for a vector */
    uint32_t type;
    synth_kind kind;
    synth_outlier outlier;
} synth_tensor;

static int add_tensor(synth_tensor *list, int *n, const char *name, uint64_t ne0, uint64_t ne1,
                      uint32_t type, synth_kind kind) {
    synth_tensor *t = &list[(*n)++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ne0 = ne0;
    t->ne1 = ne1;
    t->type = type;
    t->kind = kind;
    t->outlier = OUTLIER_NONE;
    return 0;
}

/* Fills list with the tensors in llama.cpp's file order and returns the
 * count. list needs room for 4 + 9 * n_layers entries. */
static int list_tensors(const flx_synth_options *o, synth_tensor *list) {
    const flx_config *c = &o->config;
    const uint64_t dim = (uint64_t)c->dim, q = (uint64_t)c->n_heads * (uint64_t)c->head_dim,
                   kv = (uint64_t)c->n_kv_heads * (uint64_t)c->head_dim, ffn = (uint64_t)c->ffn_dim;
    int n = 0;
    add_tensor(list, &n, "token_embd.weight", dim, (uint64_t)c->vocab_size, o->type, SYNTH_UNIFORM);
    list[n - 1].outlier = OUTLIER_COLUMNS;
    if (c->rope_scaling.type == FLX_ROPE_SCALING_LLAMA3)
        add_tensor(list, &n, "rope_freqs.weight", (uint64_t)c->rope_dim / 2, 0, FLX_GGML_F32, SYNTH_ROPE);
    for (int l = 0; l < c->n_layers; l++) {
        const struct {
            const char *part;
            uint64_t ne0, ne1;
        } parts[] = {
            {"attn_norm", dim, 0}, {"attn_q", dim, q},     {"attn_k", dim, kv},
            {"attn_v", dim, kv},   {"attn_output", q, dim}, {"ffn_norm", dim, 0},
            {"ffn_gate", dim, ffn}, {"ffn_up", dim, ffn},   {"ffn_down", ffn, dim},
        };
        for (size_t p = 0; p < sizeof parts / sizeof parts[0]; p++) {
            char name[64];
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, parts[p].part);
            int is_norm = parts[p].ne1 == 0;
            add_tensor(list, &n, name, parts[p].ne0, parts[p].ne1, is_norm ? FLX_GGML_F32 : o->type,
                       is_norm ? SYNTH_ONES : SYNTH_UNIFORM);
            if (!strcmp(parts[p].part, "attn_output") || !strcmp(parts[p].part, "ffn_down"))
                list[n - 1].outlier = OUTLIER_ROWS;
        }
    }
    add_tensor(list, &n, "output_norm.weight", dim, 0, FLX_GGML_F32, SYNTH_ONES);
    list[n - 1].outlier = OUTLIER_INV_GAIN;
    if (!c->tied_embeddings)
        add_tensor(list, &n, "output.weight", dim, (uint64_t)c->vocab_size, o->type, SYNTH_UNIFORM);
    return n;
}

static uint32_t file_type_of(uint32_t type) {
    switch (type) {
    case FLX_GGML_F16:
        return 1;
    case FLX_GGML_Q4_0:
        return 2;
    case FLX_GGML_Q8_0:
        return 7;
    case FLX_GGML_BF16:
        return 32;
    default:
        return 0; /* all F32 */
    }
}

static void write_metadata(flx_gguf_writer *w, const flx_synth_options *o, const uint32_t *outliers) {
    const flx_config *c = &o->config;
    flx_gguf_writer_set_string(w, "general.architecture", "llama");
    flx_gguf_writer_set_string(w, "general.name", o->name ? o->name : "synthetic llama");
    flx_gguf_writer_set_u32(w, "general.file_type", file_type_of(o->type));
    if (o->type == FLX_GGML_Q8_0 || o->type == FLX_GGML_Q4_0)
        flx_gguf_writer_set_u32(w, "general.quantization_version", 2);

    flx_gguf_writer_set_u32(w, "llama.block_count", (uint32_t)c->n_layers);
    flx_gguf_writer_set_u32(w, "llama.context_length", (uint32_t)c->context_length);
    flx_gguf_writer_set_u32(w, "llama.embedding_length", (uint32_t)c->dim);
    flx_gguf_writer_set_u32(w, "llama.feed_forward_length", (uint32_t)c->ffn_dim);
    flx_gguf_writer_set_u32(w, "llama.attention.head_count", (uint32_t)c->n_heads);
    flx_gguf_writer_set_u32(w, "llama.attention.head_count_kv", (uint32_t)c->n_kv_heads);
    flx_gguf_writer_set_u32(w, "llama.attention.key_length", (uint32_t)c->head_dim);
    flx_gguf_writer_set_u32(w, "llama.attention.value_length", (uint32_t)c->head_dim);
    flx_gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", c->norm_eps);
    flx_gguf_writer_set_f32(w, "llama.rope.freq_base", c->rope_theta);
    flx_gguf_writer_set_u32(w, "llama.rope.dimension_count", (uint32_t)c->rope_dim);
    flx_gguf_writer_set_u32(w, "llama.vocab_size", (uint32_t)c->vocab_size);
    /* llama.cpp reads a missing scaling type as "linear" and applies any
     * factor it finds, so "none" is written explicitly. Llama 3 scaling
     * travels as the rope_freqs.weight tensor. */
    if (c->rope_scaling.type == FLX_ROPE_SCALING_LINEAR) {
        flx_gguf_writer_set_string(w, "llama.rope.scaling.type", "linear");
        flx_gguf_writer_set_f32(w, "llama.rope.scaling.factor", c->rope_scaling.factor);
    } else {
        flx_gguf_writer_set_string(w, "llama.rope.scaling.type", "none");
    }

    if (o->outlier_channels > 0) {
        flx_gguf_writer_set_array(w, "flexllm.synth.outlier_channels", FLX_GGUF_UINT32, outliers,
                                  (uint64_t)o->outlier_channels);
        flx_gguf_writer_set_f32(w, "flexllm.synth.outlier_scale", o->outlier_scale);
    }

    if (o->vocab)
        flx_gguf_write_vocab(w, o->vocab);
    else
        flx_gguf_writer_set_string(w, "tokenizer.ggml.model", "none");
}

static void scale_outliers(const synth_tensor *t, const float *channel_scale, uint64_t row_index, float *row) {
    switch (t->outlier) {
    case OUTLIER_NONE:
        break;
    case OUTLIER_COLUMNS:
        for (uint64_t j = 0; j < t->ne0; j++) row[j] *= channel_scale[j];
        break;
    case OUTLIER_ROWS:
        for (uint64_t j = 0; j < t->ne0; j++) row[j] *= channel_scale[row_index];
        break;
    case OUTLIER_INV_GAIN:
        for (uint64_t j = 0; j < t->ne0; j++) row[j] /= channel_scale[j];
        break;
    }
}

/* Generates one tensor in chunks of whole rows and streams it out.
 * channel_scale[dim]: outlier_scale for the outlier channels, 1 elsewhere;
 * NULL without outliers. */
static int write_tensor(flx_gguf_writer *w, const flx_synth_options *o, const synth_tensor *t,
                        const float *channel_scale, float *values, uint8_t *bytes, uint64_t chunk_values) {
    uint64_t block_values, block_bytes;
    flx_ggml_type_block(t->type, &block_values, &block_bytes);
    const uint64_t rows = t->ne1 ? t->ne1 : 1;
    const uint64_t row_bytes = t->ne0 / block_values * block_bytes;
    const uint64_t chunk_rows = chunk_values / t->ne0 > 0 ? chunk_values / t->ne0 : 1;
    const uint64_t key = flx_synth_tensor_key(o->seed, t->name);
    const float scale = flx_synth_scale(t->ne0);
    if (t->kind == SYNTH_ROPE) {
        flx_llama3_rope_divisors(&o->config, values);
        return flx_gguf_writer_write_data(w, values, (size_t)t->ne0 * sizeof(float));
    }
    for (uint64_t first = 0; first < rows; first += chunk_rows) {
        const int64_t n_rows = (int64_t)(rows - first < chunk_rows ? rows - first : chunk_rows);
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
        for (int64_t r = 0; r < n_rows; r++) {
            float *row = values + (uint64_t)r * t->ne0;
            uint64_t base = (first + (uint64_t)r) * t->ne0;
            for (uint64_t j = 0; j < t->ne0; j++)
                row[j] = t->kind == SYNTH_ONES ? 1.0f : scale * flx_synth_uniform(key, base + j);
            if (channel_scale) scale_outliers(t, channel_scale, first + (uint64_t)r, row);
            flx_ggml_quantize(t->type, row, bytes + (uint64_t)r * row_bytes, t->ne0);
        }
        if (flx_gguf_writer_write_data(w, bytes, (size_t)((uint64_t)n_rows * row_bytes)) != 0)
            return -1;
    }
    return 0;
}

int flx_synth_check(const flx_synth_options *o, const char *path, flx_error *err) {
    const flx_config *c = &o->config;
    if (flx_config_validate(c, path, err) != 0) return -1;
    if (c->n_kv_heads > c->n_heads)
        return flx_fail(err, "%s: n_kv_heads %d exceeds n_heads %d", path, c->n_kv_heads, c->n_heads);
    if (!flx_ggml_type_supported(o->type))
        return flx_fail(err, "%s: weight type %" PRIu32 " is not one of F32, F16, BF16, Q8_0, Q4_0",
                        path, o->type);
    if (o->type == FLX_GGML_Q8_0 || o->type == FLX_GGML_Q4_0) {
        const struct {
            const char *name;
            int value;
        } rows[] = {{"dim", c->dim}, {"n_heads*head_dim", c->n_heads * c->head_dim}, {"ffn_dim", c->ffn_dim}};
        for (size_t i = 0; i < 3; i++)
            if (rows[i].value % 32 != 0)
                return flx_fail(err,
                                "%s: %s weights need rows that are multiples of 32 values, but %s "
                                "= %d; use f32, f16 or bf16 for this shape",
                                path, flx_ggml_type_name(o->type), rows[i].name, rows[i].value);
    }
    if (o->outlier_channels < 0 || o->outlier_channels > c->dim)
        return flx_fail(err, "%s: invalid outlier channel count %d: expected 0 to dim = %d", path,
                        o->outlier_channels, c->dim);
    if (o->outlier_channels > 0 && !(o->outlier_scale > 0.0f && isfinite(o->outlier_scale)))
        return flx_fail(err, "%s: invalid outlier scale %g: expected a finite value above 0", path,
                        (double)o->outlier_scale);
    if (o->vocab && o->vocab->n_tokens != c->vocab_size)
        return flx_fail(err,
                        "%s: the tokenizer has %d tokens but the model vocabulary size is %d (set "
                        "--vocab %d)",
                        path, o->vocab->n_tokens, c->vocab_size, o->vocab->n_tokens);
    return 0;
}

static int write_file(const flx_synth_options *o, FILE *f, const char *path, flx_error *err) {
    const flx_config *c = &o->config;
    synth_tensor *list = flx_calloc((size_t)(4 + 9 * c->n_layers), sizeof *list, err);
    if (!list) return -1;
    int n = list_tensors(o, list);
    uint64_t max_row = 0;
    for (int i = 0; i < n; i++) max_row = list[i].ne0 > max_row ? list[i].ne0 : max_row;
    const uint64_t chunk_values = (1u << 20) > max_row ? (1u << 20) : max_row;
    float *values = flx_malloc((size_t)chunk_values * sizeof *values, err);
    uint8_t *bytes = flx_malloc((size_t)chunk_values * sizeof(float), err);
    uint32_t *outliers = flx_calloc((size_t)c->dim, sizeof *outliers, err);
    float *channel_scale = o->outlier_channels > 0 ? flx_malloc((size_t)c->dim * sizeof *channel_scale, err) : NULL;
    int rc = -1;
    if (values && bytes && outliers && (o->outlier_channels == 0 || channel_scale)) {
        if (channel_scale) {
            flx_synth_outlier_list(o, outliers);
            for (int j = 0; j < c->dim; j++) channel_scale[j] = 1.0f;
            for (int i = 0; i < o->outlier_channels; i++) channel_scale[outliers[i]] = o->outlier_scale;
        }
        flx_gguf_writer w;
        flx_gguf_writer_init(&w, f, path, err);
        write_metadata(&w, o, outliers);
        for (int i = 0; i < n; i++) {
            uint64_t ne[2] = {list[i].ne0, list[i].ne1};
            flx_gguf_writer_add_tensor(&w, list[i].name, list[i].ne1 ? 2 : 1, ne, list[i].type);
        }
        rc = flx_gguf_writer_write_header(&w);
        for (int i = 0; i < n && rc == 0; i++) rc = write_tensor(&w, o, &list[i], channel_scale, values, bytes, chunk_values);
        if (rc == 0) rc = flx_gguf_writer_finish(&w);
        flx_gguf_writer_free(&w);
    }
    free(values);
    free(bytes);
    free(outliers);
    free(channel_scale);
    free(list);
    return rc;
}

int flx_synth_write(const flx_synth_options *o, const char *path, flx_error *err) {
    if (flx_synth_check(o, path, err) != 0) return -1;
    char partial[4096];
    if ((size_t)snprintf(partial, sizeof partial, "%s.partial", path) >= sizeof partial)
        return flx_fail(err, "%s: output path is too long", path);
    FILE *f = fopen(partial, "wb");
    if (!f) return flx_fail(err, "%s: cannot create: %s", partial, strerror(errno));
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    int rc = write_file(o, f, partial, err);
    if (fclose(f) != 0 && rc == 0) rc = flx_fail(err, "%s: write failed: %s", partial, strerror(errno));
    if (rc == 0 && rename(partial, path) != 0)
        rc = flx_fail(err, "%s: cannot rename to %s: %s", partial, path, strerror(errno));
    if (rc != 0) remove(partial);
    return rc;
}
