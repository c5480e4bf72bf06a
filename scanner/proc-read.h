/* Reading small kernel files relative to a directory fd into one reused, growing buffer: the process scan
 * reads thousands of /proc files per cycle and allocates for none of them once the buffer has grown. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

typedef struct ReadBuf {
        char *data;
        size_t size; /* allocated */
} ReadBuf;

void read_buf_done(ReadBuf *b);

/* Reads "name" relative to dir_fd until EOF (or a short read) or `max` bytes (the rest of a longer file is
 * ignored), with O_NONBLOCK so that a FIFO planted in a tree we read never blocks us. Returns the length
 * read, or -errno (-ENOENT/-ESRCH when a process is gone). b->data[len] is a NUL, for callers that want a
 * string. */
ssize_t read_at(int dir_fd, const char *name, ReadBuf *b, size_t max);

/* Same on an open fd (the caller opened it, e.g. with openat2()). Does not close it. */
ssize_t read_fd(int fd, ReadBuf *b, size_t max);
