/* `procctl sockets [--pid N]`: the scanned sockets as a table, or with --json exactly `GET /v1/sockets`'s
 * document (both from doc_sockets()). */
#include <stdio.h>

#include "ctl.h"
#include "db.h"
#include "doc-sockets.h"
#include "log.h"
#include "table.h"

static char *pids_text(const json_t *pids) {
        char *s = NULL;
        size_t len = 0, i;
        FILE *f = open_memstream(&s, &len);
        json_t *v;

        if (!f)
                return NULL;
        json_array_foreach(pids, i, v)
                fprintf(f, "%s%lld", i == 0 ? "" : ",", (long long) json_integer_value(v));
        if (fclose(f) != 0) {
                free(s);
                return NULL;
        }
        return s;
}

int verb_sockets(const CtlContext *ctx, int argc, char *argv[]) {
        static const char *const headers[] = {"PROTO", "STATE", "LOCAL", "REMOTE", "ROLE", "NETNS", "PIDS"};
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_db_ sqlite3 *db = NULL;
        _cleanup_(table_freep) Table *t = NULL;
        json_auto_t *doc = NULL;
        const json_t *s;
        pid_t pid = 0;
        size_t i;
        int r;

        for (int k = 1; k < argc; k++) {
                const char *v = NULL;

                r = ctl_option_value("--pid", argc, argv, &k, &v);
                if (r < 0)
                        return CTL_EXIT_USAGE;
                if (r > 0) {
                        log_error("Unknown argument '%s' for 'sockets'.", argv[k]);
                        return CTL_EXIT_USAGE;
                }
                if (ctl_parse_pid(v, &pid) < 0) {
                        log_error("--pid '%s' is not a process id.", v);
                        return CTL_EXIT_USAGE;
                }
        }

        r = ctl_open_state(ctx, &c, &db);
        if (r < 0)
                return r;
        r = doc_sockets(db, pid, &doc);
        if (r < 0)
                return log_error_errno(r, "Failed to read the sockets: %m");
        if (ctx->json)
                return ctl_print_json(doc) < 0 ? CTL_EXIT_FAILURE : CTL_EXIT_OK;

        t = table_new(ELEMENTSOF(headers), headers);
        if (!t)
                return log_error_errno(-ENOMEM, "Out of memory.");
        json_array_foreach(json_object_get(doc, "sockets"), i, s) {
                _cleanup_free_ char *pids = pids_text(json_object_get(s, "pids")), *netns = NULL;
                const char *cells[ELEMENTSOF(headers)];

                if (!pids || asprintf(&netns, "%lld",
                                      (long long) json_integer_value(json_object_get(s, "netns_id"))) < 0)
                        return log_error_errno(-ENOMEM, "Out of memory.");
                cells[0] = json_string_value(json_object_get(s, "proto"));
                cells[1] = json_string_value(json_object_get(s, "state"));
                cells[2] = json_string_value(json_object_get(s, "local"));
                cells[3] = json_string_value(json_object_get(s, "remote"));
                cells[4] = json_string_value(json_object_get(s, "role"));
                cells[5] = netns;
                cells[6] = pids;
                if (table_add_row(t, cells) < 0)
                        return log_error_errno(-ENOMEM, "Out of memory.");
        }
        table_set_shrink_column(t, ELEMENTSOF(headers) - 1);
        if (table_print(t, stdout, ctl_terminal_width()) < 0)
                return log_error_errno(-ENOMEM, "Out of memory.");
        printf("\n%zu socket%s (generation %lld)\n", table_n_rows(t), table_n_rows(t) == 1 ? "" : "s",
               (long long) json_integer_value(json_object_get(doc, "generation")));
        return CTL_EXIT_OK;
}
