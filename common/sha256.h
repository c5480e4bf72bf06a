/* SHA-256 (FIPS 180-4), small and dependency-free: the exporter's state digest. No crypto library is in
 * the dependency list and this is the only hash the suite needs, so it is written here once. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_SIZE 32
#define SHA256_HEX_SIZE    (SHA256_DIGEST_SIZE * 2 + 1)

typedef struct Sha256 {
        uint32_t h[8];
        uint64_t length; /* bytes hashed so far */
        uint8_t block[64];
        size_t n_block; /* bytes waiting in block */
} Sha256;

void sha256_init(Sha256 *s);
void sha256_update(Sha256 *s, const void *data, size_t len);
void sha256_final(Sha256 *s, uint8_t ret[SHA256_DIGEST_SIZE]);

/* Lower-case hex of a digest, NUL-terminated. */
void sha256_to_hex(const uint8_t digest[SHA256_DIGEST_SIZE], char ret[SHA256_HEX_SIZE]);
