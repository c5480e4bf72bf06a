/* libFuzzer harness of the tag command's output parser (common/tag-parse.h): whatever the user's command
 * prints, YAML or JSON. Checks the promises of the header on every list it returns: entries sorted by pid
 * and unique, each found by tag_list_find(), tags sorted by key and unique, within the size limits and
 * without NUL bytes; a failure carries a reason. */
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "tag-parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_entry(const TagList *l, size_t i) {
        const TagEntry *e = &l->entries[i];

        if (e->pid <= 0 || (i > 0 && l->entries[i - 1].pid >= e->pid) || tag_list_find(l, e->pid) != e)
                abort();
        if (e->n_tags > TAG_PARSE_MAX_TAGS)
                abort();
        for (size_t t = 0; t < e->n_tags; t++) {
                const TagPair *p = &e->tags[t];
                size_t klen = strlen(p->key), vlen = strlen(p->value);

                if (klen == 0 || klen > TAG_PARSE_MAX_KEY || vlen > TAG_PARSE_MAX_VALUE)
                        abort();
                if (t > 0 && strcmp(e->tags[t - 1].key, p->key) >= 0)
                        abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(tag_list_freep) TagList *l = NULL;
        _cleanup_free_ char *error = NULL;
        int r;

        r = tag_parse((const char *) data, size, &l, &error);
        if (r == -EBADMSG) {
                if (!error || l)
                        abort();
                return 0;
        }
        if (r < 0 || !l || error)
                abort();
        if (l->n_entries > TAG_PARSE_MAX_ENTRIES || (l->n_skipped > 0) != (l->skip_reason != NULL))
                abort();
        for (size_t i = 0; i < l->n_entries; i++)
                check_entry(l, i);
        if (tag_list_find(l, 0) || tag_list_find(l, -1))
                abort();
        return 0;
}
