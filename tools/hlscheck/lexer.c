#include "lexer.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct lexer {
    const char *src;
    size_t len, pos;
    int line;
    int in_directive;
    int at_line_start; /* only blanks since the last newline */
    hls_token_list *out;
    char *err;
    size_t err_size;
} lexer;

static int fail(lexer *lx, int line, const char *what) {
    if (lx->err && lx->err_size) snprintf(lx->err, lx->err_size, "line %d: %s", line, what);
    return -1;
}

static int push(lexer *lx, hls_token_kind kind, size_t begin, size_t end, int line) {
    hls_token_list *l = lx->out;
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        if (cap > SIZE_MAX / sizeof *l->items) return fail(lx, line, "out of memory");
        hls_token *items = realloc(l->items, cap * sizeof *items);
        if (!items) return fail(lx, line, "out of memory");
        l->items = items;
        l->cap = cap;
    }
    hls_token *t = &l->items[l->count++];
    t->text = lx->src + begin;
    t->len = end - begin;
    t->line = line;
    t->kind = kind;
    t->in_directive = lx->in_directive;
    t->aux = 0;
    return 0;
}

static int peek(const lexer *lx, size_t ahead) {
    size_t p = lx->pos + ahead;
    return p < lx->len ? (unsigned char)lx->src[p] : -1;
}

/* Length of a backslash-newline splice at pos, or 0. */
static size_t splice_len(const lexer *lx, size_t pos) {
    if (pos >= lx->len || lx->src[pos] != '\\') return 0;
    if (pos + 1 < lx->len && lx->src[pos + 1] == '\n') return 2;
    if (pos + 2 < lx->len && lx->src[pos + 1] == '\r' && lx->src[pos + 2] == '\n') return 3;
    return 0;
}

static int is_ident_start(int c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$' || c >= 0x80;
}

static int is_ident_char(int c) {
    return is_ident_start(c) || (c >= '0' && c <= '9');
}

/* Ends the current preprocessor line, if one is open. */
static int end_directive(lexer *lx) {
    if (!lx->in_directive) return 0;
    int rc = push(lx, HLS_TOK_DIRECTIVE_END, lx->pos, lx->pos, lx->line);
    lx->in_directive = 0;
    return rc;
}

static int skip_block_comment(lexer *lx) {
    int start_line = lx->line;
    lx->pos += 2;
    while (lx->pos + 1 < lx->len && !(lx->src[lx->pos] == '*' && lx->src[lx->pos + 1] == '/')) {
        if (lx->src[lx->pos] == '\n') lx->line++;
        lx->pos++;
    }
    if (lx->pos + 1 >= lx->len) return fail(lx, start_line, "unterminated /* comment; close it with */");
    lx->pos += 2;
    return 0;
}

/* A // comment runs to the first newline that is not spliced. */
static void skip_line_comment(lexer *lx) {
    while (lx->pos < lx->len && lx->src[lx->pos] != '\n') {
        size_t s = splice_len(lx, lx->pos);
        if (s) {
            lx->pos += s;
            lx->line++;
        } else {
            lx->pos++;
        }
    }
}

/* A string or character literal from its opening quote at pos. Inside a
 * preprocessor line an unclosed quote ends at the end of the line, as in
 * '#error don't', because compilers only warn there. */
static int lex_quoted(lexer *lx, size_t begin, hls_token_kind kind) {
    char quote = lx->src[lx->pos];
    int line = lx->line;
    lx->pos++;
    while (lx->pos < lx->len && lx->src[lx->pos] != quote) {
        char c = lx->src[lx->pos];
        if (c == '\n') break;
        if (c == '\\' && lx->pos + 1 < lx->len) {
            size_t s = splice_len(lx, lx->pos);
            if (s) {
                lx->pos += s;
                lx->line++;
                continue;
            }
            lx->pos++;
        }
        lx->pos++;
    }
    if (lx->pos < lx->len && lx->src[lx->pos] == quote) {
        lx->pos++;
        return push(lx, kind, begin, lx->pos, line);
    }
    if (lx->in_directive) return push(lx, kind, begin, lx->pos, line);
    return fail(lx, line, kind == HLS_TOK_STRING ? "unterminated string literal; close it with \""
                                                 : "unterminated character literal; close it with '");
}

static int lex_number(lexer *lx) {
    size_t begin = lx->pos;
    lx->pos++;
    while (lx->pos < lx->len) {
        int c = (unsigned char)lx->src[lx->pos];
        int prev = (unsigned char)lx->src[lx->pos - 1];
        if ((c == '+' || c == '-') && (prev == 'e' || prev == 'E' || prev == 'p' || prev == 'P')) {
            lx->pos++;
        } else if (is_ident_char(c) || c == '.') {
            lx->pos++;
        } else {
            break;
        }
    }
    return push(lx, HLS_TOK_NUMBER, begin, lx->pos, lx->line);
}

/* Punctuators of C, longest first within each length. */
static const char *const punct3[] = {"...", "<<=", ">>="};
static const char *const punct2[] = {"->", "++", "--", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||",
                                     "*=", "/=", "%=", "+=", "-=", "&=", "^=", "|=", "##"};

static int lex_punct(lexer *lx) {
    size_t rest = lx->len - lx->pos;
    const char *s = lx->src + lx->pos;
    size_t n = 1;
    for (size_t i = 0; i < sizeof punct3 / sizeof *punct3 && n == 1; i++)
        if (rest >= 3 && !memcmp(s, punct3[i], 3)) n = 3;
    for (size_t i = 0; i < sizeof punct2 / sizeof *punct2 && n == 1; i++)
        if (rest >= 2 && !memcmp(s, punct2[i], 2)) n = 2;
    size_t begin = lx->pos;
    lx->pos += n;
    return push(lx, HLS_TOK_PUNCT, begin, lx->pos, lx->line);
}

/* True when the open directive so far is exactly '#' 'include' (or
 * include_next, import), so a '<' starts a header name. */
static int expects_header_name(const lexer *lx) {
    const hls_token_list *l = lx->out;
    if (!lx->in_directive || l->count < 2) return 0;
    const hls_token *hash = &l->items[l->count - 2], *word = &l->items[l->count - 1];
    return hls_token_is(hash, "#") && hash->in_directive &&
           (hls_token_is(word, "include") || hls_token_is(word, "include_next") || hls_token_is(word, "import")) &&
           (l->count == 2 || !l->items[l->count - 3].in_directive ||
            l->items[l->count - 3].kind == HLS_TOK_DIRECTIVE_END);
}

static int lex_header_name(lexer *lx) {
    size_t begin = lx->pos;
    while (lx->pos < lx->len && lx->src[lx->pos] != '>' && lx->src[lx->pos] != '\n') lx->pos++;
    if (lx->pos < lx->len && lx->src[lx->pos] == '>') lx->pos++;
    return push(lx, HLS_TOK_HEADER, begin, lx->pos, lx->line);
}

static int lex_one(lexer *lx) {
    int c = peek(lx, 0);
    size_t s = splice_len(lx, lx->pos);
    if (s) {
        lx->pos += s;
        lx->line++;
        return 0;
    }
    if (c == '\n') {
        int rc = end_directive(lx);
        lx->pos++;
        lx->line++;
        lx->at_line_start = 1;
        return rc;
    }
    if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
        lx->pos++;
        return 0;
    }
    if (c == '/' && peek(lx, 1) == '*') return skip_block_comment(lx);
    if (c == '/' && peek(lx, 1) == '/') {
        skip_line_comment(lx);
        return 0;
    }

    int line_start = lx->at_line_start;
    lx->at_line_start = 0;
    if (c == '#' && line_start && !lx->in_directive) {
        lx->in_directive = 1;
        lx->pos++;
        return push(lx, HLS_TOK_PUNCT, lx->pos - 1, lx->pos, lx->line);
    }
    if (c == '<' && expects_header_name(lx)) return lex_header_name(lx);
    if (c == '"') return lex_quoted(lx, lx->pos, HLS_TOK_STRING);
    if (c == '\'') return lex_quoted(lx, lx->pos, HLS_TOK_CHAR);
    if ((c >= '0' && c <= '9') || (c == '.' && peek(lx, 1) >= '0' && peek(lx, 1) <= '9')) return lex_number(lx);
    if (is_ident_start(c)) {
        size_t begin = lx->pos;
        while (lx->pos < lx->len && is_ident_char((unsigned char)lx->src[lx->pos])) lx->pos++;
        /* Encoding prefixes: L"..", u8"..", u'..', U'..'. */
        size_t n = lx->pos - begin;
        int q = peek(lx, 0);
        if ((q == '"' || q == '\'') &&
            ((n == 1 && strchr("LuU", lx->src[begin])) || (n == 2 && !memcmp(lx->src + begin, "u8", 2))))
            return lex_quoted(lx, begin, q == '"' ? HLS_TOK_STRING : HLS_TOK_CHAR);
        return push(lx, HLS_TOK_IDENT, begin, lx->pos, lx->line);
    }
    return lex_punct(lx);
}

int hls_lex(const char *src, size_t len, hls_token_list *out, char *err, size_t err_size) {
    lexer lx = {src, len, 0, 1, 0, 1, out, err, err_size};
    while (lx.pos < lx.len)
        if (lex_one(&lx) != 0) return -1;
    return end_directive(&lx);
}

void hls_token_list_free(hls_token_list *list) {
    free(list->items);
    list->items = NULL;
    list->count = list->cap = 0;
}

int hls_token_is(const hls_token *t, const char *s) {
    size_t n = strlen(s);
    return t->len == n && !memcmp(t->text, s, n);
}
