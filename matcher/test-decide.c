/* Unit tests of the decision pass on scan tables built in memory: tag inheritance (nearer ancestor wins,
 * own key wins over all, a ppid cycle ends the walk), tag rules seeing inherited tags, tagged-only,
 * min-lifetime with the next eligibility time, kernel threads, rule indexes and reasons. Expected values
 * come from DESIGN.md "Rules", "Tags" and "Lifetime and identity". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/param.h>

#include <cmocka.h>

#include "decide.h"

#define NOW_MS INT64_C(1700000000000)
#define OLD    (NOW_MS / 1000 - 100)

static const ScanProc procs_template[] = {
        {.pid = 1, .ppid = 0, .start_time = OLD, .comm = "systemd", .cmdline = "/sbin/init"},
        {.pid = 2, .ppid = 0, .start_time = OLD, .comm = "kthreadd", .cmdline = ""},
        {.pid = 100, .ppid = 1, .start_time = OLD, .comm = "supervisor", .cmdline = "supervisord -n"},
        {.pid = 200, .ppid = 100, .start_time = OLD, .comm = "python3", .cmdline = "python3 /srv/shop.py"},
        {.pid = 300, .ppid = 200, .start_time = OLD, .comm = "worker", .cmdline = "worker --id 1"},
        {.pid = 400, .ppid = 1, .start_time = OLD, .comm = "bash", .cmdline = "-bash"},
        {.pid = 500, .ppid = 1, .start_time = OLD, .comm = "lonely", .cmdline = "lonely"},
        /* Started 2 s and 1 s before NOW (to the second, as start_time is stored): too young for 3 s. */
        {.pid = 600, .ppid = 100, .start_time = NOW_MS / 1000 - 2, .comm = "young", .cmdline = "young"},
        {.pid = 601, .ppid = 100, .start_time = NOW_MS / 1000 - 1, .comm = "younger", .cmdline = "younger"},
        /* A ppid cycle, as a scan taken while pids were reused can hold. */
        {.pid = 700, .ppid = 701, .start_time = OLD, .comm = "loop-a", .cmdline = "loop-a"},
        {.pid = 701, .ppid = 700, .start_time = OLD, .comm = "loop-b", .cmdline = "loop-b"},
};

static const char *const tag_output =
        "- {pid: 100, tags: [{key: team, value: pay}, {key: env, value: prod}]}\n"
        "- {pid: 200, tags: [{key: env, value: staging}]}\n"
        "- {pid: 300, tags: [{key: app, value: billing}]}\n"
        "- {pid: 701, tags: [{key: ring, value: b}]}\n"
        "- {pid: 999, tags: [{key: gone, value: x}]}\n";

typedef struct Fixture {
        ScanTable scan;
        TagList *tags;
        RuleSet *rules;
        Decisions dec;
} Fixture;

static ConfigRule rules_template[] = {
        {.match_regex = "^bash$", .match_type = MATCH_PROCESS_NAME, .action = ACTION_DROP},
        {.match_regex = "^app:(.+)$",
         .match_type = MATCH_TAG,
         .action = ACTION_ACCEPT,
         .rewrite_name = "svc-$1"},
        {.match_regex = "^team:pay$", .match_type = MATCH_TAG, .action = ACTION_ACCEPT},
};

static void fixture_make(Fixture *f, const ConfigRule *rules, size_t n_rules) {
        char *error = NULL;

        f->scan.n = ELEMENTSOF(procs_template);
        f->scan.procs = calloc(f->scan.n, sizeof(ScanProc));
        assert_non_null(f->scan.procs);
        for (size_t i = 0; i < f->scan.n; i++) {
                f->scan.procs[i] = procs_template[i];
                f->scan.procs[i].start_ticks = 1000 + i;
                f->scan.procs[i].comm = strdup(procs_template[i].comm);
                f->scan.procs[i].cmdline = strdup(procs_template[i].cmdline);
        }
        assert_int_equal(tag_parse(tag_output, strlen(tag_output), &f->tags, &error), 0);
        assert_int_equal(rule_set_new(rules, n_rules, &f->rules, NULL), 0);
}

static void fixture_done(Fixture *f) {
        scan_table_done(&f->scan);
        tag_list_free(f->tags);
        rule_set_free(f->rules);
        decisions_done(&f->dec);
}

static const Decision *find(const Decisions *d, pid_t pid) {
        for (size_t i = 0; i < d->n; i++)
                if (d->items[i].pid == pid)
                        return &d->items[i];
        fail_msg("no decision for pid %d", (int) pid);
        return NULL;
}

static void expect(const Decisions *dec, pid_t pid, const char *action, int rule, const char *reason,
                   bool synced, const char *name, const char *tags) {
        const Decision *d = find(dec, pid);

        if (!streq(rule_action_to_string(d->action), action) || d->rule != rule ||
            !streq(d->reason, reason) || d->synced != synced || !streq(d->name, name) ||
            !streq(d->tags, tags))
                fail_msg("pid %d: got %s rule %d %s synced=%d '%s' %s; expected %s rule %d %s synced=%d "
                         "'%s' %s",
                         (int) pid, rule_action_to_string(d->action), d->rule, d->reason, d->synced, d->name,
                         d->tags, action, rule, reason, synced, name, tags);
}

static void test_decide(void **state) {
        _cleanup_(fixture_done) Fixture f = {};
        DecideParams p = {.tagged_only = false, .min_lifetime = 3 * USEC_PER_SEC, .now_ms = NOW_MS};
        const RuleStats *stats;

        fixture_make(&f, rules_template, ELEMENTSOF(rules_template));
        assert_int_equal(decide_all(f.rules, &f.scan, f.tags, &p, &f.dec), 0);
        assert_int_equal(f.dec.n, f.scan.n);

        expect(&f.dec, 1, "accept", 3, "default", true, "systemd", "{}");
        expect(&f.dec, 2, "drop", RULE_INDEX_NONE, "kernel-thread", false, "kthreadd", "{}");
        expect(&f.dec, 100, "accept", 2, "rule", true, "supervisor", "{\"env\":\"prod\",\"team\":\"pay\"}");
        /* Own env wins over the parent's. */
        expect(&f.dec, 200, "accept", 2, "rule", true, "python3", "{\"env\":\"staging\",\"team\":\"pay\"}");
        /* The nearer ancestor's env (200: staging) wins over the farther one's (100: prod); the tag rule
         * sees its own app tag. */
        expect(&f.dec, 300, "accept", 1, "rule", true, "svc-billing",
               "{\"app\":\"billing\",\"env\":\"staging\",\"team\":\"pay\"}");
        expect(&f.dec, 400, "drop", 0, "rule", false, "bash", "{}");
        expect(&f.dec, 500, "accept", 3, "default", true, "lonely", "{}");
        /* Inherited tags decide a tag rule too. */
        expect(&f.dec, 600, "accept", 2, "too-young", false, "young", "{\"env\":\"prod\",\"team\":\"pay\"}");
        expect(&f.dec, 601, "accept", 2, "too-young", false, "younger",
               "{\"env\":\"prod\",\"team\":\"pay\"}");
        /* The cycle ends the walk: resolving 700 walks 700 -> 701 -> 700 (seen), so 701 is the top and 700
         * inherits from it. */
        expect(&f.dec, 700, "accept", 3, "default", true, "loop-a", "{\"ring\":\"b\"}");
        expect(&f.dec, 701, "accept", 3, "default", true, "loop-b", "{\"ring\":\"b\"}");

        /* 600 started in second NOW/1000 - 2: old enough at that second + 3 s, i.e. NOW + 1 s. */
        assert_int_equal(f.dec.next_eligible_ms, (NOW_MS / 1000 - 2) * 1000 + 3000);
        assert_int_equal(f.dec.counts.processes, f.scan.n);
        assert_int_equal(f.dec.counts.too_young, 2);
        assert_int_equal(f.dec.counts.kernel_threads, 1);
        assert_int_equal(f.dec.counts.dropped, 1);

        stats = rule_set_stats(f.rules);
        assert_int_equal(stats[0].hits, 1);
        assert_int_equal(stats[1].hits, 1);
        assert_int_equal(stats[2].hits, 4);

        /* At the eligibility time the young one is synced; the younger one a second later. */
        decisions_done(&f.dec);
        p.now_ms = (NOW_MS / 1000 - 2) * 1000 + 3000;
        assert_int_equal(decide_all(f.rules, &f.scan, f.tags, &p, &f.dec), 0);
        expect(&f.dec, 600, "accept", 2, "rule", true, "young", "{\"env\":\"prod\",\"team\":\"pay\"}");
        expect(&f.dec, 601, "accept", 2, "too-young", false, "younger",
               "{\"env\":\"prod\",\"team\":\"pay\"}");
        assert_int_equal(f.dec.next_eligible_ms, (NOW_MS / 1000 - 1) * 1000 + 3000);
        /* Stats are per pass, not accumulated. */
        assert_int_equal(rule_set_stats(f.rules)[2].hits, 4);
}

static void test_tagged_only(void **state) {
        _cleanup_(fixture_done) Fixture f = {};
        DecideParams p = {.tagged_only = true, .min_lifetime = 0, .now_ms = NOW_MS};

        fixture_make(&f, rules_template, 1);
        assert_int_equal(decide_all(f.rules, &f.scan, f.tags, &p, &f.dec), 0);

        expect(&f.dec, 1, "accept", 1, "untagged", false, "systemd", "{}");
        expect(&f.dec, 500, "accept", 1, "untagged", false, "lonely", "{}");
        expect(&f.dec, 400, "drop", 0, "rule", false, "bash", "{}");
        /* Own tags, inherited tags: both count. */
        expect(&f.dec, 100, "accept", 1, "default", true, "supervisor",
               "{\"env\":\"prod\",\"team\":\"pay\"}");
        expect(&f.dec, 300, "accept", 1, "default", true, "worker",
               "{\"app\":\"billing\",\"env\":\"staging\",\"team\":\"pay\"}");
        expect(&f.dec, 600, "accept", 1, "default", true, "young", "{\"env\":\"prod\",\"team\":\"pay\"}");
        assert_int_equal(f.dec.next_eligible_ms, INT64_MAX);
        assert_int_equal(f.dec.counts.untagged, 2);
}

static void test_no_tags_and_empty(void **state) {
        _cleanup_(rule_set_freep) RuleSet *rs = NULL;
        _cleanup_(decisions_done) Decisions dec = {};
        ScanTable empty = {};
        DecideParams p = {.now_ms = NOW_MS};

        assert_int_equal(rule_set_new(NULL, 0, &rs, NULL), 0);
        assert_int_equal(decide_all(rs, &empty, NULL, &p, &dec), 0);
        assert_int_equal(dec.n, 0);
        assert_int_equal(dec.next_eligible_ms, INT64_MAX);
}

/* A process with more inherited tags than DECIDE_MAX_TAGS keeps all its own and as many inherited as fit. */
static void test_tag_cap(void **state) {
        _cleanup_(rule_set_freep) RuleSet *rs = NULL;
        _cleanup_(decisions_done) Decisions dec = {};
        _cleanup_(tag_list_freep) TagList *l = NULL;
        _cleanup_free_ char *doc = NULL;
        ScanProc procs[6] = {};
        ScanTable scan = {.procs = procs, .n = ELEMENTSOF(procs)};
        DecideParams p = {.now_ms = NOW_MS};
        size_t len = 0;
        FILE *f;

        f = open_memstream(&doc, &len);
        assert_non_null(f);
        for (int i = 0; i < 6; i++) {
                procs[i] = (ScanProc){.pid = 10 + i,
                                      .ppid = i == 0 ? 1 : 10 + i - 1,
                                      .start_time = OLD,
                                      .comm = "p",
                                      .cmdline = "p"};
                fprintf(f, "- pid: %d\n  tags:\n", 10 + i);
                for (int k = 0; k < TAG_PARSE_MAX_TAGS; k++)
                        fprintf(f, "  - {key: k%d-%02d, value: v}\n", i, k);
        }
        assert_int_equal(fclose(f), 0);
        assert_int_equal(tag_parse(doc, len, &l, NULL), 0);
        assert_int_equal(rule_set_new(NULL, 0, &rs, NULL), 0);
        assert_int_equal(decide_all(rs, &scan, l, &p, &dec), 0);

        /* Level i has 64 own tags and inherits 64 * i, capped at DECIDE_MAX_TAGS with its own all kept. */
        for (size_t i = 0; i < 6; i++) {
                size_t n = 0;
                char key[16];

                for (const char *s = dec.items[i].tags; (s = strchr(s, ':')); s++)
                        n++;
                assert_int_equal(n, MIN((i + 1) * TAG_PARSE_MAX_TAGS, (size_t) DECIDE_MAX_TAGS));
                snprintf(key, sizeof(key), "\"k%zu-63\"", i);
                assert_non_null(strstr(dec.items[i].tags, key));
        }
}

/* The age comes from start_ticks on the boot clock when it is known: start_time is in whole seconds (and
 * from a truncated btime), so a process 2.5 s old can have a start_time 3.9 s ago. */
static void test_min_lifetime_from_ticks(void **state) {
        _cleanup_(rule_set_freep) RuleSet *rs = NULL;
        _cleanup_(decisions_done) Decisions dec = {};
        /* Booted 1,000 s ago at 100 ticks/s; started 2.5 s ago by its ticks, 3.9 s ago by start_time. */
        ScanProc procs[] = {
                {.pid = 10, .ppid = 1, .start_ticks = 99750, .start_time = (NOW_MS - 3900) / 1000,
                 .comm = "p", .cmdline = "p"},
                /* A row whose start_time is younger than its ticks: the younger age counts. */
                {.pid = 11, .ppid = 1, .start_ticks = 1000, .start_time = NOW_MS / 1000 - 1,
                 .comm = "q", .cmdline = "q"},
        };
        ScanTable scan = {.procs = procs, .n = ELEMENTSOF(procs)};
        DecideParams p = {.min_lifetime = 3 * USEC_PER_SEC, .now_ms = NOW_MS, .now_boot_ms = 1000000,
                          .clk_tck = 100};

        assert_int_equal(rule_set_new(NULL, 0, &rs, NULL), 0);
        assert_int_equal(decide_all(rs, &scan, NULL, &p, &dec), 0);
        expect(&dec, 10, "accept", 0, "too-young", false, "p", "{}");
        expect(&dec, 11, "accept", 0, "too-young", false, "q", "{}");
        /* 10 is old enough 0.5 s from now. */
        assert_int_equal(dec.next_eligible_ms, NOW_MS + 500);

        decisions_done(&dec);
        p.now_ms += 500;
        p.now_boot_ms += 500;
        assert_int_equal(decide_all(rs, &scan, NULL, &p, &dec), 0);
        expect(&dec, 10, "accept", 0, "default", true, "p", "{}");

        /* Without the boot clock, start_time alone decides (3.9 s: old enough). */
        decisions_done(&dec);
        p = (DecideParams){.min_lifetime = 3 * USEC_PER_SEC, .now_ms = NOW_MS};
        assert_int_equal(decide_all(rs, &scan, NULL, &p, &dec), 0);
        expect(&dec, 10, "accept", 0, "default", true, "p", "{}");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_decide),
                cmocka_unit_test(test_tagged_only),
                cmocka_unit_test(test_no_tags_and_empty),
                cmocka_unit_test(test_tag_cap),
                cmocka_unit_test(test_min_lifetime_from_ticks),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
