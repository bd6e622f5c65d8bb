/* Function pointers in their forms: declarators, typedefs, calls through a
 * pointer and functions used as values. */
#include <stdint.h>

typedef int32_t (*fp_unary)(int32_t); /* expect: function-pointer */
typedef int32_t fp_signature(int32_t); /* expect: function-pointer */

int32_t fp_twice(int32_t x) {
    return 2 * x;
}

int32_t fp_apply(int32_t (*op)(int32_t), int32_t x) { /* expect: function-pointer */
    return (*op)(x); /* expect: function-pointer */
}

int32_t fp_use(int32_t x) {
    fp_unary g = fp_twice;                /* expect: function-pointer */
    int32_t y = fp_apply(&fp_twice, x);   /* expect: function-pointer */
    return g(y);
}

struct fp_table {
    int32_t fp_twice; /* a member may share a function's name */
    int32_t (*hook)(int32_t); /* expect: function-pointer */
};

int32_t fp_member(struct fp_table *t, int32_t x) {
    return t->fp_twice * x;
}
