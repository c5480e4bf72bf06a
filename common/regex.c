/* See regex.h. JIT is an optimisation only: if the platform refuses it, matching falls back to the
 * interpreter with the same results and limits. */
#include "regex.h"

int regex_compile(const char *pattern, pcre2_code **ret, char *errbuf, size_t errbuf_size,
                  size_t *ret_error_offset) {
        PCRE2_SIZE offset = 0;
        pcre2_code *code;
        int errcode = 0;

        code = pcre2_compile((PCRE2_SPTR) pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_MATCH_INVALID_UTF,
                             &errcode, &offset, NULL);
        if (!code) {
                if (errbuf && errbuf_size > 0)
                        (void) pcre2_get_error_message(errcode, (PCRE2_UCHAR *) errbuf, errbuf_size);
                if (ret_error_offset)
                        *ret_error_offset = offset;
                return -EINVAL;
        }
        (void) pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
        *ret = code;
        return 0;
}
