/* flexllm synth: write a GGUF file with a real Llama shape and
 * deterministic pseudo-random weights. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "modelio/gguf.h"
#include "modelio/synth.h"
#include "tokenizer/tokenizer.h"

static const char *usage =
    "usage: flexllm synth --arch NAME -o OUT.gguf [--layers N] [--seed S]\n"
    "                     [--type f32|f16|bf16|q8_0|q4_0] [--tokenizer PATH] [shape options]\n"
    "\n"
    "Writes a Llama model with the shape of NAME and pseudo-random weights: norm\n"
    "gains of 1, matrices uniform with standard deviation 0.5/sqrt(row length),\n"
    "the same values for the same seed, shape and type. The file uses llama.cpp's\n"
    "key and tensor names. Llama 3 RoPE scaling is stored as the rope_freqs.weight\n"
    "tensor. Output goes to OUT.gguf.partial first and is renamed when complete.\n"
    "\n"
    "  --arch NAME        model shape: llama-3.2-1b, llama-3.2-3b, llama-3.1-8b,\n"
    "                     llama-2-7b or stories260k\n"
    "  -o PATH            output file\n"
    "  --layers N         number of transformer blocks (default: the model's)\n"
    "  --seed S           weight seed, a non-negative integer (default 1)\n"
    "  --type T           matrix type: f32 (default), f16, bf16, q8_0 or q4_0;\n"
    "                     norms and rope_freqs stay f32. q8_0 and q4_0 need dim,\n"
    "                     heads*head-dim and ffn-dim to be multiples of 32\n"
    "  --tokenizer PATH   embed this vocabulary (tok512.bin, Llama 3 tokenizer.model,\n"
    "                     tokenizer.json or a GGUF file); its size must equal the\n"
    "                     model's vocabulary size. Without it the file sets\n"
    "                     tokenizer.ggml.model = \"none\": FlexLLM then needs\n"
    "                     --tokenizer to run it, and llama.cpp loads it but cannot\n"
    "                     tokenize text\n"
    "  --name TEXT        general.name (default: \"NAME synthetic\")\n"
    "  --outlier-channels N\n"
    "                     make N residual-stream channels, chosen from the seed,\n"
    "                     --outlier-scale times larger than the rest, as the\n"
    "                     massive activations of trained Llama models: their\n"
    "                     token_embd columns and attn_output/ffn_down rows are\n"
    "                     scaled, so the inputs of every linear layer carry them;\n"
    "                     their output_norm gains are 1/scale. 0 (default): none\n"
    "  --outlier-scale S  magnitude of the outlier channels relative to the others,\n"
    "                     a number above 0 (default 20)\n"
    "\n"
    "shape options (override the --arch values):\n"
    "  --dim N            model width\n"
    "  --ffn-dim N        SwiGLU inner width\n"
    "  --heads N          query heads\n"
    "  --kv-heads N       key/value heads\n"
    "  --head-dim N       dimensions per head (default: the model's, or dim/heads\n"
    "                     when --dim or --heads is given)\n"
    "  --vocab N          vocabulary size\n"
    "  --context N        context length in positions\n"
    "  --rope-theta X     RoPE base frequency\n"
    "  --norm-eps X       RMSNorm epsilon\n"
    "  --no-rope-scaling  drop the model's RoPE scaling\n"
    "  --untied           separate output.weight (default: the model's choice)\n"
    "  --tied             output shares token_embd.weight\n";

static int parse_type(const char *text, uint32_t *type) {
    static const struct {
        const char *name;
        uint32_t type;
    } types[] = {{"f32", FLX_GGML_F32},   {"f16", FLX_GGML_F16},   {"bf16", FLX_GGML_BF16},
                 {"q8_0", FLX_GGML_Q8_0}, {"q4_0", FLX_GGML_Q4_0}};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (!strcmp(text, types[i].name)) {
            *type = types[i].type;
            return 0;
        }
    fprintf(stderr, "flexllm synth: invalid value '%s' for --type: expected f32, f16, bf16, q8_0 or q4_0\n",
            text);
    return -1;
}

typedef struct synth_cli {
    const char *arch, *out, *tokenizer, *name;
    long long layers, seed, dim, ffn_dim, heads, kv_heads, head_dim, vocab, context;
    double rope_theta, norm_eps, outlier_scale;
    long long outlier_channels;
    int no_rope_scaling, tied; /* tied: -1 untied, 1 tied, 0 the model's */
    uint32_t type;
} synth_cli;

/* Returns 0, 1 after --help, or -1 on an invalid option (message printed). */
static int parse_options(int argc, char **argv, synth_cli *o) {
    const char *cmd = "synth";
    *o = (synth_cli){.seed = 1, .type = FLX_GGML_F32, .outlier_scale = 20.0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return 1;
        }
        if (!strcmp(a, "--no-rope-scaling")) {
            o->no_rope_scaling = 1;
            continue;
        }
        if (!strcmp(a, "--untied") || !strcmp(a, "--tied")) {
            o->tied = !strcmp(a, "--tied") ? 1 : -1;
            continue;
        }
        const struct {
            const char *name;
            long long *value;
            long long min, max;
        } ints[] = {
            {"--layers", &o->layers, 1, 1024},     {"--seed", &o->seed, 0, 0x7fffffffffffffffLL},
            {"--dim", &o->dim, 1, 1 << 16},        {"--ffn-dim", &o->ffn_dim, 1, 1 << 20},
            {"--heads", &o->heads, 1, 1 << 16},    {"--kv-heads", &o->kv_heads, 1, 1 << 16},
            {"--head-dim", &o->head_dim, 2, 1 << 16}, {"--vocab", &o->vocab, 1, 1 << 22},
            {"--context", &o->context, 1, 1 << 24}, {"--outlier-channels", &o->outlier_channels, 0, 1 << 16},
        };
        int matched = 0;
        for (size_t k = 0; k < sizeof ints / sizeof ints[0] && !matched; k++) {
            if (strcmp(a, ints[k].name) != 0) continue;
            matched = 1;
            if (!(v = flx_option_value(cmd, argc, argv, &i)) ||
                flx_parse_int(cmd, a, v, ints[k].min, ints[k].max, ints[k].value) != 0)
                return -1;
        }
        if (matched) continue;
        if (!strcmp(a, "--rope-theta") || !strcmp(a, "--norm-eps")) {
            double *target = !strcmp(a, "--rope-theta") ? &o->rope_theta : &o->norm_eps;
            double max = !strcmp(a, "--rope-theta") ? 1e12 : 1.0;
            if (!(v = flx_option_value(cmd, argc, argv, &i)) ||
                flx_parse_float(cmd, a, v, 1e-30, max, target) != 0)
                return -1;
            continue;
        }
        if (!strcmp(a, "--outlier-scale")) {
            if (!(v = flx_option_value(cmd, argc, argv, &i)) ||
                flx_parse_float(cmd, a, v, 0.0, 1e6, &o->outlier_scale) != 0)
                return -1;
            if (o->outlier_scale <= 0.0) {
                fprintf(stderr, "flexllm synth: invalid value '%s' for --outlier-scale: expected a number above 0\n",
                        v);
                return -1;
            }
            continue;
        }
        if (!strcmp(a, "--type")) {
            if (!(v = flx_option_value(cmd, argc, argv, &i)) || parse_type(v, &o->type) != 0) return -1;
            continue;
        }
        const char **target = !strcmp(a, "--arch")                       ? &o->arch
                              : !strcmp(a, "-o") || !strcmp(a, "--output") ? &o->out
                              : !strcmp(a, "--tokenizer")                  ? &o->tokenizer
                              : !strcmp(a, "--name")                       ? &o->name
                                                                           : NULL;
        if (target) {
            if (!(*target = flx_option_value(cmd, argc, argv, &i))) return -1;
            continue;
        }
        fprintf(stderr, "flexllm synth: unknown option '%s' (see flexllm synth --help)\n", a);
        return -1;
    }
    if (!o->arch || !o->out) {
        fprintf(stderr, "flexllm synth: %s is required (see flexllm synth --help)\n",
                !o->arch ? "--arch NAME" : "-o OUT.gguf");
        return -1;
    }
    return 0;
}

/* Applies the shape options to the preset. */
static int build_config(const synth_cli *o, flx_config *c) {
    if (flx_synth_preset(o->arch, c) != 0) {
        fprintf(stderr, "flexllm synth: unknown --arch '%s': expected one of %s\n", o->arch,
                flx_synth_preset_names());
        return -1;
    }

    if (o->layers) c->n_layers = (int)o->layers;
    if (o->dim) c->dim = (int)o->dim;
    if (o->ffn_dim) c->ffn_dim = (int)o->ffn_dim;
    if (o->heads) c->n_heads = (int)o->heads;
    if (o->kv_heads) c->n_kv_heads = (int)o->kv_heads;
    if (o->vocab) c->vocab_size = (int)o->vocab;
    if (o->context) c->context_length = (int)o->context;
    if (o->rope_theta > 0) c->rope_theta = (float)o->rope_theta;
    if (o->norm_eps > 0) c->norm_eps = (float)o->norm_eps;
    if (o->no_rope_scaling) c->rope_scaling = (flx_rope_scaling){FLX_ROPE_SCALING_NONE, 0, 0, 0, 0};
    if (o->tied) c->tied_embeddings = o->tied > 0;

    if (o->head_dim) {
        c->head_dim = (int)o->head_dim;
    } else if (o->dim || o->heads) {
        if (c->dim % c->n_heads != 0) {
            fprintf(stderr,
                    "flexllm synth: dim %d is not a multiple of heads %d; pass --head-dim\n",
                    c->dim, c->n_heads);
            return -1;
        }
        c->head_dim = c->dim / c->n_heads;
    }

    c->rope_dim = c->head_dim;
    if (o->outlier_channels > c->dim) {
        fprintf(stderr, "flexllm synth: invalid value '%lld' for --outlier-channels: expected at most dim = %d\n",
                o->outlier_channels, c->dim);
        return -1;
    }
    if (c->n_kv_heads > c->n_heads || c->n_heads % c->n_kv_heads != 0) {
        fprintf(stderr, "flexllm synth: heads %d is not a multiple of kv-heads %d\n", c->n_heads,
                c->n_kv_heads);
        return -1;
    }
    return 0;
}

int flx_cmd_synth(int argc, char **argv) {
    synth_cli o;
    int parsed = parse_options(argc, argv, &o);
    if (parsed != 0) return parsed > 0 ? FLX_EXIT_OK : FLX_EXIT_BAD_INPUT;
    flx_synth_options so = {.type = o.type, .seed = (uint64_t)o.seed, .outlier_channels = (int)o.outlier_channels,
                            .outlier_scale = (float)o.outlier_scale};
    if (build_config(&o, &so.config) != 0) return FLX_EXIT_BAD_INPUT;
    char name[128];
    snprintf(name, sizeof name, "%.100s synthetic", o.arch);
    so.name = o.name ? o.name : name;

    flx_error err;
    flx_vocab *vocab = NULL;
    if (o.tokenizer) {
        if (flx_vocab_load(&vocab, o.tokenizer, &err) != 0) {
            fprintf(stderr, "flexllm synth: %s\n", err.msg);
            return FLX_EXIT_BAD_INPUT;
        }
        so.vocab = vocab;
    }
    int status = FLX_EXIT_OK;
    if (flx_synth_check(&so, o.out, &err) != 0)
        status = FLX_EXIT_BAD_INPUT;
    else if (flx_synth_write(&so, o.out, &err) != 0)
        status = FLX_EXIT_FAILURE;
    flx_vocab_free(vocab);
    if (status != FLX_EXIT_OK) {
        fprintf(stderr, "flexllm synth: %s\n", err.msg);
        return status;
    }
    const flx_config *c = &so.config;
    printf("wrote %s: %s shape, %d layer%s, dim %d, %llu parameters, %s matrices, seed %llu", o.out, o.arch,
           c->n_layers, c->n_layers == 1 ? "" : "s", c->dim, (unsigned long long)flx_config_param_count(c),
           flx_ggml_type_name(o.type), (unsigned long long)o.seed);
    if (so.outlier_channels > 0) printf(", %d outlier channels x %g", so.outlier_channels, (double)so.outlier_scale);
    printf("\n");
    return FLX_EXIT_OK;
}
