/* The configuration: names, defaults, destructors and the YAML loader (DESIGN.md "Configuration").
 *
 * The loader reads the file twice with libyaml. A first pass over the event stream rejects what the config
 * never needs and what makes YAML expensive or ambiguous: aliases (an alias is an error at its position, so
 * a "billion laughs" document cannot exist; anchors alone are harmless and ignored), nesting deeper than
 * CONFIG_MAX_DEPTH, and more than one document. The second pass loads the document tree
 * (yaml_parser_load) and walks it against tables of known keys: every key has one handler that type-checks
 * its value and stores it in the Config. Each problem becomes a ConfigDiag at the node's 1-based
 * line:column and the walk goes on, so one run of `procctl config check` shows every problem.
 *
 * The seed keys may appear under `static_config:` and at the top level (an existing DeepFlow agent group
 * config works unchanged). A key given twice must have the same *parsed* value (`true` and `yes` agree):
 * equal values are accepted silently, different values are an error at the second occurrence in file
 * order. Any other known key given twice in one mapping is an error. A null value (`key:` or `key: ~`)
 * means "the default". */
#include "config.h"

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <sys/stat.h>
#include <yaml.h>

#include "regex.h"

/* Internal limits, beside the public ones in config.h. Our own schema nests 6 levels deep; 32 leaves room
 * for the unknown parts of a DeepFlow agent group config. */
#define CONFIG_MAX_DEPTH 32
#define CONFIG_MAX_DIAGS 100
#define CONFIG_MAX_DURATION (7 * 24 * 3600 * USEC_PER_SEC)
#define CONFIG_MAX_OUTPUT_SIZE (256ULL * 1024 * 1024)
#define CONFIG_MAX_SINK_NAME 64

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
        if (d->n_hidden > 0)
                fprintf(f, "%s: note: %zu more problems not shown\n", strempty(d->path), d->n_hidden);
}

char *config_diags_summary(const ConfigDiags *diags, const char *config_path, int error) {
        const char *path = diags->path ?: config_path ?: "configuration";
        char *buf = NULL;
        size_t len = 0;
        FILE *f;

        f = open_memstream(&buf, &len);
        if (!f)
                return NULL;
        for (size_t i = 0; i < diags->n_items; i++) {
                const ConfigDiag *x = &diags->items[i];

                if (x->level != CONFIG_DIAG_ERROR)
                        continue;
                if (len > 0)
                        fputs("; ", f);
                if (x->line > 0)
                        fprintf(f, "%s:%u:%u: %s", path, x->line, x->column, strempty(x->message));
                else
                        fprintf(f, "%s: %s", path, strempty(x->message));
                fflush(f);
                if (len >= CONFIG_ERROR_MAX)
                        break;
        }
        if (len == 0)
                fprintf(f, "%s: %s", path, strerror(error < 0 ? -error : error));
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        if (len > CONFIG_ERROR_MAX)
                memcpy(buf + CONFIG_ERROR_MAX - 4, "...", 4);
        return buf;
}

static int default_api_listen(const char *state_dir, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;

        l = calloc(3, sizeof(char *));
        if (!l)
                return -ENOMEM;
        l[0] = strdup("127.0.0.1:9930");
        if (!l[0])
                return -ENOMEM;
        if (asprintf(&l[1], "unix:%s/api.sock", state_dir) < 0) {
                l[1] = NULL;
                return -ENOMEM;
        }
        *ret = TAKE_PTR(l);
        return 0;
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
        return default_api_listen(c->state_dir, &c->api_listen);
}

/* A config holding the seed's defaults: what a file that sets nothing means. */
static int config_new_seed_default(Config **ret) {
        _cleanup_(config_freep) Config *c = NULL;
        int r;

        c = calloc(1, sizeof(Config));
        if (!c)
                return -ENOMEM;
        r = config_fill_defaults(c);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

int config_new_default(Config **ret) {
        _cleanup_(config_freep) Config *c = NULL;
        int r;

        r = config_new_seed_default(&c);
        if (r < 0)
                return r;
        c->sync_enabled = true;
        *ret = TAKE_PTR(c);
        return 0;
}

static bool api_listen_is_default(const Config *c) {
        return !c->origin[CONFIG_KEY_API_LISTEN].from_file &&
               !c->origin[CONFIG_KEY_API_LISTEN].from_override;
}

int config_set_state_dir(Config *c, const char *state_dir) {
        _cleanup_free_ char *d = NULL;
        int r;

        if (isempty(state_dir))
                return -EINVAL;
        d = strdup(state_dir);
        if (!d)
                return -ENOMEM;
        if (api_listen_is_default(c)) {
                char **l;

                r = default_api_listen(d, &l);
                if (r < 0)
                        return r;
                strv_free(c->api_listen);
                c->api_listen = l;
        }
        free(c->state_dir);
        c->state_dir = TAKE_PTR(d);
        c->origin[CONFIG_KEY_STATE_DIR].from_override = true;
        return 0;
}

/* ---- Scalar syntax: durations, sizes, booleans, integers ---- */

/* Parses a run of decimal digits at *p (no sign, no spaces) and advances *p past it. */
static int parse_digits(const char **p, uint64_t *ret) {
        const char *s = *p;
        uint64_t n = 0;

        if (!isdigit((unsigned char) *s))
                return -EINVAL;
        for (; isdigit((unsigned char) *s); s++)
                if (__builtin_mul_overflow(n, 10, &n) ||
                    __builtin_add_overflow(n, (uint64_t) (*s - '0'), &n))
                        return -ERANGE;
        *p = s;
        *ret = n;
        return 0;
}

/* A number followed by one of `units` (the empty suffix included when listed). */
typedef struct Unit {
        const char *suffix;
        uint64_t factor;
} Unit;

static int parse_with_unit(const char *s, const Unit *units, size_t n_units, uint64_t *ret) {
        const char *p = s;
        uint64_t n, v;
        int r;

        if (!s)
                return -EINVAL;
        r = parse_digits(&p, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n_units; i++)
                if (streq(p, units[i].suffix)) {
                        if (__builtin_mul_overflow(n, units[i].factor, &v))
                                return -ERANGE;
                        *ret = v;
                        return 0;
                }
        return -EINVAL;
}

int parse_duration(const char *s, usec_t *ret) {
        static const Unit units[] = {
                { "", USEC_PER_SEC },        { "s", USEC_PER_SEC },       { "ms", USEC_PER_MSEC },
                { "us", 1 },                 { "m", 60 * USEC_PER_SEC },  { "h", 3600 * USEC_PER_SEC },
        };
        return parse_with_unit(s, units, ELEMENTSOF(units), ret);
}

/* Byte sizes are binary: "1M", "1MiB" and 1048576 are the same. */
static int parse_size(const char *s, uint64_t *ret) {
        static const Unit units[] = {
                { "", 1 },           { "B", 1 },
                { "K", 1ULL << 10 }, { "k", 1ULL << 10 }, { "KiB", 1ULL << 10 },
                { "M", 1ULL << 20 }, { "MiB", 1ULL << 20 },
                { "G", 1ULL << 30 }, { "GiB", 1ULL << 30 },
        };
        return parse_with_unit(s, units, ELEMENTSOF(units), ret);
}

/* The YAML 1.1 booleans (libyaml does not resolve types; PyYAML and the Rust agent accept these). */
static int parse_bool(const char *s, bool *ret) {
        static const char *const yes[] = { "true", "yes", "on" }, *const no[] = { "false", "no", "off" };

        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (strcasecmp(s, yes[i]) == 0) {
                        *ret = true;
                        return 0;
                }
                if (strcasecmp(s, no[i]) == 0) {
                        *ret = false;
                        return 0;
                }
        }
        return -EINVAL;
}

/* ---- The loader ---- */

typedef struct Loader {
        yaml_document_t doc;
        Config *config;
        ConfigDiags *diags;
        bool seed_failed[_CONFIG_KEY_MAX]; /* the first occurrence was invalid: do not report a conflict */
} Loader;

/* A mapping key with the function that takes its value. `id` is a ConfigKey or a sink key; `sink_types` is
 * the mask of sink types the key applies to. */
typedef struct KeyHandler KeyHandler;
struct KeyHandler {
        const char *name;
        int (*parse)(Loader *l, const KeyHandler *h, const yaml_node_t *key, const yaml_node_t *value,
                     void *userdata);
        int id;
        unsigned flags;
        unsigned sink_types;
};

enum {
        KEY_REPEATABLE = 1 << 0, /* a repeat is compared with the first occurrence instead of rejected */
};

#define WALK_MAX_KEYS 32

/* Handlers return 0 (or 1 when a value was stored), -EINVAL when the problem is already a diagnostic (the
 * walk goes on), or another -errno (-ENOMEM) that aborts the load. */
static bool fatal(int r) {
        return r < 0 && r != -EINVAL;
}

_printf_(5, 0) static int diags_addv(ConfigDiags *d, ConfigDiagLevel level, unsigned line, unsigned column,
                                     const char *fmt, va_list ap) {
        ConfigDiag *items;
        char *msg;

        if (level == CONFIG_DIAG_ERROR)
                d->n_errors++;
        if (d->n_items >= CONFIG_MAX_DIAGS) {
                d->n_hidden++;
                return level == CONFIG_DIAG_ERROR ? -EINVAL : 0;
        }
        if (vasprintf(&msg, fmt, ap) < 0)
                return -ENOMEM;
        items = reallocarray(d->items, d->n_items + 1, sizeof(ConfigDiag));
        if (!items) {
                free(msg);
                return -ENOMEM;
        }
        d->items = items;
        d->items[d->n_items++] = (ConfigDiag) {
                .level = level,
                .line = line,
                .column = column,
                .message = msg,
        };
        return level == CONFIG_DIAG_ERROR ? -EINVAL : 0;
}

_printf_(5, 6) static int diags_add(ConfigDiags *d, ConfigDiagLevel level, unsigned line, unsigned column,
                                    const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = diags_addv(d, level, line, column, fmt, ap);
        va_end(ap);
        return r;
}

_printf_(4, 5) static int diag_at(Loader *l, ConfigDiagLevel level, const yaml_node_t *n, const char *fmt,
                                  ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = diags_addv(l->diags, level, (unsigned) n->start_mark.line + 1,
                       (unsigned) n->start_mark.column + 1, fmt, ap);
        va_end(ap);
        return r;
}

#define error_at(l, n, ...) diag_at((l), CONFIG_DIAG_ERROR, (n), __VA_ARGS__)
#define warning_at(l, n, ...) diag_at((l), CONFIG_DIAG_WARNING, (n), __VA_ARGS__)

/* User strings in messages: control characters (ESC from a "\e" escape could drive the terminal) become
 * '?', and long values are cut at a character boundary. */
#define SAN_MAX 80
static const char *sanitize(const char *s, char *buf) {
        const unsigned char *p = (const unsigned char *) s;
        size_t i = 0;

        while (*p) {
                size_t n = *p < 0x80 ? 1 : *p >= 0xf0 ? 4 : *p >= 0xe0 ? 3 : 2;

                if (i + n + 4 > SAN_MAX) {
                        memcpy(buf + i, "...", 3);
                        i += 3;
                        break;
                }
                if (*p < 0x20 || *p == 0x7f || (*p == 0xc2 && p[1] >= 0x80 && p[1] < 0xa0)) {
                        buf[i++] = '?';
                        p += *p < 0x80 ? 1 : 2;
                        continue;
                }
                for (size_t k = 0; k < n && *p; k++)
                        buf[i++] = (char) *p++;
        }
        buf[i] = 0;
        return buf;
}
#define SAN(s) sanitize((s), (char[SAN_MAX]) {})

static yaml_node_t *node_get(Loader *l, int index) {
        return yaml_document_get_node(&l->doc, index);
}

static const char *scalar(const yaml_node_t *n) {
        return (const char *) n->data.scalar.value;
}

static size_t seq_len(const yaml_node_t *n) {
        return (size_t) (n->data.sequence.items.top - n->data.sequence.items.start);
}

static yaml_node_t *seq_item(Loader *l, const yaml_node_t *n, size_t i) {
        return node_get(l, n->data.sequence.items.start[i]);
}

/* `key:`, `key: ~` and `key: null` (plain, not quoted) mean "the default". */
static bool node_is_null(const yaml_node_t *n) {
        const char *v;

        if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
                return false;
        v = scalar(n);
        return isempty(v) || streq(v, "~") || streq(v, "null") || streq(v, "Null") || streq(v, "NULL");
}

static const char *node_kind(const yaml_node_t *n) {
        if (node_is_null(n))
                return "empty";
        switch (n->type) {
        case YAML_SEQUENCE_NODE:
                return "a list";
        case YAML_MAPPING_NODE:
                return "a mapping";
        default:
                return "a scalar";
        }
}

static void set_origin(Loader *l, ConfigKey k, const yaml_node_t *key) {
        l->config->origin[k] = (ConfigOrigin) {
                .from_file = true,
                .line = (unsigned) key->start_mark.line + 1,
                .column = (unsigned) key->start_mark.column + 1,
        };
}

/* Returns 1 and the value of a scalar, 0 for null (the caller keeps its default), -EINVAL otherwise. */
static int get_scalar(Loader *l, const yaml_node_t *n, const char *what, const char *expected,
                      const char **ret) {
        if (node_is_null(n))
                return 0;
        if (n->type != YAML_SCALAR_NODE)
                return error_at(l, n, "'%s' must be %s, not %s", what, expected, node_kind(n));
        if (n->data.scalar.length > CONFIG_MAX_STRING)
                return error_at(l, n, "'%s' is too long (%zu bytes, at most %d)", what,
                                n->data.scalar.length, CONFIG_MAX_STRING);
        if (strlen(scalar(n)) != n->data.scalar.length)
                return error_at(l, n, "'%s' contains a NUL character", what);
        *ret = scalar(n);
        return 1;
}

enum {
        STR_ALLOW_EMPTY = 1 << 0,      /* "" is a value */
        STR_EMPTY_IS_DEFAULT = 1 << 1, /* "" means the default, like null (the rule fields of the seed) */
};

static int get_string(Loader *l, const yaml_node_t *n, const char *what, unsigned flags, char **ret) {
        const char *v = NULL;
        char *s;
        int r;

        r = get_scalar(l, n, what, "a string", &v);
        if (r <= 0)
                return r;
        if (isempty(v)) {
                if (flags & STR_EMPTY_IS_DEFAULT)
                        return 0;
                if (!(flags & STR_ALLOW_EMPTY))
                        return error_at(l, n, "'%s' must not be empty", what);
        }
        s = strdup(v);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 1;
}

/* get_string() into a field that owns its old value. */
static int get_string_replace(Loader *l, const yaml_node_t *n, const char *what, unsigned flags,
                              char **field) {
        char *s = NULL;
        int r;

        r = get_string(l, n, what, flags, &s);
        if (r > 0) {
                free(*field);
                *field = s;
        }
        return r;
}

static int get_bool(Loader *l, const yaml_node_t *n, const char *what, bool *ret) {
        const char *v = NULL;
        int r;

        r = get_scalar(l, n, what, "a boolean", &v);
        if (r <= 0)
                return r;
        if (parse_bool(v, ret) < 0)
                return error_at(l, n, "'%s' must be true or false (or yes/no, on/off), not '%s'", what,
                                SAN(v));
        return 1;
}

static int get_duration(Loader *l, const yaml_node_t *n, const char *what, bool allow_zero, usec_t *ret) {
        const char *v = NULL;
        usec_t u;
        int r;

        r = get_scalar(l, n, what, "a duration", &v);
        if (r <= 0)
                return r;
        if (v[0] == '-')
                return error_at(l, n, "'%s' must not be negative, got '%s'", what, SAN(v));
        r = parse_duration(v, &u);
        if (r == -ERANGE || (r >= 0 && u > CONFIG_MAX_DURATION))
                return error_at(l, n, "'%s' is too long: '%s' (at most 7 days)", what, SAN(v));
        if (r < 0)
                return error_at(l, n,
                                "'%s' is not a duration: '%s' (seconds, or a number with a unit: \"500ms\", "
                                "\"10s\", \"2m\", \"1h\")",
                                what, SAN(v));
        if (u == 0 && !allow_zero)
                return error_at(l, n, "'%s' must be greater than 0", what);
        *ret = u;
        return 1;
}

static int get_uint(Loader *l, const yaml_node_t *n, const char *what, uint64_t min, uint64_t max,
                    uint64_t *ret) {
        const char *v, *p;
        uint64_t u;
        int r;

        r = get_scalar(l, n, what, "an integer", &v);
        if (r <= 0)
                return r;
        p = v;
        r = parse_digits(&p, &u);
        if (r == -EINVAL || *p != 0)
                return error_at(l, n,
                                "'%s' must be an integer between %" PRIu64 " and %" PRIu64 ", not '%s'",
                                what, min, max, SAN(v));
        if (r < 0 || u < min || u > max)
                return error_at(l, n, "'%s' must be between %" PRIu64 " and %" PRIu64 ", not %s", what, min,
                                max, SAN(v));
        *ret = u;
        return 1;
}

static int get_size(Loader *l, const yaml_node_t *n, const char *what, uint64_t max, uint64_t *ret) {
        const char *v;
        uint64_t u;
        int r;

        r = get_scalar(l, n, what, "a size", &v);
        if (r <= 0)
                return r;
        if (v[0] == '-')
                return error_at(l, n, "'%s' must not be negative, got '%s'", what, SAN(v));
        r = parse_size(v, &u);
        if (r == -EINVAL)
                return error_at(l, n,
                                "'%s' is not a size: '%s' (bytes, or a number with K, KiB, M, MiB, G, GiB)",
                                what, SAN(v));
        if (r < 0 || u == 0 || u > max)
                return error_at(l, n, "'%s' must be between 1 byte and %" PRIu64 " MiB, not '%s'", what,
                                max >> 20, SAN(v));
        *ret = u;
        return 1;
}

/* A list of strings, at most CONFIG_MAX_LIST. Returns 1 and a NULL-terminated (possibly empty) list. */
static int get_strv(Loader *l, const yaml_node_t *n, const char *what, unsigned flags, char ***ret) {
        _cleanup_strv_free_ char **v = NULL;
        size_t k = 0, len;
        int r, ok = 1;

        if (node_is_null(n))
                return 0;
        if (n->type != YAML_SEQUENCE_NODE)
                return error_at(l, n, "'%s' must be a list, not %s", what, node_kind(n));
        len = seq_len(n);
        if (len > CONFIG_MAX_LIST)
                return error_at(l, seq_item(l, n, CONFIG_MAX_LIST),
                                "'%s' has too many items (%zu, at most %d)", what, len, CONFIG_MAX_LIST);
        v = calloc(len + 1, sizeof(char *));
        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < len; i++) {
                const yaml_node_t *item = seq_item(l, n, i);

                if (node_is_null(item)) {
                        r = error_at(l, item, "items of '%s' must not be empty", what);
                        ok = r;
                        continue;
                }
                r = get_string(l, item, what, flags, &v[k]);
                if (fatal(r))
                        return r;
                if (r > 0)
                        k++;
                else
                        ok = r;
        }
        if (ok < 0)
                return -EINVAL;
        *ret = TAKE_PTR(v);
        return 1;
}

/* Walks a mapping against a table of known keys. Unknown keys are warnings; a known key twice is an error
 * unless the key is KEY_REPEATABLE. `section` names the mapping in messages (NULL: the top level). */
static int walk_mapping(Loader *l, const yaml_node_t *map, const char *section, const KeyHandler *table,
                        size_t n_table, void *userdata) {
        unsigned first_line[WALK_MAX_KEYS] = {};
        int r;

        assert(n_table <= WALK_MAX_KEYS);
        if (node_is_null(map))
                return 0;
        if (map->type != YAML_MAPPING_NODE)
                return error_at(l, map, "'%s' must be a mapping, not %s", strempty(section), node_kind(map));

        for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
                const yaml_node_t *key = node_get(l, p->key), *value = node_get(l, p->value);
                const KeyHandler *h = NULL;
                const char *name;
                size_t i;

                if (key->type != YAML_SCALAR_NODE) {
                        r = error_at(l, key, "keys must be strings, not %s", node_kind(key));
                        if (fatal(r))
                                return r;
                        continue;
                }
                name = scalar(key);
                for (i = 0; i < n_table; i++)
                        if (streq(table[i].name, name)) {
                                h = &table[i];
                                break;
                        }
                if (!h) {
                        if (section)
                                r = warning_at(l, key, "unknown key '%s' in '%s', ignoring", SAN(name),
                                               section);
                        else
                                r = warning_at(l, key, "unknown top-level key '%s', ignoring", SAN(name));
                        if (fatal(r))
                                return r;
                        continue;
                }
                if (first_line[i] > 0 && !(h->flags & KEY_REPEATABLE)) {
                        r = error_at(l, key, "duplicate key '%s' (first at line %u)", h->name,
                                     first_line[i]);
                        if (fatal(r))
                                return r;
                        continue;
                }
                if (first_line[i] == 0)
                        first_line[i] = (unsigned) key->start_mark.line + 1;
                r = h->parse(l, h, key, value, userdata);
                if (fatal(r))
                        return r;
        }
        return 0;
}

/* ---- Rules (os-proc-regex) ---- */

typedef struct RuleCtx {
        ConfigRule *rule;
        const yaml_node_t *rewrite_node;
} RuleCtx;

static size_t utf8_chars(const char *s, size_t n) {
        size_t c = 0;

        for (size_t i = 0; i < n && s[i]; i++)
                if (((unsigned char) s[i] & 0xc0) != 0x80)
                        c++;
        return c;
}

/* The column of a regex error: exact when the scalar is on one line and its source text is the value
 * itself (plain, or quoted without escapes); else the start of the value. libyaml counts columns and
 * indexes in characters, PCRE2 offsets are in bytes. */
static unsigned regex_error_column(const yaml_node_t *n, const char *pattern, size_t offset) {
        unsigned column = (unsigned) n->start_mark.column + 1;
        size_t source = n->end_mark.index - n->start_mark.index;
        size_t chars = utf8_chars(pattern, SIZE_MAX);
        size_t quotes;

        switch (n->data.scalar.style) {
        case YAML_PLAIN_SCALAR_STYLE:
                quotes = 0;
                break;
        case YAML_SINGLE_QUOTED_SCALAR_STYLE:
        case YAML_DOUBLE_QUOTED_SCALAR_STYLE:
                quotes = 1;
                break;
        default:
                return column;
        }
        if (n->start_mark.line != n->end_mark.line || source != chars + 2 * quotes)
                return column;
        return column + (unsigned) (quotes + utf8_chars(pattern, offset));
}

static int rule_key(Loader *l, const KeyHandler *h, const yaml_node_t *key, const yaml_node_t *value,
                    void *userdata) {
        RuleCtx *ctx = userdata;
        ConfigRule *rule = ctx->rule;
        const char *v;
        int r, t;

        if (streq(h->name, "match-regex")) {
                _cleanup_pcre2_code_ pcre2_code *code = NULL;
                char errbuf[256];
                size_t offset = 0;

                r = get_string_replace(l, value, h->name, STR_EMPTY_IS_DEFAULT, &rule->match_regex);
                if (r <= 0)
                        return r;
                if (regex_compile(rule->match_regex, &code, errbuf, sizeof(errbuf), &offset) < 0)
                        return diags_add(l->diags, CONFIG_DIAG_ERROR, (unsigned) value->start_mark.line + 1,
                                         regex_error_column(value, rule->match_regex, offset),
                                         "invalid regex '%s': %s (at offset %zu)", SAN(rule->match_regex),
                                         errbuf, offset);
                return 0;
        }
        if (streq(h->name, "rewrite-name")) {
                ctx->rewrite_node = value;
                return get_string_replace(l, value, h->name, STR_EMPTY_IS_DEFAULT, &rule->rewrite_name);
        }

        r = get_scalar(l, value, h->name, "a string", &v);
        if (r <= 0 || isempty(v))
                return r;
        if (streq(h->name, "match-type")) {
                t = match_type_from_string(v);
                if (t < 0)
                        return error_at(l, value,
                                        "unknown match-type '%s' (expected process_name, cmdline, "
                                        "parent_process_name or tag)",
                                        SAN(v));
                rule->match_type = (MatchType) t;
        } else {
                t = rule_action_from_string(v);
                if (t < 0)
                        return error_at(l, value, "unknown action '%s' (expected accept or drop)", SAN(v));
                rule->action = (RuleAction) t;
        }
        return 1;
}

static const KeyHandler rule_keys[] = {
        { .name = "match-regex", .parse = rule_key },
        { .name = "match-type", .parse = rule_key },
        { .name = "action", .parse = rule_key },
        { .name = "rewrite-name", .parse = rule_key },
};

static int parse_rules(Loader *l, const yaml_node_t *v, Config *c) {
        const char *what = config_key_to_string(CONFIG_KEY_REGEX);
        size_t n;
        int r;

        if (node_is_null(v))
                return 0;
        if (v->type != YAML_SEQUENCE_NODE)
                return error_at(l, v, "'%s' must be a list of rules, not %s", what, node_kind(v));
        n = seq_len(v);
        if (n > CONFIG_MAX_RULES) {
                r = error_at(l, seq_item(l, v, CONFIG_MAX_RULES), "too many rules in '%s' (%zu, at most %d)",
                             what, n, CONFIG_MAX_RULES);
                if (fatal(r))
                        return r;
                n = CONFIG_MAX_RULES;
        }
        if (n == 0)
                return 0;
        c->rules = calloc(n, sizeof(ConfigRule));
        if (!c->rules)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const yaml_node_t *item = seq_item(l, v, i);
                RuleCtx ctx = { .rule = &c->rules[c->n_rules++] };

                *ctx.rule = (ConfigRule) {
                        .match_type = MATCH_PROCESS_NAME,
                        .action = ACTION_ACCEPT,
                        .line = (unsigned) item->start_mark.line + 1,
                        .column = (unsigned) item->start_mark.column + 1,
                };
                if (item->type != YAML_MAPPING_NODE) {
                        r = error_at(l, item,
                                     "a rule must be a mapping (match-regex, match-type, action, "
                                     "rewrite-name), not %s",
                                     node_kind(item));
                        if (fatal(r))
                                return r;
                        continue;
                }
                r = walk_mapping(l, item, "os-proc-regex rule", rule_keys, ELEMENTSOF(rule_keys), &ctx);
                if (fatal(r))
                        return r;
                if (ctx.rule->match_type == MATCH_PARENT_PROCESS_NAME && !isempty(ctx.rule->rewrite_name)) {
                        r = warning_at(l, ctx.rewrite_node,
                                       "'rewrite-name' is ignored with match-type parent_process_name");
                        if (fatal(r))
                                return r;
                }
        }
        return 0;
}

/* ---- The seed's keys (top level or static_config) ---- */

static int parse_tag_exec(Loader *l, const yaml_node_t *v, Config *c) {
        const char *what = config_key_to_string(CONFIG_KEY_TAG_EXEC);
        char **argv = NULL;
        int r;

        if (v->type == YAML_SCALAR_NODE && !node_is_null(v))
                return error_at(l, v,
                                "'%s' must be a list of arguments such as ['cat', '/tmp/tag.yaml'], not a "
                                "string: the command runs without a shell",
                                what);
        r = get_strv(l, v, what, STR_ALLOW_EMPTY, &argv);
        if (r <= 0)
                return r;
        if (argv[0] && isempty(argv[0])) {
                strv_free(argv);
                return error_at(l, seq_item(l, v, 0), "the command of '%s' must not be empty", what);
        }
        strv_free(c->tag_exec);
        c->tag_exec = argv[0] ? argv : NULL;
        if (!argv[0])
                free(argv);
        return 1;
}

static int parse_seed_value(Loader *l, ConfigKey k, const yaml_node_t *v, Config *c) {
        const char *what = config_key_to_string(k);

        switch (k) {
        case CONFIG_KEY_SYNC_ENABLED:
                return get_bool(l, v, what, &c->sync_enabled);
        case CONFIG_KEY_TAGGED_ONLY:
                return get_bool(l, v, what, &c->tagged_only);
        case CONFIG_KEY_PROC_ROOT:
                return get_string_replace(l, v, what, 0, &c->proc_root);
        case CONFIG_KEY_SOCKET_SYNC_INTERVAL:
                return get_duration(l, v, what, true, &c->socket_sync_interval);
        case CONFIG_KEY_MIN_LIFETIME:
                return get_duration(l, v, what, true, &c->min_lifetime);
        case CONFIG_KEY_TAG_EXEC:
                return parse_tag_exec(l, v, c);
        case CONFIG_KEY_TAG_EXEC_USER:
                return get_string_replace(l, v, what, 0, &c->tag_exec_user);
        case CONFIG_KEY_REGEX:
                return parse_rules(l, v, c);
        default:
                return -EINVAL;
        }
}

static bool streq_ptr(const char *a, const char *b) {
        return a && b ? streq(a, b) : a == b;
}

static bool strv_equal(char **a, char **b) {
        if (!a || !b)
                return a == b;
        for (; *a && *b; a++, b++)
                if (!streq(*a, *b))
                        return false;
        return !*a && !*b;
}

static bool seed_value_equal(ConfigKey k, const Config *a, const Config *b) {
        switch (k) {
        case CONFIG_KEY_SYNC_ENABLED:
                return a->sync_enabled == b->sync_enabled;
        case CONFIG_KEY_TAGGED_ONLY:
                return a->tagged_only == b->tagged_only;
        case CONFIG_KEY_PROC_ROOT:
                return streq(a->proc_root, b->proc_root);
        case CONFIG_KEY_SOCKET_SYNC_INTERVAL:
                return a->socket_sync_interval == b->socket_sync_interval;
        case CONFIG_KEY_MIN_LIFETIME:
                return a->min_lifetime == b->min_lifetime;
        case CONFIG_KEY_TAG_EXEC:
                return strv_equal(a->tag_exec, b->tag_exec);
        case CONFIG_KEY_TAG_EXEC_USER:
                return streq(a->tag_exec_user, b->tag_exec_user);
        case CONFIG_KEY_REGEX:
                if (a->n_rules != b->n_rules)
                        return false;
                for (size_t i = 0; i < a->n_rules; i++) {
                        const ConfigRule *x = &a->rules[i], *y = &b->rules[i];

                        if (!streq_ptr(x->match_regex, y->match_regex) || x->match_type != y->match_type ||
                            x->action != y->action || !streq_ptr(x->rewrite_name, y->rewrite_name))
                                return false;
                }
                return true;
        default:
                return false;
        }
}

static int seed_key(Loader *l, const KeyHandler *h, const yaml_node_t *key, const yaml_node_t *value,
                    void *userdata) {
        ConfigKey k = (ConfigKey) h->id;
        Config *c = l->config;
        int r;

        if (c->origin[k].from_file) {
                _cleanup_(config_freep) Config *other = NULL;

                r = config_new_seed_default(&other);
                if (r < 0)
                        return r;
                r = parse_seed_value(l, k, value, other);
                if (r < 0)
                        return r;
                if (l->seed_failed[k] || seed_value_equal(k, c, other))
                        return 0;
                return error_at(l, key,
                                "'%s' is set again with a different value (first at line %u); static_config "
                                "and the top level must agree",
                                h->name, c->origin[k].line);
        }
        set_origin(l, k, key);
        r = parse_seed_value(l, k, value, c);
        if (r == -EINVAL)
                l->seed_failed[k] = true;
        return r;
}

#define SEED(n, k) { .name = (n), .parse = seed_key, .id = (k), .flags = KEY_REPEATABLE }
#define SEED_KEYS                                                                \
        SEED("os-proc-sync-enabled", CONFIG_KEY_SYNC_ENABLED),                     \
        SEED("os-proc-sync-tagged-only", CONFIG_KEY_TAGGED_ONLY),                  \
        SEED("os-proc-root", CONFIG_KEY_PROC_ROOT),                                \
        SEED("os-proc-socket-sync-interval", CONFIG_KEY_SOCKET_SYNC_INTERVAL),     \
        SEED("os-proc-socket-min-lifetime", CONFIG_KEY_MIN_LIFETIME),              \
        SEED("os-app-tag-exec", CONFIG_KEY_TAG_EXEC),                              \
        SEED("os-app-tag-exec-user", CONFIG_KEY_TAG_EXEC_USER),                    \
        SEED("os-proc-regex", CONFIG_KEY_REGEX)

static const KeyHandler static_config_keys[] = { SEED_KEYS };

/* ---- Sinks (procsync.exporter.sinks) ---- */

enum {
        SINK_KEY_TYPE,
        SINK_KEY_NAME,
        SINK_KEY_PUSH_INTERVAL,
        SINK_KEY_CONTROLLER_IPS,
        SINK_KEY_CONTROLLER_PORT,
        SINK_KEY_AGENT_ID,
        SINK_KEY_AGENT_TYPE,
        SINK_KEY_TEAM_ID,
        SINK_KEY_CTRL_IP,
        SINK_KEY_CTRL_MAC,
        SINK_KEY_URL,
        SINK_KEY_HEADERS,
        SINK_KEY_TIMEOUT,
        SINK_KEY_TLS_VERIFY,
        SINK_KEY_PATH,
};

typedef struct SinkCtx {
        ConfigSink *sink;
        const yaml_node_t *item;
        const yaml_node_t *name_node; /* NULL: the name is derived from the type */
        unsigned present;             /* mask of the SINK_KEY_* given a non-null value, valid or not */
        bool bad_type;
} SinkCtx;

static bool sink_name_valid(const char *s) {
        if (isempty(s) || strlen(s) > CONFIG_MAX_SINK_NAME)
                return false;
        for (; *s; s++)
                if (!isalnum((unsigned char) *s) && !strchr("._-", *s))
                        return false;
        return true;
}

static bool mac_valid(const char *s) {
        if (strlen(s) != 17)
                return false;
        for (size_t i = 0; i < 17; i++)
                if (i % 3 == 2 ? s[i] != ':' : !isxdigit((unsigned char) s[i]))
                        return false;
        return true;
}

static bool ip_valid(const char *s) {
        unsigned char a[16];

        return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

static bool url_valid(const char *s) {
        const char *rest;

        if (strncasecmp(s, "http://", 7) == 0)
                rest = s + 7;
        else if (strncasecmp(s, "https://", 8) == 0)
                rest = s + 8;
        else
                return false;
        if (isempty(rest) || *rest == '/')
                return false;
        for (; *s; s++)
                if ((unsigned char) *s <= ' ' || *s == 0x7f)
                        return false;
        return true;
}

/* RFC 9110 token characters. */
static bool header_name_valid(const char *s, size_t n) {
        if (n == 0)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char) s[i]) && !strchr("!#$%&'*+-.^_`|~", s[i]))
                        return false;
        return true;
}

/* No CR/LF (header injection) and no other control character but TAB. */
static bool header_value_valid(const char *s) {
        for (; *s; s++)
                if (((unsigned char) *s < ' ' && *s != '\t') || *s == 0x7f)
                        return false;
        return true;
}

/* `headers:` as a mapping (name: value) or a list of "Name: value"; stored as "Name: value". */
static int parse_headers(Loader *l, const yaml_node_t *v, ConfigSink *s) {
        _cleanup_strv_free_ char **h = NULL;
        size_t n, k = 0;
        int r, ok = 0;

        if (node_is_null(v))
                return 0;
        if (v->type == YAML_MAPPING_NODE)
                n = (size_t) (v->data.mapping.pairs.top - v->data.mapping.pairs.start);
        else if (v->type == YAML_SEQUENCE_NODE)
                n = seq_len(v);
        else
                return error_at(l, v,
                                "'headers' must be a mapping of name: value or a list of \"Name: value\"");
        if (n > CONFIG_MAX_LIST)
                return error_at(l, v, "'headers' has too many items (%zu, at most %d)", n, CONFIG_MAX_LIST);
        h = calloc(n + 1, sizeof(char *));
        if (!h)
                return -ENOMEM;

        for (size_t i = 0; i < n; i++) {
                const yaml_node_t *name_node, *value_node;
                const char *name = NULL, *value = "", *colon;
                size_t name_len;

                if (v->type == YAML_MAPPING_NODE) {
                        name_node = node_get(l, v->data.mapping.pairs.start[i].key);
                        value_node = node_get(l, v->data.mapping.pairs.start[i].value);
                        r = get_scalar(l, name_node, "headers", "a header name", &name);
                        if (r == 0)
                                r = error_at(l, name_node, "header names must not be empty");
                        if (r > 0)
                                r = get_scalar(l, value_node, "headers", "a header value", &value);
                        if (fatal(r))
                                return r;
                        if (r < 0) {
                                ok = r;
                                continue;
                        }
                        name_len = strlen(name);
                } else {
                        const char *line;

                        name_node = value_node = seq_item(l, v, i);
                        r = get_scalar(l, name_node, "headers", "a \"Name: value\" string", &line);
                        if (r == 0)
                                r = error_at(l, name_node, "items of 'headers' must not be empty");
                        if (fatal(r))
                                return r;
                        if (r < 0) {
                                ok = r;
                                continue;
                        }
                        colon = strchr(line, ':');
                        if (!colon) {
                                ok = error_at(l, name_node, "header '%s' must be \"Name: value\"",
                                              SAN(line));
                                if (fatal(ok))
                                        return ok;
                                continue;
                        }
                        name = line;
                        name_len = (size_t) (colon - line);
                        value = colon + 1;
                        value += strspn(value, " \t");
                }
                if (!header_name_valid(name, name_len)) {
                        ok = error_at(l, name_node, "invalid header name '%s'", SAN(name));
                        if (fatal(ok))
                                return ok;
                        continue;
                }
                if (!header_value_valid(value)) {
                        ok = error_at(l, value_node,
                                      "the value of header '%.*s' contains a control character",
                                      (int) name_len, name);
                        if (fatal(ok))
                                return ok;
                        continue;
                }
                if (asprintf(&h[k], "%.*s: %s", (int) name_len, name, value) < 0) {
                        h[k] = NULL;
                        return -ENOMEM;
                }
                k++;
        }
        if (ok < 0)
                return -EINVAL;
        strv_free(s->headers);
        s->headers = TAKE_PTR(h);
        return 1;
}

static int sink_key(Loader *l, const KeyHandler *h, const yaml_node_t *key, const yaml_node_t *value,
                    void *userdata) {
        SinkCtx *ctx = userdata;
        ConfigSink *s = ctx->sink;
        uint64_t u;
        char *str = NULL;
        int r;

        if (!(h->sink_types & (1u << s->type)))
                return warning_at(l, key, "'%s' does not apply to sinks of type %s, ignoring", h->name,
                                  sink_type_to_string(s->type));
        if (!node_is_null(value))
                ctx->present |= 1u << h->id;

        switch (h->id) {
        case SINK_KEY_TYPE:
                return 0;
        case SINK_KEY_NAME:
                r = get_string(l, value, h->name, 0, &str);
                if (r <= 0)
                        return r;
                if (!sink_name_valid(str)) {
                        r = error_at(l, value, "sink name '%s' must be 1-%d characters of A-Z a-z 0-9 . _ -",
                                     SAN(str), CONFIG_MAX_SINK_NAME);
                        free(str);
                        return r;
                }
                free(s->name);
                s->name = str;
                ctx->name_node = value;
                return 1;
        case SINK_KEY_PUSH_INTERVAL:
                return get_duration(l, value, h->name, false, &s->push_interval);
        case SINK_KEY_CONTROLLER_IPS: {
                char **ips = NULL;

                r = get_strv(l, value, h->name, 0, &ips);
                if (r <= 0)
                        return r;
                if (!ips[0]) {
                        free(ips);
                        return error_at(l, value, "'%s' must list at least one address", h->name);
                }
                strv_free(s->controller_ips);
                s->controller_ips = ips;
                return 1;
        }
        case SINK_KEY_CONTROLLER_PORT:
                r = get_uint(l, value, h->name, 1, UINT16_MAX, &u);
                if (r > 0)
                        s->controller_port = (uint16_t) u;
                return r;
        case SINK_KEY_AGENT_ID:
        case SINK_KEY_AGENT_TYPE:
                r = get_uint(l, value, h->name, 0, UINT32_MAX, &u);
                if (r > 0)
                        *(h->id == SINK_KEY_AGENT_ID ? &s->agent_id : &s->agent_type) = (uint32_t) u;
                return r;
        case SINK_KEY_TEAM_ID:
                return get_string_replace(l, value, h->name, 0, &s->team_id);
        case SINK_KEY_CTRL_IP:
        case SINK_KEY_CTRL_MAC:
                r = get_string(l, value, h->name, 0, &str);
                if (r <= 0)
                        return r;
                if (h->id == SINK_KEY_CTRL_IP ? !ip_valid(str) : !mac_valid(str)) {
                        r = error_at(l, value, "'%s' is not %s: '%s'", h->name,
                                     h->id == SINK_KEY_CTRL_IP ? "an IPv4 or IPv6 address"
                                                              : "a MAC address like 02:00:00:00:00:01",
                                     SAN(str));
                        free(str);
                        return r;
                }
                if (h->id == SINK_KEY_CTRL_IP) {
                        free(s->ctrl_ip);
                        s->ctrl_ip = str;
                } else {
                        free(s->ctrl_mac);
                        s->ctrl_mac = str;
                }
                return 1;
        case SINK_KEY_URL:
                r = get_string(l, value, h->name, 0, &str);
                if (r <= 0)
                        return r;
                if (!url_valid(str)) {
                        r = error_at(l, value, "'url' must be an http:// or https:// URL, not '%s'",
                                     SAN(str));
                        free(str);
                        return r;
                }
                free(s->url);
                s->url = str;
                return 1;
        case SINK_KEY_HEADERS:
                return parse_headers(l, value, s);
        case SINK_KEY_TIMEOUT:
                return get_duration(l, value, h->name, false, &s->timeout);
        case SINK_KEY_TLS_VERIFY:
                return get_bool(l, value, h->name, &s->tls_verify);
        case SINK_KEY_PATH:
                return get_string_replace(l, value, h->name, 0, &s->path);
        default:
                return -EINVAL;
        }
}

#define SINK_DF (1u << SINK_DEEPFLOW)
#define SINK_HT (1u << SINK_HTTP)
#define SINK_FI (1u << SINK_FILE)
#define SINK(n, k, t) { .name = (n), .parse = sink_key, .id = (k), .sink_types = (t) }
static const KeyHandler sink_keys[] = {
        SINK("type", SINK_KEY_TYPE, SINK_DF | SINK_HT | SINK_FI),
        SINK("name", SINK_KEY_NAME, SINK_DF | SINK_HT | SINK_FI),
        SINK("push_interval", SINK_KEY_PUSH_INTERVAL, SINK_DF | SINK_HT | SINK_FI),
        SINK("controller_ips", SINK_KEY_CONTROLLER_IPS, SINK_DF),
        SINK("controller_port", SINK_KEY_CONTROLLER_PORT, SINK_DF),
        SINK("agent_id", SINK_KEY_AGENT_ID, SINK_DF),
        SINK("agent_type", SINK_KEY_AGENT_TYPE, SINK_DF),
        SINK("team_id", SINK_KEY_TEAM_ID, SINK_DF),
        SINK("ctrl_ip", SINK_KEY_CTRL_IP, SINK_DF),
        SINK("ctrl_mac", SINK_KEY_CTRL_MAC, SINK_DF),
        SINK("url", SINK_KEY_URL, SINK_HT),
        SINK("headers", SINK_KEY_HEADERS, SINK_HT),
        SINK("timeout", SINK_KEY_TIMEOUT, SINK_HT),
        SINK("tls_verify", SINK_KEY_TLS_VERIFY, SINK_HT),
        SINK("path", SINK_KEY_PATH, SINK_FI),
};

/* The required key of each type. When it is present but invalid, that error has been reported already. */
static int sink_check_required(Loader *l, const SinkCtx *ctx) {
        static const struct {
                int key;
                const char *name;
        } required[_SINK_TYPE_MAX] = {
                [SINK_DEEPFLOW] = { SINK_KEY_CONTROLLER_IPS, "controller_ips" },
                [SINK_HTTP] = { SINK_KEY_URL, "url" },
                [SINK_FILE] = { SINK_KEY_PATH, "path" },
        };
        SinkType t = ctx->sink->type;

        if (ctx->present & (1u << required[t].key))
                return 0;
        return error_at(l, ctx->item, "a sink of type %s needs '%s'", sink_type_to_string(t),
                        required[t].name);
}

/* The type decides which keys apply, so it is read first wherever it stands in the mapping. */
static int sink_find_type(Loader *l, const yaml_node_t *item, SinkType *ret) {
        for (yaml_node_pair_t *p = item->data.mapping.pairs.start; p < item->data.mapping.pairs.top; p++) {
                const yaml_node_t *key = node_get(l, p->key), *value = node_get(l, p->value);
                const char *v;
                int r, t;

                if (key->type != YAML_SCALAR_NODE || !streq(scalar(key), "type"))
                        continue;
                r = get_scalar(l, value, "type", "a string", &v);
                if (r == 0)
                        return error_at(l, value, "sink 'type' must not be empty (deepflow, http or file)");
                if (r < 0)
                        return r;
                t = sink_type_from_string(v);
                if (t < 0)
                        return error_at(l, value, "unknown sink type '%s' (expected deepflow, http or file)",
                                        SAN(v));
                *ret = (SinkType) t;
                return 0;
        }
        return error_at(l, item, "a sink needs a 'type' (deepflow, http or file)");
}

/* Unnamed sinks are called after their type, "<type>-<n>" (n counts sinks of that type from 1) when
 * several share it. Names must be unique: they key the per-sink state in state.db. */
static int sinks_name(Loader *l, SinkCtx *ctx, size_t n) {
        unsigned count[_SINK_TYPE_MAX] = {}, seen[_SINK_TYPE_MAX] = {};
        int r;

        for (size_t i = 0; i < n; i++)
                if (!ctx[i].bad_type)
                        count[ctx[i].sink->type]++;
        for (size_t i = 0; i < n; i++) {
                ConfigSink *s = ctx[i].sink;
                const char *type = sink_type_to_string(s->type);

                if (ctx[i].bad_type)
                        continue;
                seen[s->type]++;
                if (s->name)
                        continue;
                if (count[s->type] > 1 ? asprintf(&s->name, "%s-%u", type, seen[s->type]) < 0
                                       : !(s->name = strdup(type))) {
                        s->name = NULL;
                        return -ENOMEM;
                }
        }
        for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < i; j++) {
                        if (!ctx[i].sink->name || !ctx[j].sink->name ||
                            !streq(ctx[i].sink->name, ctx[j].sink->name))
                                continue;
                        r = error_at(l, ctx[i].name_node ?: ctx[i].item,
                                     "sink name '%s' is already used by the sink at line %zu",
                                     ctx[i].sink->name, ctx[j].item->start_mark.line + 1);
                        if (fatal(r))
                                return r;
                        break;
                }
        return 0;
}

static int parse_sinks(Loader *l, const yaml_node_t *v, Config *c) {
        const char *what = config_key_to_string(CONFIG_KEY_SINKS);
        SinkCtx ctx[CONFIG_MAX_SINKS] = {};
        size_t n;
        int r;

        if (node_is_null(v))
                return 0;
        if (v->type != YAML_SEQUENCE_NODE)
                return error_at(l, v, "'%s' must be a list of sinks, not %s", what, node_kind(v));
        n = seq_len(v);
        if (n > CONFIG_MAX_SINKS) {
                r = error_at(l, seq_item(l, v, CONFIG_MAX_SINKS), "too many sinks in '%s' (%zu, at most %d)",
                             what, n, CONFIG_MAX_SINKS);
                if (fatal(r))
                        return r;
                n = CONFIG_MAX_SINKS;
        }
        if (n == 0)
                return 0;
        c->sinks = calloc(n, sizeof(ConfigSink));
        if (!c->sinks)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                ConfigSink *s = &c->sinks[c->n_sinks++];
                SinkType type = SINK_FILE;

                *s = (ConfigSink) {
                        .push_interval = 10 * USEC_PER_SEC,
                        .controller_port = 30035,
                        .agent_type = 3,
                        .timeout = 10 * USEC_PER_SEC,
                        .tls_verify = true,
                };
                ctx[i] = (SinkCtx) { .sink = s, .item = seq_item(l, v, i), .bad_type = true };
                if (ctx[i].item->type != YAML_MAPPING_NODE) {
                        r = error_at(l, ctx[i].item, "a sink must be a mapping with a 'type', not %s",
                                     node_kind(ctx[i].item));
                        if (fatal(r))
                                return r;
                        continue;
                }
                r = sink_find_type(l, ctx[i].item, &type);
                if (fatal(r))
                        return r;
                if (r < 0)
                        continue;
                s->type = type;
                ctx[i].bad_type = false;
                r = walk_mapping(l, ctx[i].item, "sink", sink_keys, ELEMENTSOF(sink_keys), &ctx[i]);
                if (fatal(r))
                        return r;
                r = sink_check_required(l, &ctx[i]);
                if (fatal(r))
                        return r;
        }
        return sinks_name(l, ctx, n);
}

/* ---- Our own section (procsync:) ---- */

/* "unix:PATH", "HOST:PORT" or "[IPV6]:PORT"; an IPv6 address needs its brackets, or the port would be
 * ambiguous. Whether the host resolves is for procsync-api to find out. */
static bool listen_valid(const char *s) {
        const char *colon, *port;
        uint64_t u;

        if (strneq(s, "unix:", 5))
                return s[5] != 0;
        colon = strrchr(s, ':');
        if (!colon || colon == s)
                return false;
        if (s[0] == '[' ? colon[-1] != ']' || colon == s + 2 : memchr(s, ':', (size_t) (colon - s)) != NULL)
                return false;
        port = colon + 1;
        return parse_digits(&port, &u) == 0 && *port == 0 && u > 0 && u <= UINT16_MAX;
}

static int procsync_key(Loader *l, const KeyHandler *h, const yaml_node_t *key, const yaml_node_t *value,
                        void *userdata) {
        Config *c = l->config;
        ConfigKey k = (ConfigKey) h->id;
        const char *what = config_key_to_string(k);
        char **list = NULL;
        int r;

        set_origin(l, k, key);
        switch (k) {
        case CONFIG_KEY_STATE_DIR:
                return get_string_replace(l, value, what, 0, &c->state_dir);
        case CONFIG_KEY_PROCESS_SCAN_INTERVAL:
                return get_duration(l, value, what, false, &c->process_scan_interval);
        case CONFIG_KEY_TAG_EXEC_TIMEOUT:
                return get_duration(l, value, what, false, &c->tag_exec_timeout);
        case CONFIG_KEY_TAG_EXEC_MAX_OUTPUT:
                return get_size(l, value, what, CONFIG_MAX_OUTPUT_SIZE, &c->tag_exec_max_output);
        case CONFIG_KEY_TAG_EXEC_ALLOW_ROOT:
                return get_bool(l, value, what, &c->tag_exec_allow_root);
        case CONFIG_KEY_API_LISTEN:
                r = get_strv(l, value, what, 0, &list);
                if (r <= 0) {
                        if (r == 0)
                                c->origin[k].from_file = false; /* null: keep the default, and let it follow
                                                                 * state_dir */
                        return r;
                }
                for (size_t i = 0; list[i]; i++)
                        if (!listen_valid(list[i]))
                                r = error_at(l, seq_item(l, value, i),
                                             "'%s' must be HOST:PORT, [IPV6]:PORT or unix:PATH, not '%s'",
                                             what, SAN(list[i]));
                if (r < 0) {
                        strv_free(list);
                        return r;
                }
                strv_free(c->api_listen);
                c->api_listen = list;
                return 1;
        case CONFIG_KEY_SINKS:
                return parse_sinks(l, value, c);
        default:
                return -EINVAL;
        }
}

static int section_key(Loader *l, const KeyHandler *h, const yaml_node_t *key, const yaml_node_t *value,
                       void *userdata);

static const KeyHandler api_keys[] = {
        { .name = "listen", .parse = procsync_key, .id = CONFIG_KEY_API_LISTEN },
};
static const KeyHandler tag_exec_keys[] = {
        { .name = "timeout", .parse = procsync_key, .id = CONFIG_KEY_TAG_EXEC_TIMEOUT },
        { .name = "max_output", .parse = procsync_key, .id = CONFIG_KEY_TAG_EXEC_MAX_OUTPUT },
        { .name = "allow_root", .parse = procsync_key, .id = CONFIG_KEY_TAG_EXEC_ALLOW_ROOT },
};
static const KeyHandler exporter_keys[] = {
        { .name = "sinks", .parse = procsync_key, .id = CONFIG_KEY_SINKS },
};
static const KeyHandler procsync_keys[] = {
        { .name = "state_dir", .parse = procsync_key, .id = CONFIG_KEY_STATE_DIR },
        { .name = "process_scan_interval", .parse = procsync_key, .id = CONFIG_KEY_PROCESS_SCAN_INTERVAL },
        { .name = "api", .parse = section_key },
        { .name = "tag_exec", .parse = section_key },
        { .name = "exporter", .parse = section_key },
};
static const KeyHandler top_keys[] = {
        { .name = "static_config", .parse = section_key },
        { .name = "procsync", .parse = section_key },
        SEED_KEYS,
};

/* Mappings that only hold other keys; the section's name is its dotted path. */
static int section_key(Loader *l, const KeyHandler *h, const yaml_node_t *key, const yaml_node_t *value,
                       void *userdata) {
        static const struct {
                const char *name, *path;
                const KeyHandler *table;
                size_t n;
        } sections[] = {
                { "static_config", "static_config", static_config_keys, ELEMENTSOF(static_config_keys) },
                { "procsync", "procsync", procsync_keys, ELEMENTSOF(procsync_keys) },
                { "api", "procsync.api", api_keys, ELEMENTSOF(api_keys) },
                { "tag_exec", "procsync.tag_exec", tag_exec_keys, ELEMENTSOF(tag_exec_keys) },
                { "exporter", "procsync.exporter", exporter_keys, ELEMENTSOF(exporter_keys) },
        };

        for (size_t i = 0; i < ELEMENTSOF(sections); i++)
                if (streq(h->name, sections[i].name))
                        return walk_mapping(l, value, sections[i].path, sections[i].table, sections[i].n,
                                            userdata);
        return -EINVAL;
}

/* ---- Reading the YAML ---- */

/* libyaml's reader reports byte offsets; its scanner and parser report marks. */
static int yaml_problem(Loader *l, const char *buf, size_t len, const yaml_parser_t *p) {
        unsigned line = 1, column = 1;

        if (p->error == YAML_MEMORY_ERROR)
                return -ENOMEM;
        if (p->error == YAML_READER_ERROR) {
                for (size_t i = 0; i < p->problem_offset && i < len; i++)
                        if (buf[i] == '\n') {
                                line++;
                                column = 1;
                        } else if (((unsigned char) buf[i] & 0xc0) != 0x80)
                                column++;
        } else {
                line = (unsigned) p->problem_mark.line + 1;
                column = (unsigned) p->problem_mark.column + 1;
        }
        if (p->context)
                return diags_add(l->diags, CONFIG_DIAG_ERROR, line, column,
                                 "invalid YAML: %s (%s at line %zu)", strempty(p->problem), p->context,
                                 p->context_mark.line + 1);
        return diags_add(l->diags, CONFIG_DIAG_ERROR, line, column, "invalid YAML: %s",
                         p->problem ?: "unknown error");
}

DEFINE_TRIVIAL_CLEANUP_FUNC(yaml_parser_t *, yaml_parser_delete);

/* The event pass: aliases, depth and document count, before any tree is built. Every alias is reported;
 * the pass stops at the first other problem. */
static int check_events(Loader *l, const char *buf, size_t len) {
        yaml_parser_t parser;
        _cleanup_(yaml_parser_deletep) yaml_parser_t *p = NULL;
        unsigned depth = 0, documents = 0;
        int r, ret = 0;

        if (!yaml_parser_initialize(&parser))
                return -ENOMEM;
        p = &parser;
        yaml_parser_set_input_string(p, (const unsigned char *) buf, len);

        for (;;) {
                yaml_event_t e;
                yaml_event_type_t type;

                if (!yaml_parser_parse(p, &e))
                        return yaml_problem(l, buf, len, p);
                type = e.type;
                r = 0;
                switch (type) {
                case YAML_ALIAS_EVENT:
                        r = diags_add(l->diags, CONFIG_DIAG_ERROR, (unsigned) e.start_mark.line + 1,
                                      (unsigned) e.start_mark.column + 1,
                                      "YAML aliases are not supported ('*%s'): write the value out",
                                      SAN((const char *) e.data.alias.anchor));
                        ret = r;
                        r = 0;
                        break;
                case YAML_SEQUENCE_START_EVENT:
                case YAML_MAPPING_START_EVENT:
                        if (++depth > CONFIG_MAX_DEPTH)
                                r = diags_add(l->diags, CONFIG_DIAG_ERROR, (unsigned) e.start_mark.line + 1,
                                              (unsigned) e.start_mark.column + 1,
                                              "nesting is too deep (more than %d levels)", CONFIG_MAX_DEPTH);
                        break;
                case YAML_SEQUENCE_END_EVENT:
                case YAML_MAPPING_END_EVENT:
                        depth--;
                        break;
                case YAML_DOCUMENT_START_EVENT:
                        if (++documents > 1)
                                r = diags_add(l->diags, CONFIG_DIAG_ERROR, (unsigned) e.start_mark.line + 1,
                                              (unsigned) e.start_mark.column + 1,
                                              "only one YAML document is allowed");
                        break;
                default:
                        break;
                }
                yaml_event_delete(&e);
                if (fatal(ret))
                        return ret;
                if (r < 0)
                        return r;
                if (type == YAML_STREAM_END_EVENT)
                        return ret;
        }
}

static int load_document(Loader *l, const char *buf, size_t len) {
        yaml_parser_t parser;
        _cleanup_(yaml_parser_deletep) yaml_parser_t *p = NULL;
        yaml_node_t *root;
        int r = 0;

        if (!yaml_parser_initialize(&parser))
                return -ENOMEM;
        p = &parser;
        yaml_parser_set_input_string(p, (const unsigned char *) buf, len);
        if (!yaml_parser_load(p, &l->doc))
                return yaml_problem(l, buf, len, p);

        root = yaml_document_get_root_node(&l->doc);
        if (root && !node_is_null(root)) {
                if (root->type != YAML_MAPPING_NODE)
                        r = error_at(l, root, "the config must be a mapping, not %s", node_kind(root));
                else
                        r = walk_mapping(l, root, NULL, top_keys, ELEMENTSOF(top_keys), NULL);
        }
        yaml_document_delete(&l->doc);
        return r;
}

int config_load_buffer(const char *path, const char *buf, size_t len, Config **ret, ConfigDiags *diags) {
        _cleanup_(config_freep) Config *c = NULL;
        size_t errors_before;
        Loader l;
        int r;

        if (path && !diags->path) {
                diags->path = strdup(path);
                if (!diags->path)
                        return -ENOMEM;
        }
        errors_before = diags->n_errors;
        if (len > CONFIG_MAX_FILE_SIZE)
                return diags_add(diags, CONFIG_DIAG_ERROR, 0, 0,
                                 "the file is too large (%zu bytes, at most %d)", len, CONFIG_MAX_FILE_SIZE);

        r = config_new_seed_default(&c);
        if (r < 0)
                return r;
        if (path) {
                c->path = strdup(path);
                if (!c->path)
                        return -ENOMEM;
        }
        l = (Loader) { .config = c, .diags = diags };

        r = check_events(&l, buf, len);
        if (fatal(r))
                return r;
        if (diags->n_errors == errors_before) {
                r = load_document(&l, buf, len);
                if (fatal(r))
                        return r;
        }
        if (diags->n_errors > errors_before)
                return -EINVAL;

        /* The default unix: listen address lives in the state directory the file chose. */
        if (c->origin[CONFIG_KEY_STATE_DIR].from_file && api_listen_is_default(c)) {
                strv_free(c->api_listen);
                c->api_listen = NULL;
                r = default_api_listen(c->state_dir, &c->api_listen);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(c);
        return 0;
}

/* Reads at most CONFIG_MAX_FILE_SIZE + 1 bytes, whatever st_size says (the file may change under us). */
static int read_bounded(int fd, char **ret, size_t *ret_size) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, allocated = 0;

        for (;;) {
                ssize_t n;

                if (size == allocated) {
                        size_t a = allocated ? allocated * 2 : 4096;
                        char *b;

                        if (a > CONFIG_MAX_FILE_SIZE + 1)
                                a = CONFIG_MAX_FILE_SIZE + 1;
                        if (a == allocated)
                                break;
                        b = realloc(buf, a);
                        if (!b)
                                return -ENOMEM;
                        buf = b;
                        allocated = a;
                }
                n = read(fd, buf + size, allocated - size);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                size += (size_t) n;
        }
        *ret = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}

/* With missing_ok, a missing file returns -ENOENT without a diagnostic (the default path may be absent). */
static int load_file(const char *path, bool missing_ok, Config **ret, ConfigDiags *diags) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        size_t size = 0;
        int r;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0 && missing_ok && errno == ENOENT)
                return -ENOENT;
        if (!diags->path) {
                diags->path = strdup(path);
                if (!diags->path)
                        return -ENOMEM;
        }
        if (fd < 0) {
                r = -errno;
                if (diags_add(diags, CONFIG_DIAG_ERROR, 0, 0, "cannot open the config file: %s",
                              strerror(-r)) == -ENOMEM)
                        return -ENOMEM;
                return r;
        }
        if (fstat(fd, &st) < 0) {
                r = -errno;
                if (diags_add(diags, CONFIG_DIAG_ERROR, 0, 0, "cannot stat the config file: %s",
                              strerror(-r)) == -ENOMEM)
                        return -ENOMEM;
                return r;
        }
        if (!S_ISREG(st.st_mode))
                return diags_add(diags, CONFIG_DIAG_ERROR, 0, 0, "the config is not a regular file");
        r = read_bounded(fd, &buf, &size);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                if (diags_add(diags, CONFIG_DIAG_ERROR, 0, 0, "cannot read the config file: %s",
                              strerror(-r)) == -ENOMEM)
                        return -ENOMEM;
                return r;
        }
        if (size > CONFIG_MAX_FILE_SIZE) {
                r = diags_add(diags, CONFIG_DIAG_ERROR, 0, 0, "the file is too large (more than %d bytes)",
                              CONFIG_MAX_FILE_SIZE);
                return r == -ENOMEM ? r : -EFBIG;
        }
        return config_load_buffer(path, buf, size, ret, diags);
}

int config_load_file(const char *path, Config **ret, ConfigDiags *diags) {
        return load_file(path, false, ret, diags);
}

int config_load(const char *explicit_path, Config **ret, ConfigDiags *diags) {
        const char *path = explicit_path;
        int r;

        if (isempty(path))
                path = getenv(CONFIG_ENV);
        if (!isempty(path))
                return load_file(path, false, ret, diags);
        r = load_file(CONFIG_DEFAULT_PATH, true, ret, diags);
        if (r == -ENOENT)
                return config_new_default(ret);
        return r;
}
