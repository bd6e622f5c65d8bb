/* Placeholder: the GGUF loader is being written. */
#include "modelio/model.h"

int flx_model_load_gguf(flx_model *model, const char *path, flx_error *err) {
    (void)model;
    return flx_fail(err, "%s: GGUF input is not implemented yet", path);
}
