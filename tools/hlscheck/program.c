#include "program.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int hls_grow(hls_program *p, void **items, size_t *cap, size_t count, size_t elem) {
    if (count < *cap) return 0;
    size_t n = *cap ? *cap * 2 : 16;
    if (n > SIZE_MAX / elem) {
        p->out_of_memory = true;
        return -1;
    }
    void *grown = realloc(*items, n * elem);
    if (!grown) {
        p->out_of_memory = true;
        return -1;
    }
    *items = grown;
    *cap = n;
    return 0;
}

int hls_name_add(hls_program *p, hls_name_set *set, const hls_token *t) {
    if (hls_name_has(set, t->text, t->len)) return 0;
    if (hls_grow(p, (void **)&set->items, &set->cap, set->count, sizeof *set->items) != 0) return -1;
    set->items[set->count].text = t->text;
    set->items[set->count].len = t->len;
    set->count++;
    return 0;
}

bool hls_name_has(const hls_name_set *set, const char *text, size_t len) {
    for (size_t i = 0; i < set->count; i++)
        if (set->items[i].len == len && !memcmp(set->items[i].text, text, len)) return true;
    return false;
}

void hls_name_set_free(hls_name_set *set) {
    free(set->items);
    set->items = NULL;
    set->count = set->cap = 0;
}

void hls_report(hls_program *p, int file, int line, const char *rule, const char *fmt, ...) {
    if (hls_grow(p, (void **)&p->violations, &p->cap_violations, p->n_violations, sizeof *p->violations) != 0)
        return;
    hls_violation *v = &p->violations[p->n_violations];
    v->file = file;
    v->line = line;
    v->seq = p->n_violations;
    v->rule = rule;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->message, sizeof v->message, fmt, ap);
    va_end(ap);
    p->n_violations++;
}

void hls_tokens_text(const hls_token *t, size_t begin, size_t end, char *buf, size_t size) {
    size_t used = 0;
    if (size == 0) return;
    buf[0] = '\0';
    for (size_t i = begin; i < end; i++) {
        /* One space where the source has any blank or comment between the tokens. */
        bool space = i > begin && t[i].text != t[i - 1].text + t[i - 1].len;
        size_t need = t[i].len + space;
        if (used + need + 4 > size) {
            if (used + 4 <= size) memcpy(buf + used, "...", 4);
            return;
        }
        if (space) buf[used++] = ' ';
        memcpy(buf + used, t[i].text, t[i].len);
        used += t[i].len;
        buf[used] = '\0';
    }
}

static bool in_list(const hls_token *t, const char *const *list, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (hls_token_is(t, list[i])) return true;
    return false;
}

bool hls_is_keyword(const hls_token *t) {
    static const char *const keywords[] = {
        "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum",
        "extern", "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return",
        "short", "signed", "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void",
        "volatile", "while", "_Alignas", "_Alignof", "_Atomic", "_Bool", "_Complex", "_Generic",
        "_Imaginary", "_Noreturn", "_Static_assert", "_Thread_local", "__attribute__", "__inline",
        "__inline__", "__restrict", "__restrict__", "__volatile__", "__const", "__signed__", "__typeof__",
        "typeof", "__extension__", "asm", "__asm", "__asm__", "_Pragma"};
    return t->kind == HLS_TOK_IDENT && in_list(t, keywords, sizeof keywords / sizeof *keywords);
}

bool hls_is_builtin_type_name(const hls_token *t) {
    static const char *const names[] = {
        "int8_t", "int16_t", "int32_t", "int64_t", "uint8_t", "uint16_t", "uint32_t", "uint64_t",
        "int_least8_t", "int_least16_t", "int_least32_t", "int_least64_t", "uint_least8_t",
        "uint_least16_t", "uint_least32_t", "uint_least64_t", "int_fast8_t", "int_fast16_t",
        "int_fast32_t", "int_fast64_t", "uint_fast8_t", "uint_fast16_t", "uint_fast32_t",
        "uint_fast64_t", "intptr_t", "uintptr_t", "intmax_t", "uintmax_t", "bool", "float_t", "double_t"};
    return t->kind == HLS_TOK_IDENT && in_list(t, names, sizeof names / sizeof *names);
}

bool hls_is_visible_typedef(const hls_program *p, int file, const hls_token *t) {
    if (t->kind != HLS_TOK_IDENT) return false;
    for (size_t j = 0; j < p->n_files; j++)
        if (p->visible[(size_t)file * p->n_files + j] && hls_name_has(&p->files[j].typedefs, t->text, t->len))
            return true;
    return false;
}

const hls_macro *hls_find_macro(const hls_program *p, const hls_token *name) {
    for (size_t i = 0; i < p->n_macros; i++) {
        const hls_token *m = p->macros[i].name;
        if (m->len == name->len && !memcmp(m->text, name->text, name->len)) return &p->macros[i];
    }
    return NULL;
}
