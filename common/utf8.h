/* UTF-8 validation and repair for text that comes from the kernel or from users (cmdlines, comms, tag
 * values may hold any bytes) and must go into JSON, which requires valid UTF-8. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Strict RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF. */
bool utf8_is_valid(const char *s, size_t len);

/* A malloc'd copy of s[0..len) with every invalid sequence replaced by U+FFFD, NUL-terminated. NULL on
 * allocation failure. */
char *utf8_make_valid(const char *s, size_t len);
