/* Integration test of the deepflow sink against a real gRPC server: tests/deepflow_server.py on Debian's
 * python3-grpcio, serving our exporter/deepflow.proto as the reference controller does. The server writes
 * everything it received to a JSON file before it answers, so after each push the test reads the file and
 * checks the wire contents field by field.
 *
 * Covered: ProcessInfo fields and tag order; full message first, heartbeat for the same version, full for
 * a new one; GPIDSync sides, roles, big-endian IPv4, UDP as client, IPv6 and non-established sockets left
 * out, gpids mapped back; the server killed (SIGKILL) and restarted on its port: the heartbeat gets 0, the
 * sink resends everything and the server ends up with exactly our state; a push to a server that is down
 * fails promptly with a clear reason (refused: at once; a silent listener: after the connect timeout);
 * failover to the next controller; configured ctrl_ip/ctrl_mac.
 *
 * Usage: test-deepflow-sink PROTO SERVER_PY. Exits 77 when /usr/bin/python3 has no grpc / grpc_tools. */

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "macro.h"
#include "sink-deepflow.h"
#include "time-util.h"

#define PYTHON "/usr/bin/python3"

extern char **environ;

static const char *arg_proto;
static const char *arg_server;

typedef struct Server {
        pid_t pid;
        uint16_t port;
        char state_path[64];
} Server;

static Server server = {.pid = -1};
static char tmpdir[] = "/tmp/test-deepflow-sink.XXXXXX";

static int spawn_wait(char *const argv[], int stdout_fd, pid_t *ret_pid) {
        posix_spawn_file_actions_t fa;
        pid_t pid;
        int r;

        posix_spawn_file_actions_init(&fa);
        if (stdout_fd >= 0)
                posix_spawn_file_actions_adddup2(&fa, stdout_fd, STDOUT_FILENO);
        posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        r = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        if (r != 0)
                return -r;
        *ret_pid = pid;
        return 0;
}

static bool python_has_grpc(void) {
        char *argv[] = {PYTHON, "-c", "import grpc, grpc_tools.protoc", NULL};
        int status;
        pid_t pid = 0;

        if (access(PYTHON, X_OK) < 0 || spawn_wait(argv, -1, &pid) < 0)
                return false;
        if (waitpid(pid, &status, 0) < 0)
                return false;
        return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Starts the server (port 0: any) and waits for its "PORT <n>" line. */
static void server_start(Server *s, uint16_t port) {
        char portstr[8], line[64];
        size_t len = 0;
        int pipefd[2];
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + 60 * USEC_PER_SEC;

        snprintf(portstr, sizeof(portstr), "%u", port);
        snprintf(s->state_path, sizeof(s->state_path), "%s/state.json", tmpdir);
        char *argv[] = {PYTHON,    (char *) arg_server, "--proto", (char *) arg_proto,
                        "--state", s->state_path,       "--port",  portstr,
                        NULL};

        assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
        assert_int_equal(spawn_wait(argv, pipefd[1], &s->pid), 0);
        close(pipefd[1]);

        while (!memchr(line, '\n', len)) {
                struct pollfd p = {.fd = pipefd[0], .events = POLLIN};
                usec_t now = now_usec(CLOCK_MONOTONIC);
                ssize_t n;

                assert_true(now < deadline);
                if (poll(&p, 1, (int) ((deadline - now) / USEC_PER_MSEC) + 1) <= 0)
                        continue;
                n = read(pipefd[0], line + len, sizeof(line) - 1 - len);
                assert_true(n > 0);
                len += (size_t) n;
                line[len] = 0;
        }
        close(pipefd[0]);
        unsigned p = 0;
        assert_int_equal(sscanf(line, "PORT %u", &p), 1);
        assert_true(p > 0 && p < 65536);
        assert_true(port == 0 || p == port);
        s->port = (uint16_t) p;
}

static void server_kill(Server *s, int sig) {
        if (s->pid <= 0)
                return;
        kill(s->pid, sig);
        waitpid(s->pid, NULL, 0);
        s->pid = -1;
}

static json_t *server_state(const Server *s) {
        json_error_t err;
        json_t *j = json_load_file(s->state_path, 0, &err);

        if (!j)
                fail_msg("Cannot read server state '%s': %s", s->state_path, err.text);
        return j;
}

/* json_t lookups by a path of object keys and array indexes ("#N"), separated by '/'. */
static json_t *jpath(json_t *j, const char *path) {
        _cleanup_free_ char *copy = strdup(path);
        char *save = NULL;

        for (char *k = strtok_r(copy, "/", &save); k && j; k = strtok_r(NULL, "/", &save))
                j = k[0] == '#' ? json_array_get(j, strtoul(k + 1, NULL, 10)) : json_object_get(j, k);
        if (!j)
                fail_msg("No '%s' in server state", path);
        return j;
}

static long long jint(json_t *j, const char *path) {
        json_t *v = jpath(j, path);
        if (!json_is_integer(v))
                fail_msg("'%s' is not an integer in server state", path);
        return json_integer_value(v);
}

static const char *jstr(json_t *j, const char *path) {
        json_t *v = jpath(j, path);
        if (!json_is_string(v))
                fail_msg("'%s' is not a string in server state", path);
        return json_string_value(v);
}

static bool jnull(json_t *j, const char *path) {
        return json_is_null(jpath(j, path));
}

/* --- the state we push ------------------------------------------------------------------------------- */

#define V0 1700000000ULL

static SyncTag tags_web[] = {{"zone", "eu-1"}, {"app", "shop"}, {"app", "frontend"}, {"tier", "web:1"}};
static SyncTag tags_db[] = {{"app", "shop"}};
static SyncProcess procs[] = {
        {.pid = 4242,
         .ppid = 1,
         .start_time = 1699999000,
         .name = "shop-web",
         .process_name = "nginx",
         .cmdline = "nginx: worker process",
         .user = "www-data",
         .uid = 33,
         .netns_inode = 4026531840ULL,
         .netns_idx = 1,
         .container_id = "",
         .tags = tags_web,
         .n_tags = 4},
        {.pid = 17,
         .ppid = 1,
         .start_time = 1699998000,
         .name = "shop-db",
         .process_name = "postgres",
         .cmdline = "postgres -D /srv/pg",
         .user = "postgres",
         .uid = 111,
         .netns_inode = 4026532001ULL,
         .netns_idx = 2,
         .container_id = "0123456789abcdef",
         .tags = tags_db,
         .n_tags = 1},
        {.pid = 900,
         .ppid = 17,
         .start_time = 1699998500,
         .name = "worker",
         .process_name = "python3",
         .cmdline = "python3 worker.py --queue high",
         .user = "root",
         .uid = 0,
         .netns_inode = 4026531840ULL,
         .netns_idx = 1,
         .container_id = "",
         .tags = NULL,
         .n_tags = 0},
};

static uint32_t pid_web[] = {4242}, pid_db[] = {17}, pid_shared[] = {900, 4242};

static SyncSocket socks[] = {
        /* 0: web (client) -> db, loopback flow, client end */
        {.udp = false,
         .family = 4,
         .state = "established",
         .local_addr = "127.0.0.1",
         .local_port = 41000,
         .remote_addr = "127.0.0.1",
         .remote_port = 5432,
         .role = SYNC_ROLE_CLIENT,
         .pids = pid_web,
         .n_pids = 1,
         .netns_inode = 4026531840ULL,
         .netns_idx = 1,
         .inode = 501},
        /* 1: the same flow, server end in db */
        {.udp = false,
         .family = 4,
         .state = "established",
         .local_addr = "127.0.0.1",
         .local_port = 5432,
         .remote_addr = "127.0.0.1",
         .remote_port = 41000,
         .role = SYNC_ROLE_SERVER,
         .pids = pid_db,
         .n_pids = 1,
         .netns_inode = 4026532001ULL,
         .netns_idx = 2,
         .inode = 502},
        /* 2: server socket shared by 900 and 4242, remote far away */
        {.udp = false,
         .family = 4,
         .state = "established",
         .local_addr = "192.168.7.10",
         .local_port = 443,
         .remote_addr = "203.0.113.5",
         .remote_port = 61000,
         .role = SYNC_ROLE_SERVER,
         .pids = pid_shared,
         .n_pids = 2,
         .netns_inode = 4026531840ULL,
         .netns_idx = 1,
         .inode = 503},
        /* 3: connected UDP, marked server by its port: sent as client */
        {.udp = true,
         .family = 4,
         .state = "connected",
         .local_addr = "10.1.2.3",
         .local_port = 5353,
         .remote_addr = "10.1.2.254",
         .remote_port = 53,
         .role = SYNC_ROLE_SERVER,
         .pids = pid_web,
         .n_pids = 1,
         .netns_inode = 4026531840ULL,
         .netns_idx = 1,
         .inode = 504},
        /* 4: IPv6: cannot be expressed, left out */
        {.udp = false,
         .family = 6,
         .state = "established",
         .local_addr = "2001:db8::1",
         .local_port = 443,
         .remote_addr = "2001:db8::2",
         .remote_port = 60000,
         .role = SYNC_ROLE_SERVER,
         .pids = pid_web,
         .n_pids = 1,
         .netns_inode = 4026531840ULL,
         .netns_idx = 1,
         .inode = 505},
        /* 5: listening: left out */
        {.udp = false,
         .family = 4,
         .state = "listen",
         .local_addr = "0.0.0.0",
         .local_port = 5432,
         .remote_addr = "0.0.0.0",
         .remote_port = 0,
         .role = SYNC_ROLE_SERVER,
         .pids = pid_db,
         .n_pids = 1,
         .netns_inode = 4026532001ULL,
         .netns_idx = 2,
         .inode = 506},
        /* 6: bound UDP: left out */
        {.udp = true,
         .family = 4,
         .state = "bound",
         .local_addr = "0.0.0.0",
         .local_port = 68,
         .remote_addr = "0.0.0.0",
         .remote_port = 0,
         .role = SYNC_ROLE_CLIENT,
         .pids = pid_web,
         .n_pids = 1,
         .netns_inode = 4026531840ULL,
         .netns_idx = 1,
         .inode = 507},
};

static SyncState make_state(uint64_t version) {
        return (SyncState){
                .version = version,
                .hostname = "procsync-test-host",
                .processes = procs,
                .n_processes = ELEMENTSOF(procs),
                .sockets = socks,
                .n_sockets = ELEMENTSOF(socks),
        };
}

static void *open_sink(const char *const *controllers, const char *ctrl_ip, const char *ctrl_mac,
                       usec_t connect_timeout) {
        ConfigSink cfg = {
                .type = SINK_DEEPFLOW,
                .name = "deepflow-test",
                .controller_ips = (char **) controllers,
                .controller_port = server.port,
                .agent_id = 42,
                .agent_type = 3,
                .team_id = "team-1",
                .ctrl_ip = (char *) ctrl_ip,
                .ctrl_mac = (char *) ctrl_mac,
        };
        DeepflowRpcOptions opts = {.connect_timeout = connect_timeout, .request_timeout = 10 * USEC_PER_SEC};
        char *error = NULL;
        void *impl = NULL;

        if (sink_deepflow_open_with(&cfg, &opts, &impl, &error) < 0)
                fail_msg("open: %s", strempty(error));
        return impl;
}

static const char *const loopback[] = {"127.0.0.1", NULL};

static int push(void *impl, const SyncState *st, uint64_t acked, uint64_t *ret_acked, char **ret_error) {
        return sink_deepflow_ops.push(impl, st, acked, ret_acked, ret_error);
}

/* The server's stored processes equal `st`'s, field by field, sorted by pid, tags sorted by (key, value). */
static void assert_processes_equal(json_t *agent, const SyncState *st) {
        json_t *list = jpath(agent, "processes");
        const SyncProcess *sorted[ELEMENTSOF(procs)];
        size_t n = st->n_processes;

        assert_int_equal(json_array_size(list), n);
        for (size_t i = 0; i < n; i++)
                sorted[i] = &st->processes[i];
        for (size_t i = 0; i < n; i++)
                for (size_t j = i + 1; j < n; j++)
                        if (sorted[j]->pid < sorted[i]->pid) {
                                const SyncProcess *t = sorted[i];
                                sorted[i] = sorted[j];
                                sorted[j] = t;
                        }

        for (size_t i = 0; i < n; i++) {
                json_t *p = json_array_get(list, i);
                const SyncProcess *e = sorted[i];

                assert_int_equal(jint(p, "pid"), e->pid);
                assert_string_equal(jstr(p, "name"), e->name);
                assert_string_equal(jstr(p, "process_name"), e->process_name);
                assert_string_equal(jstr(p, "cmdline"), e->cmdline);
                assert_string_equal(jstr(p, "user"), e->user);
                assert_int_equal(jint(p, "start_time"), e->start_time);
                assert_int_equal(jint(p, "netns_id"), (uint32_t) e->netns_inode);
                assert_string_equal(jstr(p, "container_id"), e->container_id);
                assert_true(jnull(p, "biz_type"));

                json_t *tags = jpath(p, "os_app_tags");
                assert_int_equal(json_array_size(tags), e->n_tags);
                for (size_t t = 0; t < e->n_tags; t++) {
                        const char *k = json_string_value(json_array_get(json_array_get(tags, t), 0));
                        const char *v = json_string_value(json_array_get(json_array_get(tags, t), 1));
                        /* the tag is ours ... */
                        bool found = false;
                        for (size_t x = 0; x < e->n_tags; x++)
                                found = found || (streq(e->tags[x].key, k) && streq(e->tags[x].value, v));
                        assert_true(found);
                        /* ... and in (key, value) order */
                        if (t > 0) {
                                const char *pk =
                                        json_string_value(json_array_get(json_array_get(tags, t - 1), 0));
                                const char *pv =
                                        json_string_value(json_array_get(json_array_get(tags, t - 1), 1));
                                int c = strcmp(pk, k);
                                assert_true(c < 0 || (c == 0 && strcmp(pv, v) < 0));
                        }
                }
        }
}

#define LOOPBACK_AGENT "agents/127.0.0.1|00:00:00:00:00:00"

static bool interface_named(json_t *ifs, const char *name) {
        for (size_t i = 0; i < json_array_size(ifs); i++)
                if (streq(jstr(json_array_get(ifs, i), "name"), name))
                        return true;
        return false;
}

static void test_full_heartbeat_change(void **unused) {
        void *impl = open_sink(loopback, NULL, NULL, 0);
        SyncState st = make_state(V0);
        uint64_t acked = 0;
        char *error = NULL;
        json_t *j, *agent;

        /* Nothing acknowledged yet: the full message. */
        assert_int_equal(push(impl, &st, 0, &acked, &error), 0);
        assert_int_equal(acked, V0);
        j = server_state(&server);
        assert_int_equal(jint(j, "genesis/full"), 1);
        assert_int_equal(jint(j, "genesis/heartbeat"), 0);
        assert_int_equal(jint(j, "genesis/ignored"), 0);

        /* The agent as the controller sees it: identified by the route to 127.0.0.1 (loopback MAC). */
        agent = jpath(j, LOOPBACK_AGENT);
        assert_int_equal(jint(agent, "version"), V0);
        assert_int_equal(jint(agent, "agent_type"), 3);
        assert_int_equal(jint(agent, "agent_id"), 42);
        assert_string_equal(jstr(agent, "team_id"), "team-1");
        assert_string_equal(jstr(agent, "source_ip"), "127.0.0.1");
        assert_string_equal(jstr(agent, "agent_info/ip"), "127.0.0.1");
        assert_string_equal(jstr(agent, "agent_info/mac"), "00:00:00:00:00:00");
        assert_string_equal(jstr(agent, "agent_info/team_id"), "team-1");
        assert_true(jnull(agent, "agent_info/group_id"));
        assert_string_equal(jstr(agent, "platform/raw_hostname"), "procsync-test-host");
        assert_true(jnull(agent, "platform/platform_enabled"));
        assert_false(interface_named(jpath(agent, "platform/interfaces"), "lo"));
        assert_int_equal(json_array_size(jpath(agent, "platform/ips")), 0);

        /* Every ProcessInfo field, sorted by pid. */
        assert_int_equal(jint(agent, "processes/#0/pid"), 17);
        assert_int_equal(jint(agent, "processes/#1/pid"), 900);
        assert_int_equal(jint(agent, "processes/#2/pid"), 4242);
        assert_string_equal(jstr(agent, "processes/#2/name"), "shop-web");
        assert_string_equal(jstr(agent, "processes/#2/process_name"), "nginx");
        assert_string_equal(jstr(agent, "processes/#2/cmdline"), "nginx: worker process");
        assert_string_equal(jstr(agent, "processes/#2/user"), "www-data");
        assert_int_equal(jint(agent, "processes/#2/start_time"), 1699999000);
        assert_int_equal(jint(agent, "processes/#2/netns_id"), 4026531840LL);
        assert_string_equal(jstr(agent, "processes/#2/container_id"), "");
        assert_true(jnull(agent, "processes/#2/biz_type"));
        assert_string_equal(jstr(agent, "processes/#0/container_id"), "0123456789abcdef");
        assert_int_equal(jint(agent, "processes/#0/netns_id"), 4026532001LL);
        assert_int_equal(json_array_size(jpath(agent, "processes/#1/os_app_tags")), 0);
        /* Tags in (key, value) order, exactly as given (the ':' is the server's problem, not ours). */
        assert_string_equal(jstr(agent, "processes/#2/os_app_tags/#0/#0"), "app");
        assert_string_equal(jstr(agent, "processes/#2/os_app_tags/#0/#1"), "frontend");
        assert_string_equal(jstr(agent, "processes/#2/os_app_tags/#1/#0"), "app");
        assert_string_equal(jstr(agent, "processes/#2/os_app_tags/#1/#1"), "shop");
        assert_string_equal(jstr(agent, "processes/#2/os_app_tags/#2/#0"), "tier");
        assert_string_equal(jstr(agent, "processes/#2/os_app_tags/#2/#1"), "web:1");
        assert_string_equal(jstr(agent, "processes/#2/os_app_tags/#3/#0"), "zone");
        assert_string_equal(jstr(agent, "processes/#2/os_app_tags/#3/#1"), "eu-1");
        assert_processes_equal(agent, &st);
        json_decref(j);

        /* The server holds our version: a heartbeat, header fields only. */
        acked = 0;
        assert_int_equal(push(impl, &st, V0, &acked, &error), 0);
        assert_int_equal(acked, V0);
        j = server_state(&server);
        assert_int_equal(jint(j, "genesis/full"), 1);
        assert_int_equal(jint(j, "genesis/heartbeat"), 1);
        assert_string_equal(jstr(j, "genesis/last/kind"), "heartbeat");
        assert_false(json_is_true(jpath(j, "genesis/last/has_platform_data")));
        assert_false(json_is_true(jpath(j, "genesis/last/has_process_data")));
        assert_int_equal(jint(j, "genesis/last/version"), V0);
        assert_int_equal(jint(j, "genesis/last/agent_type"), 3);
        assert_int_equal(jint(j, "genesis/last/agent_id"), 42);
        assert_string_equal(jstr(j, "genesis/last/source_ip"), "127.0.0.1");
        assert_string_equal(jstr(j, "genesis/last/team_id"), "team-1");
        assert_string_equal(jstr(j, "genesis/last/agent_info/ip"), "127.0.0.1");
        assert_string_equal(jstr(j, "genesis/last/agent_info/mac"), "00:00:00:00:00:00");
        json_decref(j);

        /* A new version (a rename): the full message again, and the server stores the change. */
        procs[1].name = "shop-db-primary";
        st = make_state(V0 + 1);
        assert_int_equal(push(impl, &st, V0, &acked, &error), 0);
        assert_int_equal(acked, V0 + 1);
        j = server_state(&server);
        assert_int_equal(jint(j, "genesis/full"), 2);
        assert_int_equal(jint(j, "genesis/heartbeat"), 1);
        assert_int_equal(jint(j, LOOPBACK_AGENT "/version"), V0 + 1);
        assert_string_equal(jstr(j, LOOPBACK_AGENT "/processes/#0/name"), "shop-db-primary");
        assert_processes_equal(jpath(j, LOOPBACK_AGENT), &st);
        json_decref(j);

        /* The exporter's acked version is what counts: unknown (0) means full even for the same version. */
        assert_int_equal(push(impl, &st, 0, &acked, &error), 0);
        assert_int_equal(acked, V0 + 1);
        j = server_state(&server);
        assert_int_equal(jint(j, "genesis/full"), 3);
        json_decref(j);

        assert_null(error);
        sink_deepflow_ops.close(impl);
}

static void test_stale_version(void **unused) {
        void *impl = open_sink(loopback, NULL, NULL, 0);
        SyncState old = make_state(V0 + 10), cur = make_state(V0 + 11);
        uint64_t acked = 0;
        char *error = NULL;
        json_t *j;

        assert_int_equal(push(impl, &old, 0, &acked, &error), 0);
        assert_int_equal(acked, V0 + 10);

        /* The exporter wrongly believes V0 + 11 arrived: the heartbeat is answered with the version the
         * server really holds, handed back so that the exporter sends the full message next time. */
        assert_int_equal(push(impl, &cur, V0 + 11, &acked, &error), 0);
        assert_int_equal(acked, V0 + 10);
        j = server_state(&server);
        assert_string_equal(jstr(j, "genesis/last/kind"), "heartbeat");
        assert_int_equal(jint(j, LOOPBACK_AGENT "/version"), V0 + 10);
        json_decref(j);

        assert_int_equal(push(impl, &cur, acked, &acked, &error), 0);
        assert_int_equal(acked, V0 + 11);
        j = server_state(&server);
        assert_string_equal(jstr(j, "genesis/last/kind"), "full");
        assert_int_equal(jint(j, LOOPBACK_AGENT "/version"), V0 + 11);
        json_decref(j);

        assert_null(error);
        sink_deepflow_ops.close(impl);
}

/* The entry the server received for flow (proto, ip0:port0 -> ip1:port1) sent from side `side` (its pid
 * set); -1 when absent. Both ends of a flow on one host give the same tuple from different sides. */
static long find_entry(json_t *entries, int side, int proto, uint32_t ip0, uint32_t port0, uint32_t ip1,
                       uint32_t port1) {
        for (size_t i = 0; i < json_array_size(entries); i++) {
                json_t *e = json_array_get(entries, i);
                if (jint(e, "protocol") == proto && jint(e, "ipv4_0") == ip0 && jint(e, "port_0") == port0 &&
                    jint(e, "ipv4_1") == ip1 && jint(e, "port_1") == port1 &&
                    !jnull(e, side == 0 ? "pid_0" : "pid_1"))
                        return (long) i;
        }
        return -1;
}

static const SinkSocketGpid *find_socket(const SinkSocketResult *r, uint64_t inode) {
        for (size_t i = 0; i < r->n_socket_gpids; i++)
                if (r->socket_gpids[i].inode == inode)
                        return &r->socket_gpids[i];
        return NULL;
}

static uint32_t gpid_of(const SinkSocketResult *r, uint32_t pid) {
        for (size_t i = 0; i < r->n_process_gpids; i++)
                if (r->process_gpids[i].pid == pid)
                        return r->process_gpids[i].gpid;
        return 0;
}

static void result_done(SinkSocketResult *r) {
        free(r->process_gpids);
        free(r->socket_gpids);
        *r = (SinkSocketResult){};
}

static void test_gpid_sync(void **unused) {
        void *impl = open_sink(loopback, NULL, NULL, 0);
        SyncState st = make_state(V0 + 1);
        SinkSocketResult res = {};
        char *error = NULL;
        json_t *j, *entries, *e;
        long i;

        assert_int_equal(sink_deepflow_ops.push_sockets(impl, &st, &res, &error), 0);
        assert_null(error);
        j = server_state(&server);
        assert_int_equal(jint(j, "gpid/calls"), 1);
        assert_string_equal(jstr(j, "gpid/last/ctrl_ip"), "127.0.0.1");
        assert_string_equal(jstr(j, "gpid/last/ctrl_mac"), "00:00:00:00:00:00");
        assert_int_equal(jint(j, "gpid/last/agent_id"), 42);
        assert_string_equal(jstr(j, "gpid/last/team_id"), "team-1");
        assert_int_equal(jint(j, "gpid/last/entries_compress_algorithm"), 0);

        /* TCP established (3) and connected UDP (1); IPv6, listen and bound UDP left out. */
        entries = jpath(j, "gpid/last/entries");
        assert_int_equal(json_array_size(entries), 4);

        /* Client end of the loopback flow: side 0 is us (127.0.0.1 = 0x7f000001). */
        i = find_entry(entries, 0, 1, 0x7f000001, 41000, 0x7f000001, 5432);
        assert_true(i >= 0);
        e = json_array_get(entries, i);
        assert_int_equal(jint(e, "pid_0"), 4242);
        assert_true(jnull(e, "pid_1"));
        assert_int_equal(jint(e, "netns_idx"), 1);
        assert_true(jnull(e, "epc_id_0"));
        assert_true(jnull(e, "epc_id_1"));
        assert_true(jnull(e, "role_real"));
        assert_true(jnull(e, "pid_real"));
        assert_true(jnull(e, "ipv4_real"));
        assert_true(jnull(e, "port_real"));
        assert_true(jnull(e, "epc_id_real"));

        /* Server end of the same flow (same 4-tuple, seen from the other side): side 1 is us. */
        i = find_entry(entries, 1, 1, 0x7f000001, 41000, 0x7f000001, 5432);
        assert_true(i >= 0);
        e = json_array_get(entries, i);
        assert_int_equal(jint(e, "pid_1"), 17);
        assert_true(jnull(e, "pid_0"));
        assert_int_equal(jint(e, "netns_idx"), 2);

        /* Shared server socket: one entry, the lowest owner; 192.168.7.10 / 203.0.113.5 big-endian. */
        i = find_entry(entries, 1, 1, 0xcb007105, 61000, 0xc0a8070a, 443);
        assert_true(i >= 0);
        e = json_array_get(entries, i);
        assert_int_equal(jint(e, "pid_1"), 900);
        assert_true(jnull(e, "pid_0"));

        /* Connected UDP: always the client side, protocol 2. */
        i = find_entry(entries, 0, 2, 0x0a010203, 5353, 0x0a0102fe, 53);
        assert_true(i >= 0);
        e = json_array_get(entries, i);
        assert_int_equal(jint(e, "pid_0"), 4242);
        assert_true(jnull(e, "pid_1"));

        /* The answer mapped back: each socket's local gpid is its owner's gpid, the loopback flow's remote
         * gpid is the other end's process, the far-away flows have none. */
        assert_int_equal(res.n_socket_gpids, 4);
        uint32_t g_web = gpid_of(&res, 4242), g_db = gpid_of(&res, 17), g_worker = gpid_of(&res, 900);
        assert_int_not_equal(g_web, 0);
        assert_int_not_equal(g_db, 0);
        assert_int_not_equal(g_worker, 0);
        assert_int_not_equal(g_web, g_db);
        assert_int_equal(res.n_process_gpids, 3);
        assert_non_null(find_socket(&res, 501));
        assert_int_equal(find_socket(&res, 501)->local_gpid, g_web);
        assert_int_equal(find_socket(&res, 501)->remote_gpid, g_db);
        assert_int_equal(find_socket(&res, 501)->netns_inode, 4026531840ULL);
        assert_int_equal(find_socket(&res, 502)->local_gpid, g_db);
        assert_int_equal(find_socket(&res, 502)->remote_gpid, g_web);
        assert_int_equal(find_socket(&res, 502)->netns_inode, 4026532001ULL);
        assert_int_equal(find_socket(&res, 503)->local_gpid, g_worker);
        assert_int_equal(find_socket(&res, 503)->remote_gpid, 0);
        assert_int_equal(find_socket(&res, 504)->local_gpid, g_web);
        assert_int_equal(find_socket(&res, 504)->remote_gpid, 0);
        assert_null(find_socket(&res, 505));
        assert_null(find_socket(&res, 506));

        /* They are the server's answer: the answer entry of the shared socket carries our worker's gpid. */
        i = find_entry(entries, 1, 1, 0xcb007105, 61000, 0xc0a8070a, 443);
        assert_int_equal(jint(json_array_get(jpath(j, "gpid/last/answer"), i), "pid_1"), g_worker);
        json_decref(j);
        result_done(&res);

        /* gpids are stable across syncs. */
        assert_int_equal(sink_deepflow_ops.push_sockets(impl, &st, &res, &error), 0);
        assert_int_equal(gpid_of(&res, 4242), g_web);
        assert_int_equal(gpid_of(&res, 17), g_db);
        result_done(&res);

        sink_deepflow_ops.close(impl);
}

static void test_server_restart(void **unused) {
        void *impl = open_sink(loopback, NULL, NULL, 0);
        SyncState st = make_state(V0 + 2);
        SinkSocketResult res = {};
        uint64_t acked = 0;
        char *error = NULL;
        uint16_t port = server.port;
        json_t *j;

        assert_int_equal(push(impl, &st, 0, &acked, &error), 0);
        assert_int_equal(acked, V0 + 2);

        /* The controller dies without a word and comes back on the same port, empty. */
        server_kill(&server, SIGKILL);
        server_start(&server, port);
        j = server_state(&server);
        assert_int_equal(jint(j, "genesis/calls"), 0);
        json_decref(j);

        /* We believe it holds V0 + 2: heartbeat, answered 0, so everything goes again at once. */
        acked = 0;
        if (push(impl, &st, V0 + 2, &acked, &error) < 0)
                fail_msg("push after restart: %s", strempty(error));
        assert_int_equal(acked, V0 + 2);
        j = server_state(&server);
        assert_int_equal(jint(j, "genesis/heartbeat"), 1);
        assert_int_equal(jint(j, "genesis/full"), 1);
        assert_string_equal(jstr(j, "genesis/last/kind"), "full");
        assert_int_equal(jint(j, LOOPBACK_AGENT "/version"), V0 + 2);
        assert_processes_equal(jpath(j, LOOPBACK_AGENT), &st);
        json_decref(j);

        /* And the socket list reaches the new server too. */
        assert_int_equal(sink_deepflow_ops.push_sockets(impl, &st, &res, &error), 0);
        assert_int_equal(res.n_socket_gpids, 4);
        result_done(&res);
        j = server_state(&server);
        assert_int_equal(jint(j, "gpid/calls"), 1);
        assert_int_equal(json_array_size(jpath(j, "gpid/last/entries")), 4);
        json_decref(j);

        sink_deepflow_ops.close(impl);
}

static void test_server_down(void **unused) {
        void *impl = open_sink(loopback, NULL, NULL, 2 * USEC_PER_SEC);
        SyncState st = make_state(V0 + 3);
        SinkSocketResult res = {};
        uint64_t acked = 7;
        char *error = NULL;
        uint16_t port = server.port;
        usec_t t;
        int fd, r;

        /* Nothing listens: refused, at once, with the controller named. */
        assert_int_equal(push(impl, &st, 0, &acked, &error), 0);
        server_kill(&server, SIGKILL);
        t = now_usec(CLOCK_MONOTONIC);
        r = push(impl, &st, V0 + 3, &acked, &error);
        t = now_usec(CLOCK_MONOTONIC) - t;
        assert_true(r < 0);
        assert_int_equal(acked, V0 + 3); /* untouched on failure */
        assert_non_null(error);
        printf("push to a dead controller: %d after %llu ms: %s\n", r,
               (unsigned long long) (t / USEC_PER_MSEC), error);
        assert_non_null(strstr(error, "127.0.0.1"));
        assert_true(t < 2 * USEC_PER_SEC + 500 * USEC_PER_MSEC);
        free(error);
        error = NULL;

        /* Again (the channel is now in its failure state): still prompt, still refused. */
        t = now_usec(CLOCK_MONOTONIC);
        r = push(impl, &st, V0 + 3, &acked, &error);
        t = now_usec(CLOCK_MONOTONIC) - t;
        assert_int_equal(r, -ECONNREFUSED);
        assert_non_null(strstr(error, "Cannot connect to controller 127.0.0.1"));
        assert_true(t < 2 * USEC_PER_SEC + 500 * USEC_PER_MSEC);
        free(error);
        error = NULL;
        r = sink_deepflow_ops.push_sockets(impl, &st, &res, &error);
        assert_int_equal(r, -ECONNREFUSED);
        assert_non_null(error);
        assert_null(res.socket_gpids);
        free(error);
        error = NULL;

        /* A listener that never speaks HTTP/2: the connect timeout (2 s here) ends the wait. */
        struct sockaddr_in sa = {
                .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &(int){1}, sizeof(int)), 0);
        assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        assert_int_equal(listen(fd, 16), 0);
        t = now_usec(CLOCK_MONOTONIC);
        r = push(impl, &st, V0 + 3, &acked, &error);
        t = now_usec(CLOCK_MONOTONIC) - t;
        printf("push to a silent controller: %d after %llu ms: %s\n", r,
               (unsigned long long) (t / USEC_PER_MSEC), strempty(error));
        assert_int_equal(r, -ETIMEDOUT);
        assert_non_null(strstr(error, "within 2000 ms"));
        assert_true(t >= 1900 * USEC_PER_MSEC);
        assert_true(t < 2 * USEC_PER_SEC + 500 * USEC_PER_MSEC);
        free(error);
        error = NULL;
        close(fd);

        /* Back up: the same sink object recovers by itself. */
        server_start(&server, port);
        r = push(impl, &st, V0 + 3, &acked, &error);
        if (r < 0)
                fail_msg("push after the outage: %s", strempty(error));
        assert_int_equal(acked, V0 + 3);
        sink_deepflow_ops.close(impl);
}

static void test_failover(void **unused) {
        /* 127.0.0.2 is loopback too, but the server listens on 127.0.0.1 only: refused there. */
        const char *const controllers[] = {"127.0.0.2", "127.0.0.1", NULL};
        void *impl = open_sink(controllers, "127.0.0.1", NULL, 2 * USEC_PER_SEC);
        SyncState st = make_state(V0 + 4);
        uint64_t acked = 0;
        char *error = NULL;

        assert_int_equal(push(impl, &st, 0, &acked, &error), -ECONNREFUSED);
        assert_non_null(strstr(error, "127.0.0.2"));
        free(error);
        error = NULL;
        if (push(impl, &st, 0, &acked, &error) < 0)
                fail_msg("push to the second controller: %s", strempty(error));
        assert_int_equal(acked, V0 + 4);
        sink_deepflow_ops.close(impl);
}

static void test_configured_identity(void **unused) {
        void *impl = open_sink(loopback, "10.20.30.40", "AA:BB:CC:00:11:22", 0);
        SyncState st = make_state(V0 + 5);
        SinkSocketResult res = {};
        uint64_t acked = 0;
        char *error = NULL;
        json_t *j;

        assert_int_equal(push(impl, &st, 0, &acked, &error), 0);
        assert_int_equal(sink_deepflow_ops.push_sockets(impl, &st, &res, &error), 0);
        result_done(&res);
        j = server_state(&server);
        assert_int_equal(jint(j, "agents/10.20.30.40|aa:bb:cc:00:11:22/version"), V0 + 5);
        assert_string_equal(jstr(j, "agents/10.20.30.40|aa:bb:cc:00:11:22/source_ip"), "10.20.30.40");
        assert_string_equal(jstr(j, "gpid/last/ctrl_ip"), "10.20.30.40");
        assert_string_equal(jstr(j, "gpid/last/ctrl_mac"), "aa:bb:cc:00:11:22");
        json_decref(j);
        sink_deepflow_ops.close(impl);
}

static void test_open_errors(void **unused) {
        const char *const none[] = {NULL};
        ConfigSink cfg = {.type = SINK_DEEPFLOW, .name = "bad", .controller_ips = (char **) none};
        SyncState st = make_state(0);
        void *impl = NULL;
        uint64_t acked = 0;
        char *error = NULL;

        assert_int_equal(sink_deepflow_ops.open(&cfg, &impl, &error), -EINVAL);
        assert_non_null(strstr(error, "controller_ips"));
        free(error);
        error = NULL;

        cfg.controller_ips = (char **) loopback;
        cfg.agent_type = 2;
        assert_int_equal(sink_deepflow_ops.open(&cfg, &impl, &error), -EINVAL);
        assert_non_null(strstr(error, "agent_type 2"));
        free(error);
        error = NULL;

        cfg.agent_type = 0;
        cfg.ctrl_mac = "not-a-mac";
        assert_int_equal(sink_deepflow_ops.open(&cfg, &impl, &error), -EINVAL);
        assert_non_null(strstr(error, "'not-a-mac'"));
        free(error);
        error = NULL;

        cfg.ctrl_mac = NULL;
        cfg.ctrl_ip = "10.0.0.300";
        assert_int_equal(sink_deepflow_ops.open(&cfg, &impl, &error), -EINVAL);
        free(error);
        error = NULL;

        /* Version 0 is ignored by the controller: refused before any I/O. */
        cfg.ctrl_ip = NULL;
        assert_int_equal(sink_deepflow_ops.open(&cfg, &impl, &error), 0);
        assert_int_equal(push(impl, &st, 0, &acked, &error), -EINVAL);
        assert_non_null(error);
        free(error);
        sink_deepflow_ops.close(impl);
}

static int group_setup(void **unused) {
        server_start(&server, 0);
        return 0;
}

int main(int argc, char *argv[]) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_full_heartbeat_change),
                cmocka_unit_test(test_stale_version),
                cmocka_unit_test(test_gpid_sync),
                cmocka_unit_test(test_server_restart),
                cmocka_unit_test(test_server_down),
                cmocka_unit_test(test_failover),
                cmocka_unit_test(test_configured_identity),
                cmocka_unit_test(test_open_errors),
        };
        int r;

        if (argc != 3) {
                fprintf(stderr, "Usage: %s PROTO SERVER_PY\n", argv[0]);
                return EXIT_FAILURE;
        }
        arg_proto = argv[1];
        arg_server = argv[2];
        if (!python_has_grpc()) {
                printf("SKIP: %s lacks grpc or grpc_tools (python3-grpcio, python3-grpc-tools)\n", PYTHON);
                return 77;
        }
        if (!mkdtemp(tmpdir)) {
                perror("mkdtemp");
                return EXIT_FAILURE;
        }
        r = cmocka_run_group_tests(tests, group_setup, NULL);
        server_kill(&server, SIGTERM);
        (void) unlink(server.state_path);
        (void) rmdir(tmpdir);
        sink_deepflow_global_done();
        return r;
}
