/* procsync-matcher's state between cycles and the cycle itself: tag command, decision pass, one write
 * transaction. main.c owns the loop and asks this module what to do on each event. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "daemon.h"
#include "rules.h"
#include "tags.h"

/* After a failed cycle (database busy or full), the next attempt comes this much later. */
#define MATCHER_RETRY_USEC (1 * USEC_PER_SEC)

typedef struct Matcher {
        Daemon *daemon; /* borrowed */
        RuleSet *rules;
        Tags tags;

        uint64_t scan_generation; /* of the last cycle that succeeded */
        uint64_t seen_generation; /* the scanner's, as matcher_due() last read it */
        uint64_t tags_generation; /* the scan generation the tag command last ran for */
        bool decided;             /* a cycle succeeded since start-up */
        int64_t next_eligible_ms; /* wall clock: a too-young process becomes old enough; INT64_MAX: none */
        usec_t next_full_cycle;   /* monotonic: the periodic cycle (tag command, heartbeat) */
        usec_t retry_at;          /* monotonic: after a failed cycle; USEC_INFINITY: none */
} Matcher;

/* Compiles the rules of d->config and loads the last good tags from the database. */
int matcher_new(Daemon *d, Matcher **ret);
Matcher *matcher_free(Matcher *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Matcher *, matcher_free);

/* After a successful daemon_reload(): compiles the new rules. On failure the old ones stay. */
int matcher_apply_config(Matcher *m);

/* One cycle: with run_tags, the tag command first (at most once per cycle); then the decision pass over the
 * current scan and one transaction with decisions, tag output, tag command status, rule statistics and the
 * heartbeat. The generation is bumped only when a decision changed. Logs its failures; returns them. */
int matcher_cycle(Matcher *m, bool run_tags);

typedef enum MatcherWork {
        MATCHER_IDLE,       /* nothing to do yet */
        MATCHER_DECIDE,     /* a too-young process became old enough, or a retry: decide again */
        MATCHER_FULL_CYCLE, /* a new scan generation or the periodic cycle: tag command and decisions */
} MatcherWork;

/* What is due now (reads the scanner's generation). */
MatcherWork matcher_due(Matcher *m);

/* How long daemon_wait() may sleep before something is due without a database change. */
usec_t matcher_timeout(const Matcher *m);
