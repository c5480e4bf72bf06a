/* The request target of procsync-api, parsed strictly from the raw bytes the client sent.
 *
 * libmicrohttpd unescapes the path and the arguments leniently (a bad "%zz" stays as it is), which would
 * make "/v1/processes?name=%zz" and "?name=%25zz" the same question. The API therefore takes the raw
 * target (MHD's URI log callback gives it before any parsing) and decodes it here: "%" must be followed by
 * two hex digits, %00 is refused (it would cut a C string), '+' in the query is a space, the decoded text
 * must be UTF-8, and the target must be a path ("/..."), not an absolute URI or "*". */
#pragma once

#include <stddef.h>

/* More arguments than this in one query is not a question this API has. */
#define API_URI_MAX_ARGS 32

typedef struct ApiArg {
        char *key;
        char *value; /* "" for "?key" and "?key=" */
} ApiArg;

typedef struct ApiUri {
        char *path; /* decoded */
        ApiArg args[API_URI_MAX_ARGS];
        size_t n_args;
} ApiUri;

/* Returns 0, or -EINVAL with *ret_error (static text) saying what is wrong; -E2BIG for too many
 * arguments; -ENOMEM. */
int api_uri_parse(const char *raw, ApiUri *ret, const char **ret_error);
void api_uri_done(ApiUri *u);

/* The value of the first argument named key, or NULL. */
const char *api_uri_arg(const ApiUri *u, const char *key);

/* Decodes %XX (and '+' as a space when plus_is_space) from s[0..len) into a new string. -EINVAL for a bad
 * escape, %00 or a result that is not UTF-8. */
int api_uri_unescape(const char *s, size_t len, int plus_is_space, char **ret);
