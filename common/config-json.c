/* Config -> JSON (see config-json.h). Built with jansson from the parsed Config, never from the YAML text,
 * so what is shown is exactly what the daemons use. Every helper returns a new reference or NULL on
 * allocation failure; json_object_set_new() takes the reference even when it fails, so a NULL simply
 * surfaces as -ENOMEM. json_auto_t is jansson's own cleanup-attribute type. */
#include "config-json.h"

#include <stdio.h>

static json_t *json_string_or_null(const char *s) {
        return s ? json_string(s) : json_null();
}

static json_t *json_strv(char **l) {
        json_auto_t *a = json_array();

        if (!a)
                return NULL;
        for (char **i = l; i && *i; i++)
                if (json_array_append_new(a, json_string(*i)) < 0)
                        return NULL;
        return TAKE_PTR(a);
}

/* The largest unit that divides the value exactly, so "10s" stays "10s" and 1500 ms is "1500ms"; the
 * output is valid input for parse_duration(). */
static json_t *json_duration(usec_t u) {
        static const struct {
                const char *suffix;
                usec_t factor;
        } units[] = {
                { "h", 3600 * USEC_PER_SEC }, { "m", 60 * USEC_PER_SEC }, { "s", USEC_PER_SEC },
                { "ms", USEC_PER_MSEC },
        };
        char buf[32];

        if (u == 0)
                return json_string("0s");
        for (size_t i = 0; i < ELEMENTSOF(units); i++)
                if (u % units[i].factor == 0) {
                        snprintf(buf, sizeof(buf), "%llu%s", (unsigned long long) (u / units[i].factor),
                                 units[i].suffix);
                        return json_string(buf);
                }
        snprintf(buf, sizeof(buf), "%lluus", (unsigned long long) u);
        return json_string(buf);
}

/* "https://user:secret@host/" -> "https://user:***@host/". */
static json_t *json_url_redacted(const char *url) {
        const char *scheme_end, *at, *colon, *slash;
        _cleanup_free_ char *s = NULL;

        if (!url)
                return json_null();
        scheme_end = strstr(url, "://");
        if (!scheme_end)
                return json_string(url);
        scheme_end += 3;
        slash = strchr(scheme_end, '/');
        at = memchr(scheme_end, '@', slash ? (size_t) (slash - scheme_end) : strlen(scheme_end));
        if (!at)
                return json_string(url);
        colon = memchr(scheme_end, ':', (size_t) (at - scheme_end));
        if (!colon)
                return json_string(url);
        if (asprintf(&s, "%.*s:***%s", (int) (colon - url), url, at) < 0)
                return NULL;
        return json_string(s);
}

static json_t *json_headers_redacted(char **headers) {
        json_auto_t *o = json_object();

        if (!o)
                return NULL;
        for (char **h = headers; h && *h; h++) {
                const char *colon = strchr(*h, ':');
                _cleanup_free_ char *name = strndup(*h, colon ? (size_t) (colon - *h) : strlen(*h));

                if (!name || json_object_set_new(o, name, json_string("***")) < 0)
                        return NULL;
        }
        return TAKE_PTR(o);
}

static json_t *json_rules(const Config *c) {
        json_auto_t *a = json_array();

        if (!a)
                return NULL;
        for (size_t i = 0; i < c->n_rules; i++) {
                const ConfigRule *r = &c->rules[i];
                json_t *o = json_pack("{s:I, s:o, s:s, s:s, s:o, s:I}", "index", (json_int_t) i,
                                      "match-regex", json_string_or_null(r->match_regex), "match-type",
                                      match_type_to_string(r->match_type), "action",
                                      rule_action_to_string(r->action), "rewrite-name",
                                      json_string_or_null(r->rewrite_name), "line", (json_int_t) r->line);

                if (json_array_append_new(a, o) < 0)
                        return NULL;
        }
        return TAKE_PTR(a);
}

static json_t *json_sink(const ConfigSink *s) {
        json_auto_t *o = NULL;
        int r = 0;

        o = json_pack("{s:s, s:s, s:o}", "type", sink_type_to_string(s->type), "name", strempty(s->name),
                      "push_interval", json_duration(s->push_interval));
        if (!o)
                return NULL;
        switch (s->type) {
        case SINK_DEEPFLOW:
                r |= json_object_set_new(o, "controller_ips", json_strv(s->controller_ips));
                r |= json_object_set_new(o, "controller_port", json_integer(s->controller_port));
                r |= json_object_set_new(o, "agent_id", json_integer(s->agent_id));
                r |= json_object_set_new(o, "agent_type", json_integer(s->agent_type));
                r |= json_object_set_new(o, "team_id", json_string_or_null(s->team_id));
                r |= json_object_set_new(o, "ctrl_ip", json_string_or_null(s->ctrl_ip));
                r |= json_object_set_new(o, "ctrl_mac", json_string_or_null(s->ctrl_mac));
                break;
        case SINK_HTTP:
                r |= json_object_set_new(o, "url", json_url_redacted(s->url));
                r |= json_object_set_new(o, "headers", json_headers_redacted(s->headers));
                r |= json_object_set_new(o, "timeout", json_duration(s->timeout));
                r |= json_object_set_new(o, "tls_verify", json_boolean(s->tls_verify));
                break;
        case SINK_FILE:
                r |= json_object_set_new(o, "path", json_string_or_null(s->path));
                break;
        default:
                break;
        }
        return r < 0 ? NULL : TAKE_PTR(o);
}

static json_t *json_sinks(const Config *c) {
        json_auto_t *a = json_array();

        if (!a)
                return NULL;
        for (size_t i = 0; i < c->n_sinks; i++)
                if (json_array_append_new(a, json_sink(&c->sinks[i])) < 0)
                        return NULL;
        return TAKE_PTR(a);
}

static json_t *json_value(const Config *c, ConfigKey k) {
        switch (k) {
        case CONFIG_KEY_SYNC_ENABLED:
                return json_boolean(c->sync_enabled);
        case CONFIG_KEY_TAGGED_ONLY:
                return json_boolean(c->tagged_only);
        case CONFIG_KEY_PROC_ROOT:
                return json_string_or_null(c->proc_root);
        case CONFIG_KEY_SOCKET_SYNC_INTERVAL:
                return json_duration(c->socket_sync_interval);
        case CONFIG_KEY_MIN_LIFETIME:
                return json_duration(c->min_lifetime);
        case CONFIG_KEY_TAG_EXEC:
                return json_strv(c->tag_exec);
        case CONFIG_KEY_TAG_EXEC_USER:
                return json_string_or_null(c->tag_exec_user);
        case CONFIG_KEY_REGEX:
                return json_rules(c);
        case CONFIG_KEY_STATE_DIR:
                return json_string_or_null(c->state_dir);
        case CONFIG_KEY_PROCESS_SCAN_INTERVAL:
                return json_duration(c->process_scan_interval);
        case CONFIG_KEY_API_LISTEN:
                return json_strv(c->api_listen);
        case CONFIG_KEY_TAG_EXEC_TIMEOUT:
                return json_duration(c->tag_exec_timeout);
        case CONFIG_KEY_TAG_EXEC_MAX_OUTPUT:
                return json_integer((json_int_t) c->tag_exec_max_output);
        case CONFIG_KEY_TAG_EXEC_ALLOW_ROOT:
                return json_boolean(c->tag_exec_allow_root);
        case CONFIG_KEY_SINKS:
                return json_sinks(c);
        default:
                return NULL;
        }
}

static json_t *json_origin(const ConfigOrigin *o) {
        char buf[32];

        if (o->from_override)
                return json_string("command-line");
        if (!o->from_file)
                return json_string("default");
        snprintf(buf, sizeof(buf), "file:%u", o->line);
        return json_string(buf);
}

int config_to_json(const Config *c, json_t **ret) {
        json_auto_t *root = NULL, *keys = NULL;

        keys = json_object();
        if (!keys)
                return -ENOMEM;
        for (ConfigKey k = 0; k < _CONFIG_KEY_MAX; k++) {
                json_t *entry = json_pack("{s:o, s:o}", "value", json_value(c, k), "origin",
                                          json_origin(&c->origin[k]));

                if (json_object_set_new(keys, config_key_to_string(k), entry) < 0)
                        return -ENOMEM;
        }
        root = json_pack("{s:o, s:O}", "path", json_string_or_null(c->path), "keys", keys);
        if (!root)
                return -ENOMEM;
        *ret = TAKE_PTR(root);
        return 0;
}

int config_diags_to_json(const ConfigDiags *d, json_t **ret) {
        json_auto_t *root = NULL, *items = json_array();

        if (!items)
                return -ENOMEM;
        for (size_t i = 0; i < d->n_items; i++) {
                const ConfigDiag *x = &d->items[i];
                json_t *o = json_pack("{s:s, s:I, s:I, s:s}", "level",
                                      x->level == CONFIG_DIAG_ERROR ? "error" : "warning", "line",
                                      (json_int_t) x->line, "column", (json_int_t) x->column, "message",
                                      x->message);

                if (json_array_append_new(items, o) < 0)
                        return -ENOMEM;
        }
        root = json_pack("{s:o, s:b, s:I, s:I, s:O}", "path", json_string_or_null(d->path), "ok",
                         d->n_errors == 0, "errors", (json_int_t) d->n_errors, "hidden",
                         (json_int_t) d->n_hidden, "diagnostics", items);
        if (!root)
                return -ENOMEM;
        *ret = TAKE_PTR(root);
        return 0;
}
