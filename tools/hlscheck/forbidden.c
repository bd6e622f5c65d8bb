/* Constructs that HLS cannot synthesize wherever they appear: function
 * pointers, functions used as values, goto, inline assembly and the C++
 * allocation operators. */
#include "program.h"

/* '(' '*' qualifiers [name] ')' '(' : a function pointer declarator, a
 * cast to one, or a call through one. Stores the name's index, or HLS_NONE
 * for an abstract declarator, in *name. */
static bool is_function_pointer(const hls_file *f, size_t i, size_t *name) {
    const hls_token *t = f->code.items;
    size_t n = f->code.count;
    *name = HLS_NONE;
    if (!hls_token_is(&t[i], "(") || i + 1 >= n || !hls_token_is(&t[i + 1], "*")) return false;
    size_t j = i + 1;
    while (j < n && (hls_token_is(&t[j], "*") || hls_token_is(&t[j], "const") || hls_token_is(&t[j], "volatile") ||
                     hls_token_is(&t[j], "restrict") || hls_token_is(&t[j], "__restrict")))
        j++;
    if (j < n && t[j].kind == HLS_TOK_IDENT && !hls_is_keyword(&t[j])) *name = j++;
    return j + 1 < n && hls_token_is(&t[j], ")") && f->match[i] == j && hls_token_is(&t[j + 1], "(");
}

/* The function whose body contains token i, or -1. */
static int enclosing_function(const hls_program *p, int file, size_t i) {
    for (size_t k = 0; k < p->n_functions; k++) {
        const hls_function *fn = &p->functions[k];
        if (fn->file == file && fn->body < i && i < p->files[file].match[fn->body]) return (int)k;
    }
    return -1;
}

/* A function name that is not called: its address goes somewhere, which
 * only serves an indirect call. */
static void check_function_value(hls_program *p, int file, size_t i) {
    const hls_file *f = &p->files[file];
    const hls_token *t = f->code.items;
    const hls_token *name = &t[i];
    if (name->kind != HLS_TOK_IDENT || hls_is_keyword(name)) return;
    if (i + 1 < f->code.count && hls_token_is(&t[i + 1], "(")) return;
    if (f->marks[i] & (HLS_MARK_DECL_NAME | HLS_MARK_LABEL)) return;
    if (i > 0 && (hls_token_is(&t[i - 1], ".") || hls_token_is(&t[i - 1], "->") || hls_token_is(&t[i - 1], "goto")))
        return;
    if (hls_resolve_function(p, file, name) < 0 && !hls_is_allowed_math(name)) return;
    if (hls_name_has(&f->globals, name->text, name->len)) return;
    int fn = enclosing_function(p, file, i);
    if (fn >= 0 && hls_name_has(&p->functions[fn].locals, name->text, name->len)) return;
    hls_report(p, file, name->line, "function-pointer",
               "function '%.*s' is used as a value, which only serves an indirect call through a function "
               "pointer; call it directly",
               (int)name->len, name->text);
}

void hls_check_tokens(hls_program *p, int file) {
    const hls_file *f = &p->files[file];
    const hls_token *t = f->code.items;
    size_t n = f->code.count;
    for (size_t i = 0; i < n; i++) {
        const hls_token *tok = &t[i];
        size_t name;
        if (is_function_pointer(f, i, &name)) {
            if (name != HLS_NONE)
                hls_report(p, file, tok->line, "function-pointer",
                           "'(*%.*s)(...)' is a function pointer, which HLS cannot synthesize; call the function "
                           "directly",
                           (int)t[name].len, t[name].text);
            else
                hls_report(p, file, tok->line, "function-pointer",
                           "'(*)(...)' is a function pointer type, which HLS cannot synthesize; call the function "
                           "directly");
            i = f->match[i]; /* the name inside is reported with the pointer */
            continue;
        }
        if (tok->kind != HLS_TOK_IDENT) continue;
        if (hls_token_is(tok, "goto")) {
            hls_report(p, file, tok->line, "goto",
                       "goto is not allowed in kernel code; use structured loops with break or a flag");
        } else if (hls_token_is(tok, "asm") || hls_token_is(tok, "__asm") || hls_token_is(tok, "__asm__")) {
            hls_report(p, file, tok->line, "asm", "inline assembly cannot be synthesized; write the operation in C");
        } else if ((hls_token_is(tok, "new") || hls_token_is(tok, "delete")) && i + 1 < n &&
                   (t[i + 1].kind == HLS_TOK_IDENT || hls_token_is(&t[i + 1], "["))) {
            hls_report(p, file, tok->line, "dynamic-memory",
                       "C++ '%.*s' manages memory at run time, which HLS cannot synthesize; use a fixed-size array",
                       (int)tok->len, tok->text);
        } else {
            check_function_value(p, file, i);
        }
    }
}
