/* procctl: the command-line interface of procsync (DESIGN.md "procctl").
 *
 * main() only separates the global options (-c, --state-dir, --json, --help, --version), which may stand
 * anywhere on the command line, from the verb and its own arguments, then dispatches through the verb
 * table. Verbs live in their own files (ctl.h explains how to add one); options a verb knows (--all,
 * --pid N) are left in place for it. */
#include <stdio.h>

#include "ctl.h"
#include "log.h"

static const CtlVerb verbs[] = {
        { "status", verb_status,
          "  status                   Daemons, counts, tag command and sinks at a glance (exit 1: unhealthy)\n" },
        { "processes", verb_processes,
          "  processes [--all] [--name NAME] [--tag KEY:VALUE]...\n"
          "                           The synced processes (--all: every scanned one, with action and reason)\n" },
        { "sockets", verb_sockets, "  sockets [--pid N]        The scanned sockets and their processes\n" },
        { "config", verb_config,
          "  config check [FILE]      Check a config file; print problems as FILE:LINE:COL: message\n"
          "  config show              The effective config, and where each value comes from\n" },
        { "rules", verb_rules,
          "  rules list               The rules of the config file, in order (first match decides)\n"
          "  rules test --pid N | --name X [--cmdline S] [--parent P]... [--tag K=V]...\n"
          "                           Which rule decides a process, its action and its name\n" },
        { "reload", verb_reload,
          "  reload [--timeout 5s]    Have the daemons reload the config file (SIGHUP); say who reloaded\n"
          "                           and who kept the old config\n" },
        { "run", verb_run,
          "  run [--bin-dir DIR]      Run the four daemons in the foreground, restart one that dies;\n"
          "                           Ctrl-C stops them. Binaries: DIR, $PROCSYNC_LIBEXEC_DIR, the\n"
          "                           build tree procctl is in, or the install dirs\n" },
};

static void help(FILE *f) {
        ctl_usage(f, "", verbs, ELEMENTSOF(verbs));
        fprintf(f,
                "\nOptions (anywhere on the command line):\n"
                "  -c, --config FILE        Config file (else $%s, else %s)\n"
                "      --state-dir DIR      State directory (overrides procsync.state_dir)\n"
                "      --json               Print JSON, the same document as the REST API\n"
                "  -h, --help               Show this help\n"
                "      --version            Show the version\n",
                CONFIG_ENV, CONFIG_DEFAULT_PATH);
}

/* Takes an option's argument from "--opt=ARG", "-cARG" or the next word. */
static int option_argument(const char *opt, char *argv[], int argc, int *i, size_t prefix_len,
                           const char **ret) {
        const char *a = argv[*i] + prefix_len;

        if (*a == '=' && strneq(argv[*i], "--", 2))
                a++;
        else if (!*a) {
                if (*i + 1 >= argc) {
                        log_error("Option '%s' needs an argument.", opt);
                        return -EINVAL;
                }
                a = argv[++*i];
        }
        if (!*a) {
                log_error("Option '%s' needs a non-empty argument.", opt);
                return -EINVAL;
        }
        *ret = a;
        return 0;
}

typedef enum Action {
        ACTION_RUN,
        ACTION_HELP,
        ACTION_VERSION,
} Action;

/* Moves the global options out of argv; everything else (the verb, its arguments and options, anything
 * after "--") stays in order in *ret_argv. */
static int parse_global_options(int argc, char *argv[], CtlContext *ctx, Action *ret_action,
                                char ***ret_argv, int *ret_argc) {
        _cleanup_free_ char **rest = NULL;
        Action action = ACTION_RUN;
        int n = 0;

        rest = calloc((size_t) argc + 1, sizeof(char *));
        if (!rest)
                return log_error_errno(-ENOMEM, "Out of memory.");

        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                int r = 0;

                if (streq(a, "--")) {
                        while (++i < argc)
                                rest[n++] = argv[i];
                        break;
                }
                if (streq(a, "-c") || (strneq(a, "-c", 2) && a[2] != '-'))
                        r = option_argument("-c", argv, argc, &i, 2, &ctx->config_path);
                else if (streq(a, "--config") || strneq(a, "--config=", 9))
                        r = option_argument("--config", argv, argc, &i, 8, &ctx->config_path);
                else if (streq(a, "--state-dir") || strneq(a, "--state-dir=", 12))
                        r = option_argument("--state-dir", argv, argc, &i, 11, &ctx->state_dir);
                else if (streq(a, "--json"))
                        ctx->json = true;
                else if (streq(a, "-h") || streq(a, "--help"))
                        action = ACTION_HELP;
                else if (streq(a, "--version"))
                        action = action == ACTION_HELP ? action : ACTION_VERSION;
                else
                        rest[n++] = argv[i];
                if (r < 0)
                        return r;
        }
        *ret_action = action;
        *ret_argv = TAKE_PTR(rest);
        *ret_argc = n;
        return 0;
}

int main(int argc, char *argv[]) {
        _cleanup_free_ char **rest = NULL;
        CtlContext ctx = {};
        Action action = ACTION_RUN;
        int n = 0, r;

        log_setup("procctl");

        r = parse_global_options(argc, argv, &ctx, &action, &rest, &n);
        if (r == -ENOMEM)
                return CTL_EXIT_FAILURE;
        if (r < 0) {
                help(stderr);
                return CTL_EXIT_USAGE;
        }
        if (action == ACTION_HELP) {
                help(stdout);
                return CTL_EXIT_OK;
        }
        if (action == ACTION_VERSION) {
                printf("procctl %s\n", PROCSYNC_VERSION);
                return CTL_EXIT_OK;
        }
        if (n == 0) {
                log_error("Missing command.");
                help(stderr);
                return CTL_EXIT_USAGE;
        }

        r = ctl_dispatch("", verbs, ELEMENTSOF(verbs), &ctx, n, rest);
        return r < 0 ? CTL_EXIT_FAILURE : r;
}
