/* state.db: the one SQLite database the daemons share (see schema/001-initial.sql for the tables).
 *
 * db_open() opens (and, for writers, creates and migrates) the database with WAL, a busy timeout and
 * foreign keys. Readers (procsync-api, procctl) open read-only and never migrate. A database whose
 * user_version is newer than this binary's schema, or a file that is not SQLite, is a clear error
 * (-EPROTO / -EBADMSG) and is never recreated.
 *
 * Read-only opens: the file must exist (-ENOENT otherwise, never created) and be at exactly this binary's
 * schema version (-EPROTO). A reader that may not write the state directory can read a WAL database only
 * while its -wal and -shm files exist, i.e. while a daemon has it open; otherwise -EACCES with an
 * explanation. Readers are never blocked by a writer's open transaction (WAL). */
#pragma once

#include <sqlite3.h>

#include "macro.h"

#define DB_FILENAME "state.db"
/* Touched by every writer after each commit, so that others wake on it (daemon_watch_state()). */
#define DB_COMMIT_FILENAME "state.db-commit"
#define DB_BUSY_TIMEOUT_MS 5000

typedef enum DbOpenFlags {
        DB_READ_WRITE = 0,      /* create if missing, migrate to the current schema */
        DB_READ_ONLY = 1 << 0,  /* never create, never migrate; the schema must be exactly current */
} DbOpenFlags;

/* Opens "<state_dir>/state.db". On failure, *ret_error (if given) receives a malloc'd explanation
 * suitable for the user (free it). */
int db_open(const char *state_dir, DbOpenFlags flags, sqlite3 **ret, char **ret_error);

/* Opens a database file at an exact path (tests, tools). */
int db_open_path(const char *path, DbOpenFlags flags, sqlite3 **ret, char **ret_error);

/* The schema version this binary knows. */
unsigned db_schema_version(void);

/* Maps an SQLite result code to a negative errno (SQLITE_BUSY -> -EBUSY, SQLITE_FULL -> -ENOSPC, ...). */
int db_errno(int sqlite_rc);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. */
int db_begin(sqlite3 *db);
int db_commit(sqlite3 *db);
void db_rollback(sqlite3 *db);

/* Runs SQL without results. */
int db_exec(sqlite3 *db, const char *sql);

/* Prepares a statement (persistent when it is reused every cycle). */
int db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **ret);

static inline void sqlite3_finalizep(sqlite3_stmt **p) {
        if (*p)
                sqlite3_finalize(*p);
}
#define _cleanup_stmt_ _cleanup_(sqlite3_finalizep)

static inline void sqlite3_closep(sqlite3 **p) {
        if (*p)
                sqlite3_close_v2(*p);
}
#define _cleanup_db_ _cleanup_(sqlite3_closep)
