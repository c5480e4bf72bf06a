/* The tag command runner. See tag-exec.h.
 *
 * The OpenSMTPD way, with Linux additions. Everything that may block or allocate (the user and group
 * lookups through NSS, the environment, the PATH candidates) is done in the parent before fork(); the
 * child only makes system calls, in this order, and reports the first one that fails through a CLOEXEC
 * pipe as (step, errno) — so the parent can say "setresuid failed: Operation not permitted", and an EOF on
 * that pipe means execve succeeded:
 *
 *   stdio to pipes (stdin /dev/null) · close every fd above 2 (the report pipe sits on fd 3 with CLOEXEC)
 *   · setsid() (its own process group, so a timeout kills every descendant that did not leave it) · signal
 *   dispositions to default and an empty mask (the daemon blocks the signals it reads from a signalfd) ·
 *   chdir("/") · setgroups · setresgid · drop the bounding set while CAP_SETPCAP may still be held ·
 *   setresuid · clear the ambient set · capset() everything to zero (a non-root parent holding CAP_SETUID
 *   keeps its capabilities across setresuid, only a drop from uid 0 clears them) · verify that the old
 *   uids/gids, uid 0, gid 0 and setgroups() are out of reach and that no capability is left ·
 *   PR_SET_NO_NEW_PRIVS · PR_SET_PDEATHSIG (after the id change, which would clear it) · execve.
 *
 * fork(), not vfork()/posix_spawn(): the child changes its credentials. execve() over our own PATH walk,
 * not execvp(): glibc's execvp() takes PATH from the caller's environ and, on ENOEXEC, runs the file with
 * /bin/sh — we never invoke a shell.
 *
 * The parent waits with poll() on stdout, stderr, the report pipe and a pidfd until the deadline. When the
 * command exits, its process group is killed before it is reaped (the zombie keeps the group id from
 * being reused), so a daemon it forked dies with it. On timeout or too much output the group is killed at
 * once. Killing a group that runs under another uid needs CAP_KILL when the daemon is not root.
 *
 * A descendant that called setsid() is out of that group. tag_exec_kill_children() is the second net, for
 * a caller that is a child subreaper: such escapees become its children when their parent exits, and it
 * kills and reaps them, listed in /proc/self/task/TID/children. */
#include "tag-exec.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/param.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define READ_CHUNK       (64 * 1024)
#define GROUPS_MAX       65536 /* NGROUPS_MAX of the kernel */
#define NO_PIDFD_TICK_MS 50

typedef enum Step {
        STEP_STDIO,
        STEP_CLOSE_FDS,
        STEP_SETSID,
        STEP_SIGNALS,
        STEP_CHDIR,
        STEP_SETGROUPS,
        STEP_SETRESGID,
        STEP_CAPBSET,
        STEP_SETRESUID,
        STEP_AMBIENT,
        STEP_CAPSET,
        STEP_REGAIN_UID,
        STEP_REGAIN_GID,
        STEP_REGAIN_GROUPS,
        STEP_CAPS_LEFT,
        STEP_NO_NEW_PRIVS,
        STEP_PDEATHSIG,
        STEP_EXEC,
        _STEP_MAX,
} Step;

/* With an errno: "<name> failed: <strerror>". Without (a check that found something possible that must
 * not be): the name is the whole message. */
static const char *const step_table[_STEP_MAX] = {
        [STEP_STDIO] = "setting up stdio",
        [STEP_CLOSE_FDS] = "closing inherited file descriptors",
        [STEP_SETSID] = "setsid",
        [STEP_SIGNALS] = "resetting signals",
        [STEP_CHDIR] = "chdir to /",
        [STEP_SETGROUPS] = "setgroups",
        [STEP_SETRESGID] = "setresgid",
        [STEP_CAPBSET] = "dropping the capability bounding set",
        [STEP_SETRESUID] = "setresuid",
        [STEP_AMBIENT] = "clearing ambient capabilities",
        [STEP_CAPSET] = "capset",
        [STEP_REGAIN_UID] = "dropping privileges failed: a previous uid could be regained",
        [STEP_REGAIN_GID] = "dropping privileges failed: a previous gid could be regained",
        [STEP_REGAIN_GROUPS] = "dropping privileges failed: setgroups() still works",
        [STEP_CAPS_LEFT] = "dropping privileges failed: capabilities are left",
        [STEP_NO_NEW_PRIVS] = "PR_SET_NO_NEW_PRIVS",
        [STEP_PDEATHSIG] = "PR_SET_PDEATHSIG",
        [STEP_EXEC] = "execve",
};

typedef struct Report {
        int32_t step;
        int32_t error;
} Report;

/* Everything the child needs, prepared by the parent. */
typedef struct Plan {
        char *const *argv;
        char **candidates; /* paths to try for argv[0], NULL-terminated */
        char **env;        /* NULL-terminated */
        uid_t uid, old_uid[3];
        gid_t gid, old_gid[3];
        gid_t *groups;
        size_t n_groups;
        gid_t *groups_scratch; /* n_groups + 1 entries, for comparing with getgroups() in the child */
        pid_t parent;
} Plan;

static void plan_done(Plan *p) {
        strv_free(p->candidates);
        strv_free(p->env);
        free(p->groups);
        free(p->groups_scratch);
}

void tag_exec_result_done(TagExecResult *r) {
        if (!r)
                return;
        free(r->reason);
        free(r->out);
        free(r->err);
        *r = (TagExecResult){.exit_code = -1};
}

static int set_reason(TagExecResult *r, const char *fmt, ...) _printf_(2, 3);
static int set_reason(TagExecResult *r, const char *fmt, ...) {
        va_list ap;
        char *s;
        int k;

        va_start(ap, fmt);
        k = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        free(r->reason);
        r->reason = s;
        return 0;
}

static int resolve_user(const char *name, struct passwd *pw, char **ret_buf) {
        _cleanup_free_ char *buf = NULL;
        long s = sysconf(_SC_GETPW_R_SIZE_MAX);
        size_t size = s > 0 ? (size_t) s : 1024;
        struct passwd *found = NULL;

        for (;;) {
                int r;

                free(buf);
                buf = malloc(size);
                if (!buf)
                        return -ENOMEM;
                r = getpwnam_r(name, pw, buf, size, &found);
                if (r == 0)
                        break;
                if (r != ERANGE || size > 1024 * 1024)
                        return -r;
                size *= 2;
        }
        if (!found)
                return -ESRCH;
        *ret_buf = TAKE_PTR(buf);
        return 0;
}

static int resolve_groups(const char *name, gid_t gid, gid_t **ret, size_t *ret_n) {
        _cleanup_free_ gid_t *g = NULL;
        int n = 32;

        for (;;) {
                int k = n;

                free(g);
                g = calloc((size_t) n, sizeof(gid_t));
                if (!g)
                        return -ENOMEM;
                if (getgrouplist(name, gid, g, &k) >= 0) {
                        n = k;
                        break;
                }
                if (k <= n || k > GROUPS_MAX)
                        return -E2BIG;
                n = k;
        }
        *ret = TAKE_PTR(g);
        *ret_n = (size_t) n;
        return 0;
}

static int strv_push_printf(char ***l, size_t *n, const char *fmt, ...) _printf_(3, 4);
static int strv_push_printf(char ***l, size_t *n, const char *fmt, ...) {
        char **x, *s;
        va_list ap;
        int k;

        va_start(ap, fmt);
        k = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        x = reallocarray(*l, *n + 2, sizeof(char *));
        if (!x) {
                free(s);
                return -ENOMEM;
        }
        x[(*n)++] = s;
        x[*n] = NULL;
        *l = x;
        return 0;
}

static int plan_make(const TagExecParams *p, const struct passwd *pw, Plan *plan) {
        size_t n_env = 0, n_cand = 0;
        uid_t u[3];
        gid_t g[3];
        int r;

        plan->argv = p->argv;
        plan->uid = pw->pw_uid;
        plan->gid = pw->pw_gid;
        plan->parent = getpid();
        if (getresuid(&u[0], &u[1], &u[2]) < 0 || getresgid(&g[0], &g[1], &g[2]) < 0)
                return negative_errno();
        memcpy(plan->old_uid, u, sizeof(u));
        memcpy(plan->old_gid, g, sizeof(g));

        r = resolve_groups(pw->pw_name, pw->pw_gid, &plan->groups, &plan->n_groups);
        if (r < 0)
                return r;
        plan->groups_scratch = calloc(plan->n_groups + 1, sizeof(gid_t));
        if (!plan->groups_scratch)
                return -ENOMEM;

        if (strv_push_printf(&plan->env, &n_env, "PATH=%s", TAG_EXEC_PATH) < 0 ||
            strv_push_printf(&plan->env, &n_env, "HOME=%s", isempty(pw->pw_dir) ? "/" : pw->pw_dir) < 0 ||
            strv_push_printf(&plan->env, &n_env, "USER=%s", pw->pw_name) < 0 ||
            strv_push_printf(&plan->env, &n_env, "LOGNAME=%s", pw->pw_name) < 0 ||
            strv_push_printf(&plan->env, &n_env, "LANG=C.UTF-8") < 0)
                return -ENOMEM;

        if (strchr(p->argv[0], '/'))
                return strv_push_printf(&plan->candidates, &n_cand, "%s", p->argv[0]);
        for (const char *d = TAG_EXEC_PATH; *d;) {
                size_t l = strcspn(d, ":");

                if (strv_push_printf(&plan->candidates, &n_cand, "%.*s/%s", (int) l, d, p->argv[0]) < 0)
                        return -ENOMEM;
                d += l;
                if (*d == ':')
                        d++;
        }
        return 0;
}

static _noreturn_ void child_fail(int fd, Step step, int error) {
        Report rep = {.step = step, .error = error};

        (void) !write(fd, &rep, sizeof(rep));
        _exit(127);
}

/* Moves fd to a number >= 4, so that dup2() onto 0..3 never overwrites a source. */
static int fd_move_up(int fd) {
        return fd >= 4 ? fd : fcntl(fd, F_DUPFD_CLOEXEC, 4);
}

static bool same_groups(const Plan *p) {
        int n = getgroups((int) p->n_groups + 1, p->groups_scratch);

        if (n < 0)
                return false;
        /* As sets: the kernel keeps the list sorted, getgrouplist() does not. */
        for (int i = 0; i < n; i++) {
                bool found = false;

                for (size_t j = 0; j < p->n_groups && !found; j++)
                        found = p->groups_scratch[i] == p->groups[j];
                if (!found)
                        return false;
        }
        for (size_t j = 0; j < p->n_groups; j++) {
                bool found = false;

                for (int i = 0; i < n && !found; i++)
                        found = p->groups_scratch[i] == p->groups[j];
                if (!found)
                        return false;
        }
        return true;
}

static _noreturn_ void child(const Plan *p, int fd_null, int fd_out, int fd_err, int fd_report) {
        struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
        struct __user_cap_data_struct caps[_LINUX_CAPABILITY_U32S_3] = {};
        struct sigaction dfl = {.sa_handler = SIG_DFL};
        sigset_t none;
        int last_errno = ENOENT;
        bool eacces = false;

        fd_null = fd_move_up(fd_null);
        fd_out = fd_move_up(fd_out);
        fd_err = fd_move_up(fd_err);
        fd_report = fd_move_up(fd_report);
        if (fd_report < 0)
                _exit(127);
        if (fd_null < 0 || fd_out < 0 || fd_err < 0)
                child_fail(fd_report, STEP_STDIO, errno);
        if (dup3(fd_report, 3, O_CLOEXEC) < 0)
                child_fail(fd_report, STEP_STDIO, errno);
        fd_report = 3;
        if (dup2(fd_null, 0) < 0 || dup2(fd_out, 1) < 0 || dup2(fd_err, 2) < 0)
                child_fail(fd_report, STEP_STDIO, errno);
        if (close_range(4, ~0U, 0) < 0) {
                struct rlimit rl;

                if (errno != ENOSYS || getrlimit(RLIMIT_NOFILE, &rl) < 0)
                        child_fail(fd_report, STEP_CLOSE_FDS, errno);
                for (rlim_t fd = 4; fd < rl.rlim_cur && fd < (rlim_t) INT_MAX; fd++)
                        (void) close((int) fd);
        }

        if (setsid() < 0)
                child_fail(fd_report, STEP_SETSID, errno);
        for (int sig = 1; sig < _NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        (void) sigaction(sig, &dfl, NULL); /* EINVAL for the signals glibc reserves */
        sigemptyset(&none);
        if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
                child_fail(fd_report, STEP_SIGNALS, errno);
        if (chdir("/") < 0)
                child_fail(fd_report, STEP_CHDIR, errno);
        umask(022);

        /* Without CAP_SETGID, running as the very user and groups we already have is still fine. */
        if (setgroups(p->n_groups, p->groups) < 0 && !(errno == EPERM && same_groups(p)))
                child_fail(fd_report, STEP_SETGROUPS, errno);
        if (setresgid(p->gid, p->gid, p->gid) < 0)
                child_fail(fd_report, STEP_SETRESGID, errno);
        for (unsigned long c = 0; c < 64; c++)
                if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0) {
                        if (errno == EINVAL || errno == EPERM) /* past the last cap; no CAP_SETPCAP */
                                break;
                        child_fail(fd_report, STEP_CAPBSET, errno);
                }
        if (setresuid(p->uid, p->uid, p->uid) < 0)
                child_fail(fd_report, STEP_SETRESUID, errno);
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
                child_fail(fd_report, STEP_AMBIENT, errno);
        if (syscall(SYS_capset, &hdr, caps) < 0)
                child_fail(fd_report, STEP_CAPSET, errno);

        /* Verify. Each of these must now fail with EPERM. */
        for (size_t i = 0; i < 3; i++)
                if (p->old_uid[i] != p->uid && setuid(p->old_uid[i]) == 0)
                        child_fail(fd_report, STEP_REGAIN_UID, 0);
        if (p->uid != 0 && setuid(0) == 0)
                child_fail(fd_report, STEP_REGAIN_UID, 0);
        for (size_t i = 0; i < 3; i++)
                if (p->old_gid[i] != p->gid && setgid(p->old_gid[i]) == 0)
                        child_fail(fd_report, STEP_REGAIN_GID, 0);
        if (p->gid != 0 && setgid(0) == 0)
                child_fail(fd_report, STEP_REGAIN_GID, 0);
        if (setgroups(0, NULL) == 0)
                child_fail(fd_report, STEP_REGAIN_GROUPS, 0);
        hdr = (struct __user_cap_header_struct){.version = _LINUX_CAPABILITY_VERSION_3};
        if (syscall(SYS_capget, &hdr, caps) < 0)
                child_fail(fd_report, STEP_CAPSET, errno);
        for (size_t i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
                if (caps[i].effective || caps[i].permitted || caps[i].inheritable)
                        child_fail(fd_report, STEP_CAPS_LEFT, 0);

        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                child_fail(fd_report, STEP_NO_NEW_PRIVS, errno);
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
                child_fail(fd_report, STEP_PDEATHSIG, errno);
        if (getppid() != p->parent) /* the parent died before PR_SET_PDEATHSIG took effect */
                _exit(127);

        /* As execvp() walks PATH: remember EACCES, go on past missing entries, stop at anything else. */
        for (char **c = p->candidates; *c; c++) {
                execve(*c, p->argv, p->env);
                if (errno == EACCES)
                        eacces = true;
                else if (errno != ENOENT && errno != ENOTDIR && errno != ESTALE && errno != ENODEV &&
                         errno != ETIMEDOUT) {
                        last_errno = errno;
                        break;
                }
        }
        child_fail(fd_report, STEP_EXEC, eacces && last_errno == ENOENT ? EACCES : last_errno);
}

static int pidfd_open_compat(pid_t pid) {
#ifdef SYS_pidfd_open
        return (int) syscall(SYS_pidfd_open, pid, 0);
#else
        errno = ENOSYS;
        return -1;
#endif
}

/* Returns 0 when the child is gone or got SIGKILL, -EPERM when we may not signal it (not root and no
 * CAP_KILL). The group may not exist yet if the child has not reached setsid(): kill the child too. */
static int kill_group(pid_t pid) {
        (void) kill(-pid, SIGKILL);
        if (kill(pid, SIGKILL) < 0 && errno != ESRCH)
                return negative_errno();
        return 0;
}

static bool child_exited(pid_t pid, int pidfd, short revents) {
        siginfo_t si = {};

        if (pidfd >= 0)
                return revents & POLLIN;
        /* WNOWAIT: see the exit without reaping, so the group id stays ours until we killed the group. */
        return waitid(P_PID, (id_t) pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid;
}

static void format_duration(char *buf, size_t size, usec_t u) {
        if (u % USEC_PER_SEC == 0)
                snprintf(buf, size, "%llu s", (unsigned long long) (u / USEC_PER_SEC));
        else
                snprintf(buf, size, "%llu ms", (unsigned long long) (u / USEC_PER_MSEC));
}

typedef struct Pipes {
        int out, err, report, pidfd;
} Pipes;

static void pipes_close(Pipes *p) {
        p->out = safe_close(p->out);
        p->err = safe_close(p->err);
        p->report = safe_close(p->report);
        p->pidfd = safe_close(p->pidfd);
}

/* Reads what is there; returns 0, or 1 on EOF. */
static int read_out(int fd, const TagExecParams *params, TagExecResult *res, size_t *allocated) {
        size_t want = READ_CHUNK;
        ssize_t n;

        /* Room for one byte past the cap, to see that it was exceeded, and the NUL. */
        if (params->max_output + 1 - res->out_len < want)
                want = params->max_output + 1 - res->out_len;
        if (res->out_len + want + 1 > *allocated) {
                size_t a = MAX(*allocated * 2, res->out_len + want + 1);
                char *x;

                a = MIN(a, (size_t) params->max_output + 2);
                x = realloc(res->out, a);
                if (!x)
                        return -ENOMEM;
                res->out = x;
                *allocated = a;
        }
        n = read(fd, res->out + res->out_len, want);
        if (n < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : negative_errno();
        if (n == 0)
                return 1;
        res->out_len += (size_t) n;
        res->out[res->out_len] = 0;
        return 0;
}

static int read_err(int fd, TagExecResult *res) {
        char discard[4096];
        ssize_t n;

        if (res->err_len < TAG_EXEC_STDERR_MAX) {
                n = read(fd, res->err + res->err_len, TAG_EXEC_STDERR_MAX - res->err_len);
                if (n > 0) {
                        res->err_len += (size_t) n;
                        res->err[res->err_len] = 0;
                }
        } else {
                n = read(fd, discard, sizeof(discard));
                if (n > 0)
                        res->err_truncated = true;
        }
        if (n < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : negative_errno();
        return n == 0;
}

static int parent(pid_t pid, Pipes *fds, const TagExecParams *params, TagExecResult *res, usec_t start) {
        usec_t deadline = start + params->timeout;
        bool exited = false, stop = false;
        size_t allocated = 0, rep_len = 0;
        Report rep = {};
        int status = 0, r = 0, k;

        res->err = calloc(TAG_EXEC_STDERR_MAX + 1, 1);
        if (!res->err) {
                r = -ENOMEM;
                stop = true;
        }

        while (!stop && (fds->out >= 0 || fds->err >= 0 || fds->report >= 0 || !exited)) {
                struct pollfd pfd[4] = {
                        {.fd = fds->out, .events = POLLIN},
                        {.fd = fds->err, .events = POLLIN},
                        {.fd = fds->report, .events = POLLIN},
                        {.fd = exited ? -1 : fds->pidfd, .events = POLLIN},
                };
                usec_t now = now_usec(CLOCK_MONOTONIC);
                int timeout_ms;

                if (now >= deadline) {
                        char d[32];

                        format_duration(d, sizeof(d), params->timeout);
                        r = set_reason(res, "timed out after %s", d);
                        stop = true;
                        break;
                }
                timeout_ms =
                        (int) MIN((deadline - now + USEC_PER_MSEC - 1) / USEC_PER_MSEC, (usec_t) INT_MAX);
                if (fds->pidfd < 0 && !exited)
                        timeout_ms = MIN(timeout_ms, NO_PIDFD_TICK_MS);

                if (poll(pfd, ELEMENTSOF(pfd), timeout_ms) < 0) {
                        if (errno == EINTR)
                                continue;
                        r = set_reason(res, "poll failed: %m");
                        stop = true;
                        break;
                }

                if (pfd[2].revents) {
                        ssize_t n = read(fds->report, (char *) &rep + rep_len, sizeof(rep) - rep_len);

                        if (n > 0)
                                rep_len += (size_t) n;
                        else if (n == 0 || (errno != EINTR && errno != EAGAIN))
                                fds->report = safe_close(fds->report);
                }
                if (pfd[0].revents) {
                        k = read_out(fds->out, params, res, &allocated);
                        if (k == -ENOMEM) {
                                r = k;
                                stop = true;
                                break;
                        }
                        if (k != 0)
                                fds->out = safe_close(fds->out);
                        else if (res->out_len > params->max_output) {
                                res->out_len = params->max_output;
                                res->out[res->out_len] = 0;
                                r = set_reason(res, "output exceeds %llu bytes",
                                               (unsigned long long) params->max_output);
                                stop = true;
                                break;
                        }
                }
                if (pfd[1].revents && read_err(fds->err, res) != 0)
                        fds->err = safe_close(fds->err);
                if (!exited && child_exited(pid, fds->pidfd, pfd[3].revents)) {
                        /* Before reaping: the zombie keeps the group id ours. */
                        (void) kill(-pid, SIGKILL);
                        exited = true;
                }
        }

        k = stop ? kill_group(pid) : 0;
        if (k < 0) {
                /* It keeps running and will be reaped by the daemon's sweep of stray children. Do not block
                 * on it. */
                res->ran = true;
                if (r >= 0 && res->reason) {
                        _cleanup_free_ char *was = TAKE_PTR(res->reason);

                        r = set_reason(res, "%s; cannot kill it: %s (the daemon needs CAP_KILL)", was,
                                       strerror(-k));
                }
                return r;
        }
        if (waitpid(pid, &status, 0) < 0 && r >= 0)
                r = negative_errno();
        if (r < 0)
                return r;

        if (WIFEXITED(status))
                res->exit_code = WEXITSTATUS(status);
        else if (WIFSIGNALED(status))
                res->signal = WTERMSIG(status);

        if (rep_len == sizeof(rep) && rep.step >= 0 && rep.step < _STEP_MAX) {
                res->ran = false;
                if (rep.step == STEP_EXEC)
                        return set_reason(res, "cannot execute '%s': %s", params->argv[0],
                                          strerror(rep.error));
                if (rep.error == 0)
                        return set_reason(res, "%s", step_table[rep.step]);
                return set_reason(res, "%s failed: %s", step_table[rep.step], strerror(rep.error));
        }
        res->ran = true;
        if (res->reason)
                return 0;
        if (res->signal)
                return set_reason(res, "killed by signal %d (SIG%s)", res->signal,
                                  strempty(sigabbrev_np(res->signal)));
        if (res->exit_code != 0)
                return set_reason(res, "exited with status %d", res->exit_code);
        res->ok = true;
        return 0;
}

int tag_exec_run(const TagExecParams *p, TagExecResult *ret) {
        _cleanup_(tag_exec_result_done) TagExecResult res = {.exit_code = -1};
        _cleanup_(plan_done) Plan plan = {};
        _cleanup_free_ char *pwbuf = NULL;
        _cleanup_close_ int fd_null = -EBADF;
        Pipes fds = {-EBADF, -EBADF, -EBADF, -EBADF};
        int out[2] = {-EBADF, -EBADF}, err[2] = {-EBADF, -EBADF}, report[2] = {-EBADF, -EBADF};
        struct passwd pw;
        usec_t start = now_usec(CLOCK_MONOTONIC);
        pid_t pid;
        int r;

        if (!p->argv || !p->argv[0] || isempty(p->argv[0])) {
                r = set_reason(&res, "no command configured");
                goto done;
        }
        if (isempty(p->user)) {
                r = set_reason(&res, "no user configured");
                goto done;
        }
        r = resolve_user(p->user, &pw, &pwbuf);
        if (r == -ESRCH) {
                r = set_reason(&res, "user '%s' does not exist", p->user);
                goto done;
        }
        if (r < 0) {
                if (r == -ENOMEM)
                        return r;
                r = set_reason(&res, "cannot look up user '%s': %s", p->user, strerror(-r));
                goto done;
        }
        if (pw.pw_uid == 0 && !p->allow_root) {
                r = set_reason(&res,
                               "user '%s' has uid 0: refusing to run the tag command as root "
                               "(procsync.tag_exec.allow_root is false)",
                               p->user);
                goto done;
        }
        r = plan_make(p, &pw, &plan);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                r = set_reason(&res, "cannot prepare the command for user '%s': %s", p->user, strerror(-r));
                goto done;
        }

        fd_null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd_null < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 ||
            pipe2(report, O_CLOEXEC) < 0) {
                r = set_reason(&res, "cannot create pipes: %m");
                goto close_pipes;
        }

        pid = fork();
        if (pid < 0) {
                r = set_reason(&res, "fork failed: %m");
                goto close_pipes;
        }
        if (pid == 0)
                child(&plan, fd_null, out[1], err[1], report[1]);

        out[1] = safe_close(out[1]);
        err[1] = safe_close(err[1]);
        report[1] = safe_close(report[1]);
        fds = (Pipes){.out = TAKE_FD(out[0]), .err = TAKE_FD(err[0]), .report = TAKE_FD(report[0])};
        fds.pidfd = pidfd_open_compat(pid);
        if (fds.pidfd < 0)
                fds.pidfd = -EBADF; /* kernel < 5.3 or filtered: parent() polls waitid() instead */
        r = parent(pid, &fds, p, &res, start);
        pipes_close(&fds);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                r = set_reason(&res, "waiting for the command failed: %s", strerror(-r));
        goto done;

close_pipes:
        for (size_t i = 0; i < 2; i++) {
                out[i] = safe_close(out[i]);
                err[i] = safe_close(err[i]);
                report[i] = safe_close(report[i]);
        }
done:
        if (r < 0)
                return r;
        res.duration = now_usec(CLOCK_MONOTONIC) - start;
        *ret = res;
        res = (TagExecResult){};
        return 0;
}

/* Appends the pids of one /proc/self/task/TID/children file (space-separated). */
static int read_children(const char *path, pid_t **pids, size_t *n) {
        _cleanup_free_ char *buf = NULL;
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        size_t len = 0, size = 0;

        if (fd < 0)
                return errno == ENOENT ? -EOPNOTSUPP : negative_errno(); /* no CONFIG_PROC_CHILDREN */
        for (;;) {
                ssize_t k;

                if (len + 1 >= size) {
                        char *x = realloc(buf, size = MAX(size * 2, (size_t) 256));

                        if (!x)
                                return -ENOMEM;
                        buf = x;
                }
                k = read(fd, buf + len, size - len - 1);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return negative_errno();
                if (k == 0)
                        break;
                len += (size_t) k;
        }
        if (!buf)
                return 0;
        buf[len] = 0;
        for (char *p = buf, *end; *p;) {
                long v = strtol(p, &end, 10);
                pid_t *x;

                if (end == p)
                        break;
                p = end;
                if (v <= 0)
                        continue;
                x = reallocarray(*pids, *n + 1, sizeof(pid_t));
                if (!x)
                        return -ENOMEM;
                *pids = x;
                (*pids)[(*n)++] = (pid_t) v;
        }
        return 0;
}

/* Every thread's children: a child belongs to the thread that forked it (or that it was re-parented to). */
static int list_children(pid_t **pids, size_t *n) {
        DIR *tasks = opendir("/proc/self/task");
        struct dirent *de;
        int r = 0;

        if (!tasks)
                return negative_errno();
        while (r >= 0 && (de = readdir(tasks))) {
                char path[sizeof("/proc/self/task//children") + sizeof(de->d_name)];

                if (de->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof(path), "/proc/self/task/%s/children", de->d_name);
                r = read_children(path, pids, n);
        }
        closedir(tasks);
        return r;
}

int tag_exec_kill_children(void) {
        siginfo_t si = {};
        int killed = 0;

        /* The common case, no child at all, costs one system call. */
        if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
                return errno == ECHILD ? 0 : negative_errno();

        /* Each round kills the children we have; their own children come to us as they die. A child is
         * ours until we reap it, so its pid cannot name another process in between. The bound only stops
         * a fork bomb from keeping us here forever. */
        for (unsigned round = 0; round < 64; round++) {
                _cleanup_free_ pid_t *pids = NULL;
                size_t n = 0, waited = 0;
                int r;

                r = list_children(&pids, &n);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < n; i++) {
                        /* Already dead (killed with the group, re-parented to us as a zombie): reap only. */
                        if (waitpid(pids[i], NULL, WNOHANG) == pids[i]) {
                                waited++;
                                continue;
                        }
                        if (kill(pids[i], SIGKILL) < 0 && errno != ESRCH)
                                continue; /* EPERM: not ours to kill, reaped by the caller's sweep */
                        if (waitpid(pids[i], NULL, 0) == pids[i]) {
                                killed++;
                                waited++;
                        }
                }
                if (waited == 0)
                        break;
        }
        return killed;
}
