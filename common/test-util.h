/* Helpers for the unit tests only (never linked into a daemon): temporary directories and whole-file
 * reads and writes. Header-only so each test binary carries what it uses. */
#pragma once

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>

#include "macro.h"

/* A fresh directory under $TMPDIR (or /tmp); the caller removes it with test_rm_rf() and frees it. */
static inline char *test_mkdtemp(void) {
        const char *tmp = getenv("TMPDIR");
        char *p = NULL;

        if (asprintf(&p, "%s/procsync-test-XXXXXX", isempty(tmp) ? "/tmp" : tmp) < 0)
                return NULL;
        if (!mkdtemp(p)) {
                free(p);
                return NULL;
        }
        return p;
}

static inline int test_rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        (void) st;
        (void) ftw;
        if (type == FTW_DP)
                return rmdir(path) < 0 ? -1 : 0;
        return unlink(path) < 0 ? -1 : 0;
}

static inline void test_rm_rf(const char *path) {
        if (path)
                (void) nftw(path, test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static inline int test_write_file(const char *path, const void *data, size_t len) {
        _cleanup_close_ int fd = -EBADF;
        const char *p = data;

        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return negative_errno();
        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0)
                        return negative_errno();
                p += n;
                len -= (size_t) n;
        }
        return 0;
}

/* Reads a whole (small) file; *ret is NUL-terminated for convenience. */
static inline int test_read_file(const char *path, char **ret, size_t *ret_len) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        size_t len = 0, size = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        for (;;) {
                ssize_t n;

                if (size - len < 4096) {
                        char *b = realloc(buf, size + 65536);
                        if (!b)
                                return -ENOMEM;
                        buf = b;
                        size += 65536;
                }
                n = read(fd, buf + len, size - len - 1);
                if (n < 0)
                        return negative_errno();
                if (n == 0)
                        break;
                len += (size_t) n;
        }
        if (!buf && !(buf = calloc(1, 1)))
                return -ENOMEM;
        buf[len] = 0;
        *ret = TAKE_PTR(buf);
        if (ret_len)
                *ret_len = len;
        return 0;
}

static inline bool test_path_exists(const char *path) {
        return access(path, F_OK) >= 0;
}
