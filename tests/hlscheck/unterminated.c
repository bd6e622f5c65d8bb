/* An unterminated comment makes the file unreadable to the checker. */
int ut_value(void) {
    /* this comment never ends
    return 1;
}
