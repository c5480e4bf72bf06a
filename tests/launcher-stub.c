/* A stand-in for the four procsync daemons in the tests of `procctl run` (test-procctl-run.py): copied to
 * procsync-scanner, -matcher, -exporter and -api, it behaves as the daemon its file name says, as far as
 * the launcher can see. The first three use the real daemon runtime (common/daemon.h: heartbeat row,
 * READY=1, SIGHUP reload with config_ok, clean stop on SIGTERM) around an empty cycle; procsync-api
 * listens on <state dir>/api.sock (the default unix: address, by which `procctl reload` finds it), sends
 * READY=1 and waits for SIGTERM, leaving SIGHUP at its default action (deadly), as a daemon that does not
 * reload would.
 *
 * Misbehaviour on request, from the environment (NAME is the file name, e.g. procsync-matcher):
 *   PROCSYNC_STUB_EXIT=NAME:STATUS   exit with STATUS right after READY=1
 *   PROCSYNC_STUB_NO_TERM=NAME       ignore SIGTERM (the launcher must SIGKILL it) */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>

#include "daemon.h"
#include "log.h"

static const char *name;
static bool no_term;

static bool env_names_me(const char *var, int *ret_value) {
        const char *e = getenv(var);
        size_t n = strlen(name);

        if (!e || !strneq(e, name, n) || (e[n] != 0 && e[n] != ':'))
                return false;
        if (ret_value)
                *ret_value = e[n] == ':' ? (int) strtol(e + n + 1, NULL, 10) : 0;
        return true;
}

static void misbehave_after_ready(void) {
        int status;

        /* The daemon runtime reads SIGTERM from a signalfd, where SIG_IGN would not stop it: the loop
         * below ignores the event instead. */
        no_term = env_names_me("PROCSYNC_STUB_NO_TERM", NULL);
        if (env_names_me("PROCSYNC_STUB_EXIT", &status)) {
                log_info("stub: exiting with status %d", status);
                exit(status);
        }
}

static int run_api(const DaemonArgs *args) {
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        sigset_t mask;
        int sig;

        if (!args->state_dir || strlen(args->state_dir) + sizeof("/api.sock") > sizeof(sa.sun_path))
                return log_error_errno(-EINVAL, "stub: needs a short --state-dir");
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/api.sock", args->state_dir);
        (void) unlink(sa.sun_path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, 16) < 0)
                return log_error_errno(-errno, "stub: cannot listen on '%s': %m", sa.sun_path);

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return -errno;
        (void) sd_notify(0, "READY=1\nSTATUS=Stub API, not listening");
        misbehave_after_ready();
        do
                if (sigwait(&mask, &sig) != 0)
                        return -EINTR;
        while (no_term);
        log_info("stub: terminating on SIG%s", sigabbrev_np(sig));
        (void) unlink(sa.sun_path);
        return 0;
}

static int run_daemon(DaemonKind kind, const DaemonArgs *args) {
        _cleanup_(config_diags_done) ConfigDiags diags = {};
        _cleanup_(daemon_freep) Daemon *d = NULL;
        _cleanup_free_ char *error = NULL;
        int r;

        r = daemon_new(kind, args, &diags, &d, &error);
        config_diags_print(&diags, stderr);
        if (r < 0)
                return log_error_errno(r, "Cannot start: %s", error ?: strerror(-r));
        r = daemon_heartbeat(d, 0, d->generation, NULL, NULL);
        if (r < 0)
                return log_error_errno(r, "Heartbeat failed: %m");
        misbehave_after_ready();

        for (;;) {
                DaemonEvent ev;

                r = daemon_wait(d, USEC_INFINITY, &ev);
                if (r < 0)
                        return log_error_errno(r, "Wait failed: %m");
                if (ev == DAEMON_EVENT_TERMINATE && no_term) {
                        log_info("stub: ignoring SIGTERM");
                        continue;
                }
                if (ev == DAEMON_EVENT_TERMINATE) {
                        log_info("stub: terminating");
                        return 0;
                }
                if (ev == DAEMON_EVENT_RELOAD) {
                        free(error);
                        error = NULL;
                        r = daemon_reload(d, &diags, &error);
                        if (r < 0)
                                log_info("stub: reload failed, keeping the old config: %s", strempty(error));
                        else
                                log_info("stub: reloaded");
                }
        }
}

int main(int argc, char *argv[]) {
        _cleanup_(daemon_args_done) DaemonArgs args = {};
        _cleanup_free_ char *error = NULL;
        const char *slash = strrchr(argv[0], '/');
        int kind, r;

        name = slash ? slash + 1 : argv[0];
        log_setup(name);
        r = daemon_parse_args(argc, argv, &args, &error);
        if (r < 0) {
                log_error("%s", strempty(error));
                return 2;
        }
        if (streq(name, "procsync-api"))
                r = run_api(&args);
        else {
                kind = strneq(name, "procsync-", 9) ? daemon_kind_from_string(name + 9) : -EINVAL;
                if (kind < 0) {
                        log_error("stub: cannot tell which daemon '%s' is", name);
                        return 2;
                }
                r = run_daemon((DaemonKind) kind, &args);
        }
        return r < 0 ? 1 : 0;
}
