/* procsync-scanner: processes and sockets from os-proc-root into state.db, every cycle.
 *
 * The one privileged daemon of the suite. It runs as root (for the state directory's ownership) but keeps
 * only five capabilities, dropped right after start-up (privileges.h has the details):
 *   CAP_SYS_PTRACE       exe, root, ns/net and fd/ links of other users' processes (ptrace access checks);
 *   CAP_DAC_READ_SEARCH  listing other users' /proc/<pid>/fd/ (mode 0500) and reading containers' passwd;
 *   CAP_SYS_ADMIN        setns() into other network namespaces for the sock_diag netlink dump (without it
 *                        those namespaces are read from the /proc text tables);
 *   CAP_BPF, CAP_PERFMON load the BPF iterator that lists the socket owners (without them: the /proc fd
 *                        walk, same owners, slower).
 * Everything else is dropped from every set including the bounding set, and no_new_privs is set. It runs
 * no foreign code: it never forks or execs, and it reads containers' files through openat2(RESOLVE_IN_ROOT)
 * so their symlinks cannot point it at the host's files. Without root it still runs, seeing fewer links.
 *
 * The loop: one cycle per procsync.process_scan_interval; sockets are scanned in the cycles at least
 * os-proc-socket-sync-interval apart (0: never, and the socket tables are kept empty). When the socket
 * interval is the shorter one, the cycles follow it and the (cheap) process scan runs with every socket
 * scan, so owners always refer to processes of the same cycle. SIGTERM/SIGINT are read from a signalfd
 * between cycles, so a cycle's transaction always commits (or rolls back on error) before the exit with
 * status 0. SIGHUP reloads the configuration; an invalid file keeps the old one and is reported in the
 * heartbeat row (config_ok, config_error) and in STATUS=. */
#include <inttypes.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>

#include "cycle.h"
#include "daemon.h"
#include "log.h"
#include "privileges.h"

static void notify_figures(const CycleFigures *f, bool config_failed) {
        (void) sd_notifyf(
                0,
                "STATUS=Generation %" PRIu64 ": %u processes, %u sockets in %u network namespaces, last "
                "cycle %" PRIu64 " ms%s",
                f->generation, f->procs.n_processes, f->store.n_sockets, f->store.n_netns, f->total_ms,
                config_failed ? "; configuration error, running on the previous one" : "");
}

static void log_privileges(const Privileges *p) {
        if (!p->had_any)
                log_notice("Running without capabilities: other users' processes show no exe, user root, "
                           "network namespace or sockets");
        else if (p->missing)
                log_warning("Running without %s: see the README for what is then missing",
                            privileges_missing_to_string(p->missing));
        if (p->had_any && !p->bounding)
                log_debug("No CAP_SETPCAP: the bounding set was left to the service manager");
}

static usec_t sub_or_zero(usec_t a, usec_t b) {
        return a > b ? a - b : 0;
}

static int run(const DaemonArgs *args) {
        _cleanup_(config_diags_done) ConfigDiags diags = {};
        _cleanup_(daemon_freep) Daemon *d = NULL;
        _cleanup_(scanner_freep) Scanner *s = NULL;
        _cleanup_free_ char *error = NULL;
        usec_t next_socket = 0;
        bool config_failed = false;
        Privileges privs;
        int r;

        r = daemon_new(DAEMON_SCANNER, args, &diags, &d, &error);
        config_diags_print(&diags, stderr);
        if (r < 0)
                return log_error_errno(r, "Cannot start: %s", error ?: strerror(-r));

        r = privileges_drop(&privs);
        if (r < 0)
                return log_error_errno(r, "Cannot drop the capabilities the scanner does not need: %m");
        log_privileges(&privs);

        r = scanner_new(d, &s);
        if (r < 0)
                return r;

        for (;;) {
                usec_t start = now_usec(CLOCK_MONOTONIC), next_cycle, timeout;
                usec_t socket_interval = d->config->socket_sync_interval;
                bool sockets = socket_interval > 0 && start >= next_socket;
                CycleFigures f;
                DaemonEvent ev;

                r = scanner_cycle(s, sockets, &f);
                if (r == -ENOTRECOVERABLE)
                        return r;
                if (r >= 0) {
                        notify_figures(&f, config_failed);
                        log_debug("Cycle: %u processes, %u sockets, generation %" PRIu64 "%s, %" PRIu64
                                  " ms",
                                  f.procs.n_processes, f.store.n_sockets, f.generation,
                                  f.changed ? " (changed)" : "", f.total_ms);
                }
                if (sockets)
                        next_socket = start + socket_interval;
                if (d->once)
                        return r;

                next_cycle = start + d->config->process_scan_interval;
                if (socket_interval > 0 && next_socket < next_cycle)
                        next_cycle = next_socket;
                timeout = sub_or_zero(next_cycle, now_usec(CLOCK_MONOTONIC));

                for (;;) {
                        r = daemon_wait(d, timeout, &ev);
                        if (r < 0)
                                return log_error_errno(r, "Waiting for the next cycle failed: %m");
                        if (ev == DAEMON_EVENT_TERMINATE) {
                                log_info("Terminating");
                                return 0;
                        }
                        if (ev != DAEMON_EVENT_RELOAD)
                                break;
                        config_diags_done(&diags);
                        free(error);
                        error = NULL;
                        r = daemon_reload(d, &diags, &error);
                        config_diags_print(&diags, stderr);
                        config_failed = r < 0;
                        if (r < 0)
                                log_warning_errno(r, "Reload failed, keeping the previous configuration: %s",
                                                  strempty(error));
                        else {
                                log_info("Configuration reloaded");
                                (void) scanner_reconfigure(s);
                                next_socket = 0; /* a new interval starts now */
                        }
                        /* A reload runs a cycle at once, with the new settings. */
                        break;
                }
        }
}

int main(int argc, char *argv[]) {
        _cleanup_(daemon_args_done) DaemonArgs args = {};
        _cleanup_free_ char *error = NULL;

        log_setup("procsync-scanner");
        if (daemon_parse_args(argc, argv, &args, &error) < 0) {
                fprintf(stderr, "procsync-scanner: %s (see --help)\n", strempty(error));
                return 2;
        }
        if (args.action == DAEMON_ARGS_HELP) {
                daemon_print_help(
                        stdout, "procsync-scanner",
                        "Scans processes and their TCP/UDP sockets into the procsync state database.");
                return 0;
        }
        if (args.action == DAEMON_ARGS_VERSION) {
                puts(PROCSYNC_VERSION);
                return 0;
        }
        return run(&args) < 0 ? 1 : 0;
}
