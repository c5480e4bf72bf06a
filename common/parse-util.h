/* Small parsers shared by the /proc and net table readers: digits between two pointers, no locale, no
 * errno, no NUL terminator needed (the kernel's files are parsed in place). */
#pragma once

#include <stdint.h>

/* Decimal digits in [s, end) → *ret. -EBADMSG if empty or not all digits, -ERANGE on overflow. */
int parse_u64_span(const char *s, const char *end, uint64_t *ret);

/* For functions that hand the caller a malloc'd explanation: sets *ret_error (when ret_error is not
 * NULL) to the formatted message, or NULL when out of memory. */
void error_set(char **ret_error, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
