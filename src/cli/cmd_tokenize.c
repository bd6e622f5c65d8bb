/* flexllm tokenize: text on stdin to token ids, or ids back to text. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/loaded_model.h"

static const char *usage =
    "usage: flexllm tokenize (--tokenizer PATH | --model PATH) [--bos] [--special] [--decode]\n"
    "\n"
    "Reads UTF-8 text on stdin and prints one token id per line.\n"
    "\n"
    "  --tokenizer PATH  tokenizer file (tok512.bin, Llama 3 tokenizer.model,\n"
    "                    tokenizer.json, or a GGUF file's vocabulary)\n"
    "  --model PATH      use the vocabulary stored with a model\n"
    "  --bos             put the BOS token first\n"
    "  --special         turn special-token text such as <|eot_id|> into its id\n"
    "  --decode          the reverse: read whitespace-separated ids, print the text\n";

static char *read_stdin(size_t *len_out) {
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, stdin)) > 0) {
        len += n;
        if (len + 1 == cap) {
            char *grown = realloc(buf, cap * 2);
            if (!grown) {
                free(buf);
                return NULL;
            }
            buf = grown;
            cap *= 2;
        }
    }
    buf[len] = '\0';
    *len_out = len;
    return buf;
}

static int decode_ids(const flx_tokenizer *tok, const char *input) {
    int cap = 1024, n = 0;
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    if (!ids) return FLX_EXIT_FAILURE;
    const char *p = input;
    for (;;) {
        while (isspace((unsigned char)*p)) p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || (*end && !isspace((unsigned char)*end)) || v < 0 ||
            v >= flx_tokenizer_vocab_size(tok)) {
            int len = 0;
            while (p[len] && !isspace((unsigned char)p[len]) && len < 32) len++;
            fprintf(stderr, "flexllm tokenize: invalid token id '%.*s' on stdin: expected an integer from 0 to %d\n",
                    len, p, flx_tokenizer_vocab_size(tok) - 1);
            free(ids);
            return FLX_EXIT_BAD_INPUT;
        }
        if (n == cap) {
            int32_t *grown = realloc(ids, (size_t)cap * 2 * sizeof *grown);
            if (!grown) {
                free(ids);
                return FLX_EXIT_FAILURE;
            }
            ids = grown;
            cap *= 2;
        }
        ids[n++] = (int32_t)v;
        p = end;
    }
    char *text;
    size_t len;
    flx_error err;
    if (flx_tokenizer_decode(tok, ids, n, &text, &len, &err) != 0) {
        fprintf(stderr, "flexllm tokenize: %s\n", err.msg);
        free(ids);
        return FLX_EXIT_BAD_INPUT;
    }
    fwrite(text, 1, len, stdout);
    free(text);
    free(ids);
    return FLX_EXIT_OK;
}

int flx_cmd_tokenize(int argc, char **argv) {
    const char *model = NULL, *tokenizer = NULL;
    int bos = 0, special = 0, decode = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return FLX_EXIT_OK;
        } else if (!strcmp(a, "--bos")) {
            bos = 1;
        } else if (!strcmp(a, "--special")) {
            special = 1;
        } else if (!strcmp(a, "--decode")) {
            decode = 1;
        } else if (!strcmp(a, "--model") || !strcmp(a, "--tokenizer")) {
            const char *v = flx_option_value("tokenize", argc, argv, &i);
            if (!v) return FLX_EXIT_BAD_INPUT;
            if (!strcmp(a, "--model")) model = v;
            else tokenizer = v;
        } else {
            fprintf(stderr, "flexllm tokenize: unknown option '%s' (see flexllm tokenize --help)\n", a);
            return FLX_EXIT_BAD_INPUT;
        }
    }
    if (!model == !tokenizer) {
        fprintf(stderr, "flexllm tokenize: pass exactly one of --tokenizer PATH and --model PATH\n");
        return FLX_EXIT_BAD_INPUT;
    }
    flx_loaded_model lm = {0};
    flx_tokenizer *tok = NULL;
    flx_error err;
    int rc;
    if (tokenizer) {
        if (flx_tokenizer_load(&tok, tokenizer, &err) != 0) {
            fprintf(stderr, "flexllm tokenize: %s\n", err.msg);
            return FLX_EXIT_BAD_INPUT;
        }
    } else {
        rc = flx_load_model_and_tokenizer("tokenize", model, NULL, 1, &lm);
        if (rc != 0) return rc;
        tok = lm.tokenizer;
    }
    size_t len = 0;
    char *input = read_stdin(&len);
    if (!input) {
        fprintf(stderr, "flexllm tokenize: out of memory reading stdin\n");
        rc = FLX_EXIT_FAILURE;
    } else if (decode) {
        rc = decode_ids(tok, input);
    } else {
        int32_t *ids;
        int n;
        int flags = (bos ? FLX_ENCODE_BOS : 0) | (special ? FLX_ENCODE_SPECIAL : 0);
        if (flx_tokenizer_encode(tok, input, len, flags, &ids, &n, &err) != 0) {
            fprintf(stderr, "flexllm tokenize: %s\n", err.msg);
            rc = FLX_EXIT_BAD_INPUT;
        } else {
            for (int i = 0; i < n; i++) printf("%d\n", ids[i]);
            free(ids);
            rc = FLX_EXIT_OK;
        }
    }
    free(input);
    if (tokenizer) flx_tokenizer_free(tok);
    else flx_loaded_model_free(&lm);
    return rc;
}
