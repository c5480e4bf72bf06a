/* The rule engine: see rules.h for the semantics and the choices made.
 *
 * Every rule's regex is compiled once (regex_compile: UTF, PCRE2_MATCH_INVALID_UTF so that a comm or cmdline
 * that is not valid UTF-8 is matched rather than rejected, JIT when available). All evaluations share one
 * match context carrying the limits, one JIT stack and one match data block sized for the rule with the most
 * groups. The match data of the deciding evaluation is still in place when the name is built, so the
 * template is expanded without matching again. */
#include "rules.h"

#include "macro.h"

typedef struct Rule {
        ConfigRule conf; /* own copies of the strings */
        pcre2_code *code;
} Rule;

struct RuleSet {
        Rule *rules;
        size_t n_rules;
        RuleStats *stats; /* n_rules + 1 */

        pcre2_match_context *mctx;
        pcre2_jit_stack *jit_stack;
        pcre2_match_data *md;

        TemplateEnvLookup env;
        void *env_userdata;

        /* The current process's tags as "key:value" strings, built on the first tag rule it meets. */
        char *tag_buf;
        size_t tag_buf_size;
        size_t *tag_offsets;
        size_t tag_offsets_size;
};

static const char *const rule_reason_table[_RULE_REASON_MAX] = {
        [RULE_REASON_RULE] = "rule",
        [RULE_REASON_DEFAULT] = "default",
        [RULE_REASON_KERNEL_THREAD] = "kernel-thread",
};

const char *rule_reason_to_string(RuleReason r) {
        return r < _RULE_REASON_MAX ? rule_reason_table[r] : NULL;
}

void rule_decision_done(RuleDecision *d) {
        if (!d)
                return;
        free(d->name);
        d->name = NULL;
}

RuleSet *rule_set_free(RuleSet *s) {
        if (!s)
                return NULL;
        for (size_t i = 0; i < s->n_rules; i++) {
                free(s->rules[i].conf.match_regex);
                free(s->rules[i].conf.rewrite_name);
                if (s->rules[i].code)
                        pcre2_code_free(s->rules[i].code);
        }
        free(s->rules);
        free(s->stats);
        if (s->md)
                pcre2_match_data_free(s->md);
        if (s->jit_stack)
                pcre2_jit_stack_free(s->jit_stack);
        if (s->mctx)
                pcre2_match_context_free(s->mctx);
        free(s->tag_buf);
        free(s->tag_offsets);
        free(s);
        return NULL;
}

static int rule_copy(Rule *r, const ConfigRule *c) {
        int k;

        r->conf = (ConfigRule) {
                .match_type = c->match_type,
                .action = c->action,
                .line = c->line,
                .column = c->column,
        };
        if (c->match_type >= _MATCH_TYPE_MAX || c->action >= _RULE_ACTION_MAX)
                return -EINVAL;
        if (c->match_regex) {
                r->conf.match_regex = strdup(c->match_regex);
                if (!r->conf.match_regex)
                        return -ENOMEM;
        }
        if (!isempty(c->rewrite_name)) {
                r->conf.rewrite_name = strdup(c->rewrite_name);
                if (!r->conf.rewrite_name)
                        return -ENOMEM;
        }
        /* A missing regex matches everything, exactly as `.*` would (including what $0 expands to). */
        k = regex_compile(c->match_regex ?: ".*", &r->code, NULL, 0, NULL);
        return k < 0 ? k : 0;
}

int rule_set_new(const ConfigRule *rules, size_t n_rules, RuleSet **ret, size_t *ret_bad_rule) {
        _cleanup_(rule_set_freep) RuleSet *s = NULL;
        uint32_t max_captures = 0;
        int r;

        if (n_rules > CONFIG_MAX_RULES)
                return -E2BIG;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->env = template_env_getenv;
        s->rules = calloc(n_rules ?: 1, sizeof(Rule));
        s->stats = calloc(n_rules + 1, sizeof(RuleStats));
        if (!s->rules || !s->stats)
                return -ENOMEM;

        for (size_t i = 0; i < n_rules; i++) {
                uint32_t captures = 0;

                s->n_rules = i + 1;
                r = rule_copy(&s->rules[i], &rules[i]);
                if (r < 0) {
                        if (r == -EINVAL && ret_bad_rule)
                                *ret_bad_rule = i;
                        return r;
                }
                if (pcre2_pattern_info(s->rules[i].code, PCRE2_INFO_CAPTURECOUNT, &captures) >= 0 &&
                    captures > max_captures)
                        max_captures = captures;
        }

        s->mctx = pcre2_match_context_create(NULL);
        s->md = pcre2_match_data_create(max_captures + 1, NULL);
        if (!s->mctx || !s->md)
                return -ENOMEM;
        (void) pcre2_set_match_limit(s->mctx, RULES_MATCH_LIMIT);
        (void) pcre2_set_depth_limit(s->mctx, RULES_DEPTH_LIMIT);
        (void) pcre2_set_heap_limit(s->mctx, RULES_HEAP_LIMIT_KIB);
        /* The JIT's default 32 KiB stack is too small for some legitimate patterns on long cmdlines; without
         * JIT support this is NULL and harmless. */
        s->jit_stack = pcre2_jit_stack_create(32 * 1024, RULES_JIT_STACK_MAX, NULL);
        if (s->jit_stack)
                pcre2_jit_stack_assign(s->mctx, NULL, s->jit_stack);

        *ret = TAKE_PTR(s);
        return 0;
}

void rule_set_set_env(RuleSet *s, TemplateEnvLookup env, void *userdata) {
        s->env = env ?: template_env_getenv;
        s->env_userdata = userdata;
}

size_t rule_set_size(const RuleSet *s) {
        return s->n_rules;
}

const ConfigRule *rule_set_rule(const RuleSet *s, size_t i) {
        return i < s->n_rules ? &s->rules[i].conf : NULL;
}

const RuleStats *rule_set_stats(const RuleSet *s) {
        return s->stats;
}

void rule_set_reset_stats(RuleSet *s) {
        memset(s->stats, 0, (s->n_rules + 1) * sizeof(RuleStats));
}

/* Returns true when rule i matches `subject`. An evaluation stopped by a limit, or failing in any other
 * way, is a non-match and is counted. */
static bool rule_test(RuleSet *s, size_t i, const char *subject, RuleDecision *d) {
        int k;

        k = pcre2_match(s->rules[i].code, (PCRE2_SPTR) subject, PCRE2_ZERO_TERMINATED, 0, 0, s->md, s->mctx);
        if (k >= 0)
                return true;
        if (k != PCRE2_ERROR_NOMATCH) {
                s->stats[i].limit_hits++;
                d->limit_hits++;
        }
        return false;
}

static int grow(void **p, size_t *size, size_t need, size_t elem) {
        size_t n;
        void *q;

        if (need <= *size)
                return 0;
        n = need < 64 ? 64 : need;
        if (n < *size * 2)
                n = *size * 2;
        q = realloc(*p, n * elem);
        if (!q)
                return -ENOMEM;
        *p = q;
        *size = n;
        return 0;
}

/* Writes every tag as "key:value" into s->tag_buf, at s->tag_offsets[0..n_tags). */
static int build_tag_subjects(RuleSet *s, const RuleInput *in) {
        size_t total = 0, pos = 0;
        int r;

        for (size_t t = 0; t < in->n_tags; t++)
                total += strlen(strempty(in->tags[t].key)) + 1 + strlen(strempty(in->tags[t].value)) + 1;
        r = grow((void **) &s->tag_buf, &s->tag_buf_size, total, 1);
        if (r < 0)
                return r;
        r = grow((void **) &s->tag_offsets, &s->tag_offsets_size, in->n_tags, sizeof(size_t));
        if (r < 0)
                return r;
        for (size_t t = 0; t < in->n_tags; t++) {
                s->tag_offsets[t] = pos;
                pos += (size_t) sprintf(s->tag_buf + pos, "%s:%s", strempty(in->tags[t].key),
                                        strempty(in->tags[t].value)) + 1;
        }
        return 0;
}

/* The name of a process accepted by rule i, whose match against `subject` is in s->md. */
static int accepted_name(RuleSet *s, size_t i, const RuleInput *in, const char *subject, char **ret) {
        const Rule *rule = &s->rules[i];
        _cleanup_free_ char *name = NULL;
        int r;

        if (rule->conf.match_type == MATCH_PARENT_PROCESS_NAME)
                return template_copy_bounded(in->comm, ret);
        if (rule->conf.rewrite_name) {
                r = template_expand(rule->conf.rewrite_name, rule->code, s->md, subject, s->env,
                                    s->env_userdata, &name);
                if (r < 0)
                        return r;
                if (!isempty(name)) {
                        *ret = TAKE_PTR(name);
                        return 0;
                }
                return template_copy_bounded(in->comm, ret);
        }
        if (rule->conf.match_type == MATCH_CMDLINE)
                return template_copy_bounded(in->cmdline, ret);
        return template_copy_bounded(in->comm, ret);
}

/* Sets *ret_subject to the subject rule i matched (rewrite-name is expanded over it), NULL when none. */
static int rule_evaluate(RuleSet *s, size_t i, const RuleInput *in, bool *tags_built, RuleDecision *d,
                         const char **ret_subject) {
        const char *comm = strempty(in->comm);
        int r;

        *ret_subject = NULL;
        switch (s->rules[i].conf.match_type) {
        case MATCH_PROCESS_NAME:
                if (rule_test(s, i, comm, d))
                        *ret_subject = comm;
                break;
        case MATCH_CMDLINE:
                if (rule_test(s, i, in->cmdline, d))
                        *ret_subject = in->cmdline;
                break;
        case MATCH_PARENT_PROCESS_NAME:
                for (size_t p = 0; p < in->n_parents; p++)
                        if (rule_test(s, i, strempty(in->parents[p]), d)) {
                                *ret_subject = strempty(in->parents[p]);
                                break;
                        }
                break;
        case MATCH_TAG:
                if (in->n_tags == 0)
                        break;
                if (!*tags_built) {
                        r = build_tag_subjects(s, in);
                        if (r < 0)
                                return r;
                        *tags_built = true;
                }
                for (size_t t = 0; t < in->n_tags; t++)
                        if (rule_test(s, i, s->tag_buf + s->tag_offsets[t], d)) {
                                *ret_subject = s->tag_buf + s->tag_offsets[t];
                                break;
                        }
                break;
        default:
                break;
        }
        return 0;
}

int rule_set_decide(RuleSet *s, const RuleInput *in, RuleDecision *ret) {
        RuleDecision d = {
                .rule = (int) s->n_rules,
                .action = ACTION_ACCEPT,
                .reason = RULE_REASON_DEFAULT,
        };
        const char *comm = strempty(in->comm);
        const char *subject = NULL;
        bool tags_built = false;
        int r;

        if (isempty(in->cmdline)) {
                r = template_copy_bounded(comm, &d.name);
                if (r < 0)
                        return r;
                d.rule = RULE_INDEX_NONE;
                d.action = ACTION_DROP;
                d.reason = RULE_REASON_KERNEL_THREAD;
                *ret = d;
                return 0;
        }

        for (size_t i = 0; i < s->n_rules; i++) {
                r = rule_evaluate(s, i, in, &tags_built, &d, &subject);
                if (r < 0)
                        return r;
                if (subject) {
                        d.rule = (int) i;
                        d.action = s->rules[i].conf.action;
                        d.reason = RULE_REASON_RULE;
                        break;
                }
        }

        if (subject && d.action == ACTION_ACCEPT)
                r = accepted_name(s, (size_t) d.rule, in, subject, &d.name);
        else
                r = template_copy_bounded(comm, &d.name);
        if (r < 0)
                return r;
        s->stats[d.rule].hits++;
        *ret = d;
        return 0;
}

size_t rules_walk_parents(pid_t pid, pid_t ppid, RuleProcLookup lookup, void *userdata, const char **parents,
                          size_t max) {
        pid_t seen[RULES_MAX_PARENT_DEPTH + 1];
        size_t n = 0, n_seen = 0;

        if (max > RULES_MAX_PARENT_DEPTH)
                max = RULES_MAX_PARENT_DEPTH;
        seen[n_seen++] = pid;

        while (n < max && ppid > 0) {
                const char *comm = NULL;
                pid_t next = 0;

                for (size_t j = 0; j < n_seen; j++)
                        if (seen[j] == ppid)
                                return n;
                if (lookup(ppid, userdata, &next, &comm) < 0)
                        return n;
                parents[n++] = strempty(comm);
                if (ppid == 1)
                        return n;
                seen[n_seen++] = ppid;
                ppid = next;
        }
        return n;
}
