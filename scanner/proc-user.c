/* See proc-user.h.
 *
 * A process's root is identified by the device and inode of the directory <pid>/root points at, so every
 * process of one container (or of the host) shares one parsed passwd file per cycle; the fast path is one
 * fstatat() per process. The container's file is opened with openat2(RESOLVE_IN_ROOT) relative to its root:
 * a symlink planted at its /etc/passwd (say to /etc/shadow) resolves inside the container, never in ours,
 * which matters because the scanner reads it with privileges the container does not have. Only a regular
 * file is read, non-blocking and bounded. */
#include "proc-user.h"

#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <pwd.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "macro.h"
#include "proc-parse.h"
#include "proc-read.h"

typedef struct RootKey {
        dev_t dev;
        ino_t ino; /* 0/0: the root could not be opened */
} RootKey;

typedef struct RootPasswd {
        RootKey key;
        char *data; /* NULL: no readable /etc/passwd in that root */
        size_t len;
} RootPasswd;

typedef struct UserName {
        RootKey key;
        uid_t uid;
        char *name;
} UserName;

struct UserCache {
        RootPasswd *roots;
        size_t n_roots, allocated_roots;
        UserName *names;
        size_t n_names, allocated_names;
        ReadBuf buf;
        char *pwbuf; /* getpwuid_r scratch */
        size_t pwbuf_size;
        unsigned n_files;
};

int user_cache_new(UserCache **ret) {
        UserCache *c = calloc(1, sizeof(UserCache));

        if (!c)
                return -ENOMEM;
        *ret = c;
        return 0;
}

void user_cache_reset(UserCache *c) {
        for (size_t i = 0; i < c->n_roots; i++)
                free(c->roots[i].data);
        c->n_roots = 0;
        for (size_t i = 0; i < c->n_names; i++)
                free(c->names[i].name);
        c->n_names = 0;
        c->n_files = 0;
}

UserCache *user_cache_free(UserCache *c) {
        if (!c)
                return NULL;
        user_cache_reset(c);
        free(c->roots);
        free(c->names);
        free(c->pwbuf);
        read_buf_done(&c->buf);
        free(c);
        return NULL;
}

unsigned user_cache_n_files(const UserCache *c) {
        return c->n_files;
}

static bool key_eq(RootKey a, RootKey b) {
        return a.dev == b.dev && a.ino == b.ino;
}

static int grow(void **array, size_t *allocated, size_t n, size_t size) {
        size_t m;
        void *p;

        if (n < *allocated)
                return 0;
        m = *allocated ? *allocated * 2 : 16;
        p = reallocarray(*array, m, size);
        if (!p)
                return -ENOMEM;
        *array = p;
        *allocated = m;
        return 0;
}

static int openat2_in_root(int root_fd, const char *path) {
        struct open_how how = {
                .flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
                .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
        };
        long fd;

        fd = syscall(SYS_openat2, root_fd, path, &how, sizeof(how));
        return fd < 0 ? negative_errno() : (int) fd;
}

/* Reads <root>/etc/passwd into a new RootPasswd entry (data NULL when there is none we may read). */
static int load_root(UserCache *c, int root_fd, RootKey key, RootPasswd **ret) {
        _cleanup_close_ int fd = -EBADF;
        RootPasswd *e;
        struct stat st;
        ssize_t n;
        int r;

        r = grow((void **) &c->roots, &c->allocated_roots, c->n_roots, sizeof(RootPasswd));
        if (r < 0)
                return r;
        e = &c->roots[c->n_roots++];
        *e = (RootPasswd) { .key = key };
        *ret = e;

        fd = openat2_in_root(root_fd, "etc/passwd");
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                return 0;
        n = read_fd(fd, &c->buf, PASSWD_READ_MAX);
        if (n < 0)
                return n == -ENOMEM ? -ENOMEM : 0;
        e->data = malloc((size_t) n + 1);
        if (!e->data)
                return -ENOMEM;
        memcpy(e->data, c->buf.data, (size_t) n);
        e->len = (size_t) n;
        c->n_files++;
        return 0;
}

/* The host's NSS. Returns 1 and the name in c->pwbuf storage, 0 when unknown. */
static int nss_lookup(UserCache *c, uid_t uid, const char **ret_name) {
        struct passwd pw, *result;

        if (!c->pwbuf) {
                c->pwbuf_size = 16384;
                c->pwbuf = malloc(c->pwbuf_size);
                if (!c->pwbuf)
                        return -ENOMEM;
        }
        for (;;) {
                int r = getpwuid_r(uid, &pw, c->pwbuf, c->pwbuf_size, &result);
                char *p;

                if (r == 0) {
                        if (!result || isempty(result->pw_name))
                                return 0;
                        *ret_name = result->pw_name;
                        return 1;
                }
                if (r != ERANGE || c->pwbuf_size >= 1024 * 1024)
                        return 0;
                p = realloc(c->pwbuf, c->pwbuf_size * 2);
                if (!p)
                        return -ENOMEM;
                c->pwbuf = p;
                c->pwbuf_size *= 2;
        }
}

int user_cache_lookup(UserCache *c, int pid_fd, uid_t uid, const char **ret_name, bool *ret_denied) {
        RootKey key = {};
        RootPasswd *root = NULL;
        const char *name = NULL;
        size_t name_len = 0;
        char number[16];
        bool denied = false;
        struct stat st;
        UserName *e;
        int r;

        /* Fast path: the root's identity, then the cache. */
        if (fstatat(pid_fd, "root", &st, 0) >= 0)
                key = (RootKey) { st.st_dev, st.st_ino };
        else
                denied = errno == EACCES || errno == EPERM;

        for (size_t i = 0; i < c->n_names; i++)
                if (c->names[i].uid == uid && key_eq(c->names[i].key, key)) {
                        *ret_name = c->names[i].name;
                        *ret_denied = denied;
                        return 0;
                }

        if (key.ino != 0) {
                for (size_t i = 0; i < c->n_roots; i++)
                        if (key_eq(c->roots[i].key, key)) {
                                root = &c->roots[i];
                                break;
                        }
                if (!root) {
                        _cleanup_close_ int root_fd = -EBADF;

                        /* Key the file by the root we actually opened: the process may chroot meanwhile. */
                        root_fd = openat(pid_fd, "root", O_PATH | O_DIRECTORY | O_CLOEXEC);
                        if (root_fd >= 0 && fstat(root_fd, &st) >= 0 &&
                            key_eq(key, (RootKey) { st.st_dev, st.st_ino })) {
                                r = load_root(c, root_fd, key, &root);
                                if (r < 0)
                                        return r;
                        }
                }
                if (root && root->data)
                        (void) passwd_find_uid(root->data, root->len, uid, &name, &name_len);
        }
        if (!name) {
                r = nss_lookup(c, uid, &name);
                if (r < 0)
                        return r;
                if (r > 0)
                        name_len = strlen(name);
        }
        if (!name) {
                snprintf(number, sizeof(number), "%" PRIu32, (uint32_t) uid);
                name = number;
                name_len = strlen(number);
        }
        if (name_len > USER_NAME_MAX)
                name_len = USER_NAME_MAX;

        r = grow((void **) &c->names, &c->allocated_names, c->n_names, sizeof(UserName));
        if (r < 0)
                return r;
        e = &c->names[c->n_names];
        *e = (UserName) { .key = key, .uid = uid, .name = malloc(PROC_TEXT_REPAIRED_SIZE(name_len)) };
        if (!e->name)
                return -ENOMEM;
        (void) text_repair_utf8(name, name_len, e->name);
        c->n_names++;

        *ret_name = e->name;
        *ret_denied = denied;
        return 0;
}
