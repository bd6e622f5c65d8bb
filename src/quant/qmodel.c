#include "quant/qmodel.h"

#include <stdlib.h>
#include <string.h>

void *flx_qmodel_alloc(flx_qmodel *m, size_t bytes, flx_error *err) {
    if (m->n_owned == m->cap_owned) {
        int cap = m->cap_owned ? 2 * m->cap_owned : 64;
        void **grown = realloc(m->owned, (size_t)cap * sizeof *grown);
        if (!grown) {
            flx_fail(err, "out of memory growing the quantized model's buffer list to %d entries", cap);
            return NULL;
        }
        m->owned = grown;
        m->cap_owned = cap;
    }
    void *p = flx_calloc(1, bytes, err);
    if (p) m->owned[m->n_owned++] = p;
    return p;
}

void flx_qmodel_free(flx_qmodel *m) {
    if (!m) return;
    for (int i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    memset(m, 0, sizeof *m);
}
