/* `procctl processes [--all] [--name NAME] [--tag KEY:VALUE]...`: the synced processes (all scanned ones
 * with --all) as a table, or with --json exactly `GET /v1/processes`'s document: both come from
 * doc_processes(). The cmdline and tags columns are cut to the terminal width. */
#include <stdio.h>

#include "ctl.h"
#include "db.h"
#include "doc-processes.h"
#include "log.h"
#include "table.h"

static int parse_args(int argc, char *argv[], ProcessQuery *q) {
        for (int i = 1; i < argc; i++) {
                const char *v = NULL;
                int r;

                if (streq(argv[i], "--all")) {
                        q->all = true;
                        continue;
                }
                if ((r = ctl_option_value("--name", argc, argv, &i, &v)) <= 0) {
                        if (r < 0)
                                return r;
                        if (isempty(v)) {
                                log_error("--name needs a name.");
                                return -EINVAL;
                        }
                        q->name = v;
                } else if ((r = ctl_option_value("--tag", argc, argv, &i, &v)) <= 0) {
                        if (r < 0)
                                return r;
                        if (q->n_tags >= PROCESS_QUERY_MAX_TAGS) {
                                log_error("More than %d --tag filters.", PROCESS_QUERY_MAX_TAGS);
                                return -EINVAL;
                        }
                        /* argv outlives the query: the filter is cut in place. */
                        if (process_tag_filter_parse((char *) v, &q->tags[q->n_tags]) < 0) {
                                log_error("--tag needs KEY:VALUE or KEY.");
                                return -EINVAL;
                        }
                        q->n_tags++;
                } else {
                        log_error("Unknown argument '%s' for 'processes'.", argv[i]);
                        return -EINVAL;
                }
        }
        return 0;
}

/* "k=v,k2=v2" */
static char *tags_text(const json_t *tags) {
        char *s = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&s, &len);
        const char *k;
        json_t *v;
        bool first = true;

        if (!f)
                return NULL;
        json_object_foreach((json_t *) tags, k, v) {
                fprintf(f, "%s%s=%s", first ? "" : ",", k, strempty(json_string_value(v)));
                first = false;
        }
        if (fclose(f) != 0) {
                free(s);
                return NULL;
        }
        return s;
}

static char *integer_text(const json_t *v) {
        char *s = NULL;

        if (!json_is_integer(v))
                return strdup("-");
        return asprintf(&s, "%lld", (long long) json_integer_value(v)) < 0 ? NULL : s;
}

static int print_table(const json_t *doc, bool all) {
        static const char *const headers[] = {"PID",  "PPID", "USER",   "NAME",   "PROCESS",
                                              "RULE", "TAGS", "ACTION", "REASON", "CMDLINE"};
        _cleanup_(table_freep) Table *t = NULL;
        const json_t *list = json_object_get(doc, "processes");
        const json_t *p;
        size_t i, cmd = ELEMENTSOF(headers) - 1;

        /* Without --all every row is synced: the action/reason columns would say nothing. */
        if (all)
                t = table_new(ELEMENTSOF(headers), headers);
        else {
                static const char *const short_headers[] = {"PID",     "PPID", "USER", "NAME",
                                                            "PROCESS", "RULE", "TAGS", "CMDLINE"};
                t = table_new(ELEMENTSOF(short_headers), short_headers);
                cmd = ELEMENTSOF(short_headers) - 1;
        }
        if (!t)
                return log_error_errno(-ENOMEM, "Out of memory.");
        table_set_shrink_column(t, cmd);
        table_set_shrink_column(t, 6); /* TAGS */

        json_array_foreach(list, i, p) {
                _cleanup_free_ char *pid = integer_text(json_object_get(p, "pid"));
                _cleanup_free_ char *ppid = integer_text(json_object_get(p, "ppid"));
                _cleanup_free_ char *rule = integer_text(json_object_get(p, "rule"));
                _cleanup_free_ char *tags = tags_text(json_object_get(p, "tags"));
                const char *name = json_string_value(json_object_get(p, "name"));
                const char *cells[] = {
                        pid,
                        ppid,
                        json_string_value(json_object_get(p, "user")),
                        name,
                        json_string_value(json_object_get(p, "process_name")),
                        rule,
                        isempty(tags) ? "-" : tags,
                        all ? json_string_value(json_object_get(p, "action")) : NULL,
                        all ? json_string_value(json_object_get(p, "reason")) : NULL,
                        json_string_value(json_object_get(p, "cmdline")),
                };
                const char *short_cells[] = {cells[0], cells[1], cells[2], cells[3],
                                             cells[4], cells[5], cells[6], cells[9]};

                if (!pid || !ppid || !rule || !tags)
                        return log_error_errno(-ENOMEM, "Out of memory.");
                if (table_add_row(t, all ? cells : short_cells) < 0)
                        return log_error_errno(-ENOMEM, "Out of memory.");
        }
        if (table_print(t, stdout, ctl_terminal_width()) < 0)
                return log_error_errno(-ENOMEM, "Out of memory.");
        printf("\n%zu process%s%s (generation %lld)\n", table_n_rows(t), table_n_rows(t) == 1 ? "" : "es",
               all ? " scanned" : " synced",
               (long long) json_integer_value(json_object_get(doc, "generation")));
        return CTL_EXIT_OK;
}

int verb_processes(const CtlContext *ctx, int argc, char *argv[]) {
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_db_ sqlite3 *db = NULL;
        json_auto_t *doc = NULL;
        ProcessQuery q = {};
        int r;

        if (parse_args(argc, argv, &q) < 0)
                return CTL_EXIT_USAGE;
        r = ctl_open_state(ctx, &c, &db);
        if (r < 0)
                return r;
        r = doc_processes(db, &q, &doc);
        if (r < 0)
                return log_error_errno(r, "Failed to read the processes: %m");
        if (ctx->json)
                return ctl_print_json(doc) < 0 ? CTL_EXIT_FAILURE : CTL_EXIT_OK;
        return print_table(doc, q.all);
}
