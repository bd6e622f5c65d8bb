/* flexllm ppl: perplexity of a model on a text file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/loaded_model.h"
#include "common/mapped_file.h"
#include "eval/perplexity.h"
#include "runtime/backend.h"

static const char *usage =
    "usage: flexllm ppl --model PATH --text FILE --ctx N [--tokenizer PATH]\n"
    "                   [--method standard|llamacpp] [--max-windows N] [--json]\n"
    "                   [--engine reference|fakequant|accel --quantized FILE]\n"
    "                   [--config NAME|FILE] [--stats] [--kl]\n"
    "\n"
    "  --model PATH      model (any format flexllm generate accepts)\n"
    "  --tokenizer PATH  tokenizer file; default: the model's own vocabulary\n"
    "  --text FILE       UTF-8 text to score\n"
    "  --ctx N           window length in tokens, BOS included\n"
    "  --method M        standard: non-overlapping windows of BOS + N-1 text tokens,\n"
    "                    every text token scored (the protocol of GPTQ, QuaRot and\n"
    "                    SpinQuant WikiText-2 figures; default);\n"
    "                    llamacpp: llama-perplexity's windows, BOS first, only the\n"
    "                    second half of each window scored\n"
    "  --max-windows N   score only the first N windows (default: all)\n"
    "  --json            print the result as one JSON object\n"
    "  --engine E        reference: the float32 model (default); fakequant: the float\n"
    "                    model with the quantizers of --quantized; accel: the\n"
    "                    bit-exact simulation of the prefill engine with the LM head\n"
    "  --quantized FILE  artifact written by flexllm quantize (fakequant, accel)\n"
    "  --config C        accelerator parallelism (default u280-ref)\n"
    "  --stats           print the engine's modeled cycles and memory traffic\n"
    "  --kl              also run the float --model on the same windows and print\n"
    "                    its perplexity on the scored positions, the mean (with\n"
    "                    standard error) and max KL(P_float || P_quantized) of the\n"
    "                    next-token distributions in nats, and the fraction of\n"
    "                    positions whose top-1 tokens agree (fakequant, accel)\n";

typedef struct ppl_options {
    const char *model, *tokenizer, *text, *quantized, *config;
    flx_engine_kind engine;
    int stats;
    int kl;
    long long ctx, max_windows;
    flx_ppl_method method;
    int json;
} ppl_options;

static int parse_options(int argc, char **argv, ppl_options *o) {
    const char *cmd = "ppl";
    *o = (ppl_options){.method = FLX_PPL_STANDARD, .config = "u280-ref"};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return -2;
        }
        if (!strcmp(a, "--json") || !strcmp(a, "--stats")) {
            if (a[2] == 'j') o->json = 1;
            else o->stats = 1;
            continue;
        }
        if (!strcmp(a, "--kl")) {
            o->kl = 1;
            continue;
        }
        if (strcmp(a, "--model") && strcmp(a, "--tokenizer") && strcmp(a, "--text") &&
            strcmp(a, "--ctx") && strcmp(a, "--method") && strcmp(a, "--max-windows") &&
            strcmp(a, "--engine") && strcmp(a, "--quantized") && strcmp(a, "--config")) {
            fprintf(stderr, "flexllm ppl: unknown option '%s' (see flexllm ppl --help)\n", a);
            return -1;
        }
        if (!(v = flx_option_value(cmd, argc, argv, &i))) return -1;
        if (!strcmp(a, "--model")) o->model = v;
        else if (!strcmp(a, "--tokenizer")) o->tokenizer = v;
        else if (!strcmp(a, "--text")) o->text = v;
        else if (!strcmp(a, "--quantized")) o->quantized = v;
        else if (!strcmp(a, "--config")) o->config = v;
        else if (!strcmp(a, "--engine")) {
            if (flx_engine_parse(v, &o->engine) != 0) {
                fprintf(stderr, "flexllm ppl: invalid value '%s' for --engine: expected reference, fakequant or accel\n", v);
                return -1;
            }
        }
        else if (!strcmp(a, "--ctx")) {
            if (flx_parse_int(cmd, a, v, 4, 1 << 20, &o->ctx)) return -1;
        } else if (!strcmp(a, "--max-windows")) {
            if (flx_parse_int(cmd, a, v, 1, 1 << 30, &o->max_windows)) return -1;
        } else if (!strcmp(v, "standard")) {
            o->method = FLX_PPL_STANDARD;
        } else if (!strcmp(v, "llamacpp")) {
            o->method = FLX_PPL_LLAMACPP;
        } else {
            fprintf(stderr, "flexllm ppl: invalid value '%s' for --method: expected standard or llamacpp\n", v);
            return -1;
        }
    }
    const char *missing = NULL;
    if (!o->ctx) missing = "--ctx N";
    if (!o->text) missing = "--text FILE";
    if (!o->model) missing = "--model PATH";
    if (missing) {
        fprintf(stderr, "flexllm ppl: missing %s (see flexllm ppl --help)\n", missing);
        return -1;
    }
    if (o->kl && (o->engine == FLX_ENGINE_REFERENCE || !o->quantized)) {
        fprintf(stderr, "flexllm ppl: --kl compares a quantized model with the float --model; pass "
                        "--quantized FILE and --engine fakequant|accel with it\n");
        return -1;
    }
    if ((o->engine != FLX_ENGINE_REFERENCE) != (o->quantized != NULL)) {
        fprintf(stderr, "flexllm ppl: --quantized FILE and --engine fakequant|accel go together; pass both or neither\n");
        return -1;
    }
    return 0;
}

/* Logits of a window from position 0 through the chosen backend. */
static int window_logits(void *ctx, const int32_t *tokens, int n, float *logits, flx_error *err) {
    return flx_backend_window(ctx, tokens, n, logits, err);
}

static void show_progress(void *ctx, int done, int total, double ppl) {
    (void)ctx;
    /* Redirected to a file, stderr gets one line per tenth of the run. */
    if (!isatty(STDERR_FILENO)) {
        if (done == total || (done * 10 / total) != ((done - 1) * 10 / total))
            fprintf(stderr, "%d/%d windows, ppl %.4f\n", done, total, ppl);
        return;
    }
    int width = 40, filled = (int)((long)width * done / total);
    fprintf(stderr, "\r[%.*s%*s] %d/%d windows, ppl %.4f", filled,
            "########################################", width - filled, "", done, total, ppl);
    if (done == total) fprintf(stderr, "\n");
}

static void print_json_string(const char *s) {
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') printf("\\%c", ch);
        else if (ch < 0x20) printf("\\u%04x", ch);
        else putchar(ch);
    }
    putchar('"');
}

/* True when two checkpoint paths name different files once folders and
 * extensions are dropped (model.bin and model.gguf count as one model). */
static int different_models(const char *a, const char *b) {
    const char *sa = strrchr(a, '/'), *sb = strrchr(b, '/');
    a = sa ? sa + 1 : a;
    b = sb ? sb + 1 : b;
    const char *da = strrchr(a, '.'), *db = strrchr(b, '.');
    size_t la = da ? (size_t)(da - a) : strlen(a), lb = db ? (size_t)(db - b) : strlen(b);
    return la != lb || strncmp(a, b, la) != 0;
}

int flx_cmd_ppl(int argc, char **argv) {
    ppl_options o;
    int prc = parse_options(argc, argv, &o);
    if (prc == -2) return FLX_EXIT_OK;
    if (prc != 0) return FLX_EXIT_BAD_INPUT;

    flx_error err;
    size_t text_len = 0;
    char *text = flx_cli_read_utf8_text("ppl", o.text, &text_len);
    if (!text) return FLX_EXIT_BAD_INPUT;
    flx_loaded_model lm;
    int rc = flx_load_model_and_tokenizer("ppl", o.model, o.tokenizer, 1, &lm);
    if (rc != 0) {
        free(text);
        return rc;
    }
    const flx_config *c = &lm.model.config;
    int32_t *tokens = NULL;
    int n_tokens = 0;
    flx_backend backend, float_backend;
    int backend_open = 0, float_backend_open = 0;
    rc = FLX_EXIT_BAD_INPUT;
    if (o.ctx > c->context_length) {
        fprintf(stderr, "flexllm ppl: --ctx %lld exceeds the model's context length %d\n", o.ctx,
                c->context_length);
        goto done;
    }
    if (flx_tokenizer_encode(lm.tokenizer, text, text_len, 0, &tokens, &n_tokens, &err) != 0) {
        fprintf(stderr, "flexllm ppl: %s: %s\n", o.text, err.msg);
        goto done;
    }
    /* --max-windows truncates the token stream to whole windows. */
    long n_used = n_tokens;
    if (o.max_windows) {
        long stride = o.method == FLX_PPL_LLAMACPP ? o.ctx : o.ctx - 1;
        long cap = o.max_windows * stride - (o.method == FLX_PPL_LLAMACPP ? 1 : 0);
        if (cap < n_used) n_used = cap;
    }
    if (flx_backend_open(&backend, o.engine, &lm.model, o.quantized, o.config, (int)o.ctx, (int)o.ctx, &err) != 0) {
        fprintf(stderr, "flexllm ppl: %s\n", err.msg);
        goto done;
    }
    backend_open = 1;
    if (backend.vocab_size != c->vocab_size) {
        fprintf(stderr, "flexllm ppl: %s has a vocabulary of %d tokens but %s has %d; quantize this model\n",
                o.quantized, backend.vocab_size, o.model, c->vocab_size);
        goto done;
    }
    if (o.kl && backend.source_model[0] && different_models(backend.source_model, o.model))
        fprintf(stderr,
                "flexllm ppl: warning: %s was quantized from %s, not from %s; the KL divergence compares different "
                "models\n",
                o.quantized, backend.source_model, o.model);
    if (o.kl) {
        if (flx_backend_open(&float_backend, FLX_ENGINE_REFERENCE, &lm.model, NULL, NULL, (int)o.ctx, (int)o.ctx,
                             &err) != 0) {
            fprintf(stderr, "flexllm ppl: %s: %s\n", o.model, err.msg);
            goto done;
        }
        float_backend_open = 1;
    }
    rc = FLX_EXIT_FAILURE;
    flx_ppl_result r, float_r;
    flx_kl_stats kl;
    int bos = flx_tokenizer_bos(lm.tokenizer);
    int eval_rc = o.kl ? flx_perplexity_compare(o.method, tokens, n_used, bos, (int)o.ctx, c->vocab_size,
                                                 window_logits, &backend, window_logits, &float_backend,
                                                 show_progress, NULL, &r, &float_r, &kl, &err)
                        : flx_perplexity(o.method, tokens, n_used, bos, (int)o.ctx, c->vocab_size, window_logits,
                                         &backend, show_progress, NULL, &r, &err);
    if (eval_rc != 0) {
        fprintf(stderr, "flexllm ppl: %s: %s\n", o.text, err.msg);
        rc = FLX_EXIT_BAD_INPUT;
        goto done;
    }
    const char *method = o.method == FLX_PPL_LLAMACPP ? "llamacpp" : "standard";
    if (o.json) {
        printf("{\"model\": ");
        print_json_string(o.model);
        printf(", \"text\": ");
        print_json_string(o.text);
        printf(", \"engine\": \"%s\", \"method\": \"%s\", \"ctx\": %lld, \"tokens\": %ld, "
               "\"windows\": %d, \"scored\": %ld, \"ppl\": %.6f, \"ppl_stderr\": %.6f",
               flx_engine_name(o.engine), method, o.ctx, r.n_tokens, r.n_windows, r.n_scored, r.ppl, r.ppl_stderr);
        if (o.kl)
            printf(", \"float_ppl\": %.6f, \"float_ppl_stderr\": %.6f, \"kl_mean\": %.9f, \"kl_stderr\": %.9f, "
                   "\"kl_max\": %.9f, \"top1_agreement\": %.6f",
                   float_r.ppl, float_r.ppl_stderr, kl.mean, kl.mean_stderr, kl.max, kl.top1_agreement);
        printf("}\n");
    } else {
        printf("model    %s\ntext     %s\nengine   %s%s%s\nmethod   %s\n", o.model, o.text,
               flx_engine_name(o.engine), o.quantized ? " " : " (float32)", o.quantized ? o.quantized : "", method);
        printf("context  %lld\ntokens   %ld\nwindows  %d\nscored   %ld\n", o.ctx, r.n_tokens,
               r.n_windows, r.n_scored);
        printf("ppl      %.4f +/- %.5f\n", r.ppl, r.ppl_stderr);
        if (o.kl) {
            printf("float    ppl %.4f +/- %.5f on the same positions\n", float_r.ppl, float_r.ppl_stderr);
            printf("kl       mean %.6f +/- %.6f, max %.6f nats (float || quantized)\n", kl.mean, kl.mean_stderr,
                   kl.max);
            printf("top-1    %.4f agreement (%ld positions)\n", kl.top1_agreement, kl.n);
        }
    }
    if (o.stats) flx_backend_print_stats(&backend, stderr);
    rc = FLX_EXIT_OK;
done:
    free(text);
    free(tokens);
    if (backend_open) flx_backend_close(&backend);
    if (float_backend_open) flx_backend_close(&float_backend);
    flx_loaded_model_free(&lm);
    return rc;
}
