/* See doc-db.h. The conversions are small, but every document uses them, so a NULL column, a stored JSON
 * text or a string that is not UTF-8 is handled the same way everywhere. */
#include "doc-db.h"

#include <inttypes.h>
#include <stdio.h>

int doc_db_open(const char *state_dir, sqlite3 **ret, char **ret_error) {
        sqlite3 *db = NULL;
        int r;

        r = db_open(state_dir, DB_READ_ONLY, &db, ret_error);
        if (r < 0)
                return r;
        (void) sqlite3_busy_timeout(db, DOC_DB_BUSY_TIMEOUT_MS);
        *ret = db;
        return 0;
}

int doc_read_begin(sqlite3 *db) {
        return db_exec(db, "BEGIN");
}

void doc_read_end(sqlite3 *db) {
        if (!sqlite3_get_autocommit(db))
                (void) db_exec(db, "COMMIT");
}

int doc_data_version(sqlite3 *db, uint64_t *ret) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int rc, r;

        r = db_prepare(db, "PRAGMA data_version", &st);
        if (r < 0)
                return r;
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW)
                return doc_sqlite_error(rc);
        *ret = (uint64_t) sqlite3_column_int64(st, 0);
        return 0;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when it is not one. Overlong forms, surrogates and
 * code points above U+10FFFF are invalid, as jansson sees them. */
static size_t utf8_sequence(const unsigned char *s) {
        unsigned c = s[0];
        size_t n;
        uint32_t cp;

        if (c < 0x80)
                return 1;
        if (c >= 0xC2 && c <= 0xDF)
                n = 2, cp = c & 0x1F;
        else if (c >= 0xE0 && c <= 0xEF)
                n = 3, cp = c & 0x0F;
        else if (c >= 0xF0 && c <= 0xF4)
                n = 4, cp = c & 0x07;
        else
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xC0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3F);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
                return 0;
        return n;
}

char *doc_utf8_repair(const char *s) {
        size_t len = strlen(s), j = 0;
        char *fixed;

        fixed = malloc(len * 3 + 1);
        if (!fixed)
                return NULL;
        for (size_t i = 0; i < len;) {
                size_t n = utf8_sequence((const unsigned char *) s + i);

                if (n == 0) {
                        memcpy(fixed + j, "\xEF\xBF\xBD", 3);
                        j += 3;
                        i++;
                        continue;
                }
                memcpy(fixed + j, s + i, n);
                j += n;
                i += n;
        }
        fixed[j] = 0;
        return fixed;
}

json_t *doc_json_string(const char *s) {
        _cleanup_free_ char *fixed = NULL;
        json_t *v;

        if (!s)
                return json_null();
        v = json_string(s);
        if (v)
                return v;
        /* json_string() also fails on allocation; then the repair fails the same way. */
        fixed = doc_utf8_repair(s);
        return fixed ? json_string(fixed) : NULL;
}

json_t *doc_column_string(sqlite3_stmt *st, int i) {
        if (sqlite3_column_type(st, i) == SQLITE_NULL)
                return json_null();
        return doc_json_string((const char *) sqlite3_column_text(st, i));
}

json_t *doc_column_integer(sqlite3_stmt *st, int i) {
        if (sqlite3_column_type(st, i) == SQLITE_NULL)
                return json_null();
        return json_integer(sqlite3_column_int64(st, i));
}

json_t *doc_column_json(sqlite3_stmt *st, int i) {
        const char *text;
        json_t *v;

        if (sqlite3_column_type(st, i) == SQLITE_NULL)
                return json_null();
        text = (const char *) sqlite3_column_text(st, i);
        v = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
        return v ?: json_null();
}

const char *doc_column_text(sqlite3_stmt *st, int i) {
        return (const char *) sqlite3_column_text(st, i) ?: "";
}

int doc_set(json_t *o, const char *key, json_t *v) {
        if (!v)
                return -ENOMEM;
        return json_object_set_new(o, key, v) < 0 ? -ENOMEM : 0;
}

json_t *doc_json_endpoint(int family, const char *addr, int64_t port) {
        _cleanup_free_ char *s = NULL;

        if (asprintf(&s, family == 6 ? "[%s]:%" PRIi64 : "%s:%" PRIi64, addr, port) < 0)
                return NULL;
        return doc_json_string(s);
}

int doc_sqlite_error(int rc) {
        return db_errno(rc) ?: -EIO;
}
