#include "check.h"

int flx_check_failures = 0;

int flx_check_report(const char *test_name) {
    if (flx_check_failures) {
        printf("FAIL %s: %d check(s) failed\n", test_name, flx_check_failures);
        return 1;
    }
    printf("PASS %s\n", test_name);
    return 0;
}
