/* The deepflow sink: the exporter's SyncState to a DeepFlow controller, as reference/deepflow-sync.md
 * describes the protocol.
 *
 * push() runs the GenesisSync version handshake. The version the controller last answered (the exporter's
 * acked_version) decides: equal to ours, a heartbeat (header fields only); different, the full message
 * (platform_data + process_data). The answer decides what the controller holds: our version = acknowledged;
 * 0 = it lost us (restarted, or we were silent for 300 s), so the full message goes again at once, once;
 * anything else is returned as is and the exporter sends the full message at its next push.
 *
 * push_sockets() sends GPIDSync, always the whole socket list (the controller replaces ours), and maps the
 * answer's gpids back to our pids and sockets.
 *
 * The agent is identified by ctrl_ip + ctrl_mac (agent_info in GenesisSync, the GPIDSync header): from the
 * config, else the source address of the route to the controller and the MAC of the interface holding it,
 * looked up at every push so that a changed route or address is followed.
 *
 * With several controller_ips, the first is used until a connection to it fails; the next push then goes to
 * the next one, round-robin (the reference agent fails over the same way). One channel is open at a time. */

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "macro.h"
#include "sink-deepflow-error.h"
#include "sink-deepflow-host.h"
#include "sink-deepflow-msg.h"
#include "sink-deepflow.h"

typedef struct DeepflowSink {
        char *name;
        char **controllers; /* NULL-terminated, at least one */
        size_t n_controllers;
        size_t current;
        uint16_t port;
        uint32_t agent_id;
        uint32_t agent_type;
        char *team_id;
        char *ctrl_ip;  /* NULL: from the route to the controller */
        char *ctrl_mac; /* NULL: of the interface holding ctrl_ip; normalized lowercase */
        DeepflowRpcOptions rpc_opts;
        DeepflowRpc *rpc; /* to controllers[current]; created at the first push */
} DeepflowSink;

/* Agent types whose process data the controller accepts (reference/deepflow-sync.md). */
static bool agent_type_accepted(uint32_t t) {
        return t == 1 || t == 3 || t == 5 || t == 7 || t == 8 || t == 12;
}

static void deepflow_close(void *impl) {
        DeepflowSink *s = impl;

        if (!s)
                return;
        deepflow_rpc_free(s->rpc);
        free(s->name);
        strv_free(s->controllers);
        free(s->team_id);
        free(s->ctrl_ip);
        free(s->ctrl_mac);
        free(s);
}

static inline void deepflow_closep(DeepflowSink **s) {
        deepflow_close(*s);
}

int sink_deepflow_open_with(const ConfigSink *cfg, const DeepflowRpcOptions *opts, void **ret_impl,
                            char **ret_error) {
        _cleanup_(deepflow_closep) DeepflowSink *s = NULL;
        const char *name = strempty(cfg->name);
        size_t n = 0;
        int r;

        for (char **c = cfg->controller_ips; c && *c; c++)
                n++;
        if (n == 0)
                return deepflow_error(ret_error, -EINVAL, "Sink '%s': controller_ips is empty", name);

        s = calloc(1, sizeof(DeepflowSink));
        if (!s)
                return -ENOMEM;
        s->name = strdup(name);
        s->controllers = calloc(n + 1, sizeof(char *));
        if (!s->name || !s->controllers)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                if (isempty(cfg->controller_ips[i]))
                        return deepflow_error(ret_error, -EINVAL, "Sink '%s': empty entry in controller_ips",
                                              name);
                s->controllers[i] = strdup(cfg->controller_ips[i]);
                if (!s->controllers[i])
                        return -ENOMEM;
        }
        s->n_controllers = n;

        s->port = cfg->controller_port > 0 ? cfg->controller_port : DEEPFLOW_DEFAULT_PORT;
        s->agent_id = cfg->agent_id;
        s->agent_type = cfg->agent_type > 0 ? cfg->agent_type : DEEPFLOW_DEFAULT_AGENT_TYPE;
        if (!agent_type_accepted(s->agent_type))
                return deepflow_error(ret_error, -EINVAL,
                                      "Sink '%s': agent_type %u: the controller stores processes only from "
                                      "agent types 1, 3, 5, 7, 8 and 12",
                                      name, s->agent_type);

        if (cfg->team_id) {
                s->team_id = strdup(cfg->team_id);
                if (!s->team_id)
                        return -ENOMEM;
        }
        if (!isempty(cfg->ctrl_ip)) {
                struct in6_addr a;

                if (inet_pton(AF_INET, cfg->ctrl_ip, &a) != 1 && inet_pton(AF_INET6, cfg->ctrl_ip, &a) != 1)
                        return deepflow_error(ret_error, -EINVAL,
                                              "Sink '%s': ctrl_ip '%s' is not an IP address", name,
                                              cfg->ctrl_ip);
                s->ctrl_ip = strdup(cfg->ctrl_ip);
                if (!s->ctrl_ip)
                        return -ENOMEM;
        }
        if (!isempty(cfg->ctrl_mac)) {
                r = deepflow_mac_normalize(cfg->ctrl_mac, &s->ctrl_mac);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return deepflow_error(
                                ret_error, r,
                                "Sink '%s': ctrl_mac '%s' is not a MAC address (aa:bb:cc:dd:ee:ff)", name,
                                cfg->ctrl_mac);
        }
        if (opts)
                s->rpc_opts = *opts;

        *ret_impl = TAKE_PTR(s);
        return 0;
}

static int deepflow_open(const ConfigSink *cfg, void **ret_impl, char **ret_error) {
        return sink_deepflow_open_with(cfg, NULL, ret_impl, ret_error);
}

void sink_deepflow_global_done(void) {
        deepflow_rpc_global_done();
}

static const char *current_controller(const DeepflowSink *s) {
        return s->controllers[s->current];
}

/* The channel to the current controller, created on first use. */
static int ensure_rpc(DeepflowSink *s, char **ret_error) {
        int r;

        if (s->rpc)
                return 0;
        r = deepflow_rpc_new(current_controller(s), s->port, &s->rpc_opts, &s->rpc);
        if (r < 0)
                return deepflow_error(ret_error, r, "Cannot create a gRPC channel to '%s' port %u: %s",
                                      current_controller(s), s->port, strerror(-r));
        return 0;
}

/* After a failed connection, the next push goes to the next controller (when there are several). */
static void failover(DeepflowSink *s, int r) {
        if (s->n_controllers < 2 || (r != -ECONNREFUSED && r != -ETIMEDOUT))
                return;
        s->rpc = deepflow_rpc_free(s->rpc);
        s->current = (s->current + 1) % s->n_controllers;
        log_info("Sink '%s': switching to controller '%s'", s->name, current_controller(s));
}

/* ctrl_ip and ctrl_mac, from the config or from this host. */
static int resolve_identity(DeepflowSink *s, char **ret_ip, char **ret_mac, char **ret_error) {
        _cleanup_free_ char *ip = NULL, *mac = NULL;
        int r;

        if (s->ctrl_ip) {
                ip = strdup(s->ctrl_ip);
                if (!ip)
                        return -ENOMEM;
        } else {
                r = deepflow_host_route_source(current_controller(s), s->port, &ip);
                if (r < 0)
                        return deepflow_error(ret_error, r,
                                              "Cannot find the local address routing to controller '%s': %s "
                                              "(set ctrl_ip)",
                                              current_controller(s), strerror(-r));
        }

        if (s->ctrl_mac) {
                mac = strdup(s->ctrl_mac);
                if (!mac)
                        return -ENOMEM;
        } else {
                r = deepflow_host_mac_of(ip, &mac);
                if (r == -EADDRNOTAVAIL)
                        return deepflow_error(ret_error, r,
                                              "ctrl_ip '%s' is not an address of this host: set ctrl_mac",
                                              ip);
                if (r < 0)
                        return deepflow_error(ret_error, r, "Cannot find the MAC address of '%s': %s", ip,
                                              strerror(-r));
        }

        *ret_ip = TAKE_PTR(ip);
        *ret_mac = TAKE_PTR(mac);
        return 0;
}

static DeepflowIdentity identity(const DeepflowSink *s, const char *ip, const char *mac) {
        return (DeepflowIdentity){
                .ctrl_ip = ip,
                .ctrl_mac = mac,
                .agent_id = s->agent_id,
                .agent_type = s->agent_type,
                .team_id = s->team_id,
        };
}

static int genesis_send(DeepflowSink *s, const DeepflowIdentity *id, const SyncState *st, bool full,
                        uint64_t *ret_answer, char **ret_error) {
        _cleanup_free_ uint8_t *req = NULL, *resp = NULL;
        DeepflowInterface *ifs = NULL;
        size_t req_len, resp_len, n_ifs = 0;
        int r;

        if (full) {
                r = deepflow_host_interfaces(&ifs, &n_ifs);
                if (r < 0)
                        return deepflow_error(ret_error, r, "Cannot list the network interfaces: %s",
                                              strerror(-r));
        }
        r = deepflow_genesis_pack(id, st, full, ifs, n_ifs, &req, &req_len);
        deepflow_interfaces_free(ifs, n_ifs);
        if (r < 0)
                return deepflow_error(ret_error, r, "Cannot build the GenesisSync message: %s",
                                      strerror(-r));

        r = deepflow_rpc_call(s->rpc, DEEPFLOW_METHOD_GENESIS_SYNC, req, req_len, &resp, &resp_len,
                              ret_error);
        if (r < 0) {
                failover(s, r);
                return r;
        }
        r = deepflow_genesis_unpack_version(resp, resp_len, ret_answer);
        if (r < 0)
                return deepflow_error(ret_error, r,
                                      "GenesisSync answer from %s is not a GenesisSyncResponse",
                                      deepflow_rpc_target(s->rpc));
        log_debug("Sink '%s': GenesisSync %s version %llu (%zu bytes) answered %llu", s->name,
                  full ? "full" : "heartbeat", (unsigned long long) st->version, req_len,
                  (unsigned long long) *ret_answer);
        return 0;
}

static int deepflow_push(void *impl, const SyncState *st, uint64_t acked_version,
                         uint64_t *ret_acked_version, char **ret_error) {
        DeepflowSink *s = impl;
        _cleanup_free_ char *error = NULL, *ip = NULL, *mac = NULL;
        bool full = acked_version != st->version, resent = false;
        DeepflowIdentity id;
        uint64_t answer;
        int r;

        /* The controller ignores a message with version 0: never claim that one was delivered. */
        if (st->version == 0) {
                *ret_error = strdup("Sync state has version 0, which the controller ignores");
                return -EINVAL;
        }

        r = ensure_rpc(s, &error);
        if (r >= 0)
                r = resolve_identity(s, &ip, &mac, &error);
        if (r < 0)
                goto fail;

        id = identity(s, ip, mac);

        for (;;) {
                r = genesis_send(s, &id, st, full, &answer, &error);
                if (r < 0)
                        goto fail;
                /* Ours: acknowledged. Another one: handed back, the exporter sends everything next time. */
                if (answer != 0)
                        break;
                /* 0: the controller has nothing of ours (it restarted, or forgot a silent agent). */
                if (resent) {
                        r = deepflow_error(
                                &error, -EPROTO,
                                "Controller %s answered version 0 to a full GenesisSync: it stored "
                                "nothing (agent_info %s/%s, agent_type %u)",
                                deepflow_rpc_target(s->rpc), ip, mac, s->agent_type);
                        goto fail;
                }
                log_info("Sink '%s': controller %s has no state for us, sending everything again", s->name,
                         deepflow_rpc_target(s->rpc));
                resent = full = true;
        }

        *ret_acked_version = answer;
        return 0;

fail:
        *ret_error = TAKE_PTR(error);
        if (!*ret_error)
                *ret_error = strdup(strerror(-r));
        return r;
}

static int deepflow_push_sockets(void *impl, const SyncState *st, SinkSocketResult *ret, char **ret_error) {
        DeepflowSink *s = impl;
        _cleanup_free_ char *error = NULL, *ip = NULL, *mac = NULL;
        _cleanup_free_ uint8_t *req = NULL, *resp = NULL;
        _cleanup_free_ size_t *index = NULL;
        size_t req_len, resp_len, n_entries;
        DeepflowIdentity id;
        int r;

        r = ensure_rpc(s, &error);
        if (r >= 0)
                r = resolve_identity(s, &ip, &mac, &error);
        if (r < 0)
                goto fail;

        id = identity(s, ip, mac);
        r = deepflow_gpid_pack(&id, st, &req, &req_len, &index, &n_entries);
        if (r < 0) {
                r = deepflow_error(&error, r, "Cannot build the GPIDSync message: %s", strerror(-r));
                goto fail;
        }

        r = deepflow_rpc_call(s->rpc, DEEPFLOW_METHOD_GPID_SYNC, req, req_len, &resp, &resp_len, &error);
        if (r < 0) {
                failover(s, r);
                goto fail;
        }
        r = deepflow_gpid_unpack(resp, resp_len, st, index, n_entries, ret, &error);
        if (r < 0)
                goto fail;
        log_debug("Sink '%s': GPIDSync of %zu sockets (%zu bytes): %zu gpids", s->name, n_entries, req_len,
                  ret->n_process_gpids);
        return 0;

fail:
        *ret_error = TAKE_PTR(error);
        if (!*ret_error)
                *ret_error = strdup(strerror(-r));
        return r;
}

const SinkOps sink_deepflow_ops = {
        .type = SINK_DEEPFLOW,
        .open = deepflow_open,
        .close = deepflow_close,
        .push = deepflow_push,
        .push_sockets = deepflow_push_sockets,
        .reopen = NULL,
};
