/* See api-cache.h. A small array searched linearly: at most API_CACHE_MAX_ENTRIES keys. */
#include "api-cache.h"

typedef struct Entry {
        char *key;
        ApiAnswer answer;
} Entry;

struct ApiCache {
        uint64_t version;
        Entry entries[API_CACHE_MAX_ENTRIES];
        size_t n;
        size_t bytes;
};

ApiCache *api_cache_new(void) {
        return calloc(1, sizeof(ApiCache));
}

void api_cache_clear(ApiCache *c) {
        for (size_t i = 0; i < c->n; i++) {
                free(c->entries[i].key);
                api_answer_done(&c->entries[i].answer);
        }
        c->n = 0;
        c->bytes = 0;
}

ApiCache *api_cache_free(ApiCache *c) {
        if (!c)
                return NULL;
        api_cache_clear(c);
        free(c);
        return NULL;
}

static int answer_copy(const ApiAnswer *a, ApiAnswer *ret) {
        char *body = NULL;

        if (a->body) {
                body = malloc(a->len + 1);
                if (!body)
                        return -ENOMEM;
                memcpy(body, a->body, a->len);
                body[a->len] = 0;
        }
        *ret = *a;
        ret->body = body;
        return 0;
}

int api_cache_get(ApiCache *c, uint64_t version, const char *key, ApiAnswer *ret) {
        if (version != c->version) {
                api_cache_clear(c);
                c->version = version;
                return 0;
        }
        for (size_t i = 0; i < c->n; i++)
                if (streq(c->entries[i].key, key))
                        return answer_copy(&c->entries[i].answer, ret) < 0 ? -ENOMEM : 1;
        return 0;
}

void api_cache_put(ApiCache *c, uint64_t version, const char *key, const ApiAnswer *a) {
        Entry e = {};

        if (version != c->version) {
                api_cache_clear(c);
                c->version = version;
        }
        if (a->status != 200 || c->n >= API_CACHE_MAX_ENTRIES || c->bytes + a->len > API_CACHE_MAX_BYTES)
                return;
        e.key = strdup(key);
        if (!e.key || answer_copy(a, &e.answer) < 0) {
                free(e.key);
                return;
        }
        c->entries[c->n++] = e;
        c->bytes += a->len;
}
