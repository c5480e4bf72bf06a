/* The file sink: appends one JSON line (state-json.h, full document) per new version to `path`.
 *
 * The file is the receiver, and what it holds is its last complete line. At (re)open the sink reads the
 * version of that line, so that an exporter killed after the write but before it stored the
 * acknowledgement does not write the same version twice when it comes back; a torn last line (killed or
 * out of space in the middle of a write) is cut off, so the file stays valid JSON lines. A line is
 * written with as few write(2) calls as the kernel allows on an O_APPEND fd and then fsync'd before it is
 * acknowledged. The sink opens lazily (a missing directory is a retried error, not a start-up failure)
 * and closes on reopen (SIGHUP), so a rotated file is followed by a new one at the same path. The parent
 * directory is never created. */
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>

#include "sink.h"
#include "state-json.h"

#define TAIL_CHUNK (64 * 1024)

typedef struct FileSink {
        char *path;
        int fd;
        uint64_t last_written; /* version of the file's last complete line, 0 if none or unknown */
} FileSink;

static int set_error(char **ret_error, int r, const char *fmt, ...) _printf_(3, 4);
static int set_error(char **ret_error, int r, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        if (ret_error && msg && asprintf(ret_error, "%s: %s", msg, strerror(-r)) < 0)
                *ret_error = NULL;
        return r;
}

static int file_open(const ConfigSink *cfg, void **ret_impl, char **ret_error) {
        FileSink *f;

        if (isempty(cfg->path))
                return set_error(ret_error, -EINVAL, "file sink '%s' has no path", strempty(cfg->name));
        f = calloc(1, sizeof(FileSink));
        if (!f)
                return -ENOMEM;
        f->path = strdup(cfg->path);
        if (!f->path) {
                free(f);
                return -ENOMEM;
        }
        f->fd = -EBADF;
        *ret_impl = f;
        return 0;
}

static void file_close(void *impl) {
        FileSink *f = impl;

        if (!f)
                return;
        safe_close(f->fd);
        free(f->path);
        free(f);
}

static int pread_full(int fd, void *buf, size_t len, off_t off) {
        size_t done = 0;

        while (done < len) {
                ssize_t n = pread(fd, (char *) buf + done, len - done, off + (off_t) done);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return -EIO;
                done += (size_t) n;
        }
        return 0;
}

/* Offset just after the last '\n' at or before `end` (exclusive), or 0 when there is none. */
static int find_line_start(int fd, off_t end, off_t *ret) {
        _cleanup_free_ char *buf = malloc(TAIL_CHUNK);
        int r;

        if (!buf)
                return -ENOMEM;
        while (end > 0) {
                off_t start = end > TAIL_CHUNK ? end - TAIL_CHUNK : 0;
                size_t n = (size_t) (end - start);

                r = pread_full(fd, buf, n, start);
                if (r < 0)
                        return r;
                for (size_t i = n; i > 0; i--)
                        if (buf[i - 1] == '\n') {
                                *ret = start + (off_t) i;
                                return 0;
                        }
                end = start;
        }
        *ret = 0;
        return 0;
}

/* The version of the line at `off`, which our serializer starts with {"version":N, — 0 otherwise. */
static uint64_t line_version(int fd, off_t off, off_t size) {
        static const char prefix[] = "{\"version\":";
        char buf[64] = {};
        size_t n = (size_t) (size - off < (off_t) sizeof(buf) - 1 ? size - off : (off_t) sizeof(buf) - 1);
        uint64_t v = 0;
        const char *p;

        if (pread_full(fd, buf, n, off) < 0 || !strneq(buf, prefix, strlen(prefix)))
                return 0;
        for (p = buf + strlen(prefix); *p >= '0' && *p <= '9'; p++) {
                if (v > (UINT64_MAX - (uint64_t) (*p - '0')) / 10)
                        return 0;
                v = v * 10 + (uint64_t) (*p - '0');
        }
        return *p == ',' || *p == '}' ? v : 0;
}

/* Cuts a torn last line and reads the version of the last complete one. */
static int file_inspect(FileSink *f, char **ret_error) {
        struct stat st;
        off_t start;
        char last;
        int r;

        if (fstat(f->fd, &st) < 0)
                return set_error(ret_error, -errno, "cannot stat '%s'", f->path);
        if (!S_ISREG(st.st_mode))
                return set_error(ret_error, -EINVAL, "'%s' is not a regular file", f->path);
        f->last_written = 0;
        if (st.st_size == 0)
                return 0;

        r = pread_full(f->fd, &last, 1, st.st_size - 1);
        if (r < 0)
                return set_error(ret_error, r, "cannot read '%s'", f->path);
        if (last != '\n') {
                r = find_line_start(f->fd, st.st_size, &start);
                if (r < 0)
                        return set_error(ret_error, r, "cannot read '%s'", f->path);
                if (ftruncate(f->fd, start) < 0)
                        return set_error(ret_error, -errno, "cannot cut the torn last line of '%s'",
                                         f->path);
                st.st_size = start;
                if (st.st_size == 0)
                        return 0;
        }
        r = find_line_start(f->fd, st.st_size - 1, &start);
        if (r < 0)
                return set_error(ret_error, r, "cannot read '%s'", f->path);
        f->last_written = line_version(f->fd, start, st.st_size);
        return 0;
}

static int fsync_parent(const char *path) {
        _cleanup_free_ char *copy = strdup(path);
        _cleanup_close_ int fd = -EBADF;

        if (!copy)
                return -ENOMEM;
        fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        return fsync(fd) < 0 ? -errno : 0;
}

static int file_ensure_open(FileSink *f, char **ret_error) {
        _cleanup_close_ int fd = -EBADF;
        bool created = false;
        int r;

        if (f->fd >= 0)
                return 0;
        fd = open(f->path, O_RDWR | O_APPEND | O_CLOEXEC | O_NOCTTY);
        if (fd < 0 && errno == ENOENT) {
                fd = open(f->path, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0640);
                created = fd >= 0;
        }
        if (fd < 0)
                return set_error(ret_error, -errno, "cannot open '%s'", f->path);
        /* A new file's directory entry must be durable too, or a crash could lose a line we acknowledged. */
        if (created) {
                r = fsync_parent(f->path);
                if (r < 0)
                        return set_error(ret_error, r, "cannot sync the directory of '%s'", f->path);
        }
        f->fd = TAKE_FD(fd);
        r = file_inspect(f, ret_error);
        if (r < 0)
                f->fd = safe_close(f->fd);
        return r;
}

static int write_all(int fd, const char *p, size_t len) {
        while (len > 0) {
                ssize_t n = write(fd, p, len);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                len -= (size_t) n;
        }
        return 0;
}

static int file_push(void *impl, const SyncState *st, uint64_t acked_version, uint64_t *ret_acked_version,
                     char **ret_error) {
        FileSink *f = impl;
        _cleanup_free_ char *doc = NULL;
        struct stat sb;
        size_t len;
        int r;

        if (st->version == acked_version) {
                *ret_acked_version = st->version;
                return 0;
        }
        r = file_ensure_open(f, ret_error);
        if (r < 0)
                return r;
        if (st->version == f->last_written) {
                *ret_acked_version = st->version;
                return 0;
        }

        r = state_json_dump(st, true, &doc, &len);
        if (r < 0)
                return set_error(ret_error, r, "cannot serialize version %" PRIu64, st->version);
        doc[len] = '\n';

        if (fstat(f->fd, &sb) < 0)
                return set_error(ret_error, -errno, "cannot stat '%s'", f->path);
        r = write_all(f->fd, doc, len + 1);
        if (r >= 0 && fsync(f->fd) < 0)
                r = -errno;
        if (r < 0) {
                /* Take back what part of the line made it, so the file never ends in a torn line. */
                (void) ftruncate(f->fd, sb.st_size);
                f->fd = safe_close(f->fd);
                return set_error(ret_error, r, "cannot write to '%s'", f->path);
        }
        f->last_written = st->version;
        *ret_acked_version = st->version;
        return 0;
}

static int file_reopen(void *impl) {
        FileSink *f = impl;

        f->fd = safe_close(f->fd);
        f->last_written = 0;
        return 0;
}

const SinkOps sink_file_ops = {
        .type = SINK_FILE,
        .open = file_open,
        .close = file_close,
        .push = file_push,
        .reopen = file_reopen,
};
