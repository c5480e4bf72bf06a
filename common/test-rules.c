/* Tests of the rule engine, table-driven. Every expected decision is written from DESIGN.md "Rules" (first
 * match decides, the implied final accept, the name rules), not from what the code happens to do. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include <cmocka.h>

#include "rules-json.h"
#include "rules.h"

/* The tables below leave trailing fields (parents, tags) out where a process has none. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define MAX_PARENTS 8
#define MAX_TAGS 4

typedef struct Proc {
        const char *comm;
        const char *cmdline;
        const char *parents[MAX_PARENTS]; /* nearest first, NULL-terminated */
        RuleTag tags[MAX_TAGS];           /* terminated by a NULL key */
} Proc;

typedef struct Expect {
        const char *what;
        Proc proc;
        int rule;
        RuleAction action;
        const char *name;
} Expect;

static char *test_env[] = { (char *) "HOSTNAME=web1", NULL };

static RuleSet *make_rules(const ConfigRule *rules, size_t n) {
        RuleSet *s = NULL;

        assert_int_equal(rule_set_new(rules, n, &s, NULL), 0);
        rule_set_set_env(s, template_env_strv, test_env);
        return s;
}

static void decide(RuleSet *s, const Proc *p, RuleDecision *ret) {
        RuleInput in = {
                .comm = p->comm,
                .cmdline = p->cmdline,
                .parents = p->parents,
                .tags = p->tags,
        };

        while (in.n_parents < MAX_PARENTS && p->parents[in.n_parents])
                in.n_parents++;
        while (in.n_tags < MAX_TAGS && p->tags[in.n_tags].key)
                in.n_tags++;
        assert_int_equal(rule_set_decide(s, &in, ret), 0);
}

static void check(RuleSet *s, const Expect *cases, size_t n) {
        for (size_t i = 0; i < n; i++) {
                RuleDecision d = {};

                decide(s, &cases[i].proc, &d);
                if (d.rule != cases[i].rule || d.action != cases[i].action || !streq(d.name, cases[i].name))
                        fail_msg("%s: got rule %d %s '%s', want rule %d %s '%s'", cases[i].what, d.rule,
                                 rule_action_to_string(d.action), d.name, cases[i].rule,
                                 rule_action_to_string(cases[i].action), cases[i].name);
                assert_int_equal(d.limit_hits, 0);
                rule_decision_done(&d);
        }
}

/* The four rules of section 4 of the feature description. */
static const ConfigRule section4[] = {
        { .match_regex = (char *) "^(sleep|bash|sh|ssh|top|ps)$", .action = ACTION_DROP },
        { .match_regex = (char *) "python3 (.*)\\.py", .match_type = MATCH_CMDLINE,
          .rewrite_name = (char *) "$1-py-script" },
        { .match_regex = (char *) "nginx", .match_type = MATCH_PARENT_PROCESS_NAME },
        { .match_regex = (char *) ".*", .action = ACTION_DROP },
};

static void test_section4(void **state) {
        _cleanup_(rule_set_freep) RuleSet *s = make_rules(section4, ELEMENTSOF(section4));
        static const Expect cases[] = {
                { "sleep", { "sleep", "sleep 100", { "bash", "sshd" } }, 0, ACTION_DROP, "sleep" },
                { "bash", { "bash", "-bash", { "sshd", "systemd" } }, 0, ACTION_DROP, "bash" },
                /* $1 is everything between "python3 " and ".py": the path is part of it. */
                { "python script by path", { "python3", "python3 /srv/app/foo.py", { "bash" } }, 1,
                  ACTION_ACCEPT, "/srv/app/foo-py-script" },
                { "python script", { "python3", "python3 foo.py --port 80", { "systemd" } }, 1,
                  ACTION_ACCEPT, "foo-py-script" },
                /* The worker is decided through its parent, and named by its own comm. */
                { "nginx worker", { "nginx", "nginx: worker process", { "nginx", "systemd" } }, 2,
                  ACTION_ACCEPT, "nginx" },
                { "grandchild of nginx", { "perl", "perl /srv/cgi.pl", { "sh", "nginx", "systemd" } }, 2,
                  ACTION_ACCEPT, "perl" },
                /* The parent rule tests ancestors only: the master itself is not accepted by it. */
                { "nginx master", { "nginx", "nginx: master process /usr/sbin/nginx", { "systemd" } }, 3,
                  ACTION_DROP, "nginx" },
                /* First match decides: a shell under nginx is dropped by rule 0 before rule 2 is tried. */
                { "sh under nginx", { "sh", "sh -c true", { "nginx", "systemd" } }, 0, ACTION_DROP, "sh" },
                /* Anchored: sshd is not ssh. */
                { "sshd", { "sshd", "sshd: /usr/sbin/sshd -D", { "systemd" } }, 3, ACTION_DROP, "sshd" },
                { "python without .py", { "python3", "python3 -m http.server", { "bash", "systemd" } }, 3,
                  ACTION_DROP, "python3" },
                { "pid 1", { "systemd", "/sbin/init", {} }, 3, ACTION_DROP, "systemd" },
        };

        check(s, cases, ELEMENTSOF(cases));
}

static void test_implied_final_accept(void **state) {
        /* Section 4 without its final drop: what no rule matches is accepted by index n_rules (3). */
        _cleanup_(rule_set_freep) RuleSet *s = make_rules(section4, 3);
        _cleanup_(rule_set_freep) RuleSet *empty = make_rules(NULL, 0);
        static const Expect cases[] = {
                { "sshd", { "sshd", "/usr/sbin/sshd -D", { "systemd" } }, 3, ACTION_ACCEPT, "sshd" },
                { "bash", { "bash", "bash", { "systemd" } }, 0, ACTION_DROP, "bash" },
        };
        static const Expect none[] = {
                { "no rules", { "sshd", "/usr/sbin/sshd -D", { "systemd" } }, 0, ACTION_ACCEPT, "sshd" },
        };
        const RuleStats *st;

        check(s, cases, ELEMENTSOF(cases));
        check(empty, none, ELEMENTSOF(none));
        st = rule_set_stats(s);
        assert_int_equal(st[0].hits, 1);
        assert_int_equal(st[1].hits, 0);
        assert_int_equal(st[3].hits, 1);
        rule_set_reset_stats(s);
        assert_int_equal(rule_set_stats(s)[3].hits, 0);
}

static void test_names(void **state) {
        static const ConfigRule rules[] = {
                /* 0: named group and %HOSTNAME% (web1 in the injected environment) */
                { .match_regex = (char *) "^(?P<PROC_NAME>nginx)$",
                  .rewrite_name = (char *) "${PROC_NAME}-%HOSTNAME%" },
                /* 1: cmdline without rewrite: the whole cmdline is the name */
                { .match_regex = (char *) "java .*-jar", .match_type = MATCH_CMDLINE },
                /* 2: parent rule: rewrite-name is ignored */
                { .match_regex = (char *) "^containerd-shim", .match_type = MATCH_PARENT_PROCESS_NAME,
                  .rewrite_name = (char *) "ignored" },
                /* 3: a rewrite that expands to nothing: the comm */
                { .match_regex = (char *) "^(empty)|(x)", .rewrite_name = (char *) "$2" },
                /* 4: $1_x is the (missing) group "1_x"; ${1}_x is group 1 then "_x" */
                { .match_regex = (char *) "^(redis)-server$", .rewrite_name = (char *) "$1_x|${1}_x|$$" },
                /* 5: a missing regex matches everything, as .* does */
                { .match_type = MATCH_CMDLINE, .rewrite_name = (char *) "all:$0" },
        };
        _cleanup_(rule_set_freep) RuleSet *s = make_rules(rules, ELEMENTSOF(rules));
        static const Expect cases[] = {
                { "named group", { "nginx", "nginx: worker", {} }, 0, ACTION_ACCEPT, "nginx-web1" },
                { "cmdline name", { "java", "/usr/bin/java -Xmx1g -jar app.jar", {} }, 1, ACTION_ACCEPT,
                  "/usr/bin/java -Xmx1g -jar app.jar" },
                { "parent rule ignores rewrite", { "node", "node srv.js", { "containerd-shim-runc-v2" } }, 2,
                  ACTION_ACCEPT, "node" },
                { "empty expansion", { "empty", "empty --now", {} }, 3, ACTION_ACCEPT, "empty" },
                { "$1_x vs ${1}_x", { "redis-server", "redis-server *:6379", {} }, 4, ACTION_ACCEPT,
                  "|redis_x|$" },
                { "missing regex", { "cat", "cat -", {} }, 5, ACTION_ACCEPT, "all:cat -" },
        };

        check(s, cases, ELEMENTSOF(cases));
}

static void test_hostname_fallback(void **state) {
        static const ConfigRule rules[] = {
                { .match_regex = (char *) "^(app)$", .rewrite_name = (char *) "$1@%HOSTNAME%" },
        };
        _cleanup_(rule_set_freep) RuleSet *s = make_rules(rules, ELEMENTSOF(rules));
        char *no_env[] = { NULL };
        char host[HOST_NAME_MAX + 1] = "", want[HOST_NAME_MAX + 8];
        Proc p = { "app", "app --serve" };
        RuleDecision d = {};

        rule_set_set_env(s, template_env_strv, no_env);
        assert_int_equal(gethostname(host, sizeof(host)), 0);
        snprintf(want, sizeof(want), "app@%s", host);
        decide(s, &p, &d);
        assert_string_equal(d.name, want);
        rule_decision_done(&d);
}

static void test_tags(void **state) {
        static const ConfigRule plain[] = {
                { .match_regex = (char *) "app:.+", .match_type = MATCH_TAG },
                { .match_regex = (char *) ".*", .action = ACTION_DROP },
        };
        static const ConfigRule rewrite[] = {
                { .match_regex = (char *) "^app:(?<app>.+)$", .match_type = MATCH_TAG,
                  .rewrite_name = (char *) "svc-${app}" },
                { .match_regex = (char *) "^team:(ops)$", .match_type = MATCH_TAG, .action = ACTION_DROP },
        };
        _cleanup_(rule_set_freep) RuleSet *a = make_rules(plain, ELEMENTSOF(plain));
        _cleanup_(rule_set_freep) RuleSet *b = make_rules(rewrite, ELEMENTSOF(rewrite));
        /* Any tag may hit; a tag rule without rewrite names the process by its comm. */
        static const Expect plain_cases[] = {
                { "app tag second",
                  { "java", "java -jar shop.jar", {}, { { "team", "web" }, { "app", "shop" } } }, 0,
                  ACTION_ACCEPT, "java" },
                { "empty app value", { "java", "java -jar x.jar", {}, { { "app", "" } } }, 1, ACTION_DROP,
                  "java" },
                { "no tags", { "java", "java -jar x.jar", {} }, 1, ACTION_DROP, "java" },
                /* Unanchored: "x:app:shop" contains "app:shop". */
                { "unanchored", { "java", "java -jar x.jar", {}, { { "x", "app:shop" } } }, 0, ACTION_ACCEPT,
                  "java" },
        };
        static const Expect rewrite_cases[] = {
                { "rewrite from tag",
                  { "java", "java -jar shop.jar", {}, { { "app", "shop" }, { "team", "ops" } } }, 0,
                  ACTION_ACCEPT, "svc-shop" },
                { "second rule", { "java", "java", {}, { { "team", "ops" } } }, 1, ACTION_DROP, "java" },
                { "default", { "java", "java", {}, { { "team", "dev" } } }, 2, ACTION_ACCEPT, "java" },
        };

        check(a, plain_cases, ELEMENTSOF(plain_cases));
        check(b, rewrite_cases, ELEMENTSOF(rewrite_cases));
}

static void test_kernel_threads(void **state) {
        _cleanup_(rule_set_freep) RuleSet *s = make_rules(section4, 3);
        Proc kthread = { "kworker/0:1", "", { "kthreadd" } };
        Proc null_cmdline = { "kthreadd", NULL };
        RuleDecision d = {};

        decide(s, &kthread, &d);
        assert_int_equal(d.rule, RULE_INDEX_NONE);
        assert_int_equal(d.action, ACTION_DROP);
        assert_int_equal(d.reason, RULE_REASON_KERNEL_THREAD);
        assert_string_equal(d.name, "kworker/0:1");
        assert_string_equal(rule_reason_to_string(d.reason), "kernel-thread");
        rule_decision_done(&d);

        decide(s, &null_cmdline, &d);
        assert_int_equal(d.reason, RULE_REASON_KERNEL_THREAD);
        rule_decision_done(&d);
}

static void test_invalid_utf8(void **state) {
        _cleanup_(rule_set_freep) RuleSet *s = make_rules(section4, ELEMENTSOF(section4));
        static const ConfigRule literal[] = {
                { .match_regex = (char *) "app", .match_type = MATCH_CMDLINE,
                  .rewrite_name = (char *) "<$0>" },
        };
        _cleanup_(rule_set_freep) RuleSet *l = make_rules(literal, ELEMENTSOF(literal));
        static const Expect cases[] = {
                /* Invalid bytes outside the match do not stop it. */
                { "invalid tail", { "python3", "python3 /srv/foo.py --label \xff\xfe\xc3", {} }, 1,
                  ACTION_ACCEPT, "/srv/foo-py-script" },
                /* An invalid byte never matches a pattern item, so (.*) cannot cross it: rule 1 misses. */
                { "invalid inside", { "python3", "python3 /srv/\xff/foo.py", {} }, 3, ACTION_DROP,
                  "python3" },
                /* An invalid comm is matched (and kept byte for byte as a name). */
                { "invalid comm", { "sl\xffp", "x", {} }, 3, ACTION_DROP, "sl\xffp" },
        };
        static const Expect literal_cases[] = {
                { "literal after invalid", { "x\xc0", "\xc0\xff" "app\xfe", {} }, 0, ACTION_ACCEPT,
                  "<app>" },
                { "no match", { "x\xc0", "\xc0\xff\xfe", {} }, 1, ACTION_ACCEPT, "x\xc0" },
        };

        check(s, cases, ELEMENTSOF(cases));
        check(l, literal_cases, ELEMENTSOF(literal_cases));
}

static void test_catastrophic_backtracking(void **state) {
        static const ConfigRule rules[] = {
                { .match_regex = (char *) "(a+)+$", .match_type = MATCH_CMDLINE,
                  .rewrite_name = (char *) "bad" },
                { .match_regex = (char *) "^a", .match_type = MATCH_CMDLINE, .action = ACTION_DROP },
        };
        _cleanup_(rule_set_freep) RuleSet *s = make_rules(rules, ELEMENTSOF(rules));
        _cleanup_free_ char *cmdline = malloc(50000 + 2);
        Proc p = { "evil" };
        RuleDecision d = {};
        uint64_t t0, dt;

        assert_non_null(cmdline);
        memset(cmdline, 'a', 50000);
        cmdline[50000] = 'b';
        cmdline[50001] = 0;
        p.cmdline = cmdline;

        t0 = now_usec(CLOCK_MONOTONIC);
        decide(s, &p, &d);
        dt = now_usec(CLOCK_MONOTONIC) - t0;
        print_message("(a+)+$ against 50,000 'a' + 'b': %" PRIu64 " us\n", dt);

        /* Rule 0 was stopped by the limit: it did not match, and the next rule decided. */
        assert_int_equal(d.rule, 1);
        assert_int_equal(d.action, ACTION_DROP);
        assert_int_equal(d.limit_hits, 1);
        assert_int_equal(rule_set_stats(s)[0].limit_hits, 1);
        assert_int_equal(rule_set_stats(s)[0].hits, 0);
        assert_int_equal(rule_set_stats(s)[1].hits, 1);
        /* "Promptly": the design asks for well under 100 ms; sanitizer builds get headroom. */
        assert_true(dt < 100000);
        rule_decision_done(&d);
}

typedef struct Table {
        pid_t pid, ppid;
        const char *comm;
} Table;

static int table_lookup(pid_t pid, void *userdata, pid_t *ret_ppid, const char **ret_comm) {
        for (const Table *t = userdata; t->pid; t++)
                if (t->pid == pid) {
                        *ret_ppid = t->ppid;
                        *ret_comm = t->comm;
                        return 0;
                }
        return -ESRCH;
}

static void test_walk_parents(void **state) {
        static const Table table[] = {
                { 1, 0, "systemd" },
                { 100, 1, "sshd" },
                { 200, 100, "bash" },
                /* A ppid cycle from a racy scan: 10 -> 11 -> 10. */
                { 10, 11, "a" },
                { 11, 10, "b" },
                /* A cycle above the process: 20 -> 21 -> 22 -> 21. */
                { 21, 22, "c" },
                { 22, 21, "d" },
                /* pid 1 that claims a parent: the walk still ends at 1. */
                { 40, 1, "e" },
                {},
        };
        const char *parents[RULES_MAX_PARENT_DEPTH + 8];
        Table *chain;
        size_t n;

        n = rules_walk_parents(300, 200, table_lookup, (void *) table, parents, ELEMENTSOF(parents));
        assert_int_equal(n, 3);
        assert_string_equal(parents[0], "bash");
        assert_string_equal(parents[1], "sshd");
        assert_string_equal(parents[2], "systemd");

        n = rules_walk_parents(10, 11, table_lookup, (void *) table, parents, ELEMENTSOF(parents));
        assert_int_equal(n, 1);
        assert_string_equal(parents[0], "b");

        n = rules_walk_parents(20, 21, table_lookup, (void *) table, parents, ELEMENTSOF(parents));
        assert_int_equal(n, 2);
        assert_string_equal(parents[0], "c");
        assert_string_equal(parents[1], "d");

        /* Unknown parent, no parent, a cap smaller than the chain. */
        assert_int_equal(rules_walk_parents(5, 999, table_lookup, (void *) table, parents, 8), 0);
        assert_int_equal(rules_walk_parents(1, 0, table_lookup, (void *) table, parents, 8), 0);
        assert_int_equal(rules_walk_parents(300, 200, table_lookup, (void *) table, parents, 2), 2);

        /* A chain longer than the depth cap stops at the cap. */
        chain = calloc(201, sizeof(Table));
        assert_non_null(chain);
        for (int i = 0; i < 200; i++)
                chain[i] = (Table) { .pid = 1000 + i, .ppid = 1000 + i + 1, .comm = "deep" };
        n = rules_walk_parents(999, 1000, table_lookup, chain, parents, ELEMENTSOF(parents));
        assert_int_equal(n, RULES_MAX_PARENT_DEPTH);
        free(chain);
}

static void test_parent_cycle_decides(void **state) {
        /* The engine sees what the walk produced: a cycle ends the list and the process is still decided. */
        static const Table table[] = { { 10, 11, "nginx" }, { 11, 10, "nginx" }, {} };
        _cleanup_(rule_set_freep) RuleSet *s = make_rules(section4, ELEMENTSOF(section4));
        const char *parents[RULES_MAX_PARENT_DEPTH];
        RuleInput in = { .comm = "nginx", .cmdline = "nginx: worker process", .parents = parents };
        RuleDecision d = {};

        in.n_parents = rules_walk_parents(10, 11, table_lookup, (void *) table, parents,
                                          ELEMENTSOF(parents));
        assert_int_equal(in.n_parents, 1);
        assert_int_equal(rule_set_decide(s, &in, &d), 0);
        assert_int_equal(d.rule, 2);
        assert_string_equal(d.name, "nginx");
        rule_decision_done(&d);
}

static void test_new_errors(void **state) {
        ConfigRule bad[] = {
                { .match_regex = (char *) "ok" },
                { .match_regex = (char *) "(unclosed" },
        };
        _cleanup_free_ ConfigRule *many = calloc(CONFIG_MAX_RULES + 1, sizeof(ConfigRule));
        RuleSet *s = NULL;
        size_t bad_index = 0;

        assert_int_equal(rule_set_new(bad, ELEMENTSOF(bad), &s, &bad_index), -EINVAL);
        assert_null(s);
        assert_int_equal(bad_index, 1);

        assert_non_null(many);
        assert_int_equal(rule_set_new(many, CONFIG_MAX_RULES + 1, &s, NULL), -E2BIG);
        assert_int_equal(rule_set_new(many, CONFIG_MAX_RULES, &s, NULL), 0);
        assert_int_equal(rule_set_size(s), CONFIG_MAX_RULES);
        assert_null(rule_set_rule(s, 0)->match_regex);
        s = rule_set_free(s);
}

static void test_json(void **state) {
        _cleanup_(rule_set_freep) RuleSet *s = make_rules(section4, ELEMENTSOF(section4));
        Proc worker = { "nginx", "nginx: worker process", { "nginx" } };
        Proc kthread = { "kthreadd", "" };
        RuleDecision d = {};
        json_t *j = NULL;
        char *text;

        assert_int_equal(rules_to_json(section4, ELEMENTSOF(section4), &j), 0);
        text = json_dumps(j, JSON_COMPACT);
        assert_string_equal(text,
                            "{\"rules\":[{\"index\":0,\"match-regex\":\"^(sleep|bash|sh|ssh|top|ps)$\","
                            "\"match-type\":\"process_name\",\"action\":\"drop\",\"rewrite-name\":null,\"line\":0},"
                            "{\"index\":1,\"match-regex\":\"python3 (.*)\\\\.py\",\"match-type\":\"cmdline\","
                            "\"action\":\"accept\",\"rewrite-name\":\"$1-py-script\",\"line\":0},"
                            "{\"index\":2,\"match-regex\":\"nginx\",\"match-type\":\"parent_process_name\","
                            "\"action\":\"accept\",\"rewrite-name\":null,\"line\":0},"
                            "{\"index\":3,\"match-regex\":\".*\",\"match-type\":\"process_name\","
                            "\"action\":\"drop\",\"rewrite-name\":null,\"line\":0}],"
                            "\"implied\":{\"index\":4,\"match-regex\":\".*\",\"action\":\"accept\"}}");
        free(text);
        json_decref(j);

        decide(s, &worker, &d);
        assert_int_equal(rule_decision_to_json(&d, &j), 0);
        text = json_dumps(j, JSON_COMPACT);
        assert_string_equal(text, "{\"rule\":2,\"action\":\"accept\",\"name\":\"nginx\",\"reason\":\"rule\","
                                  "\"limit_hits\":0}");
        free(text);
        json_decref(j);
        rule_decision_done(&d);

        decide(s, &kthread, &d);
        assert_int_equal(rule_decision_to_json(&d, &j), 0);
        assert_true(json_is_null(json_object_get(j, "rule")));
        json_decref(j);
        rule_decision_done(&d);

        /* The engine keeps names byte for byte; JSON refuses what is not UTF-8. */
        d = (RuleDecision) { .rule = 0, .name = (char *) "bad\xff" };
        assert_int_equal(rule_decision_to_json(&d, &j), -EILSEQ);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_section4),
                cmocka_unit_test(test_implied_final_accept),
                cmocka_unit_test(test_names),
                cmocka_unit_test(test_hostname_fallback),
                cmocka_unit_test(test_tags),
                cmocka_unit_test(test_kernel_threads),
                cmocka_unit_test(test_invalid_utf8),
                cmocka_unit_test(test_catastrophic_backtracking),
                cmocka_unit_test(test_walk_parents),
                cmocka_unit_test(test_parent_cycle_decides),
                cmocka_unit_test(test_new_errors),
                cmocka_unit_test(test_json),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
