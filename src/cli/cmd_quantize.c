/* flexllm quantize: float checkpoint in, quantized artifact out. */
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/loaded_model.h"
#include "common/mapped_file.h"
#include "quant/artifact.h"
#include "quant/calibrate.h"
#include "quant/quantize_model.h"
#include "quant/recipe.h"

static const char *usage_head =
    "usage: flexllm quantize --model PATH --recipe NAME --calib FILE -o OUT\n"
    "                        [--calib-tokens N] [--lm-head-bits N] [--tokenizer PATH]\n"
    "                        [--seed S] [--rotation-file PATH] [--weight-group N] [--act-bits N]\n"
    "                        [--act-symmetric | --act-asymmetric] [--act-clip R]\n"
    "                        [--kv MODE] [--kv-group N] [--kv-clip R]\n"
    "                        [--kv-symmetric | --kv-asymmetric]\n"
    "\n"
    "Rotates a copy of a float checkpoint when the recipe asks for it, quantizes\n"
    "its weights per channel (round to nearest, or GPTQ with Hessians from the\n"
    "calibration text), calibrates the static INT8 attention scales on the text,\n"
    "and writes one safetensors artifact for the accelerator engines.\n"
    "\n"
    "  --model PATH        float checkpoint (any format flexllm generate accepts)\n"
    "  --tokenizer PATH    tokenizer file; default: the model's own vocabulary\n"
    "  --recipe NAME       quantization recipe, one of:\n";

static const char *usage_tail =
    "  --lm-head-bits N    LM-head weight width instead of the recipe's: 4, 8 or 16\n"
    "                      (16-bit weights run as two passes of the 8-bit arrays)\n"
    "  --weight-group N    per-group weight scales of the layer linears, N input\n"
    "                      columns per scale (32, 64 or 128; 0, the default, is one\n"
    "                      scale per output channel). Grouped models run with\n"
    "                      --engine fakequant; the engines take per-channel weights\n"
    "  --act-bits N        width of the per-token activation codes of the layer\n"
    "                      linears instead of the recipe's: 4 or 8\n"
    "  --act-symmetric, --act-asymmetric\n"
    "                      signed codes, or unsigned codes with a float offset\n"
    "  --act-clip R        activation clip ratio in (0, 1]\n"
    "  --kv MODE           KV cache instead of the recipe's: static (INT8, calibrated\n"
    "                      per-head scales), static-layer (INT8, one calibrated scale\n"
    "                      per layer), int4 or int8 (dynamic: one scale, and an\n"
    "                      offset when asymmetric, per token and group; symmetric\n"
    "                      unless the recipe's or --kv-asymmetric says otherwise)\n"
    "  --kv-group N        channels per scale of a dynamic KV cache; N divides head_dim\n"
    "                      (default: the recipe's, else head_dim: one scale per head)\n"
    "  --kv-clip R         clip ratio in (0, 1] of a dynamic KV cache (default 1)\n"
    "  --kv-symmetric, --kv-asymmetric\n"
    "                      signed codes of a dynamic KV cache, or a min..max range\n"
    "                      with an offset per group\n"
    "  --calib FILE        UTF-8 calibration text (required)\n"
    "  --calib-tokens N    text tokens of FILE for the attention scales and the GPTQ\n"
    "                      Hessians (default 2048), run in windows of up to 512 positions\n"
    "  --seed S            seed of the recipe's random or Hadamard rotations: R1 uses\n"
    "                      S, R2 of layer l uses S + 1 + l, a dense R4 S + 1 + layers\n"
    "                      (default: the recipe's)\n"
    "  --rotation-file PATH  learned R1 and R2 (SpinQuant safetensors) for recipes\n"
    "                      with learned rotations\n"
    "  -o OUT              output artifact (.safetensors)\n";

static const char *act_kind(const flx_act_quant *a) { return a->asymmetric ? "asymmetric" : "symmetric"; }

/* Writes e.g. "INT8 static per head" or "INT4 dynamic per token, group 32, asymmetric, clip 0.95". */
static void kv_format(const flx_kv_quant *kv, char *out, size_t size) {
    if (!kv->dynamic) {
        snprintf(out, size, "INT8 static per %s", kv->per_layer ? "layer" : "head");
        return;
    }
    char group[32] = "one scale per head";
    if (kv->group_size > 0) snprintf(group, sizeof group, "group %d", kv->group_size);
    snprintf(out, size, "INT%d dynamic per token, %s, %s, clip %g", kv->bits, group,
             kv->asymmetric ? "asymmetric" : "symmetric", (double)kv->clip);
}

static void print_usage(void) {
    fputs(usage_head, stdout);
    for (int i = 0; i < flx_recipe_count(); i++) {
        const flx_recipe *r = flx_recipe_at(i);
        char quantizer[64];
        flx_recipe_quantizer_format(r, quantizer, sizeof quantizer);
        char clip[32] = "";
        if (r->act.clip != 1.0f) snprintf(clip, sizeof clip, " (clip %g)", (double)r->act.clip);
        printf("                        %-22s %d-bit weights, %d-bit %s activations%s,\n", r->name, r->weight_bits,
               r->act.bits, act_kind(&r->act), clip);
        printf("                                               LM head %d-bit weights, %d-bit %s activations,\n",
               r->lm_head_weight_bits, r->lm_head_act.bits, act_kind(&r->lm_head_act));
        if (r->r1 == FLX_ROTATION_NONE && r->r2 == FLX_ROTATION_NONE && !r->r3 && !r->r4)
            printf("                                               %s weights, no rotation,\n", quantizer);
        else
            printf("                                               %s weights, R1 %s, R2 %s, R3 %s, R4 %s,\n",
                   quantizer, flx_rotation_kind_name(r->r1), flx_rotation_kind_name(r->r2),
                   r->r3 ? "online" : "none", r->r4 ? "online" : "none");
        char kv[64];
        kv_format(&r->kv, kv, sizeof kv);
        printf("                                               KV cache %s\n", kv);
    }
    fputs(usage_tail, stdout);
}

typedef struct quantize_options {
    const char *model, *tokenizer, *recipe, *calib, *out, *rotation_file;
    long long calib_tokens;
    int lm_head_bits; /* 0: the recipe's */
    const char *kv;   /* NULL: the recipe's */
    long long act_bits; /* 0: the recipe's */
    long long weight_group; /* -1: the recipe's */
    int act_asymmetric; /* -1: the recipe's, else 0 or 1 */
    double act_clip;    /* 0: the recipe's */
    long long kv_group; /* -1: the recipe's */
    double kv_clip;     /* 0: the recipe's */
    int kv_asymmetric;  /* -1: the recipe's, else 0 or 1 */
    bool has_seed;
    long long seed;
} quantize_options;

static int parse_options(int argc, char **argv, quantize_options *o) {
    const char *cmd = "quantize";
    *o = (quantize_options){.calib_tokens = FLX_CALIB_DEFAULT_TOKENS, .kv_group = -1, .act_asymmetric = -1, .weight_group = -1,
                            .kv_asymmetric = -1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            print_usage();
            return -2;
        }
        if (!strcmp(a, "--kv-symmetric") || !strcmp(a, "--kv-asymmetric")) {
            int asym = !strcmp(a, "--kv-asymmetric");
            if (o->kv_asymmetric >= 0 && o->kv_asymmetric != asym) {
                fprintf(stderr,
                        "flexllm quantize: --kv-symmetric and --kv-asymmetric exclude each other; pass one of them\n");
                return -1;
            }
            o->kv_asymmetric = asym;
            continue;
        }
        if (!strcmp(a, "--act-symmetric") || !strcmp(a, "--act-asymmetric")) {
            int asym = !strcmp(a, "--act-asymmetric");
            if (o->act_asymmetric >= 0 && o->act_asymmetric != asym) {
                fprintf(stderr,
                        "flexllm quantize: --act-symmetric and --act-asymmetric exclude each other; pass one of them\n");
                return -1;
            }
            o->act_asymmetric = asym;
            continue;
        }
        if (strcmp(a, "--model") && strcmp(a, "--tokenizer") && strcmp(a, "--recipe") && strcmp(a, "--act-bits") &&
            strcmp(a, "--act-clip") && strcmp(a, "--weight-group") &&
            strcmp(a, "--calib") && strcmp(a, "--calib-tokens") && strcmp(a, "--lm-head-bits") && strcmp(a, "-o") &&
            strcmp(a, "--seed") && strcmp(a, "--rotation-file") && strcmp(a, "--kv") && strcmp(a, "--kv-group") &&
            strcmp(a, "--kv-clip")) {
            fprintf(stderr, "flexllm quantize: unknown option '%s' (see flexllm quantize --help)\n", a);
            return -1;
        }
        if (!(v = flx_option_value(cmd, argc, argv, &i))) return -1;
        if (!strcmp(a, "--model")) o->model = v;
        else if (!strcmp(a, "--tokenizer")) o->tokenizer = v;
        else if (!strcmp(a, "--recipe")) o->recipe = v;
        else if (!strcmp(a, "--calib")) o->calib = v;
        else if (!strcmp(a, "-o")) o->out = v;
        else if (!strcmp(a, "--rotation-file")) o->rotation_file = v;
        else if (!strcmp(a, "--weight-group")) {
            if (strcmp(v, "0") && strcmp(v, "32") && strcmp(v, "64") && strcmp(v, "128")) {
                fprintf(stderr, "flexllm quantize: invalid value '%s' for --weight-group: expected 0, 32, 64 or 128\n",
                        v);
                return -1;
            }
            o->weight_group = atoi(v);
        } else if (!strcmp(a, "--act-bits")) {
            if (strcmp(v, "4") && strcmp(v, "8")) {
                fprintf(stderr, "flexllm quantize: invalid value '%s' for --act-bits: expected 4 or 8\n", v);
                return -1;
            }
            o->act_bits = atoi(v);
        } else if (!strcmp(a, "--act-clip")) {
            if (flx_parse_float(cmd, a, v, 1e-6, 1.0, &o->act_clip)) return -1;
        } else if (!strcmp(a, "--kv")) {
            if (strcmp(v, "static") && strcmp(v, "static-layer") && strcmp(v, "int4") && strcmp(v, "int8")) {
                fprintf(stderr,
                        "flexllm quantize: invalid value '%s' for --kv: expected static, static-layer, int4 or int8\n",
                        v);
                return -1;
            }
            o->kv = v;
        } else if (!strcmp(a, "--kv-group")) {
            if (flx_parse_int(cmd, a, v, 1, 1 << 20, &o->kv_group)) return -1;
        } else if (!strcmp(a, "--kv-clip")) {
            char *end = NULL;
            o->kv_clip = strtod(v, &end);
            if (end == v || *end || !(o->kv_clip > 0.0 && o->kv_clip <= 1.0)) {
                fprintf(stderr, "flexllm quantize: invalid value '%s' for --kv-clip: expected a ratio in (0, 1]\n", v);
                return -1;
            }
        }
        else if (!strcmp(a, "--seed")) {
            if (flx_parse_int(cmd, a, v, 0, LLONG_MAX, &o->seed)) return -1;
            o->has_seed = true;
        }
        else if (!strcmp(a, "--lm-head-bits")) {
            if (strcmp(v, "4") && strcmp(v, "8") && strcmp(v, "16")) {
                fprintf(stderr, "flexllm quantize: invalid value '%s' for --lm-head-bits: expected 4, 8 or 16\n", v);
                return -1;
            }
            o->lm_head_bits = atoi(v);
        } else if (flx_parse_int(cmd, a, v, 1, 1 << 30, &o->calib_tokens)) return -1;
    }
    const char *missing = !o->model    ? "--model PATH"
                          : !o->recipe ? "--recipe NAME"
                          : !o->out    ? "-o OUT"
                                       : NULL;
    if (missing) {
        fprintf(stderr, "flexllm quantize: missing %s (see flexllm quantize --help)\n", missing);
        return -1;
    }
    if (o->kv && !strncmp(o->kv, "static", 6) && (o->kv_group >= 0 || o->kv_clip > 0.0 || o->kv_asymmetric >= 0)) {
        fprintf(stderr, "flexllm quantize: --kv-group, --kv-clip and --kv-(a)symmetric apply to a dynamic KV cache, "
                        "not to --kv %s\n", o->kv);
        return -1;
    }
    if (!o->calib) {
        fprintf(stderr,
                "flexllm quantize: missing --calib FILE: the static attention scales need a "
                "calibration text, e.g. a WikiText-2 or TinyStories excerpt\n");
        return -1;
    }
    return 0;
}

/* Prints the smallest and largest of v [n]. */
static void print_range(const char *label, const float *v, int n) {
    float lo = v[0], hi = v[0];
    for (int i = 1; i < n; i++) {
        if (v[i] < lo) lo = v[i];
        if (v[i] > hi) hi = v[i];
    }
    printf("  %s %.3g..%.3g", label, (double)lo, (double)hi);
}

static void print_summary(const flx_quantized *q, const flx_recipe *r, const char *out) {
    const flx_qmodel *qm = &q->qm;
    const flx_config *c = &qm->config;
    const char *quantizer = strcmp(q->quantizer_text, "rtn") == 0 ? "RTN" : q->quantizer_text;
    char granularity[32] = "per-channel";
    if (r->weight_group_size > 0) snprintf(granularity, sizeof granularity, "per-group-%d", r->weight_group_size);
    printf("weights  %d-bit %s %s, LM head %d-bit%s\n", r->weight_bits, granularity, quantizer, r->lm_head_weight_bits,
           r->lm_head_weight_bits == 16 && r->quantizer == FLX_QUANTIZER_GPTQ ? " (RTN)" : "");
    char clip[32] = "";
    if (r->act.clip != 1.0f) snprintf(clip, sizeof clip, " (clip %g)", (double)r->act.clip);
    printf("inputs   %d-bit %s per token%s, LM head %d-bit %s\n", r->act.bits, act_kind(&r->act), clip,
           r->lm_head_act.bits, act_kind(&r->lm_head_act));
    char kv[64];
    kv_format(&qm->kv, kv, sizeof kv);
    printf("KV cache %s\n", kv);
    printf("attention scales per layer (min..max over heads):\n");
    for (int l = 0; l < c->n_layers; l++) {
        const flx_qlayer *ql = &qm->layers[l];
        printf("  layer %d:", l);
        print_range("q_scale", ql->q_scale, c->n_heads);
        print_range("k_scale", ql->k_scale, c->n_kv_heads);
        print_range("v_scale", ql->v_scale, c->n_kv_heads);
        printf("\n");
    }
    struct stat st;
    if (stat(out, &st) == 0)
        printf("wrote    %s (%.2f MiB, %lld bytes)\n", out, (double)st.st_size / (1024.0 * 1024.0),
               (long long)st.st_size);
}

int flx_cmd_quantize(int argc, char **argv) {
    quantize_options o;
    int prc = parse_options(argc, argv, &o);
    if (prc == -2) return FLX_EXIT_OK;
    if (prc != 0) return FLX_EXIT_BAD_INPUT;

    flx_error err;
    const flx_recipe *found = flx_recipe_find(o.recipe, &err);
    if (!found) {
        fprintf(stderr, "flexllm quantize: %s\n", err.msg);
        return FLX_EXIT_BAD_INPUT;
    }
    flx_recipe custom = *found;
    if (o.lm_head_bits) custom.lm_head_weight_bits = o.lm_head_bits;
    if (o.kv && !strncmp(o.kv, "static", 6))
        custom.kv = (flx_kv_quant){.dynamic = false, .per_layer = !strcmp(o.kv, "static-layer"), .bits = 8};
    if (o.kv && strncmp(o.kv, "static", 6) != 0) {
        if (!custom.kv.dynamic) custom.kv = (flx_kv_quant){.dynamic = true, .group_size = 0, .clip = 1.0f};
        custom.kv.bits = o.kv[3] == '4' ? 4 : 8;
    }
    if ((o.kv_group >= 0 || o.kv_clip > 0.0 || o.kv_asymmetric >= 0) && !custom.kv.dynamic) {
        fprintf(stderr, "flexllm quantize: --kv-group, --kv-clip and --kv-(a)symmetric need a dynamic KV cache, but "
                        "recipe %s has the static INT8 one; add --kv int4 or --kv int8\n", found->name);
        return FLX_EXIT_BAD_INPUT;
    }
    if (o.weight_group >= 0) custom.weight_group_size = (int)o.weight_group;
    if (o.act_bits) custom.act.bits = (int)o.act_bits;
    if (o.act_asymmetric >= 0) custom.act.asymmetric = o.act_asymmetric == 1;
    if (o.act_clip > 0.0) custom.act.clip = (float)o.act_clip;
    if (o.kv_group >= 0) custom.kv.group_size = (int)o.kv_group;
    if (o.kv_clip > 0.0) custom.kv.clip = (float)o.kv_clip;
    if (o.kv_asymmetric >= 0) custom.kv.asymmetric = o.kv_asymmetric == 1;
    const flx_recipe *recipe = &custom;
    size_t text_len = 0;
    char *text = flx_cli_read_utf8_text("quantize", o.calib, &text_len);
    if (!text) return FLX_EXIT_BAD_INPUT;
    flx_loaded_model lm;
    int rc = flx_load_model_and_tokenizer("quantize", o.model, o.tokenizer, 1, &lm);
    if (rc != 0) {
        free(text);
        return rc;
    }
    int32_t *tokens = NULL;
    int n_tokens = 0;
    flx_quantized q;
    memset(&q, 0, sizeof q);
    rc = FLX_EXIT_BAD_INPUT;
    if (flx_tokenizer_encode(lm.tokenizer, text, text_len, 0, &tokens, &n_tokens, &err) != 0) {
        fprintf(stderr, "flexllm quantize: %s: %s\n", o.calib, err.msg);
        goto done;
    }
    printf("model    %s\nrecipe   %s\n", o.model, recipe->name);
    fflush(stdout);
    flx_quantize_options qo = {.calib_tokens = tokens,
                               .n_calib_tokens = n_tokens,
                               .bos = flx_tokenizer_bos(lm.tokenizer),
                               .max_calib_tokens = o.calib_tokens,
                               .override_seed = o.has_seed,
                               .seed = (uint64_t)o.seed,
                               .rotation_file = o.rotation_file};
    if (flx_quantize_model(&q, &lm.model, recipe, &qo, &err) != 0) {
        fprintf(stderr, "flexllm quantize: %s\n", err.msg);
        goto done;
    }
    const flx_calib_result cal = q.calib;
    printf("rotations %s\n", q.rotations_text);
    if (q.hessian_tokens > 0) printf("hessians %s: %ld text tokens for GPTQ\n", o.calib, q.hessian_tokens);
    printf("calib    %s: %ld of its %d tokens, %d window(s) of up to %d positions\n", o.calib,
           cal.n_tokens, n_tokens, cal.n_windows, cal.window);
    if (cal.n_tokens < o.calib_tokens)
        fprintf(stderr,
                "flexllm quantize: warning: %s has %d tokens, fewer than the %lld of --calib-tokens; the "
                "scales%s rest on %ld tokens, so use a longer calibration text\n",
                o.calib, n_tokens, o.calib_tokens, q.hessian_tokens > 0 ? " and Hessians" : "", cal.n_tokens);

    flx_artifact_provenance prov = {.calib_tokens = cal.n_tokens};
    snprintf(prov.source_model, sizeof prov.source_model, "%s", o.model);
    snprintf(prov.calib_text, sizeof prov.calib_text, "%s", o.calib);
    snprintf(prov.rotations, sizeof prov.rotations, "%s", q.rotations_text);
    snprintf(prov.weight_quantizer, sizeof prov.weight_quantizer, "%s", q.quantizer_text);
    if (flx_artifact_save(&q.qm, &prov, o.out, &err) != 0) {
        fprintf(stderr, "flexllm quantize: %s\n", err.msg);
        rc = FLX_EXIT_FAILURE;
        goto done;
    }
    print_summary(&q, recipe, o.out);
    rc = FLX_EXIT_OK;
done:
    flx_quantized_free(&q);
    free(tokens);
    free(text);
    flx_loaded_model_free(&lm);
    return rc;
}
