/* libFuzzer harness of the rewrite-name template expander (common/template.h), driven the way the matcher
 * drives it: through the rule engine, which matches with the suite's PCRE2 limits and expands the template
 * over the match data it just filled.
 *
 * Input: "REGEX\nSUBJECT\nTEMPLATE" (the template may hold further newlines). An empty REGEX is a rule
 * without match-regex; a REGEX that does not compile is replaced by a fixed pattern with numbered and named
 * groups, some optional, so that every input still reaches the expander. The environment is a fixed list
 * (one value full of template syntax, which must come out verbatim). The name must stay within
 * TEMPLATE_MAX_OUTPUT bytes and, when the subject and the template are UTF-8, be UTF-8 (a cut at the bound
 * never splits a character). */
#include <stdlib.h>
#include <string.h>

#include "fuzz-util.h"
#include "rules.h"
#include "template.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FALLBACK_REGEX "^(?<word>\\w+)(?:[ _.-](?<rest>.*?))?(\\.(py|sh))?(x)?$"

static char *fuzz_env[] = {
        (char *) "HOSTNAME=fuzzhost",
        (char *) "ZONE=eu-1",
        (char *) "EVIL=$1${word}%ZONE%$$",
        (char *) "EMPTY=",
        NULL,
};

/* Cuts the next '\n'-terminated field off *p (the last field runs to the end); NUL bytes end it early. */
static char *next_field(const char **p, const char *end) {
        const char *nl = memchr(*p, '\n', (size_t) (end - *p));
        const char *e = nl ?: end;
        char *s = fuzz_strdup_n(*p, (size_t) (e - *p));

        *p = nl ? nl + 1 : end;
        return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *regex = NULL, *subject = NULL, *tmpl = NULL, *copy = NULL;
        _cleanup_(rule_set_freep) RuleSet *s = NULL;
        const char *p = (const char *) data, *end = p + size;
        _cleanup_pcre2_code_ pcre2_code *code = NULL;
        RuleDecision d = {};
        ConfigRule rule = {
                .match_type = MATCH_PROCESS_NAME,
                .action = ACTION_ACCEPT,
        };
        RuleInput in = {};
        int r;

        regex = next_field(&p, end);
        subject = next_field(&p, end);
        tmpl = next_field(&p, end);

        if (*regex && regex_compile(regex, &code, NULL, 0, NULL) < 0) {
                free(regex);
                regex = strdup(FALLBACK_REGEX);
                if (!regex)
                        abort();
        }
        rule.match_regex = *regex ? regex : NULL;
        rule.rewrite_name = tmpl;

        if (rule_set_new(&rule, 1, &s, NULL) < 0)
                abort();
        rule_set_set_env(s, template_env_strv, fuzz_env);

        in = (RuleInput) { .comm = subject, .cmdline = "fuzz" };
        if (rule_set_decide(s, &in, &d) < 0)
                abort();
        if (!d.name || strlen(d.name) > TEMPLATE_MAX_OUTPUT)
                abort();
        if (utf8_is_valid(subject, strlen(subject)) && utf8_is_valid(tmpl, strlen(tmpl)) &&
            !utf8_is_valid(d.name, strlen(d.name)))
                abort();
        rule_decision_done(&d);

        r = template_copy_bounded(subject, &copy);
        if (r < 0 || strlen(copy) > TEMPLATE_MAX_OUTPUT || (r == 0 && !streq(copy, subject)))
                abort();
        if (utf8_is_valid(subject, strlen(subject)) && !utf8_is_valid(copy, strlen(copy)))
                abort();
        return 0;
}
