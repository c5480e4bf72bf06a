/* The supervision loop of `procctl run` (see launcher.h and verb-run.c).
 *
 * One process, no threads: a single ppoll() over a signalfd (SIGINT, SIGTERM, SIGHUP, blocked so that they
 * arrive only there), each daemon's notify socket and each running daemon's pidfd (readable once it has
 * exited), with the timeout set by the nearest deadline (a restart due, or the end of the grace period
 * when stopping). Every pass handles signals first, then notify messages, then exits, then timers: a
 * daemon that sent READY=1 just before dying is seen ready before it is seen dead, and a SIGTERM to
 * procctl is known before the exits it causes, so they are not mistaken for crashes. The daemons have
 * process groups of their own (launcher-spawn.c): every signal they get comes from here.
 *
 * The first daemon found (the scanner) starts alone and the others when it is ready, or when it fails,
 * or after LAUNCHER_HOLD_TIMEOUT: it creates and migrates state.db, so the API does not start on a
 * database that does not exist yet, and the writers do not race to create it.
 *
 * Daemons are signalled through their pidfds: a pid that was reaped and reused can never be hit. */
#include "launcher.h"

#include <inttypes.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <sys/pidfd.h>
#include <sys/signalfd.h>
#include <sys/wait.h>

#include "log.h"
#include "proc-signals.h"

/* After SIGKILL at the end of the grace period, how long to wait for the kernel to reap before giving
 * up (a process in uninterruptible sleep cannot be helped). */
#define LAUNCHER_KILL_TIMEOUT (5 * USEC_PER_SEC)
/* How long the other daemons wait for the first one to be ready before they start anyway. */
#define LAUNCHER_HOLD_TIMEOUT (10 * USEC_PER_SEC)

typedef enum ChildState {
        CHILD_ABSENT,    /* no binary found: never started */
        CHILD_WAITING,   /* not running; started again at restart_at */
        CHILD_STARTING,  /* running, READY=1 not seen yet */
        CHILD_RUNNING,   /* ready */
        CHILD_RELOADING, /* SIGHUP sent or RELOADING=1 seen: the next READY=1 ends the reload */
        CHILD_STOPPED,   /* exited while stopping */
} ChildState;

typedef struct Child {
        const char *name;   /* "procsync-scanner" */
        const char *subdir; /* its folder in the build tree */
        bool is_api;

        char *path;
        int notify_fd;
        char *notify_address; /* "@xxxxx" for $NOTIFY_SOCKET */

        ChildState state;
        pid_t pid;           /* while running */
        int pidfd;           /* while running, else -EBADF */
        usec_t started_at;   /* CLOCK_MONOTONIC */
        usec_t restart_at;   /* CLOCK_MONOTONIC, in CHILD_WAITING */
        usec_t backoff;      /* launcher_backoff()'s state */
        bool reload_pending; /* SIGHUP came while starting: reload once ready */
        bool restart_now;    /* stopped on purpose to reload: start again without delay */
        bool held;           /* waits for the first daemon to be ready (see the top of this file) */
} Child;

typedef struct Launcher {
        const LauncherOptions *o;
        Child children[4];
        int signal_fd;
        bool stopping;
        bool killed;          /* SIGKILL sent to what was left */
        usec_t stop_deadline; /* CLOCK_MONOTONIC */
        bool api_announced;
} Launcher;

static const Child child_templates[] = {
        { .name = "procsync-scanner", .subdir = "scanner" },
        { .name = "procsync-matcher", .subdir = "matcher" },
        { .name = "procsync-exporter", .subdir = "exporter" },
        { .name = "procsync-api", .subdir = "ctl", .is_api = true },
};

static bool child_alive(const Child *c) {
        return c->pidfd >= 0;
}

static const char *signal_name(int sig) {
        return sigabbrev_np(sig) ?: "?";
}

/* ---- Start ----------------------------------------------------------------------------------------- */

/* The launcher's environment for a daemon: its own $NOTIFY_SOCKET, and none of the variables of the
 * service manager that may have started procctl itself, which name procctl's pid and would mislead the
 * daemon (the watchdog, socket activation). The strings are borrowed, but for `owned`. */
static int child_environment(const Child *c, char ***ret, char **ret_owned) {
        static const char *const drop[] = {
                "NOTIFY_SOCKET=", "WATCHDOG_USEC=", "WATCHDOG_PID=",
                "LISTEN_FDS=",    "LISTEN_PID=",    "LISTEN_FDNAMES=",
        };
        _cleanup_free_ char *notify = NULL;
        char **env;
        size_t n = 0, k = 0;

        for (char **e = environ; *e; e++)
                n++;
        env = calloc(n + 2, sizeof(char *));
        if (!env)
                return -ENOMEM;
        for (char **e = environ; *e; e++) {
                bool keep = true;

                for (size_t i = 0; i < ELEMENTSOF(drop) && keep; i++)
                        keep = !strneq(*e, drop[i], strlen(drop[i]));
                if (keep)
                        env[k++] = *e;
        }
        if (asprintf(&notify, "NOTIFY_SOCKET=%s", c->notify_address) < 0) {
                free(env);
                return -ENOMEM;
        }
        env[k++] = notify;
        *ret_owned = TAKE_PTR(notify);
        *ret = env;
        return 0;
}

static void child_schedule_restart(Child *c, usec_t delay) {
        c->state = CHILD_WAITING;
        c->restart_at = now_usec(CLOCK_MONOTONIC) + delay;
}

static void child_start(Launcher *l, Child *c) {
        const LauncherOptions *o = l->o;
        _cleanup_free_ char **env = NULL;
        _cleanup_free_ char *notify = NULL;
        char *argv[6];
        size_t n = 0;
        pid_t pid;
        int pidfd, r;

        argv[n++] = c->path;
        if (o->config_path) {
                argv[n++] = (char *) "-c";
                argv[n++] = (char *) o->config_path;
        }
        argv[n++] = (char *) "--state-dir";
        argv[n++] = (char *) o->state_dir;
        argv[n] = NULL;

        r = child_environment(c, &env, &notify);
        if (r >= 0)
                r = launcher_spawn(c->path, argv, env, &pid, &pidfd);
        if (r < 0) {
                usec_t delay = launcher_backoff(&c->backoff, 0);

                log_error_errno(r, "Cannot start %s ('%s'): %m; trying again in %" PRIu64 " s", c->name,
                                c->path, delay / USEC_PER_SEC);
                child_schedule_restart(c, delay);
                return;
        }
        c->pid = pid;
        c->pidfd = pidfd;
        c->state = CHILD_STARTING;
        c->started_at = now_usec(CLOCK_MONOTONIC);
        log_info("%s started (pid %d)", c->name, (int) pid);
}

/* ---- Notifications ----------------------------------------------------------------------------------- */

/* The addresses of the API as a user types them, and one command to try. */
static void announce_api(Launcher *l) {
        _cleanup_free_ char *list = NULL, *example = NULL;
        size_t len = 0;
        FILE *f;

        if (l->api_announced || !l->o->api_listen)
                return;
        l->api_announced = true;

        f = open_memstream(&list, &len);
        if (!f)
                return;
        for (char **a = l->o->api_listen; *a; a++) {
                bool is_unix = strneq(*a, "unix:", 5);

                fprintf(f, "%s%s%s%s", a == l->o->api_listen ? "" : " and ", is_unix ? "" : "http://", *a,
                        is_unix ? "" : "/");
                if (example)
                        continue;
                if (is_unix)
                        (void) asprintf(&example, "curl -s --unix-socket %s http://localhost/v1/status",
                                        *a + 5);
                else
                        (void) asprintf(&example, "curl -s http://%s/v1/status", *a);
        }
        if (fclose(f) != 0)
                return;
        log_info("REST API on %s; try: %s", list, strempty(example));
}

static void child_reload(Launcher *l, Child *c);

/* The first daemon is ready or has failed: the others may start. */
static void release_held(Launcher *l) {
        for (size_t i = 0; i < ELEMENTSOF(l->children); i++) {
                Child *c = &l->children[i];

                if (!c->held)
                        continue;
                c->held = false;
                if (c->state == CHILD_WAITING)
                        c->restart_at = now_usec(CLOCK_MONOTONIC);
        }
}

static void child_handle_notify(Launcher *l, Child *c) {
        for (;;) {
                _cleanup_(notify_message_done) NotifyMessage m = {};
                int r;

                r = notify_receive(c->notify_fd, &m);
                if (r < 0) {
                        log_warning_errno(r, "Failed to receive a notification for %s, ignoring: %m",
                                          c->name);
                        return;
                }
                if (r == 0)
                        return;
                /* Leftovers of an earlier instance, its children, or someone who found the address. */
                if (!child_alive(c) || m.sender != c->pid) {
                        log_debug("Ignoring a notification for %s from pid %d", c->name, (int) m.sender);
                        continue;
                }
                if (m.reloading && c->state == CHILD_RUNNING)
                        c->state = CHILD_RELOADING;
                if (!m.ready)
                        continue;

                if (c->state == CHILD_STARTING) {
                        c->state = CHILD_RUNNING;
                        log_info("%s is ready (pid %d)%s%s", c->name, (int) c->pid, m.status ? ": " : "",
                                 strempty(m.status));
                        release_held(l);
                        if (c->is_api)
                                announce_api(l);
                        if (c->reload_pending) {
                                c->reload_pending = false;
                                child_reload(l, c);
                        }
                } else if (c->state == CHILD_RELOADING) {
                        c->state = CHILD_RUNNING;
                        log_info("%s (pid %d) reloaded%s%s", c->name, (int) c->pid, m.status ? ": " : "",
                                 strempty(m.status));
                }
        }
}

/* ---- Signals to the daemons -------------------------------------------------------------------------- */

static int child_signal(Child *c, int sig) {
        if (!child_alive(c))
                return 0;
        if (pidfd_send_signal(c->pidfd, sig, NULL, 0) < 0 && errno != ESRCH)
                return log_warning_errno(negative_errno(), "Cannot send SIG%s to %s (pid %d): %m",
                                         signal_name(sig), c->name, (int) c->pid);
        return 0;
}

/* Forwards SIGHUP, unless the daemon would die of it: a daemon still starting gets it once ready (before
 * it blocks SIGHUP the default action would kill it), and one that does not handle SIGHUP at all is
 * restarted instead, which is what a reload means for it. */
static void child_reload(Launcher *l, Child *c) {
        ProcSignals s;
        int r;

        switch (c->state) {
        case CHILD_STARTING:
                c->reload_pending = true;
                return;
        case CHILD_RUNNING:
        case CHILD_RELOADING:
                if (c->restart_now)
                        return; /* already on its way to a restart */
                break;
        default:
                return;
        }

        r = proc_signals_read("/proc", c->pid, &s);
        if (r < 0) {
                log_debug_errno(r, "Cannot read the signal masks of %s (pid %d), not reloading it: %m",
                                c->name, (int) c->pid);
                return;
        }
        if (!proc_signals_handles(&s, SIGHUP)) {
                log_notice("%s (pid %d) does not handle SIGHUP: restarting it to apply the configuration",
                           c->name, (int) c->pid);
                c->restart_now = true;
                (void) child_signal(c, SIGTERM);
                return;
        }
        if (child_signal(c, SIGHUP) >= 0)
                c->state = CHILD_RELOADING;
}

static void reload_all(Launcher *l) {
        log_info("SIGHUP: asking the daemons to reload the configuration");
        for (size_t i = 0; i < ELEMENTSOF(l->children); i++)
                child_reload(l, &l->children[i]);
}

static void stop_all(Launcher *l, const char *why) {
        size_t n = 0;

        l->stopping = true;
        l->stop_deadline = now_usec(CLOCK_MONOTONIC) + LAUNCHER_STOP_TIMEOUT;
        for (size_t i = 0; i < ELEMENTSOF(l->children); i++) {
                Child *c = &l->children[i];

                if (c->state == CHILD_WAITING)
                        c->state = CHILD_STOPPED;
                n += child_alive(c);
        }
        log_info("%s: stopping %zu daemon%s", why, n, n == 1 ? "" : "s");
        for (size_t i = 0; i < ELEMENTSOF(l->children); i++)
                (void) child_signal(&l->children[i], SIGTERM);
}

static void kill_all(Launcher *l, const char *why) {
        l->killed = true;
        l->stop_deadline = now_usec(CLOCK_MONOTONIC) + LAUNCHER_KILL_TIMEOUT;
        for (size_t i = 0; i < ELEMENTSOF(l->children); i++) {
                Child *c = &l->children[i];

                if (!child_alive(c))
                        continue;
                log_warning("%s (pid %d) %s; killing it", c->name, (int) c->pid, why);
                (void) child_signal(c, SIGKILL);
        }
}

static int handle_signals(Launcher *l) {
        struct signalfd_siginfo si;

        for (;;) {
                ssize_t n = read(l->signal_fd, &si, sizeof(si));

                if (n < 0) {
                        if (errno == EAGAIN)
                                return 0;
                        if (errno == EINTR)
                                continue;
                        return log_error_errno(negative_errno(), "Failed to read signals: %m");
                }
                if (n != (ssize_t) sizeof(si))
                        return log_error_errno(-EIO, "Short read from the signalfd");

                if (si.ssi_signo == SIGHUP) {
                        if (!l->stopping)
                                reload_all(l);
                } else if (!l->stopping)
                        stop_all(l, si.ssi_signo == SIGINT ? "Interrupted" : "SIGTERM");
                else if (si.ssi_signo == SIGINT && !l->killed)
                        kill_all(l, "is still stopping after a second interrupt");
        }
}

/* ---- Exits ----------------------------------------------------------------------------------------- */

static char *describe_exit(const siginfo_t *si) {
        char *s = NULL;

        if (si->si_code == CLD_EXITED)
                (void) asprintf(&s, "exited with status %d", si->si_status);
        else
                (void) asprintf(&s, "was killed by signal %d (SIG%s)%s", si->si_status,
                                signal_name(si->si_status),
                                si->si_code == CLD_DUMPED ? ", core dumped" : "");
        return s;
}

/* Exit status 0, or killed by the SIGTERM procctl sent (before the daemon had blocked it): what stopping
 * looks like. */
static bool stopped_cleanly(const siginfo_t *si) {
        return (si->si_code == CLD_EXITED && si->si_status == 0) ||
               (si->si_code == CLD_KILLED && si->si_status == SIGTERM);
}

static void child_handle_exit(Launcher *l, Child *c) {
        _cleanup_free_ char *how = NULL;
        siginfo_t si = {};
        bool was_ready = c->state == CHILD_RUNNING || c->state == CHILD_RELOADING;
        usec_t uptime, delay;
        pid_t pid = c->pid;

        if (waitid(P_PIDFD, (id_t) c->pidfd, &si, WEXITED | WNOHANG) < 0) {
                log_warning_errno(negative_errno(), "Cannot collect the exit of %s (pid %d): %m", c->name,
                                  (int) pid);
                si.si_pid = pid;
                si.si_code = CLD_EXITED;
                si.si_status = 255;
        }
        if (si.si_pid == 0)
                return; /* not exited after all */

        c->pidfd = safe_close(c->pidfd);
        c->pid = 0;
        c->reload_pending = false;
        uptime = now_usec(CLOCK_MONOTONIC) - c->started_at;
        how = describe_exit(&si);

        if (l->stopping) {
                c->state = CHILD_STOPPED;
                if (stopped_cleanly(&si))
                        log_info("%s (pid %d) stopped", c->name, (int) pid);
                else
                        log_warning("%s (pid %d) %s while stopping", c->name, (int) pid, strempty(how));
                return;
        }
        if (c->restart_now) {
                c->restart_now = false;
                if (stopped_cleanly(&si))
                        log_info("%s (pid %d) stopped; starting it again", c->name, (int) pid);
                else
                        log_info("%s (pid %d) %s; starting it again", c->name, (int) pid, strempty(how));
                child_schedule_restart(c, 0);
                return;
        }
        release_held(l);
        delay = launcher_backoff(&c->backoff, uptime);
        log_warning("%s (pid %d) %s%s; restarting in %" PRIu64 " s", c->name, (int) pid, strempty(how),
                    was_ready ? "" : " before it was ready", delay / USEC_PER_SEC);
        child_schedule_restart(c, delay);
}

/* ---- The loop -------------------------------------------------------------------------------------- */

static void launcher_done(Launcher *l) {
        for (size_t i = 0; i < ELEMENTSOF(l->children); i++) {
                Child *c = &l->children[i];

                free(c->path);
                free(c->notify_address);
                safe_close(c->notify_fd);
                safe_close(c->pidfd);
        }
        safe_close(l->signal_fd);
}

static int find_binaries(Launcher *l) {
        usec_t now = now_usec(CLOCK_MONOTONIC);
        size_t found = 0;
        int r;

        for (size_t i = 0; i < ELEMENTSOF(l->children); i++) {
                Child *c = &l->children[i];
                _cleanup_free_ char *tried = NULL;

                r = launcher_find_binary(c->name, c->subdir, l->o->bin_dir, &c->path, &tried);
                if (r == -ENOENT) {
                        log_warning("%s was not found (looked for %s): running without it%s", c->name,
                                    strempty(tried),
                                    c->is_api ? "; no REST API (procctl reads the database)" : "");
                        continue;
                }
                if (r < 0)
                        return log_error_errno(r, "Cannot look for %s: %m", c->name);
                r = notify_socket_open(&c->notify_fd, &c->notify_address);
                if (r < 0)
                        return log_error_errno(r, "Cannot create the notification socket for %s: %m",
                                               c->name);
                c->state = CHILD_WAITING;
                c->held = found > 0;
                c->restart_at = c->held ? now + LAUNCHER_HOLD_TIMEOUT : now;
                found++;
        }
        if (found == 0)
                return log_error_errno(-ENOENT,
                                       "None of the procsync daemons was found: build them (ninja -C build) "
                                       "or point --bin-dir or $%s at them",
                                       LAUNCHER_BIN_DIR_ENV);
        return 0;
}

static usec_t next_deadline(const Launcher *l) {
        usec_t t = USEC_INFINITY;

        if (l->stopping)
                return l->stop_deadline;
        for (size_t i = 0; i < ELEMENTSOF(l->children); i++)
                if (l->children[i].state == CHILD_WAITING && l->children[i].restart_at < t)
                        t = l->children[i].restart_at;
        return t;
}

static bool any_alive(const Launcher *l) {
        for (size_t i = 0; i < ELEMENTSOF(l->children); i++)
                if (child_alive(&l->children[i]))
                        return true;
        return false;
}

static int launcher_loop(Launcher *l) {
        for (;;) {
                struct pollfd p[1 + 2 * ELEMENTSOF(l->children)];
                Child *owner[ELEMENTSOF(p)];
                bool is_pidfd[ELEMENTSOF(p)];
                struct timespec ts, *tsp = NULL;
                usec_t deadline = next_deadline(l), now;
                size_t n = 0;
                int r;

                if (l->stopping && !any_alive(l))
                        return 0;

                p[n++] = (struct pollfd) { .fd = l->signal_fd, .events = POLLIN };
                for (size_t i = 0; i < ELEMENTSOF(l->children); i++) {
                        Child *c = &l->children[i];

                        if (c->notify_fd < 0)
                                continue;
                        owner[n] = c;
                        is_pidfd[n] = false;
                        p[n++] = (struct pollfd) { .fd = c->notify_fd, .events = POLLIN };
                        if (!child_alive(c))
                                continue;
                        owner[n] = c;
                        is_pidfd[n] = true;
                        p[n++] = (struct pollfd) { .fd = c->pidfd, .events = POLLIN };
                }
                if (deadline != USEC_INFINITY) {
                        now = now_usec(CLOCK_MONOTONIC);
                        usec_t left = deadline > now ? deadline - now : 0;
                        ts = (struct timespec) {
                                .tv_sec = (time_t) (left / USEC_PER_SEC),
                                .tv_nsec = (long) (left % USEC_PER_SEC * NSEC_PER_USEC),
                        };
                        tsp = &ts;
                }

                r = ppoll(p, n, tsp, NULL);
                if (r < 0 && errno != EINTR)
                        return log_error_errno(negative_errno(), "poll() failed: %m");

                r = handle_signals(l);
                if (r < 0)
                        return r;
                for (size_t i = 1; i < n; i++)
                        if (!is_pidfd[i] && (p[i].revents & POLLIN))
                                child_handle_notify(l, owner[i]);
                for (size_t i = 1; i < n; i++)
                        if (is_pidfd[i] && p[i].revents != 0 && child_alive(owner[i]))
                                child_handle_exit(l, owner[i]);

                now = now_usec(CLOCK_MONOTONIC);
                if (l->stopping) {
                        if (!any_alive(l) || now < l->stop_deadline)
                                continue;
                        if (l->killed)
                                return log_error_errno(-ETIMEDOUT, "Daemons alive after SIGKILL; giving up");
                        kill_all(l, "did not stop within 10 s");
                        continue;
                }
                for (size_t i = 0; i < ELEMENTSOF(l->children); i++) {
                        Child *c = &l->children[i];

                        if (c->state == CHILD_WAITING && c->restart_at <= now)
                                child_start(l, c);
                }
        }
}

static const char *user_name(uid_t uid) {
        const struct passwd *pw = getpwuid(uid);

        return pw ? pw->pw_name : "?";
}

int launcher_run(const LauncherOptions *o) {
        _cleanup_(launcher_done) Launcher l = { .o = o, .signal_fd = -EBADF };
        sigset_t mask;
        uid_t uid = geteuid();
        int r;

        for (size_t i = 0; i < ELEMENTSOF(l.children); i++) {
                l.children[i] = child_templates[i];
                l.children[i].notify_fd = -EBADF;
                l.children[i].pidfd = -EBADF;
        }

        /* Blocked before the first child exists, so a Ctrl-C during start-up is read from the signalfd
         * and stops the daemons already started. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGHUP);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(negative_errno(), "Cannot block signals: %m");
        l.signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
        if (l.signal_fd < 0)
                return log_error_errno(negative_errno(), "Cannot create a signalfd: %m");

        log_info("Running the procsync daemons as %s (uid %u), config %s, state in %s", user_name(uid),
                 (unsigned) uid, o->config_path ?: "(embedded default)", o->state_dir);
        if (uid != 0)
                log_notice("Not running as root: procsync-scanner lists every process, but sees sockets, "
                           "the executable and the network namespace only of %s's own processes",
                           user_name(uid));

        r = find_binaries(&l);
        if (r < 0)
                return r;

        return launcher_loop(&l);
}
