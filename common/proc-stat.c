/* See proc-stat.h. The comm field is the only free-form part of the line, so the parser finds its end by
 * the last ')' and then splits the fixed numeric fields by spaces. */
#include "proc-stat.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>

#include "macro.h"
#include "parse-util.h"

int proc_stat_parse(const char *buf, size_t len, ProcStat *ret) {
        const char *open, *close = NULL, *p, *end = buf + len;
        ProcStat st = {};
        uint64_t v;
        size_t n;
        int field, r;

        open = memchr(buf, '(', len);
        if (!open)
                return -EBADMSG;
        for (p = open + 1; p < end; p++)
                if (*p == ')')
                        close = p;
        if (!close)
                return -EBADMSG;

        r = parse_u64_span(buf, open - (open > buf && open[-1] == ' ' ? 1 : 0), &v);
        if (r < 0 || v == 0 || v > INT32_MAX)
                return -EBADMSG;
        st.pid = (pid_t) v;

        n = (size_t) (close - open - 1);
        if (n >= sizeof(st.comm))
                n = sizeof(st.comm) - 1;
        memcpy(st.comm, open + 1, n);
        st.comm[n] = 0;

        /* Fields after the comm: 3 state, 4 ppid, ..., 9 flags, ..., 22 starttime. */
        p = close + 1;
        for (field = 3; field <= 22; field++) {
                const char *tok;

                while (p < end && *p == ' ')
                        p++;
                tok = p;
                while (p < end && *p != ' ' && *p != '\n')
                        p++;
                if (tok == p)
                        return -EBADMSG;
                if (field == 3)
                        st.state = *tok;
                else if (field == 4) {
                        r = parse_u64_span(tok, p, &v);
                        if (r < 0 || v > INT32_MAX)
                                return -EBADMSG;
                        st.ppid = (pid_t) v;
                } else if (field == 9) {
                        r = parse_u64_span(tok, p, &v);
                        if (r < 0 || v > UINT32_MAX)
                                return -EBADMSG;
                        st.flags = (uint32_t) v;
                } else if (field == 22) {
                        r = parse_u64_span(tok, p, &st.start_ticks);
                        if (r < 0)
                                return -EBADMSG;
                }
        }
        *ret = st;
        return 0;
}

int proc_stat_read(const char *proc_root, pid_t pid, ProcStat *ret) {
        char path[4096], buf[1024];
        _cleanup_close_ int fd = -EBADF;
        ssize_t n;

        if (pid == 0)
                snprintf(path, sizeof(path), "%s/self/stat", proc_root);
        else
                snprintf(path, sizeof(path), "%s/%d/stat", proc_root, (int) pid);
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return errno == ENOENT ? -ESRCH : negative_errno();
        n = read(fd, buf, sizeof(buf) - 1);
        if (n < 0)
                return errno == ESRCH ? -ESRCH : negative_errno();
        if (n == 0)
                return -ESRCH;
        return proc_stat_parse(buf, (size_t) n, ret);
}
