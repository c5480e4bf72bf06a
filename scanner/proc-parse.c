/* Parsers of /proc/<pid>/{status,cgroup,cmdline}, /proc/stat's btime, namespace links and passwd(5) lines.
 *
 * Each takes a buffer and its length (the files are not NUL-terminated when read) and never allocates, so
 * the scan can run them on its reused read buffer. Everything a process controls (cmdline, comm, its
 * container's passwd) is treated as bytes: lengths are bounded by the caller, and text that goes to the
 * database is repaired to valid UTF-8 here. */
#include "proc-parse.h"

#include <errno.h>
#include <string.h>

#include "macro.h"
#include "parse-util.h"

/* Finds the line that starts with `key` and returns its remainder (up to, not including, the newline). */
static bool find_line(const char *buf, size_t len, const char *key, const char **ret_val,
                      const char **ret_end) {
        size_t klen = strlen(key);
        const char *p = buf, *end = buf + len;

        while (p < end) {
                const char *eol = memchr(p, '\n', (size_t) (end - p));

                if (!eol)
                        eol = end;
                if ((size_t) (eol - p) >= klen && memcmp(p, key, klen) == 0) {
                        *ret_val = p + klen;
                        *ret_end = eol;
                        return true;
                }
                p = eol + 1;
        }
        return false;
}

int proc_status_parse_uid(const char *buf, size_t len, uid_t *ret) {
        const char *p, *end, *tok;
        uint64_t v;

        if (!find_line(buf, len, "Uid:", &p, &end))
                return -EBADMSG;
        while (p < end && (*p == '\t' || *p == ' '))
                p++;
        tok = p;
        while (p < end && *p != '\t' && *p != ' ')
                p++;
        if (parse_u64_span(tok, p, &v) < 0 || v >= UINT32_MAX) /* (uid_t) -1 is not a uid */
                return -EBADMSG;
        *ret = (uid_t) v;
        return 0;
}

int proc_stat_parse_btime(const char *buf, size_t len, uint64_t *ret) {
        const char *p, *end;
        uint64_t v;

        if (!find_line(buf, len, "btime ", &p, &end))
                return -EBADMSG;
        if (parse_u64_span(p, end, &v) < 0)
                return -EBADMSG;
        *ret = v;
        return 0;
}

int proc_ns_link_parse(const char *buf, size_t len, const char *type, uint64_t *ret) {
        size_t tlen = strlen(type);
        uint64_t v;

        /* "<type>:[<inode>]" */
        if (len < tlen + 4 || memcmp(buf, type, tlen) != 0 || buf[tlen] != ':' || buf[tlen + 1] != '[' ||
            buf[len - 1] != ']')
                return -EBADMSG;
        if (parse_u64_span(buf + tlen + 2, buf + len - 1, &v) < 0 || v == 0)
                return -EBADMSG;
        *ret = v;
        return 0;
}

static int hexval(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* The last run of exactly 64 hex digits in [p, end), or NULL. A longer run is not an id (it is some other
 * hash), and neither is a part of one. */
static const char *find_last_id(const char *p, const char *end) {
        const char *found = NULL;

        while (p < end) {
                const char *run;

                if (hexval(*p) < 0) {
                        p++;
                        continue;
                }
                run = p;
                while (p < end && hexval(*p) >= 0)
                        p++;
                if (p - run == PROC_CONTAINER_ID_LEN)
                        found = run;
        }
        return found;
}

int proc_cgroup_container_id(const char *buf, size_t len, char *ret) {
        const char *p = buf, *end = buf + len;

        while (p < end) {
                const char *eol = memchr(p, '\n', (size_t) (end - p)), *path, *id;

                if (!eol)
                        eol = end;
                /* "hierarchy-ID:controller-list:cgroup-path": the path is after the second ':' (it may
                 * itself contain ':', as in "...:cri-containerd:<id>"). */
                path = memchr(p, ':', (size_t) (eol - p));
                if (path)
                        path = memchr(path + 1, ':', (size_t) (eol - path - 1));
                if (path) {
                        id = find_last_id(path + 1, eol);
                        if (id) {
                                for (size_t i = 0; i < PROC_CONTAINER_ID_LEN; i++)
                                        ret[i] = "0123456789abcdef"[hexval(id[i])];
                                ret[PROC_CONTAINER_ID_LEN] = 0;
                                return 1;
                        }
                }
                p = eol + 1;
        }
        ret[0] = 0;
        return 0;
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when the byte there does not start one. */
static size_t utf8_valid_len(const unsigned char *p, const unsigned char *end) {
        unsigned char c = p[0];
        size_t n, i;
        uint32_t cp;

        if (c >= 0x01 && c < 0x80)
                return 1;
        if (c >= 0xc2 && c <= 0xdf) {
                n = 2;
                cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
                n = 3;
                cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
                n = 4;
                cp = c & 0x07;
        } else
                return 0;
        if ((size_t) (end - p) < n)
                return 0;
        for (i = 1; i < n; i++) {
                if ((p[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (p[i] & 0x3f);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return n;
}

/* Copies with UTF-8 repair; a NUL byte becomes `nul_as`, or U+FFFD when that is 0. */
static size_t repair(const char *buf, size_t len, char nul_as, char *ret) {
        const unsigned char *p = (const unsigned char *) buf, *end = p + len;
        char *o = ret;

        while (p < end) {
                size_t n;

                if (*p == 0 && nul_as) {
                        *o++ = nul_as;
                        p++;
                        continue;
                }
                n = utf8_valid_len(p, end);
                if (n == 0) {
                        memcpy(o, "\xef\xbf\xbd", 3);
                        o += 3;
                        p++;
                        continue;
                }
                memcpy(o, p, n);
                o += n;
                p += n;
        }
        *o = 0;
        return (size_t) (o - ret);
}

size_t text_repair_utf8(const char *buf, size_t len, char *ret) {
        return repair(buf, len, 0, ret);
}

size_t proc_cmdline_join(const char *buf, size_t len, char *ret) {
        while (len > 0 && buf[len - 1] == 0)
                len--;
        return repair(buf, len, ' ', ret);
}

int passwd_find_uid(const char *buf, size_t len, uid_t uid, const char **ret_name, size_t *ret_len) {
        const char *p = buf, *end = buf + len;

        while (p < end) {
                const char *eol = memchr(p, '\n', (size_t) (end - p)), *f[4];
                uint64_t v;
                size_t nf = 0;

                if (!eol)
                        eol = end;
                /* f[0] name, f[1] password, f[2] uid, f[3] gid: each starts after a ':'. */
                f[0] = p;
                for (const char *q = p; q < eol && nf < 3; q++)
                        if (*q == ':')
                                f[++nf] = q + 1;
                if (nf == 3 && *p != '#' && *p != '+' && *p != '-' && f[1] - 1 > p &&
                    parse_u64_span(f[2], f[3] - 1, &v) >= 0 && v == uid) {
                        *ret_name = p;
                        *ret_len = (size_t) (f[1] - 1 - p);
                        return 1;
                }
                p = eol + 1;
        }
        return 0;
}
