/* `procctl config check [FILE]` and `procctl config show`.
 *
 * check loads a file and prints every diagnostic as FILE:LINE:COL: level: message on stderr (exit 1 on any
 * error, 0 otherwise; warnings do not fail). show prints the effective config; its human form is rendered
 * from config_to_json(), the document --json prints and `GET /v1/config` answers, so the three never
 * disagree. */
#include "config-json.h"
#include "ctl.h"
#include "log.h"

static int reject_extra(const char *verb, int argc, char *argv[], int max_args) {
        for (int i = 1; i < argc; i++)
                if (argv[i][0] == '-' && argv[i][1]) {
                        log_error("Unknown option '%s' for 'config %s'.", argv[i], verb);
                        return CTL_EXIT_USAGE;
                }
        if (argc - 1 > max_args) {
                log_error("Too many arguments for 'config %s'.", verb);
                return CTL_EXIT_USAGE;
        }
        return 0;
}

static int config_check(const CtlContext *ctx, int argc, char *argv[]) {
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_(config_diags_done) ConfigDiags diags = {};
        size_t n_warnings;
        int r;

        r = reject_extra("check", argc, argv, 1);
        if (r != 0)
                return r;

        if (argc > 1)
                r = config_load_file(argv[1], &c, &diags);
        else
                r = config_load(ctx->config_path, &c, &diags);
        if (r == -ENOMEM)
                return log_error_errno(r, "Out of memory.");

        if (ctx->json) {
                json_auto_t *j = NULL;
                int k;

                k = config_diags_to_json(&diags, &j);
                if (k < 0)
                        return log_error_errno(k, "Failed to build JSON: %m");
                k = ctl_print_json(j);
                if (k < 0)
                        return k;
                return r < 0 ? CTL_EXIT_FAILURE : CTL_EXIT_OK;
        }

        config_diags_print(&diags, stderr);
        if (r < 0)
                return CTL_EXIT_FAILURE;

        n_warnings = diags.n_items - diags.n_errors;
        if (!c->path)
                printf("No config file ($%s is unset and %s does not exist): the embedded default "
                       "applies.\n",
                       CONFIG_ENV, CONFIG_DEFAULT_PATH);
        else
                printf("%s: valid (%zu rule%s, %zu sink%s, %zu warning%s)\n", c->path, c->n_rules,
                       c->n_rules == 1 ? "" : "s", c->n_sinks, c->n_sinks == 1 ? "" : "s", n_warnings,
                       n_warnings == 1 ? "" : "s");
        return CTL_EXIT_OK;
}

/* Strings print bare, everything else as compact JSON. */
static void print_value(const json_t *v) {
        _cleanup_free_ char *s = NULL;

        if (json_is_string(v)) {
                fputs(json_string_value(v), stdout);
                return;
        }
        s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
        fputs(strempty(s), stdout);
}

static int config_show(const CtlContext *ctx, int argc, char *argv[]) {
        _cleanup_(config_freep) Config *c = NULL;
        json_auto_t *j = NULL;
        json_t *keys;
        int r;

        r = reject_extra("show", argc, argv, 0);
        if (r != 0)
                return r;
        r = ctl_load_config(ctx, &c);
        if (r < 0)
                return r;
        r = config_to_json(c, &j);
        if (r < 0)
                return log_error_errno(r, "Failed to build JSON: %m");
        if (ctx->json)
                return ctl_print_json(j);

        printf("# %s\n", c->path ?: "embedded default (no config file)");
        keys = json_object_get(j, "keys");
        for (ConfigKey k = 0; k < _CONFIG_KEY_MAX; k++) {
                const json_t *entry = json_object_get(keys, config_key_to_string(k));
                const json_t *value = json_object_get(entry, "value");
                const char *origin = json_string_value(json_object_get(entry, "origin"));
                bool items = json_is_array(value) && json_is_object(json_array_get(value, 0));

                printf("%-31s ", config_key_to_string(k));
                if (items)
                        printf("%zu item%s", json_array_size(value), json_array_size(value) == 1 ? "" : "s");
                else
                        print_value(value);
                printf(" (%s)\n", strempty(origin));
                if (items) {
                        size_t i;
                        const json_t *item;

                        json_array_foreach(value, i, item) {
                                printf("    - ");
                                print_value(item);
                                putchar('\n');
                        }
                }
        }
        return CTL_EXIT_OK;
}

static const CtlVerb config_verbs[] = {
        { "check", config_check, "  config check [FILE]      Check a config file\n" },
        { "show", config_show, "  config show [--json]     The effective config and each value's origin\n" },
};

int verb_config(const CtlContext *ctx, int argc, char *argv[]) {
        return ctl_dispatch("config ", config_verbs, ELEMENTSOF(config_verbs), ctx, argc - 1, argv + 1);
}
