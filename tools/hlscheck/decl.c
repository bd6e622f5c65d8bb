/* The declaration pass: declaration specifiers and declarators at file
 * scope, in parameter lists, struct bodies and function bodies. It finds
 * function definitions and checks every array dimension. */
#include <stdio.h>
#include <string.h>

#include "program.h"

/* Nesting limit for parenthesized declarators such as int (*(*f))[4];
 * deeper input is not read as a declaration. */
#define MAX_DECLARATOR_DEPTH 64

typedef enum decl_mode { MODE_FILE, MODE_BLOCK, MODE_FOR, MODE_MEMBER, MODE_PARAM } decl_mode;

typedef struct decl_ctx {
    hls_program *p;
    int file;
    hls_file *f;
    const hls_token *t;
    size_t n;
    int function;      /* enclosing function definition, or -1 */
    bool collect_only; /* first pass: record typedef names, report nothing */
} decl_ctx;

typedef struct specifiers {
    bool any, has_type, is_typedef, is_static;
} specifiers;

typedef struct declarator {
    size_t name;   /* HLS_NONE for an abstract declarator */
    size_t params; /* '(' of the parameter list when the name is declared as a function */
    bool nested;   /* the name sits in parentheses, as in (*name) */
} declarator;

static bool is(const decl_ctx *c, size_t i, size_t end, const char *s) {
    return i < end && i < c->n && hls_token_is(&c->t[i], s);
}

static size_t match_of(const decl_ctx *c, size_t i) {
    return i < c->n ? c->f->match[i] : HLS_NONE;
}

static bool word_in(const hls_token *t, const char *const *words, size_t n) {
    if (t->kind != HLS_TOK_IDENT) return false;
    for (size_t i = 0; i < n; i++)
        if (hls_token_is(t, words[i])) return true;
    return false;
}

static bool is_qualifier_word(const hls_token *t) {
    static const char *const words[] = {"const",    "volatile",   "restrict", "static",     "extern",
                                        "register", "auto",       "inline",   "_Noreturn",  "_Thread_local",
                                        "__inline", "__inline__", "__restrict", "__restrict__", "__extension__",
                                        "__const",  "typedef",    "__volatile__"};
    return word_in(t, words, sizeof words / sizeof *words);
}

static bool is_basic_type_word(const hls_token *t) {
    static const char *const words[] = {"void",     "char",  "short",    "int",       "long",
                                        "float",    "double", "signed",  "unsigned",  "_Bool",
                                        "_Complex", "__signed__"};
    return word_in(t, words, sizeof words / sizeof *words);
}

static bool is_type_name(const decl_ctx *c, const hls_token *t) {
    return t->kind == HLS_TOK_IDENT &&
           (hls_is_builtin_type_name(t) || hls_is_visible_typedef(c->p, c->file, t));
}

/* Index after the bracket group that opens at i, or HLS_NONE when it is
 * not closed before end. */
static size_t after_group(const decl_ctx *c, size_t i, size_t end) {
    size_t m = match_of(c, i);
    return m == HLS_NONE || m >= end ? HLS_NONE : m + 1;
}

/* Index after the next ';' at this nesting level, or the index of the
 * closing bracket or end that cuts the statement off. */
static size_t skip_statement(const decl_ctx *c, size_t i, size_t end) {
    while (i < end) {
        const hls_token *t = &c->t[i];
        if (hls_token_is(t, ";")) return i + 1;
        if (hls_token_is(t, ")") || hls_token_is(t, "]") || hls_token_is(t, "}")) return i;
        if (hls_token_is(t, "(") || hls_token_is(t, "[") || hls_token_is(t, "{")) {
            size_t next = after_group(c, i, end);
            if (next == HLS_NONE) return end;
            /* A braced group at file or block level ends a statement such as
             * a function body that was not read as a declaration. */
            if (hls_token_is(t, "{") && (next >= end || !is(c, next, end, ";"))) return next;
            i = next;
            continue;
        }
        i++;
    }
    return end;
}

static void record_name(decl_ctx *c, hls_name_set *set, size_t i) {
    if (!c->collect_only) hls_name_add(c->p, set, &c->t[i]);
}

static size_t parse_declaration(decl_ctx *c, size_t i, size_t end, decl_mode mode);
static void walk_block(decl_ctx *c, size_t open, size_t close);

static void parse_members(decl_ctx *c, size_t open, size_t close) {
    size_t i = open + 1;
    while (i < close) {
        if (c->t[i].kind == HLS_TOK_PRAGMA || hls_token_is(&c->t[i], ";")) {
            i++;
            continue;
        }
        size_t k = parse_declaration(c, i, close, MODE_MEMBER);
        i = k != i ? k : skip_statement(c, i, close);
        if (i < close && (hls_token_is(&c->t[i], ")") || hls_token_is(&c->t[i], "]") || hls_token_is(&c->t[i], "}")))
            i++;
    }
}

/* Declaration specifiers from i; returns the index after them. */
static size_t parse_specifiers(decl_ctx *c, size_t i, size_t end, specifiers *s) {
    size_t begin = i;
    memset(s, 0, sizeof *s);
    while (i < end) {
        const hls_token *t = &c->t[i];
        if (t->kind != HLS_TOK_IDENT) break;
        if (is_qualifier_word(t)) {
            if (hls_token_is(t, "typedef")) s->is_typedef = true;
            if (hls_token_is(t, "static")) s->is_static = true;
            i++;
        } else if (is_basic_type_word(t)) {
            s->has_type = true;
            i++;
        } else if (hls_token_is(t, "struct") || hls_token_is(t, "union") || hls_token_is(t, "enum")) {
            bool record = !hls_token_is(t, "enum");
            s->has_type = true;
            i++;
            if (i < end && c->t[i].kind == HLS_TOK_IDENT && !hls_is_keyword(&c->t[i])) i++;
            if (is(c, i, end, "{")) {
                size_t next = after_group(c, i, end);
                if (next == HLS_NONE) return end;
                if (record) parse_members(c, i, next - 1);
                i = next;
            }
        } else if ((hls_token_is(t, "__attribute__") || hls_token_is(t, "_Alignas") || hls_token_is(t, "_Atomic") ||
                    hls_token_is(t, "__declspec") || hls_token_is(t, "typeof") || hls_token_is(t, "__typeof__")) &&
                   is(c, i + 1, end, "(")) {
            /* _Atomic(T) and typeof(x) name a type; attributes and _Alignas do not. */
            if (hls_token_is(t, "_Atomic") || hls_token_is(t, "typeof") || hls_token_is(t, "__typeof__"))
                s->has_type = true;
            size_t next = after_group(c, i + 1, end);
            if (next == HLS_NONE) return end;
            i = next;
        } else if (!s->has_type && !hls_is_keyword(t) &&
                   (is_type_name(c, t) || s->is_typedef ||
                    (i + 1 < end && c->t[i + 1].kind == HLS_TOK_IDENT && !hls_is_keyword(&c->t[i + 1])) ||
                    (i + 1 < end && c->t[i + 1].kind == HLS_TOK_IDENT && is_qualifier_word(&c->t[i + 1])))) {
            /* A typedef name: one the files define, or any identifier
             * followed by another, as in 'T x;'. */
            s->has_type = true;
            i++;
        } else {
            break;
        }
    }
    s->any = i > begin;
    return i;
}

/* Checks one array dimension, the tokens strictly between '[' and ']'. */
static void check_dimension(decl_ctx *c, size_t open, size_t close, const declarator *d) {
    size_t b = open + 1;
    while (b < close && (c->t[b].kind == HLS_TOK_IDENT && is_qualifier_word(&c->t[b]))) b++;
    if (b >= close || c->collect_only) return; /* int x[]: size from the initializer or the caller */
    bool star = b + 1 == close && hls_token_is(&c->t[b], "*"); /* [*]: a VLA of unspecified size */
    char name[64] = "";
    if (d->name != HLS_NONE)
        snprintf(name, sizeof name, " of '%.*s'", (int)(c->t[d->name].len > 40 ? 40 : c->t[d->name].len),
                 c->t[d->name].text);
    if (!star && hls_is_constant_expr(c->p, c->t, b, close)) return;
    char dim[120];
    hls_tokens_text(c->t, b, close, dim, sizeof dim);
    hls_report(c->p, c->file, c->t[open].line, "vla",
               "array dimension '%s'%s is not an integer constant expression; size the array with a "
               "compile-time maximum such as a #define",
               dim, name);
}

static void parse_params(decl_ctx *c, size_t open, size_t close);

/* A declarator from i; returns the index after it, or i when none is there. */
static size_t parse_declarator(decl_ctx *c, size_t i, size_t end, declarator *d, int depth) {
    d->name = HLS_NONE;
    d->params = HLS_NONE;
    d->nested = false;
    if (depth > MAX_DECLARATOR_DEPTH) return i;
    size_t begin = i;
    while (i < end) {
        const hls_token *t = &c->t[i];
        if (hls_token_is(t, "*") || (t->kind == HLS_TOK_IDENT && is_qualifier_word(t))) {
            i++;
        } else if ((hls_token_is(t, "__attribute__") || hls_token_is(t, "_Atomic")) && is(c, i + 1, end, "(")) {
            size_t next = after_group(c, i + 1, end);
            if (next == HLS_NONE) return begin;
            i = next;
        } else {
            break;
        }
    }
    /* The specifiers took any leading typedef name, so an identifier here
     * is the declared name, even one spelled like a typedef. */
    if (i < end && c->t[i].kind == HLS_TOK_IDENT && !hls_is_keyword(&c->t[i])) {
        d->name = i;
        c->f->marks[i] |= HLS_MARK_DECL_NAME;
        i++;
    } else if (is(c, i, end, "(") && i + 1 < end &&
               (hls_token_is(&c->t[i + 1], "*") || hls_token_is(&c->t[i + 1], "(") ||
                (c->t[i + 1].kind == HLS_TOK_IDENT && !hls_is_keyword(&c->t[i + 1]) &&
                 !is_type_name(c, &c->t[i + 1]) && !is_qualifier_word(&c->t[i + 1])))) {
        size_t close = match_of(c, i);
        if (close == HLS_NONE || close >= end) return begin;
        declarator inner;
        size_t k = parse_declarator(c, i + 1, close, &inner, depth + 1);
        if (k != close) return begin;
        d->name = inner.name;
        d->nested = true;
        i = close + 1;
    }
    bool first_suffix = true;
    while (i < end) {
        if (is(c, i, end, "[")) {
            size_t close = match_of(c, i);
            if (close == HLS_NONE || close >= end) return begin;
            check_dimension(c, i, close, d);
            i = close + 1;
        } else if (is(c, i, end, "(")) {
            size_t close = match_of(c, i);
            if (close == HLS_NONE || close >= end) return begin;
            if (first_suffix && !d->nested && d->name != HLS_NONE) d->params = i;
            parse_params(c, i, close);
            i = close + 1;
        } else {
            break;
        }
        first_suffix = false;
    }
    return i;
}

static void parse_params(decl_ctx *c, size_t open, size_t close) {
    size_t i = open + 1;
    while (i < close) {
        size_t stop = i;
        while (stop < close && !hls_token_is(&c->t[stop], ",")) {
            size_t next = hls_token_is(&c->t[stop], "(") || hls_token_is(&c->t[stop], "[") ||
                                  hls_token_is(&c->t[stop], "{")
                              ? after_group(c, stop, close)
                              : stop + 1;
            stop = next == HLS_NONE ? close : next;
        }
        specifiers s;
        size_t k = parse_specifiers(c, i, stop, &s);
        if (s.any) {
            declarator d;
            parse_declarator(c, k, stop, &d, 0);
        }
        i = stop + 1;
    }
}

/* Skips an initializer from i up to the ',' or ';' that ends it. */
static size_t skip_initializer(const decl_ctx *c, size_t i, size_t end) {
    while (i < end && !hls_token_is(&c->t[i], ",") && !hls_token_is(&c->t[i], ";")) {
        const hls_token *t = &c->t[i];
        if (hls_token_is(t, ")") || hls_token_is(t, "]") || hls_token_is(t, "}")) return i;
        if (hls_token_is(t, "(") || hls_token_is(t, "[") || hls_token_is(t, "{")) {
            size_t next = after_group(c, i, end);
            if (next == HLS_NONE) return end;
            i = next;
        } else {
            i++;
        }
    }
    return i;
}

static void record_function(decl_ctx *c, const declarator *d, size_t body, bool is_static) {
    hls_program *p = c->p;
    if (hls_grow(p, (void **)&p->functions, &p->cap_functions, p->n_functions, sizeof *p->functions) != 0) return;
    hls_function *fn = &p->functions[p->n_functions];
    memset(fn, 0, sizeof *fn);
    fn->file = c->file;
    fn->name = d->name;
    fn->params = d->params;
    fn->body = body;
    fn->is_static = is_static;
    int index = (int)p->n_functions++;

    size_t params_close = c->f->match[d->params];
    for (size_t i = d->params + 1; i < params_close; i++)
        if (c->f->marks[i] & HLS_MARK_DECL_NAME) hls_name_add(p, &p->functions[index].locals, &c->t[i]);
    int outer = c->function;
    c->function = index;
    walk_block(c, body, c->f->match[body]);
    c->function = outer;
}

/* Reads one declaration that starts at i. Returns the index after it (after
 * the body of a function definition), or i when the tokens at i do not
 * start a declaration. */
static size_t parse_declaration(decl_ctx *c, size_t i, size_t end, decl_mode mode) {
    specifiers s;
    size_t j = parse_specifiers(c, i, end, &s);
    if (!s.any || (!s.has_type && !s.is_typedef && (j >= end || c->t[j].kind != HLS_TOK_IDENT))) return i;
    if (is(c, j, end, ";")) return j + 1;
    for (;;) {
        declarator d;
        size_t k = parse_declarator(c, j, end, &d, 0);
        if (k == j || d.name == HLS_NONE) return skip_statement(c, k, end);

        if (s.is_typedef) {
            hls_name_add(c->p, &c->f->typedefs, &c->t[d.name]);
            hls_name_add(c->p, &c->p->typedefs, &c->t[d.name]);
            if (d.params != HLS_NONE && !c->collect_only)
                hls_report(c->p, c->file, c->t[d.name].line, "function-pointer",
                           "typedef '%.*s' names a function type, which only serves to declare function "
                           "pointers; call the function directly",
                           (int)c->t[d.name].len, c->t[d.name].text);
        } else if (mode == MODE_FILE && d.params == HLS_NONE) {
            record_name(c, &c->f->globals, d.name);
        } else if ((mode == MODE_BLOCK || mode == MODE_FOR) && c->function >= 0 && d.params == HLS_NONE) {
            record_name(c, &c->p->functions[c->function].locals, d.name);
        }

        if (mode == MODE_FILE && d.params != HLS_NONE && is(c, k, end, "{") && !s.is_typedef) {
            size_t close = match_of(c, k);
            if (close == HLS_NONE) return end;
            if (!c->collect_only) record_function(c, &d, k, s.is_static);
            return close + 1;
        }
        while ((is(c, k, end, "__attribute__") || is(c, k, end, "asm") || is(c, k, end, "__asm__") ||
                is(c, k, end, "__asm")) &&
               is(c, k + 1, end, "(")) {
            size_t next = after_group(c, k + 1, end);
            if (next == HLS_NONE) return end;
            k = next;
        }
        if (mode == MODE_MEMBER && is(c, k, end, ":")) k = skip_initializer(c, k + 1, end);
        if (is(c, k, end, "=")) k = skip_initializer(c, k + 1, end);
        if (is(c, k, end, ",")) {
            j = k + 1;
            continue;
        }
        if (is(c, k, end, ";")) return k + 1;
        return skip_statement(c, k, end);
    }
}

/* Marks statement starts, labels and header ends of a function body and
 * reads the declarations in it. */
static void walk_block(decl_ctx *c, size_t open, size_t close) {
    unsigned char *marks = c->f->marks;
    bool at_start = true;
    size_t i = open + 1;
    while (i < close) {
        const hls_token *t = &c->t[i];
        if (t->kind == HLS_TOK_PRAGMA) {
            i++;
            continue;
        }
        if (at_start) {
            if (t->kind == HLS_TOK_IDENT && !hls_is_keyword(t) && is(c, i + 1, close, ":")) {
                marks[i] |= HLS_MARK_LABEL;
                marks[i + 1] |= HLS_MARK_LABEL;
                i += 2;
                continue;
            }
            if (hls_token_is(t, "case") || hls_token_is(t, "default")) {
                size_t j = i + 1;
                int ternaries = 0;
                while (j < close && !(hls_token_is(&c->t[j], ":") && ternaries == 0)) {
                    if (hls_token_is(&c->t[j], "?")) ternaries++;
                    if (hls_token_is(&c->t[j], ":")) ternaries--;
                    j++;
                }
                i = j + 1;
                continue;
            }
            size_t k = parse_declaration(c, i, close, MODE_BLOCK);
            if (k != i) {
                i = k;
                continue;
            }
        }
        at_start = false;
        if (hls_token_is(t, ";") || hls_token_is(t, "{") || hls_token_is(t, "}") || hls_token_is(t, "else") ||
            hls_token_is(t, "do") || (marks[i] & HLS_MARK_HEADER_END)) {
            at_start = true;
        } else if ((hls_token_is(t, "for") || hls_token_is(t, "while") || hls_token_is(t, "if") ||
                    hls_token_is(t, "switch")) &&
                   is(c, i + 1, close, "(")) {
            size_t header_close = match_of(c, i + 1);
            if (header_close != HLS_NONE && header_close < close) {
                marks[header_close] |= HLS_MARK_HEADER_END;
                if (hls_token_is(t, "for")) {
                    size_t k = parse_declaration(c, i + 2, header_close, MODE_FOR);
                    i = k != i + 2 ? k : i + 2;
                    continue;
                }
            }
        }
        i++;
    }
}

static void init_ctx(decl_ctx *c, hls_program *p, int file, bool collect_only) {
    c->p = p;
    c->file = file;
    c->f = &p->files[file];
    c->t = c->f->code.items;
    c->n = c->f->code.count;
    c->function = -1;
    c->collect_only = collect_only;
}

/* Enumerators of every enum body: the identifiers after '{' or ','. */
static void collect_enum_constants(hls_program *p, decl_ctx *c) {
    for (size_t i = 0; i < c->n; i++) {
        if (!hls_token_is(&c->t[i], "enum")) continue;
        size_t open = i + 1;
        if (open < c->n && c->t[open].kind == HLS_TOK_IDENT) open++;
        if (!is(c, open, c->n, "{") || c->f->match[open] == HLS_NONE) continue;
        size_t close = c->f->match[open];
        bool expect_name = true;
        for (size_t j = open + 1; j < close; j++) {
            const hls_token *t = &c->t[j];
            if (expect_name && t->kind == HLS_TOK_IDENT) hls_name_add(p, &p->enum_constants, t);
            expect_name = false;
            if (hls_token_is(t, "(") || hls_token_is(t, "[") || hls_token_is(t, "{")) {
                if (c->f->match[j] != HLS_NONE && c->f->match[j] < close) j = c->f->match[j];
            } else if (hls_token_is(t, ",")) {
                expect_name = true;
            }
        }
    }
}

void hls_collect_type_names(hls_program *p) {
    for (size_t file = 0; file < p->n_files; file++) {
        decl_ctx c;
        init_ctx(&c, p, (int)file, true);
        collect_enum_constants(p, &c);
        for (size_t i = 0; i < c.n; i++)
            if (hls_token_is(&c.t[i], "typedef")) parse_declaration(&c, i, c.n, MODE_BLOCK);
    }
    /* The first pass sets marks that the real pass sets again. */
    for (size_t file = 0; file < p->n_files; file++)
        if (p->files[file].code.count) memset(p->files[file].marks, 0, p->files[file].code.count);
}

void hls_scan_declarations(hls_program *p, int file) {
    decl_ctx c;
    init_ctx(&c, p, file, false);
    size_t i = 0;
    while (i < c.n) {
        const hls_token *t = &c.t[i];
        if (t->kind == HLS_TOK_PRAGMA || hls_token_is(t, ";")) {
            i++;
            continue;
        }
        size_t k = parse_declaration(&c, i, c.n, MODE_FILE);
        if (k != i) {
            i = k;
            continue;
        }
        /* A definition without declaration specifiers, as in 'f(void) {'. */
        size_t close = i + 1 < c.n ? c.f->match[i + 1] : HLS_NONE;
        if (t->kind == HLS_TOK_IDENT && !hls_is_keyword(t) && is(&c, i + 1, c.n, "(") && close != HLS_NONE &&
            is(&c, close + 1, c.n, "{") && c.f->match[close + 1] != HLS_NONE) {
            declarator d = {i, i + 1, false};
            c.f->marks[i] |= HLS_MARK_DECL_NAME;
            parse_params(&c, i + 1, close);
            record_function(&c, &d, close + 1, false);
            i = c.f->match[close + 1] + 1;
            continue;
        }
        k = skip_statement(&c, i, c.n);
        i = k > i ? k : i + 1;
    }
}
