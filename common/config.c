/* Config defaults, names and destructors. The YAML loader (config_load*) is being written; until then only
 * the embedded default is available. */
#include "config.h"

#include <stdio.h>

static const char *const match_type_table[_MATCH_TYPE_MAX] = {
        [MATCH_PROCESS_NAME] = "process_name",
        [MATCH_CMDLINE] = "cmdline",
        [MATCH_PARENT_PROCESS_NAME] = "parent_process_name",
        [MATCH_TAG] = "tag",
};

static const char *const rule_action_table[_RULE_ACTION_MAX] = {
        [ACTION_ACCEPT] = "accept",
        [ACTION_DROP] = "drop",
};

static const char *const sink_type_table[_SINK_TYPE_MAX] = {
        [SINK_DEEPFLOW] = "deepflow",
        [SINK_HTTP] = "http",
        [SINK_FILE] = "file",
};

static const char *const config_key_table[_CONFIG_KEY_MAX] = {
        [CONFIG_KEY_SYNC_ENABLED] = "os-proc-sync-enabled",
        [CONFIG_KEY_TAGGED_ONLY] = "os-proc-sync-tagged-only",
        [CONFIG_KEY_PROC_ROOT] = "os-proc-root",
        [CONFIG_KEY_SOCKET_SYNC_INTERVAL] = "os-proc-socket-sync-interval",
        [CONFIG_KEY_MIN_LIFETIME] = "os-proc-socket-min-lifetime",
        [CONFIG_KEY_TAG_EXEC] = "os-app-tag-exec",
        [CONFIG_KEY_TAG_EXEC_USER] = "os-app-tag-exec-user",
        [CONFIG_KEY_REGEX] = "os-proc-regex",
        [CONFIG_KEY_STATE_DIR] = "procsync.state_dir",
        [CONFIG_KEY_PROCESS_SCAN_INTERVAL] = "procsync.process_scan_interval",
        [CONFIG_KEY_API_LISTEN] = "procsync.api.listen",
        [CONFIG_KEY_TAG_EXEC_TIMEOUT] = "procsync.tag_exec.timeout",
        [CONFIG_KEY_TAG_EXEC_MAX_OUTPUT] = "procsync.tag_exec.max_output",
        [CONFIG_KEY_TAG_EXEC_ALLOW_ROOT] = "procsync.tag_exec.allow_root",
        [CONFIG_KEY_SINKS] = "procsync.exporter.sinks",
};

static int lookup(const char *const *table, size_t n, const char *s) {
        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (table[i] && streq(table[i], s))
                        return (int) i;
        return -EINVAL;
}

const char *match_type_to_string(MatchType t) {
        return t < _MATCH_TYPE_MAX ? match_type_table[t] : NULL;
}
int match_type_from_string(const char *s) {
        return lookup(match_type_table, _MATCH_TYPE_MAX, s);
}
const char *rule_action_to_string(RuleAction a) {
        return a < _RULE_ACTION_MAX ? rule_action_table[a] : NULL;
}
int rule_action_from_string(const char *s) {
        return lookup(rule_action_table, _RULE_ACTION_MAX, s);
}
const char *sink_type_to_string(SinkType t) {
        return t < _SINK_TYPE_MAX ? sink_type_table[t] : NULL;
}
int sink_type_from_string(const char *s) {
        return lookup(sink_type_table, _SINK_TYPE_MAX, s);
}
const char *config_key_to_string(ConfigKey k) {
        return k < _CONFIG_KEY_MAX ? config_key_table[k] : NULL;
}

static void sink_done(ConfigSink *s) {
        free(s->name);
        strv_free(s->controller_ips);
        free(s->team_id);
        free(s->ctrl_ip);
        free(s->ctrl_mac);
        free(s->url);
        strv_free(s->headers);
        free(s->path);
}

Config *config_free(Config *c) {
        if (!c)
                return NULL;
        free(c->path);
        free(c->proc_root);
        strv_free(c->tag_exec);
        free(c->tag_exec_user);
        for (size_t i = 0; i < c->n_rules; i++) {
                free(c->rules[i].match_regex);
                free(c->rules[i].rewrite_name);
        }
        free(c->rules);
        free(c->state_dir);
        strv_free(c->api_listen);
        for (size_t i = 0; i < c->n_sinks; i++)
                sink_done(&c->sinks[i]);
        free(c->sinks);
        free(c);
        return NULL;
}

void config_diags_done(ConfigDiags *d) {
        if (!d)
                return;
        for (size_t i = 0; i < d->n_items; i++)
                free(d->items[i].message);
        free(d->items);
        free(d->path);
        *d = (ConfigDiags) {};
}

void config_diags_print(const ConfigDiags *d, FILE *f) {
        for (size_t i = 0; i < d->n_items; i++) {
                const ConfigDiag *x = &d->items[i];
                const char *lvl = x->level == CONFIG_DIAG_ERROR ? "error" : "warning";

                if (x->line > 0)
                        fprintf(f, "%s:%u:%u: %s: %s\n", strempty(d->path), x->line, x->column, lvl, x->message);
                else
                        fprintf(f, "%s: %s: %s\n", strempty(d->path), lvl, x->message);
        }
}

/* Fills the defaults shared by the embedded default and every file before it is read. */
static int config_fill_defaults(Config *c) {
        c->sync_enabled = false;
        c->tagged_only = false;
        c->socket_sync_interval = 10 * USEC_PER_SEC;
        c->min_lifetime = 3 * USEC_PER_SEC;
        c->process_scan_interval = 10 * USEC_PER_SEC;
        c->tag_exec_timeout = 10 * USEC_PER_SEC;
        c->tag_exec_max_output = 1024 * 1024;
        c->tag_exec_allow_root = false;
        c->proc_root = strdup("/proc");
        c->tag_exec_user = strdup("deepflow");
        c->state_dir = strdup(geteuid() == 0 ? "/var/lib/procsync" : "./var");
        if (!c->proc_root || !c->tag_exec_user || !c->state_dir)
                return -ENOMEM;
        c->api_listen = calloc(3, sizeof(char *));
        if (!c->api_listen)
                return -ENOMEM;
        c->api_listen[0] = strdup("127.0.0.1:9930");
        if (asprintf(&c->api_listen[1], "unix:%s/api.sock", c->state_dir) < 0)
                c->api_listen[1] = NULL;
        if (!c->api_listen[0] || !c->api_listen[1])
                return -ENOMEM;
        return 0;
}

int config_new_default(Config **ret) {
        _cleanup_(config_freep) Config *c = NULL;
        int r;

        c = calloc(1, sizeof(Config));
        if (!c)
                return -ENOMEM;
        r = config_fill_defaults(c);
        if (r < 0)
                return r;
        c->sync_enabled = true;
        *ret = TAKE_PTR(c);
        return 0;
}
