/* Tag command runner, as root, with real users created for the test (a "tag" user with a supplementary
 * group, and a "matcher" user to run the runner itself unprivileged with only the documented
 * capabilities). The command is tag-exec-report (it prints its own ids, capabilities, fds, environment),
 * /bin/sh scripts, and coreutils. Exits 77 when not root or when useradd is missing. */
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "tag-exec.h"
#include "tag-parse.h"

static const char *helper;
static char tag_user[32], matcher_user[32], sup_group[32];
static uid_t tag_uid, matcher_uid;
static gid_t tag_gid, matcher_gid, sup_gid;
static char dir[] = "/tmp/test-tag-exec-XXXXXX";

static int run_argv(char *const argv[]) {
        pid_t pid = fork();
        int st;

        if (pid < 0)
                return -1;
        if (pid == 0) {
                int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

                if (null >= 0) {
                        (void) dup2(null, 1);
                        (void) dup2(null, 2);
                }
                execvp(argv[0], argv);
                _exit(127);
        }
        if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
                return -1;
        return WEXITSTATUS(st);
}

#define RUN(...) run_argv((char *const[]){__VA_ARGS__, NULL})

static int setup(void **state) {
        struct passwd *pw;
        struct group *gr;
        int id = (int) getpid() % 100000;

        snprintf(tag_user, sizeof(tag_user), "pstag%d", id);
        snprintf(matcher_user, sizeof(matcher_user), "psmatch%d", id);
        snprintf(sup_group, sizeof(sup_group), "pssup%d", id);
        if (RUN("groupadd", "-r", sup_group) != 0 ||
            RUN("useradd", "-r", "-M", "-U", "-G", sup_group, "-d", "/nonexistent", "-s",
                "/usr/sbin/nologin", tag_user) != 0 ||
            RUN("useradd", "-r", "-M", "-U", "-d", "/nonexistent", "-s", "/usr/sbin/nologin",
                matcher_user) != 0)
                return -1;
        pw = getpwnam(tag_user);
        if (!pw)
                return -1;
        tag_uid = pw->pw_uid;
        tag_gid = pw->pw_gid;
        pw = getpwnam(matcher_user);
        if (!pw)
                return -1;
        matcher_uid = pw->pw_uid;
        matcher_gid = pw->pw_gid;
        gr = getgrnam(sup_group);
        if (!gr)
                return -1;
        sup_gid = gr->gr_gid;

        if (!mkdtemp(dir) || chmod(dir, 0777) < 0)
                return -1;
        return 0;
}

static int teardown(void **state) {
        (void) RUN("userdel", tag_user);
        (void) RUN("userdel", matcher_user);
        (void) RUN("groupdel", tag_user);
        (void) RUN("groupdel", matcher_user);
        (void) RUN("groupdel", sup_group);
        (void) RUN("rm", "-rf", dir);
        return 0;
}

static TagExecParams params(char *const *argv, const char *user) {
        return (TagExecParams){
                .argv = argv,
                .user = user,
                .timeout = 10 * USEC_PER_SEC,
                .max_output = 1024 * 1024,
        };
}

/* The rest of the line after "name" in the report, without the newline. */
static char *field(const char *out, const char *name) {
        static char buf[4096];
        size_t l = strlen(name);

        for (const char *p = out; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
                if (strneq(p, name, l)) {
                        p += l;
                        p += strspn(p, " \t");
                        snprintf(buf, sizeof(buf), "%.*s", (int) strcspn(p, "\n"), p);
                        return buf;
                }
        fail_msg("no '%s' in the report:\n%s", name, out);
        return NULL;
}

static void expect_field(const char *out, const char *name, const char *value) {
        const char *v = field(out, name);

        if (!streq(v, value))
                fail_msg("%s '%s', expected '%s'", name, v, value);
}

static void expect_ids(const char *out, uid_t uid, gid_t gid) {
        char want[128];

        snprintf(want, sizeof(want), "%u\t%u\t%u\t%u", uid, uid, uid, uid);
        expect_field(out, "Uid:", want);
        snprintf(want, sizeof(want), "%u\t%u\t%u\t%u", gid, gid, gid, gid);
        expect_field(out, "Gid:", want);
}

/* The groups as a set. */
static void expect_groups(const char *out, const gid_t *want, size_t n) {
        char *v = field(out, "Groups:"), *save = NULL;
        size_t seen = 0;

        for (char *t = strtok_r(v, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
                bool found = false;

                for (size_t i = 0; i < n; i++)
                        found = found || (gid_t) strtoul(t, NULL, 10) == want[i];
                if (!found)
                        fail_msg("unexpected supplementary group %s", t);
                seen++;
        }
        assert_int_equal(seen, n);
}

static void expect_no_caps(const char *out, bool bounding_too) {
        expect_field(out, "CapInh:", "0000000000000000");
        expect_field(out, "CapPrm:", "0000000000000000");
        expect_field(out, "CapEff:", "0000000000000000");
        expect_field(out, "CapAmb:", "0000000000000000");
        if (bounding_too)
                expect_field(out, "CapBnd:", "0000000000000000");
        expect_field(out, "NoNewPrivs:", "1");
}

static void expect_clean_process(const char *out, const char *user) {
        char want[256];
        int pid = 0, sid = 0, pgid = 0;

        expect_field(out, "fds:", "0 1 2");
        expect_field(out, "stdin:", "/dev/null");
        expect_field(out, "cwd:", "/");
        expect_field(out, "SigBlk:", "0000000000000000");
        expect_field(out, "SigIgn:", "0000000000000000");
        assert_int_equal(sscanf(field(out, "pid:"), "%d sid: %d pgid: %d", &pid, &sid, &pgid), 3);
        assert_int_equal(pid, sid);
        assert_int_equal(pid, pgid);

        /* Exactly this environment, in this order. */
        snprintf(want, sizeof(want),
                 "env: PATH=" TAG_EXEC_PATH
                 "\nenv: HOME=%s\nenv: USER=%s\nenv: LOGNAME=%s\nenv: LANG=C.UTF-8\n",
                 streq(user, "root") ? "/root" : "/nonexistent", user, user);
        if (!strstr(out, want) || strstr(out, "env: ") != strstr(out, want) ||
            strstr(strstr(out, want) + strlen(want), "env: "))
                fail_msg("environment differs, expected:\n%s\ngot:\n%s", want, out);
}

static void test_identity(void **state) {
        _cleanup_(tag_exec_result_done) TagExecResult res = {};
        char *argv[] = {(char *) helper, NULL};
        TagExecParams p = params(argv, tag_user);
        gid_t groups[] = {tag_gid, sup_gid};
        sigset_t block, old;
        int leaked;

        /* Dirt the runner must clean up: an inheritable fd, a blocked and an ignored signal. */
        leaked = open("/dev/null", O_RDONLY);
        assert_true(leaked >= 0);
        assert_true(dup2(leaked, 42) == 42);
        sigemptyset(&block);
        sigaddset(&block, SIGUSR1);
        sigaddset(&block, SIGTERM);
        assert_int_equal(sigprocmask(SIG_BLOCK, &block, &old), 0);
        assert_true(signal(SIGUSR2, SIG_IGN) != SIG_ERR);

        assert_int_equal(tag_exec_run(&p, &res), 0);

        (void) sigprocmask(SIG_SETMASK, &old, NULL);
        (void) signal(SIGUSR2, SIG_DFL);
        close(leaked);
        close(42);

        if (!res.ok)
                fail_msg("failed: %s; stderr: %s", strempty(res.reason), strempty(res.err));
        assert_true(res.ran);
        assert_null(res.reason);
        assert_int_equal(res.exit_code, 0);
        expect_ids(res.out, tag_uid, tag_gid);
        expect_groups(res.out, groups, ELEMENTSOF(groups));
        expect_no_caps(res.out, true);
        expect_clean_process(res.out, tag_user);
}

static void test_refused(void **state) {
        _cleanup_free_ char *marker = NULL;
        char *argv[] = {"touch", NULL, NULL};
        TagExecResult res = {};
        TagExecParams p;

        assert_true(asprintf(&marker, "%s/marker", dir) > 0);
        argv[1] = marker;

        p = params(argv, "procsync-no-such-user");
        assert_int_equal(tag_exec_run(&p, &res), 0);
        assert_false(res.ran);
        assert_false(res.ok);
        assert_string_equal(res.reason, "user 'procsync-no-such-user' does not exist");
        assert_int_equal(access(marker, F_OK), -1);
        tag_exec_result_done(&res);

        p = params(argv, "root");
        assert_int_equal(tag_exec_run(&p, &res), 0);
        assert_false(res.ran);
        assert_false(res.ok);
        assert_non_null(
                strstr(res.reason, "user 'root' has uid 0: refusing to run the tag command as root"));
        assert_int_equal(access(marker, F_OK), -1);
        tag_exec_result_done(&res);

        /* Allowed, it runs: as uid 0 but without any capability. */
        p.allow_root = true;
        assert_int_equal(tag_exec_run(&p, &res), 0);
        if (!res.ok)
                fail_msg("failed: %s", res.reason);
        assert_int_equal(access(marker, F_OK), 0);
        tag_exec_result_done(&res);

        argv[0] = (char *) helper;
        argv[1] = NULL;
        assert_int_equal(tag_exec_run(&p, &res), 0);
        if (!res.ok)
                fail_msg("failed: %s", res.reason);
        expect_ids(res.out, 0, 0);
        expect_no_caps(res.out, true);
        expect_clean_process(res.out, "root");
        tag_exec_result_done(&res);
}

static pid_t read_pid_file(const char *name) {
        _cleanup_free_ char *path = NULL;
        char buf[32] = {};
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + 5 * USEC_PER_SEC;
        char *end;
        long v;

        assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
        for (;;) {
                _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);

                if (fd >= 0 && read(fd, buf, sizeof(buf) - 1) > 0 && strchr(buf, '\n'))
                        break;
                if (now_usec(CLOCK_MONOTONIC) > deadline)
                        fail_msg("no pid in '%s'", path);
                usleep(10000);
        }
        (void) unlink(path);
        errno = 0;
        v = strtol(buf, &end, 10);
        assert_true(errno == 0 && end != buf && *end == '\n' && v > 0);
        return (pid_t) v;
}

/* We are a child subreaper: the orphaned grandchild is ours to reap, and must have died of SIGKILL. */
static void expect_killed(pid_t pid) {
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + 5 * USEC_PER_SEC;
        int st = 0;

        for (;;) {
                pid_t r = waitpid(pid, &st, WNOHANG);

                assert_true(r >= 0);
                if (r == pid)
                        break;
                if (now_usec(CLOCK_MONOTONIC) > deadline)
                        fail_msg("grandchild %d still alive", (int) pid);
                usleep(10000);
        }
        assert_true(WIFSIGNALED(st));
        assert_int_equal(WTERMSIG(st), SIGKILL);
}

static char *script(const char *fmt, ...) _printf_(1, 2);
static char *script(const char *fmt, ...) {
        va_list ap;
        char *s;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        assert_true(r > 0);
        return s;
}

static void test_timeout_kills_group(void **state) {
        _cleanup_(tag_exec_result_done) TagExecResult res = {};
        _cleanup_free_ char *s =
                script("sleep 1000 & echo $! > %s/gc.pid; echo $$ > %s/sh.pid; exec sleep 1000", dir, dir);
        char *argv[] = {"/bin/sh", "-c", s, NULL};
        TagExecParams p = params(argv, tag_user);
        pid_t gc;

        p.timeout = 1 * USEC_PER_SEC;
        assert_int_equal(tag_exec_run(&p, &res), 0);
        assert_false(res.ok);
        assert_true(res.ran);
        assert_string_equal(res.reason, "timed out after 1 s");
        assert_int_equal(res.signal, SIGKILL);
        assert_true(res.duration >= 1 * USEC_PER_SEC);
        assert_true(res.duration < 4 * USEC_PER_SEC);
        (void) read_pid_file("sh.pid");
        gc = read_pid_file("gc.pid");
        expect_killed(gc);
}

/* A command that exits 0 but leaves a child behind (holding stdout, even): the child dies with the group
 * and the run is a success, long before the timeout. */
static void test_exit_kills_group(void **state) {
        _cleanup_(tag_exec_result_done) TagExecResult res = {};
        _cleanup_free_ char *s = script("sleep 1000 & echo $! > %s/gc.pid; echo '[]'", dir);
        char *argv[] = {"/bin/sh", "-c", s, NULL};
        TagExecParams p = params(argv, tag_user);
        pid_t gc;

        assert_int_equal(tag_exec_run(&p, &res), 0);
        if (!res.ok)
                fail_msg("failed: %s", res.reason);
        assert_string_equal(res.out, "[]\n");
        assert_true(res.duration < 5 * USEC_PER_SEC);
        gc = read_pid_file("gc.pid");
        expect_killed(gc);
}

/* A daemon that left the group with setsid() (with a child of its own) survives the group kill; as a
 * subreaper we get it back, and tag_exec_kill_children() kills it and then its child. */
static void test_kill_children_after_setsid(void **state) {
        _cleanup_(tag_exec_result_done) TagExecResult res = {};
        _cleanup_free_ char *s = script(
                "setsid sh -c 'sleep 1000 & echo $! > %s/esc2.pid; echo $$ > %s/esc.pid; exec sleep 1000' "
                "</dev/null >/dev/null 2>&1 & while [ ! -s %s/esc.pid ]; do sleep 0.01; done; echo '[]'",
                dir, dir, dir);
        char *argv[] = {"/bin/sh", "-c", s, NULL};
        TagExecParams p = params(argv, tag_user);
        pid_t esc, esc2;

        assert_int_equal(tag_exec_run(&p, &res), 0);
        if (!res.ok)
                fail_msg("failed: %s", res.reason);
        esc = read_pid_file("esc.pid");
        esc2 = read_pid_file("esc2.pid");
        assert_int_equal(kill(esc, 0), 0); /* out of the group: alive, and now our child */
        assert_int_equal(kill(esc2, 0), 0);
        assert_true(tag_exec_kill_children() >= 2);
        assert_true(kill(esc, 0) < 0 && errno == ESRCH); /* killed and reaped */
        assert_true(kill(esc2, 0) < 0 && errno == ESRCH);
        assert_int_equal(tag_exec_kill_children(), 0);
}

static void test_output_cap(void **state) {
        _cleanup_(tag_exec_result_done) TagExecResult res = {};
        char *argv[] = {"head", "-c", "10485760", "/dev/zero", NULL};
        TagExecParams p = params(argv, tag_user);

        assert_int_equal(tag_exec_run(&p, &res), 0);
        assert_false(res.ok);
        assert_true(res.ran);
        assert_string_equal(res.reason, "output exceeds 1048576 bytes");
        assert_int_equal(res.out_len, 1048576);
        assert_true(res.duration < 5 * USEC_PER_SEC);

        /* Exactly at the cap is fine. */
        tag_exec_result_done(&res);
        argv[2] = "1048576";
        assert_int_equal(tag_exec_run(&p, &res), 0);
        if (!res.ok)
                fail_msg("failed: %s", res.reason);
        assert_int_equal(res.out_len, 1048576);
}

static void test_failures(void **state) {
        _cleanup_free_ char *noexec = NULL;
        char *exit3[] = {"/bin/sh", "-c", "echo oops >&2; echo '[]'; exit 3", NULL};
        char *segv[] = {"/bin/sh", "-c", "kill -SEGV $$", NULL};
        char *noisy[] = {"/bin/sh", "-c", "head -c 10000 /dev/zero | tr '\\0' x >&2", NULL};
        char *missing[] = {"procsync-no-such-command", NULL};
        char *notexec[] = {NULL, NULL};
        TagExecParams p = params(exit3, tag_user);
        TagExecResult res = {};

        assert_int_equal(tag_exec_run(&p, &res), 0);
        assert_false(res.ok);
        assert_true(res.ran);
        assert_string_equal(res.reason, "exited with status 3");
        assert_int_equal(res.exit_code, 3);
        assert_string_equal(res.err, "oops\n");
        tag_exec_result_done(&res);

        p.argv = segv;
        assert_int_equal(tag_exec_run(&p, &res), 0);
        assert_false(res.ok);
        assert_string_equal(res.reason, "killed by signal 11 (SIGSEGV)");
        tag_exec_result_done(&res);

        p.argv = noisy;
        assert_int_equal(tag_exec_run(&p, &res), 0);
        assert_true(res.ok);
        assert_int_equal(res.err_len, TAG_EXEC_STDERR_MAX);
        assert_true(res.err_truncated);
        tag_exec_result_done(&res);

        p.argv = missing;
        assert_int_equal(tag_exec_run(&p, &res), 0);
        assert_false(res.ran);
        assert_string_equal(res.reason,
                            "cannot execute 'procsync-no-such-command': No such file or directory");
        tag_exec_result_done(&res);

        assert_true(asprintf(&noexec, "%s/noexec", dir) > 0);
        assert_int_equal(RUN("touch", noexec), 0);
        notexec[0] = noexec;
        p.argv = notexec;
        assert_int_equal(tag_exec_run(&p, &res), 0);
        assert_false(res.ran);
        assert_non_null(strstr(res.reason, "Permission denied"));
        tag_exec_result_done(&res);
}

/* The runner's output goes through the parser: each bad output is reported with its reason. */
static void expect_parse(const char *output, const char *reason) {
        _cleanup_(tag_exec_result_done) TagExecResult res = {};
        _cleanup_(tag_list_freep) TagList *l = NULL;
        _cleanup_free_ char *error = NULL;
        char *argv[] = {"printf", "%s", (char *) output, NULL};
        TagExecParams p = params(argv, tag_user);
        int r;

        assert_int_equal(tag_exec_run(&p, &res), 0);
        assert_true(res.ok);
        r = tag_parse(res.out, res.out_len, &l, &error);
        if (reason) {
                assert_int_equal(r, -EBADMSG);
                if (!strstr(error, reason))
                        fail_msg("'%s' does not contain '%s'", error, reason);
        } else {
                assert_int_equal(r, 0);
                assert_int_equal(l->n_skipped, 1);
                assert_non_null(strstr(l->skip_reason, "pid is a quoted string"));
        }
}

static void test_output_reasons(void **state) {
        expect_parse("\x01\x02garbage\n", "line 1, column 1: control characters are not allowed");
        expect_parse("- {pid: 1, tags: [oops\n", "line 2, column 1: did not find expected ',' or ']'");
        expect_parse("app: shop\n",
                     "line 1, column 1: expected a sequence of {pid, tags} entries, found a mapping");
        expect_parse("[{\"pid\": \"12\", \"tags\": []}]\n", NULL);
}

static int set_caps(uint64_t caps) {
        struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
        struct __user_cap_data_struct data[2] = {
                {.effective = (uint32_t) caps, .permitted = (uint32_t) caps},
                {.effective = (uint32_t) (caps >> 32), .permitted = (uint32_t) (caps >> 32)},
        };

        return (int) syscall(SYS_capset, &hdr, data);
}

/* In a child: become the matcher user with exactly `caps`, then run `argv` as the tag user. Returns the
 * runner's result through the exit code: 0 ok (stdout saved in <dir>/report.txt), 1 a failure whose reason
 * contains `expect`, 2 anything else (printed). */
static int run_unprivileged(uint64_t caps, char **argv, const char *expect) {
        pid_t pid = fork();
        int st;

        assert_true(pid >= 0);
        if (pid == 0) {
                TagExecParams p = params(argv, tag_user);
                TagExecResult res = {};
                char path[4096];
                FILE *f;

                p.timeout = 1 * USEC_PER_SEC;
                if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 || setgroups(0, NULL) < 0 ||
                    setresgid(matcher_gid, matcher_gid, matcher_gid) < 0 ||
                    setresuid(matcher_uid, matcher_uid, matcher_uid) < 0 || set_caps(caps) < 0) {
                        fprintf(stderr, "cannot become %s: %m\n", matcher_user);
                        _exit(2);
                }
                if (tag_exec_run(&p, &res) < 0)
                        _exit(2);
                if (res.ok) {
                        snprintf(path, sizeof(path), "%s/report.txt", dir);
                        f = fopen(path, "we");
                        if (!f || fputs(res.out, f) < 0 || fclose(f) != 0)
                                _exit(2);
                        _exit(0);
                }
                if (expect && res.reason && strstr(res.reason, expect))
                        _exit(1);
                fprintf(stderr, "unexpected result: %s\n", strempty(res.reason));
                _exit(2);
        }
        assert_int_equal(waitpid(pid, &st, 0), pid);
        assert_true(WIFEXITED(st));
        return WEXITSTATUS(st);
}

static char *read_report(void) {
        _cleanup_free_ char *path = NULL;
        char *buf = NULL;
        size_t n = 0;
        FILE *f;

        assert_true(asprintf(&path, "%s/report.txt", dir) > 0);
        f = fopen(path, "re");
        assert_non_null(f);
        assert_true(getdelim(&buf, &n, 0, f) > 0);
        fclose(f);
        (void) unlink(path);
        return buf;
}

#define CAP(c) (UINT64_C(1) << (c))

/* The daemon runs unprivileged with CAP_SETUID, CAP_SETGID and CAP_KILL: that is enough to drop to the tag
 * user (and the child keeps none of them), and to kill a timed-out command; without CAP_KILL the runner
 * says so instead of hanging. */
static void test_unprivileged_runner(void **state) {
        _cleanup_free_ char *s =
                script("echo $$ > %s/sh.pid; sleep 1000 & echo $! > %s/gc.pid; wait", dir, dir);
        char *report[] = {(char *) helper, NULL};
        char *sleeper[] = {"/bin/sh", "-c", s, NULL};
        uint64_t caps = CAP(CAP_SETUID) | CAP(CAP_SETGID) | CAP(CAP_KILL);
        gid_t groups[] = {tag_gid, sup_gid};
        _cleanup_free_ char *out = NULL;
        pid_t sh, gc;

        assert_int_equal(run_unprivileged(caps, report, NULL), 0);
        out = read_report();
        expect_ids(out, tag_uid, tag_gid);
        expect_groups(out, groups, ELEMENTSOF(groups));
        expect_no_caps(out, false);
        expect_clean_process(out, tag_user);

        assert_int_equal(run_unprivileged(caps, sleeper, "timed out after 1 s"), 1);
        (void) read_pid_file("sh.pid");
        gc = read_pid_file("gc.pid");
        expect_killed(gc);

        assert_int_equal(run_unprivileged(CAP(CAP_SETUID) | CAP(CAP_SETGID), sleeper,
                                          "timed out after 1 s; cannot kill it: Operation not permitted"),
                         1);
        sh = read_pid_file("sh.pid");
        gc = read_pid_file("gc.pid");
        assert_int_equal(kill(-sh, SIGKILL), 0);
        expect_killed(sh);
        expect_killed(gc);

        /* Without CAP_SETUID the drop fails, and says where. */
        assert_int_equal(run_unprivileged(CAP(CAP_SETGID) | CAP(CAP_KILL), report,
                                          "setresuid failed: Operation not permitted"),
                         1);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_identity),
                cmocka_unit_test(test_refused),
                cmocka_unit_test(test_timeout_kills_group),
                cmocka_unit_test(test_exit_kills_group),
                cmocka_unit_test(test_kill_children_after_setsid),
                cmocka_unit_test(test_output_cap),
                cmocka_unit_test(test_failures),
                cmocka_unit_test(test_output_reasons),
                cmocka_unit_test(test_unprivileged_runner),
        };

        if (geteuid() != 0) {
                printf("skipped: creating users and switching ids needs root\n");
                return 77;
        }
        if (access("/usr/sbin/useradd", X_OK) < 0) {
                printf("skipped: useradd (package passwd) is not installed\n");
                return 77;
        }
        helper = getenv("TAG_EXEC_HELPER");
        if (!helper) {
                printf("TAG_EXEC_HELPER is not set\n");
                return 1;
        }
        /* Orphaned grandchildren come to us, so a test can see how they died. */
        if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
                printf("PR_SET_CHILD_SUBREAPER: %m\n");
                return 1;
        }
        return cmocka_run_group_tests(tests, setup, teardown);
}
