/* What every JSON document of procsync-api and procctl shares: the read-only connection to state.db, the
 * read transaction each document is built in, and the conversions from SQLite columns to jansson values.
 *
 * A document is always built inside one read transaction (doc_read_begin() ... doc_read_end()), so it is
 * one consistent snapshot: a writer's half-done cycle is never visible, and in WAL mode a reader never
 * waits for a writer. */
#pragma once

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "db.h"
#include "macro.h"

/* A reader gives up quickly on the rare SQLITE_BUSY of a WAL reader (recovery after a writer crashed):
 * procsync-api answers 503 rather than stall every other client behind one slow open. */
#define DOC_DB_BUSY_TIMEOUT_MS 500

/* db_open(state_dir, DB_READ_ONLY) with the reader's busy timeout. *ret_error as db_open(). */
int doc_db_open(const char *state_dir, sqlite3 **ret, char **ret_error);

/* BEGIN (deferred: the first SELECT takes the snapshot) and its end. doc_read_end() commits, which for a
 * read transaction only releases the snapshot; it cannot lose anything. */
int doc_read_begin(sqlite3 *db);
void doc_read_end(sqlite3 *db);

/* PRAGMA data_version: changes exactly when another connection committed to the database. */
int doc_data_version(sqlite3 *db, uint64_t *ret);

/* Text as a JSON string; NULL gives JSON null. Bytes that are not UTF-8 become U+FFFD: the scanner
 * stores repaired text, but a document must never fail because one row is odd. Returns NULL only when
 * out of memory. */
json_t *doc_json_string(const char *s);

/* A copy of s with every byte that is not part of valid UTF-8 replaced by U+FFFD. */
char *doc_utf8_repair(const char *s);

/* Column i of the current row: text, integer, or stored JSON text parsed (an unparsable one is JSON
 * null). A NULL column is JSON null. NULL only when out of memory. */
json_t *doc_column_string(sqlite3_stmt *st, int i);
json_t *doc_column_integer(sqlite3_stmt *st, int i);
json_t *doc_column_json(sqlite3_stmt *st, int i);
const char *doc_column_text(sqlite3_stmt *st, int i); /* "" for NULL */

/* json_object_set_new() that reports a NULL value (allocation failure) as -ENOMEM. */
int doc_set(json_t *o, const char *key, json_t *v);

/* "1.2.3.4:80" or "[::1]:80" from a stored address and port. */
json_t *doc_json_endpoint(int family, const char *addr, int64_t port);

/* Maps an SQLite error of a read to -errno (db_errno() with -EIO as the floor). */
int doc_sqlite_error(int rc);
