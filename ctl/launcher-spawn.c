/* fork + exec of one daemon for `procctl run` (see launcher.h).
 *
 * The launcher blocks SIGINT, SIGTERM and SIGHUP to read them from a signalfd, and a blocked mask and
 * ignored dispositions survive exec: a daemon started with SIGTERM blocked would never stop. So the child
 * resets all of them before exec. Inherited fds (the caller's shell may leak some) are marked close-on-exec
 * with close_range(). An exec failure is reported to the parent over a close-on-exec pipe: EOF means the
 * exec worked, four bytes are the errno.
 *
 * Each daemon gets its own process group, so that a signal meant for procctl's group (Ctrl-C in the
 * terminal, `timeout`, `kill -TERM -PGID`) reaches procctl alone and each daemon hears exactly one SIGTERM,
 * from procctl: a second one could arrive after the daemon has unblocked its signals on the way out, and
 * kill it half-way through its exit. stdin is /dev/null, so a daemon never reads the terminal. */
#include "launcher.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>

static _noreturn_ void child_exec(const char *path, char *const argv[], char *const envp[], int error_fd,
                                  pid_t parent) {
        struct sigaction sa = { .sa_handler = SIG_DFL };
        sigset_t none;
        int fd, e;

        for (int sig = 1; sig < _NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        (void) sigaction(sig, &sa, NULL);
        sigemptyset(&none);
        if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
                goto fail;

        /* The daemons must not outlive a launcher that was SIGKILLed; and if the parent is already gone
         * (it died between fork and here), the death signal will never come. */
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0)
                goto fail;
        if (getppid() != parent)
                _exit(0);
        if (setpgid(0, 0) < 0)
                goto fail;

        fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                goto fail;
        if (dup2(fd, STDIN_FILENO) < 0)
                goto fail;
        (void) close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);

        execve(path, argv, envp);
fail:
        e = errno;
        (void) !write(error_fd, &e, sizeof(e));
        _exit(127);
}

int launcher_spawn(const char *path, char *const argv[], char *const envp[], pid_t *ret_pid,
                   int *ret_pidfd) {
        _cleanup_close_ int rfd = -EBADF, wfd = -EBADF, pidfd = -EBADF;
        pid_t parent = getpid(), pid;
        int pipefd[2], e = 0;
        ssize_t n;

        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return negative_errno();
        rfd = pipefd[0];
        wfd = pipefd[1];

        pid = fork();
        if (pid < 0)
                return negative_errno();
        if (pid == 0)
                child_exec(path, argv, envp, wfd, parent);

        wfd = safe_close(wfd);
        /* Also here, so that no signal to procctl's group can reach the child before it has moved; the
         * loser of the race gets EACCES (after exec) or does nothing new. */
        (void) setpgid(pid, pid);
        /* Until it is reaped, the pid cannot be reused: the pidfd surely names this child. */
        pidfd = pidfd_open(pid, 0);
        if (pidfd < 0) {
                int r = negative_errno();

                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                return r;
        }

        do
                n = read(rfd, &e, sizeof(e));
        while (n < 0 && errno == EINTR);
        if (n != 0) {
                (void) waitpid(pid, NULL, 0);
                return n == (ssize_t) sizeof(e) && e > 0 ? -e : -EIO;
        }

        *ret_pid = pid;
        *ret_pidfd = TAKE_FD(pidfd);
        return 0;
}
