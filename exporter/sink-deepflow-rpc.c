/* Unary gRPC calls over gRPC core's C API for the deepflow sink.
 *
 * One channel per controller lives as long as the sink: HTTP/2 keeps one TCP connection open between
 * pushes, and gRPC reconnects it by itself in the background with the short backoff set below, so that a
 * restarted controller is reached again within about two seconds. A call first waits for the channel to be
 * READY (at most the connect timeout: 5 s, as the reference agent), so that a controller that is down
 * fails the push promptly with a clear reason instead of holding it for the whole request timeout; then
 * it runs one batch (send metadata + message + close, receive metadata + message + status) with the
 * request deadline (30 s) and plucks its completion from the channel's own completion queue.
 *
 * The HTTP proxy support of gRPC (http_proxy/grpc_proxy in the environment) is always disabled: the
 * controller is reached directly, as the reference agent does, and a proxy meant for a user's shell must
 * not silently redirect (or break, for loopback) the daemon's traffic.
 *
 * grpc_init() runs once, at the first channel; gRPC core starts threads then, so nothing may fork after it
 * without exec (the exporter never forks). */

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "macro.h"
#include "sink-deepflow-error.h"
#include "sink-deepflow-rpc.h"

struct DeepflowRpc {
        char *uri;    /* the gRPC target URI */
        char *target; /* "host:port" for messages */
        grpc_channel *channel;
        grpc_completion_queue *cq;
        usec_t connect_timeout;
        usec_t request_timeout;
};

/* gRPC core is process-wide: initialized once by the first channel, released by
 * deepflow_rpc_global_done(). The exporter is single-threaded, so a plain flag is enough. */
static bool grpc_initialized = false;

static gpr_timespec deadline_after(usec_t usec) {
        return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                            gpr_time_from_micros((int64_t) usec, GPR_TIMESPAN));
}

static grpc_channel *channel_create(const DeepflowRpc *rpc) {
        grpc_arg args[] = {
                {.type = GRPC_ARG_INTEGER, .key = (char *) GRPC_ARG_ENABLE_HTTP_PROXY, .value.integer = 0},
                {.type = GRPC_ARG_INTEGER,
                 .key = (char *) GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
                 .value.integer = DEEPFLOW_RPC_BACKOFF_INITIAL_MS},
                /* gRPC uses the "minimum reconnect backoff" as the timeout of one connection attempt, not
                 * as a backoff (100 ms would fail any controller farther away). One second more than our
                 * own wait, so that a hanging handshake ends in our clear timeout, not in gRPC's. */
                {.type = GRPC_ARG_INTEGER,
                 .key = (char *) GRPC_ARG_MIN_RECONNECT_BACKOFF_MS,
                 .value.integer = (int) (rpc->connect_timeout / USEC_PER_MSEC) + 1000},
                {.type = GRPC_ARG_INTEGER,
                 .key = (char *) GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
                 .value.integer = DEEPFLOW_RPC_BACKOFF_MAX_MS},
                {.type = GRPC_ARG_INTEGER,
                 .key = (char *) GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
                 .value.integer = DEEPFLOW_RPC_MAX_RECEIVE},
        };
        grpc_channel_args chargs = {.num_args = ELEMENTSOF(args), .args = args};

        grpc_channel_credentials *creds = grpc_insecure_credentials_create();
        grpc_channel *ch = grpc_channel_create(rpc->uri, creds, &chargs);
        grpc_channel_credentials_release(creds);
        return ch;
}

int deepflow_rpc_new(const char *host, uint16_t port, const DeepflowRpcOptions *opts, DeepflowRpc **ret) {
        _cleanup_free_ char *uri = NULL, *target = NULL;
        struct in6_addr a6;
        struct in_addr a4;
        int r;

        if (isempty(host) || port == 0)
                return -EINVAL;

        /* gRPC target URIs: ipv4:/ipv6: skip the resolver for literals; anything else is a DNS name. */
        if (inet_pton(AF_INET, host, &a4) == 1)
                r = asprintf(&uri, "ipv4:%s:%u", host, port);
        else if (inet_pton(AF_INET6, host, &a6) == 1)
                r = asprintf(&uri, "ipv6:[%s]:%u", host, port);
        else
                r = asprintf(&uri, "dns:///%s:%u", host, port);
        if (r < 0)
                return -ENOMEM;
        if (strchr(host, ':'))
                r = asprintf(&target, "[%s]:%u", host, port);
        else
                r = asprintf(&target, "%s:%u", host, port);
        if (r < 0)
                return -ENOMEM;

        DeepflowRpc *rpc = calloc(1, sizeof(DeepflowRpc));
        if (!rpc)
                return -ENOMEM;
        rpc->connect_timeout = opts && opts->connect_timeout > 0 ? opts->connect_timeout
                                                                 : DEEPFLOW_RPC_CONNECT_TIMEOUT_DEFAULT;
        rpc->request_timeout = opts && opts->request_timeout > 0 ? opts->request_timeout
                                                                 : DEEPFLOW_RPC_REQUEST_TIMEOUT_DEFAULT;
        /* gRPC takes the connect timeout as an int of milliseconds. */
        if (rpc->connect_timeout < USEC_PER_MSEC)
                rpc->connect_timeout = USEC_PER_MSEC;
        if (rpc->connect_timeout / USEC_PER_MSEC > INT_MAX - 1000)
                rpc->connect_timeout = (usec_t) (INT_MAX - 1000) * USEC_PER_MSEC;

        if (!grpc_initialized) {
                grpc_init();
                grpc_initialized = true;
        }

        rpc->uri = TAKE_PTR(uri);
        rpc->channel = channel_create(rpc);
        rpc->cq = grpc_completion_queue_create_for_pluck(NULL);
        if (!rpc->channel || !rpc->cq) {
                deepflow_rpc_free(rpc);
                return -ENOMEM;
        }
        rpc->target = TAKE_PTR(target);

        *ret = rpc;
        return 0;
}

DeepflowRpc *deepflow_rpc_free(DeepflowRpc *r) {
        if (!r)
                return NULL;
        if (r->channel)
                grpc_channel_destroy(r->channel);
        if (r->cq) {
                /* Every call was plucked to completion; drain whatever the shutdown itself queues. */
                grpc_completion_queue_shutdown(r->cq);
                for (;;) {
                        grpc_event ev = grpc_completion_queue_pluck(
                                r->cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
                        if (ev.type == GRPC_QUEUE_SHUTDOWN)
                                break;
                }
                grpc_completion_queue_destroy(r->cq);
        }
        free(r->uri);
        free(r->target);
        free(r);
        return NULL;
}

const char *deepflow_rpc_target(const DeepflowRpc *r) {
        return r->target;
}

void deepflow_rpc_global_done(void) {
        if (!grpc_initialized)
                return;
        grpc_shutdown_blocking();
        grpc_initialized = false;
}

static const char *connectivity_state_to_string(grpc_connectivity_state s) {
        switch (s) {
        case GRPC_CHANNEL_IDLE:
                return "idle";
        case GRPC_CHANNEL_CONNECTING:
                return "connecting";
        case GRPC_CHANNEL_READY:
                return "ready";
        case GRPC_CHANNEL_TRANSIENT_FAILURE:
                return "transient failure";
        case GRPC_CHANNEL_SHUTDOWN:
                return "shutdown";
        }
        return "unknown";
}

/* Waits until the channel is READY, at most the connect timeout. A connection attempt that fails (the
 * channel goes to TRANSIENT_FAILURE) ends the wait at once: nothing listens there. */
static int wait_ready(DeepflowRpc *r, char **ret_error) {
        gpr_timespec deadline = deadline_after(r->connect_timeout);
        grpc_connectivity_state s;

        s = grpc_channel_check_connectivity_state(r->channel, 0);
        if (s == GRPC_CHANNEL_TRANSIENT_FAILURE || s == GRPC_CHANNEL_CONNECTING) {
                /* Left over from before this push (gRPC core makes progress only inside our completion queue
                 * calls): a channel in TRANSIENT_FAILURE stays there while it retries (pick_first reports
                 * no CONNECTING in between), and a CONNECTING one is still on an old attempt. Neither can
                 * tell this push "refused now" from "still trying". A fresh channel to the same target
                 * gives the push its own attempt: it fails at once when nothing listens, and connects at
                 * once to a restarted controller. */
                grpc_channel *fresh = channel_create(r);
                if (!fresh)
                        return deepflow_error(ret_error, -ENOMEM, "Cannot create a channel to %s",
                                              r->target);
                grpc_channel_destroy(r->channel);
                r->channel = fresh;
        }
        s = grpc_channel_check_connectivity_state(r->channel, 1);

        while (s != GRPC_CHANNEL_READY) {
                grpc_connectivity_state n;
                grpc_event ev;

                if (s == GRPC_CHANNEL_SHUTDOWN)
                        return deepflow_error(ret_error, -ESHUTDOWN, "Channel to controller %s is shut down",
                                              r->target);
                /* The channel was IDLE or fresh when this push asked it to connect: a failure now is
                 * this push's own attempt. */
                if (s == GRPC_CHANNEL_TRANSIENT_FAILURE)
                        return deepflow_error(ret_error, -ECONNREFUSED,
                                              "Cannot connect to controller %s (refused or unreachable)",
                                              r->target);

                grpc_channel_watch_connectivity_state(r->channel, s, deadline, r->cq, r);
                ev = grpc_completion_queue_pluck(r->cq, r, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
                if (ev.type != GRPC_OP_COMPLETE)
                        return deepflow_error(ret_error, -EIO, "Completion queue of controller %s broke",
                                              r->target);
                n = grpc_channel_check_connectivity_state(r->channel, 1);
                if (!ev.success)
                        return deepflow_error(ret_error, -ETIMEDOUT,
                                              "Cannot connect to controller %s within %llu ms (channel %s)",
                                              r->target,
                                              (unsigned long long) (r->connect_timeout / USEC_PER_MSEC),
                                              connectivity_state_to_string(n));
                s = n;
        }
        return 0;
}

static int status_to_errno(grpc_status_code status) {
        switch (status) {
        case GRPC_STATUS_DEADLINE_EXCEEDED:
                return -ETIMEDOUT;
        case GRPC_STATUS_UNAVAILABLE:
                return -ECONNREFUSED;
        case GRPC_STATUS_RESOURCE_EXHAUSTED:
                return -EMSGSIZE;
        case GRPC_STATUS_UNIMPLEMENTED:
                return -EOPNOTSUPP;
        default:
                return -EPROTO;
        }
}

static int call_once(DeepflowRpc *rpc, const char *method, const uint8_t *req, size_t req_len,
                     uint8_t **ret_resp, size_t *ret_resp_len, char **ret_error) {
        grpc_metadata_array initial_md, trailing_md;
        grpc_byte_buffer *send_bb = NULL, *recv_bb = NULL;
        grpc_status_code status = GRPC_STATUS_UNKNOWN;
        grpc_slice details = grpc_empty_slice();
        const char *error_string = NULL;
        grpc_op ops[6] = {};
        grpc_call *call;
        grpc_event ev;
        int r;

        call = grpc_channel_create_call(rpc->channel, NULL, GRPC_PROPAGATE_DEFAULTS, rpc->cq,
                                        grpc_slice_from_static_string(method), NULL,
                                        deadline_after(rpc->request_timeout), NULL);
        if (!call)
                return deepflow_error(ret_error, -ENOMEM, "Cannot create a call to %s", method);

        grpc_slice slice = grpc_slice_from_copied_buffer((const char *) req, req_len);
        send_bb = grpc_raw_byte_buffer_create(&slice, 1);
        grpc_slice_unref(slice);
        grpc_metadata_array_init(&initial_md);
        grpc_metadata_array_init(&trailing_md);

        ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
        ops[1].op = GRPC_OP_SEND_MESSAGE;
        ops[1].data.send_message.send_message = send_bb;
        ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
        ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
        ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial_md;
        ops[4].op = GRPC_OP_RECV_MESSAGE;
        ops[4].data.recv_message.recv_message = &recv_bb;
        ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
        ops[5].data.recv_status_on_client.trailing_metadata = &trailing_md;
        ops[5].data.recv_status_on_client.status = &status;
        ops[5].data.recv_status_on_client.status_details = &details;
        ops[5].data.recv_status_on_client.error_string = &error_string;

        if (grpc_call_start_batch(call, ops, ELEMENTSOF(ops), call, NULL) != GRPC_CALL_OK) {
                r = deepflow_error(ret_error, -EIO, "Cannot start a call to %s", method);
                goto finish;
        }
        /* The call has its deadline, so its batch always completes; wait for it without a second clock. */
        ev = grpc_completion_queue_pluck(rpc->cq, call, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type != GRPC_OP_COMPLETE) {
                r = deepflow_error(ret_error, -EIO, "Completion queue of controller %s broke", rpc->target);
                goto finish;
        }

        if (status != GRPC_STATUS_OK) {
                char *d = grpc_slice_to_c_string(details);
                r = deepflow_error(ret_error, status_to_errno(status),
                                   "%s on controller %s failed: status %d: %s", method, rpc->target,
                                   (int) status, isempty(d) ? "(no details)" : d);
                gpr_free(d);
                goto finish;
        }
        if (!recv_bb) {
                r = deepflow_error(ret_error, -EPROTO, "%s on controller %s: answer without a message",
                                   method, rpc->target);
                goto finish;
        }

        {
                grpc_byte_buffer_reader reader;
                grpc_slice all;
                size_t len;
                uint8_t *buf;

                if (!grpc_byte_buffer_reader_init(&reader, recv_bb)) {
                        r = deepflow_error(ret_error, -EPROTO, "%s on controller %s: unreadable answer",
                                           method, rpc->target);
                        goto finish;
                }
                all = grpc_byte_buffer_reader_readall(&reader);
                grpc_byte_buffer_reader_destroy(&reader);
                len = GRPC_SLICE_LENGTH(all);
                /* malloc(0) may return NULL: an empty answer (all fields unset) is still a valid message. */
                buf = malloc(len > 0 ? len : 1);
                if (!buf) {
                        grpc_slice_unref(all);
                        r = deepflow_error(ret_error, -ENOMEM, "Out of memory");
                        goto finish;
                }
                if (len > 0)
                        memcpy(buf, GRPC_SLICE_START_PTR(all), len);
                grpc_slice_unref(all);
                *ret_resp = buf;
                *ret_resp_len = len;
                r = 0;
        }

finish:
        grpc_metadata_array_destroy(&initial_md);
        grpc_metadata_array_destroy(&trailing_md);
        grpc_slice_unref(details);
        gpr_free((void *) error_string);
        if (send_bb)
                grpc_byte_buffer_destroy(send_bb);
        if (recv_bb)
                grpc_byte_buffer_destroy(recv_bb);
        grpc_call_unref(call);
        return r;
}

int deepflow_rpc_call(DeepflowRpc *rpc, const char *method, const uint8_t *req, size_t req_len,
                      uint8_t **ret_resp, size_t *ret_resp_len, char **ret_error) {
        int r;

        r = wait_ready(rpc, ret_error);
        if (r < 0)
                return r;
        r = call_once(rpc, method, req, req_len, ret_resp, ret_resp_len, ret_error);
        if (r != -ECONNREFUSED)
                return r;

        /* UNAVAILABLE on a READY channel: the connection died since the last call (a restarted controller)
         * and nobody polled it in between (gRPC core makes progress only inside our completion queue
         * calls), so the request went out on the dead socket. Once more on a new connection: both methods
         * are idempotent (the same version again; GPIDSync replaces the whole list). */
        free(*ret_error);
        *ret_error = NULL;
        r = wait_ready(rpc, ret_error);
        if (r < 0)
                return r;
        return call_once(rpc, method, req, req_len, ret_resp, ret_resp_len, ret_error);
}
