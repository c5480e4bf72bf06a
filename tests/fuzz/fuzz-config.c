/* libFuzzer harness of the config loader: config_load_buffer() on arbitrary bytes, as `procctl config
 * check` and every daemon's (re)load feed it a file.
 *
 * Beyond "no crash, no leak, no sanitizer report" it checks what the rest of the suite relies on: a failed
 * load has at least one error diagnostic and no config; a successful one has none, its rules compile in the
 * rule engine (the loader and the matcher must agree on what a valid regex is) and its JSON documents
 * (`procctl config show --json`, `GET /v1/config`, `GET /v1/rules`) can be built. The diagnostics are
 * printed to /dev/null so that their formatting runs too. */
#include <stdio.h>
#include <stdlib.h>

#include "config-json.h"
#include "config.h"
#include "rules-json.h"
#include "rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *devnull;

static void check_loaded(const Config *c) {
        _cleanup_(rule_set_freep) RuleSet *s = NULL;
        json_t *j = NULL;

        if (rule_set_new(c->rules, c->n_rules, &s, NULL) < 0)
                abort();
        if (config_to_json(c, &j) < 0)
                abort();
        json_decref(j);
        if (rules_to_json(c->rules, c->n_rules, &j) < 0)
                abort();
        json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(config_freep) Config *c = NULL;
        ConfigDiags diags = {};
        json_t *j = NULL;
        int r;

        if (!devnull) {
                devnull = fopen("/dev/null", "we");
                if (!devnull)
                        abort();
        }

        r = config_load_buffer("fuzz.yaml", (const char *) data, size, &c, &diags);
        if (r == -ENOMEM)
                abort();
        if (r < 0) {
                if (c || diags.n_errors == 0)
                        abort();
        } else {
                if (!c || diags.n_errors != 0)
                        abort();
                check_loaded(c);
        }

        config_diags_print(&diags, devnull);
        if (config_diags_to_json(&diags, &j) < 0)
                abort();
        json_decref(j);
        config_diags_done(&diags);
        return 0;
}
