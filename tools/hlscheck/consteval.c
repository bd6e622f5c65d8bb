/* Integer constant expressions, the only array sizes that HLS can build
 * without dynamic allocation. The check classifies tokens; it does not
 * compute values. */
#include <string.h>

#include "program.h"

/* Nesting limit for macros defined in terms of other macros; deeper or
 * self-referential definitions count as not constant. */
#define MAX_MACRO_DEPTH 32

static bool is_integer_literal(const hls_token *t) {
    if (t->kind == HLS_TOK_CHAR) return true;
    if (t->kind != HLS_TOK_NUMBER || t->len == 0) return false;
    bool hex = t->len > 1 && t->text[0] == '0' && (t->text[1] == 'x' || t->text[1] == 'X');
    for (size_t i = hex ? 2 : 0; i < t->len; i++) {
        char c = t->text[i];
        if (c == '.' || c == '+' || c == '-') return false;
        if (!hex && (c == 'e' || c == 'E')) return false;
        if (hex && (c == 'p' || c == 'P')) return false;
        if (!hex && (c == 'f' || c == 'F')) return false;
    }
    return true;
}

static bool is_operator(const hls_token *t) {
    static const char *const ops[] = {"+",  "-",  "*",  "/",  "%",  "<<", ">>", "&", "|",  "^",
                                      "~",  "!",  "(",  ")",  "?",  ":",  "<",  ">", "<=", ">=",
                                      "==", "!=", "&&", "||", ","};
    if (t->kind != HLS_TOK_PUNCT) return false;
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
        if (hls_token_is(t, ops[i])) return true;
    return false;
}

/* Names that <stdint.h> and <stdbool.h> define as integer constants or as
 * macros that make one. */
static bool is_library_constant(const hls_token *t) {
    static const char *const names[] = {
        "true",        "false",       "INT8_MAX",    "INT16_MAX",   "INT32_MAX",   "INT64_MAX",   "INT8_MIN",
        "INT16_MIN",   "INT32_MIN",   "INT64_MIN",   "UINT8_MAX",   "UINT16_MAX",  "UINT32_MAX",  "UINT64_MAX",
        "INTPTR_MIN",  "INTPTR_MAX",  "UINTPTR_MAX", "INTMAX_MIN",  "INTMAX_MAX",  "UINTMAX_MAX", "SIZE_MAX",
        "PTRDIFF_MIN", "PTRDIFF_MAX", "INT8_C",      "INT16_C",     "INT32_C",     "INT64_C",     "UINT8_C",
        "UINT16_C",    "UINT32_C",    "UINT64_C",    "INTMAX_C",    "UINTMAX_C"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (hls_token_is(t, names[i])) return true;
    return false;
}

static bool is_cast_type_word(const hls_program *p, const hls_token *t) {
    static const char *const words[] = {"int",      "long",   "short", "char",  "signed",
                                        "unsigned", "_Bool",  "const", "volatile"};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        if (hls_token_is(t, words[i])) return true;
    return hls_is_builtin_type_name(t) || hls_name_has(&p->typedefs, t->text, t->len);
}

/* Index after the parenthesized group that opens at i, or end. */
static size_t skip_group(const hls_token *t, size_t i, size_t end) {
    int depth = 0;
    for (; i < end; i++) {
        if (hls_token_is(&t[i], "(")) depth++;
        if (hls_token_is(&t[i], ")") && --depth == 0) return i + 1;
    }
    return end;
}

/* Operand of 'sizeof x' without parentheses: x and its subscripts and
 * member accesses. */
static size_t skip_unary_operand(const hls_token *t, size_t i, size_t end) {
    if (i >= end) return end;
    i++;
    while (i < end) {
        if (hls_token_is(&t[i], "[")) {
            int depth = 0;
            for (; i < end; i++) {
                if (hls_token_is(&t[i], "[")) depth++;
                if (hls_token_is(&t[i], "]") && --depth == 0) break;
            }
            i++;
        } else if ((hls_token_is(&t[i], ".") || hls_token_is(&t[i], "->")) && i + 1 < end) {
            i += 2;
        } else {
            break;
        }
    }
    return i;
}

static bool is_param(const hls_macro *m, const hls_token *t) {
    for (size_t i = 0; m && i < m->params_count; i++)
        if (m->params[i].kind == HLS_TOK_IDENT && m->params[i].len == t->len &&
            !memcmp(m->params[i].text, t->text, t->len))
            return true;
    return false;
}

/* scope: the function-like macro whose body is being checked, so its
 * parameter names count as constants (the arguments are checked at the
 * use). */
static bool constant_tokens(const hls_program *p, const hls_token *t, size_t begin, size_t end, int depth,
                            const hls_macro *scope) {
    if (begin >= end || depth > MAX_MACRO_DEPTH) return false;
    for (size_t i = begin; i < end;) {
        const hls_token *tok = &t[i];
        if (is_integer_literal(tok) || is_operator(tok)) {
            i++;
            continue;
        }
        if (tok->kind != HLS_TOK_IDENT) return false;
        if (hls_token_is(tok, "sizeof") || hls_token_is(tok, "_Alignof")) {
            if (i + 1 < end && hls_token_is(&t[i + 1], "("))
                i = skip_group(t, i + 1, end);
            else
                i = skip_unary_operand(t, i + 1, end);
            continue;
        }
        if (is_param(scope, tok) || is_library_constant(tok) || is_cast_type_word(p, tok) ||
            hls_name_has(&p->enum_constants, tok->text, tok->len)) {
            i++;
            continue;
        }
        const hls_macro *m = hls_find_macro(p, tok);
        if (!m) return false;
        if (m->function_like && !(i + 1 < end && hls_token_is(&t[i + 1], "("))) return false;
        if (!constant_tokens(p, m->body, 0, m->body_count, depth + 1, m->function_like ? m : NULL)) return false;
        i++;
    }
    return true;
}

bool hls_is_constant_expr(const hls_program *p, const hls_token *t, size_t begin, size_t end) {
    return constant_tokens(p, t, begin, end, 0, NULL);
}
