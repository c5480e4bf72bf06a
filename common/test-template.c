/* Tests of the rewrite-name template expander: one table of (pattern, subject, template, environment,
 * expected name), the expectations written from the syntax in template.h, plus the output bound. */
#include <setjmp.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "template.h"

typedef struct Case {
        const char *pattern;
        const char *subject;
        const char *tmpl;
        const char *expected; /* NULL: the machine's hostname */
} Case;

static char *env_web1[] = { (char *) "HOSTNAME=web1", (char *) "ZONE=eu-1", (char *) "EVIL=$1${x}%ZONE%",
                            (char *) "EMPTY=", NULL };
static char *env_none[] = { NULL };

static char *expand(const char *pattern, const char *subject, const char *tmpl, char **env, int *ret_rc) {
        _cleanup_pcre2_code_ pcre2_code *code = NULL;
        pcre2_match_data *md;
        char *out = NULL;
        int r;

        assert_int_equal(regex_compile(pattern, &code, NULL, 0, NULL), 0);
        md = pcre2_match_data_create_from_pattern(code, NULL);
        assert_non_null(md);
        assert_true(pcre2_match(code, (PCRE2_SPTR) subject, PCRE2_ZERO_TERMINATED, 0, 0, md, NULL) >= 0);
        r = template_expand(tmpl, code, md, subject, template_env_strv, env, &out);
        pcre2_match_data_free(md);
        assert_true(r >= 0);
        if (ret_rc)
                *ret_rc = r;
        return out;
}

static void run_cases(const Case *cases, size_t n, char **env) {
        char host[HOST_NAME_MAX + 1] = "";

        assert_int_equal(gethostname(host, sizeof(host)), 0);
        for (size_t i = 0; i < n; i++) {
                const char *want = cases[i].expected ?: host;
                _cleanup_free_ char *out = NULL;

                out = expand(cases[i].pattern, cases[i].subject, cases[i].tmpl, env, NULL);

                if (!streq(out, want))
                        fail_msg("case %zu: template '%s' over /%s/ on '%s': got '%s', want '%s'", i,
                                 cases[i].tmpl, cases[i].pattern, cases[i].subject, out, want);
        }
}

static void test_groups(void **state) {
        static const Case cases[] = {
                /* The seed's own examples. */
                { "python3 (.*)\\.py", "python3 foo.py", "$1-py-script", "foo-py-script" },
                { "python3 (.*)\\.py", "python3 /srv/app/foo.py", "$1-py-script", "/srv/app/foo-py-script" },
                { "(?P<PROC_NAME>nginx)", "nginx", "${PROC_NAME}-%HOSTNAME%", "nginx-web1" },
                /* $N, ${N}, $0; text outside the match is not kept. */
                { "o(o)b", "xxfoobarxx", "$0|$1|${1}|${0}", "oob|o|o|oob" },
                { "(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)", "abcdefghij", "$10-${1}0", "j-a0" },
                /* An unbraced name is the longest run of [_0-9A-Za-z]. */
                { "(ab)", "ab", "$1_x", "" },
                { "(ab)", "ab", "${1}_x", "ab_x" },
                { "(?<svc>api)-(?<env>prod)", "api-prod", "$svc.$env/${svc}_${env}", "api.prod/api_prod" },
                { "(?<svc>api)", "api", "$svc_x|${svc}_x", "|api_x" },
                /* Missing groups: out of range, unset in this match, unknown name. */
                { "(ab)", "ab", "[$2][${7}][$nope][${nope}]", "[][][][]" },
                { "(a)|(b)", "b", "[$1][$2]", "[][b]" },
                { "(ab)", "ab", "$99999999999999999999", "" },
                /* Duplicate names: the first group of that name that is set. */
                { "(?J)(?<n>a)x|(?<n>b)y", "by", "${n}", "b" },
                /* $$ and a '$' that starts nothing are literal. */
                { "(ab)", "ab", "$$1 costs $", "$1 costs $" },
                { "(ab)", "ab", "$-${-}${}${1", "$-${-}${}${1" },
                /* Group values are inserted verbatim, never expanded again. */
                { "(.+)", "$1%ZONE%", "<$1>", "<$1%ZONE%>" },
        };

        run_cases(cases, ELEMENTSOF(cases), env_web1);
}

static void test_environment(void **state) {
        static const Case with_env[] = {
                { "x", "x", "%HOSTNAME%", "web1" },
                { "x", "x", "%ZONE%-%HOSTNAME%", "eu-1-web1" },
                { "x", "x", "100%% %%ZONE%%", "100% %ZONE%" },
                /* Unset variables stay literal; so does a '%' that starts no variable. */
                { "x", "x", "%NOT_SET%", "%NOT_SET%" },
                { "x", "x", "50% off", "50% off" },
                { "x", "x", "%a b%ZONE%", "%a beu-1" },
                { "x", "x", "%", "%" },
                { "x", "x", "%ZONE", "%ZONE" },
                /* Set but empty is set. */
                { "x", "x", "[%EMPTY%]", "[]" },
                /* An environment value is not expanded again: no capture groups, no variables. */
                { "(x)", "x", "%EVIL%", "$1${x}%ZONE%" },
        };
        static const Case without_env[] = {
                /* %HOSTNAME% falls back to gethostname() (expected NULL = the machine's hostname). */
                { "x", "x", "%HOSTNAME%", NULL },
                { "x", "x", "%ZONE%", "%ZONE%" },
        };

        run_cases(with_env, ELEMENTSOF(with_env), env_web1);
        run_cases(without_env, ELEMENTSOF(without_env), env_none);
}

static void test_process_environment(void **state) {
        _cleanup_pcre2_code_ pcre2_code *code = NULL;
        _cleanup_free_ char *out = NULL;
        pcre2_match_data *md;

        assert_int_equal(setenv("PROCSYNC_TEST_VAR", "from-environ", 1), 0);
        assert_int_equal(regex_compile("x", &code, NULL, 0, NULL), 0);
        md = pcre2_match_data_create_from_pattern(code, NULL);
        assert_true(pcre2_match(code, (PCRE2_SPTR) "x", 1, 0, 0, md, NULL) >= 0);
        assert_int_equal(template_expand("%PROCSYNC_TEST_VAR%", code, md, "x", NULL, NULL, &out), 0);
        assert_string_equal(out, "from-environ");
        pcre2_match_data_free(md);
}

static bool valid_utf8(const char *s) {
        const unsigned char *p = (const unsigned char *) s;

        while (*p) {
                size_t n = *p < 0x80 ? 1 : *p >= 0xF0 ? 4 : *p >= 0xE0 ? 3 : *p >= 0xC0 ? 2 : 0;

                if (n == 0)
                        return false;
                for (size_t i = 1; i < n; i++)
                        if ((p[i] & 0xC0) != 0x80)
                                return false;
                p += n;
        }
        return true;
}

static void test_bound(void **state) {
        _cleanup_free_ char *subject = NULL, *out = NULL, *copy = NULL, *ascii = NULL, *tmpl = NULL;
        size_t n = 3000;
        int rc;

        /* "a" + 3000 x "é" (2 bytes each) = 6001 bytes: the cut at 4096 would split an "é". */
        subject = malloc(1 + 2 * n + 1);
        assert_non_null(subject);
        subject[0] = 'a';
        for (size_t i = 0; i < n; i++)
                memcpy(subject + 1 + 2 * i, "\xc3\xa9", 2);
        subject[1 + 2 * n] = 0;

        out = expand("a.*", subject, "$0", env_none, &rc);
        assert_int_equal(rc, 1);
        assert_int_equal(strlen(out), TEMPLATE_MAX_OUTPUT - 1);
        assert_true(valid_utf8(out));

        assert_int_equal(template_copy_bounded(subject, &copy), 1);
        assert_string_equal(copy, out);

        /* ASCII is cut at exactly the bound; a template that repeats a group many times is bounded too. */
        tmpl = malloc(2 * 5000 + 1);
        assert_non_null(tmpl);
        for (size_t i = 0; i < 5000; i++)
                memcpy(tmpl + 2 * i, "$1", 2);
        tmpl[2 * 5000] = 0;
        ascii = expand("(xy)", "xy", tmpl, env_none, &rc);
        assert_int_equal(rc, 1);
        assert_int_equal(strlen(ascii), TEMPLATE_MAX_OUTPUT);

        free(out);
        out = expand("x", "x", "short", env_none, &rc);
        assert_int_equal(rc, 0);
        assert_string_equal(out, "short");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_groups),
                cmocka_unit_test(test_environment),
                cmocka_unit_test(test_process_environment),
                cmocka_unit_test(test_bound),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
