/* The launcher behind `procctl run`: starts the four daemons as children in the foreground and supervises
 * them (see verb-run.c for what the user sees, launcher.c for the loop).
 *
 *   launcher-bin.c     where the daemons' binaries are (override dir, the build tree, the install dirs)
 *   launcher-notify.c  the sd_notify protocol from the receiving end: one datagram socket per daemon
 *   launcher-spawn.c   fork + exec of one daemon with a clean signal state, and its pidfd
 *   launcher.c         the supervision loop: readiness, restarts with backoff, SIGHUP, clean stop */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "macro.h"
#include "time-util.h"

/* Restart backoff: 1 s, doubled after each death up to 30 s; back to 1 s once a daemon stayed up 60 s. */
#define LAUNCHER_BACKOFF_MIN   (1 * USEC_PER_SEC)
#define LAUNCHER_BACKOFF_MAX   (30 * USEC_PER_SEC)
#define LAUNCHER_BACKOFF_RESET (60 * USEC_PER_SEC)
/* How long the daemons get to exit after SIGTERM before SIGKILL. */
#define LAUNCHER_STOP_TIMEOUT (10 * USEC_PER_SEC)

/* The delay before restarting a daemon that died after `uptime`; *backoff is the delay its next death
 * would get (start it at 0) and is updated for the one after. */
static inline usec_t launcher_backoff(usec_t *backoff, usec_t uptime) {
        usec_t delay;

        if (*backoff < LAUNCHER_BACKOFF_MIN || uptime >= LAUNCHER_BACKOFF_RESET)
                *backoff = LAUNCHER_BACKOFF_MIN;
        delay = *backoff;
        *backoff = delay >= LAUNCHER_BACKOFF_MAX / 2 ? LAUNCHER_BACKOFF_MAX : delay * 2;
        return delay;
}

/* ---- Binaries (launcher-bin.c) ------------------------------------------------------------------------ */

#define LAUNCHER_BIN_DIR_ENV "PROCSYNC_LIBEXEC_DIR"

/* Finds the executable `name` ("procsync-scanner"), which the build tree keeps in `subdir` ("scanner"):
 *   - with `override_dir` (--bin-dir or $PROCSYNC_LIBEXEC_DIR): only <dir>/<name>, then
 *     <dir>/<subdir>/<name> (so a flat directory and a build tree both work);
 *   - else ../<subdir>/<name> next to the directory of procctl's own binary (/proc/self/exe: the build
 *     tree), then the install's bindir and sbindir.
 * Returns 0 and the path, or -ENOENT with *ret_tried listing the places looked at ("A, B, C"). */
int launcher_find_binary(const char *name, const char *subdir, const char *override_dir, char **ret_path,
                         char **ret_tried);

/* ---- sd_notify (launcher-notify.c) -------------------------------------------------------------------- */

typedef struct NotifyMessage {
        pid_t sender;   /* from SCM_CREDENTIALS: the kernel's word, not the sender's */
        bool ready;     /* READY=1 */
        bool reloading; /* RELOADING=1 */
        bool stopping;  /* STOPPING=1 */
        char *status;   /* STATUS=..., control characters replaced by spaces; NULL when absent */
} NotifyMessage;

void notify_message_done(NotifyMessage *m);

/* Parses one datagram: newline-separated KEY=VALUE assignments; unknown keys are ignored. */
int notify_parse(const char *buf, size_t len, NotifyMessage *ret);

/* Opens a datagram socket bound to a fresh abstract address (kernel autobind), with SO_PASSCRED.
 * *ret_address is what goes into $NOTIFY_SOCKET ("@xxxxx"). */
int notify_socket_open(int *ret_fd, char **ret_address);

/* Receives one datagram. Returns 1 with *ret filled, 0 when nothing is queued, -errno on failure. A
 * datagram without credentials or too long for the protocol (over 4 KiB) is dropped (returns 1 with
 * ret->sender = 0). File descriptors sent with it are closed. */
int notify_receive(int fd, NotifyMessage *ret);

/* ---- Spawning (launcher-spawn.c) ---------------------------------------------------------------------- */

/* Forks and execs `path` with argv and envp. The child starts with every signal at its default action and
 * unblocked, stdin on /dev/null, every inherited fd above 2 closed, and PR_SET_PDEATHSIG(SIGTERM), so the
 * daemons stop if procctl itself is killed. Returns the pid and a pidfd (poll it for the exit; signal with
 * pidfd_send_signal()). An exec failure is returned as its errno, the child already reaped. */
int launcher_spawn(const char *path, char *const argv[], char *const envp[], pid_t *ret_pid, int *ret_pidfd);

/* ---- The loop (launcher.c) ---------------------------------------------------------------------------- */

typedef struct LauncherOptions {
        const char *bin_dir;     /* --bin-dir / $PROCSYNC_LIBEXEC_DIR, or NULL */
        const char *config_path; /* passed as -c (absolute), or NULL for the embedded default */
        const char *state_dir;   /* passed as --state-dir (absolute) */
        char **api_listen;       /* the API's addresses, for the "listening on" line */
} LauncherOptions;

/* Runs until SIGINT or SIGTERM, then stops the daemons and returns 0. Fails at start when no daemon
 * binary exists at all. */
int launcher_run(const LauncherOptions *o);
