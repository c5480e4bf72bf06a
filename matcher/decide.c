/* The decision pass. See decide.h.
 *
 * Tags first: a process's tag set is its own tags over its parent's (already resolved) set, so the nearer
 * ancestor's key wins and its own key wins over all. The sets are resolved once per process, walking up to
 * the first ancestor already resolved and then back down, so the whole table costs O(n) and a ppid cycle
 * (a scan taken while pids were reused) ends the walk instead of looping. A process without tags of its
 * own shares its parent's set, and its JSON text: on a typical host a handful of sets serve every process.
 *
 * Then, per process: the rule engine (with the ancestors' comms from the scanned table, never /proc),
 * then min-lifetime, then tagged-only. The uptime is now - start_ticks on CLOCK_BOOTTIME (the kernel's own
 * start, to the clock tick): start_time, stored in whole seconds from a btime that is itself truncated,
 * can be up to 2 s early, and a 3 s min-lifetime would let 1 s old processes through. Should start_time
 * make the process younger still (a row not taken from one /proc read), the younger age counts.
 * The earliest moment a too-young process will be old enough is returned so that the daemon can wake up
 * then even if no new scan comes. */
#include "decide.h"

#include <jansson.h>
#include <sys/param.h>

typedef struct TagSet {
        RuleTag *tags; /* sorted by key */
        size_t n;
        char *json;
} TagSet;

typedef struct Resolver {
        const ScanTable *scan;
        const TagList *own;
        TagSet **sets; /* every set made, owned */
        size_t n_sets;
        const TagSet **set_of; /* per process (index in scan), borrowed from sets */
        TagSet empty;
} Resolver;

void scan_table_done(ScanTable *t) {
        if (!t)
                return;
        for (size_t i = 0; i < t->n; i++) {
                free(t->procs[i].comm);
                free(t->procs[i].cmdline);
        }
        free(t->procs);
        *t = (ScanTable){};
}

static ssize_t scan_index(const ScanTable *t, pid_t pid) {
        size_t lo = 0, hi = t->n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (t->procs[mid].pid == pid)
                        return (ssize_t) mid;
                if (t->procs[mid].pid < pid)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return -1;
}

const ScanProc *scan_table_find(const ScanTable *t, pid_t pid) {
        ssize_t i = scan_index(t, pid);

        return i < 0 ? NULL : &t->procs[i];
}

void decisions_done(Decisions *d) {
        if (!d)
                return;
        for (size_t i = 0; i < d->n; i++) {
                free(d->items[i].name);
                free(d->items[i].tags);
        }
        free(d->items);
        *d = (Decisions){};
}

static void tag_set_free(TagSet *s) {
        if (!s)
                return;
        free(s->tags);
        free(s->json);
        free(s);
}

static void resolver_done(Resolver *r) {
        for (size_t i = 0; i < r->n_sets; i++)
                tag_set_free(r->sets[i]);
        free(r->sets);
        free(r->set_of);
        free(r->empty.json);
}

static int tag_set_json(TagSet *s) {
        json_t *o = json_object();

        if (!o)
                return -ENOMEM;
        for (size_t i = 0; i < s->n; i++) {
                json_t *v = json_string(s->tags[i].value);

                /* The tag parser only passes UTF-8 (libyaml checks its input), so NULL means no memory. */
                if (!v || json_object_set_new(o, s->tags[i].key, v) < 0) {
                        json_decref(o);
                        return -ENOMEM;
                }
        }
        s->json = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(o);
        return s->json ? 0 : -ENOMEM;
}

/* own over base, both sorted by key. */
static int tag_set_merge(Resolver *r, const TagEntry *own, const TagSet *base, const TagSet **ret) {
        TagSet *s, **x;
        size_t i = 0, j = 0;
        int k;

        s = calloc(1, sizeof(TagSet));
        if (!s)
                return -ENOMEM;
        s->tags = calloc(MIN(own->n_tags + base->n, (size_t) DECIDE_MAX_TAGS), sizeof(RuleTag));
        if (!s->tags && own->n_tags + base->n > 0) {
                free(s);
                return -ENOMEM;
        }
        /* Own tags are never dropped (at most TAG_PARSE_MAX_TAGS < DECIDE_MAX_TAGS); inherited ones fill
         * what room is left, in key order. */
        while (i < own->n_tags || j < base->n) {
                int c = i >= own->n_tags ? 1
                        : j >= base->n   ? -1
                                         : strcmp(own->tags[i].key, base->tags[j].key);

                if (c <= 0) {
                        s->tags[s->n++] = (RuleTag){own->tags[i].key, own->tags[i].value};
                        i++;
                        if (c == 0)
                                j++;
                } else {
                        if (s->n + (own->n_tags - i) < DECIDE_MAX_TAGS)
                                s->tags[s->n++] = base->tags[j];
                        j++;
                }
        }

        k = tag_set_json(s);
        if (k < 0) {
                tag_set_free(s);
                return k;
        }
        x = reallocarray(r->sets, r->n_sets + 1, sizeof(TagSet *));
        if (!x) {
                tag_set_free(s);
                return -ENOMEM;
        }
        r->sets = x;
        r->sets[r->n_sets++] = s;
        *ret = s;
        return 0;
}

static ssize_t parent_index(const ScanTable *t, size_t i) {
        const ScanProc *p = &t->procs[i];

        if (p->ppid <= 0 || p->ppid == p->pid)
                return -1;
        return scan_index(t, p->ppid);
}

static int resolve_tags(Resolver *r) {
        const ScanTable *t = r->scan;
        _cleanup_free_ size_t *chain = NULL;
        _cleanup_free_ uint8_t *state = NULL; /* 0 unseen, 1 on the current chain, 2 resolved */
        int k;

        if (t->n == 0)
                return 0;
        r->set_of = calloc(t->n, sizeof(TagSet *));
        chain = calloc(t->n, sizeof(size_t));
        state = calloc(t->n, 1);
        if (!r->set_of || !chain || !state)
                return -ENOMEM;

        for (size_t i = 0; i < t->n; i++) {
                const TagSet *base = &r->empty;
                size_t len = 0;
                ssize_t j = (ssize_t) i;

                while (j >= 0 && state[j] == 0) {
                        state[j] = 1;
                        chain[len++] = (size_t) j;
                        j = parent_index(t, (size_t) j);
                }
                if (j >= 0 && state[j] == 2)
                        base = r->set_of[j];
                /* else: the root, an unknown parent, or a cycle (state 1): nothing to inherit. */

                while (len > 0) {
                        size_t c = chain[--len];
                        const TagEntry *own = tag_list_find(r->own, t->procs[c].pid);

                        if (own && own->n_tags > 0) {
                                k = tag_set_merge(r, own, base, &base);
                                if (k < 0)
                                        return k;
                        }
                        r->set_of[c] = base;
                        state[c] = 2;
                }
        }
        return 0;
}

static int lookup_proc(pid_t pid, void *userdata, pid_t *ret_ppid, const char **ret_comm) {
        const ScanProc *p = scan_table_find(userdata, pid);

        if (!p)
                return -ESRCH;
        *ret_ppid = p->ppid;
        *ret_comm = p->comm;
        return 0;
}

int decide_all(RuleSet *rules, const ScanTable *scan, const TagList *own, const DecideParams *p,
               Decisions *ret) {
        _cleanup_(resolver_done) Resolver res = {.scan = scan, .own = own};
        _cleanup_(decisions_done) Decisions out = {.next_eligible_ms = INT64_MAX};
        int64_t min_lifetime_ms = (int64_t) (p->min_lifetime / USEC_PER_MSEC);
        const char *parents[RULES_MAX_PARENT_DEPTH];
        int k;

        res.empty.json = strdup("{}");
        if (!res.empty.json)
                return -ENOMEM;
        k = resolve_tags(&res);
        if (k < 0)
                return k;

        if (scan->n > 0) {
                out.items = calloc(scan->n, sizeof(Decision));
                if (!out.items)
                        return -ENOMEM;
        }
        rule_set_reset_stats(rules);

        for (size_t i = 0; i < scan->n; i++) {
                const ScanProc *sp = &scan->procs[i];
                const TagSet *tags = res.set_of[i];
                Decision *d = &out.items[out.n];
                RuleDecision rd = {};
                int64_t age_ms;
                RuleInput in = {
                        .comm = sp->comm,
                        .cmdline = sp->cmdline,
                        .parents = parents,
                        .tags = tags->tags,
                        .n_tags = tags->n,
                };

                in.n_parents = rules_walk_parents(sp->pid, sp->ppid, lookup_proc, (void *) scan, parents,
                                                  ELEMENTSOF(parents));
                k = rule_set_decide(rules, &in, &rd);
                if (k < 0)
                        return k;

                *d = (Decision){
                        .pid = sp->pid,
                        .start_ticks = sp->start_ticks,
                        .action = rd.action,
                        .rule = rd.rule,
                        .reason = rule_reason_to_string(rd.reason),
                        .name = TAKE_PTR(rd.name),
                        .tags = strdup(tags->json),
                };
                out.n++;
                if (!d->tags)
                        return -ENOMEM;
                out.counts.processes++;
                out.counts.limit_hits += rd.limit_hits;
                if (tags->n > 0)
                        out.counts.tagged++;

                if (rd.action == ACTION_DROP) {
                        if (rd.reason == RULE_REASON_KERNEL_THREAD)
                                out.counts.kernel_threads++;
                        else
                                out.counts.dropped++;
                        continue;
                }
                age_ms = p->now_ms - sp->start_time * 1000;
                if (p->now_boot_ms > 0 && p->clk_tck > 0)
                        age_ms = MIN(age_ms, p->now_boot_ms - (int64_t) (sp->start_ticks * 1000 /
                                                                         (uint64_t) p->clk_tck));
                if (age_ms < min_lifetime_ms) {
                        int64_t at = p->now_ms + (min_lifetime_ms - age_ms);

                        d->reason = DECIDE_REASON_TOO_YOUNG;
                        out.next_eligible_ms = MIN(out.next_eligible_ms, at);
                        out.counts.too_young++;
                        continue;
                }
                if (p->tagged_only && tags->n == 0) {
                        d->reason = DECIDE_REASON_UNTAGGED;
                        out.counts.untagged++;
                        continue;
                }
                d->synced = true;
                out.counts.synced++;
        }

        *ret = out;
        out = (Decisions){};
        return 0;
}
