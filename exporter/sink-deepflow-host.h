/* What the deepflow sink tells the controller about this host: the agent's control address and MAC (how
 * the controller identifies the agent) and the network interfaces (GenesisPlatformData.interfaces). */
#pragma once

#include <stddef.h>
#include <stdint.h>

typedef struct DeepflowInterface {
        char *name;
        uint64_t mac; /* the 6 bytes as a 48-bit number: 00:11:22:33:44:55 = 0x001122334455; 0 if none */
        char **ips;   /* NULL-terminated "address/prefixlen", IPv4 then IPv6 in getifaddrs order */
        size_t n_ips;
} DeepflowInterface;

void deepflow_interfaces_free(DeepflowInterface *ifs, size_t n);

/* Every interface but loopback ones, sorted by name. */
int deepflow_host_interfaces(DeepflowInterface **ret, size_t *ret_n);

/* The source address this host uses to reach host:port (a UDP connect(), which sends nothing, asks the
 * kernel's routing) as text. */
int deepflow_host_route_source(const char *host, uint16_t port, char **ret_ip);

/* The MAC ("aa:bb:cc:dd:ee:ff", lowercase) of the interface holding address `ip`; loopback and interfaces
 * without a hardware address give 00:00:00:00:00:00. -EADDRNOTAVAIL when no interface holds `ip`. */
int deepflow_host_mac_of(const char *ip, char **ret_mac);

/* "aa:bb:cc:dd:ee:ff" (any case) to lowercase; -EINVAL when not a MAC. */
int deepflow_mac_normalize(const char *s, char **ret);
