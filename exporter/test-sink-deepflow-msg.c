/* Unit tests of the deepflow sink's messages: SyncState -> GenesisSyncRequest / GPIDSyncRequest bytes,
 * decoded back with protobuf-c and checked field by field, and the GPIDSync answer mapped back to gpids. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "deepflow.pb-c.h"
#include "sink-deepflow-host.h"
#include "sink-deepflow-msg.h"

static const DeepflowIdentity ident = {
        .ctrl_ip = "10.1.2.3",
        .ctrl_mac = "02:42:ac:11:00:02",
        .agent_id = 7,
        .agent_type = 3,
        .team_id = "team-a",
};

/* Two processes given out of pid order, with tags out of (key, value) order. */
static SyncTag tags_b[] = {{"zone", "b"}, {"app", "web"}, {"app", "api"}};
static SyncProcess procs[] = {
        {.pid = 300,
         .start_time = 1700000300,
         .name = "web",
         .process_name = "nginx",
         .cmdline = "nginx -g daemon off;",
         .user = "www-data",
         .netns_inode = 4026531992ULL,
         .container_id = "",
         .tags = tags_b,
         .n_tags = 3},
        {.pid = 20,
         .start_time = 1700000020,
         .name = "db",
         .process_name = "postgres",
         .cmdline = "postgres -D /var/lib/pg",
         .user = "postgres",
         .netns_inode = 0x1f0000001ULL,
         .container_id = "abc123",
         .tags = NULL,
         .n_tags = 0},
};

static uint32_t pids_web[] = {300};
static uint32_t pids_shared[] = {20, 300};

static SyncSocket socks[] = {
        /* 0: TCP client 10.0.0.5:40000 -> 10.0.0.9:5432 */
        {.udp = false,
         .family = 4,
         .state = "established",
         .local_addr = "10.0.0.5",
         .local_port = 40000,
         .remote_addr = "10.0.0.9",
         .remote_port = 5432,
         .role = SYNC_ROLE_CLIENT,
         .pids = pids_web,
         .n_pids = 1,
         .netns_inode = 11,
         .netns_idx = 1,
         .inode = 1001},
        /* 1: TCP server 1.2.3.4:80 <- 5.6.7.8:50000, shared by 20 and 300 */
        {.udp = false,
         .family = 4,
         .state = "established",
         .local_addr = "1.2.3.4",
         .local_port = 80,
         .remote_addr = "5.6.7.8",
         .remote_port = 50000,
         .role = SYNC_ROLE_SERVER,
         .pids = pids_shared,
         .n_pids = 2,
         .netns_inode = 11,
         .netns_idx = 1,
         .inode = 1002},
        /* 2: TCP listen: left out */
        {.udp = false,
         .family = 4,
         .state = "listen",
         .local_addr = "0.0.0.0",
         .local_port = 80,
         .remote_addr = "0.0.0.0",
         .remote_port = 0,
         .role = SYNC_ROLE_SERVER,
         .pids = pids_web,
         .n_pids = 1,
         .netns_inode = 11,
         .netns_idx = 1,
         .inode = 1003},
        /* 3: connected UDP marked server: still a client */
        {.udp = true,
         .family = 4,
         .state = "connected",
         .local_addr = "10.0.0.5",
         .local_port = 5353,
         .remote_addr = "10.0.0.1",
         .remote_port = 53,
         .role = SYNC_ROLE_SERVER,
         .pids = pids_web,
         .n_pids = 1,
         .netns_inode = 12,
         .netns_idx = 2,
         .inode = 1004},
        /* 4: IPv6: left out */
        {.udp = false,
         .family = 6,
         .state = "established",
         .local_addr = "2001:db8::1",
         .local_port = 443,
         .remote_addr = "2001:db8::2",
         .remote_port = 60000,
         .role = SYNC_ROLE_SERVER,
         .pids = pids_web,
         .n_pids = 1,
         .netns_inode = 11,
         .netns_idx = 1,
         .inode = 1005},
        /* 5: bound UDP: left out */
        {.udp = true,
         .family = 4,
         .state = "bound",
         .local_addr = "0.0.0.0",
         .local_port = 68,
         .remote_addr = "0.0.0.0",
         .remote_port = 0,
         .role = SYNC_ROLE_CLIENT,
         .pids = pids_web,
         .n_pids = 1,
         .netns_inode = 11,
         .netns_idx = 1,
         .inode = 1006},
        /* 6: established but no synced owner: left out */
        {.udp = false,
         .family = 4,
         .state = "established",
         .local_addr = "10.0.0.5",
         .local_port = 40001,
         .remote_addr = "10.0.0.9",
         .remote_port = 5432,
         .role = SYNC_ROLE_CLIENT,
         .pids = NULL,
         .n_pids = 0,
         .netns_inode = 11,
         .netns_idx = 1,
         .inode = 1007},
};

static SyncState state = {
        .version = 1700000000,
        .hostname = "host-1",
        .processes = procs,
        .n_processes = 2,
        .sockets = socks,
        .n_sockets = 7,
};

static void test_genesis_full(void **unused) {
        char *ips[] = {"10.0.0.5/24", "fe80::1/64", NULL};
        DeepflowInterface ifs[] = {{.name = "eth0", .mac = 0x0242ac110002ULL, .ips = ips, .n_ips = 2}};
        uint8_t *buf = NULL;
        size_t len = 0;

        assert_int_equal(deepflow_genesis_pack(&ident, &state, true, ifs, 1, &buf, &len), 0);
        Agent__GenesisSyncRequest *m = agent__genesis_sync_request__unpack(NULL, len, buf);
        assert_non_null(m);

        assert_true(m->has_version);
        assert_int_equal(m->version, 1700000000);
        assert_true(m->has_agent_type);
        assert_int_equal(m->agent_type, 3);
        assert_string_equal(m->source_ip, "10.1.2.3");
        assert_true(m->has_agent_id);
        assert_int_equal(m->agent_id, 7);
        assert_string_equal(m->team_id, "team-a");
        assert_non_null(m->agent_info);
        assert_string_equal(m->agent_info->ip, "10.1.2.3");
        assert_string_equal(m->agent_info->mac, "02:42:ac:11:00:02");
        assert_string_equal(m->agent_info->team_id, "team-a");
        assert_null(m->agent_info->group_id);

        assert_non_null(m->platform_data);
        assert_string_equal(m->platform_data->raw_hostname, "host-1");
        assert_false(m->platform_data->has_platform_enabled);
        assert_int_equal(m->platform_data->n_ips, 0);
        assert_int_equal(m->platform_data->n_interfaces, 1);
        assert_string_equal(m->platform_data->interfaces[0]->name, "eth0");
        assert_int_equal(m->platform_data->interfaces[0]->mac, 0x0242ac110002ULL);
        assert_int_equal(m->platform_data->interfaces[0]->n_ip, 2);
        assert_string_equal(m->platform_data->interfaces[0]->ip[0], "10.0.0.5/24");
        assert_string_equal(m->platform_data->interfaces[0]->ip[1], "fe80::1/64");

        assert_non_null(m->process_data);
        assert_int_equal(m->process_data->n_process_entries, 2);
        Agent__ProcessInfo *p = m->process_data->process_entries[0];
        assert_int_equal(p->pid, 20);
        assert_string_equal(p->name, "db");
        assert_string_equal(p->process_name, "postgres");
        assert_string_equal(p->cmdline, "postgres -D /var/lib/pg");
        assert_string_equal(p->user, "postgres");
        assert_int_equal(p->start_time, 1700000020);
        assert_true(p->has_netns_id);
        assert_int_equal(p->netns_id, 0xf0000001U); /* the inode's low 32 bits */
        assert_string_equal(p->container_id, "abc123");
        assert_int_equal(p->n_os_app_tags, 0);
        assert_false(p->has_biz_type);

        p = m->process_data->process_entries[1];
        assert_int_equal(p->pid, 300);
        assert_string_equal(p->name, "web");
        assert_string_equal(p->container_id, "");
        assert_int_equal(p->netns_id, 4026531992U);
        assert_int_equal(p->n_os_app_tags, 3);
        assert_string_equal(p->os_app_tags[0]->key, "app");
        assert_string_equal(p->os_app_tags[0]->value, "api");
        assert_string_equal(p->os_app_tags[1]->key, "app");
        assert_string_equal(p->os_app_tags[1]->value, "web");
        assert_string_equal(p->os_app_tags[2]->key, "zone");
        assert_string_equal(p->os_app_tags[2]->value, "b");

        agent__genesis_sync_request__free_unpacked(m, NULL);
        free(buf);
}

static void test_genesis_heartbeat(void **unused) {
        DeepflowIdentity no_team = ident;
        uint8_t *buf = NULL;
        size_t len = 0;

        no_team.team_id = NULL;
        assert_int_equal(deepflow_genesis_pack(&no_team, &state, false, NULL, 0, &buf, &len), 0);
        Agent__GenesisSyncRequest *m = agent__genesis_sync_request__unpack(NULL, len, buf);
        assert_non_null(m);
        assert_int_equal(m->version, 1700000000);
        assert_int_equal(m->agent_type, 3);
        assert_string_equal(m->source_ip, "10.1.2.3");
        assert_int_equal(m->agent_id, 7);
        assert_null(m->team_id);
        assert_non_null(m->agent_info);
        assert_string_equal(m->agent_info->mac, "02:42:ac:11:00:02");
        assert_null(m->platform_data);
        assert_null(m->process_data);
        agent__genesis_sync_request__free_unpacked(m, NULL);
        free(buf);
}

static void test_genesis_version(void **unused) {
        Agent__GenesisSyncResponse resp = AGENT__GENESIS_SYNC_RESPONSE__INIT;
        uint8_t buf[16];
        uint64_t v = 1;
        size_t len;

        len = agent__genesis_sync_response__pack(&resp, buf);
        assert_int_equal(deepflow_genesis_unpack_version(buf, len, &v), 0);
        assert_int_equal(v, 0);
        resp.has_version = true;
        resp.version = 1700000042;
        len = agent__genesis_sync_response__pack(&resp, buf);
        assert_int_equal(deepflow_genesis_unpack_version(buf, len, &v), 0);
        assert_int_equal(v, 1700000042);
        assert_int_equal(deepflow_genesis_unpack_version((const uint8_t *) "\xff\xff", 2, &v), -EBADMSG);
}

static void test_gpid_request(void **unused) {
        uint8_t *buf = NULL;
        size_t len = 0, *index = NULL, n = 0;

        assert_int_equal(deepflow_gpid_pack(&ident, &state, &buf, &len, &index, &n), 0);
        assert_int_equal(n, 3);
        assert_int_equal(index[0], 0);
        assert_int_equal(index[1], 1);
        assert_int_equal(index[2], 3);

        Agent__GPIDSyncRequest *m = agent__gpidsync_request__unpack(NULL, len, buf);
        assert_non_null(m);
        assert_string_equal(m->ctrl_ip, "10.1.2.3");
        assert_string_equal(m->ctrl_mac, "02:42:ac:11:00:02");
        assert_int_equal(m->agent_id, 7);
        assert_string_equal(m->team_id, "team-a");
        assert_true(m->has_entries_compress_algorithm);
        assert_int_equal(m->entries_compress_algorithm, 0);
        assert_int_equal(m->n_entries, 3);

        /* TCP client: side 0 is us. */
        Agent__GPIDSyncEntry *e = m->entries[0];
        assert_int_equal(e->protocol, AGENT__SERVICE_PROTOCOL__TCP_SERVICE);
        assert_true(e->has_pid_0);
        assert_int_equal(e->pid_0, 300);
        assert_int_equal(e->ipv4_0, 0x0a000005);
        assert_int_equal(e->port_0, 40000);
        assert_false(e->has_pid_1);
        assert_int_equal(e->ipv4_1, 0x0a000009);
        assert_int_equal(e->port_1, 5432);
        assert_int_equal(e->netns_idx, 1);
        assert_false(e->has_epc_id_0);
        assert_false(e->has_epc_id_1);
        assert_false(e->has_role_real);
        assert_false(e->has_pid_real);
        assert_false(e->has_ipv4_real);
        assert_false(e->has_port_real);
        assert_false(e->has_epc_id_real);

        /* TCP server shared by 20 and 300: side 1 is us, with the lowest pid; 1.2.3.4 = 0x01020304. */
        e = m->entries[1];
        assert_int_equal(e->protocol, AGENT__SERVICE_PROTOCOL__TCP_SERVICE);
        assert_true(e->has_pid_1);
        assert_int_equal(e->pid_1, 20);
        assert_int_equal(e->ipv4_1, 0x01020304);
        assert_int_equal(e->port_1, 80);
        assert_false(e->has_pid_0);
        assert_int_equal(e->ipv4_0, 0x05060708);
        assert_int_equal(e->port_0, 50000);

        /* Connected UDP: always the client side. */
        e = m->entries[2];
        assert_int_equal(e->protocol, AGENT__SERVICE_PROTOCOL__UDP_SERVICE);
        assert_int_equal(e->pid_0, 300);
        assert_false(e->has_pid_1);
        assert_int_equal(e->ipv4_0, 0x0a000005);
        assert_int_equal(e->port_0, 5353);
        assert_int_equal(e->ipv4_1, 0x0a000001);
        assert_int_equal(e->port_1, 53);
        assert_int_equal(e->netns_idx, 2);

        agent__gpidsync_request__free_unpacked(m, NULL);
        free(buf);
        free(index);
}

static void test_gpid_answer(void **unused) {
        Agent__GPIDSyncEntry e[3], *ptrs[3] = {&e[0], &e[1], &e[2]};
        Agent__GPIDSyncResponse resp = AGENT__GPIDSYNC_RESPONSE__INIT;
        size_t index[] = {0, 1, 3};
        SinkSocketResult res = {};
        char *error = NULL;
        uint8_t buf[256];
        size_t len;

        for (size_t i = 0; i < 3; i++) {
                agent__gpidsync_entry__init(&e[i]);
                e[i].has_pid_0 = e[i].has_pid_1 = true;
        }
        e[0].pid_0 = 1300; /* client: local is side 0 */
        e[0].pid_1 = 9001;
        e[1].pid_0 = 9002; /* server: local is side 1 */
        e[1].pid_1 = 1020;
        e[2].pid_0 = 1300; /* UDP: local is side 0 */
        e[2].pid_1 = 0;
        resp.n_entries = 3;
        resp.entries = ptrs;
        len = agent__gpidsync_response__pack(&resp, buf);

        assert_int_equal(deepflow_gpid_unpack(buf, len, &state, index, 3, &res, &error), 0);
        assert_null(error);
        assert_int_equal(res.n_socket_gpids, 3);
        assert_int_equal(res.socket_gpids[0].inode, 1001);
        assert_int_equal(res.socket_gpids[0].netns_inode, 11);
        assert_int_equal(res.socket_gpids[0].local_gpid, 1300);
        assert_int_equal(res.socket_gpids[0].remote_gpid, 9001);
        assert_int_equal(res.socket_gpids[1].inode, 1002);
        assert_int_equal(res.socket_gpids[1].local_gpid, 1020);
        assert_int_equal(res.socket_gpids[1].remote_gpid, 9002);
        assert_int_equal(res.socket_gpids[2].inode, 1004);
        assert_int_equal(res.socket_gpids[2].netns_inode, 12);
        assert_int_equal(res.socket_gpids[2].local_gpid, 1300);
        assert_int_equal(res.socket_gpids[2].remote_gpid, 0);

        assert_int_equal(res.n_process_gpids, 2);
        assert_int_equal(res.process_gpids[0].pid, 20);
        assert_int_equal(res.process_gpids[0].gpid, 1020);
        assert_int_equal(res.process_gpids[1].pid, 300);
        assert_int_equal(res.process_gpids[1].gpid, 1300);
        free(res.process_gpids);
        free(res.socket_gpids);

        /* An answer with a different number of entries is refused with a reason. */
        resp.n_entries = 2;
        len = agent__gpidsync_response__pack(&resp, buf);
        res = (SinkSocketResult){};
        assert_int_equal(deepflow_gpid_unpack(buf, len, &state, index, 3, &res, &error), -EPROTO);
        assert_non_null(error);
        assert_non_null(strstr(error, "2 entries for 3 sent"));
        assert_null(res.socket_gpids);
        free(error);
}

static void test_gpid_empty(void **unused) {
        SyncState empty = {.version = 5, .hostname = "h"};
        SinkSocketResult res = {};
        uint8_t *buf = NULL, answer[8];
        size_t len = 0, *index = NULL, n = 1;
        Agent__GPIDSyncResponse resp = AGENT__GPIDSYNC_RESPONSE__INIT;

        assert_int_equal(deepflow_gpid_pack(&ident, &empty, &buf, &len, &index, &n), 0);
        assert_int_equal(n, 0);
        assert_null(index);
        Agent__GPIDSyncRequest *m = agent__gpidsync_request__unpack(NULL, len, buf);
        assert_non_null(m);
        assert_int_equal(m->n_entries, 0);
        assert_string_equal(m->ctrl_ip, "10.1.2.3");
        agent__gpidsync_request__free_unpacked(m, NULL);
        free(buf);

        len = agent__gpidsync_response__pack(&resp, answer);
        assert_int_equal(deepflow_gpid_unpack(answer, len, &empty, NULL, 0, &res, NULL), 0);
        assert_int_equal(res.n_socket_gpids, 0);
        assert_int_equal(res.n_process_gpids, 0);
        free(res.socket_gpids);
        free(res.process_gpids);
}

static void test_mac_normalize(void **unused) {
        char *s = NULL;

        assert_int_equal(deepflow_mac_normalize("02:42:AC:11:00:02", &s), 0);
        assert_string_equal(s, "02:42:ac:11:00:02");
        free(s);
        assert_int_equal(deepflow_mac_normalize("02:42:ac:11:00", &s), -EINVAL);
        assert_int_equal(deepflow_mac_normalize("02-42-ac-11-00-02", &s), -EINVAL);
        assert_int_equal(deepflow_mac_normalize("0x:42:ac:11:00:02", &s), -EINVAL);
        assert_int_equal(deepflow_mac_normalize(" 2:42:ac:11:00:02", &s), -EINVAL);
}

static void test_host(void **unused) {
        DeepflowInterface *ifs = NULL;
        char *ip = NULL, *mac = NULL;
        size_t n = 0;

        /* Loopback: the route to 127.0.0.1 starts at 127.0.0.1, whose "MAC" is all zeroes. */
        assert_int_equal(deepflow_host_route_source("127.0.0.1", 30035, &ip), 0);
        assert_string_equal(ip, "127.0.0.1");
        assert_int_equal(deepflow_host_mac_of(ip, &mac), 0);
        assert_string_equal(mac, "00:00:00:00:00:00");
        free(ip);
        free(mac);
        assert_int_equal(deepflow_host_mac_of("192.0.2.77", &mac), -EADDRNOTAVAIL);

        /* Loopback interfaces are never listed; the list is sorted by name. */
        assert_int_equal(deepflow_host_interfaces(&ifs, &n), 0);
        for (size_t i = 0; i < n; i++) {
                assert_string_not_equal(ifs[i].name, "lo");
                if (i > 0)
                        assert_true(strcmp(ifs[i - 1].name, ifs[i].name) < 0);
                for (size_t j = 0; j < ifs[i].n_ips; j++)
                        assert_non_null(strchr(ifs[i].ips[j], '/'));
        }
        deepflow_interfaces_free(ifs, n);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_genesis_full),    cmocka_unit_test(test_genesis_heartbeat),
                cmocka_unit_test(test_genesis_version), cmocka_unit_test(test_gpid_request),
                cmocka_unit_test(test_gpid_answer),     cmocka_unit_test(test_gpid_empty),
                cmocka_unit_test(test_mac_normalize),   cmocka_unit_test(test_host),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
