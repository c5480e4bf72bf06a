/* The rule engine's JSON documents: what `GET /v1/rules` and `POST /v1/rules/test` answer and what
 * `procctl rules list --json` and `procctl rules test --json` print (one function each, so they agree). */
#pragma once

#include <jansson.h>

#include "rules.h"

/* {"rules": [{"index": N, "match-regex": STR|null, "match-type": STR, "action": STR, "rewrite-name":
 * STR|null, "line": N}, ...], "implied": {"index": n_rules, "match-regex": ".*", "action": "accept"}}.
 * The rule keys are those of `config show` (config-json.c). -EINVAL when jansson refuses (a string that is
 * not UTF-8, which the config loader never produces). */
int rules_to_json(const ConfigRule *rules, size_t n_rules, json_t **ret);

/* {"rule": N|null, "action": "accept"|"drop", "name": STR, "reason": "rule"|"default"|"kernel-thread",
 * "limit_hits": N}. rule is null only for a kernel thread (no rule was evaluated). -EILSEQ when the name
 * is not valid UTF-8 (give the engine repaired text, as the scanner stores it). */
int rule_decision_to_json(const RuleDecision *d, json_t **ret);
