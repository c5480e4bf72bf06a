/* The matcher's reads and writes of state.db. See store.h.
 *
 * Decisions are written incrementally: the stored rows are read first (into memory, so that no SELECT is
 * open on the table being changed) and compared field by field with the new ones, walking both in pid
 * order. Only differences are written, so decided_at tells when a process's decision last changed and an
 * unchanged pass writes nothing but the heartbeat, which is how the generation stays put. */
#include "store.h"

#include <sys/param.h>

#include "daemon.h"
#include "db.h"

typedef struct OldDecision {
        pid_t pid;
        int64_t start_ticks;
        char *action;
        int rule;
        char *name;
        char *reason;
        bool synced;
        char *tags;
} OldDecision;

static char *column_strdup(sqlite3_stmt *st, int i) {
        const unsigned char *s = sqlite3_column_text(st, i);

        return strdup(s ? (const char *) s : "");
}

static int step_done(sqlite3_stmt *st) {
        int rc = sqlite3_step(st);

        if (rc != SQLITE_DONE)
                return db_errno(rc) ?: -EIO;
        return 0;
}

static int read_processes(sqlite3 *db, ScanTable *t) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        size_t allocated = 0;
        int rc, r;

        r = db_prepare(
                db,
                "SELECT pid, ppid, start_ticks, start_time, comm, cmdline FROM scan_processes ORDER BY pid",
                &st);
        if (r < 0)
                return r;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                ScanProc *p;

                if (t->n >= allocated) {
                        size_t a = MAX(allocated * 2, (size_t) 256);
                        ScanProc *x = reallocarray(t->procs, a, sizeof(ScanProc));

                        if (!x)
                                return -ENOMEM;
                        t->procs = x;
                        allocated = a;
                }
                p = &t->procs[t->n];
                *p = (ScanProc){
                        .pid = (pid_t) sqlite3_column_int64(st, 0),
                        .ppid = (pid_t) sqlite3_column_int64(st, 1),
                        .start_ticks = (uint64_t) sqlite3_column_int64(st, 2),
                        .start_time = sqlite3_column_int64(st, 3),
                        .comm = column_strdup(st, 4),
                        .cmdline = column_strdup(st, 5),
                };
                t->n++;
                if (!p->comm || !p->cmdline)
                        return -ENOMEM;
        }
        return rc == SQLITE_DONE ? 0 : db_errno(rc) ?: -EIO;
}

int store_read_scan(sqlite3 *db, ScanTable *ret) {
        _cleanup_(scan_table_done) ScanTable t = {};
        int r;

        r = db_exec(db, "BEGIN");
        if (r < 0)
                return r;
        r = daemon_read_generation(db, "scanner", &t.generation);
        if (r == -ENOENT) {
                t.generation = 0;
                r = 0;
        }
        if (r >= 0)
                r = read_processes(db, &t);
        if (r >= 0)
                r = db_commit(db);
        if (r < 0) {
                db_rollback(db);
                return r;
        }
        *ret = t;
        t = (ScanTable){};
        return 0;
}

int store_read_tags(sqlite3 *db, TagList **ret) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        _cleanup_(tag_list_freep) TagList *l = NULL;
        size_t allocated = 0;
        int rc, r;

        l = calloc(1, sizeof(TagList));
        if (!l)
                return -ENOMEM;
        r = db_prepare(db, "SELECT pid, key, value FROM match_tag_output ORDER BY pid, key", &st);
        if (r < 0)
                return r;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                pid_t pid = (pid_t) sqlite3_column_int64(st, 0);
                TagEntry *e = l->n_entries > 0 ? &l->entries[l->n_entries - 1] : NULL;
                TagPair *x;

                if (!e || e->pid != pid) {
                        if (l->n_entries >= allocated) {
                                size_t a = MAX(allocated * 2, (size_t) 64);
                                TagEntry *y = reallocarray(l->entries, a, sizeof(TagEntry));

                                if (!y)
                                        return -ENOMEM;
                                l->entries = y;
                                allocated = a;
                        }
                        e = &l->entries[l->n_entries++];
                        *e = (TagEntry){.pid = pid};
                }
                x = reallocarray(e->tags, e->n_tags + 1, sizeof(TagPair));
                if (!x)
                        return -ENOMEM;
                e->tags = x;
                e->tags[e->n_tags] = (TagPair){column_strdup(st, 1), column_strdup(st, 2)};
                e->n_tags++;
                if (!e->tags[e->n_tags - 1].key || !e->tags[e->n_tags - 1].value)
                        return -ENOMEM;
        }
        if (rc != SQLITE_DONE)
                return db_errno(rc) ?: -EIO;
        *ret = TAKE_PTR(l);
        return 0;
}

static void old_decisions_free(OldDecision *o, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(o[i].action);
                free(o[i].name);
                free(o[i].reason);
                free(o[i].tags);
        }
        free(o);
}

static int read_old_decisions(sqlite3 *db, OldDecision **ret, size_t *ret_n) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        OldDecision *o = NULL;
        size_t n = 0, allocated = 0;
        int rc, r;

        r = db_prepare(
                db,
                "SELECT pid, start_ticks, action, rule, name, reason, synced, tags FROM match_decisions "
                "ORDER BY pid",
                &st);
        if (r < 0)
                return r;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                OldDecision *x;

                if (n >= allocated) {
                        size_t a = MAX(allocated * 2, (size_t) 256);

                        x = reallocarray(o, a, sizeof(OldDecision));
                        if (!x) {
                                old_decisions_free(o, n);
                                return -ENOMEM;
                        }
                        o = x;
                        allocated = a;
                }
                x = &o[n++];
                *x = (OldDecision){
                        .pid = (pid_t) sqlite3_column_int64(st, 0),
                        .start_ticks = sqlite3_column_int64(st, 1),
                        .action = column_strdup(st, 2),
                        .rule = sqlite3_column_int(st, 3),
                        .name = column_strdup(st, 4),
                        .reason = column_strdup(st, 5),
                        .synced = sqlite3_column_int(st, 6) != 0,
                        .tags = column_strdup(st, 7),
                };
                if (!x->action || !x->name || !x->reason || !x->tags) {
                        old_decisions_free(o, n);
                        return -ENOMEM;
                }
        }
        if (rc != SQLITE_DONE) {
                old_decisions_free(o, n);
                return db_errno(rc) ?: -EIO;
        }
        *ret = o;
        *ret_n = n;
        return 0;
}

static bool same_decision(const OldDecision *o, const Decision *d) {
        return o->start_ticks == (int64_t) d->start_ticks &&
               streq(o->action, rule_action_to_string(d->action)) && o->rule == d->rule &&
               streq(o->name, d->name) && streq(o->reason, d->reason) && o->synced == d->synced &&
               streq(o->tags, d->tags);
}

int store_write_decisions(sqlite3 *db, const Decisions *d, int64_t now_ms, bool *ret_changed) {
        _cleanup_stmt_ sqlite3_stmt *put = NULL, *del = NULL;
        OldDecision *old = NULL;
        size_t n_old = 0, i = 0, j = 0;
        bool changed = false;
        int r;

        r = read_old_decisions(db, &old, &n_old);
        if (r < 0)
                return r;
        r = db_prepare(db,
                       "INSERT OR REPLACE INTO match_decisions "
                       "(pid, start_ticks, action, rule, name, reason, synced, tags, decided_at) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                       &put);
        if (r >= 0)
                r = db_prepare(db, "DELETE FROM match_decisions WHERE pid = ?1", &del);

        /* Both sorted by pid. */
        while (r >= 0 && (i < d->n || j < n_old)) {
                const Decision *x = i < d->n ? &d->items[i] : NULL;
                const OldDecision *o = j < n_old ? &old[j] : NULL;

                if (o && (!x || o->pid < x->pid)) {
                        sqlite3_reset(del);
                        sqlite3_bind_int64(del, 1, o->pid);
                        r = step_done(del);
                        changed = true;
                        j++;
                        continue;
                }
                if (o && o->pid == x->pid) {
                        j++;
                        if (same_decision(o, x)) {
                                i++;
                                continue;
                        }
                }
                sqlite3_reset(put);
                sqlite3_bind_int64(put, 1, x->pid);
                sqlite3_bind_int64(put, 2, (int64_t) x->start_ticks);
                sqlite3_bind_text(put, 3, rule_action_to_string(x->action), -1, SQLITE_STATIC);
                sqlite3_bind_int(put, 4, x->rule);
                sqlite3_bind_text(put, 5, x->name, -1, SQLITE_STATIC);
                sqlite3_bind_text(put, 6, x->reason, -1, SQLITE_STATIC);
                sqlite3_bind_int(put, 7, x->synced);
                sqlite3_bind_text(put, 8, x->tags, -1, SQLITE_STATIC);
                sqlite3_bind_int64(put, 9, now_ms);
                r = step_done(put);
                changed = true;
                i++;
        }
        old_decisions_free(old, n_old);
        if (r < 0)
                return r;
        *ret_changed = changed;
        return 0;
}

int store_write_tags(sqlite3 *db, const TagList *l) {
        _cleanup_stmt_ sqlite3_stmt *ins = NULL;
        int r;

        r = db_exec(db, "DELETE FROM match_tag_output");
        if (r < 0)
                return r;
        r = db_prepare(db, "INSERT INTO match_tag_output (pid, key, value) VALUES (?1, ?2, ?3)", &ins);
        if (r < 0)
                return r;
        for (size_t i = 0; l && i < l->n_entries; i++)
                for (size_t k = 0; k < l->entries[i].n_tags; k++) {
                        sqlite3_reset(ins);
                        sqlite3_bind_int64(ins, 1, l->entries[i].pid);
                        sqlite3_bind_text(ins, 2, l->entries[i].tags[k].key, -1, SQLITE_STATIC);
                        sqlite3_bind_text(ins, 3, l->entries[i].tags[k].value, -1, SQLITE_STATIC);
                        r = step_done(ins);
                        if (r < 0)
                                return r;
                }
        return 0;
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *s) {
        if (s)
                sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
        else
                sqlite3_bind_null(st, i);
}

static void bind_int64_or_null(sqlite3_stmt *st, int i, int64_t v, bool null) {
        if (null)
                sqlite3_bind_null(st, i);
        else
                sqlite3_bind_int64(st, i, v);
}

int store_write_tag_exec(sqlite3 *db, const TagExecRow *row) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;

        /* last_ok survives failed runs (and restarts): a new value only when this run succeeded. */
        r = db_prepare(db,
                       "INSERT INTO match_tag_exec "
                       "(id, ok, error, last_run, last_ok, duration_ms, entries, skipped, failures, "
                       "stderr_excerpt) "
                       "VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
                       "ON CONFLICT (id) DO UPDATE SET ok = excluded.ok, error = excluded.error, "
                       "last_run = excluded.last_run, last_ok = COALESCE(excluded.last_ok, last_ok), "
                       "duration_ms = excluded.duration_ms, entries = excluded.entries, "
                       "skipped = excluded.skipped, failures = excluded.failures, "
                       "stderr_excerpt = excluded.stderr_excerpt",
                       &st);
        if (r < 0)
                return r;
        sqlite3_bind_int(st, 1, row->ok);
        bind_text_or_null(st, 2, row->error);
        bind_int64_or_null(st, 3, row->last_run, row->last_run == 0);
        bind_int64_or_null(st, 4, row->last_ok, row->last_ok == 0);
        bind_int64_or_null(st, 5, row->duration_ms, row->duration_ms < 0);
        sqlite3_bind_int64(st, 6, (int64_t) row->entries);
        sqlite3_bind_int64(st, 7, (int64_t) row->skipped);
        sqlite3_bind_int64(st, 8, (int64_t) row->failures);
        bind_text_or_null(st, 9, row->stderr_excerpt);
        return step_done(st);
}

int store_write_rule_stats(sqlite3 *db, const RuleStats *stats, size_t n) {
        _cleanup_stmt_ sqlite3_stmt *del = NULL, *put = NULL;
        int r;

        r = db_prepare(db, "DELETE FROM match_rule_stats WHERE rule >= ?1", &del);
        if (r < 0)
                return r;
        sqlite3_bind_int64(del, 1, (int64_t) n);
        r = step_done(del);
        if (r < 0)
                return r;
        r = db_prepare(
                db, "INSERT OR REPLACE INTO match_rule_stats (rule, hits, limit_hits) VALUES (?1, ?2, ?3)",
                &put);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                sqlite3_reset(put);
                sqlite3_bind_int64(put, 1, (int64_t) i);
                sqlite3_bind_int64(put, 2, (int64_t) stats[i].hits);
                sqlite3_bind_int64(put, 3, (int64_t) stats[i].limit_hits);
                r = step_done(put);
                if (r < 0)
                        return r;
        }
        return 0;
}

int store_write_scan_generation(sqlite3 *db, uint64_t generation) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;

        r = db_prepare(db, "UPDATE match_daemon SET scan_generation = ?1 WHERE id = 1", &st);
        if (r < 0)
                return r;
        sqlite3_bind_int64(st, 1, (int64_t) generation);
        r = step_done(st);
        if (r < 0)
                return r;
        return sqlite3_changes(db) == 1 ? 0 : -ENOENT;
}
