/* PCRE2 compilation with the suite's fixed options, shared by the config validator and the rule engine so
 * that a pattern the config accepts is exactly a pattern the matcher can run. Unanchored, UTF, with JIT
 * when the library has it. */
#pragma once

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stddef.h>

#include "macro.h"

/* On a syntax error returns -EINVAL and writes PCRE2's message to errbuf and the 0-based offset in the
 * pattern to *ret_error_offset. */
int regex_compile(const char *pattern, pcre2_code **ret, char *errbuf, size_t errbuf_size, size_t *ret_error_offset);

static inline void pcre2_code_freep(pcre2_code **p) {
        if (*p)
                pcre2_code_free(*p);
}
#define _cleanup_pcre2_code_ _cleanup_(pcre2_code_freep)
