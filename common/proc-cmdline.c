/* See proc-cmdline.h. The file is read in a loop: the kernel may hand a long argv over in several reads. */
#include "proc-cmdline.h"

#include <fcntl.h>
#include <stdio.h>

#include "macro.h"

size_t proc_cmdline_join_inplace(char *buf, size_t len) {
        while (len > 0 && buf[len - 1] == 0)
                len--;
        for (size_t i = 0; i < len; i++)
                if (buf[i] == 0)
                        buf[i] = ' ';
        buf[len] = 0;
        return len;
}

int proc_read_cmdline(const char *proc_root, pid_t pid, char **ret) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *path = NULL, *buf = NULL;
        size_t len = 0;
        int r;

        if (pid == 0)
                r = asprintf(&path, "%s/self/cmdline", proc_root);
        else
                r = asprintf(&path, "%s/%d/cmdline", proc_root, (int) pid);
        if (r < 0)
                return -ENOMEM;
        buf = malloc(PROC_CMDLINE_READ_MAX + 1);
        if (!buf)
                return -ENOMEM;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return errno == ENOENT ? -ESRCH : negative_errno();
        while (len < PROC_CMDLINE_READ_MAX) {
                ssize_t n = read(fd, buf + len, PROC_CMDLINE_READ_MAX - len);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return errno == ESRCH ? -ESRCH : negative_errno();
                }
                if (n == 0)
                        break;
                len += (size_t) n;
        }
        (void) proc_cmdline_join_inplace(buf, len);
        *ret = TAKE_PTR(buf);
        return 0;
}
