#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "program.h"

static int compare_violations(const void *a, const void *b) {
    const hls_violation *x = a, *y = b;
    if (x->file != y->file) return x->file < y->file ? -1 : 1;
    if (x->line != y->line) return x->line < y->line ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void free_program(hls_program *p) {
    for (size_t i = 0; i < p->n_files; i++) {
        hls_file *f = &p->files[i];
        hls_token_list_free(&f->raw);
        hls_token_list_free(&f->code);
        free(f->match);
        free(f->marks);
        hls_name_set_free(&f->globals);
        hls_name_set_free(&f->typedefs);
    }
    for (size_t i = 0; i < p->n_functions; i++) hls_name_set_free(&p->functions[i].locals);
    free(p->files);
    free(p->macros);
    hls_name_set_free(&p->typedefs);
    hls_name_set_free(&p->enum_constants);
    free(p->functions);
    free(p->calls);
    free(p->visible);
    free(p->violations);
}

static void run_passes(hls_program *p) {
    hls_collect_type_names(p);
    for (size_t i = 0; i < p->n_files && !p->out_of_memory; i++) hls_scan_declarations(p, (int)i);
    for (size_t i = 0; i < p->n_files && !p->out_of_memory; i++) hls_check_tokens(p, (int)i);
    for (size_t i = 0; i < p->n_functions && !p->out_of_memory; i++) {
        hls_check_loops(p, (int)i);
        hls_check_calls(p, (int)i);
    }
    if (!p->out_of_memory) hls_check_recursion(p);
}

int hls_check(const hls_input *inputs, size_t n, hls_result *out, char *err, size_t err_size) {
    memset(out, 0, sizeof *out);
    hls_program p;
    memset(&p, 0, sizeof p);
    p.files = calloc(n ? n : 1, sizeof *p.files);
    if (!p.files) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    p.n_files = n;
    p.visible = calloc(n ? n * n : 1, sizeof *p.visible);
    if (!p.visible) {
        free(p.files);
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) p.visible[i * n + i] = true;
    for (size_t i = 0; i < n; i++) {
        hls_file *f = &p.files[i];
        f->path = inputs[i].path;
        f->canon = inputs[i].canon ? inputs[i].canon : inputs[i].path;
        f->text = inputs[i].text;
        f->len = inputs[i].len;
        char msg[200];
        if (hls_lex(f->text, f->len, &f->raw, msg, sizeof msg) != 0) {
            snprintf(err, err_size, "%s: %s", f->path, msg);
            free_program(&p);
            return -1;
        }
    }
    for (size_t i = 0; i < n && !p.out_of_memory; i++) hls_preprocess(&p, (int)i);
    hls_close_includes(&p);
    if (!p.out_of_memory) run_passes(&p);
    if (p.out_of_memory) {
        snprintf(err, err_size, "out of memory");
        free_program(&p);
        return -1;
    }

    if (p.n_violations > 0) qsort(p.violations, p.n_violations, sizeof *p.violations, compare_violations);
    out->findings = calloc(p.n_violations ? p.n_violations : 1, sizeof *out->findings);
    if (!out->findings) {
        snprintf(err, err_size, "out of memory");
        free_program(&p);
        return -1;
    }
    for (size_t i = 0; i < p.n_violations; i++) {
        hls_finding *d = &out->findings[i];
        d->file = (size_t)p.violations[i].file;
        d->line = p.violations[i].line;
        d->rule = p.violations[i].rule;
        memcpy(d->message, p.violations[i].message, sizeof d->message);
    }
    out->n_findings = p.n_violations;
    out->n_functions = p.n_functions;
    free_program(&p);
    return 0;
}

void hls_result_free(hls_result *result) {
    free(result->findings);
    result->findings = NULL;
    result->n_findings = 0;
}
