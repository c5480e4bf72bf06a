/* A hash map from socket inode to a small index (the socket's position in the scan's list): the owner
 * walk looks up every socket fd of every process in it. Open addressing, fixed capacity chosen at
 * creation (at least twice the number of keys), so a lookup is one multiply and a probe or two. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define INODE_MAP_NONE UINT32_MAX

typedef struct InodeMap {
        uint64_t *keys; /* 0 = empty slot (no socket has inode 0) */
        uint32_t *values;
        size_t mask;
        size_t n_keys;
} InodeMap;

/* Room for n keys. Returns 0 or -ENOMEM. */
int inode_map_init(InodeMap *m, size_t n);
void inode_map_done(InodeMap *m);

/* Returns 0 when added, -EEXIST (the value is left as is) when the key is there, -EINVAL for inode 0,
 * -ENOSPC beyond the room given to inode_map_init(). */
int inode_map_put(InodeMap *m, uint64_t inode, uint32_t value);

static inline uint32_t inode_map_get(const InodeMap *m, uint64_t inode) {
        /* Fibonacci hashing: socket inodes are mostly consecutive numbers. */
        size_t i = (size_t) ((inode * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & m->mask;

        for (; m->keys[i] != 0; i = (i + 1) & m->mask)
                if (m->keys[i] == inode)
                        return m->values[i];
        return INODE_MAP_NONE;
}
