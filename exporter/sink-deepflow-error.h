/* The one-line failure reasons of the deepflow sink: every failing function of the sink returns -errno and
 * hands a malloc'd reason up through ret_error (SinkOps contract), built here. */
#pragma once

#include <stdarg.h>
#include <stdio.h>

#include "macro.h"

/* Sets *ret_error (if ret_error is not NULL) to the formatted reason and returns r (negative). *ret_error is
 * overwritten, not freed: callers inside the sink pass their own NULL-initialized local and hand it to the
 * exporter only on failure. */
_printf_(3, 4) static inline int deepflow_error(char **ret_error, int r, const char *fmt, ...) {
        if (ret_error) {
                va_list ap;
                char *s;

                va_start(ap, fmt);
                if (vasprintf(&s, fmt, ap) < 0)
                        s = NULL;
                va_end(ap);
                *ret_error = s;
        }
        return r;
}
