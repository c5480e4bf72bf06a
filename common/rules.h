/* The rule engine (DESIGN.md "Rules"): decides, for one process, whether it is synced and under what name.
 *
 * A RuleSet is compiled once from the configured rules (ConfigRule, common/config.h) and then asked about
 * every process: the first rule whose regex matches decides; when none does, the implied final accept
 * (index n_rules) decides. The caller supplies what the rules look at — comm, cmdline, the comms of the
 * ancestors and the tags — so the same engine serves the matcher (from the scanned table), `procctl rules
 * test` (from /proc or the command line) and the API.
 *
 * Choices the design leaves open, fixed here:
 *   - Kernel threads (NULL or empty cmdline) are decided by the engine, before any rule: drop, rule
 *     RULE_INDEX_NONE, reason RULE_REASON_KERNEL_THREAD. One place, so the matcher, procctl and the API
 *     always agree.
 *   - A `tag` rule without rewrite-name names the process by its comm (a "key:value" string is no name).
 *   - An expansion that comes out empty (e.g. only a missing group) names the process by its comm: a
 *     process is never synced under an empty name.
 *   - A dropped process is named by its comm (the name is shown in listings only).
 *   - A regex evaluation stopped by a PCRE2 limit (match, depth, heap or JIT stack) or failing otherwise
 *     counts as "this subject does not match" and is counted: in the decision and in the rule's
 *     limit_hits. For rules with several subjects (ancestors, tags) the other subjects are still tried.
 *
 * A RuleSet holds one reusable match data block, so it is not reentrant: one decision at a time. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "template.h"

/* Limits of one regex evaluation. (a+)+$ against 50,000 'a' and a 'b' stops in well under a millisecond
 * with these (see test-rules.c); ordinary rules on ordinary names never come near them. match_limit is
 * the one the JIT honours (it ignores depth_limit); depth_limit and heap_limit bound the interpreter,
 * which runs when JIT is unavailable. */
#define RULES_MATCH_LIMIT 100000U
#define RULES_DEPTH_LIMIT 10000U
#define RULES_HEAP_LIMIT_KIB 16384U
#define RULES_JIT_STACK_MAX (1024U * 1024U)

/* Ancestors looked at for parent_process_name (also the cap of rules_walk_parents()). */
#define RULES_MAX_PARENT_DEPTH 64

#define RULE_INDEX_NONE (-1)

typedef struct RuleTag {
        const char *key;
        const char *value;
} RuleTag;

/* What a rule can look at. Nothing is copied: the strings must live until the decision returns. */
typedef struct RuleInput {
        const char *comm;           /* the kernel comm */
        const char *cmdline;        /* argv joined by single spaces; NULL or "" = kernel thread */
        const char *const *parents; /* comms of parent, grandparent, ... up to pid 1: nearest first */
        size_t n_parents;
        const RuleTag *tags;        /* own and inherited tags (the caller resolves inheritance) */
        size_t n_tags;
} RuleInput;

typedef enum RuleReason {
        RULE_REASON_RULE,          /* a configured rule matched */
        RULE_REASON_DEFAULT,       /* no configured rule matched: the implied final accept */
        RULE_REASON_KERNEL_THREAD, /* empty cmdline: never synced, no rule evaluated */
        _RULE_REASON_MAX,
} RuleReason;

const char *rule_reason_to_string(RuleReason r); /* "rule", "default", "kernel-thread" */

typedef struct RuleDecision {
        int rule;             /* deciding rule, 0-based; n_rules = implied final accept; RULE_INDEX_NONE */
        RuleAction action;
        RuleReason reason;
        char *name;           /* owned; at most TEMPLATE_MAX_OUTPUT bytes */
        unsigned limit_hits;  /* evaluations of this decision stopped by a limit */
} RuleDecision;

void rule_decision_done(RuleDecision *d);

/* Counters since the RuleSet was made (or last reset). */
typedef struct RuleStats {
        uint64_t hits;       /* decisions made by this rule */
        uint64_t limit_hits; /* evaluations of this rule stopped by a limit (or failing) */
} RuleStats;

typedef struct RuleSet RuleSet;

/* Compiles the rules (copied: the ConfigRule array may be freed afterwards). At most CONFIG_MAX_RULES
 * (-E2BIG). A regex that does not compile gives -EINVAL and its index in *ret_bad_rule (optional); the
 * config loader has rejected such a file already, so this is for rules from elsewhere. */
int rule_set_new(const ConfigRule *rules, size_t n_rules, RuleSet **ret, size_t *ret_bad_rule);
RuleSet *rule_set_free(RuleSet *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(RuleSet *, rule_set_free);

/* The environment used by %VAR% in rewrite-name (default: the process environment). */
void rule_set_set_env(RuleSet *s, TemplateEnvLookup env, void *userdata);

size_t rule_set_size(const RuleSet *s);
/* The rule as configured (regex NULL = missing, rewrite NULL = none). */
const ConfigRule *rule_set_rule(const RuleSet *s, size_t i);
/* n_rules + 1 entries: the last one is the implied final accept. */
const RuleStats *rule_set_stats(const RuleSet *s);
void rule_set_reset_stats(RuleSet *s);

/* Decides one process. Returns 0 or -ENOMEM; *ret is written only on success. */
int rule_set_decide(RuleSet *s, const RuleInput *in, RuleDecision *ret);

/* Looks a process up in the caller's table (the scan, or /proc): its ppid and comm. Returns 0, or a negative
 * errno when the pid is unknown. The comm must stay valid until the decision that uses it returns. */
typedef int (*RuleProcLookup)(pid_t pid, void *userdata, pid_t *ret_ppid, const char **ret_comm);

/* Fills parents[0..max) with the comms of the ancestors of the process `pid` whose parent is `ppid`,
 * nearest first, and returns how many. The walk ends after pid 1, at pid 0, at a pid the lookup does not
 * know, at a pid seen before (the process itself included: a scan taken while pids were reused can contain
 * a ppid cycle) and after min(max, RULES_MAX_PARENT_DEPTH) ancestors. */
size_t rules_walk_parents(pid_t pid, pid_t ppid, RuleProcLookup lookup, void *userdata, const char **parents,
                          size_t max);
