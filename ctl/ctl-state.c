/* procctl's read access to state.db (see ctl.h): the same read-only open and the same single read
 * transaction as procsync-api, so a verb prints one consistent snapshot, exactly the API's document. */
#include "ctl.h"
#include "doc-db.h"
#include "log.h"

int ctl_open_state(const CtlContext *ctx, Config **ret_config, sqlite3 **ret_db) {
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_db_ sqlite3 *db = NULL;
        _cleanup_free_ char *error = NULL;
        int r;

        r = ctl_load_config(ctx, &c);
        if (r < 0)
                return r;
        r = doc_db_open(c->state_dir, &db, &error);
        if (r < 0)
                return log_error_errno(r, "%s", error ?: "Failed to open the database.");
        r = doc_read_begin(db);
        if (r < 0)
                return log_error_errno(r, "Failed to read the database: %s", sqlite3_errmsg(db));
        *ret_config = TAKE_PTR(c);
        *ret_db = TAKE_PTR(db);
        return 0;
}

int ctl_parse_pid(const char *s, pid_t *ret) {
        unsigned long v;
        char *end;

        if (!s || *s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno != 0 || *end != 0 || v == 0 || v > INT32_MAX)
                return -EINVAL;
        *ret = (pid_t) v;
        return 0;
}
