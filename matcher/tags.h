/* The tag command in the matcher's cycle: run it (tag-exec), parse its output (tag-parse), keep the last
 * good output and the status the match_tag_exec row shows. A failure — refused user, setup failure,
 * timeout, too much output, non-zero exit, a document that is not a list of entries — keeps the last good
 * tags (DESIGN.md "Tags": never wipe the synced processes) and records the reason. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "store.h"
#include "tag-parse.h"

typedef struct Tags {
        TagList *good;     /* the last good output; NULL until the first success or load */
        bool good_changed; /* `good` differs from what match_tag_output holds */

        /* The match_tag_exec row. */
        bool ok;
        char *error;
        int64_t last_run, last_ok, duration_ms;
        uint64_t failures; /* since the daemon started */
        char *stderr_excerpt;

        bool children_unlisted; /* tag_exec_kill_children() failed once, and said so */
} Tags;

void tags_done(Tags *t);

/* Runs the configured command once, then kills what it left behind outside its process group (the matcher
 * is a child subreaper, see main.c). Without os-app-tag-exec the own tags are empty and the status is ok.
 * Logs what went wrong (and the command's stderr). Returns 0, or -ENOMEM. */
int tags_run(Tags *t, const Config *c);

/* The row to store (pointers into *t). */
void tags_row(const Tags *t, TagExecRow *ret);
