/* See proc-read.h. One open, reads until EOF or a short read, one close. */
#include "proc-read.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "macro.h"

void read_buf_done(ReadBuf *b) {
        free(b->data);
        b->data = NULL;
        b->size = 0;
}

static int read_buf_reserve(ReadBuf *b, size_t want) {
        size_t n;
        char *p;

        if (b->size >= want)
                return 0;
        n = b->size ? b->size : 4096;
        while (n < want)
                n *= 2;
        p = realloc(b->data, n);
        if (!p)
                return -ENOMEM;
        b->data = p;
        b->size = n;
        return 0;
}

ssize_t read_fd(int fd, ReadBuf *b, size_t max) {
        size_t len = 0;
        int r;

        /* Room for the first 4 KiB and the terminating NUL; grow only when a file is bigger. */
        r = read_buf_reserve(b, (max < 4096 ? max : 4096) + 1);
        if (r < 0)
                return r;
        for (;;) {
                ssize_t n;

                if (len == max)
                        break;
                if (len + 1 >= b->size) {
                        r = read_buf_reserve(b, (b->size * 2 < max + 1) ? b->size * 2 : max + 1);
                        if (r < 0)
                                return r;
                }
                n = read(fd, b->data + len,
                         (b->size - 1 - len) < (max - len) ? b->size - 1 - len : max - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (n == 0)
                        break;
                len += (size_t) n;
                /* A short read is the end: procfs hands out a whole seq_file or cmdline in one read when the
                 * buffer is big enough, and so do regular files. This saves the second read(2) that would
                 * return 0, on each of the thousands of files a cycle reads. */
                if (len + 1 < b->size && len < max)
                        break;
        }
        b->data[len] = 0;
        return (ssize_t) len;
}

ssize_t read_at(int dir_fd, const char *name, ReadBuf *b, size_t max) {
        _cleanup_close_ int fd = -EBADF;

        fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return negative_errno();
        return read_fd(fd, b, max);
}
