/* The preprocessor pass: conditional blocks fenced off from synthesis,
 * #include and #define lines, and #pragma HLS lines kept as tokens. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "program.h"

typedef struct cond_group {
    bool active;
    bool evaluated;    /* the first condition is one that the checker evaluates */
    bool first_active; /* the first branch is compiled */
} cond_group;

typedef struct cond_stack {
    cond_group *items;
    size_t count, cap;
} cond_stack;

static bool stack_active(const cond_stack *s, size_t depth) {
    for (size_t i = 0; i < depth && i < s->count; i++)
        if (!s->items[i].active) return false;
    return true;
}

/* 1 for macros that are defined when HLS compiles a C kernel
 * (__SYNTHESIS__), 0 for those that are not (__cplusplus), -1 for others. */
static int known_definition(const hls_token *t) {
    if (t->kind != HLS_TOK_IDENT) return -1;
    if (hls_token_is(t, "__SYNTHESIS__")) return 1;
    if (hls_token_is(t, "__cplusplus")) return 0;
    return -1;
}

/* Value of an '#if' condition from d[1] on: 1 or 0 for '0', '1',
 * 'defined(X)' and 'defined X' with a known X, each optionally negated
 * with '!'. Any other condition returns -1, and both of its branches get
 * checked. */
static int if_condition(const hls_token *d, size_t n) {
    size_t i = 1;
    bool negated = false;
    if (i < n && hls_token_is(&d[i], "!")) {
        negated = true;
        i++;
    }
    int value = -1;
    if (i + 1 == n && (hls_token_is(&d[i], "0") || hls_token_is(&d[i], "1"))) {
        value = hls_token_is(&d[i], "1");
        i++;
    } else if (i < n && hls_token_is(&d[i], "defined")) {
        i++;
        if (i < n && hls_token_is(&d[i], "(")) {
            if (i + 2 >= n || !hls_token_is(&d[i + 2], ")")) return -1;
            value = known_definition(&d[i + 1]);
            i += 3;
        } else if (i < n) {
            value = known_definition(&d[i]);
            i++;
        }
    }
    if (value < 0 || i != n) return -1;
    return negated ? !value : value;
}

static int open_group(hls_program *p, cond_stack *s, const hls_token *d, size_t n) {
    cond_group g = {true, false, true};
    int value = -1;
    if ((hls_token_is(&d[0], "ifdef") || hls_token_is(&d[0], "ifndef")) && n == 2) {
        value = known_definition(&d[1]);
        if (value >= 0 && hls_token_is(&d[0], "ifndef")) value = !value;
    } else if (hls_token_is(&d[0], "if")) {
        value = if_condition(d, n);
    }
    if (value >= 0) {
        g.evaluated = true;
        g.first_active = value == 1;
    }
    g.active = g.first_active;
    if (hls_grow(p, (void **)&s->items, &s->cap, s->count, sizeof *s->items) != 0) return -1;
    s->items[s->count++] = g;
    return 0;
}

/* Path with '.' and '..' segments folded, into a new buffer. */
static char *normalize_path(const char *path, size_t len) {
    char *out = malloc(len + 2);
    if (!out) return NULL;
    size_t used = 0;
    bool absolute = len > 0 && path[0] == '/';
    if (absolute) out[used++] = '/';
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && path[j] != '/') j++;
        size_t seg = j - i;
        bool dot_dot = seg == 2 && path[i] == '.' && path[i + 1] == '.';
        /* A relative path keeps the '..' segments it cannot fold. */
        bool ends_in_dot_dot = used >= 2 && out[used - 1] == '.' && out[used - 2] == '.' &&
                               (used == 2 || out[used - 3] == '/');
        if (seg == 0 || (seg == 1 && path[i] == '.') || (dot_dot && absolute && used == 1)) {
            /* '.', empty segments and '..' at the root add nothing */
        } else if (dot_dot && used > (size_t)absolute && !ends_in_dot_dot) {
            while (used > (size_t)absolute && out[used - 1] != '/') used--;
            if (used > (size_t)absolute) used--;
        } else {
            if (used > (size_t)absolute) out[used++] = '/';
            memcpy(out + used, path + i, seg);
            used += seg;
        }
        i = j + 1;
    }
    out[used] = '\0';
    return out;
}

/* Index of the checked file that the quoted include q names, -1 when none
 * does, -2 when out of memory. It matches the includer's folder joined
 * with q first, then any checked file whose path ends with q. */
static int include_in_set(const hls_program *p, int file, const char *q, size_t qlen) {
    const char *canon = p->files[file].canon;
    const char *slash = strrchr(canon, '/');
    size_t dir_len = slash ? (size_t)(slash - canon) + 1 : 0;
    char *joined = malloc(dir_len + qlen + 1);
    if (!joined) return -2;
    memcpy(joined, canon, dir_len);
    memcpy(joined + dir_len, q, qlen);
    joined[dir_len + qlen] = '\0';

    char *norm_joined = normalize_path(joined, dir_len + qlen);
    char *norm_q = normalize_path(q, qlen);
    free(joined);
    if (!norm_joined || !norm_q) {
        free(norm_joined);
        free(norm_q);
        return -2;
    }

    int found = -1, by_suffix = -1;
    size_t qn = strlen(norm_q);
    for (size_t i = 0; i < p->n_files && found < 0; i++) {
        char *c = normalize_path(p->files[i].canon, strlen(p->files[i].canon));
        if (!c) {
            found = -2;
            break;
        }
        size_t cn = strlen(c);
        if (!strcmp(c, norm_joined)) found = (int)i;
        if (by_suffix < 0 && qn > 0 && strncmp(norm_q, "../", 3) != 0 && cn >= qn && !strcmp(c + cn - qn, norm_q) &&
            (cn == qn || c[cn - qn - 1] == '/'))
            by_suffix = (int)i;
        free(c);
    }
    if (found == -1) found = by_suffix;
    free(norm_joined);
    free(norm_q);
    return found;
}

static int check_include(hls_program *p, int file, const hls_token *d, size_t n) {
    static const char *const allowed[] = {"<stdint.h>", "<stdbool.h>", "<math.h>"};
    int line = d[0].line;
    if (n < 2 || (d[1].kind != HLS_TOK_HEADER && d[1].kind != HLS_TOK_STRING)) {
        hls_report(p, file, line, "include",
                   "#include with a macro or a malformed name is not allowed; name the header directly");
        return 0;
    }
    const hls_token *h = &d[1];
    if (h->kind == HLS_TOK_HEADER) {
        for (size_t i = 0; i < sizeof allowed / sizeof *allowed; i++)
            if (hls_token_is(h, allowed[i])) return 0;
        hls_report(p, file, line, "include",
                   "%.*s is not allowed in kernel code; kernels may include only <stdint.h>, <stdbool.h>, "
                   "<math.h> and headers among the checked files",
                   (int)h->len, h->text);
        return 0;
    }
    if (h->len < 2 || h->text[0] != '"' || h->text[h->len - 1] != '"') {
        hls_report(p, file, line, "include", "#include %.*s is malformed", (int)h->len, h->text);
        return 0;
    }
    int found = include_in_set(p, file, h->text + 1, h->len - 2);
    if (found == -2) {
        p->out_of_memory = true;
        return -1;
    }
    if (found >= 0) {
        p->visible[(size_t)file * p->n_files + (size_t)found] = true;
        return 0;
    }
    hls_report(p, file, line, "include",
               "%.*s is not among the checked files; pass it to the checker too, or include only "
               "<stdint.h>, <stdbool.h>, <math.h>",
               (int)h->len, h->text);
    return 0;
}

static int record_macro(hls_program *p, const hls_token *d, size_t n) {
    if (n < 2 || d[1].kind != HLS_TOK_IDENT) return 0;
    hls_macro m = {&d[1], NULL, 0, NULL, 0, false};
    size_t body = 2;
    if (n > 2 && hls_token_is(&d[2], "(") && d[2].text == d[1].text + d[1].len) {
        m.function_like = true;
        while (body < n && !hls_token_is(&d[body], ")")) body++;
        m.params = &d[3];
        m.params_count = body > 3 ? body - 3 : 0;
        body++;
    }
    if (body < n) {
        m.body = &d[body];
        m.body_count = n - body;
    }
    if (hls_grow(p, (void **)&p->macros, &p->cap_macros, p->n_macros, sizeof *p->macros) != 0) return -1;
    p->macros[p->n_macros++] = m;
    return 0;
}

static int push_code(hls_program *p, hls_file *f, const hls_token *t) {
    if (hls_grow(p, (void **)&f->code.items, &f->code.cap, f->code.count, sizeof *f->code.items) != 0) return -1;
    f->code.items[f->code.count++] = *t;
    return 0;
}

/* Keeps a #pragma HLS line as one token spanning its words. */
static int push_pragma(hls_program *p, hls_file *f, size_t hash, const hls_token *d, size_t n) {
    hls_token t = d[1];
    const hls_token *last = &d[n - 1];
    t.kind = HLS_TOK_PRAGMA;
    t.len = (size_t)(last->text + last->len - d[1].text);
    t.line = f->raw.items[hash].line;
    t.aux = hash;
    return push_code(p, f, &t);
}

static int handle_directive(hls_program *p, int file, cond_stack *s, size_t hash, size_t end) {
    hls_file *f = &p->files[file];
    const hls_token *d = &f->raw.items[hash + 1];
    size_t n = end - hash - 1;
    if (n == 0 || d[0].kind != HLS_TOK_IDENT) return 0;

    if (hls_token_is(&d[0], "if") || hls_token_is(&d[0], "ifdef") || hls_token_is(&d[0], "ifndef"))
        return open_group(p, s, d, n);
    if (hls_token_is(&d[0], "elif") || hls_token_is(&d[0], "else")) {
        if (s->count > 0) {
            cond_group *g = &s->items[s->count - 1];
            /* After a known first condition, an #elif or #else branch is
             * compiled exactly when the first branch is not. */
            g->active = g->evaluated ? !g->first_active : true;
        }
        return 0;
    }
    if (hls_token_is(&d[0], "endif")) {
        if (s->count > 0) s->count--;
        return 0;
    }
    if (!stack_active(s, s->count)) return 0;

    if (hls_token_is(&d[0], "include") || hls_token_is(&d[0], "include_next") || hls_token_is(&d[0], "import"))
        return check_include(p, file, d, n);
    if (hls_token_is(&d[0], "define")) return record_macro(p, d, n);
    if (hls_token_is(&d[0], "pragma") && n >= 2 && d[1].kind == HLS_TOK_IDENT && d[1].len == 3 &&
        !strncasecmp(d[1].text, "HLS", 3))
        return push_pragma(p, f, hash, d, n);
    return 0;
}

static int compute_matches(hls_program *p, hls_file *f) {
    size_t n = f->code.count;
    f->match = malloc((n ? n : 1) * sizeof *f->match);
    f->marks = calloc(n ? n : 1, 1);
    size_t *stack = malloc((n ? n : 1) * sizeof *stack);
    if (!f->match || !f->marks || !stack) {
        free(stack);
        p->out_of_memory = true;
        return -1;
    }
    size_t depth = 0;
    for (size_t i = 0; i < n; i++) {
        const hls_token *t = &f->code.items[i];
        f->match[i] = HLS_NONE;
        if (t->kind != HLS_TOK_PUNCT || t->len != 1) continue;
        char c = t->text[0];
        if (c == '(' || c == '[' || c == '{') {
            stack[depth++] = i;
        } else if ((c == ')' || c == ']' || c == '}') && depth > 0) {
            char open = f->code.items[stack[depth - 1]].text[0];
            if ((c == ')' && open == '(') || (c == ']' && open == '[') || (c == '}' && open == '{')) {
                depth--;
                f->match[i] = stack[depth];
                f->match[stack[depth]] = i;
            }
        }
    }
    free(stack);
    return 0;
}

void hls_close_includes(hls_program *p) {
    size_t n = p->n_files;
    for (size_t k = 0; k < n; k++)
        for (size_t i = 0; i < n; i++)
            if (p->visible[i * n + k])
                for (size_t j = 0; j < n; j++)
                    if (p->visible[k * n + j]) p->visible[i * n + j] = true;
}

int hls_preprocess(hls_program *p, int file) {
    hls_file *f = &p->files[file];
    cond_stack s = {NULL, 0, 0};
    int rc = 0;
    size_t n = f->raw.count;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const hls_token *t = &f->raw.items[i];
        if (t->in_directive) {
            size_t end = i;
            while (end < n && f->raw.items[end].kind != HLS_TOK_DIRECTIVE_END) end++;
            rc = handle_directive(p, file, &s, i, end);
            i = end;
            continue;
        }
        if (!stack_active(&s, s.count)) continue;
        /* _Pragma("...") operators are dropped; the checker reads only #pragma lines. */
        if (hls_token_is(t, "_Pragma") && i + 1 < n && hls_token_is(&f->raw.items[i + 1], "(")) {
            size_t j = i + 2;
            while (j < n && !f->raw.items[j].in_directive && !hls_token_is(&f->raw.items[j], ")")) j++;
            i = j < n && !f->raw.items[j].in_directive ? j : j - 1;
            continue;
        }
        rc = push_code(p, f, t);
    }
    free(s.items);
    if (rc == 0) rc = compute_matches(p, f);
    return p->out_of_memory ? -1 : 0;
}
