/* See export-db.h. Every write is one short BEGIN IMMEDIATE transaction; none is held across a network
 * call (the exporter stores a version, then sends, then stores the acknowledgement). */
#include "export-db.h"

#include <stdio.h>

#include "db.h"

uint64_t export_next_version(bool have_stored, uint64_t stored_version, const char *stored_digest,
                             const char *digest, uint64_t first_version) {
        if (!have_stored || stored_version == 0)
                return first_version > 0 ? first_version : 1;
        if (streq(stored_digest, digest))
                return stored_version;
        return stored_version + 1;
}

static int bind_text_or_null(sqlite3_stmt *st, int i, const char *s) {
        return db_errno(s ? sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i));
}

static int step_done(sqlite3_stmt *st) {
        int rc = sqlite3_step(st);

        return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : db_errno(rc);
}

static int state_read(sqlite3 *db, bool *ret_have, uint64_t *ret_version, char ret_digest[65],
                      uint64_t *ret_generation) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r, rc;

        r = db_prepare(db, "SELECT version, digest, match_generation FROM export_state WHERE id = 1", &st);
        if (r < 0)
                return r;
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE) {
                *ret_have = false;
                return 0;
        }
        if (rc != SQLITE_ROW)
                return db_errno(rc);
        *ret_have = true;
        *ret_version = (uint64_t) sqlite3_column_int64(st, 0);
        snprintf(ret_digest, 65, "%s", strempty((const char *) sqlite3_column_text(st, 1)));
        *ret_generation = (uint64_t) sqlite3_column_int64(st, 2);
        return 0;
}

int export_state_read(sqlite3 *db, uint64_t *ret_version, char ret_digest[65]) {
        uint64_t version = 0, generation = 0;
        char digest[65] = "";
        bool have = false;
        int r;

        r = state_read(db, &have, &version, digest, &generation);
        if (r < 0)
                return r;
        if (!have)
                return -ENOENT;
        *ret_version = version;
        memcpy(ret_digest, digest, sizeof(digest));
        return 0;
}

static int state_write(sqlite3 *db, const SyncState *s) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;

        r = db_prepare(db,
                       "INSERT INTO export_state (id, version, digest, match_generation, built_at) "
                       "VALUES (1, ?1, ?2, ?3, ?4) "
                       "ON CONFLICT (id) DO UPDATE SET version = ?1, digest = ?2, match_generation = ?3, "
                       "built_at = ?4",
                       &st);
        if (r < 0)
                return r;
        if ((r = db_errno(sqlite3_bind_int64(st, 1, (int64_t) s->version))) < 0 ||
            (r = db_errno(sqlite3_bind_text(st, 2, s->digest, -1, SQLITE_TRANSIENT))) < 0 ||
            (r = db_errno(sqlite3_bind_int64(st, 3, (int64_t) s->match_generation))) < 0 ||
            (r = db_errno(sqlite3_bind_int64(st, 4, s->built_at))) < 0)
                return r;
        return step_done(st);
}

int export_state_commit(sqlite3 *db, SyncState *s, uint64_t first_version, bool *ret_new) {
        uint64_t stored = 0, generation = 0, version;
        char digest[65] = "";
        bool have = false;
        int r;

        r = db_begin(db);
        if (r < 0)
                return r;
        r = state_read(db, &have, &stored, digest, &generation);
        if (r < 0)
                goto fail;
        version = export_next_version(have, stored, digest, s->digest, first_version);
        s->version = version;
        /* An unchanged state with an unchanged source is not rewritten: a commit wakes every daemon that
         * watches state.db. */
        if (!have || version != stored || generation != s->match_generation) {
                r = state_write(db, s);
                if (r < 0)
                        goto fail;
        }
        r = db_commit(db);
        if (r < 0)
                goto fail;
        if (ret_new)
                *ret_new = !have || version != stored;
        return 0;
fail:
        db_rollback(db);
        return r;
}

void export_sink_row_done(ExportSinkRow *row) {
        if (!row)
                return;
        free(row->last_error);
        *row = (ExportSinkRow){};
}

static int sink_row_read(sqlite3 *db, const char *name, bool *ret_found, char **ret_type, char **ret_target,
                         ExportSinkRow *ret) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        const unsigned char *t;
        int r, rc;

        r = db_prepare(db,
                       "SELECT type, acked_version, last_attempt_at, last_ok_at, last_error, failures, "
                       "errors_total, next_attempt_at, target FROM export_sinks WHERE name = ?1",
                       &st);
        if (r < 0)
                return r;
        r = db_errno(sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT));
        if (r < 0)
                return r;
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE) {
                *ret_found = false;
                return 0;
        }
        if (rc != SQLITE_ROW)
                return db_errno(rc);

        *ret = (ExportSinkRow){
                .acked_version = (uint64_t) sqlite3_column_int64(st, 1),
                .last_attempt_at = sqlite3_column_int64(st, 2),
                .last_ok_at = sqlite3_column_int64(st, 3),
                .failures = (uint64_t) sqlite3_column_int64(st, 5),
                .errors_total = (uint64_t) sqlite3_column_int64(st, 6),
                .next_attempt_at = sqlite3_column_int64(st, 7),
        };
        t = sqlite3_column_text(st, 4);
        if (t) {
                ret->last_error = strdup((const char *) t);
                if (!ret->last_error)
                        return -ENOMEM;
        }
        *ret_type = strdup(strempty((const char *) sqlite3_column_text(st, 0)));
        t = sqlite3_column_text(st, 8);
        *ret_target = t ? strdup((const char *) t) : NULL;
        if (!*ret_type || (t && !*ret_target)) {
                free(*ret_type);
                *ret_type = NULL;
                export_sink_row_done(ret);
                return -ENOMEM;
        }
        *ret_found = true;
        return 0;
}

/* A fresh row, or a reset one when the name was used by another receiver. */
static int sink_row_insert(sqlite3 *db, const char *name, SinkType type, const char *target) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;

        r = db_prepare(db,
                       "INSERT INTO export_sinks (name, type, target) VALUES (?1, ?2, ?3) "
                       "ON CONFLICT (name) DO UPDATE SET type = ?2, target = ?3, acked_version = 0, "
                       "last_attempt_at = NULL, last_ok_at = NULL, last_error = NULL, failures = 0, "
                       "errors_total = 0, next_attempt_at = NULL",
                       &st);
        if (r < 0)
                return r;
        if ((r = db_errno(sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT))) < 0 ||
            (r = db_errno(sqlite3_bind_text(st, 2, sink_type_to_string(type), -1, SQLITE_STATIC))) < 0 ||
            (r = bind_text_or_null(st, 3, target)) < 0)
                return r;
        return step_done(st);
}

/* A row from before the target was recorded: take it as the same receiver. */
static int sink_row_set_target(sqlite3 *db, const char *name, const char *target) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;

        r = db_prepare(db, "UPDATE export_sinks SET target = ?2 WHERE name = ?1", &st);
        if (r < 0)
                return r;
        if ((r = db_errno(sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT))) < 0 ||
            (r = bind_text_or_null(st, 2, target)) < 0)
                return r;
        return step_done(st);
}

int export_sink_load(sqlite3 *db, const char *name, SinkType type, const char *target, ExportSinkRow *ret) {
        _cleanup_free_ char *stored_type = NULL, *stored_target = NULL;
        ExportSinkRow row = {};
        bool found = false;
        int r;

        r = db_begin(db);
        if (r < 0)
                return r;
        r = sink_row_read(db, name, &found, &stored_type, &stored_target, &row);
        if (r < 0)
                goto fail;
        if (!found || !streq(stored_type, sink_type_to_string(type)) ||
            (stored_target && !streq(stored_target, strempty(target)))) {
                export_sink_row_done(&row);
                r = sink_row_insert(db, name, type, target);
                if (r < 0)
                        goto fail;
        } else if (!stored_target) {
                r = sink_row_set_target(db, name, target);
                if (r < 0)
                        goto fail;
        }
        r = db_commit(db);
        if (r < 0)
                goto fail;
        *ret = row;
        return 0;
fail:
        export_sink_row_done(&row);
        db_rollback(db);
        return r;
}

int export_sink_save(sqlite3 *db, const char *name, const ExportSinkRow *row) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;

        r = db_prepare(
                db,
                "UPDATE export_sinks SET acked_version = ?2, last_attempt_at = ?3, last_ok_at = ?4, "
                "last_error = ?5, failures = ?6, errors_total = ?7, next_attempt_at = ?8 WHERE name = ?1",
                &st);
        if (r < 0)
                return r;
        if ((r = db_errno(sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT))) < 0 ||
            (r = db_errno(sqlite3_bind_int64(st, 2, (int64_t) row->acked_version))) < 0 ||
            (r = db_errno(row->last_attempt_at ? sqlite3_bind_int64(st, 3, row->last_attempt_at)
                                               : sqlite3_bind_null(st, 3))) < 0 ||
            (r = db_errno(row->last_ok_at ? sqlite3_bind_int64(st, 4, row->last_ok_at)
                                          : sqlite3_bind_null(st, 4))) < 0 ||
            (r = bind_text_or_null(st, 5, row->last_error)) < 0 ||
            (r = db_errno(sqlite3_bind_int64(st, 6, (int64_t) row->failures))) < 0 ||
            (r = db_errno(sqlite3_bind_int64(st, 7, (int64_t) row->errors_total))) < 0 ||
            (r = db_errno(row->next_attempt_at ? sqlite3_bind_int64(st, 8, row->next_attempt_at)
                                               : sqlite3_bind_null(st, 8))) < 0)
                return r;
        r = step_done(st);
        if (r < 0)
                return r;
        return sqlite3_changes(db) == 1 ? 0 : -ENOENT;
}

static bool sink_configured(const char *name, const ConfigSink *sinks, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (streq(sinks[i].name, name))
                        return true;
        return false;
}

static int delete_sink(sqlite3 *db, const char *name) {
        static const char *const sql[] = {
                "DELETE FROM export_sinks WHERE name = ?1",
                "DELETE FROM export_gpids WHERE sink = ?1",
                "DELETE FROM export_socket_gpids WHERE sink = ?1",
        };
        int r;

        for (size_t i = 0; i < ELEMENTSOF(sql); i++) {
                _cleanup_stmt_ sqlite3_stmt *st = NULL;

                r = db_prepare(db, sql[i], &st);
                if (r < 0)
                        return r;
                r = db_errno(sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT));
                if (r < 0)
                        return r;
                r = step_done(st);
                if (r < 0)
                        return r;
        }
        return 0;
}

int export_sinks_prune(sqlite3 *db, const ConfigSink *sinks, size_t n_sinks) {
        _cleanup_strv_free_ char **stale = NULL;
        size_t n_stale = 0;
        int r, rc;

        r = db_begin(db);
        if (r < 0)
                return r;
        {
                _cleanup_stmt_ sqlite3_stmt *st = NULL;

                r = db_prepare(db,
                               "SELECT name FROM export_sinks UNION SELECT sink FROM export_gpids "
                               "UNION SELECT sink FROM export_socket_gpids",
                               &st);
                if (r < 0)
                        goto fail;
                while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                        const char *name = strempty((const char *) sqlite3_column_text(st, 0));
                        char **l;

                        if (sink_configured(name, sinks, n_sinks))
                                continue;
                        l = realloc(stale, (n_stale + 2) * sizeof(char *));
                        if (!l) {
                                r = -ENOMEM;
                                goto fail;
                        }
                        stale = l;
                        stale[n_stale] = strdup(name);
                        stale[n_stale + 1] = NULL;
                        if (!stale[n_stale]) {
                                r = -ENOMEM;
                                goto fail;
                        }
                        n_stale++;
                }
                if (rc != SQLITE_DONE) {
                        r = db_errno(rc);
                        goto fail;
                }
        }
        for (size_t i = 0; i < n_stale; i++) {
                r = delete_sink(db, stale[i]);
                if (r < 0)
                        goto fail;
        }
        r = db_commit(db);
        if (r < 0)
                goto fail;
        return 0;
fail:
        db_rollback(db);
        return r;
}

static int gpids_write(sqlite3 *db, const char *sink, const SinkSocketResult *res) {
        _cleanup_stmt_ sqlite3_stmt *del1 = NULL, *del2 = NULL, *ins1 = NULL, *ins2 = NULL;
        int r;

        if ((r = db_prepare(db, "DELETE FROM export_gpids WHERE sink = ?1", &del1)) < 0 ||
            (r = db_prepare(db, "DELETE FROM export_socket_gpids WHERE sink = ?1", &del2)) < 0 ||
            (r = db_prepare(db, "INSERT OR REPLACE INTO export_gpids (sink, pid, gpid) VALUES (?1, ?2, ?3)",
                            &ins1)) < 0 ||
            (r = db_prepare(
                     db,
                     "INSERT OR REPLACE INTO export_socket_gpids "
                     "(sink, netns_inode, inode, local_gpid, remote_gpid) VALUES (?1, ?2, ?3, ?4, ?5)",
                     &ins2)) < 0)
                return r;
        if ((r = db_errno(sqlite3_bind_text(del1, 1, sink, -1, SQLITE_TRANSIENT))) < 0 ||
            (r = step_done(del1)) < 0 ||
            (r = db_errno(sqlite3_bind_text(del2, 1, sink, -1, SQLITE_TRANSIENT))) < 0 ||
            (r = step_done(del2)) < 0)
                return r;

        for (size_t i = 0; i < res->n_process_gpids; i++) {
                sqlite3_reset(ins1);
                if ((r = db_errno(sqlite3_bind_text(ins1, 1, sink, -1, SQLITE_TRANSIENT))) < 0 ||
                    (r = db_errno(sqlite3_bind_int64(ins1, 2, res->process_gpids[i].pid))) < 0 ||
                    (r = db_errno(sqlite3_bind_int64(ins1, 3, res->process_gpids[i].gpid))) < 0 ||
                    (r = step_done(ins1)) < 0)
                        return r;
        }
        for (size_t i = 0; i < res->n_socket_gpids; i++) {
                const SinkSocketGpid *g = &res->socket_gpids[i];

                sqlite3_reset(ins2);
                if ((r = db_errno(sqlite3_bind_text(ins2, 1, sink, -1, SQLITE_TRANSIENT))) < 0 ||
                    (r = db_errno(sqlite3_bind_int64(ins2, 2, (int64_t) g->netns_inode))) < 0 ||
                    (r = db_errno(sqlite3_bind_int64(ins2, 3, (int64_t) g->inode))) < 0 ||
                    (r = db_errno(sqlite3_bind_int64(ins2, 4, g->local_gpid))) < 0 ||
                    (r = db_errno(sqlite3_bind_int64(ins2, 5, g->remote_gpid))) < 0 ||
                    (r = step_done(ins2)) < 0)
                        return r;
        }
        return 0;
}

int export_gpids_store(sqlite3 *db, const char *sink, const SinkSocketResult *res) {
        int r;

        r = db_begin(db);
        if (r < 0)
                return r;
        r = gpids_write(db, sink, res);
        if (r >= 0)
                r = db_commit(db);
        if (r < 0)
                db_rollback(db);
        return r;
}
