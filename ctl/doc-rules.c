/* See doc-rules.h. The body is checked key by key (unknown keys are refused: a misspelt "parent" must not
 * silently test a process without parents). For {"pid"}, the ancestors are walked over scan_processes with
 * the engine's own walker (rules_walk_parents(): bounded depth, cycle-safe); their comms are copied,
 * because a statement's text is only valid until its next step. */
#include "doc-rules.h"

#include <stdarg.h>
#include <stdio.h>

#include "doc-db.h"
#include "rules-json.h"
#include "rules.h"

static int fail(char **ret_error, const char *fmt, ...) _printf_(2, 3);
static int fail(char **ret_error, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(ret_error, fmt, ap) < 0)
                *ret_error = NULL;
        va_end(ap);
        return -EINVAL;
}

typedef struct TestInput {
        char *comm;
        char *cmdline;
        char *parents[RULES_MAX_PARENT_DEPTH]; /* owned copies */
        const char *parent_ptrs[RULES_MAX_PARENT_DEPTH];
        size_t n_parents;
        json_t *tags; /* object */
        RuleTag *tag_items;
        size_t n_tags;
} TestInput;

static void test_input_done(TestInput *in) {
        free(in->comm);
        free(in->cmdline);
        for (size_t i = 0; i < in->n_parents; i++)
                free(in->parents[i]);
        json_decref(in->tags);
        free(in->tag_items);
}

static int add_parent(TestInput *in, const char *comm) {
        if (in->n_parents >= RULES_MAX_PARENT_DEPTH)
                return -E2BIG;
        in->parents[in->n_parents] = strdup(comm);
        if (!in->parents[in->n_parents])
                return -ENOMEM;
        in->parent_ptrs[in->n_parents] = in->parents[in->n_parents];
        in->n_parents++;
        return 0;
}

static int from_body(const json_t *body, TestInput *in, char **ret_error) {
        const char *key;
        json_t *v, *name, *cmdline, *parents, *tags;
        size_t i;

        json_object_foreach((json_t *) body, key, v) {
                if (!streq(key, "process_name") && !streq(key, "cmdline") && !streq(key, "parents") &&
                    !streq(key, "tags"))
                        return fail(ret_error,
                                    "unknown key '%s' (known: process_name, cmdline, parents, tags)", key);
        }

        name = json_object_get(body, "process_name");
        cmdline = json_object_get(body, "cmdline");
        parents = json_object_get(body, "parents");
        tags = json_object_get(body, "tags");
        if (!json_is_string(name))
                return fail(ret_error, "process_name must be a string (or give pid)");
        if (cmdline && !json_is_string(cmdline))
                return fail(ret_error, "cmdline must be a string");
        if (parents && !json_is_array(parents))
                return fail(ret_error, "parents must be an array of strings, nearest first");
        if (json_array_size(parents) > RULES_MAX_PARENT_DEPTH)
                return fail(ret_error, "more than %d parents", RULES_MAX_PARENT_DEPTH);
        if (tags && !json_is_object(tags))
                return fail(ret_error, "tags must be an object of strings");
        if (json_object_size(tags) > DOC_RULES_TEST_MAX_TAGS)
                return fail(ret_error, "more than %d tags", DOC_RULES_TEST_MAX_TAGS);

        in->comm = strdup(json_string_value(name));
        in->cmdline = strdup(json_string_value(cmdline ?: name));
        if (!in->comm || !in->cmdline)
                return -ENOMEM;
        json_array_foreach(parents, i, v) {
                int r;

                if (!json_is_string(v))
                        return fail(ret_error, "parents must be an array of strings, nearest first");
                r = add_parent(in, json_string_value(v));
                if (r < 0)
                        return r;
        }
        json_object_foreach(tags, key, v) {
                if (!json_is_string(v))
                        return fail(ret_error, "tag '%s' must have a string value", key);
        }
        in->tags = tags ? json_incref(tags) : json_object();
        return in->tags ? 0 : -ENOMEM;
}

typedef struct DbChain {
        sqlite3_stmt *st;
        char *comms[RULES_MAX_PARENT_DEPTH + 1];
        size_t n;
} DbChain;

static int db_lookup(pid_t pid, void *userdata, pid_t *ret_ppid, const char **ret_comm) {
        DbChain *c = userdata;
        int rc;

        if (c->n >= ELEMENTSOF(c->comms))
                return -E2BIG;
        (void) sqlite3_reset(c->st);
        (void) sqlite3_bind_int64(c->st, 1, pid);
        rc = sqlite3_step(c->st);
        if (rc == SQLITE_DONE)
                return -ENOENT;
        if (rc != SQLITE_ROW)
                return doc_sqlite_error(rc);
        c->comms[c->n] = strdup(doc_column_text(c->st, 1));
        if (!c->comms[c->n])
                return -ENOMEM;
        *ret_ppid = (pid_t) sqlite3_column_int64(c->st, 0);
        *ret_comm = c->comms[c->n++];
        return 0;
}

static int from_pid(sqlite3 *db, const json_t *body, TestInput *in, char **ret_error) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL, *chain_st = NULL;
        const char *parents[RULES_MAX_PARENT_DEPTH];
        DbChain chain = {};
        json_int_t pid;
        size_t n;
        int rc, r;

        if (json_object_size(body) != 1)
                return fail(ret_error, "pid goes alone: the process is read from the last scan");
        if (!json_is_integer(json_object_get(body, "pid")))
                return fail(ret_error, "pid must be an integer");
        pid = json_integer_value(json_object_get(body, "pid"));
        if (pid <= 0 || pid > INT32_MAX)
                return fail(ret_error, "pid %lld is not a process id", (long long) pid);

        r = db_prepare(db,
                       "SELECT p.comm, p.cmdline, p.ppid, d.tags FROM scan_processes p "
                       "LEFT JOIN match_decisions d ON d.pid = p.pid AND d.start_ticks = p.start_ticks "
                       "WHERE p.pid = ?1",
                       &st);
        if (r < 0)
                return r;
        (void) sqlite3_bind_int64(st, 1, pid);
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
                return -ENOENT;
        if (rc != SQLITE_ROW)
                return doc_sqlite_error(rc);
        in->comm = strdup(doc_column_text(st, 0));
        in->cmdline = strdup(doc_column_text(st, 1));
        in->tags = doc_column_json(st, 3);
        if (!in->comm || !in->cmdline || !in->tags)
                return -ENOMEM;
        if (!json_is_object(in->tags)) {
                json_decref(in->tags);
                in->tags = json_object();
                if (!in->tags)
                        return -ENOMEM;
        }

        r = db_prepare(db, "SELECT ppid, comm FROM scan_processes WHERE pid = ?1", &chain_st);
        if (r < 0)
                return r;
        chain.st = chain_st;
        n = rules_walk_parents((pid_t) pid, (pid_t) sqlite3_column_int64(st, 2), db_lookup, &chain, parents,
                               ELEMENTSOF(parents));
        for (size_t i = 0; i < n && r >= 0; i++)
                r = add_parent(in, parents[i]);
        for (size_t i = 0; i < chain.n; i++)
                free(chain.comms[i]);
        return r < 0 ? r : 0;
}

int doc_rules_test(sqlite3 *db, const Config *c, const json_t *body, json_t **ret, char **ret_error) {
        _cleanup_(test_input_done) TestInput in = {};
        _cleanup_(rule_set_freep) RuleSet *s = NULL;
        _cleanup_(rule_decision_done) RuleDecision d = {};
        RuleInput input;
        const char *key;
        json_t *v;
        size_t i = 0;
        int r;

        *ret_error = NULL;
        if (!json_is_object(body))
                return fail(ret_error, "the body must be a JSON object");
        r = json_object_get(body, "pid") ? from_pid(db, body, &in, ret_error)
                                         : from_body(body, &in, ret_error);
        if (r < 0)
                return r;

        in.n_tags = json_object_size(in.tags);
        in.tag_items = calloc(in.n_tags + 1, sizeof(RuleTag));
        if (!in.tag_items)
                return -ENOMEM;
        json_object_foreach(in.tags, key, v) {
                if (json_is_string(v))
                        in.tag_items[i++] = (RuleTag){.key = key, .value = json_string_value(v)};
        }
        in.n_tags = i;

        r = rule_set_new(c->rules, c->n_rules, &s, NULL);
        if (r < 0)
                return r;
        input = (RuleInput){
                .comm = in.comm,
                .cmdline = in.cmdline,
                .parents = in.parent_ptrs,
                .n_parents = in.n_parents,
                .tags = in.tag_items,
                .n_tags = in.n_tags,
        };
        r = rule_set_decide(s, &input, &d);
        if (r < 0)
                return r;
        /* A name built from bytes that are not UTF-8 (a described process can have any): the answer is
         * JSON, so it is repaired like every text the API shows. */
        if (d.name) {
                char *fixed = doc_utf8_repair(d.name);

                if (!fixed)
                        return -ENOMEM;
                free(d.name);
                d.name = fixed;
        }
        return rule_decision_to_json(&d, ret);
}
