/* The plumbing shared by procctl's verbs (see ctl.h): dispatch through a table, config loading with the
 * global options applied, JSON output. */
#include "ctl.h"

#include "log.h"

void ctl_usage(FILE *f, const char *prefix, const CtlVerb *table, size_t n) {
        fprintf(f, "Usage: procctl [OPTIONS] %sCOMMAND ...\n\nCommands:\n", prefix);
        for (size_t i = 0; i < n; i++)
                fputs(table[i].help, f);
}

int ctl_dispatch(const char *prefix, const CtlVerb *table, size_t n, const CtlContext *ctx, int argc,
                 char *argv[]) {
        if (argc < 1) {
                log_error("Missing command.");
                ctl_usage(stderr, prefix, table, n);
                return CTL_EXIT_USAGE;
        }
        for (size_t i = 0; i < n; i++)
                if (streq(table[i].name, argv[0]))
                        return table[i].func(ctx, argc, argv);
        log_error("Unknown command '%s%s'.", prefix, argv[0]);
        ctl_usage(stderr, prefix, table, n);
        return CTL_EXIT_USAGE;
}

int ctl_load_config(const CtlContext *ctx, Config **ret) {
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_(config_diags_done) ConfigDiags diags = {};
        int r;

        r = config_load(ctx->config_path, &c, &diags);
        config_diags_print(&diags, stderr);
        if (r == -EINVAL)
                return log_error_errno(r, "The configuration '%s' is invalid.", strempty(diags.path));
        if (r < 0)
                return log_error_errno(r, "Failed to load the configuration: %m");
        if (ctx->state_dir) {
                r = config_set_state_dir(c, ctx->state_dir);
                if (r < 0)
                        return log_error_errno(r, "Failed to apply --state-dir '%s': %m", ctx->state_dir);
        }
        *ret = TAKE_PTR(c);
        return 0;
}

int ctl_option_value(const char *opt, int argc, char *argv[], int *i, const char **ret) {
        size_t n = strlen(opt);

        if (!strneq(argv[*i], opt, n) || (argv[*i][n] != 0 && argv[*i][n] != '='))
                return 1;
        if (argv[*i][n] == '=') {
                *ret = argv[*i] + n + 1;
                return 0;
        }
        if (*i + 1 >= argc) {
                log_error("Option '%s' needs a value.", opt);
                return -EINVAL;
        }
        *ret = argv[++*i];
        return 0;
}

int ctl_print_json(const json_t *v) {
        if (json_dumpf(v, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0 || fputc('\n', stdout) == EOF)
                return log_error_errno(-EIO, "Failed to write JSON to stdout: %m");
        return 0;
}
