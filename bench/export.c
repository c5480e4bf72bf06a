/* bench-export: what one sync costs for 2,000 synced processes and 20,000 sockets.
 *
 * Fills a temporary state.db with synthetic scanner and matcher rows (3 tags per process, 10 sockets per
 * process: a listener and 9 connections, one in ten IPv6), then measures, as process CPU time averaged
 * over several rounds: the state build (one read transaction + the SHA-256 digest), the digest alone, the
 * JSON serialization of the full document. Bytes on the wire of the http sink are counted by a minimal
 * HTTP/1.1 server in a child process on 127.0.0.1 (request line + headers + body as received, and the
 * answer), for a full sync and for a heartbeat, through the real sink (sink_http_ops).
 *
 * Usage: bench-export [ROUNDS]   (default 10; figures in the README "procsync-exporter") */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "db.h"
#include "sink.h"
#include "state-json.h"
#include "sync-state.h"

#define N_PROCESSES         2000
#define SOCKETS_PER_PROCESS 10

static double cpu_ms(void) {
        return (double) now_usec(CLOCK_PROCESS_CPUTIME_ID) / USEC_PER_MSEC;
}

static void die(const char *what, int r) {
        fprintf(stderr, "bench-export: %s: %s\n", what, strerror(r < 0 ? -r : r));
        exit(EXIT_FAILURE);
}

static void exec_sql(sqlite3 *db, const char *sql) {
        char *err = NULL;

        if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
                fprintf(stderr, "bench-export: %s: %s\n", sql, err);
                exit(EXIT_FAILURE);
        }
}

static void fill(sqlite3 *db, int64_t now_ms) {
        sqlite3_stmt *p, *d, *s, *o;
        unsigned id = 0;

        exec_sql(db, "BEGIN");
        exec_sql(db,
                 "INSERT INTO scan_netns (inode, idx, first_seen, last_seen) VALUES (4026531840, 1, 1, 1), "
                 "(4026532001, 2, 1, 1), (4026532002, 3, 1, 1), (4026532003, 4, 1, 1)");
        if (sqlite3_prepare_v2(
                    db,
                    "INSERT INTO scan_processes (pid, start_ticks, start_time, ppid, comm, cmdline, uid, "
                    "user, netns_inode, container_id, first_seen, last_seen, changed_generation) "
                    "VALUES (?1, ?1 * 7, 1700000000 + ?1, 1, ?2, ?3, 1000, 'app', ?4, ?5, 1, 1, 1)",
                    -1, &p, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(
                    db,
                    "INSERT INTO match_decisions (pid, start_ticks, action, rule, name, reason, synced, "
                    "tags, decided_at) VALUES (?1, ?1 * 7, 'accept', 1, ?2, 'rule', 1, ?3, 1)",
                    -1, &d, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(
                    db,
                    "INSERT INTO scan_sockets (id, netns_inode, inode, proto, family, state, local_addr, "
                    "local_port, remote_addr, remote_port, role, first_seen, last_seen) "
                    "VALUES (?1, ?2, 100000 + ?1, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)",
                    -1, &s, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(db, "INSERT INTO scan_socket_owners (socket_id, pid) VALUES (?1, ?2)", -1, &o,
                               NULL) != SQLITE_OK)
                die("prepare", -EIO);

        for (unsigned pid = 1000; pid < 1000 + N_PROCESSES; pid++) {
                char comm[32], cmdline[160], name[64], tags[160], container[80] = "";
                int64_t netns = pid % 4 == 0 ? 4026531840LL : 4026532000LL + pid % 4;

                snprintf(comm, sizeof(comm), "worker-%u", pid % 50);
                snprintf(cmdline, sizeof(cmdline),
                         "/usr/bin/python3 /srv/app/services/worker.py --id %u --queue jobs-%u --log-level "
                         "info",
                         pid, pid % 17);
                snprintf(name, sizeof(name), "worker-%u-py-script", pid % 50);
                snprintf(tags, sizeof(tags),
                         "{\"app\": \"shop-%u\", \"env\": \"prod\", \"team\": \"payments\"}", pid % 20);
                if (netns != 4026531840LL)
                        snprintf(container, sizeof(container), "%064x", pid * 2654435761u);
                sqlite3_reset(p);
                sqlite3_bind_int(p, 1, (int) pid);
                sqlite3_bind_text(p, 2, comm, -1, SQLITE_TRANSIENT);
                sqlite3_bind_text(p, 3, cmdline, -1, SQLITE_TRANSIENT);
                sqlite3_bind_int64(p, 4, netns);
                sqlite3_bind_text(p, 5, container, -1, SQLITE_TRANSIENT);
                sqlite3_reset(d);
                sqlite3_bind_int(d, 1, (int) pid);
                sqlite3_bind_text(d, 2, name, -1, SQLITE_TRANSIENT);
                sqlite3_bind_text(d, 3, tags, -1, SQLITE_TRANSIENT);
                if (sqlite3_step(p) != SQLITE_DONE || sqlite3_step(d) != SQLITE_DONE)
                        die("insert process", -EIO);

                for (unsigned k = 0; k < SOCKETS_PER_PROCESS; k++) {
                        bool v6 = k == 9, listen = k == 0;
                        char local[64], remote[64];

                        id++;
                        snprintf(local, sizeof(local), v6 ? "fd00::%x" : "10.1.%u.%u", pid / 250, pid % 250);
                        snprintf(remote, sizeof(remote), v6 ? "fd00::1:%x" : "10.2.%u.%u", id / 250 % 250,
                                 id % 250);
                        sqlite3_reset(s);
                        sqlite3_bind_int(s, 1, (int) id);
                        sqlite3_bind_int64(s, 2, netns);
                        sqlite3_bind_text(s, 3, "tcp", -1, SQLITE_STATIC);
                        sqlite3_bind_int(s, 4, v6 ? 6 : 4);
                        sqlite3_bind_text(s, 5, listen ? "listen" : "established", -1, SQLITE_STATIC);
                        sqlite3_bind_text(s, 6, listen ? "0.0.0.0" : local, -1, SQLITE_TRANSIENT);
                        sqlite3_bind_int(s, 7,
                                         listen ? (int) (8000 + pid % 1000) : (int) (30000 + id % 30000));
                        sqlite3_bind_text(s, 8, listen ? "0.0.0.0" : remote, -1, SQLITE_TRANSIENT);
                        sqlite3_bind_int(s, 9, listen ? 0 : 443);
                        sqlite3_bind_text(s, 10, listen ? "server" : "client", -1, SQLITE_STATIC);
                        sqlite3_bind_int64(s, 11, now_ms - 60000);
                        sqlite3_reset(o);
                        sqlite3_bind_int(o, 1, (int) id);
                        sqlite3_bind_int(o, 2, (int) pid);
                        if (sqlite3_step(s) != SQLITE_DONE || sqlite3_step(o) != SQLITE_DONE)
                                die("insert socket", -EIO);
                }
        }
        sqlite3_finalize(p);
        sqlite3_finalize(d);
        sqlite3_finalize(s);
        sqlite3_finalize(o);
        exec_sql(db, "COMMIT");
}

/* The counting server: for every request, writes "<request bytes> <answer bytes>\n" to out. */
static _noreturn_ void serve(int listen_fd, int out) {
        static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        size_t cap = 1 << 20;
        char *buf = malloc(cap);

        for (;;) {
                int c = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);

                if (c < 0)
                        _exit(1);
                for (;;) {
                        size_t have = 0, header_end = 0, length = 0;
                        char line[64];

                        while (header_end == 0) {
                                ssize_t n;
                                char *e;

                                if (have + 4096 > cap && !(buf = realloc(buf, cap *= 2)))
                                        _exit(1);
                                n = read(c, buf + have, cap - have - 1);
                                if (n <= 0)
                                        goto next;
                                have += (size_t) n;
                                buf[have] = '\0';
                                e = strstr(buf, "\r\n\r\n");
                                if (e) {
                                        char *cl = strcasestr(buf, "\r\nContent-Length:");

                                        header_end = (size_t) (e - buf) + 4;
                                        length = cl ? strtoul(cl + 17, NULL, 10) : 0;
                                }
                        }
                        while (have < header_end + length) {
                                ssize_t n;

                                if (have + 4096 > cap && !(buf = realloc(buf, cap *= 2)))
                                        _exit(1);
                                n = read(c, buf + have, cap - have - 1);
                                if (n <= 0)
                                        goto next;
                                have += (size_t) n;
                        }
                        if (write(c, answer, sizeof(answer) - 1) < 0)
                                goto next;
                        snprintf(line, sizeof(line), "%zu %zu\n", have, sizeof(answer) - 1);
                        if (write(out, line, strlen(line)) < 0)
                                _exit(1);
                }
        next:
                close(c);
        }
}

static void read_counts(FILE *in, size_t *req, size_t *resp) {
        if (fscanf(in, "%zu %zu", req, resp) != 2)
                die("reading the server's counts", -EIO);
}

int main(int argc, char *argv[]) {
        char tmpl[] = "/tmp/procsync-bench-XXXXXX", url[64], cmd[64];
        int64_t now_ms = now_epoch_ms();
        unsigned rounds = argc > 1 ? (unsigned) strtoul(argv[1], NULL, 10) : 10;
        SyncBuildParams params = {
                .hostname = "bench-host", .now_ms = now_ms, .socket_min_lifetime = 3 * USEC_PER_SEC};
        double t, build_ms = 0, digest_ms = 0, json_ms = 0, push_ms, hb_ms;
        SyncState *st = NULL;
        size_t json_len = 0, hb_len = 0, req, resp, hb_req, hb_resp;
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t salen = sizeof(sa);
        ConfigSink cfg = {.type = SINK_HTTP,
                          .name = (char *) "bench",
                          .timeout = 30 * USEC_PER_SEC,
                          .tls_verify = true};
        char *error = NULL, *doc;
        uint64_t acked = 0;
        int fd, pipefd[2], r;
        void *impl = NULL;
        sqlite3 *db;
        FILE *counts;
        pid_t child;

        if (rounds == 0)
                rounds = 1;
        if (!mkdtemp(tmpl))
                die("mkdtemp", -errno);
        r = db_open(tmpl, DB_READ_WRITE, &db, &error);
        if (r < 0)
                die(error ? error : "db_open", r);
        fill(db, now_ms);

        for (unsigned i = 0; i < rounds; i++) {
                sync_state_free(st);
                st = NULL;
                t = cpu_ms();
                r = sync_state_build(db, &params, &st);
                if (r < 0)
                        die("sync_state_build", r);
                build_ms += cpu_ms() - t;

                t = cpu_ms();
                sync_state_compute_digest(st);
                digest_ms += cpu_ms() - t;

                st->version = 1700000000;
                t = cpu_ms();
                r = state_json_dump(st, true, &doc, &json_len);
                if (r < 0)
                        die("state_json_dump", r);
                json_ms += cpu_ms() - t;
                free(doc);
        }
        r = state_json_dump(st, false, &doc, &hb_len);
        if (r < 0)
                die("state_json_dump", r);
        free(doc);

        /* The http sink against the counting server. */
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, 4) < 0 ||
            getsockname(fd, (struct sockaddr *) &sa, &salen) < 0 || pipe2(pipefd, O_CLOEXEC) < 0)
                die("server socket", -errno);
        child = fork();
        if (child < 0)
                die("fork", -errno);
        if (child == 0) {
                close(pipefd[0]);
                serve(fd, pipefd[1]);
        }
        close(fd);
        close(pipefd[1]);
        counts = fdopen(pipefd[0], "r");
        if (!counts)
                die("fdopen", -errno);

        snprintf(url, sizeof(url), "http://127.0.0.1:%u/sync", (unsigned) ntohs(sa.sin_port));
        cfg.url = url;
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                die("curl_global_init", -EIO);
        r = sink_http_ops.open(&cfg, &impl, &error);
        if (r < 0)
                die(error ? error : "open", r);
        t = cpu_ms();
        r = sink_http_ops.push(impl, st, 0, &acked, &error);
        push_ms = cpu_ms() - t;
        if (r < 0)
                die(error ? error : "push", r);
        read_counts(counts, &req, &resp);
        t = cpu_ms();
        r = sink_http_ops.push(impl, st, acked, &acked, &error);
        hb_ms = cpu_ms() - t;
        if (r < 0)
                die(error ? error : "heartbeat", r);
        read_counts(counts, &hb_req, &hb_resp);
        sink_http_ops.close(impl);

        printf("procsync bench-export: %d processes, %zu sockets (of %d rows), %u rounds\n", N_PROCESSES,
               st->n_sockets, N_PROCESSES * SOCKETS_PER_PROCESS, rounds);
        printf("  state build (read transaction + digest)  %8.1f ms CPU\n", build_ms / rounds);
        printf("    of which SHA-256 digest                %8.1f ms CPU\n", digest_ms / rounds);
        printf("  JSON serialization (full document)       %8.1f ms CPU, %zu bytes\n", json_ms / rounds,
               json_len);
        printf("  JSON heartbeat                           %8zu bytes\n", hb_len);
        printf("  http sink, full sync                     %8zu bytes sent, %zu received, %.1f ms CPU\n",
               req, resp, push_ms);
        printf("  http sink, heartbeat                     %8zu bytes sent, %zu received, %.1f ms CPU\n",
               hb_req, hb_resp, hb_ms);
        printf("  (deepflow sink: bench-deepflow-msg)\n");

        kill(child, SIGTERM);
        (void) waitpid(child, NULL, 0);
        fclose(counts);
        sync_state_free(st);
        sqlite3_close_v2(db);
        curl_global_cleanup();
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpl);
        return system(cmd) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
