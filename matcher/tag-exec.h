/* Runs the tag command (`os-app-tag-exec`) as `os-app-tag-exec-user`, exactly as DESIGN.md "Tags" says:
 * argv without a shell, a fixed PATH, stdin /dev/null, a clean environment, fds above 2 closed, the user's
 * uid, gid and supplementary groups, no capabilities, no-new-privs, a verified drop, a deadline that kills
 * the whole process group, a cap on stdout and the first 4 KiB of stderr kept. Never logs: the result says
 * what happened and the daemon decides what to print. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"
#include "time-util.h"

/* The only PATH the command sees, and the only one argv[0] is looked up in. */
#define TAG_EXEC_PATH       "/usr/local/bin:/usr/bin:/bin"
#define TAG_EXEC_STDERR_MAX 4096

typedef struct TagExecParams {
        char *const *argv; /* NULL-terminated; argv[0] without a '/' is looked up in TAG_EXEC_PATH */
        const char *user;
        bool allow_root;     /* run even when the user has uid 0 */
        usec_t timeout;      /* from fork to exit, for the whole process group */
        uint64_t max_output; /* stdout bytes; more is a failure */
} TagExecParams;

typedef struct TagExecResult {
        bool ran;      /* false: refused or failed before the command was executed */
        bool ok;       /* ran and exited 0 within the limits */
        char *reason;  /* why not ok, e.g. "setresuid failed: Operation not permitted"; NULL when ok */
        int exit_code; /* when it exited, else -1 */
        int signal;    /* the signal that ended it (including our SIGKILL on timeout), else 0 */
        usec_t duration;
        char *out; /* stdout, NUL-terminated (the command's NULs are kept within out_len) */
        size_t out_len;
        char *err; /* the first TAG_EXEC_STDERR_MAX bytes of stderr, NUL-terminated */
        size_t err_len;
        bool err_truncated;
} TagExecResult;

void tag_exec_result_done(TagExecResult *r);

/* Fills *ret in every case but -ENOMEM (and then returns 0): ret->ok says whether the command succeeded and
 * ret->reason why not. */
int tag_exec_run(const TagExecParams *p, TagExecResult *ret);

/* Kills (SIGKILL) and reaps every child of the calling process, round after round until none is left that
 * can be killed: killing one makes its own children ours. For a child subreaper (PR_SET_CHILD_SUBREAPER)
 * that has no children of its own between two tag runs, these are what the last command left behind and
 * the group kill missed — a daemon that called setsid() — which the kernel re-parented to us when their
 * parent exited. A child we may not signal (EPERM: no CAP_KILL) is left to the caller's waitpid(WNOHANG)
 * sweep; one already dead is only reaped. Returns how many were killed (not counting those reaped; one the
 * group kill had not finished yet may be counted), or a negative errno when the children cannot be listed (without
 * CONFIG_PROC_CHILDREN: -EOPNOTSUPP). Never blocks when there is no child. */
int tag_exec_kill_children(void);
