/* The process documents: `GET /v1/processes` (procctl processes --json) and `GET /v1/processes/{pid}`.
 *
 *   {"generation": N, "processes": [PROCESS, ...]}        sorted by pid
 *   PROCESS = {"pid", "ppid", "start_time", "name", "process_name", "cmdline", "user", "uid", "netns_id",
 *              "container_id", "tags": {k: v}, "rule", "gpid"}
 *
 * generation is the matcher's (the decisions the list shows). name is the synced name the rules gave,
 * process_name the kernel comm, netns_id the scanner's small namespace index, rule the deciding rule's
 * index (null for a kernel thread, which no rule sees), gpid the id a DeepFlow server assigned (null until
 * one did). By default only synced processes are listed. With `all`, every scanned process is, and each
 * also carries "action" (accept|drop, null when the matcher has not decided it yet), "reason" (rule,
 * default, kernel-thread, too-young, untagged; "undecided" before the matcher saw it) and "synced". The
 * one-process document is such a complete entry. */
#pragma once

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <sys/types.h>

/* At most this many ?tag= filters in one query. */
#define PROCESS_QUERY_MAX_TAGS 16

typedef struct ProcessTagFilter {
        const char *key;
        const char *value; /* NULL: any value */
} ProcessTagFilter;

typedef struct ProcessQuery {
        bool all;
        const char *name; /* NULL: any; else equal to "name" or to "process_name" */
        ProcessTagFilter tags[PROCESS_QUERY_MAX_TAGS]; /* all must hold */
        size_t n_tags;
} ProcessQuery;

/* Parses a filter "KEY:VALUE" (split at the first ':') or "KEY" (any value) in place: s is cut at the
 * colon. -EINVAL for an empty key. */
int process_tag_filter_parse(char *s, ProcessTagFilter *ret);

int doc_processes(sqlite3 *db, const ProcessQuery *q, json_t **ret);

/* -ENOENT when the pid is not in the last scan. */
int doc_process(sqlite3 *db, pid_t pid, json_t **ret);

/* The complete entries of the given pids (unknown ones left out), in the order given: for /v1/lookup. */
int doc_processes_by_pid(sqlite3 *db, const int64_t *pids, size_t n, json_t **ret_array);
