/* The effective configuration as JSON: the document `GET /v1/config` answers and `procctl config show
 * --json` prints (one function, so both always agree). Secrets are redacted. */
#pragma once

#include <jansson.h>

#include "config.h"

/* {"path": FILE|null, "keys": {"<config_key_to_string()>": {"value": ..., "origin": "file:LINE" |
 * "default" | "command-line"}, ...}} with the keys in ConfigKey order. Durations are strings with a unit
 * ("10s", "500ms"), sizes are integers (bytes). HTTP header values become "***" and a password in a URL
 * "user:***@". */
int config_to_json(const Config *c, json_t **ret);

/* {"path": FILE|null, "ok": bool, "errors": N, "hidden": N, "diagnostics": [{"level": "error"|"warning",
 * "line": N, "column": N, "message": "..."}]} for `procctl config check --json` and the API's status. */
int config_diags_to_json(const ConfigDiags *d, json_t **ret);
