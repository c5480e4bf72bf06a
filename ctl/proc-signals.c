/* See proc-signals.h. The status file is a list of "Name:\tvalue" lines whose set and order change between
 * kernels, so the parser looks for the five lines it needs by name and ignores the rest. */
#include "proc-signals.h"

#include <fcntl.h>
#include <stdio.h>

#include "macro.h"

/* The status file is a few KiB; a bigger one is not a status file. */
#define PROC_STATUS_MAX (64 * 1024)

static int parse_hex64(const char *s, const char *end, uint64_t *ret) {
        uint64_t v = 0;
        size_t n = 0;

        while (s < end && (*s == ' ' || *s == '\t'))
                s++;
        for (; s < end && *s != '\n'; s++, n++) {
                int d;

                if (*s >= '0' && *s <= '9')
                        d = *s - '0';
                else if (*s >= 'a' && *s <= 'f')
                        d = *s - 'a' + 10;
                else if (*s >= 'A' && *s <= 'F')
                        d = *s - 'A' + 10;
                else
                        return -EBADMSG;
                if (n >= 16)
                        return -EBADMSG;
                v = v << 4 | (uint64_t) d;
        }
        if (n == 0)
                return -EBADMSG;
        *ret = v;
        return 0;
}

int proc_signals_parse(const char *buf, size_t len, ProcSignals *ret) {
        static const struct {
                const char *name;
                size_t offset;
        } fields[] = {
                { "SigPnd:", offsetof(ProcSignals, pending) },
                { "ShdPnd:", offsetof(ProcSignals, shared_pending) },
                { "SigBlk:", offsetof(ProcSignals, blocked) },
                { "SigIgn:", offsetof(ProcSignals, ignored) },
                { "SigCgt:", offsetof(ProcSignals, caught) },
        };
        const char *end = buf + len;
        ProcSignals s = {};
        unsigned seen = 0;

        for (const char *line = buf; line < end;) {
                const char *eol = memchr(line, '\n', (size_t) (end - line)) ?: end;

                for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
                        size_t n = strlen(fields[i].name);
                        int r;

                        if ((size_t) (eol - line) < n || !strneq(line, fields[i].name, n))
                                continue;
                        r = parse_hex64(line + n, eol, (uint64_t *) ((char *) &s + fields[i].offset));
                        if (r < 0)
                                return r;
                        seen |= 1u << i;
                }
                line = eol < end ? eol + 1 : end;
        }
        if (seen != (1u << ELEMENTSOF(fields)) - 1)
                return -EBADMSG;
        *ret = s;
        return 0;
}

int proc_signals_read(const char *proc_root, pid_t pid, ProcSignals *ret) {
        _cleanup_free_ char *path = NULL, *buf = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t len = 0;

        if (asprintf(&path, "%s/%d/status", proc_root, (int) pid) < 0)
                return -ENOMEM;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return errno == ENOENT ? -ESRCH : negative_errno();
        buf = malloc(PROC_STATUS_MAX);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t n = read(fd, buf + len, PROC_STATUS_MAX - len);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return errno == ESRCH ? -ESRCH : negative_errno();
                }
                if (n == 0)
                        break;
                len += (size_t) n;
                if (len == PROC_STATUS_MAX)
                        return -EFBIG;
        }
        if (len == 0)
                return -ESRCH;
        return proc_signals_parse(buf, len, ret);
}
