/* See api-listen.h. */
#include "api-listen.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>

#include "macro.h"

#define API_LISTEN_BACKLOG 4096

bool api_fd_name_ok(const char *name) {
        return streq(name, "api") || strneq(name, "api-", 4) || streq(name, "procsync-api.socket") ||
               streq(name, "unknown");
}

void api_listeners_done(ApiListeners *l) {
        for (size_t i = 0; i < l->n; i++) {
                safe_close(l->items[i].fd);
                if (l->items[i].unix_path)
                        (void) unlink(l->items[i].unix_path);
                free(l->items[i].description);
                free(l->items[i].unix_path);
        }
        free(l->items);
        *l = (ApiListeners){};
}

static int append(ApiListeners *l, int fd, char *description, char *unix_path) {
        ApiListener *m = reallocarray(l->items, l->n + 1, sizeof(ApiListener));

        if (!m)
                return -ENOMEM;
        l->items = m;
        l->items[l->n++] = (ApiListener){.fd = fd, .description = description, .unix_path = unix_path};
        return 0;
}

typedef struct Spec {
        int family; /* AF_INET, AF_INET6, AF_UNIX */
        union {
                struct sockaddr sa;
                struct sockaddr_in in;
                struct sockaddr_in6 in6;
                struct sockaddr_un un;
        } addr;
        socklen_t len;
} Spec;

static int parse_port(const char *s, uint16_t *ret) {
        unsigned v = 0;

        if (!*s || strlen(s) > 5)
                return -EINVAL;
        for (; *s; s++) {
                if (*s < '0' || *s > '9')
                        return -EINVAL;
                v = v * 10 + (unsigned) (*s - '0');
        }
        if (v > 65535)
                return -EINVAL;
        *ret = (uint16_t) v;
        return 0;
}

static int parse_spec(const char *spec, Spec *ret) {
        Spec s = {};
        char host[INET6_ADDRSTRLEN + 1];
        const char *port;
        uint16_t p;
        size_t len;

        if (strneq(spec, "unix:", 5)) {
                const char *path = spec + 5;

                if (path[0] != '/' || strlen(path) >= sizeof(s.addr.un.sun_path))
                        return -EINVAL;
                s.family = AF_UNIX;
                s.addr.un.sun_family = AF_UNIX;
                strcpy(s.addr.un.sun_path, path);
                s.len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
                *ret = s;
                return 0;
        }
        if (spec[0] == '[') {
                const char *close = strchr(spec, ']');

                if (!close || close[1] != ':')
                        return -EINVAL;
                len = (size_t) (close - spec - 1);
                port = close + 2;
                s.family = AF_INET6;
                if (len == 0 || len >= sizeof(host))
                        return -EINVAL;
                memcpy(host, spec + 1, len);
        } else {
                const char *colon = strrchr(spec, ':');

                if (!colon)
                        return -EINVAL;
                len = (size_t) (colon - spec);
                port = colon + 1;
                s.family = AF_INET;
                if (len == 0 || len >= sizeof(host))
                        return -EINVAL;
                memcpy(host, spec, len);
        }
        host[len] = 0;
        if (parse_port(port, &p) < 0)
                return -EINVAL;
        if (s.family == AF_INET) {
                s.addr.in.sin_family = AF_INET;
                s.addr.in.sin_port = htons(p);
                if (inet_pton(AF_INET, host, &s.addr.in.sin_addr) != 1)
                        return -EINVAL;
                s.len = sizeof(s.addr.in);
        } else {
                s.addr.in6.sin6_family = AF_INET6;
                s.addr.in6.sin6_port = htons(p);
                if (inet_pton(AF_INET6, host, &s.addr.in6.sin6_addr) != 1)
                        return -EINVAL;
                s.len = sizeof(s.addr.in6);
        }
        *ret = s;
        return 0;
}

int api_listen_spec_check(const char *spec) {
        Spec s;
        return parse_spec(spec, &s);
}

/* A socket file nobody accepts on is left over from a run that did not clean up: remove it. One that
 * accepts belongs to a running instance; anything that is not a socket is not ours to delete. */
static int remove_stale_socket(const Spec *s, char **ret_error) {
        _cleanup_close_ int fd = -EBADF;
        const char *path = s->addr.un.sun_path;
        struct stat st;

        if (lstat(path, &st) < 0) {
                if (errno == ENOENT)
                        return 0;
                (void) asprintf(ret_error, "cannot stat '%s': %m", path);
                return negative_errno();
        }
        if (!S_ISSOCK(st.st_mode)) {
                (void) asprintf(ret_error, "'%s' exists and is not a socket; not removing it", path);
                return -EEXIST;
        }
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return negative_errno();
        if (connect(fd, &s->addr.sa, s->len) >= 0) {
                (void) asprintf(ret_error, "'%s' is in use by a running process", path);
                return -EADDRINUSE;
        }
        if (errno != ECONNREFUSED) {
                int r = negative_errno();
                (void) asprintf(ret_error, "cannot check whether '%s' is in use: %s", path, strerror(-r));
                return r;
        }
        if (unlink(path) < 0 && errno != ENOENT) {
                int r = negative_errno();
                (void) asprintf(ret_error, "cannot remove the stale socket '%s': %s", path, strerror(-r));
                return r;
        }
        return 0;
}

int api_listeners_open(ApiListeners *l, const char *spec, char **ret_error) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *description = NULL, *unix_path = NULL;
        Spec s;
        int r;

        if (parse_spec(spec, &s) < 0) {
                (void) asprintf(ret_error, "'%s' is not HOST:PORT, [V6]:PORT or unix:PATH", spec);
                return -EINVAL;
        }
        if (s.family == AF_UNIX) {
                r = remove_stale_socket(&s, ret_error);
                if (r < 0)
                        return r;
        }

        fd = socket(s.family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
                r = negative_errno();
                (void) asprintf(ret_error, "cannot create a socket for '%s': %s", spec, strerror(-r));
                return r;
        }
        if (s.family != AF_UNIX)
                (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &(int){1}, sizeof(int));
        if (s.family == AF_INET6)
                (void) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &(int){1}, sizeof(int));

        if (s.family == AF_UNIX) {
                /* The umask makes the file 0660 from its creation; chmod() below is for a umask that was
                 * stricter still (bind() only ever narrows). */
                mode_t old = umask(0117);
                r = bind(fd, &s.addr.sa, s.len) < 0 ? negative_errno() : 0;
                (void) umask(old);
                if (r == 0 && chmod(s.addr.un.sun_path, 0660) < 0)
                        r = negative_errno();
                if (r == 0 && !(unix_path = strdup(s.addr.un.sun_path)))
                        r = -ENOMEM;
        } else
                r = bind(fd, &s.addr.sa, s.len) < 0 ? negative_errno() : 0;
        if (r == 0 && listen(fd, API_LISTEN_BACKLOG) < 0)
                r = negative_errno();
        if (r < 0) {
                if (s.family == AF_UNIX && r != -EADDRINUSE)
                        (void) unlink(s.addr.un.sun_path);
                (void) asprintf(ret_error, "cannot listen on '%s': %s", spec, strerror(-r));
                return r;
        }

        description = strdup(spec);
        if (!description)
                return -ENOMEM;
        r = append(l, fd, description, unix_path);
        if (r < 0)
                return r;
        TAKE_FD(fd);
        TAKE_PTR(description);
        TAKE_PTR(unix_path);
        return 0;
}

int api_listeners_from_systemd(ApiListeners *l, char **ret_ignored) {
        _cleanup_strv_free_ char **names = NULL;
        _cleanup_free_ char *ignored = NULL;
        int n, taken = 0, r = 0;

        n = sd_listen_fds_with_names(1, &names);
        if (n <= 0) {
                *ret_ignored = NULL;
                return n;
        }
        for (int i = 0; i < n; i++) {
                int fd = SD_LISTEN_FDS_START + i;
                const char *name = names && names[i] ? names[i] : "unknown";
                char *description = NULL;

                if (r < 0 || !api_fd_name_ok(name) || sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0) {
                        char *s = NULL;

                        if (r == 0 && asprintf(&s, "%s%sfd %d named '%s'", strempty(ignored),
                                               ignored ? "; " : "", fd, name) >= 0) {
                                free(ignored);
                                ignored = s;
                        }
                        safe_close(fd);
                        continue;
                }
                if (asprintf(&description, "systemd:%s", name) < 0 ||
                    (r = append(l, fd, description, NULL)) < 0) {
                        free(description);
                        safe_close(fd);
                        r = -ENOMEM;
                        continue;
                }
                taken++;
        }
        if (r < 0)
                return r;
        *ret_ignored = TAKE_PTR(ignored);
        return taken;
}
