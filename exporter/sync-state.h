/* The state the exporter delivers to every sink: built once per change from the matcher's decisions and
 * the scanner's sockets, sorted (processes by pid, tags by key then value, sockets by netns, proto,
 * addresses), and versioned: `version` starts at the exporter's first start (epoch seconds, kept in
 * export_state) and grows by 1 whenever `digest` (over every synced field) changes. */
#pragma once

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include "macro.h"
#include "time-util.h"

typedef struct SyncTag {
        char *key;
        char *value;
} SyncTag;

typedef struct SyncProcess {
        uint32_t pid;
        uint32_t ppid;
        uint64_t start_time;    /* epoch seconds */
        char *name;             /* after rules (rewrite-name) */
        char *process_name;     /* kernel comm */
        char *cmdline;
        char *user;
        uint32_t uid;
        uint64_t netns_inode;   /* 0 when unknown */
        uint32_t netns_idx;     /* the stable small index (DESIGN.md "Sockets") */
        char *container_id;     /* "" when none */
        SyncTag *tags;          /* own + inherited, sorted by (key, value) */
        size_t n_tags;
        uint32_t rule;
} SyncProcess;

typedef enum SyncSocketRole {
        SYNC_ROLE_CLIENT,
        SYNC_ROLE_SERVER,
} SyncSocketRole;

typedef struct SyncSocket {
        bool udp;                 /* false: TCP */
        uint8_t family;           /* 4 or 6 */
        char state[16];           /* listen, established, bound, connected */
        char local_addr[46];      /* text form; v4-mapped shown as IPv4 */
        uint16_t local_port;
        char remote_addr[46];
        uint16_t remote_port;
        SyncSocketRole role;
        uint32_t *pids;           /* every owner, ascending; only synced processes */
        size_t n_pids;
        uint64_t netns_inode;
        uint32_t netns_idx;
        uint64_t inode;
        int64_t first_seen;       /* epoch ms */
} SyncSocket;

typedef struct SyncState {
        uint64_t version;
        char digest[65];          /* hex SHA-256 (or another digest) over every synced field */
        char *hostname;
        SyncProcess *processes;
        size_t n_processes;
        SyncSocket *sockets;
        size_t n_sockets;
        uint64_t match_generation; /* match_daemon.generation the state was built from */
        int64_t built_at;          /* epoch ms */
} SyncState;

SyncState *sync_state_free(SyncState *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(SyncState *, sync_state_free);
#define _cleanup_sync_state_ _cleanup_(sync_state_freep)

typedef struct SyncBuildParams {
        const char *hostname;
        int64_t now_ms;              /* wall clock of the build, epoch ms */
        usec_t socket_min_lifetime;  /* os-proc-socket-min-lifetime: sockets younger than this are left out */
} SyncBuildParams;

/* Reads the synced processes (match_decisions.synced = 1 of the process instance the scanner still
 * sees) and their sockets in one read transaction, sorted, with the digest computed; version is 0 (the
 * caller assigns it, see export-db.h). Returns -EBADMSG when a row is malformed (e.g. a tags column that
 * is not a JSON object of strings). */
int sync_state_build(sqlite3 *db, const SyncBuildParams *p, SyncState **ret);

/* (Re)computes st->digest: hex SHA-256 over a canonical, length-prefixed serialization of the hostname
 * and of every field of every process and socket (everything but version and digest). Call it after
 * changing a state by hand. */
void sync_state_compute_digest(SyncState *st);
