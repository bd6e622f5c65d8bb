#include "modelio/hf_config.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef FLEXLLM_HAVE_CJSON
#include <cJSON.h>
#endif

int flx_hf_config_load(flx_config *c, const char *path, flx_error *err) {
    size_t len = 0;
    char *text = flx_read_text_file(path, &len, err);
    if (!text) return -1;
    int rc = flx_hf_config_parse(c, text, len, path, err);
    free(text);
    return rc;
}

#ifndef FLEXLLM_HAVE_CJSON

int flx_hf_config_parse(flx_config *c, const char *json, size_t len, const char *path,
                        flx_error *err) {
    (void)json;
    (void)len;
    memset(c, 0, sizeof *c);
    return flx_fail(err, "%s: built without cJSON; install libcjson-dev and rebuild", path);
}

#else

/* A key whose value is JSON null counts as absent, so null optional
 * settings such as head_dim or rope_scaling take their defaults. */
static const cJSON *get_key(const cJSON *obj, const char *key) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNull(item) ? NULL : item;
}

static void describe_value(char *out, size_t size, const cJSON *item) {
    if (cJSON_IsNumber(item))
        snprintf(out, size, "%.17g", item->valuedouble);
    else if (cJSON_IsString(item))
        snprintf(out, size, "\"%.60s\"", item->valuestring);
    else if (cJSON_IsBool(item))
        snprintf(out, size, "%s", cJSON_IsTrue(item) ? "true" : "false");
    else
        snprintf(out, size, "a JSON %s", cJSON_IsArray(item) ? "array" : "object");
}

/* Reads a positive integer key. When the key is absent, stores default_value
 * if it is positive, else reports the key as missing. */
static int get_positive_int(const cJSON *obj, const char *key, int default_value, int *out,
                            const char *path, flx_error *err) {
    const cJSON *item = get_key(obj, key);
    if (!item) {
        if (default_value > 0) {
            *out = default_value;
            return 0;
        }
        return flx_fail(err, "%s: missing required key \"%s\"", path, key);
    }
    double v = cJSON_IsNumber(item) ? item->valuedouble : NAN;
    if (!(v >= 1.0 && v <= (double)INT_MAX) || v != floor(v)) {
        char shown[80];
        describe_value(shown, sizeof shown, item);
        return flx_fail(err, "%s: \"%s\" is %s; expected a positive integer", path, key, shown);
    }
    *out = (int)v;
    return 0;
}

/* Reads a finite number key; an absent key takes default_value unless it is
 * NAN, which makes the key required. */
static int get_number(const cJSON *obj, const char *key, double default_value, float *out,
                      const char *path, flx_error *err) {
    const cJSON *item = get_key(obj, key);
    if (!item) {
        if (!isnan(default_value)) {
            *out = (float)default_value;
            return 0;
        }
        return flx_fail(err, "%s: missing required key \"%s\"", path, key);
    }
    if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble)) {
        char shown[80];
        describe_value(shown, sizeof shown, item);
        return flx_fail(err, "%s: \"%s\" is %s; expected a number", path, key, shown);
    }
    *out = (float)item->valuedouble;
    return 0;
}

static int get_bool(const cJSON *obj, const char *key, bool default_value, bool *out,
                    const char *path, flx_error *err) {
    const cJSON *item = get_key(obj, key);
    if (!item) {
        *out = default_value;
        return 0;
    }
    if (!cJSON_IsBool(item)) {
        char shown[80];
        describe_value(shown, sizeof shown, item);
        return flx_fail(err, "%s: \"%s\" is %s; expected true or false", path, key, shown);
    }
    *out = cJSON_IsTrue(item);
    return 0;
}

static int check_architecture(const cJSON *root, const char *path, flx_error *err) {
    const cJSON *archs = get_key(root, "architectures");
    const char *first = NULL;
    if (archs && !cJSON_IsArray(archs))
        return flx_fail(err, "%s: \"architectures\" is not a JSON array", path);
    if (archs) {
        for (const cJSON *a = archs->child; a; a = a->next) {
            if (!cJSON_IsString(a)) continue;
            if (strcmp(a->valuestring, "LlamaForCausalLM") == 0) return 0;
            if (!first) first = a->valuestring;
        }
    }
    const cJSON *type = get_key(root, "model_type");
    if (cJSON_IsString(type) && strcmp(type->valuestring, "llama") == 0) return 0;
    if (first)
        return flx_fail(err,
                        "%s: unsupported architecture %s (expected LlamaForCausalLM or "
                        "model_type \"llama\")",
                        path, first);
    if (cJSON_IsString(type))
        return flx_fail(err, "%s: unsupported model_type \"%s\" (expected \"llama\")", path,
                        type->valuestring);
    return flx_fail(err,
                    "%s: no \"architectures\" or \"model_type\" key; expected LlamaForCausalLM",
                    path);
}

/* Rejects Llama variants whose extra weights or activation the forward
 * pass does not implement, so they fail here instead of computing wrong
 * logits. */
static int check_supported_variant(const cJSON *root, const char *path, flx_error *err) {
    const cJSON *act = get_key(root, "hidden_act");
    if (act && (!cJSON_IsString(act) || strcmp(act->valuestring, "silu") != 0)) {
        char shown[80];
        describe_value(shown, sizeof shown, act);
        return flx_fail(err, "%s: unsupported hidden_act %s (only \"silu\" is implemented)", path,
                        shown);
    }
    static const char *const bias_keys[] = {"attention_bias", "mlp_bias"};
    for (size_t i = 0; i < sizeof bias_keys / sizeof bias_keys[0]; i++) {
        bool has_bias = false;
        if (get_bool(root, bias_keys[i], false, &has_bias, path, err) != 0) return -1;
        if (has_bias)
            return flx_fail(err, "%s: \"%s\" is true, but projection biases are not supported",
                            path, bias_keys[i]);
    }
    /* NOTE: partial rotary embeddings are rejected because Hugging Face's
     * Llama code applies RoPE to the whole head, so their layout is unknown. */
    float partial = 1.0f;
    if (get_number(root, "partial_rotary_factor", 1.0, &partial, path, err) != 0) return -1;
    if (partial != 1.0f)
        return flx_fail(err,
                        "%s: partial_rotary_factor %g is not supported (only 1, RoPE on the "
                        "whole head)",
                        path, (double)partial);
    return 0;
}

/* Reads rope_scaling, or else rope_parameters, the newer spelling that can
 * also carry rope_theta. The type key is "rope_type", or "type" in older
 * files. */
static int parse_rope_scaling(flx_config *c, const cJSON *root, const char *path,
                              flx_error *err) {
    const char *key = "rope_scaling";
    const cJSON *scaling = get_key(root, key);
    if (!scaling) {
        key = "rope_parameters";
        scaling = get_key(root, key);
    }
    memset(&c->rope_scaling, 0, sizeof c->rope_scaling);
    if (!scaling) return 0;
    if (!cJSON_IsObject(scaling))
        return flx_fail(err, "%s: \"%s\" is not a JSON object or null", path, key);
    if (get_key(scaling, "rope_theta") &&
        get_number(scaling, "rope_theta", NAN, &c->rope_theta, path, err) != 0)
        return -1;

    const cJSON *type = get_key(scaling, "rope_type");
    if (!type) type = get_key(scaling, "type");
    if (!type) {
        if (strcmp(key, "rope_parameters") == 0) return 0;
        return flx_fail(err, "%s: \"%s\" has no \"rope_type\" or \"type\" key", path, key);
    }
    if (!cJSON_IsString(type))
        return flx_fail(err, "%s: \"%s\" type is not a string", path, key);

    flx_rope_scaling *s = &c->rope_scaling;
    const char *name = type->valuestring;
    if (strcmp(name, "default") == 0) return 0;
    if (strcmp(name, "linear") == 0) {
        s->type = FLX_ROPE_SCALING_LINEAR;
        return get_number(scaling, "factor", NAN, &s->factor, path, err);
    }
    if (strcmp(name, "llama3") == 0) {
        s->type = FLX_ROPE_SCALING_LLAMA3;
        if (get_number(scaling, "factor", NAN, &s->factor, path, err) != 0 ||
            get_number(scaling, "low_freq_factor", NAN, &s->low_freq_factor, path, err) != 0 ||
            get_number(scaling, "high_freq_factor", NAN, &s->high_freq_factor, path, err) != 0 ||
            get_positive_int(scaling, "original_max_position_embeddings", 0,
                             &s->original_context_length, path, err) != 0)
            return -1;
        return 0;
    }
    return flx_fail(err, "%s: unsupported RoPE scaling type \"%s\" (expected llama3 or linear)",
                    path, name);
}

static int parse_root(flx_config *c, const cJSON *root, const char *path, flx_error *err) {
    if (!cJSON_IsObject(root)) return flx_fail(err, "%s: the JSON is not an object", path);
    if (check_architecture(root, path, err) != 0) return -1;
    if (check_supported_variant(root, path, err) != 0) return -1;

    if (get_positive_int(root, "hidden_size", 0, &c->dim, path, err) != 0 ||
        get_positive_int(root, "num_hidden_layers", 0, &c->n_layers, path, err) != 0 ||
        get_positive_int(root, "num_attention_heads", 0, &c->n_heads, path, err) != 0 ||
        get_positive_int(root, "num_key_value_heads", c->n_heads, &c->n_kv_heads, path, err) !=
            0 ||
        get_positive_int(root, "intermediate_size", 0, &c->ffn_dim, path, err) != 0 ||
        get_positive_int(root, "vocab_size", 0, &c->vocab_size, path, err) != 0 ||
        get_positive_int(root, "max_position_embeddings", 0, &c->context_length, path, err) !=
            0 ||
        get_number(root, "rms_norm_eps", NAN, &c->norm_eps, path, err) != 0 ||
        get_number(root, "rope_theta", 10000.0, &c->rope_theta, path, err) != 0 ||
        get_bool(root, "tie_word_embeddings", false, &c->tied_embeddings, path, err) != 0)
        return -1;

    if (get_key(root, "head_dim")) {
        if (get_positive_int(root, "head_dim", 0, &c->head_dim, path, err) != 0) return -1;
    } else if (c->dim % c->n_heads != 0) {
        return flx_fail(err,
                        "%s: num_attention_heads = %d does not divide hidden_size = %d, and no "
                        "head_dim is given",
                        path, c->n_heads, c->dim);
    } else {
        c->head_dim = c->dim / c->n_heads;
    }
    c->rope_dim = c->head_dim;
    if (parse_rope_scaling(c, root, path, err) != 0) return -1;
    if (c->n_kv_heads > c->n_heads)
        return flx_fail(err, "%s: num_key_value_heads = %d exceeds num_attention_heads = %d",
                        path, c->n_kv_heads, c->n_heads);
    return flx_config_validate(c, path, err);
}

int flx_hf_config_parse(flx_config *c, const char *json, size_t len, const char *path,
                        flx_error *err) {
    memset(c, 0, sizeof *c);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!root) {
        size_t at = end && end >= json ? (size_t)(end - json) : 0;
        return flx_fail(err, "%s: invalid JSON near byte %zu", path, at);
    }
    size_t parsed = (size_t)(end - json);
    while (parsed < len && strchr(" \t\r\n", json[parsed]) && json[parsed]) parsed++;
    if (parsed != len) {
        cJSON_Delete(root);
        return flx_fail(err, "%s: invalid JSON: unexpected text after the object at byte %zu",
                        path, parsed);
    }
    int rc = parse_root(c, root, path, err);
    cJSON_Delete(root);
    return rc;
}

#endif
