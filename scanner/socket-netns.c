/* Network namespace helpers of the socket scan (declared in socket-scan.h): the netns inode of a process,
 * read from the ns/net link text so that it works on the live /proc (where the link names an nsfs inode)
 * and on a copied or fake tree (where it is a dangling symlink "net:[N]"); and whether a proc root is the
 * live procfs, the one condition under which netlink and setns() may be used. */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "macro.h"
#include "socket-scan.h"

int socket_read_netns_inode(const char *proc_root, pid_t pid, uint64_t *ret) {
        _cleanup_free_ char *path = NULL;
        char link[64];
        uint64_t v = 0;
        ssize_t n;

        if (asprintf(&path, "%s/%d/ns/net", proc_root, (int) pid) < 0)
                return -ENOMEM;
        n = readlink(path, link, sizeof(link));
        if (n < 0)
                return negative_errno();
        if (n < 7 || n == (ssize_t) sizeof(link) || memcmp(link, "net:[", 5) != 0 || link[n - 1] != ']')
                return -EBADMSG;
        for (ssize_t i = 5; i < n - 1; i++) {
                if (link[i] < '0' || link[i] > '9' || v > (UINT64_MAX - 9) / 10)
                        return -EBADMSG;
                v = v * 10 + (uint64_t) (link[i] - '0');
        }
        if (v == 0)
                return -EBADMSG;
        *ret = v;
        return 0;
}

int socket_proc_root_is_live(const char *proc_root) {
        _cleanup_free_ char *path = NULL;
        char link[32], self[32];
        struct statfs sfs;
        ssize_t n;

        if (statfs(proc_root, &sfs) < 0)
                return negative_errno();
        if (sfs.f_type != PROC_SUPER_MAGIC)
                return 0;
        if (asprintf(&path, "%s/self", proc_root) < 0)
                return -ENOMEM;
        n = readlink(path, link, sizeof(link) - 1);
        if (n < 0)
                return errno == ENOENT ? 0 : negative_errno();
        link[n] = 0;
        snprintf(self, sizeof(self), "%d", (int) getpid());
        return streq(link, self);
}
