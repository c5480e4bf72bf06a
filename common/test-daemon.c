/* Tests of daemon.c with real signals, a real second writer process, and a real AF_UNIX datagram socket
 * standing in for systemd's $NOTIFY_SOCKET, and the real config loader reading files written here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "daemon.h"
#include "db.h"
#include "proc-stat.h"
#include "test-util.h"

/* ---- Fixture -------------------------------------------------------------------------------------- */

typedef struct Fixture {
        char *dir;       /* the temporary root */
        char *state_dir; /* <dir>/state */
        char *config;    /* <dir>/procsync.yaml, state_dir: <dir>/state */
} Fixture;

static void write_config(const char *path, const char *state_dir, bool valid) {
        _cleanup_free_ char *text = NULL;

        assert_true(asprintf(&text,
                             "os-proc-sync-enabled: %s\n"
                             "procsync:\n"
                             "  state_dir: %s\n",
                             valid ? "true" : "[1, 2]", state_dir) > 0);
        assert_int_equal(test_write_file(path, text, strlen(text)), 0);
}

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));

        assert_non_null(f);
        f->dir = test_mkdtemp();
        assert_non_null(f->dir);
        assert_true(asprintf(&f->state_dir, "%s/state", f->dir) > 0);
        assert_true(asprintf(&f->config, "%s/procsync.yaml", f->dir) > 0);
        write_config(f->config, f->state_dir, true);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;

        test_rm_rf(f->dir);
        free(f->dir);
        free(f->state_dir);
        free(f->config);
        free(f);
        return 0;
}

static Daemon *start(Fixture *f, DaemonKind kind, const char *state_dir) {
        DaemonArgs args = {.config_path = f->config, .state_dir = (char *) state_dir};
        _cleanup_(config_diags_done) ConfigDiags diags = {};
        _cleanup_free_ char *error = NULL;
        Daemon *d = NULL;
        int r;

        r = daemon_new(kind, &args, &diags, &d, &error);
        if (r < 0)
                fail_msg("daemon_new: %s", strerror(-r));
        assert_non_null(d);
        return d;
}

/* ---- Arguments ------------------------------------------------------------------------------------ */

static int parse(DaemonArgs *a, char **error, ...) {
        char *argv[16] = {(char *) "procsync-test"};
        int argc = 1;
        va_list ap;

        va_start(ap, error);
        for (const char *s; (s = va_arg(ap, const char *));)
                argv[argc++] = (char *) s;
        va_end(ap);
        return daemon_parse_args(argc, argv, a, error);
}

static void test_args(void **state) {
        _cleanup_(daemon_args_done) DaemonArgs a = {};

        assert_int_equal(parse(&a, NULL, NULL), 0);
        assert_int_equal(a.action, DAEMON_ARGS_RUN);
        assert_null(a.config_path);
        assert_null(a.state_dir);
        assert_false(a.once);
        daemon_args_done(&a);

        assert_int_equal(parse(&a, NULL, "-c", "/etc/x.yaml", "--state-dir", "/tmp/s", "--once", NULL), 0);
        assert_string_equal(a.config_path, "/etc/x.yaml");
        assert_string_equal(a.state_dir, "/tmp/s");
        assert_true(a.once);
        daemon_args_done(&a);

        assert_int_equal(parse(&a, NULL, "--config=/a.yaml", "--state-dir=/s", "-c", "/b.yaml", NULL), 0);
        assert_string_equal(a.config_path, "/b.yaml"); /* the last one wins */
        assert_string_equal(a.state_dir, "/s");
        daemon_args_done(&a);

        assert_int_equal(parse(&a, NULL, "-c/c.yaml", NULL), 0);
        assert_string_equal(a.config_path, "/c.yaml");
        daemon_args_done(&a);

        assert_int_equal(parse(&a, NULL, "--help", NULL), 0);
        assert_int_equal(a.action, DAEMON_ARGS_HELP);
        daemon_args_done(&a);
        assert_int_equal(parse(&a, NULL, "-h", "--version", NULL), 0);
        assert_int_equal(a.action, DAEMON_ARGS_HELP);
        daemon_args_done(&a);
        assert_int_equal(parse(&a, NULL, "--version", NULL), 0);
        assert_int_equal(a.action, DAEMON_ARGS_VERSION);
        daemon_args_done(&a);
}

static void check_bad_args(const char *expect, ...) {
        DaemonArgs a = {.once = true};
        char *argv[16] = {(char *) "procsync-test"}, *error = NULL;
        int argc = 1;
        va_list ap;

        va_start(ap, expect);
        for (const char *s; (s = va_arg(ap, const char *));)
                argv[argc++] = (char *) s;
        va_end(ap);

        assert_int_equal(daemon_parse_args(argc, argv, &a, &error), -EINVAL);
        assert_non_null(error);
        if (!strstr(error, expect))
                fail_msg("error '%s' does not mention '%s'", error, expect);
        free(error);
        assert_true(a.once); /* *ret untouched on failure */
        assert_null(a.config_path);
}

static void test_args_errors(void **state) {
        check_bad_args("'--bogus'", "--bogus", NULL);
        check_bad_args("'-x'", "-x", NULL);
        check_bad_args("'-c' needs an argument", "-c", NULL);
        check_bad_args("'--state-dir' needs an argument", "--state-dir", NULL);
        check_bad_args("non-empty", "--state-dir", "", NULL);
        check_bad_args("non-empty", "-c", "", NULL);
        check_bad_args("unexpected argument 'extra'", "--once", "extra", NULL);
        check_bad_args("'--once=", "--once=yes", NULL);
}

static void test_help(void **state) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        assert_non_null(f);
        daemon_print_help(f, "procsync-scanner", "Scans processes and sockets.");
        assert_int_equal(fclose(f), 0);
        assert_non_null(strstr(buf, "procsync-scanner [OPTIONS]"));
        assert_non_null(strstr(buf, "Scans processes and sockets."));
        assert_non_null(strstr(buf, "--state-dir"));
        assert_non_null(strstr(buf, "--once"));
        assert_non_null(strstr(buf, "-c, --config"));
}

static void test_kinds(void **state) {
        assert_string_equal(daemon_kind_to_string(DAEMON_SCANNER), "scanner");
        assert_string_equal(daemon_kind_to_table(DAEMON_MATCHER), "match_daemon");
        assert_string_equal(daemon_kind_to_table(DAEMON_EXPORTER), "export_daemon");
        assert_int_equal(daemon_kind_from_string("exporter"), DAEMON_EXPORTER);
        assert_int_equal(daemon_kind_from_string("api"), -EINVAL);
        assert_null(daemon_kind_to_string(_DAEMON_KIND_MAX));
        assert_string_equal(daemon_event_to_string(DAEMON_EVENT_DB_CHANGED), "db-changed");
}

/* ---- Start-up and heartbeat ----------------------------------------------------------------------- */

static bool sigmask_has(int sig) {
        sigset_t cur;

        assert_int_equal(pthread_sigmask(SIG_BLOCK, NULL, &cur), 0);
        return sigismember(&cur, sig) == 1;
}

static void test_start_heartbeat_row(void **state) {
        Fixture *f = *state;
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        Daemon *d;
        ProcStat self;
        int64_t before = now_epoch_ms();

        assert_false(sigmask_has(SIGTERM));
        d = start(f, DAEMON_MATCHER, NULL);
        assert_true(sigmask_has(SIGTERM));
        assert_true(sigmask_has(SIGHUP));
        assert_true(sigmask_has(SIGINT));
        assert_string_equal(d->state_dir, f->state_dir); /* from the config */
        assert_string_equal(d->config->path, f->config);
        assert_int_equal(d->generation, 0);

        assert_int_equal(proc_stat_read("/proc", 0, &self), 0);
        assert_int_equal(
                db_prepare(d->db,
                           "SELECT pid, pid_start_ticks, started_at, config_path, config_ok, config_error, "
                           "generation FROM match_daemon WHERE id = 1",
                           &st),
                0);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int64(st, 0), getpid());
        assert_int_equal(sqlite3_column_int64(st, 1), self.start_ticks);
        assert_true(self.start_ticks > 0);
        assert_true(sqlite3_column_int64(st, 2) >= before);
        assert_true(sqlite3_column_int64(st, 2) <= now_epoch_ms());
        assert_string_equal((const char *) sqlite3_column_text(st, 3), f->config);
        assert_int_equal(sqlite3_column_int(st, 4), 1);
        assert_int_equal(sqlite3_column_type(st, 5), SQLITE_NULL);
        assert_int_equal(sqlite3_column_int64(st, 6), 0);
        st = (sqlite3_finalize(st), NULL);

        /* Heartbeat outside a transaction: its own; inside one: part of it. */
        assert_int_equal(daemon_heartbeat(d, 12, 5, "{\"processes\":3}", NULL), 0);
        assert_int_equal(d->generation, 5);
        assert_int_equal(db_begin(d->db), 0);
        assert_int_equal(daemon_heartbeat(d, 13, 6, NULL, "boom"), 0);
        db_rollback(d->db);

        uint64_t g = 0;
        assert_int_equal(daemon_read_generation(d->db, "matcher", &g), 0);
        assert_int_equal(g, 5);
        assert_int_equal(daemon_read_generation(d->db, "scanner", &g), -ENOENT);
        assert_int_equal(daemon_read_generation(d->db, "api", &g), -EINVAL);
        assert_int_equal(
                db_prepare(d->db, "SELECT last_cycle_ms, stats, last_error, last_cycle_at FROM match_daemon",
                           &st),
                0);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int64(st, 0), 12);
        assert_string_equal((const char *) sqlite3_column_text(st, 1), "{\"processes\":3}");
        assert_int_equal(sqlite3_column_type(st, 2), SQLITE_NULL);
        assert_true(sqlite3_column_int64(st, 3) >= before);
        st = (sqlite3_finalize(st), NULL);

        d = daemon_free(d);
        assert_false(sigmask_has(SIGTERM)); /* restored */

        /* A restart keeps the generation: it never goes back. */
        d = start(f, DAEMON_MATCHER, NULL);
        assert_int_equal(d->generation, 5);
        assert_int_equal(daemon_read_generation(d->db, "matcher", &g), 0);
        assert_int_equal(g, 5);
        daemon_free(d);
}

static void test_state_dir_precedence(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *other = NULL, *db_other = NULL, *db_config = NULL;
        Daemon *d;

        assert_true(asprintf(&other, "%s/other", f->dir) > 0);
        assert_true(asprintf(&db_other, "%s/%s", other, DB_FILENAME) > 0);
        assert_true(asprintf(&db_config, "%s/%s", f->state_dir, DB_FILENAME) > 0);

        d = start(f, DAEMON_SCANNER, other);
        assert_string_equal(d->state_dir, other);
        assert_true(test_path_exists(db_other));
        assert_false(test_path_exists(db_config));
        daemon_free(d);

        d = start(f, DAEMON_SCANNER, NULL);
        assert_string_equal(d->state_dir, f->state_dir);
        assert_true(test_path_exists(db_config));
        daemon_free(d);
}

static void test_invalid_config_refuses_start(void **state) {
        Fixture *f = *state;
        DaemonArgs args = {.config_path = f->config};
        _cleanup_(config_diags_done) ConfigDiags diags = {};
        _cleanup_free_ char *error = NULL, *missing = NULL;
        Daemon *d = NULL;

        write_config(f->config, f->state_dir, false);
        assert_int_equal(daemon_new(DAEMON_SCANNER, &args, &diags, &d, &error), -EINVAL);
        assert_null(d);
        assert_true(diags.n_errors >= 1);
        assert_non_null(error);
        assert_non_null(strstr(error, f->config));
        assert_false(test_path_exists(f->state_dir)); /* no database created */
        assert_false(sigmask_has(SIGTERM));

        /* A -c file that does not exist is an error too, never the embedded default. */
        free(error);
        error = NULL;
        assert_true(asprintf(&missing, "%s/missing.yaml", f->dir) > 0);
        args.config_path = missing;
        assert_true(daemon_new(DAEMON_SCANNER, &args, &diags, &d, &error) < 0);
        assert_null(d);
        assert_non_null(strstr(error, missing));
}

static void test_reload(void **state) {
        Fixture *f = *state;
        _cleanup_(config_diags_done) ConfigDiags diags = {};
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        _cleanup_free_ char *error = NULL;
        Daemon *d = start(f, DAEMON_EXPORTER, NULL);
        Config *old = d->config;

        write_config(f->config, f->state_dir, false);
        assert_int_equal(daemon_reload(d, &diags, &error), -EINVAL);
        assert_ptr_equal(d->config, old); /* kept */
        assert_true(diags.n_errors >= 1);
        assert_non_null(error);
        assert_non_null(strstr(error, f->config));
        assert_int_equal(db_prepare(d->db, "SELECT config_ok, config_error FROM export_daemon", &st), 0);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int(st, 0), 0);
        assert_string_equal((const char *) sqlite3_column_text(st, 1), error);
        assert_int_equal(sqlite3_reset(st), SQLITE_OK);

        write_config(f->config, f->state_dir, true);
        free(error);
        error = NULL;
        assert_int_equal(daemon_reload(d, &diags, &error), 0);
        assert_null(error);
        assert_int_equal(diags.n_errors, 0);
        assert_non_null(d->config);
        assert_string_equal(d->config->path, f->config);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int(st, 0), 1);
        assert_int_equal(sqlite3_column_type(st, 1), SQLITE_NULL);
        st = (sqlite3_finalize(st), NULL);

        /* Without diags. */
        assert_int_equal(daemon_reload(d, NULL, NULL), 0);
        daemon_free(d);
}

/* ---- The wait --------------------------------------------------------------------------------------- */

static DaemonEvent wait_event(Daemon *d, usec_t timeout, usec_t *ret_elapsed) {
        DaemonEvent ev = _DAEMON_EVENT_MAX;
        usec_t t0 = now_usec(CLOCK_MONOTONIC);

        assert_int_equal(daemon_wait(d, timeout, &ev), 0);
        if (ret_elapsed)
                *ret_elapsed = now_usec(CLOCK_MONOTONIC) - t0;
        return ev;
}

/* A child that sends `sig` to the parent after `delay`, so the signal arrives while daemon_wait() sleeps. */
static pid_t kill_later(int sig, usec_t delay) {
        pid_t parent = getpid(), pid = fork();

        assert_true(pid >= 0);
        if (pid == 0) {
                (void) usleep((useconds_t) delay);
                _exit(kill(parent, sig) < 0 ? 1 : 0);
        }
        return pid;
}

static void reap(pid_t pid) {
        int status;

        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_wait_signals(void **state) {
        Fixture *f = *state;
        Daemon *d = start(f, DAEMON_SCANNER, NULL);
        usec_t elapsed;
        pid_t pid;

        assert_int_equal(wait_event(d, 100 * USEC_PER_MSEC, &elapsed), DAEMON_EVENT_TIMEOUT);
        assert_true(elapsed >= 100 * USEC_PER_MSEC);
        assert_int_equal(wait_event(d, 0, NULL), DAEMON_EVENT_TIMEOUT);

        pid = kill_later(SIGHUP, 100 * USEC_PER_MSEC);
        assert_int_equal(wait_event(d, 10 * USEC_PER_SEC, &elapsed), DAEMON_EVENT_RELOAD);
        assert_true(elapsed < 5 * USEC_PER_SEC);
        reap(pid);

        pid = kill_later(SIGTERM, 100 * USEC_PER_MSEC);
        assert_int_equal(wait_event(d, USEC_INFINITY, &elapsed), DAEMON_EVENT_TERMINATE);
        reap(pid);

        assert_int_equal(kill(getpid(), SIGINT), 0);
        assert_int_equal(wait_event(d, 10 * USEC_PER_SEC, NULL), DAEMON_EVENT_TERMINATE);

        /* Both pending: TERMINATE wins, and nothing is left over. */
        assert_int_equal(kill(getpid(), SIGHUP), 0);
        assert_int_equal(kill(getpid(), SIGTERM), 0);
        assert_int_equal(wait_event(d, 10 * USEC_PER_SEC, NULL), DAEMON_EVENT_TERMINATE);
        assert_int_equal(wait_event(d, 0, NULL), DAEMON_EVENT_TIMEOUT);

        /* A signal pending at daemon_free() does not kill the process when the mask is restored. */
        assert_int_equal(kill(getpid(), SIGTERM), 0);
        daemon_free(d);
        assert_false(sigmask_has(SIGTERM));
}

/* The other daemon: forked before the parent opens the database (SQLite's per-process lock bookkeeping
 * must not be inherited), it waits for the go, sleeps `delay`, then starts as a real scanner and commits a
 * new scan generation with daemon_heartbeat(), whose commit hook is what wakes the parent. */
static pid_t writer_later(Fixture *f, int go_fd, usec_t delay, uint64_t generation) {
        pid_t pid = fork();

        assert_true(pid >= 0);
        if (pid == 0) {
                DaemonArgs args = {.config_path = f->config};
                Daemon *w = NULL;
                char c;

                if (read(go_fd, &c, 1) != 1)
                        _exit(1);
                (void) usleep((useconds_t) delay);
                if (daemon_new(DAEMON_SCANNER, &args, NULL, &w, NULL) < 0)
                        _exit(2);
                _exit(daemon_heartbeat(w, 1, generation, NULL, NULL) < 0 ? 3 : 0);
        }
        return pid;
}

static void test_wait_db_changed(void **state) {
        Fixture *f = *state;
        usec_t elapsed;
        uint64_t g = 0;
        int go[2];
        pid_t pid;
        Daemon *d;

        assert_int_equal(pipe2(go, O_CLOEXEC), 0);
        pid = writer_later(f, go[0], 300 * USEC_PER_MSEC, 42);
        (void) close(go[0]);

        d = start(f, DAEMON_MATCHER, NULL);
        assert_int_equal(daemon_watch_state(d), 0);
        assert_int_equal(daemon_watch_state(d), 0); /* twice is fine */
        assert_int_equal(daemon_read_generation(d->db, "scanner", &g), -ENOENT);

        assert_int_equal(write(go[1], "g", 1), 1);
        assert_int_equal(wait_event(d, 20 * USEC_PER_SEC, &elapsed), DAEMON_EVENT_DB_CHANGED);
        print_message("woke %" PRIu64 " ms after the go (writer waits 300 ms)\n", elapsed / USEC_PER_MSEC);
        assert_true(elapsed >= 250 * USEC_PER_MSEC); /* it really waited for the write */
        assert_true(elapsed < 5 * USEC_PER_SEC);     /* well before its timeout */
        /* The wake-up comes after the commit is visible: the first read sees the new generation. The
         * writer's row was created by its daemon_new() (a commit too), so the first wake-up may be for
         * that one: a caller reads, and waits again while nothing new is there. */
        for (usec_t end = now_usec(CLOCK_MONOTONIC) + 5 * USEC_PER_SEC;;) {
                int r = daemon_read_generation(d->db, "scanner", &g);
                if (r == 0 && g == 42)
                        break;
                assert_true(now_usec(CLOCK_MONOTONIC) < end);
                assert_int_equal(wait_event(d, 5 * USEC_PER_SEC, NULL), DAEMON_EVENT_DB_CHANGED);
        }
        reap(pid);
        (void) close(go[1]);

        /* No busy loop: with nobody writing, the next wait sleeps to its timeout. */
        while (wait_event(d, 0, NULL) != DAEMON_EVENT_TIMEOUT)
                ;
        assert_int_equal(wait_event(d, 200 * USEC_PER_MSEC, &elapsed), DAEMON_EVENT_TIMEOUT);
        assert_true(elapsed >= 200 * USEC_PER_MSEC);

        /* Without the watch, commits do not wake the daemon. */
        daemon_free(d);
}

/* ---- sd_notify ------------------------------------------------------------------------------------ */

typedef struct Notify {
        int fd;
        char *path;
} Notify;

static void notify_listen(Notify *n, const char *dir) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};

        assert_true(asprintf(&n->path, "%s/notify", dir) > 0);
        assert_true(strlen(n->path) < sizeof(sa.sun_path));
        strcpy(sa.sun_path, n->path);
        n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        assert_true(n->fd >= 0);
        assert_int_equal(bind(n->fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        assert_int_equal(setenv("NOTIFY_SOCKET", n->path, 1), 0);
}

static void notify_done(Notify *n) {
        unsetenv("NOTIFY_SOCKET");
        unsetenv("WATCHDOG_USEC");
        unsetenv("WATCHDOG_PID");
        safe_close(n->fd);
        free(n->path);
}

/* Every datagram received so far, joined by "|" (a datagram's own lines stay separated by '\n'). */
static char *notify_collect(Notify *n) {
        char *all = strdup("");

        assert_non_null(all);
        for (;;) {
                char buf[4096];
                ssize_t k = recv(n->fd, buf, sizeof(buf) - 1, 0);
                char *j = NULL;

                if (k < 0) {
                        assert_int_equal(errno, EAGAIN);
                        return all;
                }
                buf[k] = 0;
                assert_true(asprintf(&j, "%s%s|", all, buf) > 0);
                free(all);
                all = j;
        }
}

static unsigned count(const char *haystack, const char *needle) {
        unsigned n = 0;

        for (const char *p = haystack; (p = strstr(p, needle)); p += strlen(needle))
                n++;
        return n;
}

static void test_notify(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *ready = NULL, *wd = NULL, *hb = NULL, *rl = NULL, *stop = NULL;
        char pidbuf[32];
        Notify n = {};
        Daemon *d;

        notify_listen(&n, f->dir);
        snprintf(pidbuf, sizeof(pidbuf), "%d", (int) getpid());
        assert_int_equal(setenv("WATCHDOG_USEC", "100000", 1), 0);
        assert_int_equal(setenv("WATCHDOG_PID", pidbuf, 1), 0);

        d = start(f, DAEMON_SCANNER, NULL);
        assert_int_equal(d->watchdog_usec, 100000);
        ready = notify_collect(&n);
        print_message("start-up: %s\n", ready);
        assert_non_null(strstr(ready, "READY=1\n"));
        assert_non_null(strstr(ready, "STATUS=Running"));

        /* A long wait keeps the watchdog fed: every 50 ms for 100 ms WatchdogSec. */
        assert_int_equal(wait_event(d, 500 * USEC_PER_MSEC, NULL), DAEMON_EVENT_TIMEOUT);
        wd = notify_collect(&n);
        print_message("WATCHDOG=1 during a 500 ms wait: %u\n", count(wd, "WATCHDOG=1"));
        assert_true(count(wd, "WATCHDOG=1") >= 3); /* ~9 expected; slack for a loaded machine */
        assert_true(count(wd, "WATCHDOG=1") <= 12);

        /* A newline in a user-controlled error cannot inject another assignment. */
        assert_int_equal(daemon_heartbeat(d, 7, 1, NULL, "sink said: no\nMAINPID=1"), 0);
        hb = notify_collect(&n);
        assert_non_null(strstr(hb, "STATUS=Last cycle failed"));
        assert_null(strstr(hb, "\nMAINPID="));

        assert_int_equal(daemon_reload(d, NULL, NULL), 0);
        rl = notify_collect(&n);
        assert_non_null(strstr(rl, "RELOADING=1"));
        assert_true(strstr(rl, "READY=1") > strstr(rl, "RELOADING=1"));

        daemon_free(d);
        stop = notify_collect(&n);
        assert_non_null(strstr(stop, "STOPPING=1"));

        /* WATCHDOG_PID of another process: no watchdog for us. */
        assert_int_equal(setenv("WATCHDOG_PID", "1", 1), 0);
        d = start(f, DAEMON_SCANNER, NULL);
        assert_int_equal(d->watchdog_usec, 0);
        daemon_free(d);
        notify_done(&n);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_args),
                cmocka_unit_test(test_args_errors),
                cmocka_unit_test(test_help),
                cmocka_unit_test(test_kinds),
                cmocka_unit_test_setup_teardown(test_start_heartbeat_row, setup, teardown),
                cmocka_unit_test_setup_teardown(test_state_dir_precedence, setup, teardown),
                cmocka_unit_test_setup_teardown(test_invalid_config_refuses_start, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
                cmocka_unit_test_setup_teardown(test_wait_signals, setup, teardown),
                cmocka_unit_test_setup_teardown(test_wait_db_changed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_notify, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
