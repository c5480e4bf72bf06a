/* procsync-matcher's cycle. See matcher.h.
 *
 * Order inside a cycle: the tag command runs first, with no transaction open (it may take up to
 * tag_exec.timeout and STYLE.md forbids holding a write lock across it); then the scan is read in one read
 * transaction; then decisions are computed in memory; then one BEGIN IMMEDIATE transaction writes
 * everything including the heartbeat, so readers never see decisions without the generation that
 * announces them.
 *
 * What wakes a cycle (matcher_due): a new scan generation or the periodic cycle (process_scan_interval,
 * which also keeps the tag output and the heartbeat fresh on a quiet host) run the tag command and decide;
 * the moment a too-young process becomes old enough, or a retry after a failed write, only decide again
 * with the tags already at hand. A failed write is retried without running the tag command again for the
 * same scan generation. A wake-up (daemon_wait()) comes after the scanner's commit is visible, so the
 * generation read then is the new one. */
#include "matcher.h"

#include <jansson.h>
#include <sys/param.h>
#include <sys/wait.h>
#include <unistd.h>

#include "db.h"
#include "decide.h"
#include "log.h"
#include "store.h"

static int compile_rules(const Config *c, RuleSet **ret) {
        size_t bad = 0;
        int r;

        r = rule_set_new(c->rules, c->n_rules, ret, &bad);
        if (r == -EINVAL)
                return log_error_errno(r, "Rule %zu ('%s') does not compile", bad,
                                       strempty(c->rules[bad].match_regex));
        if (r < 0)
                return log_error_errno(r, "Cannot compile the rules: %m");
        return 0;
}

int matcher_new(Daemon *d, Matcher **ret) {
        _cleanup_(matcher_freep) Matcher *m = NULL;
        int r;

        m = calloc(1, sizeof(Matcher));
        if (!m)
                return log_error_errno(-ENOMEM, "Out of memory");
        m->daemon = d;
        m->next_eligible_ms = INT64_MAX;
        m->retry_at = USEC_INFINITY;
        m->tags.ok = true;
        m->tags.duration_ms = -1;

        r = compile_rules(d->config, &m->rules);
        if (r < 0)
                return r;
        r = store_read_tags(d->db, &m->tags.good);
        if (r < 0)
                return log_error_errno(r, "Cannot read the last good tag output: %m");
        *ret = TAKE_PTR(m);
        return 0;
}

Matcher *matcher_free(Matcher *m) {
        if (!m)
                return NULL;
        rule_set_free(m->rules);
        tags_done(&m->tags);
        free(m);
        return NULL;
}

int matcher_apply_config(Matcher *m) {
        RuleSet *rs = NULL;
        int r;

        r = compile_rules(m->daemon->config, &rs);
        if (r < 0)
                return r;
        rule_set_free(m->rules);
        m->rules = rs;
        /* The new rules and tag settings apply at once. */
        m->next_full_cycle = 0;
        return 0;
}

/* Children the tag runner could not kill (no CAP_KILL) are reaped here once they exit. The matcher has no
 * other children. */
static void reap_strays(void) {
        while (waitpid(-1, NULL, WNOHANG) > 0)
                ;
}

static char *stats_json(const Decisions *dec, bool changed, uint64_t scan_generation, int64_t tag_ms) {
        json_t *o;
        char *s;

        o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:I, s:I}", "processes",
                      (json_int_t) dec->counts.processes, "synced", (json_int_t) dec->counts.synced,
                      "dropped", (json_int_t) dec->counts.dropped, "kernel_threads",
                      (json_int_t) dec->counts.kernel_threads, "too_young",
                      (json_int_t) dec->counts.too_young, "untagged", (json_int_t) dec->counts.untagged,
                      "tagged", (json_int_t) dec->counts.tagged, "limit_hits",
                      (json_int_t) dec->counts.limit_hits, "changed", changed, "scan_generation",
                      (json_int_t) scan_generation, "tag_exec_ms", (json_int_t) tag_ms);
        if (!o)
                return NULL;
        s = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        return s;
}

static int write_cycle(Matcher *m, const ScanTable *scan, const Decisions *dec, int64_t now_ms, usec_t start,
                       int64_t tag_ms, bool *ret_changed) {
        Daemon *d = m->daemon;
        _cleanup_free_ char *stats = NULL;
        TagExecRow row;
        bool changed = false;
        int r;

        r = db_begin(d->db);
        if (r < 0)
                return r;
        r = store_write_decisions(d->db, dec, now_ms, &changed);
        if (r >= 0 && m->tags.good_changed)
                r = store_write_tags(d->db, m->tags.good);
        if (r >= 0) {
                tags_row(&m->tags, &row);
                r = store_write_tag_exec(d->db, &row);
        }
        if (r >= 0)
                r = store_write_rule_stats(d->db, rule_set_stats(m->rules), rule_set_size(m->rules) + 1);
        if (r >= 0)
                r = store_write_scan_generation(d->db, scan->generation);
        if (r >= 0) {
                stats = stats_json(dec, changed, scan->generation, tag_ms);
                if (!stats)
                        r = -ENOMEM;
        }
        if (r >= 0)
                r = daemon_heartbeat(d, (now_usec(CLOCK_MONOTONIC) - start) / USEC_PER_MSEC,
                                     changed ? d->generation + 1 : d->generation, stats, NULL);
        if (r >= 0)
                r = db_commit(d->db);
        if (r < 0) {
                db_rollback(d->db);
                return r;
        }
        *ret_changed = changed;
        return 0;
}

int matcher_cycle(Matcher *m, bool run_tags) {
        Daemon *d = m->daemon;
        const Config *c = d->config;
        _cleanup_(scan_table_done) ScanTable scan = {};
        _cleanup_(decisions_done) Decisions dec = {};
        usec_t start = now_usec(CLOCK_MONOTONIC);
        int64_t tag_ms = -1, now_ms;
        bool changed = false;
        DecideParams p;
        int r;

        reap_strays();
        if (run_tags) {
                r = tags_run(&m->tags, c);
                if (r < 0)
                        return log_error_errno(-ENOMEM, "Out of memory");
                tag_ms = m->tags.duration_ms;
                m->next_full_cycle = now_usec(CLOCK_MONOTONIC) + c->process_scan_interval;
        }

        r = store_read_scan(d->db, &scan);
        if (r < 0) {
                log_error_errno(r, "Cannot read the scan: %m");
                goto fail;
        }
        if (run_tags)
                m->tags_generation = scan.generation;

        now_ms = now_epoch_ms();
        p = (DecideParams){
                .tagged_only = c->tagged_only,
                .min_lifetime = c->min_lifetime,
                .now_ms = now_ms,
                .now_boot_ms = (int64_t) (now_usec(CLOCK_BOOTTIME) / USEC_PER_MSEC),
                .clk_tck = sysconf(_SC_CLK_TCK),
        };
        r = decide_all(m->rules, &scan, m->tags.good, &p, &dec);
        if (r < 0)
                return log_error_errno(-ENOMEM, "Out of memory");

        r = write_cycle(m, &scan, &dec, now_ms, start, tag_ms, &changed);
        if (r < 0) {
                log_error_errno(r, "Cannot write the decisions: %m");
                goto fail;
        }

        m->tags.good_changed = false;
        m->scan_generation = scan.generation;
        m->decided = true;
        m->next_eligible_ms = dec.next_eligible_ms;
        m->retry_at = USEC_INFINITY;
        log_debug("Cycle: scan generation %llu, %zu processes, %zu synced, %zu too young, %zu untagged, %s",
                  (unsigned long long) scan.generation, dec.counts.processes, dec.counts.synced,
                  dec.counts.too_young, dec.counts.untagged, changed ? "changed" : "unchanged");
        return 0;

fail:
        m->retry_at = now_usec(CLOCK_MONOTONIC) + MATCHER_RETRY_USEC;
        {
                _cleanup_free_ char *e = NULL;

                /* Outside the failed transaction; may fail too (e.g. disk full), which changes nothing. */
                if (asprintf(&e, "cycle failed: %s", strerror(-r)) >= 0)
                        (void) daemon_heartbeat(d, (now_usec(CLOCK_MONOTONIC) - start) / USEC_PER_MSEC,
                                                d->generation, NULL, e);
        }
        return r;
}

MatcherWork matcher_due(Matcher *m) {
        usec_t now = now_usec(CLOCK_MONOTONIC);
        int r;

        r = daemon_read_generation(m->daemon->db, "scanner", &m->seen_generation);
        if (r == -ENOENT)
                m->seen_generation = 0;
        else if (r < 0)
                log_debug_errno(r, "Cannot read the scan generation, ignoring: %m");

        if (m->retry_at != USEC_INFINITY) {
                if (now < m->retry_at)
                        return MATCHER_IDLE;
                /* Retrying a failed write: the tag command already ran for this scan. */
                return m->tags_generation == m->seen_generation ? MATCHER_DECIDE : MATCHER_FULL_CYCLE;
        }
        if (!m->decided || m->seen_generation != m->scan_generation || now >= m->next_full_cycle)
                return MATCHER_FULL_CYCLE;
        if (now_epoch_ms() >= m->next_eligible_ms)
                return MATCHER_DECIDE;
        return MATCHER_IDLE;
}

usec_t matcher_timeout(const Matcher *m) {
        usec_t now = now_usec(CLOCK_MONOTONIC), t = USEC_INFINITY;
        int64_t now_ms;

        if (m->retry_at != USEC_INFINITY)
                return m->retry_at > now ? m->retry_at - now : 0;
        if (m->next_full_cycle != USEC_INFINITY)
                t = m->next_full_cycle > now ? m->next_full_cycle - now : 0;
        now_ms = now_epoch_ms();
        if (m->next_eligible_ms != INT64_MAX)
                t = MIN(t, m->next_eligible_ms > now_ms
                                   ? (usec_t) (m->next_eligible_ms - now_ms) * USEC_PER_MSEC
                                   : 0);
        return t;
}
