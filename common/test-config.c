/* Unit tests of the config loader (common/config.c) and its JSON form (common/config-json.c): every key's
 * default, valid forms and invalid forms with the exact line:column of the diagnostic; the feature
 * document's examples (tests/fixtures, found through $FIXTURES); both layouts of the seed keys; the lookup
 * order; the limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "config-json.h"
#include "config.h"

typedef struct Load {
        Config *config;
        ConfigDiags diags;
        int r;
} Load;

static Load load(const char *yaml) {
        Load l = {};

        l.r = config_load_buffer("test.yaml", yaml, strlen(yaml), &l.config, &l.diags);
        return l;
}

static void load_done(Load *l) {
        l->config = config_free(l->config);
        config_diags_done(&l->diags);
}

static size_t n_warnings(const ConfigDiags *d) {
        return d->n_items - d->n_errors;
}

/* Loads a valid file (warnings allowed) and returns its config. */
static Config *load_valid(const char *yaml) {
        Load l = load(yaml);

        if (l.r < 0)
                config_diags_print(&l.diags, stderr);
        assert_int_equal(l.r, 0);
        assert_int_equal(l.diags.n_errors, 0);
        assert_non_null(l.config);
        config_diags_done(&l.diags);
        return l.config;
}

static void check_diag(const ConfigDiag *x, ConfigDiagLevel level, unsigned line, unsigned column,
                       const char *text) {
        if (x->level != level || x->line != line || x->column != column || !strstr(x->message, text))
                fprintf(stderr, "expected %s at %u:%u containing \"%s\", got %s at %u:%u: %s\n",
                        level == CONFIG_DIAG_ERROR ? "error" : "warning", line, column, text,
                        x->level == CONFIG_DIAG_ERROR ? "error" : "warning", x->line, x->column, x->message);
        assert_int_equal(x->level, level);
        assert_int_equal(x->line, line);
        assert_int_equal(x->column, column);
        assert_non_null(strstr(x->message, text));
}

/* The load fails with exactly one diagnostic: this error. */
static void expect_error(const char *yaml, unsigned line, unsigned column, const char *text) {
        Load l = load(yaml);

        if (l.diags.n_items != 1)
                config_diags_print(&l.diags, stderr);
        assert_int_equal(l.r, -EINVAL);
        assert_null(l.config);
        assert_int_equal(l.diags.n_items, 1);
        assert_int_equal(l.diags.n_errors, 1);
        check_diag(&l.diags.items[0], CONFIG_DIAG_ERROR, line, column, text);
        load_done(&l);
}

/* The load succeeds with exactly one diagnostic: this warning. */
static void expect_warning(const char *yaml, unsigned line, unsigned column, const char *text) {
        Load l = load(yaml);

        if (l.diags.n_items != 1)
                config_diags_print(&l.diags, stderr);
        assert_int_equal(l.r, 0);
        assert_non_null(l.config);
        assert_int_equal(l.diags.n_items, 1);
        check_diag(&l.diags.items[0], CONFIG_DIAG_WARNING, line, column, text);
        load_done(&l);
}

static char *fixture_path(const char *name) {
        const char *dir = getenv("FIXTURES");
        char *p;

        assert_non_null(dir);
        assert_true(asprintf(&p, "%s/%s", dir, name) >= 0);
        return p;
}

static const char *default_state_dir(void) {
        return geteuid() == 0 ? "/var/lib/procsync" : "./var";
}

/* ---- Defaults ---- */

static void check_seed_defaults(const Config *c, bool sync_enabled) {
        char *sock;

        assert_int_equal(c->sync_enabled, sync_enabled);
        assert_false(c->tagged_only);
        assert_string_equal(c->proc_root, "/proc");
        assert_int_equal(c->socket_sync_interval, 10 * USEC_PER_SEC);
        assert_int_equal(c->min_lifetime, 3 * USEC_PER_SEC);
        assert_null(c->tag_exec);
        assert_string_equal(c->tag_exec_user, "deepflow");
        assert_int_equal(c->n_rules, 0);
        assert_string_equal(c->state_dir, default_state_dir());
        assert_int_equal(c->process_scan_interval, 10 * USEC_PER_SEC);
        assert_string_equal(c->api_listen[0], "127.0.0.1:9930");
        assert_true(asprintf(&sock, "unix:%s/api.sock", default_state_dir()) >= 0);
        assert_string_equal(c->api_listen[1], sock);
        free(sock);
        assert_null(c->api_listen[2]);
        assert_int_equal(c->tag_exec_timeout, 10 * USEC_PER_SEC);
        assert_int_equal(c->tag_exec_max_output, 1024 * 1024);
        assert_false(c->tag_exec_allow_root);
        assert_int_equal(c->n_sinks, 0);
        for (ConfigKey k = 0; k < _CONFIG_KEY_MAX; k++)
                assert_false(c->origin[k].from_file);
}

static void test_defaults_empty_file(void **state) {
        static const char *const empty[] = { "", "# only a comment\n", "{}\n", "~\n", "---\n" };

        for (size_t i = 0; i < ELEMENTSOF(empty); i++) {
                Config *c = load_valid(empty[i]);

                /* A file that exists but does not set it: the seed's default, false. */
                check_seed_defaults(c, false);
                assert_string_equal(c->path, "test.yaml");
                config_free(c);
        }
}

static void test_defaults_embedded(void **state) {
        Config *c = NULL;

        assert_int_equal(config_new_default(&c), 0);
        check_seed_defaults(c, true);
        assert_null(c->path);
        config_free(c);
}

/* ---- The seed keys, in both layouts ---- */

static void test_seed_keys_both_layouts(void **state) {
        static const char *const files[] = {
                "os-proc-sync-enabled: true\n"
                "os-proc-sync-tagged-only: yes\n"
                "os-proc-root: /host/proc\n"
                "os-proc-socket-sync-interval: 0\n"
                "os-proc-socket-min-lifetime: 500ms\n"
                "os-app-tag-exec: ['cat', '/tmp/tag.yaml']\n"
                "os-app-tag-exec-user: nobody\n"
                "os-proc-regex:\n"
                "  - match-regex: x\n",

                "static_config:\n"
                "  os-proc-sync-enabled: true\n"
                "  os-proc-sync-tagged-only: yes\n"
                "  os-proc-root: /host/proc\n"
                "  os-proc-socket-sync-interval: 0\n"
                "  os-proc-socket-min-lifetime: 500ms\n"
                "  os-app-tag-exec: ['cat', '/tmp/tag.yaml']\n"
                "  os-app-tag-exec-user: nobody\n"
                "  os-proc-regex:\n"
                "    - match-regex: x\n",
        };

        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                Config *c = load_valid(files[i]);
                unsigned first = i == 0 ? 1 : 2, column = i == 0 ? 1 : 3;

                assert_true(c->sync_enabled);
                assert_true(c->tagged_only);
                assert_string_equal(c->proc_root, "/host/proc");
                assert_int_equal(c->socket_sync_interval, 0);
                assert_int_equal(c->min_lifetime, 500 * USEC_PER_MSEC);
                assert_string_equal(c->tag_exec[0], "cat");
                assert_string_equal(c->tag_exec[1], "/tmp/tag.yaml");
                assert_null(c->tag_exec[2]);
                assert_string_equal(c->tag_exec_user, "nobody");
                assert_int_equal(c->n_rules, 1);
                assert_string_equal(c->rules[0].match_regex, "x");
                for (ConfigKey k = CONFIG_KEY_SYNC_ENABLED; k <= CONFIG_KEY_REGEX; k++) {
                        assert_true(c->origin[k].from_file);
                        assert_int_equal(c->origin[k].line, first + (unsigned) k);
                        assert_int_equal(c->origin[k].column, column);
                }
                assert_false(c->origin[CONFIG_KEY_STATE_DIR].from_file);
                config_free(c);
        }
}

static void test_both_layouts_conflict(void **state) {
        Config *c;

        expect_error("os-proc-sync-enabled: true\n"
                     "static_config:\n"
                     "  os-proc-sync-enabled: false\n",
                     3, 3, "'os-proc-sync-enabled' is set again with a different value (first at line 1)");
        expect_error("static_config:\n"
                     "  os-proc-root: /a\n"
                     "os-proc-root: /b\n",
                     3, 1, "set again with a different value (first at line 2)");
        expect_error("os-app-tag-exec: [a, b]\n"
                     "static_config:\n"
                     "  os-app-tag-exec: [a]\n",
                     3, 3, "'os-app-tag-exec' is set again");
        expect_error("os-proc-regex: [{match-regex: a}]\n"
                     "static_config:\n"
                     "  os-proc-regex: [{match-regex: a, action: drop}]\n",
                     3, 3, "'os-proc-regex' is set again");
        expect_error("os-proc-socket-min-lifetime: 3\n"
                     "static_config: {os-proc-socket-min-lifetime: 4s}\n",
                     2, 17, "'os-proc-socket-min-lifetime' is set again");

        /* The same parsed value in both places is accepted: "yes" is true, "3" is "3s". */
        c = load_valid("os-proc-sync-enabled: yes\n"
                       "os-proc-socket-min-lifetime: 3\n"
                       "os-proc-regex: [{match-regex: a, match-type: cmdline}]\n"
                       "static_config:\n"
                       "  os-proc-sync-enabled: true\n"
                       "  os-proc-socket-min-lifetime: 3000ms\n"
                       "  os-proc-regex:\n"
                       "    - match-regex: a\n"
                       "      match-type: cmdline\n"
                       "      action: accept\n");
        assert_true(c->sync_enabled);
        assert_int_equal(c->origin[CONFIG_KEY_SYNC_ENABLED].line, 1);
        assert_int_equal(c->n_rules, 1);
        config_free(c);

        /* A first occurrence that was itself invalid is reported once, not again as a conflict. */
        expect_error("os-proc-sync-enabled: maybe\n"
                     "static_config:\n"
                     "  os-proc-sync-enabled: true\n",
                     1, 23, "must be true or false");
}

static void test_bool(void **state) {
        static const struct {
                const char *text;
                bool value;
        } ok[] = {
                { "true", true }, { "false", false }, { "yes", true }, { "no", false }, { "on", true },
                { "off", false }, { "True", true },   { "NO", false },  { "'true'", true },
        };

        for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
                char *y;
                Config *c;

                assert_true(asprintf(&y, "os-proc-sync-tagged-only: %s\n", ok[i].text) >= 0);
                c = load_valid(y);
                assert_int_equal(c->tagged_only, ok[i].value);
                config_free(c);
                free(y);
        }
        expect_error("os-proc-sync-tagged-only: maybe\n", 1, 27, "must be true or false");
        expect_error("os-proc-sync-tagged-only: 1\n", 1, 27, "not '1'");
        expect_error("os-proc-sync-tagged-only: [true]\n", 1, 27, "must be a boolean, not a list");
        expect_error("os-proc-sync-tagged-only: {a: b}\n", 1, 27, "must be a boolean, not a mapping");
        expect_error("static_config:\n  os-proc-sync-enabled: nah\n", 2, 25, "not 'nah'");
}

static void test_parse_duration(void **state) {
        static const struct {
                const char *text;
                usec_t value;
        } ok[] = {
                { "10", 10 * USEC_PER_SEC }, { "10s", 10 * USEC_PER_SEC },  { "500ms", 500 * USEC_PER_MSEC },
                { "2m", 120 * USEC_PER_SEC }, { "1h", 3600 * USEC_PER_SEC }, { "0", 0 },
                { "250us", 250 },
        };
        static const char *const bad[] = { "", "-1", "1.5s", "10 s", " 10", "s", "10x", "10S", "+1", "1e3" };
        usec_t u;

        for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
                assert_int_equal(parse_duration(ok[i].text, &u), 0);
                assert_int_equal(u, ok[i].value);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_int_equal(parse_duration(bad[i], &u), -EINVAL);
        assert_int_equal(parse_duration("99999999999999999999", &u), -ERANGE);
        assert_int_equal(parse_duration("18446744073709551615h", &u), -ERANGE);
}

static void test_durations_in_config(void **state) {
        Config *c;

        c = load_valid("os-proc-socket-sync-interval: 2m\n"
                       "os-proc-socket-min-lifetime: \"1h\"\n"
                       "procsync:\n"
                       "  process_scan_interval: 1500ms\n"
                       "  tag_exec:\n"
                       "    timeout: 7\n");
        assert_int_equal(c->socket_sync_interval, 120 * USEC_PER_SEC);
        assert_int_equal(c->min_lifetime, 3600 * USEC_PER_SEC);
        assert_int_equal(c->process_scan_interval, 1500 * USEC_PER_MSEC);
        assert_int_equal(c->tag_exec_timeout, 7 * USEC_PER_SEC);
        assert_int_equal(c->origin[CONFIG_KEY_PROCESS_SCAN_INTERVAL].line, 4);
        assert_int_equal(c->origin[CONFIG_KEY_TAG_EXEC_TIMEOUT].line, 6);
        assert_int_equal(c->origin[CONFIG_KEY_TAG_EXEC_TIMEOUT].column, 5);
        config_free(c);

        c = load_valid("os-proc-socket-min-lifetime: 0\n");
        assert_int_equal(c->min_lifetime, 0);
        config_free(c);

        expect_error("os-proc-socket-sync-interval: -1\n", 1, 31, "must not be negative");
        expect_error("os-proc-socket-sync-interval: ten\n", 1, 31, "is not a duration: 'ten'");
        expect_error("os-proc-socket-min-lifetime: 1.5\n", 1, 30, "is not a duration");
        expect_error("os-proc-socket-min-lifetime: [3]\n", 1, 30, "must be a duration, not a list");
        expect_error("os-proc-socket-min-lifetime: 8d\n", 1, 30, "is not a duration");
        expect_error("os-proc-socket-min-lifetime: 169h\n", 1, 30, "at most 7 days");
        expect_error("os-proc-socket-min-lifetime: 99999999999999999999\n", 1, 30, "at most 7 days");
        expect_error("procsync:\n  process_scan_interval: 0\n", 2, 26, "must be greater than 0");
        expect_error("procsync:\n  process_scan_interval: -10s\n", 2, 26, "must not be negative");
        expect_error("procsync:\n  tag_exec:\n    timeout: 0s\n", 3, 14,
                     "'procsync.tag_exec.timeout' must be greater than 0");
        expect_error("procsync:\n  tag_exec:\n    timeout: soon\n", 3, 14, "is not a duration");
}

static void test_strings(void **state) {
        Config *c;

        c = load_valid("os-proc-root: ~\nos-app-tag-exec-user:\n");
        assert_string_equal(c->proc_root, "/proc");
        assert_string_equal(c->tag_exec_user, "deepflow");
        assert_true(c->origin[CONFIG_KEY_PROC_ROOT].from_file);
        config_free(c);

        expect_error("os-proc-root: ''\n", 1, 15, "'os-proc-root' must not be empty");
        expect_error("os-proc-root: [a]\n", 1, 15, "'os-proc-root' must be a string, not a list");
        expect_error("os-app-tag-exec-user: {a: 1}\n", 1, 23, "must be a string, not a mapping");
        expect_error("os-app-tag-exec-user: \"\"\n", 1, 23, "must not be empty");
        expect_error("os-proc-root: \"/a\\0b\"\n", 1, 15, "contains a NUL character");
}

static void test_tag_exec(void **state) {
        Config *c;

        c = load_valid("os-app-tag-exec:\n  - /usr/bin/tagger\n  - ''\n  - --json\n");
        assert_string_equal(c->tag_exec[0], "/usr/bin/tagger");
        assert_string_equal(c->tag_exec[1], "");
        assert_string_equal(c->tag_exec[2], "--json");
        assert_null(c->tag_exec[3]);
        config_free(c);

        c = load_valid("os-app-tag-exec: []\n");
        assert_null(c->tag_exec);
        config_free(c);

        expect_error("os-app-tag-exec: cat /tmp/tag.yaml\n", 1, 18,
                     "must be a list of arguments such as ['cat', '/tmp/tag.yaml'], not a string");
        expect_error("os-app-tag-exec: {cat: x}\n", 1, 18, "must be a list, not a mapping");
        expect_error("os-app-tag-exec: ['', x]\n", 1, 19,
                     "the command of 'os-app-tag-exec' must not be empty");
        expect_error("os-app-tag-exec: [cat, [x]]\n", 1, 24, "must be a string, not a list");
        expect_error("os-app-tag-exec: [cat, ~]\n", 1, 24, "items of 'os-app-tag-exec' must not be empty");
}

/* ---- Rules ---- */

static void check_rule(const ConfigRule *r, const char *regex, MatchType type, RuleAction action,
                       const char *rewrite) {
        if (regex)
                assert_string_equal(r->match_regex, regex);
        else
                assert_null(r->match_regex);
        assert_int_equal(r->match_type, type);
        assert_int_equal(r->action, action);
        if (rewrite)
                assert_string_equal(r->rewrite_name, rewrite);
        else
                assert_null(r->rewrite_name);
}

static Config *load_fixture(const char *name) {
        _cleanup_free_ char *path = fixture_path(name);
        ConfigDiags d = {};
        Config *c = NULL;
        int r;

        r = config_load_file(path, &c, &d);
        if (r < 0 || d.n_items > 0)
                config_diags_print(&d, stderr);
        assert_int_equal(r, 0);
        assert_int_equal(d.n_items, 0);
        assert_string_equal(d.path, path);
        assert_string_equal(c->path, path);
        config_diags_done(&d);
        return c;
}

static void test_feature_section2(void **state) {
        Config *c = load_fixture("feature-section2.yaml");

        /* Its keys all say the seed's defaults, except the tag command; the one rule has four empty keys. */
        assert_false(c->sync_enabled);
        assert_false(c->tagged_only);
        assert_string_equal(c->proc_root, "/proc");
        assert_int_equal(c->socket_sync_interval, 10 * USEC_PER_SEC);
        assert_int_equal(c->min_lifetime, 3 * USEC_PER_SEC);
        assert_string_equal(c->tag_exec[0], "cat");
        assert_string_equal(c->tag_exec[1], "/tmp/tag.yaml");
        assert_null(c->tag_exec[2]);
        assert_string_equal(c->tag_exec_user, "deepflow");
        assert_int_equal(c->n_rules, 1);
        check_rule(&c->rules[0], NULL, MATCH_PROCESS_NAME, ACTION_ACCEPT, NULL);
        assert_int_equal(c->rules[0].line, 74);
        assert_int_equal(c->rules[0].column, 7);
        assert_int_equal(c->origin[CONFIG_KEY_SYNC_ENABLED].line, 8);
        assert_int_equal(c->origin[CONFIG_KEY_REGEX].line, 71);
        config_free(c);
}

static void test_feature_section4(void **state) {
        Config *c = load_fixture("feature-section4.yaml");

        assert_true(c->sync_enabled);
        assert_int_equal(c->n_rules, 4);
        check_rule(&c->rules[0], "^(sleep|bash|sh|ssh|top|ps)$", MATCH_PROCESS_NAME, ACTION_DROP, NULL);
        check_rule(&c->rules[1], "python3 (.*)\\.py", MATCH_CMDLINE, ACTION_ACCEPT, "$1-py-script");
        check_rule(&c->rules[2], "nginx", MATCH_PARENT_PROCESS_NAME, ACTION_ACCEPT, NULL);
        check_rule(&c->rules[3], ".*", MATCH_PROCESS_NAME, ACTION_DROP, NULL);
        assert_int_equal(c->rules[0].line, 4);
        assert_int_equal(c->rules[1].line, 6);
        assert_int_equal(c->rules[2].line, 10);
        assert_int_equal(c->rules[3].line, 13);
        config_free(c);
}

static void test_rules(void **state) {
        Config *c;

        c = load_valid(
                "os-proc-regex:\n"
                "  - match-regex: ''\n"
                "    match-type: ''\n"
                "    action: ~\n"
                "    rewrite-name: \"\"\n"
                "  - {match-regex: 'app:.+', match-type: tag, action: accept, rewrite-name: '${1}x'}\n"
                "  - match-type: cmdline\n"
                "    action: drop\n");
        assert_int_equal(c->n_rules, 3);
        check_rule(&c->rules[0], NULL, MATCH_PROCESS_NAME, ACTION_ACCEPT, NULL);
        check_rule(&c->rules[1], "app:.+", MATCH_TAG, ACTION_ACCEPT, "${1}x");
        check_rule(&c->rules[2], NULL, MATCH_CMDLINE, ACTION_DROP, NULL);
        assert_int_equal(c->rules[1].line, 6);
        assert_int_equal(c->rules[1].column, 5);
        config_free(c);

        c = load_valid("os-proc-regex: ~\n");
        assert_int_equal(c->n_rules, 0);
        config_free(c);

        expect_error(
                "os-proc-regex:\n  - match-type: cmd\n", 2, 17,
                "unknown match-type 'cmd' (expected process_name, cmdline, parent_process_name or tag)");
        expect_error("os-proc-regex:\n  - action: keep\n", 2, 13,
                     "unknown action 'keep' (expected accept or drop)");
        expect_error("os-proc-regex:\n  - action: [drop]\n", 2, 13, "'action' must be a string, not a list");
        expect_error("os-proc-regex:\n  - match-regex: {a: b}\n", 2, 18,
                     "'match-regex' must be a string, not a mapping");
        expect_error("os-proc-regex:\n  - 42\n", 2, 5, "a rule must be a mapping");
        expect_error("os-proc-regex:\n  -\n", 2, 4, "a rule must be a mapping");
        expect_error("os-proc-regex: nginx\n", 1, 16,
                     "'os-proc-regex' must be a list of rules, not a scalar");
        expect_error("os-proc-regex:\n  - match-regex: a\n    match-regex: b\n", 3, 5,
                     "duplicate key 'match-regex' (first at line 2)");
        expect_warning("os-proc-regex:\n  - match-regex: a\n    colour: red\n", 3, 5,
                       "unknown key 'colour' in 'os-proc-regex rule', ignoring");
        expect_warning("os-proc-regex:\n"
                       "  - match-regex: nginx\n"
                       "    match-type: parent_process_name\n"
                       "    rewrite-name: web\n",
                       4, 19, "'rewrite-name' is ignored with match-type parent_process_name");
}

static void test_regex_errors(void **state) {
        /* Plain scalar: the column of the offending character. "python3 (.*\.py" starts at column 18 and
         * PCRE2 reports the missing parenthesis at the end (offset 15). */
        expect_error("os-proc-regex:\n  - match-regex: python3 (.*\\.py\n", 2, 33,
                     "invalid regex 'python3 (.*\\.py': missing closing parenthesis (at offset 15)");
        /* Single-quoted: one more for the quote. */
        expect_error("os-proc-regex:\n  - match-regex: 'a(b'\n", 2, 22, "missing closing parenthesis");
        /* A quantifier with nothing before it: offset 0, the first character inside the quotes. */
        expect_error("os-proc-regex:\n  - match-regex: '*x'\n", 2, 19,
                     "quantifier does not follow a repeatable item (at offset 0)");
        /* Multi-byte characters count as one column. */
        expect_error("os-proc-regex:\n  - match-regex: \"é(x\"\n", 2, 22, "missing closing parenthesis");
        /* An escape in a double-quoted scalar breaks the mapping: the value's own column. */
        expect_error("os-proc-regex:\n  - match-regex: \"\\t(x\"\n", 2, 18, "missing closing parenthesis");
        /* A flow mapping on the same line. */
        expect_error("os-proc-regex: [{match-regex: 'a[b'}]\n", 1, 35, "missing terminating ]");
        /* Block scalars: the value's column. */
        expect_error("os-proc-regex:\n  - match-regex: |\n      a(b\n", 2, 18,
                     "missing closing parenthesis");
}

static void test_rules_limit(void **state) {
        size_t size = 32 + (CONFIG_MAX_RULES + 1) * 20;
        char *y = malloc(size), *p = y;
        Load l;

        assert_non_null(y);
        p += sprintf(p, "os-proc-regex:\n");
        for (int i = 0; i <= CONFIG_MAX_RULES; i++)
                p += sprintf(p, "  - match-regex: a\n");
        l = load(y);
        assert_int_equal(l.r, -EINVAL);
        assert_int_equal(l.diags.n_items, 1);
        check_diag(&l.diags.items[0], CONFIG_DIAG_ERROR, CONFIG_MAX_RULES + 2, 5,
                   "too many rules in 'os-proc-regex' (1025, at most 1024)");
        load_done(&l);

        /* Exactly the limit is fine. */
        p = y + strlen("os-proc-regex:\n") + CONFIG_MAX_RULES * strlen("  - match-regex: a\n");
        *p = 0;
        config_free(load_valid(y));
        free(y);
}

/* ---- procsync: ---- */

static void test_state_dir_and_listen(void **state) {
        Config *c;

        c = load_valid("procsync:\n  state_dir: /srv/ps\n");
        assert_string_equal(c->state_dir, "/srv/ps");
        assert_string_equal(c->api_listen[0], "127.0.0.1:9930");
        assert_string_equal(c->api_listen[1], "unix:/srv/ps/api.sock");
        assert_int_equal(c->origin[CONFIG_KEY_STATE_DIR].line, 2);
        assert_false(c->origin[CONFIG_KEY_API_LISTEN].from_file);
        config_free(c);

        c = load_valid("procsync:\n"
                       "  state_dir: /srv/ps\n"
                       "  api:\n"
                       "    listen: ['[::1]:80', 'unix:/run/x.sock', '0.0.0.0:9930']\n");
        assert_string_equal(c->api_listen[0], "[::1]:80");
        assert_string_equal(c->api_listen[1], "unix:/run/x.sock");
        assert_string_equal(c->api_listen[2], "0.0.0.0:9930");
        assert_null(c->api_listen[3]);
        assert_int_equal(c->origin[CONFIG_KEY_API_LISTEN].line, 4);
        config_free(c);

        c = load_valid("procsync:\n  api:\n    listen: []\n");
        assert_null(c->api_listen[0]);
        config_free(c);

        expect_error("procsync:\n  state_dir: ''\n", 2, 14, "'procsync.state_dir' must not be empty");
        expect_error("procsync:\n  api:\n    listen: ['localhost']\n", 3, 14,
                     "'procsync.api.listen' must be HOST:PORT, [IPV6]:PORT or unix:PATH, not 'localhost'");
        expect_error("procsync:\n  api:\n    listen: [a:1, 'b:99999']\n", 3, 19, "not 'b:99999'");
        expect_error("procsync:\n  api:\n    listen: ['unix:']\n", 3, 14, "not 'unix:'");
        expect_error("procsync:\n  api:\n    listen: ['::1:80']\n", 3, 14, "not '::1:80'");
        expect_error("procsync:\n  api:\n    listen: '127.0.0.1:1'\n", 3, 13,
                     "must be a list, not a scalar");
        expect_error("procsync:\n  api: [listen]\n", 2, 8, "'procsync.api' must be a mapping, not a list");
}

static void test_tag_exec_section(void **state) {
        static const struct {
                const char *text;
                uint64_t value;
        } sizes[] = {
                { "1MiB", 1 << 20 }, { "512KiB", 512 << 10 }, { "1M", 1 << 20 }, { "4096", 4096 },
                { "64k", 64 << 10 }, { "2G", 0 },
        };
        Config *c;

        c = load_valid("procsync:\n  tag_exec:\n    allow_root: on\n    max_output: 64KiB\n");
        assert_true(c->tag_exec_allow_root);
        assert_int_equal(c->tag_exec_max_output, 64 * 1024);
        assert_int_equal(c->origin[CONFIG_KEY_TAG_EXEC_ALLOW_ROOT].line, 3);
        assert_int_equal(c->origin[CONFIG_KEY_TAG_EXEC_MAX_OUTPUT].line, 4);
        config_free(c);

        for (size_t i = 0; i < ELEMENTSOF(sizes); i++) {
                char *y;
                Load l;

                assert_true(asprintf(&y, "procsync: {tag_exec: {max_output: %s}}\n", sizes[i].text) >= 0);
                l = load(y);
                if (sizes[i].value > 0) {
                        assert_int_equal(l.r, 0);
                        assert_int_equal(l.config->tag_exec_max_output, sizes[i].value);
                } else
                        assert_int_equal(l.r, -EINVAL);
                load_done(&l);
                free(y);
        }
        expect_error("procsync:\n  tag_exec:\n    max_output: 0\n", 3, 17,
                     "must be between 1 byte and 256 MiB");
        expect_error("procsync:\n  tag_exec:\n    max_output: 1TiB\n", 3, 17, "is not a size: '1TiB'");
        expect_error("procsync:\n  tag_exec:\n    max_output: -1\n", 3, 17, "must not be negative");
        expect_error("procsync:\n  tag_exec:\n    max_output: 1.5M\n", 3, 17, "is not a size");
        expect_error("procsync:\n  tag_exec:\n    allow_root: 1\n", 3, 17, "must be true or false");
        expect_warning("procsync:\n  tag_exec:\n    user: root\n", 3, 5,
                       "unknown key 'user' in 'procsync.tag_exec', ignoring");
}

/* ---- Sinks ---- */

static void test_sinks(void **state) {
        Config *c;
        const ConfigSink *s;

        c = load_valid("procsync:\n"
                       "  exporter:\n"
                       "    sinks:\n"
                       "      - type: deepflow\n"
                       "        controller_ips: [10.1.2.3, 10.1.2.4]\n"
                       "        agent_id: 7\n"
                       "        team_id: t-1\n"
                       "        ctrl_ip: 192.0.2.10\n"
                       "        ctrl_mac: 02:00:00:aa:bb:cc\n"
                       "      - type: http\n"
                       "        url: https://collector.example/v1/procs\n"
                       "        headers: {Authorization: Bearer abc, X-Team: ops}\n"
                       "        timeout: 5s\n"
                       "        tls_verify: false\n"
                       "        push_interval: 1m\n"
                       "      - type: http\n"
                       "        url: http://127.0.0.1:8080/\n"
                       "        headers: ['Authorization:   Bearer xyz']\n"
                       "      - type: file\n"
                       "        name: local.jsonl\n"
                       "        path: /var/log/procsync.jsonl\n");
        assert_int_equal(c->n_sinks, 4);
        assert_int_equal(c->origin[CONFIG_KEY_SINKS].line, 3);

        s = &c->sinks[0];
        assert_int_equal(s->type, SINK_DEEPFLOW);
        assert_string_equal(s->name, "deepflow");
        assert_string_equal(s->controller_ips[0], "10.1.2.3");
        assert_string_equal(s->controller_ips[1], "10.1.2.4");
        assert_null(s->controller_ips[2]);
        assert_int_equal(s->controller_port, 30035);
        assert_int_equal(s->agent_id, 7);
        assert_int_equal(s->agent_type, 3);
        assert_string_equal(s->team_id, "t-1");
        assert_string_equal(s->ctrl_ip, "192.0.2.10");
        assert_string_equal(s->ctrl_mac, "02:00:00:aa:bb:cc");
        assert_int_equal(s->push_interval, 10 * USEC_PER_SEC);

        s = &c->sinks[1];
        assert_int_equal(s->type, SINK_HTTP);
        assert_string_equal(s->name, "http-1");
        assert_string_equal(s->url, "https://collector.example/v1/procs");
        assert_string_equal(s->headers[0], "Authorization: Bearer abc");
        assert_string_equal(s->headers[1], "X-Team: ops");
        assert_null(s->headers[2]);
        assert_int_equal(s->timeout, 5 * USEC_PER_SEC);
        assert_false(s->tls_verify);
        assert_int_equal(s->push_interval, 60 * USEC_PER_SEC);

        s = &c->sinks[2];
        assert_string_equal(s->name, "http-2");
        assert_string_equal(s->headers[0], "Authorization: Bearer xyz");
        assert_int_equal(s->timeout, 10 * USEC_PER_SEC);
        assert_true(s->tls_verify);

        s = &c->sinks[3];
        assert_int_equal(s->type, SINK_FILE);
        assert_string_equal(s->name, "local.jsonl");
        assert_string_equal(s->path, "/var/log/procsync.jsonl");
        config_free(c);

        /* The type may come last. */
        c = load_valid("procsync: {exporter: {sinks: [{path: /tmp/x, type: file, push_interval: 2}]}}\n");
        assert_int_equal(c->sinks[0].type, SINK_FILE);
        assert_int_equal(c->sinks[0].push_interval, 2 * USEC_PER_SEC);
        config_free(c);
}

static void test_sink_errors(void **state) {
#define SINKS "procsync:\n  exporter:\n    sinks:\n"
        expect_error(SINKS "      - type: pigeon\n", 4, 15,
                     "unknown sink type 'pigeon' (expected deepflow, http or file)");
        expect_error(SINKS "      - name: x\n", 4, 9, "a sink needs a 'type'");
        expect_error(SINKS "      - type:\n", 4, 14, "sink 'type' must not be empty");
        expect_error(SINKS "      - file\n", 4, 9, "a sink must be a mapping with a 'type', not a scalar");
        expect_error(SINKS "      - type: http\n", 4, 9, "a sink of type http needs 'url'");
        expect_error(SINKS "      - type: file\n        path:\n", 4, 9, "a sink of type file needs 'path'");
        expect_error(SINKS "      - type: deepflow\n", 4, 9,
                     "a sink of type deepflow needs 'controller_ips'");
        expect_error(SINKS "      - type: deepflow\n        controller_ips: []\n", 5, 25,
                     "'controller_ips' must list at least one address");
        expect_error(SINKS "      - {type: deepflow, controller_ips: [a], controller_port: 0}\n", 4, 64,
                     "'controller_port' must be between 1 and 65535, not 0");
        expect_error(SINKS "      - {type: deepflow, controller_ips: [a], agent_id: -3}\n", 4, 57,
                     "'agent_id' must be an integer between 0 and 4294967295, not '-3'");
        expect_error(SINKS "      - {type: deepflow, controller_ips: [a], agent_type: 4294967296}\n", 4, 59,
                     "'agent_type' must be between 0 and 4294967295");
        expect_error(SINKS "      - {type: deepflow, controller_ips: [a], ctrl_ip: 10.0.0}\n", 4, 56,
                     "'ctrl_ip' is not an IPv4 or IPv6 address: '10.0.0'");
        expect_error(SINKS "      - {type: deepflow, controller_ips: [a], ctrl_mac: '02:00:00:00:00'}\n", 4,
                     57, "'ctrl_mac' is not a MAC address");
        expect_error(SINKS "      - {type: http, url: 'ftp://x'}\n", 4, 27,
                     "'url' must be an http:// or https:// URL");
        expect_error(SINKS "      - {type: http, url: 'http://'}\n", 4, 27,
                     "'url' must be an http:// or https:// URL");
        expect_error(SINKS "      - {type: http, url: 'http://a', tls_verify: maybe}\n", 4, 51,
                     "must be true or false");
        expect_error(SINKS "      - {type: http, url: 'http://a', timeout: 0}\n", 4, 48,
                     "'timeout' must be greater than 0");
        expect_error(SINKS "      - {type: http, url: 'http://a', headers: {'Bad Name': x}}\n", 4, 49,
                     "invalid header name 'Bad Name'");
        expect_error(SINKS "      - {type: http, url: 'http://a', headers: {X: \"a\\r\\nB: c\"}}\n", 4, 52,
                     "the value of header 'X' contains a control character");
        expect_error(SINKS "      - {type: http, url: 'http://a', headers: ['NoColon']}\n", 4, 49,
                     "header 'NoColon' must be \"Name: value\"");
        expect_error(SINKS "      - {type: http, url: 'http://a', headers: 'X: y'}\n", 4, 48,
                     "'headers' must be a mapping of name: value or a list");
        expect_error(SINKS "      - {type: file, path: /a, push_interval: never}\n", 4, 47,
                     "is not a duration");
        expect_error(SINKS "      - {type: file, path: /a, name: 'my sink'}\n", 4, 38,
                     "sink name 'my sink' must be 1-64 characters");
        expect_error(SINKS "      - {type: file, path: /a, name: x}\n"
                           "      - {type: file, path: /b, name: x}\n",
                     5, 38, "sink name 'x' is already used by the sink at line 4");
        /* A derived name colliding with a given one. */
        expect_error(SINKS "      - {type: file, path: /a, name: file-2}\n"
                           "      - {type: file, path: /b}\n",
                     5, 9, "sink name 'file-2' is already used by the sink at line 4");
        expect_error(SINKS "      - {type: file, path: /a}\n      - {type: file, path: /a, type: http}\n", 5,
                     32, "duplicate key 'type'");
        expect_error("procsync:\n  exporter:\n    sinks: {type: file}\n", 3, 12,
                     "'procsync.exporter.sinks' must be a list of sinks, not a mapping");
        expect_warning(SINKS "      - {type: file, path: /a, url: 'http://x'}\n", 4, 32,
                       "'url' does not apply to sinks of type file, ignoring");
        expect_warning(SINKS "      - {type: file, path: /a, colour: red}\n", 4, 32,
                       "unknown key 'colour' in 'sink', ignoring");
#undef SINKS
}

static void test_sinks_limit(void **state) {
        char *y = malloc(64 + (CONFIG_MAX_SINKS + 1) * 64), *p = y;
        Load l;

        assert_non_null(y);
        p += sprintf(p, "procsync:\n  exporter:\n    sinks:\n");
        for (int i = 0; i <= CONFIG_MAX_SINKS; i++)
                p += sprintf(p, "      - {type: file, path: /tmp/%d}\n", i);
        l = load(y);
        assert_int_equal(l.r, -EINVAL);
        assert_int_equal(l.diags.n_items, 1);
        check_diag(&l.diags.items[0], CONFIG_DIAG_ERROR, 4 + CONFIG_MAX_SINKS, 9,
                   "too many sinks in 'procsync.exporter.sinks' (17, at most 16)");
        load_done(&l);
        free(y);
}

/* ---- Structure, unknown keys, YAML itself ---- */

static void test_structure(void **state) {
        expect_error("- a\n- b\n", 1, 1, "the config must be a mapping, not a list");
        expect_error("just a string\n", 1, 1, "the config must be a mapping, not a scalar");
        expect_error("static_config: [1]\n", 1, 16, "'static_config' must be a mapping, not a list");
        expect_error("procsync: 5\n", 1, 11, "'procsync' must be a mapping, not a scalar");
        expect_error("procsync:\n  state_dir: /a\n  state_dir: /b\n", 3, 3,
                     "duplicate key 'state_dir' (first at line 2)");
        expect_error("procsync: {}\nprocsync: {}\n", 2, 1, "duplicate key 'procsync'");
        expect_error("[a]: 1\n", 1, 1, "keys must be strings, not a list");

        expect_warning("os-proc-sync-enable: true\n", 1, 1,
                       "unknown top-level key 'os-proc-sync-enable', ignoring");
        expect_warning("static_config:\n  max_memory: 768\n", 2, 3,
                       "unknown key 'max_memory' in 'static_config', ignoring");
        expect_warning("procsync:\n  api:\n    port: 1\n", 3, 5,
                       "unknown key 'port' in 'procsync.api', ignoring");
        expect_warning("procsync:\n  exporter:\n    retry: 1\n", 3, 5,
                       "unknown key 'retry' in 'procsync.exporter'");
        expect_warning("procsync:\n  statedir: /x\n", 2, 3, "unknown key 'statedir' in 'procsync'");
}

static void test_keeps_going(void **state) {
        Load l = load("os-proc-sync-enabled: maybe\n"
                      "os-proc-root: [x]\n"
                      "unknown: 1\n"
                      "os-proc-regex:\n"
                      "  - match-regex: (\n"
                      "  - action: nope\n"
                      "procsync:\n"
                      "  process_scan_interval: -1\n");

        assert_int_equal(l.r, -EINVAL);
        assert_int_equal(l.diags.n_errors, 5);
        assert_int_equal(n_warnings(&l.diags), 1);
        check_diag(&l.diags.items[0], CONFIG_DIAG_ERROR, 1, 23, "must be true or false");
        check_diag(&l.diags.items[1], CONFIG_DIAG_ERROR, 2, 15, "must be a string");
        check_diag(&l.diags.items[2], CONFIG_DIAG_WARNING, 3, 1, "unknown top-level key 'unknown'");
        check_diag(&l.diags.items[3], CONFIG_DIAG_ERROR, 5, 19, "missing closing parenthesis");
        check_diag(&l.diags.items[4], CONFIG_DIAG_ERROR, 6, 13, "unknown action 'nope'");
        check_diag(&l.diags.items[5], CONFIG_DIAG_ERROR, 8, 26, "must not be negative");
        load_done(&l);
}

static void test_yaml_errors(void **state) {
        expect_error("a: b\n c: d\n", 2, 3, "invalid YAML: mapping values are not allowed in this context");
        expect_error("os-proc-regex:\n  - a\n b: c\n", 3, 2, "invalid YAML: did not find expected key");
        expect_error("a: 'unterminated\n", 2, 1, "invalid YAML: found unexpected end of stream");
        expect_error("a: \"\\q\"\n", 1, 5, "invalid YAML: found unknown escape character");
        expect_error("a: b\n\tc: d\n", 2, 1, "invalid YAML");
        /* Invalid UTF-8 (a reader error, reported by byte offset). */
        expect_error("a: b\nc: \xff\n", 2, 4, "invalid YAML: invalid leading UTF-8 octet");
}

/* "a: [[...]]" with `depth` lists. */
static void nested(char y[static 128], int depth) {
        int n = sprintf(y, "a: ");

        for (int i = 0; i < depth; i++)
                y[n++] = '[';
        for (int i = 0; i < depth; i++)
                y[n++] = ']';
        strcpy(y + n, "\n");
}

static void test_yaml_limits(void **state) {
        char y[128];
        Load l;

        /* Aliases are rejected at their position, every one of them. */
        l = load("x: &anchor /proc\nos-proc-root: *anchor\nos-app-tag-exec-user: *anchor\n");
        assert_int_equal(l.r, -EINVAL);
        assert_int_equal(l.diags.n_items, 2);
        check_diag(&l.diags.items[0], CONFIG_DIAG_ERROR, 2, 15,
                   "YAML aliases are not supported ('*anchor')");
        check_diag(&l.diags.items[1], CONFIG_DIAG_ERROR, 3, 23, "YAML aliases are not supported");
        load_done(&l);
        /* An anchor alone is harmless. */
        config_free(load_valid("os-proc-root: &r /proc\n"));

        /* Nesting: 32 levels are fine (the top mapping and 31 lists), the 33rd is an error at its
         * opening bracket. */
        nested(y, 31);
        l = load(y);
        assert_int_equal(l.r, 0);
        load_done(&l);
        nested(y, 32);
        expect_error(y, 1, 35, "nesting is too deep (more than 32 levels)");

        expect_error("os-proc-root: /a\n---\nos-proc-root: /b\n", 2, 1, "only one YAML document is allowed");
}

static void test_string_limit(void **state) {
        char *y = malloc(CONFIG_MAX_STRING + 64);

        assert_non_null(y);
        strcpy(y, "os-proc-root: /");
        memset(y + strlen(y), 'a', CONFIG_MAX_STRING - 1);
        strcpy(y + 15 + CONFIG_MAX_STRING - 1, "\n");
        config_free(load_valid(y));

        strcpy(y, "os-proc-root: /");
        memset(y + strlen(y), 'a', CONFIG_MAX_STRING);
        strcpy(y + 15 + CONFIG_MAX_STRING, "\n");
        expect_error(y, 1, 15, "'os-proc-root' is too long (4097 bytes, at most 4096)");
        free(y);
}

static void test_list_limit(void **state) {
        size_t n = CONFIG_MAX_LIST + 1;
        char *y = malloc(32 + n * 4), *p = y;

        assert_non_null(y);
        p += sprintf(p, "os-app-tag-exec: [x");
        for (size_t i = 1; i < n; i++)
                p += sprintf(p, ",x");
        sprintf(p, "]\n");
        /* Item 257 starts at column 19 + 2 * 256. */
        expect_error(y, 1, 19 + 2 * CONFIG_MAX_LIST,
                     "'os-app-tag-exec' has too many items (257, at most 256)");
        free(y);
}

static void test_file_size_limit(void **state) {
        size_t len = CONFIG_MAX_FILE_SIZE + 1;
        char *y = malloc(len + 1);
        ConfigDiags d = {};
        Config *c = NULL;

        assert_non_null(y);
        memset(y, '#', len);
        y[len] = 0;
        assert_int_equal(config_load_buffer("big.yaml", y, len, &c, &d), -EINVAL);
        assert_null(c);
        assert_int_equal(d.n_errors, 1);
        assert_int_equal(d.items[0].line, 0);
        assert_non_null(strstr(d.items[0].message, "too large"));
        config_diags_done(&d);

        /* Exactly the limit is read. */
        y[len - 1] = '\n';
        assert_int_equal(config_load_buffer("big.yaml", y, len - 1, &c, &d), 0);
        config_free(c);
        config_diags_done(&d);
        free(y);
}

static void test_diag_cap(void **state) {
        char *y = malloc(150 * 16), *p = y;
        Load l;

        assert_non_null(y);
        for (int i = 0; i < 150; i++)
                p += sprintf(p, "unknown%d: 1\n", i);
        l = load(y);
        assert_int_equal(l.r, 0);
        assert_int_equal(l.diags.n_items, 100);
        assert_int_equal(l.diags.n_hidden, 50);
        load_done(&l);
        free(y);
}

static void test_messages_sanitized(void **state) {
        Load l = load("\"\\e[31mred\": 1\n");

        assert_int_equal(l.r, 0);
        assert_int_equal(l.diags.n_items, 1);
        assert_null(strchr(l.diags.items[0].message, '\033'));
        assert_non_null(strstr(l.diags.items[0].message, "'?[31mred'"));
        load_done(&l);
}

/* ---- Files and the lookup order ---- */

static char *write_temp(const char *dir, const char *name, const char *content) {
        char *path;
        FILE *f;

        assert_true(asprintf(&path, "%s/%s", dir, name) >= 0);
        f = fopen(path, "we");
        assert_non_null(f);
        fputs(content, f);
        assert_int_equal(fclose(f), 0);
        return path;
}

static void test_lookup_order(void **state) {
        char dir[] = "/tmp/test-config-XXXXXX";
        _cleanup_free_ char *a = NULL, *b = NULL, *missing = NULL;
        ConfigDiags d = {};
        Config *c = NULL;
        struct stat st;

        assert_non_null(mkdtemp(dir));
        a = write_temp(dir, "a.yaml", "os-proc-root: /a\n");
        b = write_temp(dir, "b.yaml", "os-proc-root: /b\n");
        assert_true(asprintf(&missing, "%s/missing.yaml", dir) >= 0);

        /* $PROCSYNC_CONFIG when no explicit path. */
        assert_int_equal(setenv(CONFIG_ENV, b, 1), 0);
        assert_int_equal(config_load(NULL, &c, &d), 0);
        assert_string_equal(c->proc_root, "/b");
        assert_string_equal(c->path, b);
        c = config_free(c);
        config_diags_done(&d);

        /* The explicit path wins over the environment. */
        assert_int_equal(config_load(a, &c, &d), 0);
        assert_string_equal(c->proc_root, "/a");
        c = config_free(c);
        config_diags_done(&d);

        /* A path given through the environment that does not exist is an error, not the default. */
        assert_int_equal(setenv(CONFIG_ENV, missing, 1), 0);
        assert_int_equal(config_load(NULL, &c, &d), -ENOENT);
        assert_null(c);
        assert_string_equal(d.path, missing);
        assert_int_equal(d.n_errors, 1);
        assert_int_equal(d.items[0].line, 0);
        assert_non_null(strstr(d.items[0].message, "No such file or directory"));
        config_diags_done(&d);

        /* Same for an explicit one. */
        assert_int_equal(unsetenv(CONFIG_ENV), 0);
        assert_int_equal(config_load_file(missing, &c, &d), -ENOENT);
        config_diags_done(&d);
        assert_int_equal(config_load(missing, &c, &d), -ENOENT);
        config_diags_done(&d);

        /* A directory is not a config file. */
        assert_int_equal(config_load_file(dir, &c, &d), -EINVAL);
        assert_non_null(strstr(d.items[0].message, "not a regular file"));
        config_diags_done(&d);

        /* Neither: /etc/procsync/procsync.yaml, or the embedded default when it does not exist. */
        assert_int_equal(setenv(CONFIG_ENV, "", 1), 0);
        if (stat(CONFIG_DEFAULT_PATH, &st) < 0) {
                assert_int_equal(config_load(NULL, &c, &d), 0);
                assert_null(c->path);
                assert_true(c->sync_enabled);
                assert_int_equal(d.n_items, 0);
                c = config_free(c);
        } else
                fprintf(stderr, "%s exists on this host, not testing the embedded default fallback\n",
                        CONFIG_DEFAULT_PATH);
        config_diags_done(&d);
        assert_int_equal(unsetenv(CONFIG_ENV), 0);

        assert_int_equal(unlink(a), 0);
        assert_int_equal(unlink(b), 0);
        assert_int_equal(rmdir(dir), 0);
}

static void test_set_state_dir(void **state) {
        Config *c;

        c = load_valid("procsync:\n  state_dir: /from/file\n");
        assert_int_equal(config_set_state_dir(c, "/cli"), 0);
        assert_string_equal(c->state_dir, "/cli");
        assert_string_equal(c->api_listen[1], "unix:/cli/api.sock");
        assert_true(c->origin[CONFIG_KEY_STATE_DIR].from_override);
        assert_int_equal(config_set_state_dir(c, ""), -EINVAL);
        config_free(c);

        /* An explicit listen list is the user's: --state-dir does not touch it. */
        c = load_valid("procsync:\n  api:\n    listen: ['unix:/run/p.sock']\n");
        assert_int_equal(config_set_state_dir(c, "/cli"), 0);
        assert_string_equal(c->api_listen[0], "unix:/run/p.sock");
        assert_null(c->api_listen[1]);
        config_free(c);
}

static void test_diags_print(void **state) {
        Load l = load("os-proc-root: [x]\nfoo: 1\n");
        char *out = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&out, &size);

        assert_non_null(f);
        config_diags_print(&l.diags, f);
        assert_int_equal(fclose(f), 0);
        assert_string_equal(out, "test.yaml:1:15: error: 'os-proc-root' must be a string, not a list\n"
                                 "test.yaml:2:1: warning: unknown top-level key 'foo', ignoring\n");
        free(out);
        load_done(&l);
}

/* ---- JSON ---- */

static void test_to_json(void **state) {
        Config *c = load_valid("os-proc-sync-enabled: true\n"
                               "procsync:\n"
                               "  process_scan_interval: 1500ms\n"
                               "  exporter:\n"
                               "    sinks:\n"
                               "      - type: http\n"
                               "        url: https://user:secret@collector.example/x\n"
                               "        headers: {Authorization: Bearer topsecret}\n");
        json_t *j = NULL, *keys;
        char *dump;

        assert_int_equal(config_to_json(c, &j), 0);
        assert_string_equal(json_string_value(json_object_get(j, "path")), "test.yaml");
        keys = json_object_get(j, "keys");
        assert_int_equal(json_object_size(keys), _CONFIG_KEY_MAX);
        assert_true(json_is_true(json_object_get(json_object_get(keys, "os-proc-sync-enabled"), "value")));
        assert_string_equal(json_string_value(json_object_get(json_object_get(keys, "os-proc-sync-enabled"),
                                                              "origin")),
                            "file:1");
        assert_string_equal(
                json_string_value(json_object_get(json_object_get(keys, "os-proc-root"), "origin")),
                "default");
        assert_string_equal(json_string_value(json_object_get(
                                    json_object_get(keys, "procsync.process_scan_interval"), "value")),
                            "1500ms");
        assert_string_equal(json_string_value(json_object_get(
                                    json_object_get(keys, "os-proc-socket-sync-interval"), "value")),
                            "10s");
        assert_int_equal(json_integer_value(json_object_get(
                                 json_object_get(keys, "procsync.tag_exec.max_output"), "value")),
                         1024 * 1024);

        dump = json_dumps(j, JSON_COMPACT);
        assert_non_null(dump);
        assert_null(strstr(dump, "secret"));
        assert_non_null(strstr(dump, "\"url\":\"https://user:***@collector.example/x\""));
        assert_non_null(strstr(dump, "\"headers\":{\"Authorization\":\"***\"}"));
        free(dump);
        json_decref(j);

        assert_int_equal(config_set_state_dir(c, "/x"), 0);
        assert_int_equal(config_to_json(c, &j), 0);
        assert_string_equal(
                json_string_value(json_object_get(
                        json_object_get(json_object_get(j, "keys"), "procsync.state_dir"), "origin")),
                "command-line");
        json_decref(j);
        config_free(c);
}

static void test_diags_to_json(void **state) {
        Load l = load("os-proc-root: [x]\n");
        json_t *j = NULL, *x;

        assert_int_equal(config_diags_to_json(&l.diags, &j), 0);
        assert_true(json_is_false(json_object_get(j, "ok")));
        assert_int_equal(json_integer_value(json_object_get(j, "errors")), 1);
        x = json_array_get(json_object_get(j, "diagnostics"), 0);
        assert_string_equal(json_string_value(json_object_get(x, "level")), "error");
        assert_int_equal(json_integer_value(json_object_get(x, "line")), 1);
        assert_int_equal(json_integer_value(json_object_get(x, "column")), 15);
        json_decref(j);
        load_done(&l);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults_empty_file),
                cmocka_unit_test(test_defaults_embedded),
                cmocka_unit_test(test_seed_keys_both_layouts),
                cmocka_unit_test(test_both_layouts_conflict),
                cmocka_unit_test(test_bool),
                cmocka_unit_test(test_parse_duration),
                cmocka_unit_test(test_durations_in_config),
                cmocka_unit_test(test_strings),
                cmocka_unit_test(test_tag_exec),
                cmocka_unit_test(test_feature_section2),
                cmocka_unit_test(test_feature_section4),
                cmocka_unit_test(test_rules),
                cmocka_unit_test(test_regex_errors),
                cmocka_unit_test(test_rules_limit),
                cmocka_unit_test(test_state_dir_and_listen),
                cmocka_unit_test(test_tag_exec_section),
                cmocka_unit_test(test_sinks),
                cmocka_unit_test(test_sink_errors),
                cmocka_unit_test(test_sinks_limit),
                cmocka_unit_test(test_structure),
                cmocka_unit_test(test_keeps_going),
                cmocka_unit_test(test_yaml_errors),
                cmocka_unit_test(test_yaml_limits),
                cmocka_unit_test(test_string_limit),
                cmocka_unit_test(test_list_limit),
                cmocka_unit_test(test_file_size_limit),
                cmocka_unit_test(test_diag_cap),
                cmocka_unit_test(test_messages_sanitized),
                cmocka_unit_test(test_lookup_order),
                cmocka_unit_test(test_set_state_dir),
                cmocka_unit_test(test_diags_print),
                cmocka_unit_test(test_to_json),
                cmocka_unit_test(test_diags_to_json),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
