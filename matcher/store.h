/* procsync-matcher's side of state.db: it reads scan_daemon/scan_processes and writes the match_* tables
 * (schema/001-initial.sql). The write functions run inside the caller's transaction (db_begin() ...
 * db_commit()), so a cycle's decisions, tag output, tag command status, rule statistics and heartbeat are
 * published together. */
#pragma once

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "decide.h"
#include "rules.h"
#include "tag-parse.h"

/* The scanner's generation and its processes, read in one read transaction so they belong together. */
int store_read_scan(sqlite3 *db, ScanTable *ret);

/* The last good tag output (match_tag_output), kept across failures and restarts. */
int store_read_tags(sqlite3 *db, TagList **ret);

/* Brings match_decisions to `d`: inserts new processes, rewrites changed rows (with decided_at = now),
 * deletes the gone ones and leaves the rest alone. *ret_changed: whether any row changed. */
int store_write_decisions(sqlite3 *db, const Decisions *d, int64_t now_ms, bool *ret_changed);

/* Replaces match_tag_output with `l`. */
int store_write_tags(sqlite3 *db, const TagList *l);

/* The match_tag_exec row. */
typedef struct TagExecRow {
        bool ok;
        const char *error;          /* NULL when ok and nothing was skipped */
        int64_t last_run;           /* epoch ms; 0: never ran (no command configured) */
        int64_t last_ok;            /* epoch ms of this run if it succeeded; 0: keep the stored value */
        int64_t duration_ms;        /* -1: none */
        uint64_t entries, skipped;  /* of the last good output */
        uint64_t failures;          /* failed runs since the daemon started */
        const char *stderr_excerpt; /* NULL or the first 4 KiB */
} TagExecRow;

int store_write_tag_exec(sqlite3 *db, const TagExecRow *row);

/* match_rule_stats: one row per rule, 0..n-1 (n = configured rules + the implied accept). */
int store_write_rule_stats(sqlite3 *db, const RuleStats *stats, size_t n);

/* match_daemon.scan_generation: the scan the decisions were made from. */
int store_write_scan_generation(sqlite3 *db, uint64_t generation);
