/* The rewrite-name template expander (DESIGN.md "Rules", "Template").
 *
 * A template is expanded over one successful PCRE2 match:
 *   %VAR%            the environment variable VAR (VAR = one or more of [_0-9A-Za-z]); %HOSTNAME% falls
 *                    back to gethostname() when unset; any other unset variable is kept literally
 *                    ("%FOO%"), so a typo shows in the synced name instead of vanishing
 *   %%               a literal '%'; a '%' that does not start one of these forms is kept literally
 *   $N ${N}          capture group N (decimal)
 *   $name ${name}    the named capture group; unbraced, the name is the longest run of [_0-9A-Za-z], so
 *                    "$1_x" is the group named "1_x" (which cannot exist: empty) while "${1}_x" is group 1
 *                    followed by "_x"
 *   $$               a literal '$'; a '$' that does not start one of these forms is kept literally
 * A group that does not exist or did not take part in the match expands to nothing. Substituted values are
 * inserted as they are, never expanded again. Only the expansion is the result: text of the subject
 * outside the match is not kept.
 *
 * The result is at most TEMPLATE_MAX_OUTPUT bytes; a longer one is cut at a UTF-8 character boundary. */
#pragma once

#include <stddef.h>

#include "regex.h"

#define TEMPLATE_MAX_OUTPUT 4096
#define TEMPLATE_MAX_VAR_NAME 255

/* Returns the value of environment variable `name`, or NULL when it is unset. Injectable so that tests
 * (and callers with an explicit environment) do not depend on the process's environment. */
typedef const char *(*TemplateEnvLookup)(const char *name, void *userdata);

/* The process environment (getenv). */
const char *template_env_getenv(const char *name, void *userdata);

/* An environment given as a NULL-terminated "NAME=value" array (userdata is the char ** array). */
const char *template_env_strv(const char *name, void *userdata);

/* Expands `tmpl` over the match in `match_data` (the result of a successful pcre2_match() of `code` against
 * `subject`). `env` NULL means template_env_getenv. Returns 0, or 1 when the result was truncated to
 * TEMPLATE_MAX_OUTPUT bytes; -ENOMEM. */
int template_expand(const char *tmpl, const pcre2_code *code, pcre2_match_data *match_data,
                    const char *subject, TemplateEnvLookup env, void *env_userdata, char **ret);


/* Copies `s` under the same bound as an expansion (at most TEMPLATE_MAX_OUTPUT bytes, cut at a UTF-8
 * character boundary): for names taken verbatim from a process. Returns 0, 1 when cut; -ENOMEM. */
int template_copy_bounded(const char *s, char **ret);
