/* /proc/<pid>/cmdline as the rules see it: the arguments joined by single spaces.
 *
 * For `procctl rules test --pid`, which must look at a live process the way the matcher looks at the
 * scanned one. The scanner reads the same file with the same bound (scanner/proc-parse.h PROC_CMDLINE_MAX)
 * and additionally replaces invalid UTF-8 by U+FFFD; this reader keeps the bytes as they are. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* The same bound as the scanner's: a longer argv is cut there. */
#define PROC_CMDLINE_READ_MAX 4096

/* Joins NUL-separated arguments in place: trailing NULs dropped, inner NULs become spaces. buf[len] must be
 * writable; it becomes the terminating NUL. Returns the joined length. */
size_t proc_cmdline_join_inplace(char *buf, size_t len);

/* Reads and joins "<proc_root>/<pid>/cmdline" (pid 0 = "self"), at most PROC_CMDLINE_READ_MAX bytes. A
 * kernel thread or a zombie gives "". Returns 0, -ESRCH when the process is gone, or another -errno. */
int proc_read_cmdline(const char *proc_root, pid_t pid, char **ret);
