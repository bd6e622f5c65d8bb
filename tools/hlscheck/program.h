/* The checker's model of the files under check: their code tokens after
 * the preprocessor pass, the macros, typedef names and enum constants they
 * define, the functions, the calls between them, and the violations found. */
#ifndef FLEXLLM_HLSCHECK_PROGRAM_H
#define FLEXLLM_HLSCHECK_PROGRAM_H

#include <stdbool.h>
#include <stddef.h>

#include "lexer.h"

#define HLS_NONE ((size_t)-1)

/* Per-token marks set by the declaration pass. */
enum {
    HLS_MARK_DECL_NAME = 1, /* the identifier a declarator declares */
    HLS_MARK_LABEL = 2,     /* a statement label or its ':' */
    HLS_MARK_DO_WHILE = 4,  /* the 'while' that closes a do loop */
    HLS_MARK_HEADER_END = 8 /* the ')' that closes an if, for, while or switch header */
};

typedef struct hls_name {
    const char *text;
    size_t len;
} hls_name;

typedef struct hls_name_set {
    hls_name *items;
    size_t count, cap;
} hls_name_set;

typedef struct hls_macro {
    const hls_token *name;
    const hls_token *params; /* tokens between the parentheses of a function-like macro */
    size_t params_count;
    const hls_token *body; /* tokens after the name and parameter list */
    size_t body_count;
    bool function_like;
} hls_macro;

typedef struct hls_file {
    const char *path;  /* as given, for messages */
    const char *canon; /* absolute path, to resolve quoted includes */
    const char *text;
    size_t len;
    hls_token_list raw;
    hls_token_list code;  /* tokens outside directives and skipped #if blocks, plus #pragma HLS lines */
    size_t *match;        /* per code token: index of the matching bracket, or HLS_NONE */
    unsigned char *marks; /* per code token: HLS_MARK_* */
    hls_name_set globals;  /* file-scope variable names */
    hls_name_set typedefs; /* typedef names this file defines */
} hls_file;

typedef struct hls_function {
    int file;
    size_t name;   /* code token index of the name */
    size_t params; /* of the '(' of the parameter list */
    size_t body;   /* of the '{'; the body ends at match[body] */
    bool is_static;
    hls_name_set locals; /* parameter and local variable names */
} hls_function;

typedef struct hls_call {
    int caller, callee;
    int line;
} hls_call;

typedef struct hls_violation {
    int file;
    int line;
    size_t seq; /* report order, to keep the sort stable */
    const char *rule;
    char message[400];
} hls_violation;

typedef struct hls_program {
    hls_file *files;
    size_t n_files;
    hls_macro *macros;
    size_t n_macros, cap_macros;
    hls_name_set typedefs; /* typedef names of all files, for casts in constant expressions */
    hls_name_set enum_constants;
    bool *visible; /* [n_files][n_files]: file i includes file j, directly or not, or i == j */
    hls_function *functions;
    size_t n_functions, cap_functions;
    hls_call *calls;
    size_t n_calls, cap_calls;
    hls_violation *violations;
    size_t n_violations, cap_violations;
    bool out_of_memory;
} hls_program;

/* Grows *items (elements of elem bytes) so that one more fits after count.
 * Returns 0, or -1 and sets p->out_of_memory. */
int hls_grow(hls_program *p, void **items, size_t *cap, size_t count, size_t elem);

int hls_name_add(hls_program *p, hls_name_set *set, const hls_token *t);
bool hls_name_has(const hls_name_set *set, const char *text, size_t len);
void hls_name_set_free(hls_name_set *set);

/* Records a violation of rule at file:line. */
void hls_report(hls_program *p, int file, int line, const char *rule, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Writes the tokens [begin, end) into buf, with one space where the source
 * separates them, shortened with "..." when they do not fit. */
void hls_tokens_text(const hls_token *t, size_t begin, size_t end, char *buf, size_t size);

/* Keywords of C11 and the GNU spellings that kernels might contain. */
bool hls_is_keyword(const hls_token *t);

/* Type names that need no declaration in the checked files: <stdint.h>
 * and <math.h> typedefs and bool from <stdbool.h>. */
bool hls_is_builtin_type_name(const hls_token *t);

/* True when t names a typedef of the given file or of a file it includes.
 * Typedef names of unrelated files may be variable names here. */
bool hls_is_visible_typedef(const hls_program *p, int file, const hls_token *t);

const hls_macro *hls_find_macro(const hls_program *p, const hls_token *name);

/* The preprocessor pass of one file: fills code, match and marks, records
 * macros and the files it includes, and reports include violations.
 * Returns -1 only when out of memory. */
int hls_preprocess(hls_program *p, int file);

/* Closes p->visible over includes of includes, after hls_preprocess. */
void hls_close_includes(hls_program *p);

/* True when the tokens [begin, end) form an integer constant expression:
 * integer and character literals, enum constants, macros that expand to
 * such expressions, sizeof, casts and C operators. */
bool hls_is_constant_expr(const hls_program *p, const hls_token *t, size_t begin, size_t end);

/* Records typedef names and enum constants of every file; needs to run
 * before the declaration pass so that 'T *x;' reads as a declaration. */
void hls_collect_type_names(hls_program *p);

/* The declaration pass of one file: finds function definitions, marks
 * declared names and statement starts, and checks array dimensions and
 * function-type typedefs. */
void hls_scan_declarations(hls_program *p, int file);

/* Index of the last token of the statement that starts at i, within
 * [i, end); end - 1 when the statement is cut off. */
size_t hls_statement_end(const hls_file *f, size_t i, size_t end);

/* Checks the loops and pragmas of one function. */
void hls_check_loops(hls_program *p, int function);

/* Finds the calls of one function, checks them against the allowed
 * functions and records call-graph edges. */
void hls_check_calls(hls_program *p, int function);

/* Reports function pointers, functions used as values, goto, asm and C++
 * new/delete anywhere in one file. */
void hls_check_tokens(hls_program *p, int file);

/* Reports every cycle of the call graph. */
void hls_check_recursion(hls_program *p);

/* True for the <math.h> functions that kernels may call: expf, exp, logf,
 * sqrtf, sqrt, fabsf, fabs, roundf, floorf, ceilf, fminf, fmaxf, sinf,
 * cosf, powf, lrintf. */
bool hls_is_allowed_math(const hls_token *name);

/* Index of the function a call from file to name resolves to, or -1. */
int hls_resolve_function(const hls_program *p, int file, const hls_token *name);

#endif
