/* Opening and migrating state.db. See db.h.
 *
 * Writers starting at once (the daemons under systemd or `procctl run`) are serialised for the whole
 * opening phase by an flock() on the state directory: switching a new database to WAL needs an exclusive
 * lock for which SQLite does not call the busy handler (a racing opener got SQLITE_BUSY at once), and
 * the directory is the one object that exists before the database does. It is never the database file:
 * closing any other fd of that file would drop SQLite's own POSIX locks. Migrations also run in one
 * BEGIN IMMEDIATE transaction and re-read user_version under that lock.
 * A non-database file is detected by reading the schema (SQLite reports SQLITE_NOTADB on first access, not
 * at open). */
#include "db.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "parse-util.h"
#include "schema.h"
#include "time-util.h"

unsigned db_schema_version(void) {
        return schema_n_migrations;
}

int db_errno(int rc) {
        switch (rc & 0xff) {
        case SQLITE_OK:
        case SQLITE_ROW:
        case SQLITE_DONE:
                return 0;
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                return -EBUSY;
        case SQLITE_NOMEM:
                return -ENOMEM;
        case SQLITE_READONLY:
                return -EROFS;
        case SQLITE_FULL:
                return -ENOSPC;
        case SQLITE_CANTOPEN:
                return -ENOENT;
        case SQLITE_PERM:
        case SQLITE_AUTH:
                return -EACCES;
        case SQLITE_NOTADB:
        case SQLITE_CORRUPT:
                return -EBADMSG;
        case SQLITE_CONSTRAINT:
                return -EEXIST;
        case SQLITE_TOOBIG:
                return -E2BIG;
        default:
                return -EIO;
        }
}

int db_exec(sqlite3 *db, const char *sql) {
        return db_errno(sqlite3_exec(db, sql, NULL, NULL, NULL));
}

int db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **ret) {
        return db_errno(sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, ret, NULL));
}

int db_begin(sqlite3 *db) {
        return db_exec(db, "BEGIN IMMEDIATE");
}

int db_commit(sqlite3 *db) {
        return db_exec(db, "COMMIT");
}

void db_rollback(sqlite3 *db) {
        if (!sqlite3_get_autocommit(db))
                (void) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

static int read_user_version(sqlite3 *db, unsigned *ret) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int rc;

        rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
        if (rc != SQLITE_OK)
                return db_errno(rc);
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW)
                return db_errno(rc) ?: -EIO;
        *ret = (unsigned) sqlite3_column_int(st, 0);
        return 0;
}

/* Takes the write lock and migrates from whatever version the database has under the lock: another daemon
 * may have migrated it between our first look and the lock. */
static int migrate(sqlite3 *db, const char *path, char **ret_error) {
        unsigned v;
        int r;

        r = db_begin(db);
        if (r < 0) {
                error_set(ret_error, "%s: cannot lock the database for migration: %s", path,
                          sqlite3_errmsg(db));
                return r;
        }
        r = read_user_version(db, &v);
        if (r < 0) {
                error_set(ret_error, "%s: %s", path, sqlite3_errmsg(db));
                db_rollback(db);
                return r;
        }
        if (v > schema_n_migrations) {
                error_set(ret_error,
                          "%s: database schema version %u is newer than this binary's (%u); refusing to "
                          "touch it "
                          "(upgrade procsync or point --state-dir elsewhere)",
                          path, v, schema_n_migrations);
                db_rollback(db);
                return -EPROTO;
        }
        for (; v < schema_n_migrations; v++) {
                char pragma[64];

                r = db_exec(db, schema_migrations[v]);
                if (r >= 0) {
                        snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %u", v + 1);
                        r = db_exec(db, pragma);
                }
                if (r < 0) {
                        error_set(ret_error, "%s: migration %03u failed: %s", path, v + 1,
                                  sqlite3_errmsg(db));
                        db_rollback(db);
                        return r;
                }
        }
        r = db_commit(db);
        if (r < 0) {
                error_set(ret_error, "%s: cannot commit migration: %s", path, sqlite3_errmsg(db));
                db_rollback(db);
        }
        return r;
}

/* Switches to WAL and checks that it took: PRAGMA journal_mode answers the mode in effect, and a database
 * that cannot switch (e.g. on a file system without shared memory) silently stays in its old mode. */
static int enable_wal(sqlite3 *db, const char *path, char **ret_error) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        const unsigned char *mode;
        int rc;

        rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
        if (rc == SQLITE_OK)
                rc = sqlite3_step(st);
        if (rc != SQLITE_ROW) {
                error_set(ret_error, "%s: cannot enable WAL: %s", path, sqlite3_errmsg(db));
                return db_errno(rc) ?: -EIO;
        }
        mode = sqlite3_column_text(st, 0);
        if (!mode || strcasecmp((const char *) mode, "wal") != 0) {
                error_set(ret_error, "%s: cannot enable WAL (journal mode stays '%s')", path,
                          mode ? (const char *) mode : "?");
                return -EOPNOTSUPP;
        }
        return 0;
}

/* The first read failed: tell a file that is not a database from a WAL database that a read-only user
 * cannot read right now. A reader that may not write the directory needs the -wal and -shm files, which
 * exist only while a writer (a daemon) has the database open: SQLite then reads through a private copy of
 * the -shm (SQLite >= 3.22). Without them it reports SQLITE_READONLY_DIRECTORY or SQLITE_CANTOPEN. */
static int first_read_error(sqlite3 *db, const char *path, bool ro, char **ret_error) {
        int xrc = sqlite3_extended_errcode(db);

        int prc = xrc & 0xff;

        if (prc == SQLITE_NOTADB || prc == SQLITE_CORRUPT) {
                error_set(ret_error, "%s: not an SQLite database (%s); not touching it", path,
                          sqlite3_errmsg(db));
                return -EBADMSG;
        }
        if (ro && (prc == SQLITE_READONLY || prc == SQLITE_CANTOPEN || prc == SQLITE_PERM)) {
                error_set(ret_error,
                          "%s: cannot read the database read-only (%s): it is in WAL mode and its "
                          "'-wal'/'-shm' "
                          "files are missing or unusable; they exist while the procsync daemons run, or run "
                          "this "
                          "as a user that may write the state directory",
                          path, sqlite3_errmsg(db));
                return -EACCES;
        }
        error_set(ret_error, "%s: cannot read the database: %s", path, sqlite3_errmsg(db));
        return db_errno(xrc) ?: -EIO;
}

/* Takes the opening lock on the directory of `path` (see the top of this file), bounded in time so that a
 * stuck opener elsewhere becomes an error here, not a hang. */
static int lock_directory(const char *path, int *ret_fd, char **ret_error) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *dir = NULL;
        const char *slash = strrchr(path, '/');
        usec_t deadline;

        dir = !slash ? strdup(".") : slash == path ? strdup("/") : strndup(path, (size_t) (slash - path));
        if (!dir)
                return -ENOMEM;
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
                int r = negative_errno();
                error_set(ret_error, "%s: cannot open the state directory: %s", dir, strerror(-r));
                return r;
        }
        deadline = now_usec(CLOCK_MONOTONIC) + 2 * DB_BUSY_TIMEOUT_MS * USEC_PER_MSEC;
        while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                if (errno == EINTR)
                        continue;
                if (errno != EWOULDBLOCK) {
                        int r = negative_errno();
                        error_set(ret_error, "%s: cannot lock the state directory: %s", dir, strerror(-r));
                        return r;
                }
                if (now_usec(CLOCK_MONOTONIC) >= deadline) {
                        error_set(ret_error,
                                  "%s: another process has been opening the database for %d s; giving up",
                                  dir, 2 * DB_BUSY_TIMEOUT_MS / 1000);
                        return -EBUSY;
                }
                (void) usleep(10 * 1000);
        }
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int db_open_path(const char *path, DbOpenFlags flags, sqlite3 **ret, char **ret_error) {
        _cleanup_close_ int lock_fd = -EBADF; /* declared first: released after a failed db is closed */
        _cleanup_db_ sqlite3 *db = NULL;
        bool ro = flags & DB_READ_ONLY;
        unsigned v = 0;
        int rc, r;

        /* SQLite says only "unable to open database file"; a reader can say why. */
        if (ro && access(path, F_OK) < 0) {
                r = negative_errno();
                if (r == -ENOENT)
                        error_set(ret_error, "%s: database does not exist (the procsync daemons create it)",
                                  path);
                else
                        error_set(ret_error, "%s: cannot access database: %s", path, strerror(-r));
                return r;
        }

        if (!ro) {
                r = lock_directory(path, &lock_fd, ret_error);
                if (r < 0)
                        return r;
        }

        rc = sqlite3_open_v2(path, &db,
                             (ro ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
                                     SQLITE_OPEN_NOMUTEX,
                             NULL);
        if (rc != SQLITE_OK) {
                error_set(ret_error, "%s: cannot open database: %s", path,
                          db ? sqlite3_errmsg(db) : "out of memory");
                return db_errno(rc) ?: -EIO;
        }
        (void) sqlite3_extended_result_codes(db, 1);
        (void) sqlite3_busy_timeout(db, DB_BUSY_TIMEOUT_MS);

        /* The first real read: fails with SQLITE_NOTADB on a file that is not a database. Nothing is
         * written before the version is known, so a foreign or newer file is left exactly as it was
         * (switching a rollback-journal database to WAL would rewrite its header). */
        r = read_user_version(db, &v);
        if (r < 0)
                return first_read_error(db, path, ro, ret_error);

        if (v > schema_n_migrations) {
                error_set(ret_error,
                          "%s: database schema version %u is newer than this binary's (%u); refusing to "
                          "touch it "
                          "(upgrade procsync or point --state-dir elsewhere)",
                          path, v, schema_n_migrations);
                return -EPROTO;
        }

        if (ro) {
                if (v < schema_n_migrations) {
                        error_set(
                                ret_error,
                                "%s: database schema version %u is older than this binary's (%u); start the "
                                "daemons once to migrate it",
                                path, v, schema_n_migrations);
                        return -EPROTO;
                }
        } else {
                r = enable_wal(db, path, ret_error);
                if (r < 0)
                        return r;
                (void) db_exec(db, "PRAGMA synchronous = NORMAL");
        }

        r = db_exec(db, "PRAGMA foreign_keys = ON");
        if (r < 0) {
                error_set(ret_error, "%s: %s", path, sqlite3_errmsg(db));
                return r;
        }

        /* An up-to-date database is not locked at all: re-opening is a no-op. */
        if (!ro && v < schema_n_migrations) {
                r = migrate(db, path, ret_error);
                if (r < 0)
                        return r;
        }

        *ret = TAKE_PTR(db);
        return 0;
}

int db_open(const char *state_dir, DbOpenFlags flags, sqlite3 **ret, char **ret_error) {
        _cleanup_free_ char *path = NULL;

        if (asprintf(&path, "%s/%s", state_dir, DB_FILENAME) < 0)
                return -ENOMEM;
        if (!(flags & DB_READ_ONLY) && mkdir(state_dir, 0755) < 0 && errno != EEXIST) {
                int r = negative_errno();
                error_set(ret_error, "%s: cannot create state directory: %m", state_dir);
                return r;
        }
        return db_open_path(path, flags, ret, ret_error);
}
