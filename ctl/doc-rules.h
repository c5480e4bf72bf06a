/* The answer of `POST /v1/rules/test`: which rule decides a process, with what action and name.
 *
 * The body describes the process — {"process_name": S, "cmdline": S, "parents": [S, ...], "tags": {K: V}}
 * (cmdline defaults to process_name, as `procctl rules test --name` does; "" makes a kernel thread) — or
 * names one of the last scan: {"pid": N}, whose comm, cmdline, ancestors (from the scanned table) and
 * tags (own and inherited, as the matcher decided them) are used. The answer is rule_decision_to_json()'s
 * {"rule", "action", "name", "reason", "limit_hits"}, the document `procctl rules test --json` prints. The
 * rules are the config's, compiled for the request: nothing is computed into or stored in the database.
 * (`GET /v1/rules` is rules_to_json() of the same config.) */
#pragma once

#include <jansson.h>
#include <sqlite3.h>

#include "config.h"

/* Tags in one test body. */
#define DOC_RULES_TEST_MAX_TAGS 1024

/* -EINVAL with *ret_error (malloc'd) for a body that is not such a document; -ENOENT for a pid that is
 * not in the last scan. */
int doc_rules_test(sqlite3 *db, const Config *c, const json_t *body, json_t **ret, char **ret_error);
