/* See doc-processes.h. One SELECT joins the scanner's row, the matcher's decision for the same identity
 * (pid and start_ticks: a decision about an earlier process that had this pid is not this process's),
 * the namespace index and the DeepFlow gpid. The name and tag filters are applied here, on the parsed
 * row, rather than in SQL: tags are stored as a JSON object and the filters must mean exactly what the
 * document shows. */
#include "doc-processes.h"

#include "doc-db.h"

#define PROCESS_SELECT                                                                                      \
        "SELECT p.pid, p.ppid, p.start_time, d.name, p.comm, p.cmdline, p.user, p.uid, COALESCE(n.idx, "    \
        "0), "                                                                                              \
        "       p.container_id, d.tags, d.rule, "                                                           \
        "       (SELECT g.gpid FROM export_gpids g WHERE g.pid = p.pid ORDER BY g.sink LIMIT 1), "          \
        "       d.action, d.reason, d.synced "                                                              \
        "FROM scan_processes p "                                                                            \
        "LEFT JOIN match_decisions d ON d.pid = p.pid AND d.start_ticks = p.start_ticks "                   \
        "LEFT JOIN scan_netns n ON n.inode = p.netns_inode "

enum {
        COL_PID,
        COL_PPID,
        COL_START_TIME,
        COL_NAME,
        COL_COMM,
        COL_CMDLINE,
        COL_USER,
        COL_UID,
        COL_NETNS_ID,
        COL_CONTAINER_ID,
        COL_TAGS,
        COL_RULE,
        COL_GPID,
        COL_ACTION,
        COL_REASON,
        COL_SYNCED,
};

int process_tag_filter_parse(char *s, ProcessTagFilter *ret) {
        char *colon = strchr(s, ':');

        if (colon)
                *colon = 0;
        if (isempty(s))
                return -EINVAL;
        *ret = (ProcessTagFilter){.key = s, .value = colon ? colon + 1 : NULL};
        return 0;
}

static json_t *tags_object(sqlite3_stmt *st) {
        json_t *t = doc_column_json(st, COL_TAGS);

        if (t && !json_is_object(t)) {
                json_decref(t);
                return json_object();
        }
        return t;
}

/* One row as a PROCESS object; `complete` adds action, reason and synced. */
static int process_from_row(sqlite3_stmt *st, bool complete, json_t **ret) {
        json_auto_t *o = json_object();
        bool decided = sqlite3_column_type(st, COL_ACTION) != SQLITE_NULL;
        int r = 0;

        if (!o)
                return -ENOMEM;
        r = r ?: doc_set(o, "pid", doc_column_integer(st, COL_PID));
        r = r ?: doc_set(o, "ppid", doc_column_integer(st, COL_PPID));
        r = r ?: doc_set(o, "start_time", doc_column_integer(st, COL_START_TIME));
        r = r ?: doc_set(o, "name", doc_column_string(st, COL_NAME));
        r = r ?: doc_set(o, "process_name", doc_column_string(st, COL_COMM));
        r = r ?: doc_set(o, "cmdline", doc_column_string(st, COL_CMDLINE));
        r = r ?: doc_set(o, "user", doc_column_string(st, COL_USER));
        r = r ?: doc_set(o, "uid", doc_column_integer(st, COL_UID));
        r = r ?: doc_set(o, "netns_id", doc_column_integer(st, COL_NETNS_ID));
        r = r ?: doc_set(o, "container_id", doc_column_string(st, COL_CONTAINER_ID));
        r = r ?: doc_set(o, "tags", decided ? tags_object(st) : json_object());
        /* The matcher writes -1 for a kernel thread: no rule was evaluated. */
        r = r
                    ?: doc_set(o, "rule",
                               !decided || sqlite3_column_int64(st, COL_RULE) < 0
                                       ? json_null()
                                       : doc_column_integer(st, COL_RULE));
        r = r ?: doc_set(o, "gpid", doc_column_integer(st, COL_GPID));
        if (complete) {
                r = r ?: doc_set(o, "action", doc_column_string(st, COL_ACTION));
                r = r
                            ?: doc_set(o, "reason",
                                       decided ? doc_column_string(st, COL_REASON)
                                               : json_string("undecided"));
                r = r
                            ?: doc_set(o, "synced",
                                       json_boolean(decided && sqlite3_column_int(st, COL_SYNCED) != 0));
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(o);
        return 0;
}

static bool matches_query(const json_t *p, const ProcessQuery *q) {
        if (q->name) {
                const char *name = json_string_value(json_object_get(p, "name"));
                const char *comm = json_string_value(json_object_get(p, "process_name"));

                if (!(name && streq(name, q->name)) && !(comm && streq(comm, q->name)))
                        return false;
        }
        for (size_t i = 0; i < q->n_tags; i++) {
                const json_t *v = json_object_get(json_object_get(p, "tags"), q->tags[i].key);

                if (!v)
                        return false;
                if (q->tags[i].value &&
                    !(json_is_string(v) && streq(json_string_value(v), q->tags[i].value)))
                        return false;
        }
        return true;
}

static int read_matcher_generation(sqlite3 *db, json_t **ret) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int rc, r;

        r = db_prepare(db, "SELECT generation FROM match_daemon WHERE id = 1", &st);
        if (r < 0)
                return r;
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                *ret = json_integer(sqlite3_column_int64(st, 0));
        else if (rc == SQLITE_DONE)
                *ret = json_integer(0);
        else
                return doc_sqlite_error(rc);
        return *ret ? 0 : -ENOMEM;
}

int doc_processes(sqlite3 *db, const ProcessQuery *q, json_t **ret) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        json_auto_t *root = json_object(), *list = json_array(), *generation = NULL;
        int rc, r;

        if (!root || !list)
                return -ENOMEM;
        r = read_matcher_generation(db, &generation);
        if (r < 0)
                return r;
        r = db_prepare(db, PROCESS_SELECT "WHERE ?1 OR d.synced = 1 ORDER BY p.pid", &st);
        if (r < 0)
                return r;
        (void) sqlite3_bind_int(st, 1, q->all);

        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                json_auto_t *p = NULL;

                r = process_from_row(st, q->all, &p);
                if (r < 0)
                        return r;
                if (matches_query(p, q) && json_array_append(list, p) < 0)
                        return -ENOMEM;
        }
        if (rc != SQLITE_DONE)
                return doc_sqlite_error(rc);

        r = doc_set(root, "generation", TAKE_PTR(generation));
        r = r ?: doc_set(root, "processes", TAKE_PTR(list));
        if (r < 0)
                return r;
        *ret = TAKE_PTR(root);
        return 0;
}

int doc_process(sqlite3 *db, pid_t pid, json_t **ret) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int rc, r;

        r = db_prepare(db, PROCESS_SELECT "WHERE p.pid = ?1", &st);
        if (r < 0)
                return r;
        (void) sqlite3_bind_int64(st, 1, pid);
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
                return -ENOENT;
        if (rc != SQLITE_ROW)
                return doc_sqlite_error(rc);
        return process_from_row(st, true, ret);
}

int doc_processes_by_pid(sqlite3 *db, const int64_t *pids, size_t n, json_t **ret_array) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        json_auto_t *list = json_array();
        int r;

        if (!list)
                return -ENOMEM;
        r = db_prepare(db, PROCESS_SELECT "WHERE p.pid = ?1", &st);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                json_t *p = NULL;
                int rc;

                (void) sqlite3_reset(st);
                (void) sqlite3_bind_int64(st, 1, pids[i]);
                rc = sqlite3_step(st);
                if (rc == SQLITE_DONE)
                        continue;
                if (rc != SQLITE_ROW)
                        return doc_sqlite_error(rc);
                r = process_from_row(st, true, &p);
                if (r < 0)
                        return r;
                if (json_array_append_new(list, p) < 0)
                        return -ENOMEM;
        }
        *ret_array = TAKE_PTR(list);
        return 0;
}
