/* The deepflow sink's messages: SyncState to serialized GenesisSyncRequest / GPIDSyncRequest (protobuf-c,
 * exporter/deepflow.proto) and the answers back. Pure functions over buffers, so the unit test checks every
 * field without a server. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sink-deepflow-host.h"
#include "sink.h"
#include "sync-state.h"

/* The header every message carries: who the agent is. */
typedef struct DeepflowIdentity {
        const char *ctrl_ip;  /* agent_info.ip, source_ip, GPIDSync ctrl_ip */
        const char *ctrl_mac; /* agent_info.mac, GPIDSync ctrl_mac */
        uint32_t agent_id;
        uint32_t agent_type;
        const char *team_id; /* NULL: unset */
} DeepflowIdentity;

/* A GenesisSyncRequest for `st`: `full` adds platform_data (hostname, `ifs`) and process_data (every
 * process, sorted by pid, tags sorted by key then value); otherwise a heartbeat with the header fields
 * only. */
int deepflow_genesis_pack(const DeepflowIdentity *id, const SyncState *st, bool full,
                          const DeepflowInterface *ifs, size_t n_ifs, uint8_t **ret, size_t *ret_len);

/* The version of a GenesisSyncResponse (0 when unset). */
int deepflow_genesis_unpack_version(const uint8_t *buf, size_t len, uint64_t *ret_version);

/* Whether a socket goes to GPIDSync: TCP established or connected UDP, both ends IPv4 (v4-mapped addresses
 * count as IPv4), at least one synced owner. */
bool deepflow_socket_syncable(const SyncSocket *s);

/* A GPIDSyncRequest for `st`: one entry per syncable socket, in st's order. *ret_index (malloc'd, may be
 * NULL when there are no entries) gives, per entry, the index of its socket in st->sockets. */
int deepflow_gpid_pack(const DeepflowIdentity *id, const SyncState *st, uint8_t **ret, size_t *ret_len,
                       size_t **ret_index, size_t *ret_n_entries);

/* Maps a GPIDSyncResponse back: the gpid of each of our pids that the server knows (sorted by pid, gpid 0
 * left out) and (local, remote) gpids per sent socket. -EPROTO (with a reason) when the answer does not
 * have one entry per request entry. */
int deepflow_gpid_unpack(const uint8_t *buf, size_t len, const SyncState *st, const size_t *index,
                         size_t n_entries, SinkSocketResult *ret, char **ret_error);
