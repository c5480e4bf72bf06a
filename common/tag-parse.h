/* Parser of the tag command's output (DESIGN.md "Tags"), from a buffer.
 *
 * The output is a YAML (or JSON, which libyaml reads as flow YAML) sequence of
 * `{pid: INT, tags: [{key: STR, value: STR}, ...]}`. Empty output, output of only whitespace and comments,
 * and a document that is just a null (`---`, `~`, `null`) are an empty list. A document that is not such a
 * sequence (a mapping, a scalar, a YAML syntax error, more than one document, more than
 * TAG_PARSE_MAX_ENTRIES entries) fails as a whole with a reason carrying the line and column. A malformed
 * single entry is skipped and counted; the first such problem is kept as a reason for the status. See
 * tag-parse.c for exactly what makes an entry malformed. A repeated pid: the later entry wins; a repeated
 * key within one entry: the later tag wins.
 *
 * Used by procsync-matcher on the command's stdout, and a fuzz target. Never logs. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#include "macro.h"

/* Bounds on what one output may hold. Entries beyond the limit fail the whole output (a silently truncated
 * list would look like lost tags); the other limits make only the entry that breaks them malformed. */
#define TAG_PARSE_MAX_ENTRIES 100000 /* more than any realistic number of processes on one host */
#define TAG_PARSE_MAX_TAGS    64     /* per pid */
#define TAG_PARSE_MAX_KEY     128    /* bytes */
#define TAG_PARSE_MAX_VALUE   1024   /* bytes */

typedef struct TagPair {
        char *key;
        char *value;
} TagPair;

typedef struct TagEntry {
        pid_t pid;
        TagPair *tags; /* sorted by key, keys unique */
        size_t n_tags;
} TagEntry;

typedef struct TagList {
        TagEntry *entries; /* sorted by pid, pids unique */
        size_t n_entries;
        size_t n_skipped;  /* malformed entries */
        char *skip_reason; /* the first malformed entry's problem, "line L, column C: ...", or NULL */
} TagList;

TagList *tag_list_free(TagList *l);
DEFINE_TRIVIAL_CLEANUP_FUNC(TagList *, tag_list_free);

/* The entry of a pid, or NULL (binary search). */
const TagEntry *tag_list_find(const TagList *l, pid_t pid);

/* Returns 0 and a list (possibly empty), or -EBADMSG with *ret_error set to "line L, column C: ..." when the
 * document is not a sequence of entries, or -ENOMEM. *ret_error (if given) is only written on -EBADMSG. */
int tag_parse(const char *buf, size_t len, TagList **ret, char **ret_error);
