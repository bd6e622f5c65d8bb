/* Hugging Face Llama checkpoints: config.json plus one model.safetensors or
 * shards listed in model.safetensors.index.json. F32 tensors stay in the
 * mapped files where aligned; F16 and BF16 are widened to float32. Q and K
 * rows are reordered from the rotate-half RoPE layout to interleaved pairs. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/half.h"
#include "modelio/hf_config.h"
#include "modelio/model.h"
#include "modelio/safetensors.h"
#include "modelio/vocab.h"
#include "tokenizer/tokenizer_internal.h"

#ifdef FLEXLLM_HAVE_CJSON
#include <cJSON.h>
#endif

#define ST_PATH_MAX 4096

/* The tensors of one layer, in Hugging Face's names. */
enum {
    KIND_ATTN_NORM,
    KIND_Q,
    KIND_K,
    KIND_V,
    KIND_O,
    KIND_FFN_NORM,
    KIND_GATE,
    KIND_UP,
    KIND_DOWN,
    N_LAYER_KINDS,
};

static const char *const layer_suffixes[N_LAYER_KINDS] = {
    "input_layernorm.weight", "self_attn.q_proj.weight", "self_attn.k_proj.weight",
    "self_attn.v_proj.weight", "self_attn.o_proj.weight", "post_attention_layernorm.weight",
    "mlp.gate_proj.weight",   "mlp.up_proj.weight",      "mlp.down_proj.weight",
};

/* Slots of the whole model: three global tensors, then N_LAYER_KINDS per layer. */
enum { SLOT_EMBED, SLOT_NORM, SLOT_LM_HEAD, N_GLOBAL_SLOTS };

typedef struct tensor_ref {
    const flx_st_tensor *tensor; /* NULL until found */
    int shard;
} tensor_ref;

/* Everything needed while loading; the model keeps only the mapped files and
 * the converted buffers. */
typedef struct st_loader {
    char dir[ST_PATH_MAX];         /* folder of config.json and the shards */
    char config_path[ST_PATH_MAX];
    char weights_path[ST_PATH_MAX]; /* .safetensors file or index.json */
    int is_index;
    char **shard_names;            /* [n_shards] file names relative to dir */
    char **shard_paths;            /* [n_shards] */
    flx_st_file *shards;           /* [n_shards] parsed headers */
    int n_shards;
    char **map_tensors;            /* [n_map] weight_map keys */
    int *map_shards;               /* [n_map] shard index of each key */
    int n_map;
    tensor_ref *slots;             /* [N_GLOBAL_SLOTS + N_LAYER_KINDS * n_layers] */
} st_loader;

static void loader_free(st_loader *ld) {
    for (int i = 0; i < ld->n_shards; i++) {
        free(ld->shard_names[i]);
        free(ld->shard_paths ? ld->shard_paths[i] : NULL);
        if (ld->shards) flx_st_free(&ld->shards[i]);
    }
    free(ld->shard_names);
    free(ld->shard_paths);
    free(ld->shards);
    for (int i = 0; i < ld->n_map; i++) free(ld->map_tensors[i]);
    free(ld->map_tensors);
    free(ld->map_shards);
    free(ld->slots);
}

static int has_suffix(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int is_directory(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int join_path(char *out, const char *dir, const char *name, flx_error *err) {
    int n = snprintf(out, ST_PATH_MAX, "%s/%s", dir, name);
    if (n < 0 || n >= ST_PATH_MAX)
        return flx_fail(err, "%s/%s: path longer than %d bytes", dir, name, ST_PATH_MAX - 1);
    return 0;
}

static void parent_dir(char *out, const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(out, ST_PATH_MAX, ".");
    else if (slash == path)
        snprintf(out, ST_PATH_MAX, "/");
    else
        snprintf(out, ST_PATH_MAX, "%.*s", (int)(slash - path), path);
}

static char *copy_string(const char *s, flx_error *err) {
    size_t n = strlen(s);
    char *copy = flx_malloc(n + 1, err);
    if (copy) memcpy(copy, s, n + 1);
    return copy;
}

/* Finds config.json and the weights for a folder, a .safetensors file, a
 * config.json or an index.json. */
static int resolve_paths(st_loader *ld, const char *path, flx_error *err) {
    if (strlen(path) >= ST_PATH_MAX)
        return flx_fail(err, "%.200s...: path longer than %d bytes", path, ST_PATH_MAX - 1);
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (is_directory(path)) {
        snprintf(ld->dir, sizeof ld->dir, "%s", path);
    } else if (has_suffix(path, ".safetensors") || has_suffix(path, ".json")) {
        parent_dir(ld->dir, path);
        if (strcmp(base, "config.json") != 0) {
            snprintf(ld->weights_path, sizeof ld->weights_path, "%s", path);
            ld->is_index = has_suffix(path, ".json");
        }
    } else {
        return flx_fail(err,
                        "%s: expected a model folder, a .safetensors file or a "
                        "model.safetensors.index.json",
                        path);
    }

    if (join_path(ld->config_path, ld->dir, "config.json", err) != 0) return -1;
    if (!is_file(ld->config_path))
        return flx_fail(err,
                        "%s: config.json not found; a Hugging Face checkpoint needs it beside "
                        "the safetensors files",
                        ld->config_path);
    if (ld->weights_path[0]) return 0;

    if (join_path(ld->weights_path, ld->dir, "model.safetensors.index.json", err) != 0)
        return -1;
    if (is_file(ld->weights_path)) {
        ld->is_index = 1;
        return 0;
    }
    if (join_path(ld->weights_path, ld->dir, "model.safetensors", err) != 0) return -1;
    if (is_file(ld->weights_path)) return 0;
    return flx_fail(err, "%s: no model.safetensors or model.safetensors.index.json in this folder",
                    ld->dir);
}

static int add_shard(st_loader *ld, const char *name, flx_error *err) {
    for (int i = 0; i < ld->n_shards; i++)
        if (strcmp(ld->shard_names[i], name) == 0) return i;
    char **grown = realloc(ld->shard_names, (size_t)(ld->n_shards + 1) * sizeof *grown);
    if (!grown) return flx_fail(err, "out of memory");
    ld->shard_names = grown;
    ld->shard_names[ld->n_shards] = copy_string(name, err);
    if (!ld->shard_names[ld->n_shards]) return -1;
    return ld->n_shards++;
}

/* Shard names come from the file, so they must stay inside the folder. */
static int is_safe_shard_name(const char *name) {
    if (!name[0] || name[0] == '/') return 0;
    for (const char *p = name; *p;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.') return 0;
        p += n + (slash ? 1 : 0);
    }
    return 1;
}

#ifdef FLEXLLM_HAVE_CJSON

static int parse_index(st_loader *ld, const cJSON *root, flx_error *err) {
    const char *path = ld->weights_path;
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(map))
        return flx_fail(err,
                        "%s: no \"weight_map\" object; expected a model.safetensors.index.json",
                        path);
    int n = cJSON_GetArraySize(map);
    if (n == 0) return flx_fail(err, "%s: \"weight_map\" is empty", path);
    ld->map_tensors = flx_calloc((size_t)n, sizeof *ld->map_tensors, err);
    ld->map_shards = flx_calloc((size_t)n, sizeof *ld->map_shards, err);
    if (!ld->map_tensors || !ld->map_shards) return -1;
    for (const cJSON *e = map->child; e; e = e->next) {
        if (!cJSON_IsString(e))
            return flx_fail(err, "%s: weight_map entry %s is not a file name string", path,
                            e->string);
        if (!is_safe_shard_name(e->valuestring))
            return flx_fail(err,
                            "%s: weight_map entry %s names shard \"%s\", which is not a "
                            "relative path inside the folder",
                            path, e->string, e->valuestring);
        int shard = add_shard(ld, e->valuestring, err);
        if (shard < 0) return -1;
        ld->map_tensors[ld->n_map] = copy_string(e->string, err);
        if (!ld->map_tensors[ld->n_map]) return -1;
        ld->map_shards[ld->n_map++] = shard;
    }
    return 0;
}

static int read_index(st_loader *ld, flx_error *err) {
    size_t len = 0;
    char *text = flx_read_text_file(ld->weights_path, &len, err);
    if (!text) return -1;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return flx_fail(err, "%s: invalid JSON (expected a model.safetensors.index.json object)",
                        ld->weights_path);
    }
    int rc = parse_index(ld, root, err);
    cJSON_Delete(root);
    return rc;
}

#else

static int read_index(st_loader *ld, flx_error *err) {
    return flx_fail(err, "%s: built without cJSON; install libcjson-dev and rebuild",
                    ld->weights_path);
}

#endif

/* Maps every shard once into model->files and parses its header. */
static int open_shards(flx_model *m, st_loader *ld, flx_error *err) {
    if (ld->is_index) {
        if (read_index(ld, err) != 0) return -1;
    } else {
        const char *base = strrchr(ld->weights_path, '/');
        if (add_shard(ld, base ? base + 1 : ld->weights_path, err) < 0) return -1;
    }
    ld->shard_paths = flx_calloc((size_t)ld->n_shards, sizeof *ld->shard_paths, err);
    ld->shards = flx_calloc((size_t)ld->n_shards, sizeof *ld->shards, err);
    m->files = flx_calloc((size_t)ld->n_shards, sizeof *m->files, err);
    if (!ld->shard_paths || !ld->shards || !m->files) return -1;

    for (int i = 0; i < ld->n_shards; i++) {
        char shard_path[ST_PATH_MAX];
        if (!ld->is_index)
            snprintf(shard_path, sizeof shard_path, "%s", ld->weights_path);
        else if (join_path(shard_path, ld->dir, ld->shard_names[i], err) != 0)
            return -1;
        ld->shard_paths[i] = copy_string(shard_path, err);
        if (!ld->shard_paths[i]) return -1;
        if (ld->is_index && !is_file(shard_path))
            return flx_fail(err, "%s: shard %s listed in the weight_map was not found",
                            ld->weights_path, shard_path);
        if (flx_map_file(&m->files[i], shard_path, err) != 0) return -1;
        m->n_files++;
        if (flx_st_parse(&ld->shards[i], m->files[i].data, m->files[i].size, shard_path, err) !=
            0)
            return -1;
    }

    for (int i = 0; i < ld->n_map; i++) {
        int s = ld->map_shards[i];
        if (!flx_st_find(&ld->shards[s], ld->map_tensors[i]))
            return flx_fail(err, "%s: weight_map puts tensor %s in %s, but that file has no such tensor",
                            ld->weights_path, ld->map_tensors[i], ld->shard_paths[s]);
    }
    return 0;
}

/* Parses "model.layers.<N>.<suffix>"; returns the slot, -1 for a name this
 * loader does not know, or -2 for a layer number out of range. */
static int slot_of_name(const char *name, int n_layers) {
    if (strcmp(name, "model.embed_tokens.weight") == 0) return SLOT_EMBED;
    if (strcmp(name, "model.norm.weight") == 0) return SLOT_NORM;
    if (strcmp(name, "lm_head.weight") == 0) return SLOT_LM_HEAD;
    const char *prefix = "model.layers.";
    size_t prefix_len = strlen(prefix);
    if (strncmp(name, prefix, prefix_len) != 0) return -1;
    const char *p = name + prefix_len;
    long layer = 0;
    int n_digits = 0;
    for (; *p >= '0' && *p <= '9'; p++, n_digits++) {
        if (n_digits == 7) return -2;
        layer = layer * 10 + (*p - '0');
    }
    if (n_digits == 0 || *p != '.') return -1;
    for (int k = 0; k < N_LAYER_KINDS; k++) {
        if (strcmp(p + 1, layer_suffixes[k]) == 0) {
            if (layer >= n_layers) return -2;
            return N_GLOBAL_SLOTS + (int)layer * N_LAYER_KINDS + k;
        }
    }
    return -1;
}

/* Old transformers versions saved the RoPE inverse frequencies computed from
 * rope_theta; the loader recomputes them, so these tensors are skipped. */
static int is_ignored_tensor(const char *name) {
    return has_suffix(name, ".self_attn.rotary_emb.inv_freq");
}

static int record_tensor_info(flx_model *m, const flx_st_file *st, const flx_st_tensor *t,
                              flx_error *err) {
    flx_tensor_info info;
    memset(&info, 0, sizeof info);
    snprintf(info.name, sizeof info.name, "%s", t->name);
    snprintf(info.type, sizeof info.type, "%s", flx_st_dtype_name(t->dtype));
    info.n_dims = t->n_dims < 4 ? t->n_dims : 4;
    for (int d = 0; d < info.n_dims; d++) info.shape[d] = t->shape[d];
    info.offset = st->data_offset + t->begin;
    info.n_bytes = t->end - t->begin;
    return flx_model_add_tensor_info(m, &info, err);
}

/* Assigns every tensor of every shard to its slot, rejecting unknown names
 * and tensors stored twice, and lists them for inspect. */
static int assign_slots(flx_model *m, st_loader *ld, flx_error *err) {
    int n_layers = m->config.n_layers;
    ld->slots = flx_calloc((size_t)(N_GLOBAL_SLOTS + N_LAYER_KINDS * n_layers),
                           sizeof *ld->slots, err);
    if (!ld->slots) return -1;
    for (int s = 0; s < ld->n_shards; s++) {
        const flx_st_file *st = &ld->shards[s];
        for (int i = 0; i < st->n_tensors; i++) {
            const flx_st_tensor *t = &st->tensors[i];
            if (record_tensor_info(m, st, t, err) != 0) return -1;
            if (is_ignored_tensor(t->name)) continue;
            int slot = slot_of_name(t->name, n_layers);
            if (slot == -2)
                return flx_fail(err, "%s: tensor %s is beyond the %d layers set in %s",
                                ld->shard_paths[s], t->name, n_layers, ld->config_path);
            if (slot < 0)
                return flx_fail(err,
                                "%s: unexpected tensor %s; only Llama weights without biases "
                                "are supported",
                                ld->shard_paths[s], t->name);
            tensor_ref *ref = &ld->slots[slot];
            if (ref->tensor)
                return flx_fail(err, "%s: tensor %s is stored both here and in %s",
                                ld->shard_paths[s], t->name, ld->shard_paths[ref->shard]);
            ref->tensor = t;
            ref->shard = s;
        }
    }
    return 0;
}

static void format_shape(char *out, size_t size, const int64_t *shape, int n_dims) {
    size_t used = (size_t)snprintf(out, size, "[");
    for (int d = 0; d < n_dims && used < size; d++)
        used += (size_t)snprintf(out + used, size - used, d ? ", %lld" : "%lld",
                                 (long long)shape[d]);
    if (used < size) snprintf(out + used, size - used, "]");
}

static void slot_name(char *out, size_t size, int slot) {
    static const char *const global[N_GLOBAL_SLOTS] = {"model.embed_tokens.weight",
                                                       "model.norm.weight", "lm_head.weight"};
    if (slot < N_GLOBAL_SLOTS) {
        snprintf(out, size, "%s", global[slot]);
        return;
    }
    int layer = (slot - N_GLOBAL_SLOTS) / N_LAYER_KINDS;
    int kind = (slot - N_GLOBAL_SLOTS) % N_LAYER_KINDS;
    snprintf(out, size, "model.layers.%d.%s", layer, layer_suffixes[kind]);
}

/* Checks the tensor in slot against the shape config.json implies and
 * returns its float32 data. qk_head_dim > 0 reorders rows from the
 * rotate-half to the interleaved RoPE layout. */
static const float *load_tensor(flx_model *m, const st_loader *ld, int slot, int n_dims,
                                int64_t rows, int64_t cols, int qk_head_dim, flx_error *err) {
    const tensor_ref *ref = &ld->slots[slot];
    int64_t expected[2] = {rows, cols};
    char expected_text[64];
    format_shape(expected_text, sizeof expected_text, expected, n_dims);
    if (!ref->tensor) {
        char name[96];
        slot_name(name, sizeof name, slot);
        flx_fail(err, "%s: tensor %s (shape %s) not found", ld->weights_path, name,
                 expected_text);
        return NULL;
    }
    const flx_st_tensor *t = ref->tensor;
    const char *path = ld->shard_paths[ref->shard];
    if (t->n_dims != n_dims || t->shape[0] != rows || (n_dims == 2 && t->shape[1] != cols)) {
        char found[160];
        format_shape(found, sizeof found, t->shape, t->n_dims);
        flx_fail(err, "%s: tensor %s has shape %s, but %s implies %s", path, t->name, found,
                 ld->config_path, expected_text);
        return NULL;
    }
    if (t->dtype != FLX_ST_F32 && t->dtype != FLX_ST_F16 && t->dtype != FLX_ST_BF16) {
        flx_fail(err,
                 "%s: tensor %s has dtype %s; only F32, F16 and BF16 are supported (convert the "
                 "checkpoint to one of these)",
                 path, t->name, flx_st_dtype_name(t->dtype));
        return NULL;
    }

    const uint8_t *src = ld->shards[ref->shard].data + t->begin;
    if (t->dtype == FLX_ST_F32 && qk_head_dim == 0 && (uintptr_t)src % sizeof(float) == 0)
        return (const float *)(const void *)src;

    size_t n_rows = (size_t)rows, n_cols = (size_t)cols;
    float *dst = flx_model_alloc(m, n_rows * n_cols * sizeof(float), err);
    if (!dst) return NULL;
    size_t elem = flx_st_dtype_size(t->dtype);
    for (size_t r = 0; r < n_rows; r++) {
        size_t from = qk_head_dim ? (size_t)flx_hf_qk_source_row((int)r, qk_head_dim) : r;
        const uint8_t *in = src + from * n_cols * elem;
        float *out = dst + r * n_cols;
        if (t->dtype == FLX_ST_F32) {
            memcpy(out, in, n_cols * sizeof(float));
            continue;
        }
        for (size_t c = 0; c < n_cols; c++) {
            uint16_t bits = (uint16_t)(in[2 * c] | in[2 * c + 1] << 8);
            out[c] = t->dtype == FLX_ST_F16 ? flx_f16_to_f32(bits) : flx_bf16_to_f32(bits);
        }
    }
    return dst;
}

static int load_weights(flx_model *m, const st_loader *ld, flx_error *err) {
    const flx_config *c = &m->config;
    int64_t dim = c->dim, ffn = c->ffn_dim, vocab = c->vocab_size;
    int64_t q_dim = (int64_t)c->n_heads * c->head_dim;
    int64_t kv_dim = (int64_t)c->n_kv_heads * c->head_dim;

    m->token_embedding = load_tensor(m, ld, SLOT_EMBED, 2, vocab, dim, 0, err);
    if (!m->token_embedding) return -1;
    m->output_norm = load_tensor(m, ld, SLOT_NORM, 1, dim, 1, 0, err);
    if (!m->output_norm) return -1;
    if (m->config.tied_embeddings) {
        m->output = m->token_embedding;
    } else {
        m->output = load_tensor(m, ld, SLOT_LM_HEAD, 2, vocab, dim, 0, err);
        if (!m->output) return -1;
    }

    m->layers = flx_calloc((size_t)c->n_layers, sizeof *m->layers, err);
    if (!m->layers) return -1;
    for (int l = 0; l < c->n_layers; l++) {
        flx_layer_weights *w = &m->layers[l];
        int base = N_GLOBAL_SLOTS + l * N_LAYER_KINDS;
        struct {
            const float **dst;
            int n_dims;
            int64_t rows, cols;
            int qk_head_dim;
        } plan[N_LAYER_KINDS] = {
            [KIND_ATTN_NORM] = {&w->attn_norm, 1, dim, 1, 0},
            [KIND_Q] = {&w->wq, 2, q_dim, dim, c->head_dim},
            [KIND_K] = {&w->wk, 2, kv_dim, dim, c->head_dim},
            [KIND_V] = {&w->wv, 2, kv_dim, dim, 0},
            [KIND_O] = {&w->wo, 2, dim, q_dim, 0},
            [KIND_FFN_NORM] = {&w->ffn_norm, 1, dim, 1, 0},
            [KIND_GATE] = {&w->w_gate, 2, ffn, dim, 0},
            [KIND_UP] = {&w->w_up, 2, ffn, dim, 0},
            [KIND_DOWN] = {&w->w_down, 2, dim, ffn, 0},
        };
        for (int k = 0; k < N_LAYER_KINDS; k++) {
            *plan[k].dst = load_tensor(m, ld, base + k, plan[k].n_dims, plan[k].rows,
                                       plan[k].cols, plan[k].qk_head_dim, err);
            if (!*plan[k].dst) return -1;
        }
    }
    return 0;
}

/* Reads tokenizer.json from the checkpoint folder when there is one. */
static int load_vocab(flx_model *m, const st_loader *ld, flx_error *err) {
    char tokenizer_path[ST_PATH_MAX];
    if (join_path(tokenizer_path, ld->dir, "tokenizer.json", err) != 0) return -1;
    if (!is_file(tokenizer_path)) return 0;
    /* NOTE: a tokenizer.json that the tokenizer library rejects (it reads
     * only Llama 3 byte-level BPE files, not Llama 2's) leaves model->vocab
     * NULL instead of failing, so the caller can pass another tokenizer.
     * Loading the file as a tokenizer by itself shows the reason. */
    flx_error vocab_err;
    if (flx_vocab_load_hf_json(&m->vocab, tokenizer_path, &vocab_err) != 0) {
        m->vocab = NULL;
        return 0;
    }
    if (m->vocab->n_tokens > m->config.vocab_size)
        return flx_fail(err,
                        "%s: %d tokens, but vocab_size in %s is %d; the tokenizer does not "
                        "belong to these weights",
                        tokenizer_path, m->vocab->n_tokens, ld->config_path,
                        m->config.vocab_size);
    return 0;
}

int flx_model_load_safetensors(flx_model *m, const char *path, flx_error *err) {
    memset(m, 0, sizeof *m);
    snprintf(m->format, sizeof m->format, "safetensors");
    snprintf(m->path, sizeof m->path, "%s", path);
    st_loader ld;
    memset(&ld, 0, sizeof ld);

    int rc = -1;
    if (resolve_paths(&ld, path, err) != 0) goto done;
    if (flx_hf_config_load(&m->config, ld.config_path, err) != 0) goto done;
    if (open_shards(m, &ld, err) != 0) goto done;
    if (assign_slots(m, &ld, err) != 0) goto done;
    /* A checkpoint without lm_head.weight reuses the embedding. */
    if (!ld.slots[SLOT_LM_HEAD].tensor) m->config.tied_embeddings = true;
    if (load_weights(m, &ld, err) != 0) goto done;
    if (load_vocab(m, &ld, err) != 0) goto done;
    rc = 0;

done:
    loader_free(&ld);
    if (rc != 0) flx_model_free(m);
    return rc;
}
