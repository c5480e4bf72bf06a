/* The signal masks of a process from /proc/<pid>/status (proc(5): SigPnd, ShdPnd, SigBlk, SigIgn, SigCgt).
 *
 * procctl signals daemons it did not start (`reload`) and daemons that may still be starting (`run`). A
 * process that neither blocks, catches nor ignores SIGHUP dies of it, so both ask first whether the process
 * handles the signal; `reload` also watches the pending sets to learn when a daemon has taken its SIGHUP. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct ProcSignals {
        uint64_t pending;        /* SigPnd: pending for the thread (the main thread for /proc/<pid>) */
        uint64_t shared_pending; /* ShdPnd: pending for the whole process (kill(2), pidfd_send_signal()) */
        uint64_t blocked;        /* SigBlk */
        uint64_t ignored;        /* SigIgn */
        uint64_t caught;         /* SigCgt */
} ProcSignals;

/* Bit of signal `sig` (1..64) in these masks. */
static inline uint64_t proc_signal_bit(int sig) {
        return sig >= 1 && sig <= 64 ? UINT64_C(1) << (sig - 1) : 0;
}

/* Parses the text of a status file. -EBADMSG when one of the five lines is missing or malformed. */
int proc_signals_parse(const char *buf, size_t len, ProcSignals *ret);

/* Reads <proc_root>/<pid>/status. -ESRCH when the process is gone. */
int proc_signals_read(const char *proc_root, pid_t pid, ProcSignals *ret);

/* True when `sig` would not kill the process: it is blocked (a signalfd reads it), caught or ignored. */
static inline bool proc_signals_handles(const ProcSignals *s, int sig) {
        return ((s->blocked | s->caught | s->ignored) & proc_signal_bit(sig)) != 0;
}

/* True while `sig` is queued and not yet taken by the process. */
static inline bool proc_signals_is_pending(const ProcSignals *s, int sig) {
        return ((s->pending | s->shared_pending) & proc_signal_bit(sig)) != 0;
}
