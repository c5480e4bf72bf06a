/* Where the daemons' binaries are (see launcher.h).
 *
 * A developer runs procctl from the build tree (./run.sh runs build/ctl/procctl), where the daemons are
 * siblings of procctl's own directory: build/scanner/procsync-scanner, build/ctl/procsync-api. An installed
 * procctl finds them in the bindir and sbindir meson installed them into. /proc/self/exe names procctl's own
 * binary whatever $PATH or argv[0] say, so the build tree is found from any working directory. */
#include "launcher.h"

#include <stdio.h>
#include <sys/stat.h>

#ifndef PROCSYNC_BINDIR
#error "PROCSYNC_BINDIR must be defined by the build"
#endif
#ifndef PROCSYNC_SBINDIR
#error "PROCSYNC_SBINDIR must be defined by the build"
#endif

static bool is_executable(const char *path) {
        struct stat st;

        return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* The directory above the one of procctl's binary: "/src/build" for "/src/build/ctl/procctl". */
static int self_parent_dir(char **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 256;
        char *slash;

        for (;;) {
                ssize_t n;

                free(buf);
                buf = malloc(size);
                if (!buf)
                        return -ENOMEM;
                n = readlink("/proc/self/exe", buf, size);
                if (n < 0)
                        return negative_errno();
                if ((size_t) n < size) {
                        buf[n] = 0;
                        break;
                }
                if (size >= 64 * 1024)
                        return -ENAMETOOLONG;
                size *= 2;
        }
        for (int i = 0; i < 2; i++) {
                slash = strrchr(buf, '/');
                if (!slash || slash == buf)
                        return -EINVAL;
                *slash = 0;
        }
        *ret = TAKE_PTR(buf);
        return 0;
}

static void free_candidates(char *(*c)[3]) {
        for (size_t i = 0; i < ELEMENTSOF(*c); i++)
                free((*c)[i]);
}

int launcher_find_binary(const char *name, const char *subdir, const char *override_dir, char **ret_path,
                         char **ret_tried) {
        _cleanup_(free_candidates) char *candidates[3] = {};
        _cleanup_free_ char *self = NULL, *tried = NULL;
        size_t n = 0, tried_len = 0;
        FILE *f;

        if (override_dir) {
                if (asprintf(&candidates[n++], "%s/%s", override_dir, name) < 0 ||
                    asprintf(&candidates[n++], "%s/%s/%s", override_dir, subdir, name) < 0)
                        return -ENOMEM;
        } else {
                /* Without /proc/self/exe (no /proc mounted) only the install dirs remain. */
                if (self_parent_dir(&self) >= 0 &&
                    asprintf(&candidates[n++], "%s/%s/%s", self, subdir, name) < 0)
                        return -ENOMEM;
                if (asprintf(&candidates[n++], "%s/%s", PROCSYNC_BINDIR, name) < 0 ||
                    asprintf(&candidates[n++], "%s/%s", PROCSYNC_SBINDIR, name) < 0)
                        return -ENOMEM;
        }

        for (size_t i = 0; i < n; i++)
                if (is_executable(candidates[i])) {
                        *ret_path = TAKE_PTR(candidates[i]);
                        return 0;
                }

        f = open_memstream(&tried, &tried_len);
        if (!f)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                fprintf(f, "%s%s", i > 0 ? ", " : "", candidates[i]);
        if (fclose(f) != 0)
                return -ENOMEM;
        if (ret_tried)
                *ret_tried = TAKE_PTR(tried);
        return -ENOENT;
}
