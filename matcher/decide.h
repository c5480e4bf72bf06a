/* One decision pass of procsync-matcher: every scanned process through the rules, min-lifetime and
 * tagged-only, with its own and inherited tags (DESIGN.md "Rules", "Tags", "Lifetime and identity").
 *
 * Pure: the scan table, the tag command's last good output and the clock come in, decisions go out. The
 * database is store.c's business, so this is tested (and benchmarked) on tables built in memory. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "macro.h"
#include "rules.h"
#include "tag-parse.h"
#include "time-util.h"

/* A process's own plus inherited tags are capped here: its own tags are always kept, inherited ones beyond
 * the cap are dropped. */
#define DECIDE_MAX_TAGS 256

typedef struct ScanProc {
        pid_t pid, ppid;
        uint64_t start_ticks;
        int64_t start_time; /* epoch seconds */
        char *comm;
        char *cmdline; /* "" for kernel threads */
} ScanProc;

/* A snapshot of scan_processes, sorted by pid, and the scan generation it belongs to. */
typedef struct ScanTable {
        ScanProc *procs;
        size_t n;
        uint64_t generation;
} ScanTable;

void scan_table_done(ScanTable *t);
const ScanProc *scan_table_find(const ScanTable *t, pid_t pid);

typedef struct DecideParams {
        bool tagged_only;
        usec_t min_lifetime;
        int64_t now_ms; /* wall clock, epoch ms */
        /* CLOCK_BOOTTIME in ms (the clock of /proc/<pid>/stat's starttime) and the tick rate of
         * start_ticks; 0: unknown, the age is taken from start_time alone. */
        int64_t now_boot_ms;
        long clk_tck;
} DecideParams;

/* The reasons written to match_decisions besides the engine's ("rule", "default", "kernel-thread"). */
#define DECIDE_REASON_TOO_YOUNG "too-young"
#define DECIDE_REASON_UNTAGGED  "untagged"

typedef struct Decision {
        pid_t pid;
        uint64_t start_ticks;
        RuleAction action;
        int rule;           /* RULE_INDEX_NONE (-1) for a kernel thread: no rule was evaluated */
        const char *reason; /* static string */
        bool synced;        /* accepted, old enough and, with tagged-only, tagged */
        char *name;
        char *tags; /* JSON object, own and inherited tags, keys sorted: "{}" when none */
} Decision;

typedef struct DecideCounts {
        size_t processes, synced, dropped, kernel_threads, too_young, untagged, tagged;
        uint64_t limit_hits;
} DecideCounts;

typedef struct Decisions {
        Decision *items; /* sorted by pid, one per scanned process */
        size_t n;
        int64_t next_eligible_ms; /* the earliest time a too-young process becomes old enough; INT64_MAX:
                                     none */
        DecideCounts counts;
} Decisions;

void decisions_done(Decisions *d);

/* Decides every process of `scan`. `own` (NULL: none) is the tag command's last good output. The rule
 * set's statistics are reset first, so afterwards they are this pass's figures. Returns 0 or -ENOMEM;
 * *ret is written only on success. */
int decide_all(RuleSet *rules, const ScanTable *scan, const TagList *own, const DecideParams *p,
               Decisions *ret);
