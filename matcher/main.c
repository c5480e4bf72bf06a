/* procsync-matcher: decides, for every process the scanner found, whether it is synced, under which name
 * and with which tags (DESIGN.md "Rules", "Tags", "Lifetime and identity"), and writes the match_* tables.
 *
 * It wakes when the scanner commits a new generation (inotify on the state directory, through
 * daemon_wait()), when a too-young process becomes old enough, and every process_scan_interval; it never
 * polls in a loop. See matcher.c for the cycle.
 *
 * Privileges. The matcher reads and writes only state.db and runs no code of its own as anyone else; the
 * one thing it needs privileges for is the tag command's child, which it starts as os-app-tag-exec-user:
 *   CAP_SETUID, CAP_SETGID  for the child's setresuid()/setresgid()/setgroups() (dropped in the child,
 *                           together with every other capability, before exec);
 *   CAP_KILL                to kill the child's process group on timeout or too much output, and
 *                           whatever it left behind after exiting: it runs under another uid.
 * It is a child subreaper (PR_SET_CHILD_SUBREAPER), so that a descendant of the tag command that called
 * setsid() comes back to it, to be killed after the run (tag_exec_kill_children()).
 * Without a tag command it needs no capability at all. Run as root it has them; under systemd the unit
 * gives exactly these three (User=, AmbientCapabilities=, CapabilityBoundingSet=). With CAP_SETPCAP too,
 * the child's bounding set is emptied as well; without it NoNewPrivileges already keeps the child from
 * gaining any capability. */
#include <linux/capability.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "daemon.h"
#include "log.h"
#include "matcher.h"

static const char *const summary = "Decides which processes are synced, their names and tags.";

/* Only when it matters: not root, a tag command configured, and a capability it needs missing. */
static void check_capabilities(const Config *c) {
        struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
        struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
        static const struct {
                int cap;
                const char *name;
        } needed[] = {{CAP_SETUID, "CAP_SETUID"}, {CAP_SETGID, "CAP_SETGID"}, {CAP_KILL, "CAP_KILL"}};

        if (!c->tag_exec || geteuid() == 0)
                return;
        if (syscall(SYS_capget, &hdr, data) < 0)
                return;
        for (size_t i = 0; i < ELEMENTSOF(needed); i++)
                if (!(data[needed[i].cap / 32].effective & (1U << (needed[i].cap % 32))))
                        log_warning("%s is missing: the tag command may fail to start or to be killed",
                                    needed[i].name);
}

static int reload(Daemon *d, Matcher *m) {
        _cleanup_(config_diags_done) ConfigDiags diags = {};
        _cleanup_free_ char *error = NULL;
        int r;

        r = daemon_reload(d, &diags, &error);
        config_diags_print(&diags, stderr);
        if (r < 0 && d->config_failed)
                return log_error_errno(r, "Reload failed, keeping the previous configuration: %s",
                                       strempty(error));
        if (r < 0) /* the new config is active; only recording that in the database failed */
                log_warning_errno(r, "%s", strempty(error));
        log_info("Configuration reloaded");
        check_capabilities(d->config);
        return matcher_apply_config(m);
}

static int run(Daemon *d) {
        _cleanup_(matcher_freep) Matcher *m = NULL;
        int r;

        r = matcher_new(d, &m);
        if (r < 0)
                return r;
        check_capabilities(d->config);
        r = daemon_watch_state(d);
        if (r < 0)
                log_warning_errno(r, "Cannot watch the state directory, relying on timers: %m");

        for (;;) {
                MatcherWork w = matcher_due(m);
                DaemonEvent ev;

                if (w != MATCHER_IDLE) {
                        r = matcher_cycle(m, w == MATCHER_FULL_CYCLE);
                        if (r < 0 && d->once)
                                return r;
                }
                if (d->once)
                        return 0;

                r = daemon_wait(d, matcher_timeout(m), &ev);
                if (r < 0)
                        return log_error_errno(r, "Waiting failed: %m");
                if (ev == DAEMON_EVENT_TERMINATE)
                        return 0;
                if (ev == DAEMON_EVENT_RELOAD)
                        (void) reload(d, m);
        }
}

int main(int argc, char *argv[]) {
        _cleanup_(daemon_args_done) DaemonArgs args = {};
        _cleanup_(config_diags_done) ConfigDiags diags = {};
        _cleanup_(daemon_freep) Daemon *d = NULL;
        _cleanup_free_ char *error = NULL;
        int r;

        log_setup("procsync-matcher");
        r = daemon_parse_args(argc, argv, &args, &error);
        if (r < 0) {
                fprintf(stderr, "procsync-matcher: %s\nTry 'procsync-matcher --help'.\n", strempty(error));
                return 2;
        }
        if (args.action == DAEMON_ARGS_HELP) {
                daemon_print_help(stdout, "procsync-matcher", summary);
                return 0;
        }
        if (args.action == DAEMON_ARGS_VERSION) {
                puts(PROCSYNC_VERSION);
                return 0;
        }

        r = daemon_new(DAEMON_MATCHER, &args, &diags, &d, &error);
        config_diags_print(&diags, stderr);
        if (r < 0) {
                log_error_errno(r, "%s", strempty(error));
                return EXIT_FAILURE;
        }

        /* A daemon the tag command starts and that leaves its process group with setsid() escapes the group
         * kill; as a subreaper we get it back when its parent exits, and tags_run() kills it. The matcher
         * has no children of its own besides the tag command. */
        if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
                log_warning_errno(-errno, "PR_SET_CHILD_SUBREAPER failed, a daemon the tag command starts with "
                                  "setsid() will outlive it: %m");

        r = run(d);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
