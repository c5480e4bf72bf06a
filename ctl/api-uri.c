/* See api-uri.h. */
#include "api-uri.h"

#include "doc-db.h"
#include "macro.h"

static int hexval(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

int api_uri_unescape(const char *s, size_t len, int plus_is_space, char **ret) {
        _cleanup_free_ char *out = NULL, *check = NULL;
        size_t j = 0;

        out = malloc(len + 1);
        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < len; i++) {
                if (s[i] == '%') {
                        int hi, lo;

                        if (i + 2 >= len)
                                return -EINVAL;
                        hi = hexval(s[i + 1]);
                        lo = hexval(s[i + 2]);
                        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                                return -EINVAL;
                        out[j++] = (char) (hi * 16 + lo);
                        i += 2;
                } else if (s[i] == '+' && plus_is_space)
                        out[j++] = ' ';
                else
                        out[j++] = s[i];
        }
        out[j] = 0;

        /* Decoded text must be UTF-8: it ends up in SQL comparisons and JSON answers. */
        check = doc_utf8_repair(out);
        if (!check)
                return -ENOMEM;
        if (!streq(check, out))
                return -EINVAL;
        *ret = TAKE_PTR(out);
        return 0;
}

void api_uri_done(ApiUri *u) {
        free(u->path);
        for (size_t i = 0; i < u->n_args; i++) {
                free(u->args[i].key);
                free(u->args[i].value);
        }
        *u = (ApiUri){};
}

static bool raw_char_ok(unsigned char c) {
        /* Control characters, space and bytes above 0x7e never belong in a request target unescaped. */
        return c > 0x20 && c < 0x7f && c != '#';
}

int api_uri_parse(const char *raw, ApiUri *ret, const char **ret_error) {
        _cleanup_(api_uri_done) ApiUri u = {};
        const char *q, *p;
        int r;

        if (!raw || raw[0] != '/') {
                *ret_error = "the request target must be a path starting with '/'";
                return -EINVAL;
        }
        for (p = raw; *p; p++)
                if (!raw_char_ok((unsigned char) *p)) {
                        *ret_error = "the request target has a character that must be percent-encoded";
                        return -EINVAL;
                }

        q = strchr(raw, '?');
        r = api_uri_unescape(raw, q ? (size_t) (q - raw) : strlen(raw), 0, &u.path);
        if (r == -EINVAL)
                *ret_error = "bad percent-encoding in the path";
        if (r < 0)
                return r;

        for (p = q ? q + 1 : NULL; p && *p;) {
                const char *end = strchr(p, '&'), *eq;
                size_t len = end ? (size_t) (end - p) : strlen(p);

                if (len > 0) {
                        if (u.n_args >= API_URI_MAX_ARGS) {
                                *ret_error = "too many query arguments";
                                return -E2BIG;
                        }
                        eq = memchr(p, '=', len);
                        r = api_uri_unescape(p, eq ? (size_t) (eq - p) : len, 1, &u.args[u.n_args].key);
                        if (r >= 0)
                                r = eq ? api_uri_unescape(eq + 1, len - (size_t) (eq + 1 - p), 1,
                                                          &u.args[u.n_args].value)
                                       : ((u.args[u.n_args].value = strdup("")) ? 0 : -ENOMEM);
                        /* Counted even when half-built, so api_uri_done() frees the half. */
                        u.n_args++;
                        if (r == -EINVAL)
                                *ret_error = "bad percent-encoding in the query";
                        if (r < 0)
                                return r;
                }
                p = end ? end + 1 : NULL;
        }
        *ret = u;
        u = (ApiUri){};
        return 0;
}

const char *api_uri_arg(const ApiUri *u, const char *key) {
        for (size_t i = 0; i < u->n_args; i++)
                if (streq(u->args[i].key, key))
                        return u->args[i].value;
        return NULL;
}
