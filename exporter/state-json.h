/* The one JSON form of the sync state, shared by the http and file sinks (and the same field names as the
 * REST API's /v1/processes and /v1/sockets):
 *
 *   {"version": N, "hostname": "h", "full": true,
 *    "processes": [{"pid", "ppid", "start_time", "name", "process_name", "cmdline", "user", "uid",
 *                   "netns_id", "container_id", "tags": {"k": "v", ...}, "rule"}, ...],
 *    "sockets": [{"proto", "state", "local": "IP:PORT", "remote": "IP:PORT", "role", "pids": [...],
 *                 "netns_id", "inode", "first_seen"}, ...]}
 *
 * A heartbeat (full = false) has only version, hostname and full. IPv6 endpoints are "[addr]:port".
 * Text that is not valid UTF-8 has each bad byte replaced by U+FFFD (JSON requires UTF-8). */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "macro.h"
#include "sync-state.h"

/* jansson's own cleanup helper (json_decrefp, NULL-safe), under the suite's naming. */
#define _cleanup_json_ _cleanup_(json_decrefp)

json_t *state_json_process(const SyncProcess *p);
json_t *state_json_socket(const SyncSocket *k);

/* The whole document (full) or the heartbeat (!full). */
int state_json_document(const SyncState *st, bool full, json_t **ret);

/* The document serialized compactly, keys in the order above, without a trailing newline. */
int state_json_dump(const SyncState *st, bool full, char **ret, size_t *ret_len);
