/* Bytes on the wire and CPU time of the deepflow sink's messages for a large host: 2,000 processes with
 * 4 tags each and 20,000 sockets (18,000 TCP established, 2,000 connected UDP). Measures the encoding
 * (SyncState -> protobuf bytes) and the GPIDSync answer mapping, without the network: the gRPC call
 * itself adds one HTTP/2 frame header per message. Build without sanitizers for real figures:
 *   meson setup build-rel --buildtype=release && ninja -C build-rel && build-rel/bench/bench-deepflow-msg */

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deepflow.pb-c.h"
#include "sink-deepflow-msg.h"

#define N_PROCESSES 2000
#define N_SOCKETS   20000
#define ROUNDS      20

static double cpu_now(void) {
        struct timespec ts;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...) {
        va_list ap;
        char *s;

        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                abort();
        va_end(ap);
        return s;
}

int main(void) {
        static SyncProcess procs[N_PROCESSES];
        static SyncSocket socks[N_SOCKETS];
        static uint32_t pids[N_PROCESSES];
        DeepflowIdentity id = {.ctrl_ip = "10.0.0.5",
                               .ctrl_mac = "52:54:00:12:34:56",
                               .agent_id = 1,
                               .agent_type = 3,
                               .team_id = "t"};
        char *ips[] = {"10.0.0.5/24", NULL};
        DeepflowInterface ifs[] = {{.name = "eth0", .mac = 0x525400123456ULL, .ips = ips, .n_ips = 1}};
        uint8_t *buf = NULL;
        size_t len = 0, full_len = 0, hb_len = 0, gpid_len = 0, *index = NULL, n_entries = 0;
        double t, t_full, t_hb, t_gpid, t_answer;

        for (size_t i = 0; i < N_PROCESSES; i++) {
                SyncTag *tags = calloc(4, sizeof(SyncTag));
                pids[i] = (uint32_t) (1000 + i);
                for (size_t k = 0; k < 4; k++) {
                        tags[k].key = xasprintf("key%zu", k);
                        tags[k].value = xasprintf("value-%zu-%zu", i % 50, k);
                }
                procs[i] = (SyncProcess){
                        .pid = pids[i],
                        .ppid = 1,
                        .start_time = 1700000000 + i,
                        .name = xasprintf("service-%zu", i % 200),
                        .process_name = xasprintf("java"),
                        .cmdline = xasprintf("/usr/bin/java -Xmx2g -jar /srv/app-%zu.jar --port %zu", i,
                                             8000 + i),
                        .user = xasprintf("app"),
                        .uid = 1000,
                        .netns_inode = 4026531840ULL,
                        .netns_idx = 1,
                        .container_id = xasprintf("%064zx", i),
                        .tags = tags,
                        .n_tags = 4,
                };
        }
        for (size_t i = 0; i < N_SOCKETS; i++) {
                bool udp = i % 10 == 9;
                socks[i] = (SyncSocket){
                        .udp = udp,
                        .family = 4,
                        .local_port = (uint16_t) (10000 + i % 50000),
                        .remote_port = (uint16_t) (udp ? 53 : 443),
                        .role = i % 3 == 0 ? SYNC_ROLE_SERVER : SYNC_ROLE_CLIENT,
                        .pids = &pids[i % N_PROCESSES],
                        .n_pids = 1,
                        .netns_inode = 4026531840ULL,
                        .netns_idx = 1,
                        .inode = 100000 + i,
                };
                strcpy(socks[i].state, udp ? "connected" : "established");
                snprintf(socks[i].local_addr, sizeof(socks[i].local_addr), "10.0.%zu.%zu", (i / 250) % 256,
                         i % 250 + 1);
                snprintf(socks[i].remote_addr, sizeof(socks[i].remote_addr), "172.16.%zu.%zu",
                         (i / 200) % 256, i % 200 + 1);
        }
        SyncState st = {.version = 1700000000,
                        .hostname = "bench-host",
                        .processes = procs,
                        .n_processes = N_PROCESSES,
                        .sockets = socks,
                        .n_sockets = N_SOCKETS};

        t = cpu_now();
        for (int r = 0; r < ROUNDS; r++) {
                free(buf);
                if (deepflow_genesis_pack(&id, &st, true, ifs, 1, &buf, &full_len) < 0)
                        return EXIT_FAILURE;
        }
        t_full = (cpu_now() - t) / ROUNDS;

        t = cpu_now();
        for (int r = 0; r < ROUNDS; r++) {
                free(buf);
                if (deepflow_genesis_pack(&id, &st, false, NULL, 0, &buf, &hb_len) < 0)
                        return EXIT_FAILURE;
        }
        t_hb = (cpu_now() - t) / ROUNDS;

        t = cpu_now();
        for (int r = 0; r < ROUNDS; r++) {
                free(buf);
                free(index);
                if (deepflow_gpid_pack(&id, &st, &buf, &gpid_len, &index, &n_entries) < 0)
                        return EXIT_FAILURE;
        }
        t_gpid = (cpu_now() - t) / ROUNDS;

        /* The controller's answer: the same entries with gpids in the pid fields. */
        Agent__GPIDSyncRequest *req = agent__gpidsync_request__unpack(NULL, gpid_len, buf);
        Agent__GPIDSyncResponse resp = AGENT__GPIDSYNC_RESPONSE__INIT;
        resp.n_entries = req->n_entries;
        resp.entries = req->entries;
        for (size_t i = 0; i < req->n_entries; i++) {
                req->entries[i]->has_pid_0 = req->entries[i]->has_pid_1 = true;
                req->entries[i]->pid_0 += 1;
                req->entries[i]->pid_1 += 1;
        }
        len = agent__gpidsync_response__get_packed_size(&resp);
        uint8_t *answer = malloc(len);
        agent__gpidsync_response__pack(&resp, answer);
        agent__gpidsync_request__free_unpacked(req, NULL);

        t = cpu_now();
        for (int r = 0; r < ROUNDS; r++) {
                SinkSocketResult res = {};
                if (deepflow_gpid_unpack(answer, len, &st, index, n_entries, &res, NULL) < 0)
                        return EXIT_FAILURE;
                free(res.process_gpids);
                free(res.socket_gpids);
        }
        t_answer = (cpu_now() - t) / ROUNDS;

        printf("deepflow sink, %d processes x 4 tags, %d sockets (%zu GPIDSync entries):\n", N_PROCESSES,
               N_SOCKETS, n_entries);
        printf("  GenesisSync full      %8zu bytes  %7.2f ms CPU to encode\n", full_len, t_full * 1e3);
        printf("  GenesisSync heartbeat %8zu bytes  %7.3f ms CPU to encode\n", hb_len, t_hb * 1e3);
        printf("  GPIDSync request      %8zu bytes  %7.2f ms CPU to encode\n", gpid_len, t_gpid * 1e3);
        printf("  GPIDSync answer       %8zu bytes  %7.2f ms CPU to map back\n", len, t_answer * 1e3);
        free(answer);
        free(buf);
        free(index);
        for (size_t i = 0; i < N_PROCESSES; i++) {
                for (size_t k = 0; k < 4; k++) {
                        free(procs[i].tags[k].key);
                        free(procs[i].tags[k].value);
                }
                free(procs[i].tags);
                free(procs[i].name);
                free(procs[i].process_name);
                free(procs[i].cmdline);
                free(procs[i].user);
                free(procs[i].container_id);
        }
        return EXIT_SUCCESS;
}
