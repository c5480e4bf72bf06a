/* SyncState <-> DeepFlow messages (exporter/deepflow.proto, protobuf-c).
 *
 * The protobuf-c structs are built on the stack and in a few arrays that point into the SyncState's own
 * strings (nothing is copied), packed into one malloc'd buffer, and the arrays freed: a message lives only
 * as long as its packing.
 *
 * GenesisSync (reference/deepflow-sync.md): processes sorted by pid and each process's tags by (key, value)
 * — the state builder sorts them already, the sink sorts again so the wire order never depends on it.
 * netns_id is the netns inode truncated to 32 bits, as the reference agent sends it; biz_type is left
 * unset (the reference agent never sets it). platform_data carries raw_hostname and the interfaces;
 * platform_enabled stays unset (false): it asks the controller to build VM/host resources from the
 * platform data, which is the hypervisor agents' business, and the process data is stored without it.
 *
 * GPIDSync: one entry per TCP ESTABLISHED / connected UDP IPv4 socket. Side 0 is the client, side 1 the
 * server: a client socket fills pid_0/ipv4_0/port_0 from its local end and ipv4_1/port_1 from the remote,
 * a server socket pid_1/ipv4_1/port_1 from its local end and ipv4_0/port_0 from the remote; UDP is always
 * a client. A socket shared by several processes is sent once, with its lowest synced pid (the parent that
 * created it, in the usual fork-after-socket case): several entries for one flow would make the server
 * attach the flow to an arbitrary one of them. netns_idx is the socket's stable netns index; the epc ids
 * and the *_real fields (TOA/proxy real client, which we do not observe) stay unset, as in the reference
 * agent when it has no real-client information. */

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deepflow.pb-c.h"
#include "macro.h"
#include "sink-deepflow-error.h"
#include "sink-deepflow-msg.h"

static int pack_message(const ProtobufCMessage *m, uint8_t **ret, size_t *ret_len) {
        size_t len = protobuf_c_message_get_packed_size(m);
        uint8_t *buf = malloc(len > 0 ? len : 1);

        if (!buf)
                return -ENOMEM;
        if (protobuf_c_message_pack(m, buf) != len) {
                free(buf);
                return -EIO;
        }
        *ret = buf;
        *ret_len = len;
        return 0;
}

static int process_info_cmp(const void *a, const void *b) {
        const Agent__ProcessInfo *x = *(Agent__ProcessInfo *const *) a,
                                 *y = *(Agent__ProcessInfo *const *) b;
        return x->pid < y->pid ? -1 : x->pid > y->pid;
}

static int tag_cmp(const void *a, const void *b) {
        const Agent__Tag *x = *(Agent__Tag *const *) a, *y = *(Agent__Tag *const *) b;
        int c = strcmp(strempty(x->key), strempty(y->key));
        return c != 0 ? c : strcmp(strempty(x->value), strempty(y->value));
}

/* The arrays behind one GenesisSyncRequest. */
typedef struct GenesisArrays {
        Agent__ProcessInfo *procs;
        Agent__ProcessInfo **proc_ptrs;
        Agent__Tag *tags;
        Agent__Tag **tag_ptrs;
        Agent__InterfaceInfo *ifs;
        Agent__InterfaceInfo **if_ptrs;
} GenesisArrays;

static void genesis_arrays_done(GenesisArrays *a) {
        free(a->procs);
        free(a->proc_ptrs);
        free(a->tags);
        free(a->tag_ptrs);
        free(a->ifs);
        free(a->if_ptrs);
}

static void identity_to_agent_id(const DeepflowIdentity *id, Agent__AgentId *info) {
        info->ip = (char *) id->ctrl_ip;
        info->mac = (char *) id->ctrl_mac;
        info->team_id = (char *) id->team_id;
}

int deepflow_genesis_pack(const DeepflowIdentity *id, const SyncState *st, bool full,
                          const DeepflowInterface *ifs, size_t n_ifs, uint8_t **ret, size_t *ret_len) {
        Agent__GenesisSyncRequest req = AGENT__GENESIS_SYNC_REQUEST__INIT;
        Agent__AgentId info = AGENT__AGENT_ID__INIT;
        Agent__GenesisPlatformData platform = AGENT__GENESIS_PLATFORM_DATA__INIT;
        Agent__GenesisProcessData pdata = AGENT__GENESIS_PROCESS_DATA__INIT;
        _cleanup_(genesis_arrays_done) GenesisArrays a = {};
        char hostname[HOST_NAME_MAX + 1] = "";
        size_t n_tags = 0, t = 0;

        req.has_version = true;
        req.version = st->version;
        req.has_agent_type = true;
        req.agent_type = (Agent__AgentType) id->agent_type;
        req.source_ip = (char *) id->ctrl_ip;
        req.has_agent_id = true;
        req.agent_id = id->agent_id;
        req.team_id = (char *) id->team_id;
        identity_to_agent_id(id, &info);
        req.agent_info = &info;

        if (!full)
                return pack_message(&req.base, ret, ret_len);

        for (size_t i = 0; i < st->n_processes; i++)
                n_tags += st->processes[i].n_tags;

        a.procs = calloc(st->n_processes > 0 ? st->n_processes : 1, sizeof(Agent__ProcessInfo));
        a.proc_ptrs = calloc(st->n_processes > 0 ? st->n_processes : 1, sizeof(Agent__ProcessInfo *));
        a.tags = calloc(n_tags > 0 ? n_tags : 1, sizeof(Agent__Tag));
        a.tag_ptrs = calloc(n_tags > 0 ? n_tags : 1, sizeof(Agent__Tag *));
        a.ifs = calloc(n_ifs > 0 ? n_ifs : 1, sizeof(Agent__InterfaceInfo));
        a.if_ptrs = calloc(n_ifs > 0 ? n_ifs : 1, sizeof(Agent__InterfaceInfo *));
        if (!a.procs || !a.proc_ptrs || !a.tags || !a.tag_ptrs || !a.ifs || !a.if_ptrs)
                return -ENOMEM;

        for (size_t i = 0; i < st->n_processes; i++) {
                const SyncProcess *p = &st->processes[i];
                Agent__ProcessInfo *pi = &a.procs[i];

                agent__process_info__init(pi);
                pi->name = (char *) strempty(p->name);
                pi->has_pid = true;
                pi->pid = p->pid;
                pi->process_name = (char *) strempty(p->process_name);
                pi->cmdline = (char *) strempty(p->cmdline);
                pi->user = (char *) strempty(p->user);
                pi->has_start_time = true;
                /* A u32 of epoch seconds: 0 past 2106, as the reference agent does. */
                pi->start_time = p->start_time <= UINT32_MAX ? (uint32_t) p->start_time : 0;
                pi->has_netns_id = true;
                pi->netns_id = (uint32_t) p->netns_inode;
                pi->container_id = (char *) strempty(p->container_id);

                pi->n_os_app_tags = p->n_tags;
                pi->os_app_tags = &a.tag_ptrs[t];
                for (size_t j = 0; j < p->n_tags; j++, t++) {
                        agent__tag__init(&a.tags[t]);
                        a.tags[t].key = (char *) strempty(p->tags[j].key);
                        a.tags[t].value = (char *) strempty(p->tags[j].value);
                        a.tag_ptrs[t] = &a.tags[t];
                }
                qsort(pi->os_app_tags, pi->n_os_app_tags, sizeof(Agent__Tag *), tag_cmp);
                a.proc_ptrs[i] = pi;
        }
        qsort(a.proc_ptrs, st->n_processes, sizeof(Agent__ProcessInfo *), process_info_cmp);
        pdata.n_process_entries = st->n_processes;
        pdata.process_entries = a.proc_ptrs;

        for (size_t i = 0; i < n_ifs; i++) {
                agent__interface_info__init(&a.ifs[i]);
                a.ifs[i].name = ifs[i].name;
                a.ifs[i].has_mac = true;
                a.ifs[i].mac = ifs[i].mac;
                a.ifs[i].n_ip = ifs[i].n_ips;
                a.ifs[i].ip = ifs[i].ips;
                a.if_ptrs[i] = &a.ifs[i];
        }
        platform.n_interfaces = n_ifs;
        platform.interfaces = a.if_ptrs;

        /* The server treats a message without platform_data as a heartbeat: raw_hostname is always set. */
        if (!isempty(st->hostname))
                platform.raw_hostname = st->hostname;
        else {
                if (gethostname(hostname, sizeof(hostname) - 1) < 0)
                        return negative_errno();
                platform.raw_hostname = hostname;
        }

        req.platform_data = &platform;
        req.process_data = &pdata;
        return pack_message(&req.base, ret, ret_len);
}

int deepflow_genesis_unpack_version(const uint8_t *buf, size_t len, uint64_t *ret_version) {
        Agent__GenesisSyncResponse *resp = agent__genesis_sync_response__unpack(NULL, len, buf);

        if (!resp)
                return -EBADMSG;
        *ret_version = resp->has_version ? resp->version : 0;
        agent__genesis_sync_response__free_unpacked(resp, NULL);
        return 0;
}

static bool parse_ipv4(const char *s, uint32_t *ret) {
        struct in_addr a;

        if (inet_pton(AF_INET, s, &a) != 1)
                return false;
        *ret = ntohl(a.s_addr);
        return true;
}

bool deepflow_socket_syncable(const SyncSocket *s) {
        uint32_t l, r;

        if (s->n_pids == 0)
                return false;
        if (s->udp ? !streq(s->state, "connected") : !streq(s->state, "established"))
                return false;
        return parse_ipv4(s->local_addr, &l) && parse_ipv4(s->remote_addr, &r);
}

/* UDP is always the client side: a connected UDP socket says nothing about who serves. */
static bool socket_is_server(const SyncSocket *s) {
        return !s->udp && s->role == SYNC_ROLE_SERVER;
}

static void socket_to_entry(const SyncSocket *s, Agent__GPIDSyncEntry *e) {
        uint32_t local = 0, remote = 0;

        (void) parse_ipv4(s->local_addr, &local);
        (void) parse_ipv4(s->remote_addr, &remote);

        agent__gpidsync_entry__init(e);
        e->has_protocol = true;
        e->protocol = s->udp ? AGENT__SERVICE_PROTOCOL__UDP_SERVICE : AGENT__SERVICE_PROTOCOL__TCP_SERVICE;
        if (socket_is_server(s)) {
                e->has_pid_1 = e->has_ipv4_1 = e->has_port_1 = true;
                e->pid_1 = s->pids[0];
                e->ipv4_1 = local;
                e->port_1 = s->local_port;
                e->has_ipv4_0 = e->has_port_0 = true;
                e->ipv4_0 = remote;
                e->port_0 = s->remote_port;
        } else {
                e->has_pid_0 = e->has_ipv4_0 = e->has_port_0 = true;
                e->pid_0 = s->pids[0];
                e->ipv4_0 = local;
                e->port_0 = s->local_port;
                e->has_ipv4_1 = e->has_port_1 = true;
                e->ipv4_1 = remote;
                e->port_1 = s->remote_port;
        }
        e->has_netns_idx = true;
        e->netns_idx = s->netns_idx;
}

int deepflow_gpid_pack(const DeepflowIdentity *id, const SyncState *st, uint8_t **ret, size_t *ret_len,
                       size_t **ret_index, size_t *ret_n_entries) {
        Agent__GPIDSyncRequest req = AGENT__GPIDSYNC_REQUEST__INIT;
        _cleanup_free_ Agent__GPIDSyncEntry *entries = NULL;
        _cleanup_free_ Agent__GPIDSyncEntry **ptrs = NULL;
        _cleanup_free_ size_t *index = NULL;
        size_t n = 0;
        int r;

        for (size_t i = 0; i < st->n_sockets; i++)
                if (deepflow_socket_syncable(&st->sockets[i]))
                        n++;

        if (n > 0) {
                entries = calloc(n, sizeof(Agent__GPIDSyncEntry));
                ptrs = calloc(n, sizeof(Agent__GPIDSyncEntry *));
                index = calloc(n, sizeof(size_t));
                if (!entries || !ptrs || !index)
                        return -ENOMEM;
        }
        n = 0;
        for (size_t i = 0; i < st->n_sockets; i++) {
                if (!deepflow_socket_syncable(&st->sockets[i]))
                        continue;
                socket_to_entry(&st->sockets[i], &entries[n]);
                ptrs[n] = &entries[n];
                index[n] = i;
                n++;
        }

        req.ctrl_ip = (char *) id->ctrl_ip;
        req.ctrl_mac = (char *) id->ctrl_mac;
        req.has_agent_id = true;
        req.agent_id = id->agent_id;
        /* 1 (ignore-if-equal-to-previous) is defined but the reference server does not implement it. */
        req.has_entries_compress_algorithm = true;
        req.entries_compress_algorithm = AGENT__GPIDSYNC_COMPRESS_ALGORITHM__COMPRESS_NONE;
        req.team_id = (char *) id->team_id;
        req.n_entries = n;
        req.entries = ptrs;

        r = pack_message(&req.base, ret, ret_len);
        if (r < 0)
                return r;
        *ret_index = TAKE_PTR(index);
        *ret_n_entries = n;
        return 0;
}

static int gpid_cmp(const void *a, const void *b) {
        const SinkGpid *x = a, *y = b;
        if (x->pid != y->pid)
                return x->pid < y->pid ? -1 : 1;
        return x->gpid < y->gpid ? -1 : x->gpid > y->gpid;
}

int deepflow_gpid_unpack(const uint8_t *buf, size_t len, const SyncState *st, const size_t *index,
                         size_t n_entries, SinkSocketResult *ret, char **ret_error) {
        Agent__GPIDSyncResponse *resp;
        _cleanup_free_ SinkGpid *gpids = NULL;
        _cleanup_free_ SinkSocketGpid *socks = NULL;
        size_t n_gpids = 0, m = 0;

        resp = agent__gpidsync_response__unpack(NULL, len, buf);
        if (!resp)
                return deepflow_error(ret_error, -EBADMSG, "GPIDSync answer is not a GPIDSyncResponse");
        if (resp->n_entries != n_entries) {
                size_t got = resp->n_entries;
                agent__gpidsync_response__free_unpacked(resp, NULL);
                return deepflow_error(ret_error, -EPROTO, "GPIDSync answer has %zu entries for %zu sent",
                                      got, n_entries);
        }

        if (n_entries > 0) {
                gpids = calloc(n_entries, sizeof(SinkGpid));
                socks = calloc(n_entries, sizeof(SinkSocketGpid));
                if (!gpids || !socks) {
                        agent__gpidsync_response__free_unpacked(resp, NULL);
                        return -ENOMEM;
                }
        }

        for (size_t i = 0; i < n_entries; i++) {
                const Agent__GPIDSyncEntry *e = resp->entries[i];
                const SyncSocket *s = &st->sockets[index[i]];
                uint32_t side0 = e->has_pid_0 ? e->pid_0 : 0, side1 = e->has_pid_1 ? e->pid_1 : 0;
                bool server = socket_is_server(s);

                socks[i] = (SinkSocketGpid){
                        .netns_inode = s->netns_inode,
                        .inode = s->inode,
                        .local_gpid = server ? side1 : side0,
                        .remote_gpid = server ? side0 : side1,
                };
                if (socks[i].local_gpid != 0)
                        gpids[n_gpids++] = (SinkGpid){.pid = s->pids[0], .gpid = socks[i].local_gpid};
        }
        agent__gpidsync_response__free_unpacked(resp, NULL);

        /* One gpid per pid: a process with several sockets appears once (the server gives a pid one gpid;
         * should two answers disagree, the lowest wins, so the result does not depend on the order). */
        if (n_gpids > 0) {
                qsort(gpids, n_gpids, sizeof(SinkGpid), gpid_cmp);
                for (size_t i = 0; i < n_gpids; i++)
                        if (m == 0 || gpids[m - 1].pid != gpids[i].pid)
                                gpids[m++] = gpids[i];
        }

        *ret = (SinkSocketResult){
                .process_gpids = m > 0 ? TAKE_PTR(gpids) : NULL,
                .n_process_gpids = m,
                .socket_gpids = TAKE_PTR(socks),
                .n_socket_gpids = n_entries,
        };
        return 0;
}
