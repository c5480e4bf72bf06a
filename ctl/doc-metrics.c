/* See doc-metrics.h. The text is written with stdio into an open_memstream() buffer, family by family,
 * from the same read transaction the caller holds, so the numbers of one scrape belong together. Every
 * family's HELP and TYPE come from one table so a family can never appear without them. */
#include "doc-metrics.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>

#include "daemon.h"
#include "doc-db.h"
#include "doc-status.h"

typedef struct Family {
        const char *name;
        const char *type;
        const char *help;
} Family;

static void family_header(FILE *f, const Family *fam) {
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", fam->name, fam->help, fam->name, fam->type);
}

char *metrics_tag_label(const char *key) {
        char *s = NULL;

        if (asprintf(&s, "os_app_%s", key) < 0)
                return NULL;
        for (char *p = s + strlen("os_app_"); *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                      *p == '_'))
                        *p = '_';
        return s;
}

int metrics_write_label_value(FILE *f, const char *value) {
        _cleanup_free_ char *fixed = doc_utf8_repair(value);

        if (!fixed)
                return -ENOMEM;
        for (const char *p = fixed; *p; p++)
                switch (*p) {
                case '\\':
                        fputs("\\\\", f);
                        break;
                case '"':
                        fputs("\\\"", f);
                        break;
                case '\n':
                        fputs("\\n", f);
                        break;
                default:
                        fputc(*p, f);
                }
        return 0;
}

static int write_label(FILE *f, bool first, const char *name, const char *value) {
        fprintf(f, "%s%s=\"", first ? "" : ",", name);
        if (metrics_write_label_value(f, value) < 0)
                return -ENOMEM;
        fputc('"', f);
        return 0;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* The labels of one process's tags: sorted keys, sanitized, duplicates after sanitizing dropped. */
static int write_tag_labels(FILE *f, const json_t *tags) {
        _cleanup_free_ const char **keys = NULL;
        _cleanup_free_ char *prev = NULL;
        const char *k;
        json_t *v;
        size_t n = 0;

        keys = calloc(json_object_size(tags) + 1, sizeof(char *));
        if (!keys)
                return -ENOMEM;
        json_object_foreach((json_t *) tags, k, v) {
                if (json_is_string(v))
                        keys[n++] = k;
        }
        qsort(keys, n, sizeof(char *), cmp_str);

        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *label = metrics_tag_label(keys[i]);

                if (!label)
                        return -ENOMEM;
                if (prev && streq(prev, label))
                        continue;
                if (write_label(f, false, label, json_string_value(json_object_get(tags, keys[i]))) < 0)
                        return -ENOMEM;
                free(prev);
                prev = TAKE_PTR(label);
        }
        return 0;
}

static int process_info(FILE *f, sqlite3 *db) {
        static const Family fam = {
                "procsync_process_info", "gauge",
                "A synced process: its name, pid, kernel comm and business tags (os_app_<key>)."};
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int rc, r;

        r = db_prepare(db,
                       "SELECT d.name, p.pid, p.comm, d.tags FROM match_decisions d "
                       "JOIN scan_processes p ON p.pid = d.pid AND p.start_ticks = d.start_ticks "
                       "WHERE d.synced = 1 ORDER BY p.pid",
                       &st);
        if (r < 0)
                return r;
        family_header(f, &fam);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                json_auto_t *tags = doc_column_json(st, 3);
                char pid[32];

                snprintf(pid, sizeof(pid), "%" PRIi64, (int64_t) sqlite3_column_int64(st, 1));
                fputs(fam.name, f);
                fputc('{', f);
                r = write_label(f, true, "name", doc_column_text(st, 0));
                r = r ?: write_label(f, false, "pid", pid);
                r = r ?: write_label(f, false, "process_name", doc_column_text(st, 2));
                if (r == 0 && json_is_object(tags))
                        r = write_tag_labels(f, tags);
                if (r < 0)
                        return r;
                fputs("} 1\n", f);
        }
        return rc == SQLITE_DONE ? 0 : doc_sqlite_error(rc);
}

/* A family whose samples come from one query: rows of (label values..., value). `labels` names the label
 * columns (NULL-terminated); `scale` divides the value (1000 turns ms into seconds). */
static int query_family(FILE *f, sqlite3 *db, const Family *fam, const char *const *labels, double scale,
                        const char *sql) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        size_t n_labels = 0;
        int rc, r;

        while (labels && labels[n_labels])
                n_labels++;
        r = db_prepare(db, sql, &st);
        if (r < 0)
                return r;
        family_header(f, fam);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                int vcol = (int) n_labels;

                if (sqlite3_column_type(st, vcol) == SQLITE_NULL)
                        continue;
                fputs(fam->name, f);
                if (n_labels > 0) {
                        fputc('{', f);
                        for (size_t i = 0; i < n_labels; i++) {
                                r = write_label(f, i == 0, labels[i], doc_column_text(st, (int) i));
                                if (r < 0)
                                        return r;
                        }
                        fputc('}', f);
                }
                if (scale == 1)
                        fprintf(f, " %" PRIi64 "\n", (int64_t) sqlite3_column_int64(st, vcol));
                else
                        fprintf(f, " %.3f\n", (double) sqlite3_column_int64(st, vcol) / scale);
        }
        return rc == SQLITE_DONE ? 0 : doc_sqlite_error(rc);
}

static int daemon_up(FILE *f, sqlite3 *db, const Config *c, int64_t now_ms) {
        static const Family fam = {"procsync_daemon_up", "gauge",
                                   "1 when the daemon's pid runs with the start time of its heartbeat row."};
        static const Family fresh_fam = {"procsync_daemon_fresh", "gauge",
                                         "1 when the daemon reported within 3 of its cycles."};
        json_auto_t *status = NULL;
        int r;

        r = doc_status(db, c, now_ms, &status);
        if (r < 0)
                return r;
        family_header(f, &fam);
        for (DaemonKind k = 0; k < _DAEMON_KIND_MAX; k++)
                fprintf(f, "%s{daemon=\"%s\"} %d\n", fam.name, daemon_kind_to_string(k),
                        json_is_true(json_object_get(json_object_get(status, daemon_kind_to_string(k)),
                                                     "alive")));
        family_header(f, &fresh_fam);
        for (DaemonKind k = 0; k < _DAEMON_KIND_MAX; k++)
                fprintf(f, "%s{daemon=\"%s\"} %d\n", fresh_fam.name, daemon_kind_to_string(k),
                        json_is_true(json_object_get(json_object_get(status, daemon_kind_to_string(k)),
                                                     "fresh")));
        return 0;
}

static const char *const L_DAEMON[] = {"daemon", NULL};
static const char *const L_STATUS[] = {"status", NULL};
static const char *const L_SOCKET[] = {"proto", "state", NULL};
static const char *const L_RULE[] = {"rule", NULL};
static const char *const L_SINK[] = {"sink", "type", NULL};

static const struct {
        Family fam;
        const char *const *labels;
        double scale;
        const char *sql;
} query_families[] = {
        {{"procsync_daemon_last_cycle_duration_seconds", "gauge", "Duration of the daemon's last cycle."},
         L_DAEMON,
         1000,
         "SELECT name, last_cycle_ms FROM daemons ORDER BY name"},
        {{"procsync_daemon_last_cycle_timestamp_seconds", "gauge", "When the daemon last reported (epoch)."},
         L_DAEMON,
         1000,
         "SELECT name, last_cycle_at FROM daemons ORDER BY name"},
        {{"procsync_daemon_generation", "gauge", "The daemon's output generation (bumped when it changed)."},
         L_DAEMON,
         1,
         "SELECT name, generation FROM daemons ORDER BY name"},
        {{"procsync_processes_scanned", "gauge", "Processes in the last scan."},
         NULL,
         1,
         "SELECT count(*) FROM scan_processes"},
        {{"procsync_processes", "gauge", "Decided processes by outcome."},
         L_STATUS,
         1,
         "SELECT 'synced', count(*) FROM match_decisions WHERE synced = 1 "
         "UNION ALL SELECT 'dropped', count(*) FROM match_decisions WHERE action = 'drop' "
         "UNION ALL SELECT 'not_eligible', count(*) FROM match_decisions "
         "WHERE action = 'accept' AND synced = 0"},
        {{"procsync_sockets", "gauge", "Sockets in the last socket scan."},
         L_SOCKET,
         1,
         "SELECT proto, state, count(*) FROM scan_sockets GROUP BY proto, state ORDER BY proto, state"},
        {{"procsync_netns", "gauge", "Network namespaces seen."},
         NULL,
         1,
         "SELECT count(*) FROM scan_netns"},
        {{"procsync_tag_exec_ok", "gauge", "1 when the last run of the tag command succeeded."},
         NULL,
         1,
         "SELECT ok FROM match_tag_exec"},
        {{"procsync_tag_exec_failures_total", "counter",
          "Failed runs of the tag command since the matcher started."},
         NULL,
         1,
         "SELECT failures FROM match_tag_exec"},
        {{"procsync_tag_exec_duration_seconds", "gauge", "Duration of the last run of the tag command."},
         NULL,
         1000,
         "SELECT duration_ms FROM match_tag_exec"},
        {{"procsync_tag_exec_entries", "gauge", "Entries of the last good tag output."},
         NULL,
         1,
         "SELECT entries FROM match_tag_exec"},
        {{"procsync_tag_exec_skipped", "gauge", "Malformed entries skipped in the last good tag output."},
         NULL,
         1,
         "SELECT skipped FROM match_tag_exec"},
        {{"procsync_rule_decisions", "gauge", "Processes each rule decided in the matcher's last pass."},
         L_RULE,
         1,
         "SELECT rule, hits FROM match_rule_stats ORDER BY rule"},
        {{"procsync_rule_limit_hits", "gauge",
          "Regex evaluations stopped by the PCRE2 limits in the last pass."},
         L_RULE,
         1,
         "SELECT rule, limit_hits FROM match_rule_stats ORDER BY rule"},
        {{"procsync_export_version", "gauge", "Version of the synced state the exporter built last."},
         NULL,
         1,
         "SELECT version FROM export_state"},
        {{"procsync_sink_acked_version", "gauge", "Last version the sink acknowledged."},
         L_SINK,
         1,
         "SELECT name, type, acked_version FROM export_sinks ORDER BY name"},
        {{"procsync_sink_in_sync", "gauge", "1 when the sink acknowledged the current version."},
         L_SINK,
         1,
         "SELECT name, type, acked_version = (SELECT version FROM export_state) "
         "FROM export_sinks ORDER BY name"},
        {{"procsync_sink_errors_total", "counter", "Failed deliveries to the sink."},
         L_SINK,
         1,
         "SELECT name, type, errors_total FROM export_sinks ORDER BY name"},
        {{"procsync_sink_consecutive_failures", "gauge", "Failures since the sink's last success."},
         L_SINK,
         1,
         "SELECT name, type, failures FROM export_sinks ORDER BY name"},
        {{"procsync_sink_last_ok_timestamp_seconds", "gauge", "When the sink last acknowledged (epoch)."},
         L_SINK,
         1000,
         "SELECT name, type, last_ok_at FROM export_sinks ORDER BY name"},
};

static void memstream_closep(FILE **f) {
        if (*f)
                (void) fclose(*f);
}

int doc_metrics(sqlite3 *db, const Config *c, int64_t now_ms, char **ret, size_t *ret_len) {
        _cleanup_free_ char *buf = NULL;
        _cleanup_(memstream_closep) FILE *f = NULL;
        size_t len = 0;
        int r;

        f = open_memstream(&buf, &len);
        if (!f)
                return -ENOMEM;

        fputs("# HELP procsync_build_info The procsync version.\n# TYPE procsync_build_info gauge\n", f);
        fprintf(f, "procsync_build_info{version=\"%s\"} 1\n", PROCSYNC_VERSION);
        r = process_info(f, db);
        r = r ?: daemon_up(f, db, c, now_ms);
        for (size_t i = 0; i < ELEMENTSOF(query_families) && r == 0; i++)
                r = query_family(f, db, &query_families[i].fam, query_families[i].labels,
                                 query_families[i].scale, query_families[i].sql);
        if (r < 0)
                return r;
        if (fflush(f) != 0 || ferror(f))
                return -ENOMEM;
        if (fclose(TAKE_PTR(f)) != 0)
                return -ENOMEM;
        *ret = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}
