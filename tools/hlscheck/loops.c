/* Loops: every loop needs a bound that HLS can see, either a comparison
 * with a compile-time constant or a loop_tripcount pragma in its body. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "program.h"

/* Nesting limit for if/else and do statements; deeper input ends the
 * statement at the end of the enclosing range. */
#define MAX_STATEMENT_DEPTH 256

/* Induction variables tracked per for loop. */
#define MAX_INDUCTION_VARS 16

typedef enum loop_kind { LOOP_FOR, LOOP_WHILE, LOOP_DO } loop_kind;

typedef struct loop {
    loop_kind kind;
    size_t keyword;
    size_t header_open, header_close; /* parentheses of the for or while header */
    size_t body_begin, body_end;      /* first and last token of the body */
    bool has_tripcount_max;
} loop;

static bool tok_is(const hls_file *f, size_t i, size_t end, const char *s) {
    return i < end && hls_token_is(&f->code.items[i], s);
}

static bool is_opener(const hls_token *t) {
    return hls_token_is(t, "(") || hls_token_is(t, "[") || hls_token_is(t, "{");
}

static bool is_closer(const hls_token *t) {
    return hls_token_is(t, ")") || hls_token_is(t, "]") || hls_token_is(t, "}");
}

/* Index after a 'case X:' or 'default:' label that starts at i. */
static size_t skip_case_label(const hls_file *f, size_t i, size_t end) {
    int ternaries = 0;
    for (size_t j = i + 1; j < end; j++) {
        const hls_token *t = &f->code.items[j];
        if (hls_token_is(t, "?")) ternaries++;
        if (hls_token_is(t, ":") && ternaries-- == 0) return j + 1;
    }
    return end;
}

static size_t statement_end(const hls_file *f, size_t i, size_t end, int depth) {
    const hls_token *t = f->code.items;
    size_t last = end > 0 ? end - 1 : 0;
    if (depth > MAX_STATEMENT_DEPTH) return last;
    while (i < end) {
        if (t[i].kind == HLS_TOK_PRAGMA || (f->marks[i] & HLS_MARK_LABEL)) {
            i++;
            continue;
        }
        if (hls_token_is(&t[i], "{")) return f->match[i] != HLS_NONE && f->match[i] < end ? f->match[i] : last;
        if (hls_token_is(&t[i], "case") || hls_token_is(&t[i], "default")) {
            i = skip_case_label(f, i, end);
            continue;
        }
        bool header_keyword = hls_token_is(&t[i], "for") || hls_token_is(&t[i], "while") ||
                              hls_token_is(&t[i], "switch") || hls_token_is(&t[i], "if");
        if (header_keyword && tok_is(f, i + 1, end, "(")) {
            size_t close = f->match[i + 1];
            if (close == HLS_NONE || close >= end) return last;
            if (!hls_token_is(&t[i], "if")) {
                i = close + 1;
                continue;
            }
            size_t e = statement_end(f, close + 1, end, depth + 1);
            if (tok_is(f, e + 1, end, "else")) return statement_end(f, e + 2, end, depth + 1);
            return e;
        }
        if (hls_token_is(&t[i], "do")) {
            size_t e = statement_end(f, i + 1, end, depth + 1);
            size_t w = e + 1;
            if (!tok_is(f, w, end, "while") || !tok_is(f, w + 1, end, "(")) return e;
            size_t close = f->match[w + 1];
            if (close == HLS_NONE || close >= end) return last;
            return tok_is(f, close + 1, end, ";") ? close + 1 : close;
        }
        /* An expression, declaration or jump statement runs to its ';'. */
        for (size_t j = i; j < end; j++) {
            if (hls_token_is(&t[j], ";")) return j;
            if (is_closer(&t[j])) return j > i ? j - 1 : i;
            if (is_opener(&t[j])) {
                if (f->match[j] == HLS_NONE || f->match[j] >= end) return last;
                j = f->match[j];
            }
        }
        return last;
    }
    return last;
}

size_t hls_statement_end(const hls_file *f, size_t i, size_t end) {
    return statement_end(f, i, end, 0);
}

/* The words of a #pragma HLS line: raw tokens from 'HLS' to the line end. */
static void pragma_words(const hls_file *f, const hls_token *pragma, size_t *first, size_t *end) {
    size_t i = pragma->aux + 2; /* '#', 'pragma', then 'HLS' */
    *first = i;
    while (i < f->raw.count && f->raw.items[i].kind != HLS_TOK_DIRECTIVE_END) i++;
    *end = i;
}

static bool word_is(const hls_token *t, const char *s) {
    return t->kind == HLS_TOK_IDENT && t->len == strlen(s) && !strncasecmp(t->text, s, t->len);
}

/* True for '#pragma HLS loop_tripcount ... max=N ...' with a constant N. */
static bool is_tripcount_with_max(const hls_program *p, const hls_file *f, const hls_token *pragma) {
    size_t first, end;
    pragma_words(f, pragma, &first, &end);
    const hls_token *w = f->raw.items;
    if (first + 1 >= end || !word_is(&w[first + 1], "loop_tripcount")) return false;
    for (size_t i = first + 2; i + 2 < end; i++)
        if (word_is(&w[i], "max") && hls_token_is(&w[i + 1], "=") && hls_is_constant_expr(p, w, i + 2, i + 3))
            return true;
    return false;
}

static bool is_hls_directive(const hls_file *f, const hls_token *pragma) {
    size_t first, end;
    pragma_words(f, pragma, &first, &end);
    return first + 1 < end && f->raw.items[first + 1].kind == HLS_TOK_IDENT;
}

typedef struct name_list {
    const hls_token *items[MAX_INDUCTION_VARS];
    size_t count;
} name_list;

static void add_name(name_list *l, const hls_token *t) {
    for (size_t i = 0; i < l->count; i++)
        if (l->items[i]->len == t->len && !memcmp(l->items[i]->text, t->text, t->len)) return;
    if (l->count < MAX_INDUCTION_VARS) l->items[l->count++] = t;
}

static bool is_member_name(const hls_token *t, size_t i, size_t begin) {
    return i > begin && (hls_token_is(&t[i - 1], ".") || hls_token_is(&t[i - 1], "->"));
}

/* Induction variables: names assigned in the init clause and names that
 * the step clause increments or assigns. */
static void induction_vars(const hls_file *f, size_t init, size_t init_end, size_t step, size_t step_end,
                           name_list *out) {
    static const char *const assign[] = {"=",  "+=", "-=",  "*=",  "/=", "%=",
                                         "&=", "|=", "^=", "<<=", ">>=", "++", "--"};
    const hls_token *t = f->code.items;
    out->count = 0;
    for (size_t i = init; i + 1 < init_end; i++)
        if (t[i].kind == HLS_TOK_IDENT && hls_token_is(&t[i + 1], "=") && !is_member_name(t, i, init))
            add_name(out, &t[i]);
    for (size_t i = step; i < step_end; i++) {
        if (t[i].kind != HLS_TOK_IDENT || is_member_name(t, i, step)) continue;
        bool assigned = i > step && (hls_token_is(&t[i - 1], "++") || hls_token_is(&t[i - 1], "--"));
        for (size_t k = 0; k < sizeof assign / sizeof *assign && i + 1 < step_end; k++)
            if (hls_token_is(&t[i + 1], assign[k])) assigned = true;
        if (assigned) add_name(out, &t[i]);
    }
}

/* Index in names of the first induction variable in [begin, end), or -1. */
static int first_mention(const hls_token *t, size_t begin, size_t end, const name_list *names) {
    for (size_t i = begin; i < end; i++) {
        if (t[i].kind != HLS_TOK_IDENT || is_member_name(t, i, begin)) continue;
        for (size_t k = 0; k < names->count; k++)
            if (names->items[k]->len == t[i].len && !memcmp(names->items[k]->text, t[i].text, t[i].len))
                return (int)k;
    }
    return -1;
}

/* True when [b, e) computes a value from names and numbers only, as in
 * 'i' or '2 * i + 1'. A side such as 'x[i]' or '*p' reads memory, so
 * comparing it with a constant does not bound the loop. */
static bool is_plain_arithmetic(const hls_token *t, size_t b, size_t e) {
    for (size_t i = b; i < e; i++) {
        bool unary_deref = hls_token_is(&t[i], "*") && (i == b || t[i - 1].kind == HLS_TOK_PUNCT) &&
                           !(i > b && hls_token_is(&t[i - 1], ")"));
        if (hls_token_is(&t[i], "[") || hls_token_is(&t[i], ".") || hls_token_is(&t[i], "->") || unary_deref)
            return false;
        if (t[i].kind == HLS_TOK_IDENT && i + 1 < e && hls_token_is(&t[i + 1], "(") && !hls_is_keyword(&t[i]))
            return false;
    }
    return true;
}

/* Next index at or after i whose token is s at this nesting level, or end. */
static size_t find_top_level(const hls_file *f, size_t i, size_t end, const char *s) {
    for (; i < end; i++) {
        const hls_token *t = &f->code.items[i];
        if (hls_token_is(t, s)) return i;
        if (is_opener(t) && f->match[i] != HLS_NONE && f->match[i] < end) i = f->match[i];
    }
    return end;
}

typedef struct bound_check {
    bool compared;           /* some conjunct compares an induction variable with a bound */
    bool constant;           /* ... with a compile-time constant bound */
    size_t bound, bound_end; /* the first non-constant bound, for the message */
    size_t start, start_end; /* the non-constant start of a loop that counts down to a constant */
} bound_check;

/* The value that the init clause [b, e) assigns to name: its tokens in
 * [*value, *value_end). Returns false when the clause does not assign it. */
static bool init_value(const hls_file *f, size_t b, size_t e, const hls_token *name, size_t *value,
                       size_t *value_end) {
    const hls_token *t = f->code.items;
    for (size_t i = b; i + 1 < e; i++) {
        if (t[i].kind != HLS_TOK_IDENT || t[i].len != name->len || memcmp(t[i].text, name->text, name->len) ||
            !hls_token_is(&t[i + 1], "="))
            continue;
        *value = i + 2;
        *value_end = find_top_level(f, i + 2, e, ",");
        return *value < *value_end;
    }
    return false;
}

/* Reads one conjunct [b, e) of a for condition: 'i < n', '(i < n)',
 * 'n > i'. A constant lower bound, as in 'i >= 0', limits the trip count
 * only when the loop also starts from a constant, so the init clause
 * [init, init_end) is read for it. */
static void check_conjunct(const hls_program *p, const hls_file *f, size_t b, size_t e, size_t init,
                           size_t init_end, const name_list *ivs, bound_check *out) {
    static const char *const relops[] = {"<", ">", "<=", ">=", "!="};
    const hls_token *t = f->code.items;
    while (b < e && hls_token_is(&t[b], "(") && f->match[b] == e - 1) {
        b++;
        e--;
    }
    size_t op = HLS_NONE;
    int n_ops = 0;
    for (size_t i = b; i < e; i++) {
        if (hls_token_is(&t[i], "?")) return;
        for (size_t k = 0; k < sizeof relops / sizeof *relops; k++)
            if (hls_token_is(&t[i], relops[k])) {
                op = i;
                n_ops++;
            }
        if (is_opener(&t[i]) && f->match[i] != HLS_NONE && f->match[i] < e) i = f->match[i];
    }
    if (n_ops != 1 || op == b || op + 1 >= e) return;
    int left = first_mention(t, b, op, ivs), right = first_mention(t, op + 1, e, ivs);
    if ((left >= 0) == (right >= 0)) return;
    if (left >= 0 ? !is_plain_arithmetic(t, b, op) : !is_plain_arithmetic(t, op + 1, e)) return;
    size_t bound = left >= 0 ? op + 1 : b, bound_end = left >= 0 ? e : op;
    out->compared = true;
    if (!hls_is_constant_expr(p, t, bound, bound_end)) {
        if (out->bound == HLS_NONE) {
            out->bound = bound;
            out->bound_end = bound_end;
        }
        return;
    }
    bool greater = hls_token_is(&t[op], ">") || hls_token_is(&t[op], ">=");
    bool less = hls_token_is(&t[op], "<") || hls_token_is(&t[op], "<=");
    bool lower_bound = (left >= 0 && greater) || (right >= 0 && less);
    if (!lower_bound) {
        out->constant = true;
        return;
    }
    const hls_token *iv = ivs->items[left >= 0 ? left : right];
    size_t value, value_end;
    if (init_value(f, init, init_end, iv, &value, &value_end) && hls_is_constant_expr(p, t, value, value_end)) {
        out->constant = true;
    } else if (out->start == HLS_NONE) {
        bool found = init_value(f, init, init_end, iv, &value, &value_end);
        out->start = found ? value : init;
        out->start_end = found ? value_end : init_end;
    }
}

static void check_for(hls_program *p, int file, const loop *l) {
    const hls_file *f = &p->files[file];
    const hls_token *t = f->code.items;
    int line = t[l->keyword].line;
    size_t s1 = find_top_level(f, l->header_open + 1, l->header_close, ";");
    size_t s2 = s1 < l->header_close ? find_top_level(f, s1 + 1, l->header_close, ";") : l->header_close;
    if (s2 >= l->header_close) {
        hls_report(p, file, line, "unbounded-loop", "for loop header is malformed: it needs two ';'");
        return;
    }
    if (s1 + 1 == s2) {
        hls_report(p, file, line, "unbounded-loop",
                   "for loop has no condition, so HLS cannot bound it; compare the induction variable with a "
                   "compile-time constant (i < N)");
        return;
    }

    name_list ivs;
    induction_vars(f, l->header_open + 1, s1, s2 + 1, l->header_close, &ivs);
    char cond[160];
    hls_tokens_text(t, s1 + 1, s2, cond, sizeof cond);
    if (ivs.count == 0) {
        hls_report(p, file, line, "unbounded-loop",
                   "for loop has no induction variable (nothing is assigned in its init or step clause); "
                   "write it as for (int i = 0; i < N; i++)");
        return;
    }

    bound_check bc = {false, false, HLS_NONE, HLS_NONE, HLS_NONE, HLS_NONE};
    size_t b = s1 + 1;
    while (b < s2) {
        size_t e = find_top_level(f, b, s2, "&&");
        check_conjunct(p, f, b, e, l->header_open + 1, s1, &ivs, &bc);
        b = e + 1;
    }

    const hls_token *iv = ivs.items[0];
    if (!bc.compared) {
        hls_report(p, file, line, "unbounded-loop",
                   "for loop condition '%s' does not compare the induction variable '%.*s' with a bound; "
                   "write %.*s < N, or %.*s < n && %.*s < N",
                   cond, (int)iv->len, iv->text, (int)iv->len, iv->text, (int)iv->len, iv->text, (int)iv->len,
                   iv->text);
        return;
    }

    if (bc.constant || l->has_tripcount_max) return;
    if (bc.bound == HLS_NONE) {
        char start[120];
        if (bc.start < bc.start_end)
            hls_tokens_text(t, bc.start, bc.start_end, start, sizeof start);
        else
            snprintf(start, sizeof start, "an unknown value");
        hls_report(p, file, line, "unbounded-loop",
                   "for loop counts down to a constant from '%s', which is not a compile-time constant; "
                   "start it from a constant or add '#pragma HLS loop_tripcount max=N' to the loop body",
                   start);
        return;
    }
    char bound[120];
    hls_tokens_text(t, bc.bound, bc.bound_end, bound, sizeof bound);
    hls_report(p, file, line, "unbounded-loop",
               "for loop bound '%s' is not a compile-time constant; clamp it (%.*s < %s && %.*s < N with a "
               "constant N) or add '#pragma HLS loop_tripcount max=N' to the loop body",
               bound, (int)iv->len, iv->text, bound, (int)iv->len, iv->text);
}

/* 'while (0)' and 'do { ... } while (0)' run their body at most once. */
static bool is_false_condition(const hls_file *f, const loop *l) {
    if (l->header_close != l->header_open + 2) return false;
    const hls_token *c = &f->code.items[l->header_open + 1];
    return hls_token_is(c, "0") || hls_token_is(c, "false");
}

static bool ends_with_ref(const hls_token *name) {
    return name->len >= 4 && !memcmp(name->text + name->len - 4, "_ref", 4);
}

void hls_check_loops(hls_program *p, int function) {
    const hls_function *fn = &p->functions[function];
    hls_file *f = &p->files[fn->file];
    const hls_token *t = f->code.items;
    size_t body = fn->body, close = f->match[fn->body];
    loop *loops = NULL;
    size_t n_loops = 0, cap = 0;

    for (size_t i = body + 1; i < close; i++) {
        loop l;
        memset(&l, 0, sizeof l);
        l.keyword = i;
        if ((hls_token_is(&t[i], "for") || hls_token_is(&t[i], "while")) && !(f->marks[i] & HLS_MARK_DO_WHILE)) {
            l.kind = hls_token_is(&t[i], "for") ? LOOP_FOR : LOOP_WHILE;
            if (!tok_is(f, i + 1, close, "(") || f->match[i + 1] == HLS_NONE || f->match[i + 1] >= close) continue;
            l.header_open = i + 1;
            l.header_close = f->match[i + 1];
            l.body_begin = l.header_close + 1;
            if (l.body_begin >= close) continue;
            l.body_end = hls_statement_end(f, l.body_begin, close);
        } else if (hls_token_is(&t[i], "do")) {
            l.kind = LOOP_DO;
            if (i + 1 >= close) continue;
            l.body_begin = i + 1;
            l.body_end = hls_statement_end(f, l.body_begin, close);
            size_t w = l.body_end + 1;
            if (tok_is(f, w, close, "while")) {
                f->marks[w] |= HLS_MARK_DO_WHILE;
                if (tok_is(f, w + 1, close, "(") && f->match[w + 1] != HLS_NONE && f->match[w + 1] < close) {
                    l.header_open = w + 1;
                    l.header_close = f->match[w + 1];
                }
            }
        } else {
            continue;
        }
        if (hls_grow(p, (void **)&loops, &cap, n_loops, sizeof *loops) != 0) break;
        loops[n_loops++] = l;
    }

    bool has_pragma = false;
    for (size_t i = body + 1; i < close; i++) {
        if (t[i].kind != HLS_TOK_PRAGMA) continue;
        if (is_hls_directive(f, &t[i])) has_pragma = true;
        size_t inner = HLS_NONE;
        for (size_t k = 0; k < n_loops; k++)
            if (loops[k].body_begin <= i && i <= loops[k].body_end &&
                (inner == HLS_NONE || loops[k].body_begin > loops[inner].body_begin))
                inner = k;
        if (inner != HLS_NONE && is_tripcount_with_max(p, f, &t[i])) loops[inner].has_tripcount_max = true;
    }

    const hls_token *name = &t[fn->name];
    if (n_loops > 0 && !has_pragma && !ends_with_ref(name))
        hls_report(p, fn->file, name->line, "missing-pragma",
                   "function '%.*s' contains loops but no '#pragma HLS' line; add PIPELINE, UNROLL or "
                   "loop_tripcount pragmas to its loops",
                   (int)name->len, name->text);

    for (size_t k = 0; k < n_loops; k++) {
        const loop *l = &loops[k];
        if (l->kind == LOOP_FOR) {
            check_for(p, fn->file, l);
        } else if (!l->has_tripcount_max && !is_false_condition(f, l)) {
            hls_report(p, fn->file, t[l->keyword].line, "unbounded-loop",
                       "%s loop has no '#pragma HLS loop_tripcount max=N' in its body, so HLS cannot bound it; "
                       "rewrite it as a for loop with a constant bound or add the pragma",
                       l->kind == LOOP_WHILE ? "while" : "do-while");
        }
    }
    free(loops);
}
