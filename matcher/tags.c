/* The tag command in the matcher's cycle. See tags.h.
 *
 * The stored status texts (reason, stderr excerpt) come from the command and may hold any bytes; they are
 * made valid UTF-8 here because procsync-api serves them as JSON. */
#include "tags.h"

#include "log.h"
#include "tag-exec.h"
#include "utf8.h"

void tags_done(Tags *t) {
        if (!t)
                return;
        tag_list_free(t->good);
        free(t->error);
        free(t->stderr_excerpt);
        *t = (Tags){};
}

static bool tag_list_equal(const TagList *a, const TagList *b) {
        size_t na = a ? a->n_entries : 0, nb = b ? b->n_entries : 0;

        if (na != nb)
                return false;
        for (size_t i = 0; i < na; i++) {
                const TagEntry *x = &a->entries[i], *y = &b->entries[i];

                if (x->pid != y->pid || x->n_tags != y->n_tags)
                        return false;
                for (size_t k = 0; k < x->n_tags; k++)
                        if (!streq(x->tags[k].key, y->tags[k].key) ||
                            !streq(x->tags[k].value, y->tags[k].value))
                                return false;
        }
        return true;
}

static void take_good(Tags *t, TagList *l) {
        if (!tag_list_equal(t->good, l))
                t->good_changed = true;
        tag_list_free(t->good);
        t->good = l;
}

static int set_text(char **dst, const char *s) {
        char *c = NULL;

        if (s) {
                c = utf8_make_valid(s, strlen(s));
                if (!c)
                        return -ENOMEM;
        }
        free(*dst);
        *dst = c;
        return 0;
}

static int fail(Tags *t, const char *reason) {
        t->ok = false;
        t->failures++;
        if (set_text(&t->error, reason) < 0)
                return -ENOMEM;
        log_warning("Tag command failed: %s; keeping the last good tags (%zu processes)", t->error,
                    t->good ? t->good->n_entries : 0);
        return 0;
}

int tags_run(Tags *t, const Config *c) {
        _cleanup_(tag_exec_result_done) TagExecResult res = {};
        _cleanup_(tag_list_freep) TagList *l = NULL;
        _cleanup_free_ char *parse_error = NULL, *reason = NULL;
        bool was_ok = t->ok || t->last_run == 0;
        TagExecParams p = {
                .argv = c->tag_exec,
                .user = c->tag_exec_user,
                .allow_root = c->tag_exec_allow_root,
                .timeout = c->tag_exec_timeout,
                .max_output = c->tag_exec_max_output,
        };
        int r;

        if (!c->tag_exec || !c->tag_exec[0]) {
                l = calloc(1, sizeof(TagList));
                if (!l)
                        return -ENOMEM;
                take_good(t, TAKE_PTR(l));
                t->ok = true;
                t->last_run = 0;
                t->duration_ms = -1;
                (void) set_text(&t->error, NULL);
                (void) set_text(&t->stderr_excerpt, NULL);
                return 0;
        }

        r = tag_exec_run(&p, &res);
        if (r < 0)
                return r;
        r = tag_exec_kill_children();
        if (r == -ENOMEM)
                return r;
        if (r > 0)
                log_warning("Killed %d process%s the tag command left behind", r, r == 1 ? "" : "es");
        else if (r < 0 && !t->children_unlisted) {
                /* Once: it will not change. The group kill still works. */
                log_warning_errno(r, "Cannot list the matcher's children, so a daemon the tag command "
                                  "starts with setsid() outlives it: %m");
                t->children_unlisted = true;
        }
        t->last_run = now_epoch_ms();
        t->duration_ms = (int64_t) (res.duration / USEC_PER_MSEC);
        if (set_text(&t->stderr_excerpt, res.err_len > 0 ? res.err : NULL) < 0)
                return -ENOMEM;
        if (res.err_len > 0)
                log_full_errno(res.ok ? LOG_LEVEL_INFO : LOG_LEVEL_WARNING, 0, "Tag command stderr%s: %s",
                               res.err_truncated ? " (first 4 KiB)" : "", t->stderr_excerpt);
        if (!res.ok)
                return fail(t, res.reason);

        r = tag_parse(res.out, res.out_len, &l, &parse_error);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                if (asprintf(&reason, "output is not a list of {pid, tags} entries: %s", parse_error) < 0)
                        return -ENOMEM;
                return fail(t, reason);
        }

        t->ok = true;
        t->last_ok = t->last_run;
        if (l->n_skipped > 0) {
                if (asprintf(&reason, "skipped %zu malformed entr%s, the first at %s", l->n_skipped,
                             l->n_skipped == 1 ? "y" : "ies", l->skip_reason) < 0)
                        return -ENOMEM;
                log_warning("Tag command output: %s", reason);
        } else if (!was_ok)
                log_info("Tag command succeeded again: %zu processes tagged", l->n_entries);
        if (set_text(&t->error, reason) < 0)
                return -ENOMEM;
        take_good(t, TAKE_PTR(l));
        return 0;
}

void tags_row(const Tags *t, TagExecRow *ret) {
        *ret = (TagExecRow){
                .ok = t->ok,
                .error = t->error,
                .last_run = t->last_run,
                .last_ok = t->ok ? t->last_ok : 0,
                .duration_ms = t->duration_ms,
                .entries = t->good ? t->good->n_entries : 0,
                .skipped = t->good && t->ok ? t->good->n_skipped : 0,
                .failures = t->failures,
                .stderr_excerpt = t->stderr_excerpt,
        };
}
