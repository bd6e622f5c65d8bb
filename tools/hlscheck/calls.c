/* Calls: kernels may call functions of the checked files and a few <math.h>
 * functions that HLS maps to cores; the call graph must have no cycle. */
#include <stdlib.h>
#include <string.h>

#include "program.h"

/* Length of the 'a -> b -> a' path in recursion messages. */
#define MAX_PATH_TEXT 200

static bool name_in_list(const hls_token *t, const char *const *list, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (hls_token_is(t, list[i])) return true;
    return false;
}

bool hls_is_allowed_math(const hls_token *name) {
    static const char *const names[] = {"expf",   "exp",    "logf",  "sqrtf", "sqrt",  "fabsf",
                                        "fabs",   "roundf", "floorf", "ceilf", "fminf", "fmaxf",
                                        "sinf",   "cosf",   "powf",  "lrintf"};
    return name->kind == HLS_TOK_IDENT && name_in_list(name, names, sizeof names / sizeof *names);
}

static bool is_allocator(const hls_token *name) {
    static const char *const names[] = {"malloc", "calloc", "realloc", "free", "alloca", "__builtin_alloca",
                                        "aligned_alloc", "posix_memalign"};
    return name_in_list(name, names, sizeof names / sizeof *names);
}

static bool same_name(const hls_token *a, const hls_token *b) {
    return a->len == b->len && !memcmp(a->text, b->text, a->len);
}

int hls_resolve_function(const hls_program *p, int file, const hls_token *name) {
    int any = -1;
    for (size_t i = 0; i < p->n_functions; i++) {
        const hls_function *fn = &p->functions[i];
        if (!same_name(&p->files[fn->file].code.items[fn->name], name)) continue;
        if (fn->file == file) return (int)i;
        if (any < 0 || (p->functions[any].is_static && !fn->is_static)) any = (int)i;
    }
    return any;
}

static void add_call(hls_program *p, int caller, int callee, int line) {
    if (hls_grow(p, (void **)&p->calls, &p->cap_calls, p->n_calls, sizeof *p->calls) != 0) return;
    p->calls[p->n_calls++] = (hls_call){caller, callee, line};
}

void hls_check_calls(hls_program *p, int function) {
    const hls_function *fn = &p->functions[function];
    const hls_file *f = &p->files[fn->file];
    const hls_token *t = f->code.items;
    size_t close = f->match[fn->body];
    for (size_t i = fn->body + 1; i + 1 < close; i++) {
        const hls_token *name = &t[i];
        if (name->kind != HLS_TOK_IDENT || !hls_token_is(&t[i + 1], "(")) continue;
        if (hls_is_keyword(name) || (f->marks[i] & HLS_MARK_DECL_NAME) || hls_is_builtin_type_name(name) ||
            hls_is_visible_typedef(p, fn->file, name))
            continue;
        if (i > 0 && (hls_token_is(&t[i - 1], ".") || hls_token_is(&t[i - 1], "->"))) continue;
        /* A call through a local pointer: its declaration is reported as a function pointer. */
        if (hls_name_has(&fn->locals, name->text, name->len)) continue;

        /* Function-like macros expand in place; an object-like macro that
         * names a single identifier is an alias of that name. */
        const hls_macro *m = hls_find_macro(p, name);
        if (m && m->function_like) continue;
        if (m) {
            if (m->body_count != 1 || m->body[0].kind != HLS_TOK_IDENT) continue;
            name = &m->body[0];
        }

        int callee = hls_resolve_function(p, fn->file, name);
        if (callee >= 0) {
            add_call(p, function, callee, t[i].line);
        } else if (is_allocator(name)) {
            hls_report(p, fn->file, t[i].line, "dynamic-memory",
                       "call to '%.*s' manages memory at run time, which HLS cannot synthesize; use a "
                       "fixed-size array sized by a compile-time maximum",
                       (int)name->len, name->text);
        } else if (!hls_is_allowed_math(name)) {
            hls_report(p, fn->file, t[i].line, "library-call",
                       "call to '%.*s', which is neither defined in the checked files nor an allowed <math.h> "
                       "function; write it in the kernel, or fence debug code with #ifndef __SYNTHESIS__",
                       (int)name->len, name->text);
        }
    }
}

static const hls_token *function_name(const hls_program *p, int function) {
    const hls_function *fn = &p->functions[function];
    return &p->files[fn->file].code.items[fn->name];
}

/* Appends " -> name" (or just the name) to buf, or "..." once it is full. */
static void append_name(char *buf, size_t size, const hls_token *name, bool arrow) {
    size_t used = strlen(buf);
    size_t need = name->len + (arrow ? 4 : 0);
    if (used >= 3 && !strcmp(buf + used - 3, "...")) return;
    if (used + need + 5 > size) {
        if (used + 5 <= size) memcpy(buf + used, " ...", 5);
        return;
    }
    if (arrow) {
        memcpy(buf + used, " -> ", 4);
        used += 4;
    }
    memcpy(buf + used, name->text, name->len);
    buf[used + name->len] = '\0';
}

void hls_check_recursion(hls_program *p) {
    size_t n = p->n_functions;
    if (n == 0) return;
    /* Edges grouped by caller, in call order. */
    size_t *first = calloc(n + 1, sizeof *first);
    size_t *edges = malloc((p->n_calls ? p->n_calls : 1) * sizeof *edges);
    size_t *fill = calloc(n, sizeof *fill);
    int *parent = malloc(n * sizeof *parent);
    int *queue = malloc(n * sizeof *queue);
    int *path = malloc((n + 1) * sizeof *path);
    if (!first || !edges || !fill || !parent || !queue || !path) {
        p->out_of_memory = true;
        goto done;
    }
    for (size_t e = 0; e < p->n_calls; e++) first[p->calls[e].caller + 1]++;
    for (size_t i = 0; i < n; i++) first[i + 1] += first[i];
    for (size_t e = 0; e < p->n_calls; e++) {
        int c = p->calls[e].caller;
        edges[first[c] + fill[c]++] = e;
    }

    for (size_t f = 0; f < n; f++) {
        /* Breadth-first search from f; reaching f again closes a cycle. */
        for (size_t i = 0; i < n; i++) parent[i] = -2;
        size_t head = 0, tail = 0;
        int closing = -1; /* the function whose call returns to f */
        queue[tail++] = (int)f;
        parent[f] = -1;
        while (head < tail && closing < 0) {
            int u = queue[head++];
            for (size_t k = first[u]; k < first[u + 1]; k++) {
                int v = p->calls[edges[k]].callee;
                if (v == (int)f) {
                    closing = u;
                    break;
                }
                if (parent[v] != -2) continue;
                parent[v] = u;
                queue[tail++] = v;
            }
        }
        if (closing < 0) continue;

        size_t len = 0;
        for (int u = closing; u != -1 && len < n; u = parent[u]) path[len++] = u;
        /* path runs back from the closing function to f itself. */
        int next = len >= 2 ? path[len - 2] : (int)f;
        int line = 0;
        for (size_t k = first[f]; k < first[f + 1]; k++)
            if (p->calls[edges[k]].callee == next) {
                line = p->calls[edges[k]].line;
                break;
            }
        const hls_token *self = function_name(p, (int)f);
        int file = p->functions[f].file;
        if (next == (int)f) {
            hls_report(p, file, line, "recursion",
                       "function '%.*s' calls itself; HLS needs a fixed call depth, so rewrite it as a loop",
                       (int)self->len, self->text);
            continue;
        }
        char text[MAX_PATH_TEXT] = "";
        for (size_t k = len; k-- > 0;) append_name(text, sizeof text, function_name(p, path[k]), k + 1 < len);
        append_name(text, sizeof text, self, true);
        const hls_token *callee = function_name(p, next);
        hls_report(p, file, line, "recursion",
                   "function '%.*s' calls '%.*s', which leads back to it (%s); HLS needs a fixed call depth, so "
                   "rewrite the cycle as a loop",
                   (int)self->len, self->text, (int)callee->len, callee->text, text);
    }
done:
    free(first);
    free(edges);
    free(fill);
    free(parent);
    free(queue);
    free(path);
}
