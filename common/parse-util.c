/* See parse-util.h. */
#include "parse-util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

int parse_u64_span(const char *s, const char *end, uint64_t *ret) {
        uint64_t v = 0;

        if (s >= end)
                return -EBADMSG;
        for (; s < end; s++) {
                if (*s < '0' || *s > '9')
                        return -EBADMSG;
                if (v > (UINT64_MAX - (uint64_t) (*s - '0')) / 10)
                        return -ERANGE;
                v = v * 10 + (uint64_t) (*s - '0');
        }
        *ret = v;
        return 0;
}

void error_set(char **ret_error, const char *fmt, ...) {
        va_list ap;

        if (!ret_error)
                return;
        va_start(ap, fmt);
        if (vasprintf(ret_error, fmt, ap) < 0)
                *ret_error = NULL;
        va_end(ap);
}
