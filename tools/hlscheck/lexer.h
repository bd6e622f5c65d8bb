/* C tokenizer for the HLS subset checker: splits a source buffer into
 * identifiers, numbers, literals, punctuators and preprocessor lines.
 * Comments and line splices are dropped; tokens point into the buffer. */
#ifndef FLEXLLM_HLSCHECK_LEXER_H
#define FLEXLLM_HLSCHECK_LEXER_H

#include <stddef.h>

typedef enum hls_token_kind {
    HLS_TOK_IDENT,
    HLS_TOK_NUMBER, /* a preprocessing number: 12, 0x1Fu, 1.5e-3f */
    HLS_TOK_STRING,
    HLS_TOK_CHAR,
    HLS_TOK_PUNCT,
    HLS_TOK_HEADER,        /* <name.h> after #include */
    HLS_TOK_DIRECTIVE_END, /* end of a preprocessor line (empty text) */
    HLS_TOK_PRAGMA         /* a #pragma HLS line; only in a checker's code stream */
} hls_token_kind;

typedef struct hls_token {
    const char *text; /* not NUL-terminated */
    size_t len;
    int line;
    hls_token_kind kind;
    int in_directive; /* 1 from the '#' that starts a preprocessor line to its end */
    size_t aux;       /* HLS_TOK_PRAGMA: index of the line's '#' in the raw tokens */
} hls_token;

typedef struct hls_token_list {
    hls_token *items;
    size_t count, cap;
} hls_token_list;

/* Appends the tokens of src[0..len) to out. Returns 0, or -1 with a message
 * naming the line in err for an unterminated comment, string or character
 * literal, or when memory runs out. */
int hls_lex(const char *src, size_t len, hls_token_list *out, char *err, size_t err_size);

void hls_token_list_free(hls_token_list *list);

/* 1 when the token's text equals s. */
int hls_token_is(const hls_token *t, const char *s);

#endif
