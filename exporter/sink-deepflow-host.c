/* The host facts of the deepflow sink, from getifaddrs(3): one walk gives the IPv4/IPv6 addresses
 * (AF_INET/AF_INET6 entries) and the link-layer addresses (AF_PACKET entries, sll_addr) of every interface,
 * matched up by interface name.
 *
 * The agent's control address is the local end of a route to the controller: connect() on a UDP socket
 * picks the source address without sending a packet, getsockname() reads it. Its MAC is the one of the
 * interface holding that address (00:00:00:00:00:00 for loopback, which is what a test on one host gets). */

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netpacket/packet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "macro.h"
#include "sink-deepflow-host.h"

/* A host has at most this many interfaces we report (containers hosts can have thousands of veths; the
 * controller needs the ones that carry the agent's addresses, which are never that far down the list). */
#define DEEPFLOW_MAX_INTERFACES        4096
#define DEEPFLOW_MAX_IPS_PER_INTERFACE 256

static void freeifaddrsp(struct ifaddrs **p) {
        if (*p)
                freeifaddrs(*p);
}

void deepflow_interfaces_free(DeepflowInterface *ifs, size_t n) {
        if (!ifs)
                return;
        for (size_t i = 0; i < n; i++) {
                free(ifs[i].name);
                strv_free(ifs[i].ips);
        }
        free(ifs);
}

static uint64_t mac_to_u64(const unsigned char *a, size_t len) {
        uint64_t v = 0;

        if (len != 6)
                return 0;
        for (size_t i = 0; i < 6; i++)
                v = (v << 8) | a[i];
        return v;
}

static unsigned prefix_len(const struct sockaddr *mask) {
        const unsigned char *b;
        unsigned n = 0;
        size_t len;

        if (!mask)
                return 0;
        if (mask->sa_family == AF_INET) {
                b = (const unsigned char *) &((const struct sockaddr_in *) mask)->sin_addr;
                len = 4;
        } else if (mask->sa_family == AF_INET6) {
                b = (const unsigned char *) &((const struct sockaddr_in6 *) mask)->sin6_addr;
                len = 16;
        } else
                return 0;
        for (size_t i = 0; i < len; i++)
                n += (unsigned) __builtin_popcount(b[i]);
        return n;
}

static int sockaddr_to_string(const struct sockaddr *sa, char *buf, size_t size) {
        const void *a;

        if (sa->sa_family == AF_INET)
                a = &((const struct sockaddr_in *) sa)->sin_addr;
        else if (sa->sa_family == AF_INET6)
                a = &((const struct sockaddr_in6 *) sa)->sin6_addr;
        else
                return -EAFNOSUPPORT;
        if (!inet_ntop(sa->sa_family, a, buf, size))
                return negative_errno();
        return 0;
}

static DeepflowInterface *interface_find(DeepflowInterface *ifs, size_t n, const char *name) {
        for (size_t i = 0; i < n; i++)
                if (streq(ifs[i].name, name))
                        return &ifs[i];
        return NULL;
}

static int interface_cmp(const void *a, const void *b) {
        return strcmp(((const DeepflowInterface *) a)->name, ((const DeepflowInterface *) b)->name);
}

static int interface_add_ip(DeepflowInterface *d, const struct ifaddrs *ifa) {
        char addr[INET6_ADDRSTRLEN], *s;
        char **l;
        int r;

        if (d->n_ips >= DEEPFLOW_MAX_IPS_PER_INTERFACE)
                return 0;
        r = sockaddr_to_string(ifa->ifa_addr, addr, sizeof(addr));
        if (r < 0)
                return r;
        if (asprintf(&s, "%s/%u", addr, prefix_len(ifa->ifa_netmask)) < 0)
                return -ENOMEM;
        l = reallocarray(d->ips, d->n_ips + 2, sizeof(char *));
        if (!l) {
                free(s);
                return -ENOMEM;
        }
        d->ips = l;
        d->ips[d->n_ips++] = s;
        d->ips[d->n_ips] = NULL;
        return 0;
}

int deepflow_host_interfaces(DeepflowInterface **ret, size_t *ret_n) {
        _cleanup_(freeifaddrsp) struct ifaddrs *list = NULL;
        DeepflowInterface *ifs = NULL;
        size_t n = 0;
        int r;

        if (getifaddrs(&list) < 0)
                return negative_errno();

        for (struct ifaddrs *ifa = list; ifa; ifa = ifa->ifa_next) {
                DeepflowInterface *d;
                int family;

                if (!ifa->ifa_name || !ifa->ifa_addr || (ifa->ifa_flags & IFF_LOOPBACK))
                        continue;
                family = ifa->ifa_addr->sa_family;
                if (family != AF_INET && family != AF_INET6 && family != AF_PACKET)
                        continue;

                d = interface_find(ifs, n, ifa->ifa_name);
                if (!d) {
                        DeepflowInterface *l;

                        if (n >= DEEPFLOW_MAX_INTERFACES)
                                continue;
                        l = reallocarray(ifs, n + 1, sizeof(DeepflowInterface));
                        if (!l) {
                                r = -ENOMEM;
                                goto fail;
                        }
                        ifs = l;
                        d = &ifs[n];
                        *d = (DeepflowInterface){};
                        d->name = strdup(ifa->ifa_name);
                        if (!d->name) {
                                r = -ENOMEM;
                                goto fail;
                        }
                        n++;
                }

                if (family == AF_PACKET) {
                        const struct sockaddr_ll *ll = (const struct sockaddr_ll *) ifa->ifa_addr;
                        d->mac = mac_to_u64(ll->sll_addr, ll->sll_halen);
                } else {
                        r = interface_add_ip(d, ifa);
                        if (r < 0)
                                goto fail;
                }
        }

        if (n > 0)
                qsort(ifs, n, sizeof(DeepflowInterface), interface_cmp);
        *ret = ifs;
        *ret_n = n;
        return 0;

fail:
        deepflow_interfaces_free(ifs, n);
        return r;
}

int deepflow_host_route_source(const char *host, uint16_t port, char **ret_ip) {
        struct addrinfo hints = {.ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICSERV};
        struct addrinfo *ai = NULL;
        struct sockaddr_storage local;
        socklen_t len = sizeof(local);
        _cleanup_close_ int fd = -EBADF;
        char portstr[8], buf[INET6_ADDRSTRLEN];
        char *s;
        int r;

        snprintf(portstr, sizeof(portstr), "%u", port);
        r = getaddrinfo(host, portstr, &hints, &ai);
        if (r != 0)
                return r == EAI_SYSTEM ? negative_errno() : (r == EAI_MEMORY ? -ENOMEM : -EHOSTUNREACH);

        fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                r = negative_errno();
                freeaddrinfo(ai);
                return r;
        }
        r = connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 ? negative_errno() : 0;
        freeaddrinfo(ai);
        if (r < 0)
                return r;
        if (getsockname(fd, (struct sockaddr *) &local, &len) < 0)
                return negative_errno();

        r = sockaddr_to_string((const struct sockaddr *) &local, buf, sizeof(buf));
        if (r < 0)
                return r;
        s = strdup(buf);
        if (!s)
                return -ENOMEM;
        *ret_ip = s;
        return 0;
}

static bool sockaddr_equal_ip(const struct sockaddr *sa, int family, const void *ip) {
        if (sa->sa_family != family)
                return false;
        if (family == AF_INET)
                return memcmp(&((const struct sockaddr_in *) sa)->sin_addr, ip, 4) == 0;
        return memcmp(&((const struct sockaddr_in6 *) sa)->sin6_addr, ip, 16) == 0;
}

static int mac_format(const unsigned char *a, size_t len, char **ret) {
        static const unsigned char zero[6] = {};
        char *s;

        if (len != 6)
                a = zero;
        if (asprintf(&s, "%02x:%02x:%02x:%02x:%02x:%02x", a[0], a[1], a[2], a[3], a[4], a[5]) < 0)
                return -ENOMEM;
        *ret = s;
        return 0;
}

int deepflow_host_mac_of(const char *ip, char **ret_mac) {
        _cleanup_(freeifaddrsp) struct ifaddrs *list = NULL;
        unsigned char addr[16];
        const char *ifname = NULL;
        int family;

        if (inet_pton(AF_INET, ip, addr) == 1)
                family = AF_INET;
        else if (inet_pton(AF_INET6, ip, addr) == 1)
                family = AF_INET6;
        else
                return -EINVAL;

        if (getifaddrs(&list) < 0)
                return negative_errno();

        for (struct ifaddrs *ifa = list; ifa; ifa = ifa->ifa_next)
                if (ifa->ifa_name && ifa->ifa_addr && sockaddr_equal_ip(ifa->ifa_addr, family, addr)) {
                        ifname = ifa->ifa_name;
                        break;
                }
        if (!ifname)
                return -EADDRNOTAVAIL;

        for (struct ifaddrs *ifa = list; ifa; ifa = ifa->ifa_next)
                if (ifa->ifa_name && ifa->ifa_addr && ifa->ifa_addr->sa_family == AF_PACKET &&
                    streq(ifa->ifa_name, ifname)) {
                        const struct sockaddr_ll *ll = (const struct sockaddr_ll *) ifa->ifa_addr;
                        return mac_format(ll->sll_addr, ll->sll_halen, ret_mac);
                }

        /* No link layer (a tun device, or a netns without AF_PACKET entries): no MAC. */
        return mac_format(NULL, 0, ret_mac);
}

static int hex_digit(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -EINVAL;
}

int deepflow_mac_normalize(const char *s, char **ret) {
        unsigned char a[6];

        if (!s || strlen(s) != 17)
                return -EINVAL;
        for (size_t i = 0; i < 6; i++) {
                int hi = hex_digit(s[i * 3]), lo = hex_digit(s[i * 3 + 1]);

                if (hi < 0 || lo < 0 || (i < 5 && s[i * 3 + 2] != ':'))
                        return -EINVAL;
                a[i] = (unsigned char) (hi << 4 | lo);
        }
        return mac_format(a, 6, ret);
}
