/* See socket-inode-map.h. Linear probing in a power-of-two table at most half full. */
#include "socket-inode-map.h"

#include <errno.h>
#include <stdlib.h>

#include "macro.h"

int inode_map_init(InodeMap *m, size_t n) {
        size_t size = 16;

        while (size < n * 2) {
                if (size > SIZE_MAX / 4)
                        return -ENOMEM;
                size *= 2;
        }
        *m = (InodeMap){
                .keys = calloc(size, sizeof(uint64_t)),
                .values = calloc(size, sizeof(uint32_t)),
                .mask = size - 1,
        };
        if (!m->keys || !m->values) {
                inode_map_done(m);
                return -ENOMEM;
        }
        return 0;
}

void inode_map_done(InodeMap *m) {
        free(m->keys);
        free(m->values);
        *m = (InodeMap){};
}

int inode_map_put(InodeMap *m, uint64_t inode, uint32_t value) {
        size_t i = (size_t) ((inode * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & m->mask;

        if (inode == 0)
                return -EINVAL;
        for (; m->keys[i] != 0; i = (i + 1) & m->mask)
                if (m->keys[i] == inode)
                        return -EEXIST;
        if ((m->n_keys + 1) * 2 > m->mask + 1)
                return -ENOSPC;
        m->n_keys++;
        m->keys[i] = inode;
        m->values[i] = value;
        return 0;
}
