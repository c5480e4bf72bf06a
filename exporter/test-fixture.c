/* See test-fixture.h. */
#include "test-fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "db.h"
#include "macro.h"

void fixture_setup(Fixture *f) {
        char tmpl[] = "/tmp/procsync-test-XXXXXX";
        _cleanup_free_ char *error = NULL;

        assert_non_null(mkdtemp(tmpl));
        f->dir = strdup(tmpl);
        assert_non_null(f->dir);
        assert_int_equal(db_open(f->dir, DB_READ_WRITE, &f->db, &error), 0);
}

void fixture_teardown(Fixture *f) {
        _cleanup_free_ char *cmd = NULL;

        if (f->db)
                sqlite3_close_v2(f->db);
        if (f->dir) {
                assert_true(asprintf(&cmd, "rm -rf '%s'", f->dir) > 0);
                assert_int_equal(system(cmd), 0);
        }
        free(f->dir);
        *f = (Fixture){};
}

void fixture_sql(Fixture *f, const char *fmt, ...) {
        char *sql, *err = NULL;
        va_list ap;
        int rc;

        va_start(ap, fmt);
        sql = sqlite3_vmprintf(fmt, ap);
        va_end(ap);
        assert_non_null(sql);
        rc = sqlite3_exec(f->db, sql, NULL, NULL, &err);
        if (rc != SQLITE_OK)
                fail_msg("%s: %s", sql, err);
        sqlite3_free(sql);
}

void fixture_netns(Fixture *f, uint64_t inode, uint32_t idx) {
        fixture_sql(f, "INSERT INTO scan_netns (inode, idx, first_seen, last_seen) VALUES (%lld, %u, 1, 1)",
                    (long long) inode, idx);
}

void fixture_process(Fixture *f, uint32_t pid, const char *comm, const char *cmdline, const char *user,
                     uint32_t uid, uint64_t netns_inode, const char *name, const char *tags_json,
                     uint32_t rule, bool synced) {
        fixture_sql(
                f,
                "INSERT INTO scan_processes (pid, start_ticks, start_time, ppid, comm, cmdline, uid, user, "
                "netns_inode, container_id, first_seen, last_seen, changed_generation) "
                "VALUES (%u, %u, %u, 1, %Q, %Q, %u, %Q, %lld, '', 1, 1, 1)",
                pid, pid * 10, 1700000000 + pid, comm, cmdline, uid, user, (long long) netns_inode);
        fixture_sql(
                f,
                "INSERT INTO match_decisions (pid, start_ticks, action, rule, name, reason, synced, tags, "
                "decided_at) VALUES (%u, %u, %Q, %u, %Q, 'rule', %d, %Q, 1)",
                pid, pid * 10, synced ? "accept" : "drop", rule, name, synced ? 1 : 0, tags_json);
}

void fixture_socket(Fixture *f, uint32_t id, uint64_t netns_inode, uint64_t inode, const char *proto,
                    const char *state, const char *local, uint16_t lport, const char *remote, uint16_t rport,
                    const char *role, int64_t first_seen, ...) {
        va_list ap;
        unsigned pid;

        fixture_sql(f,
                    "INSERT INTO scan_sockets (id, netns_inode, inode, proto, family, state, local_addr, "
                    "local_port, remote_addr, remote_port, role, first_seen, last_seen) "
                    "VALUES (%u, %lld, %lld, %Q, %d, %Q, %Q, %u, %Q, %u, %Q, %lld, %lld)",
                    id, (long long) netns_inode, (long long) inode, proto, strchr(local, ':') ? 6 : 4, state,
                    local, (unsigned) lport, remote, (unsigned) rport, role, (long long) first_seen,
                    (long long) first_seen);
        va_start(ap, first_seen);
        while ((pid = va_arg(ap, unsigned)) != 0)
                fixture_sql(f, "INSERT INTO scan_socket_owners (socket_id, pid) VALUES (%u, %u)", id, pid);
        va_end(ap);
}
