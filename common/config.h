/* The effective configuration of the suite, as DESIGN.md "Configuration" defines it.
 *
 * config_load() reads one YAML file with libyaml: the seed's keys under `static_config:` or at the top level,
 * and our own `procsync:` section. Every problem becomes a ConfigDiag with the file's line and column
 * (1-based, from libyaml's marks): errors make the load fail, warnings (unknown keys) do not. Every key
 * remembers where its value came from (the file, or the default) for `procctl config show`.
 *
 * This module never logs: callers print the diagnostics. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "macro.h"
#include "time-util.h"

/* Limits on what a config file may contain: every user-controlled resource is bounded. */
#define CONFIG_MAX_FILE_SIZE (1024 * 1024)
#define CONFIG_MAX_RULES 1024
#define CONFIG_MAX_STRING 4096
#define CONFIG_MAX_LIST 256
#define CONFIG_MAX_SINKS 16

#define CONFIG_DEFAULT_PATH "/etc/procsync/procsync.yaml"
#define CONFIG_ENV "PROCSYNC_CONFIG"

typedef enum MatchType {
        MATCH_PROCESS_NAME,
        MATCH_CMDLINE,
        MATCH_PARENT_PROCESS_NAME,
        MATCH_TAG,
        _MATCH_TYPE_MAX,
} MatchType;

typedef enum RuleAction {
        ACTION_ACCEPT,
        ACTION_DROP,
        _RULE_ACTION_MAX,
} RuleAction;

const char *match_type_to_string(MatchType t);
int match_type_from_string(const char *s); /* -EINVAL when unknown */
const char *rule_action_to_string(RuleAction a);
int rule_action_from_string(const char *s);

typedef struct ConfigRule {
        char *match_regex;  /* NULL: matches everything (as `.*`) */
        MatchType match_type;
        RuleAction action;
        char *rewrite_name; /* NULL or "": no rewrite */
        unsigned line;      /* where the rule starts in the file (0 for the embedded default) */
        unsigned column;
} ConfigRule;

typedef enum SinkType {
        SINK_DEEPFLOW,
        SINK_HTTP,
        SINK_FILE,
        _SINK_TYPE_MAX,
} SinkType;

const char *sink_type_to_string(SinkType t);
int sink_type_from_string(const char *s);

typedef struct ConfigSink {
        SinkType type;
        char *name;           /* `name:` or "<type>" / "<type>-<n>" when several of a type; unique */
        usec_t push_interval; /* default 10 s; heartbeat/resend at least this often */

        /* deepflow */
        char **controller_ips; /* NULL-terminated */
        uint16_t controller_port; /* 30035 */
        uint32_t agent_id;
        uint32_t agent_type; /* 3 = TT_PUBLIC_CLOUD */
        char *team_id;
        char *ctrl_ip;  /* NULL: the address of the interface that routes to the controller */
        char *ctrl_mac; /* NULL: that interface's MAC */

        /* http */
        char *url;
        char **headers; /* NULL-terminated "Name: value" strings */
        usec_t timeout; /* default 10 s */
        bool tls_verify; /* default true */

        /* file */
        char *path;
} ConfigSink;

/* Every key that `procctl config show` lists, in display order. */
typedef enum ConfigKey {
        CONFIG_KEY_SYNC_ENABLED,        /* os-proc-sync-enabled */
        CONFIG_KEY_TAGGED_ONLY,         /* os-proc-sync-tagged-only */
        CONFIG_KEY_PROC_ROOT,           /* os-proc-root */
        CONFIG_KEY_SOCKET_SYNC_INTERVAL, /* os-proc-socket-sync-interval */
        CONFIG_KEY_MIN_LIFETIME,        /* os-proc-socket-min-lifetime */
        CONFIG_KEY_TAG_EXEC,            /* os-app-tag-exec */
        CONFIG_KEY_TAG_EXEC_USER,       /* os-app-tag-exec-user */
        CONFIG_KEY_REGEX,               /* os-proc-regex */
        CONFIG_KEY_STATE_DIR,           /* procsync.state_dir */
        CONFIG_KEY_PROCESS_SCAN_INTERVAL, /* procsync.process_scan_interval */
        CONFIG_KEY_API_LISTEN,          /* procsync.api.listen */
        CONFIG_KEY_TAG_EXEC_TIMEOUT,    /* procsync.tag_exec.timeout */
        CONFIG_KEY_TAG_EXEC_MAX_OUTPUT, /* procsync.tag_exec.max_output */
        CONFIG_KEY_TAG_EXEC_ALLOW_ROOT, /* procsync.tag_exec.allow_root */
        CONFIG_KEY_SINKS,               /* procsync.exporter.sinks */
        _CONFIG_KEY_MAX,
} ConfigKey;

const char *config_key_to_string(ConfigKey k); /* the YAML spelling, e.g. "procsync.tag_exec.timeout" */

typedef struct ConfigOrigin {
        bool from_file; /* false: default */
        unsigned line, column;
        bool from_override; /* set by a command-line option (e.g. --state-dir); wins over from_file */
} ConfigOrigin;

typedef struct Config {
        char *path; /* the file read, or NULL for the embedded default */

        bool sync_enabled;
        bool tagged_only;
        char *proc_root;               /* "/proc" */
        usec_t socket_sync_interval;   /* 10 s; 0 = socket sync off */
        usec_t min_lifetime;           /* 3 s */
        char **tag_exec;               /* NULL-terminated argv, or NULL */
        char *tag_exec_user;           /* "deepflow" */
        ConfigRule *rules;
        size_t n_rules;

        char *state_dir;               /* /var/lib/procsync (root) or ./var (non-root) */
        usec_t process_scan_interval;  /* 10 s */
        char **api_listen;             /* NULL-terminated; default 127.0.0.1:9930 and unix:<state_dir>/api.sock */
        usec_t tag_exec_timeout;       /* 10 s */
        uint64_t tag_exec_max_output;  /* 1 MiB */
        bool tag_exec_allow_root;      /* false */
        ConfigSink *sinks;
        size_t n_sinks;

        ConfigOrigin origin[_CONFIG_KEY_MAX];
} Config;

typedef enum ConfigDiagLevel {
        CONFIG_DIAG_ERROR,
        CONFIG_DIAG_WARNING,
} ConfigDiagLevel;

typedef struct ConfigDiag {
        ConfigDiagLevel level;
        unsigned line, column; /* 1-based; 0 when the problem is not at a position (e.g. unreadable file) */
        char *message;
} ConfigDiag;

typedef struct ConfigDiags {
        char *path; /* the file the positions refer to */
        ConfigDiag *items;
        size_t n_items;
        size_t n_errors;
        size_t n_hidden; /* problems beyond the first 100, counted (errors in n_errors too) but not stored */
} ConfigDiags;

void config_diags_done(ConfigDiags *d);
/* Writes every diagnostic as "FILE:LINE:COL: error: message" (or "warning:"), one per line. */
void config_diags_print(const ConfigDiags *d, FILE *f);

/* Longest text config_diags_summary() returns (longer is cut, ending in "..."). */
#define CONFIG_ERROR_MAX 4096

/* The errors of a failed load as one line, "FILE:LINE:COL: message; ...", bounded: what the daemons store
 * in their heartbeat row and send as STATUS=. `config_path` names the file when the diagnostics do not;
 * without any diagnostic, the text of `error` (an errno). NULL when out of memory. */
char *config_diags_summary(const ConfigDiags *d, const char *config_path, int error);

Config *config_free(Config *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(Config *, config_free);

/* The embedded default (no file at all): sync enabled, otherwise the seed's defaults. */
int config_new_default(Config **ret);

/* Parses a buffer; `path` is only used in diagnostics and stored in Config.path. On error returns -EINVAL
 * and *diags holds at least one error; warnings are in *diags either way. */
int config_load_buffer(const char *path, const char *buf, size_t len, Config **ret, ConfigDiags *diags);

/* Reads and parses a file (bounded by CONFIG_MAX_FILE_SIZE). */
int config_load_file(const char *path, Config **ret, ConfigDiags *diags);

/* The lookup order: explicit path (from -c), else $PROCSYNC_CONFIG, else /etc/procsync/procsync.yaml; the
 * embedded default only when none was given and the default file does not exist. A path that was given
 * explicitly (-c or the environment) and is missing is an error. */
int config_load(const char *explicit_path, Config **ret, ConfigDiags *diags);

/* Applies `--state-dir DIR`: replaces state_dir and, when api.listen was not set by the file, the default
 * unix: listen path that derives from it. */
int config_set_state_dir(Config *c, const char *state_dir);

/* Duration: an integer (seconds) or a string such as "10s", "500ms", "2m", "1h". */
int parse_duration(const char *s, usec_t *ret);
