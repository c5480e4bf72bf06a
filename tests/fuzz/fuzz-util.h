/* Shared by the libFuzzer harnesses. libFuzzer's input is not NUL-terminated, and with ASan's
 * strict_string_checks (test.sh sets it) strndup() on it is reported as an overflow: copy with this. */
#pragma once

#include <stdlib.h>
#include <string.h>

/* The n bytes at p as a NUL-terminated string (a NUL byte inside ends it early for C string users);
 * aborts on allocation failure, which is never the code under test. */
static inline char *fuzz_strdup_n(const void *p, size_t n) {
        char *s = malloc(n + 1);

        if (!s)
                abort();
        memcpy(s, p, n);
        s[n] = '\0';
        return s;
}
