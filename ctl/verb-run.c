/* `procctl run [--bin-dir DIR]`: the four daemons in the foreground, for hosts without systemd (a container,
 * a laptop, ./run.sh). The supervision itself is the launcher (launcher.h); this verb settles what the
 * daemons are given.
 *
 * Every daemon gets the same `-c FILE` (the file procctl loaded, as an absolute path; none for the embedded
 * default) and the same absolute `--state-dir`, created if missing, so they agree with each other and with
 * what is printed whatever their working directory. The config is checked here first: a daemon never starts
 * on an invalid file, and a launcher that restarted it forever would only hide that.
 *
 * Privileges: every daemon runs as the user who invoked `procctl run`. As root, procsync-scanner drops to
 * the capabilities it needs and procsync-matcher keeps root only to give the tag command its own user, but
 * procsync-exporter and procsync-api keep root too: they need the state directory, which root owns here.
 * The systemd units in units/ are what gives each daemon its own user and capability set; `procctl run` is
 * for trying procsync out and for hosts without systemd. Not as root, the scanner sees the sockets and
 * executables of that user's processes only (it says so at start). */
#include <sys/stat.h>

#include "ctl.h"
#include "heartbeat.h"
#include "launcher.h"
#include "log.h"

#include "db.h"

/* Two sets of daemons on one state directory would fight over its tables: refuse when a heartbeat row
 * names a live daemon. A database that cannot be read yet (none, or created by another user) is no
 * objection: the daemons will report what is wrong with it. */
static int check_not_running(const char *state_dir) {
        _cleanup_db_ sqlite3 *db = NULL;

        if (db_open(state_dir, DB_READ_ONLY, &db, NULL) < 0)
                return 0;
        for (DaemonKind k = 0; k < _DAEMON_KIND_MAX; k++) {
                _cleanup_(heartbeat_done) Heartbeat h = {};
                _cleanup_close_ int pidfd = -EBADF;

                if (heartbeat_read(db, k, &h) < 0 || heartbeat_open_pidfd(&h, &pidfd) < 0)
                        continue;
                log_error("procsync-%s is already running (pid %d) with the state directory '%s': stop it "
                          "first, or give another --state-dir.",
                          daemon_kind_to_string(k), (int) h.pid, state_dir);
                return -EBUSY;
        }
        return 0;
}

int verb_run(const CtlContext *ctx, int argc, char *argv[]) {
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_free_ char *state_dir = NULL, *config_path = NULL;
        const char *bin_dir = NULL;
        int r;

        for (int i = 1; i < argc; i++) {
                r = ctl_option_value("--bin-dir", argc, argv, &i, &bin_dir);
                if (r < 0)
                        return CTL_EXIT_USAGE;
                if (r > 0) {
                        log_error("Unexpected argument '%s' for 'run'.", argv[i]);
                        return CTL_EXIT_USAGE;
                }
                if (isempty(bin_dir)) {
                        log_error("--bin-dir needs a directory.");
                        return CTL_EXIT_USAGE;
                }
        }
        if (!bin_dir && !isempty(getenv(LAUNCHER_BIN_DIR_ENV)))
                bin_dir = getenv(LAUNCHER_BIN_DIR_ENV);

        r = ctl_load_config(ctx, &c);
        if (r < 0)
                return r;

        if (mkdir(c->state_dir, 0755) < 0 && errno != EEXIST)
                return log_error_errno(negative_errno(), "Cannot create the state directory '%s': %m",
                                       c->state_dir);
        state_dir = realpath(c->state_dir, NULL);
        if (!state_dir)
                return log_error_errno(negative_errno(), "Cannot resolve the state directory '%s': %m",
                                       c->state_dir);
        /* Also makes the default unix: address of the API absolute, as printed. */
        r = config_set_state_dir(c, state_dir);
        if (r < 0)
                return log_error_errno(r, "Failed to apply the state directory: %m");
        if (c->path) {
                config_path = realpath(c->path, NULL);
                if (!config_path)
                        return log_error_errno(negative_errno(), "Cannot resolve '%s': %m", c->path);
        }

        r = check_not_running(state_dir);
        if (r < 0)
                return r;

        r = launcher_run(&(LauncherOptions) {
                .bin_dir = bin_dir,
                .config_path = config_path,
                .state_dir = state_dir,
                .api_listen = c->api_listen,
        });
        return r < 0 ? r : CTL_EXIT_OK;
}
