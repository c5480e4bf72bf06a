/* Unit-test fixture: a temporary state.db filled by hand with scanner and matcher rows (the real daemons
 * are not needed to test the exporter's reading of them). Every helper aborts the test on failure. */
#pragma once

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct Fixture {
        char *dir;
        sqlite3 *db;
} Fixture;

void fixture_setup(Fixture *f);
void fixture_teardown(Fixture *f);

/* Runs SQL built from a printf format (sqlite3_mprintf: %Q quotes a string). */
void fixture_sql(Fixture *f, const char *fmt, ...);

void fixture_netns(Fixture *f, uint64_t inode, uint32_t idx);

/* A scanned process plus the matcher's decision for it (synced or not). tags_json is the decision's tags
 * column. */
void fixture_process(Fixture *f, uint32_t pid, const char *comm, const char *cmdline, const char *user,
                     uint32_t uid, uint64_t netns_inode, const char *name, const char *tags_json,
                     uint32_t rule, bool synced);

/* A socket with its owners (pids terminated by 0). */
void fixture_socket(Fixture *f, uint32_t id, uint64_t netns_inode, uint64_t inode, const char *proto,
                    const char *state, const char *local, uint16_t lport, const char *remote, uint16_t rport,
                    const char *role, int64_t first_seen, ...);
