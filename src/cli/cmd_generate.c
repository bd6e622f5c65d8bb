/* flexllm generate: prompt or chat message in, streamed text out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/clock.h"
#include "cli/cli.h"
#include "cli/loaded_model.h"
#include "runtime/backend.h"
#include "kernels/limits.h"
#include "perf/report_run.h"
#include "reference/sampler.h"

static const char *usage =
    "usage: flexllm generate --model PATH [--tokenizer PATH] [--prompt TEXT | --chat TEXT [--system TEXT]]\n"
    "                        [-n N] [--temperature T] [--top-k K] [--top-p P] [--seed S] [--context N]\n"
    "                        [--engine reference|fakequant|accel --quantized FILE]\n"
    "                        [--config NAME|FILE] [--stats] [--target DEVICE]\n"
    "\n"
    "Streams the prompt and then the generated text to stdout; prefill and decode\n"
    "throughput go to stderr.\n"
    "\n"
    "  --model PATH        llama2.c .bin, GGUF, .safetensors, model.safetensors.index.json\n"
    "                      or a Hugging Face model folder\n"
    "  --tokenizer PATH    tokenizer file (tok512.bin, Llama 3 tokenizer.model,\n"
    "                      tokenizer.json); default: the model's own vocabulary\n"
    "  --prompt TEXT       text to continue (default: start from BOS alone)\n"
    "  --chat TEXT         a user message, wrapped in the model family's chat template\n"
    "  --system TEXT       system message for --chat\n"
    "  -n N                tokens to generate (default 256); generation also stops at\n"
    "                      end-of-sequence tokens\n"
    "  --temperature T     sampling temperature, 0 = greedy (default 0.8)\n"
    "  --top-k K           keep the K most likely tokens, 0 = off (default 40)\n"
    "  --top-p P           keep the smallest set with probability mass P (default 0.95)\n"
    "  --seed S            random seed (default 42)\n"
    "  --context N         KV cache size in positions (default: the model's context\n"
    "                      length, capped at prompt + N)\n"
    "  --engine E          reference: the float32 model (default); fakequant: the\n"
    "                      float model with the quantizers of --quantized; accel: the\n"
    "                      bit-exact simulation of the prefill and decode engines\n"
    "  --quantized FILE    artifact written by flexllm quantize (fakequant, accel);\n"
    "                      --model is then only read for its vocabulary\n"
    "  --config C          accelerator parallelism: u280-ref (default), u280-base,\n"
    "                      v80-proj, tiny, small, or a file of key = value lines\n"
    "  --stats             print the engines' modeled cycles and memory traffic\n"
    "  --target DEVICE     with --engine accel: print the modeled FPGA time and energy\n"
    "                      of this run on DEVICE (u280, u55c, v80, or a device file)\n";

typedef struct generate_options {
    const char *model, *tokenizer, *prompt, *chat, *system, *quantized, *config, *target;
    flx_engine_kind engine;
    int stats;
    long long n, top_k, seed, context;
    double temperature, top_p;
} generate_options;

static int parse_options(int argc, char **argv, generate_options *o) {
    const char *cmd = "generate";
    *o = (generate_options){.n = 256, .top_k = 40, .seed = 42, .temperature = 0.8, .top_p = 0.95,
                            .config = "u280-ref"};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return -2;
        }
#define VALUE() \
    if (!(v = flx_option_value(cmd, argc, argv, &i))) return -1
        if (!strcmp(a, "--stats")) {
            o->stats = 1;
        } else if (!strcmp(a, "--engine")) {
            VALUE();
            if (flx_engine_parse(v, &o->engine) != 0) {
                fprintf(stderr, "flexllm generate: invalid value '%s' for --engine: expected reference, fakequant or accel\n", v);
                return -1;
            }
        } else if (!strcmp(a, "--quantized")) {
            VALUE();
            o->quantized = v;
        } else if (!strcmp(a, "--config")) {
            VALUE();
            o->config = v;
        } else if (!strcmp(a, "--target")) {
            VALUE();
            o->target = v;
        } else if (!strcmp(a, "--model")) {
            VALUE();
            o->model = v;
        } else if (!strcmp(a, "--tokenizer")) {
            VALUE();
            o->tokenizer = v;
        } else if (!strcmp(a, "--prompt")) {
            VALUE();
            o->prompt = v;
        } else if (!strcmp(a, "--chat")) {
            VALUE();
            o->chat = v;
        } else if (!strcmp(a, "--system")) {
            VALUE();
            o->system = v;
        } else if (!strcmp(a, "-n")) {
            VALUE();
            if (flx_parse_int(cmd, a, v, 0, 1 << 24, &o->n)) return -1;
        } else if (!strcmp(a, "--top-k")) {
            VALUE();
            if (flx_parse_int(cmd, a, v, 0, 1 << 24, &o->top_k)) return -1;
        } else if (!strcmp(a, "--seed")) {
            VALUE();
            if (flx_parse_int(cmd, a, v, 0, 0x7fffffffffffffffLL, &o->seed)) return -1;
        } else if (!strcmp(a, "--context")) {
            VALUE();
            if (flx_parse_int(cmd, a, v, 1, 1 << 24, &o->context)) return -1;
        } else if (!strcmp(a, "--temperature")) {
            VALUE();
            if (flx_parse_float(cmd, a, v, 0.0, 100.0, &o->temperature)) return -1;
        } else if (!strcmp(a, "--top-p")) {
            VALUE();
            if (flx_parse_float(cmd, a, v, 0.0, 1.0, &o->top_p)) return -1;
            if (o->top_p <= 0.0) {
                fprintf(stderr, "flexllm generate: invalid value '%s' for --top-p: expected a number in (0, 1]\n", v);
                return -1;
            }
        } else {
            fprintf(stderr, "flexllm generate: unknown option '%s' (see flexllm generate --help)\n", a);
            return -1;
        }
#undef VALUE
    }
    if (!o->model) {
        fprintf(stderr, "flexllm generate: missing --model PATH (see flexllm generate --help)\n");
        return -1;
    }
    if (o->engine != FLX_ENGINE_REFERENCE && !o->quantized) {
        fprintf(stderr, "flexllm generate: --engine %s needs --quantized FILE (write one with flexllm quantize)\n",
                flx_engine_name(o->engine));
        return -1;
    }
    if (o->target && o->engine != FLX_ENGINE_ACCEL) {
        fprintf(stderr, "flexllm generate: --target needs --engine accel\n");
        return -1;
    }
    if (o->engine != FLX_ENGINE_ACCEL && (o->stats || strcmp(o->config, "u280-ref") != 0)) {
        fprintf(stderr, "flexllm generate: --stats and --config describe the accelerator engines; add --engine accel\n");
        return -1;
    }
    if (o->engine == FLX_ENGINE_REFERENCE && o->quantized) {
        fprintf(stderr, "flexllm generate: --quantized needs --engine fakequant or --engine accel\n");
        return -1;
    }
    if (o->prompt && o->chat) {
        fprintf(stderr, "flexllm generate: --prompt and --chat exclude each other; pass one\n");
        return -1;
    }
    if (o->system && !o->chat) {
        fprintf(stderr, "flexllm generate: --system needs --chat\n");
        return -1;
    }
    return 0;
}

static void write_piece(const flx_tokenizer *tok, int prev, int id) {
    size_t len;
    const char *p = flx_tokenizer_piece(tok, prev, id, &len);
    fwrite(p, 1, len, stdout);
}

int flx_cmd_generate(int argc, char **argv) {
    generate_options o;
    int prc = parse_options(argc, argv, &o);
    if (prc == -2) return FLX_EXIT_OK;
    if (prc != 0) return FLX_EXIT_BAD_INPUT;

    flx_loaded_model lm;
    int rc = flx_load_model_and_tokenizer("generate", o.model, o.tokenizer, 1, &lm);
    if (rc != 0) return rc;
    const flx_config *c = &lm.model.config;
    flx_error err;
    int32_t *prompt = NULL;
    int n_prompt = 0;
    float *logits = NULL;
    flx_backend backend;
    int backend_open = 0;
    flx_sampler sampler = {0};
    flx_device device;
    rc = FLX_EXIT_FAILURE;
    if (o.target && flx_device_find(&device, o.target, &err) != 0) {
        fprintf(stderr, "flexllm generate: %s\n", err.msg);
        flx_loaded_model_free(&lm);
        return FLX_EXIT_BAD_INPUT;
    }

    /* Tokenize the prompt: chat template, text with BOS, or BOS alone. */
    if (o.chat) {
        if (flx_tokenizer_encode_chat(lm.tokenizer, o.system, o.chat, &prompt, &n_prompt, &err) != 0) {
            fprintf(stderr, "flexllm generate: %s\n", err.msg);
            rc = FLX_EXIT_BAD_INPUT;
            goto done;
        }
    } else {
        const char *text = o.prompt ? o.prompt : "";
        if (flx_tokenizer_encode(lm.tokenizer, text, strlen(text), FLX_ENCODE_BOS, &prompt, &n_prompt,
                                 &err) != 0) {
            fprintf(stderr, "flexllm generate: %s\n", err.msg);
            rc = FLX_EXIT_BAD_INPUT;
            goto done;
        }
    }
    if (n_prompt == 0) {
        fprintf(stderr, "flexllm generate: the vocabulary has no BOS token; pass a non-empty --prompt\n");
        rc = FLX_EXIT_BAD_INPUT;
        goto done;
    }

    /* Size the KV cache: the model's context, capped at what this run needs. */
    long long needed = n_prompt + o.n;
    long long context = o.context ? o.context : c->context_length;
    if (context > c->context_length) {
        fprintf(stderr, "flexllm generate: --context %lld exceeds the model's context length %d\n", context,
                c->context_length);
        rc = FLX_EXIT_BAD_INPUT;
        goto done;
    }
    if (n_prompt > context) {
        fprintf(stderr,
                "flexllm generate: the prompt has %d tokens but the context holds %lld; shorten the "
                "prompt or raise --context (the model was built for %d)\n",
                n_prompt, context, c->context_length);
        rc = FLX_EXIT_BAD_INPUT;
        goto done;
    }
    int max_seq = (int)(needed < context ? needed : context);
    if (max_seq < 1) max_seq = 1;
    /* Float prefill runs in batches of up to 512 tokens to bound activation memory. */
    int max_batch = n_prompt < 512 ? n_prompt : 512;
    if (flx_backend_open(&backend, o.engine, &lm.model, o.quantized, o.config, max_seq, max_batch, &err) != 0) {
        fprintf(stderr, "flexllm generate: %s\n", err.msg);
        rc = FLX_EXIT_BAD_INPUT;
        goto done;
    }
    backend_open = 1;
    if (backend.vocab_size != c->vocab_size) {
        fprintf(stderr, "flexllm generate: %s has a vocabulary of %d tokens but %s has %d; quantize this model\n",
                o.quantized, backend.vocab_size, o.model, c->vocab_size);
        rc = FLX_EXIT_BAD_INPUT;
        goto done;
    }
    if (flx_sampler_init(&sampler, c->vocab_size, (float)o.temperature, (int)o.top_k, (float)o.top_p,
                         (uint64_t)o.seed, &err) != 0 ||
        !(logits = flx_malloc((size_t)c->vocab_size * sizeof *logits, &err))) {
        fprintf(stderr, "flexllm generate: %s\n", err.msg);
        goto done;
    }

    /* Echo the prompt as text, as llama.cpp does. */
    for (int i = 0; i < n_prompt; i++) write_piece(lm.tokenizer, i ? prompt[i - 1] : -1, prompt[i]);
    fflush(stdout);

    /* Prefill: the whole prompt; logits of its last token. */
    double t0 = flx_now_seconds();
    if (flx_backend_prompt(&backend, prompt, n_prompt, logits, &err) != 0) {
        fprintf(stderr, "flexllm generate: %s\n", err.msg);
        goto done;
    }
    double t1 = flx_now_seconds();

    /* Decode: sample, print, feed back, until -n tokens or a stop token.
     * The accelerator samples with its own kernel from the same random
     * stream; top-k 0 means its largest candidate list there. */
    int prev = prompt[n_prompt - 1], pos = n_prompt, generated = 0, steps = 0;
    while (generated < o.n) {
        int next = o.engine == FLX_ENGINE_ACCEL
                       ? flx_accel_sample(&backend.accel, logits, o.top_k ? (int)o.top_k : FLX_MAX_TOPK,
                                          (float)o.temperature, (float)o.top_p, flx_random_unit(&sampler.rng))
                       : flx_sample(&sampler, logits);
        generated++;
        if (flx_tokenizer_is_stop(lm.tokenizer, next) || next == flx_tokenizer_bos(lm.tokenizer)) break;
        write_piece(lm.tokenizer, prev, next);
        fflush(stdout);
        prev = next;
        if (generated == o.n) break;
        if (pos >= max_seq) {
            fprintf(stderr, "\nflexllm generate: stopped at the context limit of %d positions\n", max_seq);
            break;
        }
        if (flx_backend_step(&backend, next, pos, logits, &err) != 0) {
            fprintf(stderr, "flexllm generate: %s\n", err.msg);
            goto done;
        }
        pos++;
        steps++;
    }
    double t2 = flx_now_seconds();
    printf("\n");
    fprintf(stderr, "prefill: %d tokens in %.3f s (%.2f tokens/s)\n", n_prompt, t1 - t0,
            n_prompt / (t1 - t0 > 0 ? t1 - t0 : 1e-9));
    fprintf(stderr, "decode:  %d tokens sampled, %d forward steps in %.3f s (%.2f tokens/s)\n", generated, steps,
            t2 - t1, steps / (t2 - t1 > 0 ? t2 - t1 : 1e-9));
    if (o.stats) flx_backend_print_stats(&backend, stderr);
    if (o.target) {
        flx_perf_model pm;
        flx_perf_model_from_qmodel(&backend.qm, &pm);
        if (flx_perf_report_run(stderr, &device, &backend.config, &pm, &backend.accel.prefill_counters,
                                &backend.accel.decode_counters, &err) != 0) {
            fprintf(stderr, "flexllm generate: %s\n", err.msg);
            goto done;
        }
    }
    rc = FLX_EXIT_OK;

done:
    free(prompt);
    free(logits);
    flx_sampler_free(&sampler);
    if (backend_open) flx_backend_close(&backend);
    flx_loaded_model_free(&lm);
    return rc;
}
