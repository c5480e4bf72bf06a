/* See state-json.h. jansson keeps object keys in insertion order, so the order of the set() calls below is
 * the order on the wire; tags are inserted in the state's (key, value) order. Any allocation failure
 * (jansson returns NULL or -1) becomes -ENOMEM. */
#include "state-json.h"

#include <stdio.h>

#include "utf8.h"

static json_t *json_text(const char *s) {
        _cleanup_free_ char *fixed = NULL;
        size_t n = strlen(strempty(s));

        if (utf8_is_valid(strempty(s), n))
                return json_stringn(strempty(s), n);
        fixed = utf8_make_valid(s, n);
        return fixed ? json_string(fixed) : NULL;
}

/* Sets o[k] = v, taking v; false when v is NULL or the set fails. */
static bool set(json_t *o, const char *k, json_t *v) {
        return v && json_object_set_new(o, k, v) == 0;
}

static bool append(json_t *a, json_t *v) {
        return v && json_array_append_new(a, v) == 0;
}

json_t *state_json_process(const SyncProcess *p) {
        json_t *o = json_object(), *tags = json_object();

        if (!o || !tags)
                goto fail;
        for (size_t i = 0; i < p->n_tags; i++) {
                _cleanup_free_ char *key = NULL;
                size_t n = strlen(p->tags[i].key);

                /* Keys need valid UTF-8 too, and json_object_set_new() wants a NUL-terminated one. */
                key = utf8_is_valid(p->tags[i].key, n) ? strdup(p->tags[i].key)
                                                       : utf8_make_valid(p->tags[i].key, n);
                if (!key || !set(tags, key, json_text(p->tags[i].value)))
                        goto fail;
        }
        if (!set(o, "pid", json_integer(p->pid)) || !set(o, "ppid", json_integer(p->ppid)) ||
            !set(o, "start_time", json_integer((json_int_t) p->start_time)) ||
            !set(o, "name", json_text(p->name)) || !set(o, "process_name", json_text(p->process_name)) ||
            !set(o, "cmdline", json_text(p->cmdline)) || !set(o, "user", json_text(p->user)) ||
            !set(o, "uid", json_integer(p->uid)) || !set(o, "netns_id", json_integer(p->netns_idx)) ||
            !set(o, "container_id", json_text(p->container_id)))
                goto fail;
        if (json_object_set_new(o, "tags", tags) < 0) {
                tags = NULL;
                goto fail;
        }
        tags = NULL;
        if (!set(o, "rule", json_integer(p->rule)))
                goto fail;
        return o;
fail:
        json_decref(tags);
        json_decref(o);
        return NULL;
}

static json_t *endpoint(uint8_t family, const char *addr, uint16_t port) {
        _cleanup_free_ char *s = NULL;

        if (asprintf(&s, family == 6 ? "[%s]:%u" : "%s:%u", addr, (unsigned) port) < 0)
                return NULL;
        return json_text(s);
}

json_t *state_json_socket(const SyncSocket *k) {
        json_t *o = json_object(), *pids = json_array();

        if (!o || !pids)
                goto fail;
        for (size_t i = 0; i < k->n_pids; i++)
                if (!append(pids, json_integer(k->pids[i])))
                        goto fail;
        if (!set(o, "proto", json_string(k->udp ? "udp" : "tcp")) || !set(o, "state", json_text(k->state)) ||
            !set(o, "local", endpoint(k->family, k->local_addr, k->local_port)) ||
            !set(o, "remote", endpoint(k->family, k->remote_addr, k->remote_port)) ||
            !set(o, "role", json_string(k->role == SYNC_ROLE_SERVER ? "server" : "client")))
                goto fail;
        if (json_object_set_new(o, "pids", pids) < 0) {
                pids = NULL;
                goto fail;
        }
        pids = NULL;
        if (!set(o, "netns_id", json_integer(k->netns_idx)) ||
            !set(o, "inode", json_integer((json_int_t) k->inode)) ||
            !set(o, "first_seen", json_integer(k->first_seen)))
                goto fail;
        return o;
fail:
        json_decref(pids);
        json_decref(o);
        return NULL;
}

int state_json_document(const SyncState *st, bool full, json_t **ret) {
        _cleanup_json_ json_t *doc = NULL, *procs = NULL, *socks = NULL;

        doc = json_object();
        if (!doc || !set(doc, "version", json_integer((json_int_t) st->version)) ||
            !set(doc, "hostname", json_text(st->hostname)) || !set(doc, "full", json_boolean(full)))
                return -ENOMEM;
        if (full) {
                procs = json_array();
                socks = json_array();
                if (!procs || !socks)
                        return -ENOMEM;
                for (size_t i = 0; i < st->n_processes; i++)
                        if (!append(procs, state_json_process(&st->processes[i])))
                                return -ENOMEM;
                for (size_t i = 0; i < st->n_sockets; i++)
                        if (!append(socks, state_json_socket(&st->sockets[i])))
                                return -ENOMEM;
                if (json_object_set(doc, "processes", procs) < 0 ||
                    json_object_set(doc, "sockets", socks) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(doc);
        return 0;
}

int state_json_dump(const SyncState *st, bool full, char **ret, size_t *ret_len) {
        _cleanup_json_ json_t *doc = NULL;
        char *s;
        int r;

        r = state_json_document(st, full, &doc);
        if (r < 0)
                return r;
        s = json_dumps(doc, JSON_COMPACT);
        if (!s)
                return -ENOMEM;
        if (ret_len)
                *ret_len = strlen(s);
        *ret = s;
        return 0;
}
