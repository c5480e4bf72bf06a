/* Answers of procsync-api kept until the database changes.
 *
 * A document such as /v1/processes depends only on the rows, and the rows change when a daemon commits,
 * every few seconds at most; monitoring tools poll far more often. SQLite's `PRAGMA data_version` changes
 * exactly when another connection has committed, so the serialized answer of a cacheable route is kept
 * under (data_version, request target) and served again while the version is the same. The version is
 * read at the start of the request's read transaction, before its first SELECT, so a kept answer is never
 * older than its key (a commit in between makes it newer, and the next request sees a new version and
 * builds afresh). Bounded: API_CACHE_MAX_ENTRIES answers and API_CACHE_MAX_BYTES in all; everything is
 * dropped on a new version or a config reload. Documents that depend on the clock (status, healthz,
 * metrics) are not cacheable. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "api.h"

#define API_CACHE_MAX_ENTRIES 64
#define API_CACHE_MAX_BYTES   (32 * 1024 * 1024)

typedef struct ApiCache ApiCache;

ApiCache *api_cache_new(void);
ApiCache *api_cache_free(ApiCache *c);

/* Drops everything (config reload). */
void api_cache_clear(ApiCache *c);

/* A copy of the answer kept for `key` at `version` (dropping everything first when the version moved):
 * 1 and *ret filled, 0 when none, -ENOMEM. */
int api_cache_get(ApiCache *c, uint64_t version, const char *key, ApiAnswer *ret);

/* Keeps a copy of a 200 answer (others are not kept); silently does nothing when over the bounds. */
void api_cache_put(ApiCache *c, uint64_t version, const char *key, const ApiAnswer *a);
