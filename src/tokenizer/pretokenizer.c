#include "tokenizer/pretokenizer.h"

#include <stdlib.h>

const char flx_llama3_pattern[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}|"
    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

#ifdef FLEXLLM_HAVE_PCRE2
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

struct flx_pretokenizer {
    pcre2_code *code;
};

int flx_pretokenizer_create(flx_pretokenizer **out, flx_error *err) {
    *out = NULL;
    flx_pretokenizer *pt = flx_calloc(1, sizeof *pt, err);
    if (!pt) return -1;

    /* PCRE2_UCP makes \s, \p{L} and case folding follow Unicode properties.
     * PCRE2_MATCH_INVALID_UTF lets invalid UTF-8 through as non-matching
     * bytes instead of failing the whole match. */
    int code_err;
    PCRE2_SIZE err_offset;
    pt->code = pcre2_compile((PCRE2_SPTR)flx_llama3_pattern, PCRE2_ZERO_TERMINATED,
                             PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &code_err,
                             &err_offset, NULL);
    if (!pt->code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code_err, msg, sizeof msg);
        free(pt);
        return flx_fail(err, "PCRE2 failed to compile the Llama 3 pre-tokenizer pattern at offset %zu: %s",
                        (size_t)err_offset, (const char *)msg);
    }
    /* JIT is optional: pcre2_match falls back to the interpreter without it. */
    (void)pcre2_jit_compile(pt->code, PCRE2_JIT_COMPLETE);
    *out = pt;
    return 0;
}

void flx_pretokenizer_free(flx_pretokenizer *pt) {
    if (!pt) return;
    pcre2_code_free(pt->code);
    free(pt);
}

int flx_pretokenizer_split(const flx_pretokenizer *pt, const char *text, size_t len,
                           flx_pretoken_fn fn, void *ctx, flx_error *err) {
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(pt->code, NULL);
    if (!md) return flx_fail(err, "out of memory creating PCRE2 match data");

    int rc = 0;
    size_t pos = 0;
    while (pos < len && rc == 0) {
        int n = pcre2_match(pt->code, (PCRE2_SPTR)text, len, pos, 0, md, NULL);
        size_t start = len, end = len;
        if (n > 0) {
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            start = ov[0];
            end = ov[1];
        } else if (n != PCRE2_ERROR_NOMATCH) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(n, msg, sizeof msg);
            rc = flx_fail(err, "PCRE2 pre-tokenizer match failed at byte %zu of %zu: %s", pos, len,
                          (const char *)msg);
            break;
        }
        /* No alternative of the pattern matches the empty string. If one ever
         * did, this moves a byte into the gap so the loop still advances. */
        if (end <= start && start < len) end = start = start + 1;

        if (start > pos) rc = fn(ctx, text + pos, start - pos, err);
        if (rc == 0 && end > start) rc = fn(ctx, text + start, end - start, err);
        pos = end;
    }
    pcre2_match_data_free(md);
    return rc;
}

#else /* !FLEXLLM_HAVE_PCRE2 */

int flx_pretokenizer_create(flx_pretokenizer **out, flx_error *err) {
    *out = NULL;
    return flx_fail(err, "the Llama 3 pre-tokenizer needs PCRE2, and FlexLLM was built without "
                         "PCRE2; install libpcre2-dev and rebuild");
}

void flx_pretokenizer_free(flx_pretokenizer *pt) { (void)pt; }

int flx_pretokenizer_split(const flx_pretokenizer *pt, const char *text, size_t len,
                           flx_pretoken_fn fn, void *ctx, flx_error *err) {
    (void)pt, (void)text, (void)len, (void)fn, (void)ctx;
    return flx_fail(err, "built without PCRE2; install libpcre2-dev and rebuild");
}

#endif
