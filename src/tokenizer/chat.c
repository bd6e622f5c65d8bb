/* Chat templates for one user turn, as Meta's reference code builds them.
 * Llama 3 (ChatFormat in meta-llama/llama3 llama/tokenizer.py):
 *   <|begin_of_text|>[<|start_header_id|>system<|end_header_id|>\n\n{system}<|eot_id|>]
 *   <|start_header_id|>user<|end_header_id|>\n\n{user}<|eot_id|>
 *   <|start_header_id|>assistant<|end_header_id|>\n\n
 * with each message stripped of surrounding white space.
 * Llama 2 (chat_completion in meta-llama/llama llama/generation.py): BOS,
 * then the text "[INST] " + strip("<<SYS>>\n{system}\n<</SYS>>\n\n{user}") + " [/INST]",
 * where the system block is present only when a system message is given.
 * Message text is encoded without special-token parsing, so a literal
 * "<|eot_id|>" typed by a user stays text. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer_internal.h"

/* NOTE: Meta's code strips with Python's str.strip(), which also removes
 * Unicode white space such as U+00A0; this strips ASCII white space only. */
static int is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* Returns the start of text without surrounding white space and its length. */
static const char *strip(const char *text, size_t *len) {
    size_t n = strlen(text);
    while (n > 0 && is_space(*text)) {
        text++;
        n--;
    }
    while (n > 0 && is_space(text[n - 1])) n--;
    *len = n;
    return text;
}

static int push_special(const flx_tokenizer *tok, const char *name, flx_ids *ids, flx_error *err) {
    int32_t id = flx_strmap_get(&tok->special_ids, name, (uint32_t)strlen(name));
    if (id < 0)
        return flx_fail(err,
                        "chat template: the vocabulary has no %s token; the Llama 3 chat "
                        "template needs a Llama 3 vocabulary",
                        name);
    return flx_ids_push(ids, id, err);
}

static int push_text(const flx_tokenizer *tok, const char *text, size_t len, flx_ids *ids,
                     flx_error *err) {
    int32_t *part = NULL;
    int n = 0;
    if (flx_tokenizer_encode(tok, text, len, 0, &part, &n, err)) return -1;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) rc = flx_ids_push(ids, part[i], err);
    free(part);
    return rc;
}

/* Appends <|start_header_id|>{role}<|end_header_id|>\n\n. */
static int push_header(const flx_tokenizer *tok, const char *role, flx_ids *ids, flx_error *err) {
    if (push_special(tok, "<|start_header_id|>", ids, err)) return -1;
    if (push_text(tok, role, strlen(role), ids, err)) return -1;
    if (push_special(tok, "<|end_header_id|>", ids, err)) return -1;
    return push_text(tok, "\n\n", 2, ids, err);
}

/* Appends a whole message: header, stripped content, <|eot_id|>. */
static int push_message(const flx_tokenizer *tok, const char *role, const char *content,
                        flx_ids *ids, flx_error *err) {
    size_t len;
    const char *text = strip(content, &len);
    if (push_header(tok, role, ids, err)) return -1;
    if (push_text(tok, text, len, ids, err)) return -1;
    return push_special(tok, "<|eot_id|>", ids, err);
}

static int encode_llama3(const flx_tokenizer *tok, const char *system, const char *user,
                         flx_ids *ids, flx_error *err) {
    if (push_special(tok, "<|begin_of_text|>", ids, err)) return -1;
    if (system && push_message(tok, "system", system, ids, err)) return -1;
    if (push_message(tok, "user", user, ids, err)) return -1;
    return push_header(tok, "assistant", ids, err);
}

static int encode_llama2(const flx_tokenizer *tok, const char *system, const char *user,
                         int32_t **out, int *n_out, flx_error *err) {
    static const char inst_open[] = "[INST] ", sys_open[] = "<<SYS>>\n",
                      sys_close[] = "\n<</SYS>>\n\n", inst_close[] = " [/INST]";
    size_t content_len = strlen(user);
    if (system) content_len += strlen(sys_open) + strlen(system) + strlen(sys_close);
    char *content = flx_malloc(content_len + 1, err);
    if (!content) return -1;
    content[0] = '\0';
    if (system) {
        strcat(content, sys_open);
        strcat(content, system);
        strcat(content, sys_close);
    }
    strcat(content, user);

    size_t stripped_len;
    const char *stripped = strip(content, &stripped_len);
    size_t len = strlen(inst_open) + stripped_len + strlen(inst_close);
    char *text = flx_malloc(len + 1, err);
    if (!text) {
        free(content);
        return -1;
    }
    strcpy(text, inst_open);
    memcpy(text + strlen(inst_open), stripped, stripped_len);
    strcpy(text + strlen(inst_open) + stripped_len, inst_close);
    free(content);

    int rc = flx_tokenizer_encode(tok, text, len, FLX_ENCODE_BOS, out, n_out, err);
    free(text);
    return rc;
}

int flx_tokenizer_encode_chat(const flx_tokenizer *tok, const char *system, const char *user,
                              int32_t **out, int *n_out, flx_error *err) {
    *out = NULL;
    *n_out = 0;
    if (!user) return flx_fail(err, "chat template: the user message is missing (NULL)");
    if (tok->kind == FLX_VOCAB_SPM) return encode_llama2(tok, system, user, out, n_out, err);

    flx_ids ids = {0};
    if (encode_llama3(tok, system, user, &ids, err)) {
        free(ids.data);
        return -1;
    }
    *out = ids.data;
    *n_out = ids.n;
    return 0;
}
