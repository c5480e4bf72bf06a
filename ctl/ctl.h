/* procctl's shared plumbing: the context every verb receives, the verb table, and the helpers every verb
 * uses the same way (config loading, JSON output).
 *
 * A verb family lives in its own file (verb-config.c; later verb-status.c, verb-processes.c, ...), declares
 * its entry point below and is one line in procctl.c's table. A family with sub-verbs ("config check",
 * "rules test") dispatches through ctl_dispatch() with its own small table. */
#pragma once

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "config.h"

/* procctl's exit codes. */
enum {
        CTL_EXIT_OK = 0,
        CTL_EXIT_FAILURE = 1, /* the operation failed, or `config check` found errors */
        CTL_EXIT_USAGE = 2,   /* bad command line */
};

/* The global options, accepted anywhere on the command line. */
typedef struct CtlContext {
        const char *config_path; /* -c FILE, or NULL for the lookup order */
        const char *state_dir;   /* --state-dir DIR, or NULL for the config's */
        bool json;               /* --json: print the REST API's JSON document */
} CtlContext;

/* argv[0] is the verb's own name and argv holds only what the global options left. Returns an exit code
 * (CTL_EXIT_*), or a negative errno once the error has been logged (procctl exits 1). */
typedef int (*CtlVerbFunc)(const CtlContext *ctx, int argc, char *argv[]);

typedef struct CtlVerb {
        const char *name;
        CtlVerbFunc func;
        const char *help; /* lines for --help, each "  verb ARGS   what it does\n" */
} CtlVerb;

/* Prints "Usage: ..." with the table's help. */
void ctl_usage(FILE *f, const char *prefix, const CtlVerb *table, size_t n);

/* Runs the entry of `table` named argv[0]. A missing or unknown verb is an error on stderr followed by the
 * usage, and returns CTL_EXIT_USAGE. `prefix` names the family in messages ("" or "config "). */
int ctl_dispatch(const char *prefix, const CtlVerb *table, size_t n, const CtlContext *ctx, int argc,
                 char *argv[]);

/* Loads the config by the lookup order (-c, $PROCSYNC_CONFIG, /etc/procsync/procsync.yaml, embedded
 * default), prints its diagnostics on stderr, and applies --state-dir. */
int ctl_load_config(const CtlContext *ctx, Config **ret);

/* Takes the value of a verb's option `opt` ("--bin-dir") from "--opt=VALUE" or the next word. Returns 0
 * with *ret set (and *i past the value) when argv[*i] is `opt`, 1 when it is another word, -EINVAL (logged)
 * when the value is missing. */
int ctl_option_value(const char *opt, int argc, char *argv[], int *i, const char **ret);

/* Prints a JSON document on stdout: what --json shows. */
int ctl_print_json(const json_t *v);

/* Loads the config (ctl_load_config()), opens its state.db read-only and begins the read transaction the
 * verb's document is built in (the process exits when done: no explicit end is needed). */
int ctl_open_state(const CtlContext *ctx, Config **ret_config, sqlite3 **ret_db);

/* A pid: decimal, 1..INT32_MAX. */
int ctl_parse_pid(const char *s, pid_t *ret);

/* Verb families, one file each. */
int verb_config(const CtlContext *ctx, int argc, char *argv[]);
int verb_rules(const CtlContext *ctx, int argc, char *argv[]);
int verb_status(const CtlContext *ctx, int argc, char *argv[]);
int verb_processes(const CtlContext *ctx, int argc, char *argv[]);
int verb_sockets(const CtlContext *ctx, int argc, char *argv[]);
int verb_run(const CtlContext *ctx, int argc, char *argv[]);
int verb_reload(const CtlContext *ctx, int argc, char *argv[]);
