/* See rules-json.h. jansson builds the documents and refuses text that is not valid UTF-8; the engine keeps
 * names byte for byte, so the text must have been repaired before (the scanner stores repaired text, and
 * procctl repairs what it reads the same way). */
#include "rules-json.h"

static json_t *string_or_null(const char *s) {
        return s ? json_string(s) : json_null();
}

int rules_to_json(const ConfigRule *rules, size_t n_rules, json_t **ret) {
        json_t *doc, *list;

        list = json_array();
        if (!list)
                return -ENOMEM;
        for (size_t i = 0; i < n_rules; i++) {
                const ConfigRule *r = &rules[i];
                json_t *o;

                o = json_pack("{s:I, s:o, s:s, s:s, s:o, s:I}", "index", (json_int_t) i, "match-regex",
                              string_or_null(r->match_regex), "match-type",
                              match_type_to_string(r->match_type), "action", rule_action_to_string(r->action),
                              "rewrite-name",
                              string_or_null(isempty(r->rewrite_name) ? NULL : r->rewrite_name), "line",
                              (json_int_t) r->line);
                if (!o || json_array_append_new(list, o) < 0) {
                        json_decref(list);
                        return -EINVAL; /* out of memory, or a string that is not UTF-8 */
                }
        }
        doc = json_pack("{s:o, s:{s:I, s:s, s:s}}", "rules", list, "implied", "index", (json_int_t) n_rules,
                        "match-regex", ".*", "action", "accept");
        if (!doc)
                return -ENOMEM;
        *ret = doc;
        return 0;
}

int rule_decision_to_json(const RuleDecision *d, json_t **ret) {
        json_t *doc, *name;

        name = json_string(strempty(d->name));
        if (!name)
                return -EILSEQ;
        doc = json_pack("{s:o, s:s, s:o, s:s, s:I}", "rule",
                        d->rule == RULE_INDEX_NONE ? json_null() : json_integer(d->rule), "action",
                        rule_action_to_string(d->action), "name", name, "reason",
                        rule_reason_to_string(d->reason), "limit_hits", (json_int_t) d->limit_hits);
        if (!doc)
                return -ENOMEM;
        *ret = doc;
        return 0;
}
