/* The status document (`GET /v1/status`, `procctl status --json`) and the health verdict behind
 * `GET /healthz` and procctl status's exit code.
 *
 *   {"version", "hostname", "config": {"path", "ok", "error"},
 *    "scanner":  DAEMON + {"counts": {"processes", "sockets", "netns"}},
 *    "matcher":  DAEMON + {"counts": {"decided", "synced", "dropped", "not_eligible"},
 *                          "tag_exec": {"configured", "ok", "error", "last_run", "last_ok", "duration_ms",
 *                                       "entries", "skipped", "failures"},
 *                          "rules": [{"rule", "hits", "limit_hits"}, ...]},
 *    "exporter": DAEMON + {"version", "sinks": [{"name", "type", "target", "acked_version", "in_sync",
 *                          "last_attempt_at", "last_ok_at", "last_error", "failures", "errors_total",
 *                          "next_attempt_at"}, ...]},
 *    "state_fs": {"available_bytes", "size_bytes"},      (the file system of state.db's directory)
 *    "health": {"healthy", "problems": [...], "warnings": [...]}}
 *   DAEMON = {"pid", "alive", "started_at", "last_cycle_at", "last_cycle_ms", "generation", "fresh",
 *             "config_path", "config_ok", "config_error", "last_error", "stats"}
 *
 * Times are epoch milliseconds. A sink's target is where it delivers (url, path, controllers; null until
 * the exporter recorded it). A daemon that never started has a DAEMON of nulls with alive false.
 * alive: its pid exists and still has the start time of the heartbeat row (a reused pid is not it).
 * fresh: its last heartbeat is at most DOC_HEALTH_CYCLES of its cycle periods old (doc_daemon_period()).
 * config.ok is false when a daemon reports that its last reload failed; config.error says which and why.
 *
 * healthy (what /healthz answers) = the database was readable, every daemon is fresh and the state
 * directory has at least DOC_STATE_FS_MIN_FREE bytes available; each reason
 * against it is a "problems" entry. "warnings" are what an operator should look at but that does not make
 * the suite unhealthy by that definition: a dead daemon whose heartbeat is still recent, a failed reload,
 * a daemon's last error, a failing tag command or sink. */
#pragma once

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>

#include "config.h"
#include "daemon.h"
#include "time-util.h"

#define DOC_HEALTH_CYCLES 3
/* Less than this available in the state directory's file system is a problem: an SQLite transaction
 * needs new pages (WAL frames of 4 KiB plus a header each) for every page it changes. */
#define DOC_STATE_FS_MIN_FREE (64 * 1024)
/* The exporter writes its heartbeat at least this often when nothing happens (and the matcher follows
 * the scanner), so no daemon is expected to report more often than this. */
#define DOC_HEARTBEAT_FLOOR (10 * USEC_PER_SEC)

/* The cycle period of a daemon under config c: the scanner's is process_scan_interval (or the socket sync
 * interval when that is shorter and on); the matcher and exporter follow it but report at least every
 * DOC_HEARTBEAT_FLOOR. */
usec_t doc_daemon_period(const Config *c, DaemonKind kind);

/* now_ms: the wall clock the freshness is judged at (tests pin it). */
int doc_status(sqlite3 *db, const Config *c, int64_t now_ms, json_t **ret);

/* {"healthy": bool, "problems": [...]} without the rest of the status. db NULL: the database could not be
 * opened (db_error says why); that is unhealthy. */
int doc_health(sqlite3 *db, const char *db_error, const Config *c, int64_t now_ms, json_t **ret,
               bool *ret_healthy);
