/* Unit tests of the tag command output parser: the accepted shapes (YAML, JSON, empty), document-level
 * failures with their position, malformed entries skipped and counted, "later wins", and the bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "tag-parse.h"

static TagList *parse_ok(const char *s) {
        TagList *l = NULL;
        char *error = NULL;
        int r;

        r = tag_parse(s, strlen(s), &l, &error);
        if (r < 0)
                fail_msg("unexpected failure %d: %s\n--- input:\n%s", r, strempty(error), s);
        assert_null(error);
        assert_non_null(l);
        return l;
}

/* Fails, and the reason contains `expect`. */
#define PARSE_FAILS(literal, expect) parse_fails((literal), sizeof(literal) - 1, (expect))
static void parse_fails(const char *s, size_t len, const char *expect) {
        TagList *l = NULL;
        char *error = NULL;
        int r;

        r = tag_parse(s, len, &l, &error);
        assert_int_equal(r, -EBADMSG);
        assert_null(l);
        assert_non_null(error);
        if (!strstr(error, expect))
                fail_msg("reason '%s' does not contain '%s'", error, expect);
        free(error);
}

static void assert_tag(const TagEntry *e, size_t i, const char *key, const char *value) {
        assert_true(i < e->n_tags);
        assert_string_equal(e->tags[i].key, key);
        assert_string_equal(e->tags[i].value, value);
}

/* Exactly one entry skipped, with a reason containing `expect`; the good entry (pid 1) is kept. */
static void entry_skipped(const char *bad_entry, const char *expect) {
        _cleanup_free_ char *doc = NULL;
        _cleanup_(tag_list_freep) TagList *l = NULL;

        assert_true(asprintf(&doc, "- {pid: 1, tags: [{key: a, value: b}]}\n%s\n", bad_entry) > 0);
        l = parse_ok(doc);
        assert_int_equal(l->n_entries, 1);
        assert_int_equal(l->entries[0].pid, 1);
        if (l->n_skipped != 1)
                fail_msg("'%s': %zu entries skipped, expected 1", bad_entry, l->n_skipped);
        assert_non_null(l->skip_reason);
        if (!strstr(l->skip_reason, expect))
                fail_msg("'%s': reason '%s' does not contain '%s'", bad_entry, l->skip_reason, expect);
        assert_non_null(strstr(l->skip_reason, "line 2, column"));
}

static void test_empty(void **state) {
        static const char *const inputs[] = {"",
                                             "   \n\n\t\n",
                                             "# nothing today\n  # really\n",
                                             "\t# tabbed\r\n\t\n",
                                             "---\n",
                                             "--- ~\n",
                                             "null\n",
                                             "[]",
                                             "---\n[]\n...\n"};

        for (size_t i = 0; i < ELEMENTSOF(inputs); i++) {
                _cleanup_(tag_list_freep) TagList *l = parse_ok(inputs[i]);

                assert_int_equal(l->n_entries, 0);
                assert_int_equal(l->n_skipped, 0);
                assert_null(l->skip_reason);
        }
}

static void test_yaml_block(void **state) {
        _cleanup_(tag_list_freep) TagList *l = parse_ok("# produced by tagger\n"
                                                        "- pid: 42\n"
                                                        "  tags:\n"
                                                        "    - key: app\n"
                                                        "      value: shop\n"
                                                        "    - {key: env, value: prod}\n"
                                                        "- pid: 7\n"
                                                        "  tags: []\n");

        assert_int_equal(l->n_entries, 2);
        assert_int_equal(l->n_skipped, 0);
        /* sorted by pid, tags by key */
        assert_int_equal(l->entries[0].pid, 7);
        assert_int_equal(l->entries[0].n_tags, 0);
        assert_int_equal(l->entries[1].pid, 42);
        assert_int_equal(l->entries[1].n_tags, 2);
        assert_tag(&l->entries[1], 0, "app", "shop");
        assert_tag(&l->entries[1], 1, "env", "prod");
        assert_ptr_equal(tag_list_find(l, 42), &l->entries[1]);
        assert_ptr_equal(tag_list_find(l, 7), &l->entries[0]);
        assert_null(tag_list_find(l, 8));
}

static void test_json(void **state) {
        _cleanup_(tag_list_freep) TagList *l =
                parse_ok("[{\"pid\": 100, \"tags\": [{\"key\": \"team\", \"value\": \"payments\"},\n"
                         "\t{\"key\": \"tier\", \"value\": \"1\"}]},\n"
                         " {\"pid\": 3, \"tags\": [{\"key\": \"x\", \"value\": \"caf\\u00e9\"}]}]\n");

        assert_int_equal(l->n_entries, 2);
        assert_int_equal(l->entries[0].pid, 3);
        assert_tag(&l->entries[0], 0, "x", "caf\xc3\xa9");
        assert_int_equal(l->entries[1].pid, 100);
        assert_tag(&l->entries[1], 0, "team", "payments");
        assert_tag(&l->entries[1], 1, "tier", "1");
}

static void test_scalars_as_text(void **state) {
        _cleanup_(tag_list_freep) TagList *l = parse_ok("- pid: 5\n"
                                                        "  tags:\n"
                                                        "  - {key: port, value: 08080}\n"
                                                        "  - {key: on, value: true}\n"
                                                        "  - {key: ratio, value: 1.50}\n"
                                                        "  - {key: 12, value: 'quoted: yes'}\n"
                                                        "  - {key: empty, value: ''}\n"
                                                        "  - key: lit\n"
                                                        "    value: |\n"
                                                        "      two\n"
                                                        "      lines\n");

        assert_int_equal(l->n_entries, 1);
        assert_int_equal(l->entries[0].n_tags, 6);
        assert_tag(&l->entries[0], 0, "12", "quoted: yes");
        assert_tag(&l->entries[0], 1, "empty", "");
        assert_tag(&l->entries[0], 2, "lit", "two\nlines\n");
        assert_tag(&l->entries[0], 3, "on", "true");
        assert_tag(&l->entries[0], 4, "port", "08080");
        assert_tag(&l->entries[0], 5, "ratio", "1.50");
}

static void test_later_wins(void **state) {
        _cleanup_(tag_list_freep) TagList *l =
                parse_ok("- {pid: 9, tags: [{key: a, value: first}]}\n"
                         "- {pid: 2, tags: [{key: z, value: 1}]}\n"
                         "- {pid: 9, tags: [{key: b, value: second}, {key: c, "
                         "value: x}, {key: b, value: third}]}\n");

        assert_int_equal(l->n_entries, 2);
        assert_int_equal(l->entries[1].pid, 9);
        assert_int_equal(l->entries[1].n_tags, 2);
        assert_tag(&l->entries[1], 0, "b", "third");
        assert_tag(&l->entries[1], 1, "c", "x");
}

static void test_unknown_keys_ignored(void **state) {
        _cleanup_(tag_list_freep) TagList *l = parse_ok("- pid: 11\n"
                                                        "  comment: {nested: [1, 2, {deep: [a, b]}]}\n"
                                                        "  tags: [{key: k, value: v, note: [ignored]}]\n"
                                                        "  ? [complex, key]\n"
                                                        "  : skipped\n");

        assert_int_equal(l->n_entries, 1);
        assert_int_equal(l->n_skipped, 0);
        assert_tag(&l->entries[0], 0, "k", "v");
}

static void test_document_failures(void **state) {
        PARSE_FAILS("pid: 1\ntags: []\n",
                    "line 1, column 1: expected a sequence of {pid, tags} entries, found a mapping");
        PARSE_FAILS("hello world\n",
                    "line 1, column 1: expected a sequence of {pid, tags} entries, found a scalar");
        PARSE_FAILS("{\"pid\": 1}", "found a mapping");
        PARSE_FAILS("'[]'", "found a scalar");
        PARSE_FAILS("- {pid: 1, tags: [}\n", "line 1, column 19");
        PARSE_FAILS("- pid: 1\n  tags: [\n", "line 3");
        PARSE_FAILS("\x7f"
                    "ELF\x02\x01\x01\x00\x00",
                    "line 1, column 1: control characters are not allowed");
        PARSE_FAILS("- {pid: 1, tags: []}\n---\n- {pid: 2, tags: []}\n",
                    "line 2, column 1: more than one document");
        PARSE_FAILS("[]\n- {pid: 1, tags: [{key: a, value: \"\xff\"}]}\n",
                    "line 2, column 36: invalid leading UTF-8 octet");
}

static void test_malformed_entries(void **state) {
        entry_skipped("- {pid: \"12\", tags: []}", "pid is a quoted string");
        entry_skipped("- {pid: '12', tags: []}", "pid is a quoted string");
        entry_skipped("- {pid: -5, tags: []}", "pid '-5' is not a positive integer");
        entry_skipped("- {pid: 0, tags: []}", "pid '0' is not a positive integer");
        entry_skipped("- {pid: +5, tags: []}", "not a positive integer");
        entry_skipped("- {pid: 1.5, tags: []}", "not a positive integer");
        entry_skipped("- {pid: 012, tags: []}", "leading zero");
        entry_skipped("- {pid: 99999999999999999999999, tags: []}", "not a positive integer up to 4194304");
        entry_skipped("- {pid: 4194305, tags: []}", "not a positive integer up to 4194304");
        entry_skipped("- {pid: ~, tags: []}", "pid is null");
        entry_skipped("- {pid: [3], tags: []}", "pid is a sequence");
        entry_skipped("- {pid: !!str 3, tags: []}", "pid has the tag");
        entry_skipped("- {pid: 3}", "entry has no tags");
        entry_skipped("- {tags: []}", "entry has no pid");
        entry_skipped("- {pid: 3, tags: {key: a, value: b}}", "tags is a mapping, not a sequence");
        entry_skipped("- {pid: 3, tags: [{value: b}]}", "tag has no key");
        entry_skipped("- {pid: 3, tags: [{key: a}]}", "tag has no value");
        entry_skipped("- {pid: 3, tags: [{key: a, value: [b]}]}", "tag value is a sequence, not a scalar");
        entry_skipped("- {pid: 3, tags: [{key: a, value: {b: c}}]}", "tag value is a mapping, not a scalar");
        entry_skipped("- {pid: 3, tags: [{key: a, value: ~}]}", "tag value is null");
        entry_skipped("- {pid: 3, tags: [{key: a, value: }]}", "tag value is null");
        entry_skipped("- {pid: 3, tags: [{key: '', value: b}]}", "tag key is empty");
        entry_skipped("- {pid: 3, tags: [{key: a, value: \"x\\0y\"}]}", "tag value contains a NUL byte");
        entry_skipped("- {pid: 3, tags: [a]}", "tag is a scalar, not a mapping");
        entry_skipped("- {pid: 3, tags: [{key: a, key: b, value: c}]}", "tag has 'key' twice");
        entry_skipped("- {pid: 3, pid: 4, tags: []}", "'pid' given twice");
        entry_skipped("- just a string", "entry is a scalar, not a mapping");
        entry_skipped("- [1, 2]", "entry is a sequence");
}

/* An alias where a value is expected makes the entry malformed; an anchor elsewhere is harmless. */
static void test_alias(void **state) {
        _cleanup_(tag_list_freep) TagList *l = parse_ok("- {pid: 4, x: &t [{key: a, value: b}], tags: []}\n"
                                                        "- {pid: 3, tags: *t}\n"
                                                        "- {pid: 5, tags: [{key: a, value: *t}]}\n");

        assert_int_equal(l->n_entries, 1);
        assert_int_equal(l->entries[0].pid, 4);
        assert_int_equal(l->n_skipped, 2);
        assert_string_equal(l->skip_reason, "line 2, column 18: tags is an alias, not a sequence");
}

static void test_bounds(void **state) {
        _cleanup_free_ char *key = NULL, *value = NULL, *doc = NULL, *many = NULL;
        _cleanup_(tag_list_freep) TagList *l = NULL;
        FILE *f;
        size_t n;

        /* Key and value exactly at the limit are fine, one byte over is not. */
        key = malloc(TAG_PARSE_MAX_KEY + 2);
        value = malloc(TAG_PARSE_MAX_VALUE + 2);
        assert_non_null(key);
        assert_non_null(value);
        memset(key, 'k', TAG_PARSE_MAX_KEY + 1);
        memset(value, 'v', TAG_PARSE_MAX_VALUE + 1);
        key[TAG_PARSE_MAX_KEY + 1] = value[TAG_PARSE_MAX_VALUE + 1] = 0;
        assert_true(asprintf(&doc,
                             "- {pid: 1, tags: [{key: %.*s, value: %.*s}]}\n"
                             "- {pid: 2, tags: [{key: %s, value: v}]}\n"
                             "- {pid: 3, tags: [{key: k, value: %s}]}\n",
                             TAG_PARSE_MAX_KEY, key, TAG_PARSE_MAX_VALUE, value, key, value) > 0);
        l = parse_ok(doc);
        assert_int_equal(l->n_entries, 1);
        assert_int_equal(l->n_skipped, 2);
        assert_non_null(strstr(l->skip_reason, "tag key is longer than 128 bytes"));
        l = tag_list_free(l);

        /* TAG_PARSE_MAX_TAGS tags are fine, one more makes the entry malformed. */
        f = open_memstream(&many, &n);
        assert_non_null(f);
        for (int pid = 1; pid <= 2; pid++) {
                fprintf(f, "- pid: %d\n  tags:\n", pid);
                for (int i = 0; i < TAG_PARSE_MAX_TAGS + pid - 1; i++)
                        fprintf(f, "  - {key: k%d, value: v}\n", i);
        }
        assert_int_equal(fclose(f), 0);
        l = parse_ok(many);
        assert_int_equal(l->n_entries, 1);
        assert_int_equal(l->entries[0].n_tags, TAG_PARSE_MAX_TAGS);
        assert_int_equal(l->n_skipped, 1);
        assert_non_null(strstr(l->skip_reason, "more than 64 tags"));
        l = tag_list_free(l);
        free(many);
        many = NULL;

        /* TAG_PARSE_MAX_ENTRIES entries are fine (the last pid wins for repeats), one more fails. */
        for (int extra = 0; extra <= 1; extra++) {
                f = open_memstream(&many, &n);
                assert_non_null(f);
                fputc('[', f);
                for (int i = 0; i < TAG_PARSE_MAX_ENTRIES + extra; i++)
                        fprintf(f, "%s{pid: %d, tags: []}", i ? "," : "", i % 1000 + 1);
                fputs("]\n", f);
                assert_int_equal(fclose(f), 0);
                if (extra)
                        parse_fails(many, n, "more than 100000 entries");
                else {
                        l = parse_ok(many);
                        assert_int_equal(l->n_entries, 1000);
                        l = tag_list_free(l);
                }
                free(many);
                many = NULL;
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_empty),
                cmocka_unit_test(test_yaml_block),
                cmocka_unit_test(test_json),
                cmocka_unit_test(test_scalars_as_text),
                cmocka_unit_test(test_later_wins),
                cmocka_unit_test(test_unknown_keys_ignored),
                cmocka_unit_test(test_document_failures),
                cmocka_unit_test(test_malformed_entries),
                cmocka_unit_test(test_alias),
                cmocka_unit_test(test_bounds),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
