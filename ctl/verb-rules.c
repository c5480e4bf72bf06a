/* `procctl rules list` and `procctl rules test`: how an operator reads and debugs a rule set before
 * deploying it.
 *
 * Both read the rules from the config file (the same lookup as every binary), never from the database: a
 * rule set can be tried before any daemon runs it. `test` feeds one process to the same engine the matcher
 * uses (common/rules.h): a live one (--pid: comm and parent chain from <os-proc-root>/<pid>/stat, cmdline
 * from <pid>/cmdline) or one described on the command line. The JSON documents come from rules-json.h, so
 * they are the API's. */
#include <stdio.h>

#include "ctl.h"
#include "log.h"
#include "proc-cmdline.h"
#include "proc-stat.h"
#include "rules-json.h"
#include "rules.h"

/* More --tag options than this is not a test anyone means. */
#define RULES_TEST_MAX_TAGS 1024

typedef struct TestArgs {
        pid_t pid; /* 0: not given */
        const char *name;
        const char *cmdline;
        const char *parents[RULES_MAX_PARENT_DEPTH];
        size_t n_parents;
        RuleTag *tags;
        size_t n_tags;
} TestArgs;

static void test_args_done(TestArgs *a) {
        free(a->tags);
}

/* Takes an option's value from "--opt=VALUE" or the next word; returns 1 when argv[*i] is not `opt`. */
static int option_value(const char *opt, int argc, char *argv[], int *i, const char **ret) {
        size_t n = strlen(opt);

        if (!strneq(argv[*i], opt, n) || (argv[*i][n] != 0 && argv[*i][n] != '='))
                return 1;
        if (argv[*i][n] == '=') {
                *ret = argv[*i] + n + 1;
                return 0;
        }
        if (*i + 1 >= argc) {
                log_error("Option '%s' needs a value.", opt);
                return -EINVAL;
        }
        *ret = argv[++*i];
        return 0;
}

static int parse_pid(const char *s, pid_t *ret) {
        unsigned long v;
        char *end;

        if (!s || *s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno != 0 || *end != 0 || v == 0 || v > INT32_MAX)
                return -EINVAL;
        *ret = (pid_t) v;
        return 0;
}

static int add_tag(TestArgs *a, const char *kv) {
        const char *eq = strchr(kv, '=');
        RuleTag *t;

        if (!eq || eq == kv) {
                log_error("--tag '%s' is not KEY=VALUE.", kv);
                return -EINVAL;
        }
        if (a->n_tags >= RULES_TEST_MAX_TAGS) {
                log_error("More than %d --tag options.", RULES_TEST_MAX_TAGS);
                return -E2BIG;
        }
        t = realloc(a->tags, (a->n_tags + 1) * sizeof(RuleTag));
        if (!t)
                return log_error_errno(-ENOMEM, "Out of memory.");
        a->tags = t;
        /* The key is the text before '=': the argv string is cut in place (argv outlives the test). */
        *(char *) eq = 0;
        a->tags[a->n_tags++] = (RuleTag) { .key = kv, .value = eq + 1 };
        return 0;
}

static int parse_test_args(int argc, char *argv[], TestArgs *a) {
        for (int i = 1; i < argc; i++) {
                const char *v = NULL;
                int r;

                if ((r = option_value("--pid", argc, argv, &i, &v)) <= 0) {
                        if (r < 0)
                                return r;
                        if (parse_pid(v, &a->pid) < 0) {
                                log_error("--pid '%s' is not a process id.", v);
                                return -EINVAL;
                        }
                } else if ((r = option_value("--name", argc, argv, &i, &v)) <= 0) {
                        if (r < 0)
                                return r;
                        a->name = v;
                } else if ((r = option_value("--cmdline", argc, argv, &i, &v)) <= 0) {
                        if (r < 0)
                                return r;
                        a->cmdline = v;
                } else if ((r = option_value("--parent", argc, argv, &i, &v)) <= 0) {
                        if (r < 0)
                                return r;
                        if (a->n_parents >= RULES_MAX_PARENT_DEPTH) {
                                log_error("More than %d --parent options.", RULES_MAX_PARENT_DEPTH);
                                return -E2BIG;
                        }
                        a->parents[a->n_parents++] = v;
                } else if ((r = option_value("--tag", argc, argv, &i, &v)) <= 0) {
                        if (r < 0)
                                return r;
                        r = add_tag(a, v);
                        if (r < 0)
                                return r;
                } else {
                        log_error("Unknown argument '%s' for 'rules test'.", argv[i]);
                        return -EINVAL;
                }
        }

        if (a->pid > 0 && (a->name || a->cmdline || a->n_parents > 0)) {
                log_error("--pid reads the process: it does not go with --name, --cmdline or --parent.");
                return -EINVAL;
        }
        if (a->pid == 0 && !a->name) {
                log_error("'rules test' needs --pid N or --name NAME.");
                return -EINVAL;
        }
        return 0;
}

/* The ancestors of a live process, read from <os-proc-root>/<pid>/stat. Their comms live here until the
 * decision is made. */
typedef struct LiveChain {
        const char *proc_root;
        ProcStat stats[RULES_MAX_PARENT_DEPTH];
        size_t n;
} LiveChain;

static int live_lookup(pid_t pid, void *userdata, pid_t *ret_ppid, const char **ret_comm) {
        LiveChain *c = userdata;
        int r;

        if (c->n >= ELEMENTSOF(c->stats))
                return -E2BIG;
        r = proc_stat_read(c->proc_root, pid, &c->stats[c->n]);
        if (r < 0)
                return r;
        *ret_ppid = c->stats[c->n].ppid;
        *ret_comm = c->stats[c->n].comm;
        c->n++;
        return 0;
}

static void print_rule_line(const RuleSet *s, const RuleDecision *d) {
        const ConfigRule *rule;

        if (d->reason == RULE_REASON_KERNEL_THREAD) {
                printf("Rule:     none (a kernel thread: empty cmdline, never synced)\n");
                return;
        }
        if (d->reason == RULE_REASON_DEFAULT) {
                printf("Rule:     %d (the implied final accept: no configured rule matched)\n", d->rule);
                return;
        }
        rule = rule_set_rule(s, (size_t) d->rule);
        printf("Rule:     %d (match-type %s, match-regex '%s', action %s", d->rule,
               match_type_to_string(rule->match_type), rule->match_regex ?: ".*",
               rule_action_to_string(rule->action));
        if (rule->rewrite_name)
                printf(", rewrite-name '%s'", rule->rewrite_name);
        if (rule->line > 0)
                printf(", line %u", rule->line);
        printf(")\n");
}

static void print_input(pid_t pid, const RuleInput *in) {
        if (pid > 0)
                printf("Process:  pid %d, comm '%s', cmdline '%s'\n", (int) pid, in->comm, in->cmdline);
        else
                printf("Process:  comm '%s', cmdline '%s'\n", in->comm, in->cmdline);
        printf("Parents: ");
        if (in->n_parents == 0)
                printf(" (none)");
        for (size_t i = 0; i < in->n_parents; i++)
                printf(" %s'%s'", i == 0 ? "" : "< ", in->parents[i]);
        printf("\nTags:    ");
        if (in->n_tags == 0)
                printf(" (none)");
        for (size_t i = 0; i < in->n_tags; i++)
                printf(" %s=%s", in->tags[i].key, in->tags[i].value);
        putchar('\n');
}

static int rules_test(const CtlContext *ctx, int argc, char *argv[]) {
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_(rule_set_freep) RuleSet *s = NULL;
        _cleanup_(test_args_done) TestArgs a = {};
        _cleanup_free_ char *cmdline = NULL;
        _cleanup_(rule_decision_done) RuleDecision d = {};
        const char *parents[RULES_MAX_PARENT_DEPTH];
        LiveChain chain = {};
        ProcStat st;
        RuleInput in = {};
        size_t bad = 0;
        int r;

        r = parse_test_args(argc, argv, &a);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return CTL_EXIT_USAGE;

        r = ctl_load_config(ctx, &c);
        if (r < 0)
                return r;
        r = rule_set_new(c->rules, c->n_rules, &s, &bad);
        if (r == -EINVAL)
                return log_error_errno(r, "Rule %zu of '%s' does not compile.", bad, strempty(c->path));
        if (r < 0)
                return log_error_errno(r, "Failed to compile the rules: %m");

        if (a.pid > 0) {
                r = proc_stat_read(c->proc_root, a.pid, &st);
                if (r == -ESRCH || r == -ENOENT)
                        return log_error_errno(r, "No process %d under '%s'.", (int) a.pid, c->proc_root);
                if (r < 0)
                        return log_error_errno(r, "Failed to read process %d under '%s': %m", (int) a.pid,
                                               c->proc_root);
                r = proc_read_cmdline(c->proc_root, a.pid, &cmdline);
                if (r < 0)
                        return log_error_errno(r, "Failed to read the cmdline of process %d: %m",
                                               (int) a.pid);
                chain.proc_root = c->proc_root;
                in.comm = st.comm;
                in.cmdline = cmdline;
                in.parents = parents;
                in.n_parents = rules_walk_parents(a.pid, st.ppid, live_lookup, &chain, parents,
                                                  ELEMENTSOF(parents));
        } else {
                in.comm = a.name;
                /* No --cmdline: a process whose argv is its name. An empty cmdline would make it a kernel
                 * thread, which `--cmdline ''` tests on purpose. */
                in.cmdline = a.cmdline ?: a.name;
                in.parents = a.parents;
                in.n_parents = a.n_parents;
        }
        in.tags = a.tags;
        in.n_tags = a.n_tags;

        r = rule_set_decide(s, &in, &d);
        if (r < 0)
                return log_error_errno(r, "Failed to decide: %m");

        if (ctx->json) {
                json_auto_t *j = NULL;

                r = rule_decision_to_json(&d, &j);
                if (r < 0)
                        return log_error_errno(r, "Failed to build JSON (the name is not UTF-8?): %m");
                return ctl_print_json(j) < 0 ? CTL_EXIT_FAILURE : CTL_EXIT_OK;
        }

        print_input(a.pid, &in);
        print_rule_line(s, &d);
        printf("Action:   %s\nName:     %s\n", rule_action_to_string(d.action), d.name);
        if (d.limit_hits > 0)
                printf("Warning:  %u regex evaluation%s stopped by the PCRE2 limits (counted as no match)\n",
                       d.limit_hits, d.limit_hits == 1 ? " was" : "s were");
        return CTL_EXIT_OK;
}

static int rules_list(const CtlContext *ctx, int argc, char *argv[]) {
        _cleanup_(config_freep) Config *c = NULL;
        json_auto_t *j = NULL;
        int width = (int) strlen("MATCH-REGEX");
        int r;

        if (argc > 1) {
                log_error("Unknown argument '%s' for 'rules list'.", argv[1]);
                return CTL_EXIT_USAGE;
        }
        r = ctl_load_config(ctx, &c);
        if (r < 0)
                return r;
        if (ctx->json) {
                r = rules_to_json(c->rules, c->n_rules, &j);
                if (r < 0)
                        return log_error_errno(r, "Failed to build JSON: %m");
                return ctl_print_json(j) < 0 ? CTL_EXIT_FAILURE : CTL_EXIT_OK;
        }

        for (size_t i = 0; i < c->n_rules; i++) {
                int w = (int) strlen(c->rules[i].match_regex ?: "(none)");

                /* Alignment only: a very long regex just pushes its own line's last column. */
                if (w > width && w <= 60)
                        width = w;
        }
        printf("# %s: first match decides\n", c->path ?: "embedded default (no config file)");
        printf("%5s  %-19s  %-6s  %-*s  %s\n", "INDEX", "MATCH-TYPE", "ACTION", width, "MATCH-REGEX",
               "REWRITE-NAME");
        for (size_t i = 0; i < c->n_rules; i++) {
                const ConfigRule *rule = &c->rules[i];

                printf("%5zu  %-19s  %-6s  %-*s  %s\n", i, match_type_to_string(rule->match_type),
                       rule_action_to_string(rule->action), width, rule->match_regex ?: "(none)",
                       isempty(rule->rewrite_name) ? "-" : rule->rewrite_name);
        }
        printf("%5zu  %-19s  %-6s  %-*s  %s\n", c->n_rules, "(implied)", "accept", width, ".*", "-");
        return CTL_EXIT_OK;
}

static const CtlVerb rules_verbs[] = {
        { "list", rules_list, "  rules list               The rules of the config file, in order\n" },
        { "test", rules_test,
          "  rules test --pid N | --name X [--cmdline S] [--parent P]... [--tag K=V]...\n"
          "                           Which rule decides a process, the action and the name\n" },
};

int verb_rules(const CtlContext *ctx, int argc, char *argv[]) {
        return ctl_dispatch("rules ", rules_verbs, ELEMENTSOF(rules_verbs), ctx, argc - 1, argv + 1);
}
