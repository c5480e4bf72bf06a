/* Tag command output parser. See tag-parse.h.
 *
 * Walks libyaml's event stream rather than loading a document tree: memory stays proportional to what is
 * kept (bounded by the TAG_PARSE_MAX_* limits), unknown keys and their values are skipped without building
 * anything, and anchors/aliases cannot multiply work (an alias where a value is expected makes the entry
 * malformed; elsewhere it is skipped like any other node).
 *
 * What makes an entry malformed (it is skipped and counted, the rest of the list is kept):
 *   - the entry is not a mapping;
 *   - `pid` is missing, or is not a plain (unquoted) decimal integer in 1..TAG_PARSE_PID_MAX without a
 *     leading zero: `pid: "12"` is a string, and YAML 1.1 would read `012` as octal, so both are refused
 *     rather than guessed at;
 *   - `tags` is missing or is not a sequence;
 *   - a tag is not a mapping, or its `key` or `value` is missing, null (`~`, `null`, empty) or not a scalar;
 *     the key is empty, longer than TAG_PARSE_MAX_KEY or the value longer than TAG_PARSE_MAX_VALUE bytes, or
 *     either contains a NUL byte (a YAML "\0" escape; we store C strings);
 *   - more than TAG_PARSE_MAX_TAGS tags;
 *   - `pid` or `tags` given twice.
 * Values are scalars of any style; numbers and booleans keep their text (`port: 08080` stays "08080"). Keys
 * of an entry or of a tag other than pid/tags/key/value are ignored, as the reference agent's decoder
 * ignores unknown fields. */
#include "tag-parse.h"

#include <stdarg.h>
#include <stdio.h>
#include <sys/param.h>
#include <yaml.h>

/* The kernel's PID_MAX_LIMIT on 64-bit (4 Mi): no pid is larger. */
#define TAG_PARSE_PID_MAX 4194304

typedef struct Parser {
        const char *buf;
        size_t len;
        yaml_parser_t yaml;
        yaml_event_t ev;
        bool have_ev;
        char *error; /* the document-level failure */
} Parser;

/* An entry being read, with its position in the list for "the later entry wins". */
typedef struct Entry {
        TagEntry e;
        size_t seq;
        char *bad; /* first problem of a malformed entry */
        bool have_pid, have_tags;
} Entry;

static void pairs_free(TagPair *tags, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(tags[i].key);
                free(tags[i].value);
        }
        free(tags);
}

TagList *tag_list_free(TagList *l) {
        if (!l)
                return NULL;
        for (size_t i = 0; i < l->n_entries; i++)
                pairs_free(l->entries[i].tags, l->entries[i].n_tags);
        free(l->entries);
        free(l->skip_reason);
        free(l);
        return NULL;
}

const TagEntry *tag_list_find(const TagList *l, pid_t pid) {
        size_t lo = 0, hi = l ? l->n_entries : 0;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (l->entries[mid].pid == pid)
                        return &l->entries[mid];
                if (l->entries[mid].pid < pid)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

_printf_(2, 0) static char *format_at(const yaml_mark_t *m, const char *fmt, va_list ap) {
        _cleanup_free_ char *msg = NULL;
        char *s;

        if (vasprintf(&msg, fmt, ap) < 0)
                return NULL;
        if (asprintf(&s, "line %zu, column %zu: %s", m->line + 1, m->column + 1, msg) < 0)
                return NULL;
        return s;
}

/* Fails the whole document. */
static int fail(Parser *p, const yaml_mark_t *m, const char *fmt, ...) _printf_(3, 4);
static int fail(Parser *p, const yaml_mark_t *m, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        free(p->error);
        p->error = format_at(m, fmt, ap);
        va_end(ap);
        return p->error ? -EBADMSG : -ENOMEM;
}

/* Marks one entry malformed; only its first problem is kept. */
static int entry_bad(Entry *e, const yaml_mark_t *m, const char *fmt, ...) _printf_(3, 4);
static int entry_bad(Entry *e, const yaml_mark_t *m, const char *fmt, ...) {
        va_list ap;

        if (e->bad)
                return 0;
        va_start(ap, fmt);
        e->bad = format_at(m, fmt, ap);
        va_end(ap);
        return e->bad ? 0 : -ENOMEM;
}

static int next(Parser *p) {
        if (p->have_ev) {
                yaml_event_delete(&p->ev);
                p->have_ev = false;
        }
        if (!yaml_parser_parse(&p->yaml, &p->ev)) {
                const char *problem = p->yaml.problem ?: "malformed YAML";

                if (p->yaml.error == YAML_MEMORY_ERROR)
                        return -ENOMEM;
                free(p->error);
                p->error = NULL;
                if (p->yaml.error == YAML_READER_ERROR) {
                        /* The reader only knows the byte offset: count lines and columns (in bytes). */
                        size_t line = 1, column = 1;

                        for (size_t i = 0; i < p->yaml.problem_offset && i < p->len; i++) {
                                column++;
                                if (p->buf[i] == '\n') {
                                        line++;
                                        column = 1;
                                }
                        }
                        if (asprintf(&p->error, "line %zu, column %zu: %s (byte %zu)", line, column, problem,
                                     p->yaml.problem_offset) < 0)
                                p->error = NULL;
                } else if (p->yaml.context) {
                        if (asprintf(&p->error, "line %zu, column %zu: %s %s", p->yaml.problem_mark.line + 1,
                                     p->yaml.problem_mark.column + 1, problem, p->yaml.context) < 0)
                                p->error = NULL;
                } else if (asprintf(&p->error, "line %zu, column %zu: %s", p->yaml.problem_mark.line + 1,
                                    p->yaml.problem_mark.column + 1, problem) < 0)
                        p->error = NULL;
                return p->error ? -EBADMSG : -ENOMEM;
        }
        p->have_ev = true;
        return 0;
}

/* The current event starts a node: consumes the rest of it (a no-op for scalars and aliases). */
static int skip_node(Parser *p) {
        size_t depth = 0;
        int r;

        for (;;) {
                switch (p->ev.type) {
                case YAML_SEQUENCE_START_EVENT:
                case YAML_MAPPING_START_EVENT:
                        depth++;
                        break;
                case YAML_SEQUENCE_END_EVENT:
                case YAML_MAPPING_END_EVENT:
                        depth--;
                        break;
                default:
                        break;
                }
                if (depth == 0)
                        return 0;
                r = next(p);
                if (r < 0)
                        return r;
        }
}

static bool scalar_is(const yaml_event_t *ev, const char *s) {
        return ev->type == YAML_SCALAR_EVENT && ev->data.scalar.length == strlen(s) &&
               memcmp(ev->data.scalar.value, s, ev->data.scalar.length) == 0;
}

/* A plain, untagged null as YAML 1.1 resolves it. */
static bool scalar_is_null(const yaml_event_t *ev) {
        if (ev->type != YAML_SCALAR_EVENT || ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
            ev->data.scalar.tag)
                return false;
        return scalar_is(ev, "") || scalar_is(ev, "~") || scalar_is(ev, "null") || scalar_is(ev, "Null") ||
               scalar_is(ev, "NULL");
}

static const char *node_kind(const yaml_event_t *ev) {
        switch (ev->type) {
        case YAML_SEQUENCE_START_EVENT:
                return "a sequence";
        case YAML_MAPPING_START_EVENT:
                return "a mapping";
        case YAML_ALIAS_EVENT:
                return "an alias";
        default:
                return "a scalar";
        }
}

static int parse_pid(Parser *p, Entry *e) {
        const yaml_event_t *ev = &p->ev;
        const char *s = (const char *) ev->data.scalar.value;
        size_t len = ev->data.scalar.length;
        long v = 0;

        if (ev->type != YAML_SCALAR_EVENT)
                return entry_bad(e, &ev->start_mark, "pid is %s, not an integer", node_kind(ev));
        if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
                return entry_bad(e, &ev->start_mark, "pid is a quoted string, not an integer");
        if (ev->data.scalar.tag && !streq((const char *) ev->data.scalar.tag, YAML_INT_TAG))
                return entry_bad(e, &ev->start_mark, "pid has the tag '%s', not an integer",
                                 (const char *) ev->data.scalar.tag);
        if (scalar_is_null(ev))
                return entry_bad(e, &ev->start_mark, "pid is null");
        if (len > 1 && s[0] == '0')
                return entry_bad(e, &ev->start_mark, "pid '%.*s' has a leading zero", (int) MIN(len, 32), s);

        /* Digits only, checked by hand: strtol would accept signs, blanks and overflow silently. */
        for (size_t i = 0; i < len; i++) {
                if (s[i] < '0' || s[i] > '9' || v > TAG_PARSE_PID_MAX)
                        return entry_bad(e, &ev->start_mark, "pid '%.*s' is not a positive integer up to %d",
                                         (int) MIN(len, 32), s, TAG_PARSE_PID_MAX);
                v = v * 10 + (s[i] - '0');
        }
        if (v < 1 || v > TAG_PARSE_PID_MAX)
                return entry_bad(e, &ev->start_mark, "pid '%.*s' is not a positive integer up to %d",
                                 (int) MIN(len, 32), s, TAG_PARSE_PID_MAX);
        e->e.pid = (pid_t) v;
        return 0;
}

/* Copies a tag key or value; a problem makes the entry malformed and leaves *ret untouched. */
static int take_string(Parser *p, Entry *e, const char *what, size_t max, char **ret) {
        const yaml_event_t *ev = &p->ev;
        const char *s = (const char *) ev->data.scalar.value;
        size_t len = ev->data.scalar.length;
        char *c;

        if (ev->type != YAML_SCALAR_EVENT)
                return entry_bad(e, &ev->start_mark, "tag %s is %s, not a scalar", what, node_kind(ev));
        if (scalar_is_null(ev))
                return entry_bad(e, &ev->start_mark, "tag %s is null", what);
        if (len > max)
                return entry_bad(e, &ev->start_mark, "tag %s is longer than %zu bytes", what, max);
        if (memchr(s, 0, len))
                return entry_bad(e, &ev->start_mark, "tag %s contains a NUL byte", what);
        if (len == 0 && streq(what, "key"))
                return entry_bad(e, &ev->start_mark, "tag key is empty");
        c = strndup(s, len);
        if (!c)
                return -ENOMEM;
        free(*ret);
        *ret = c;
        return 0;
}

/* Current event: the MAPPING_START of one tag. Consumes through its MAPPING_END. */
static int parse_tag(Parser *p, Entry *e) {
        yaml_mark_t start = p->ev.start_mark;
        _cleanup_free_ char *key = NULL, *value = NULL;
        bool seen_key = false, seen_value = false;
        int r;

        for (;;) {
                bool is_key, is_value;

                r = next(p);
                if (r < 0)
                        return r;
                if (p->ev.type == YAML_MAPPING_END_EVENT)
                        break;

                is_key = scalar_is(&p->ev, "key");
                is_value = scalar_is(&p->ev, "value");
                if ((is_key && seen_key) || (is_value && seen_value)) {
                        r = entry_bad(e, &p->ev.start_mark, "tag has '%s' twice", is_key ? "key" : "value");
                        if (r < 0)
                                return r;
                        is_key = is_value = false;
                }
                if (!is_key && !is_value) {
                        r = skip_node(p);
                        if (r >= 0)
                                r = next(p);
                        if (r >= 0)
                                r = skip_node(p);
                        if (r < 0)
                                return r;
                        continue;
                }
                r = next(p);
                if (r < 0)
                        return r;
                if (is_key) {
                        seen_key = true;
                        r = take_string(p, e, "key", TAG_PARSE_MAX_KEY, &key);
                } else {
                        seen_value = true;
                        r = take_string(p, e, "value", TAG_PARSE_MAX_VALUE, &value);
                }
                if (r >= 0)
                        r = skip_node(p);
                if (r < 0)
                        return r;
        }

        if (!seen_key)
                return entry_bad(e, &start, "tag has no key");
        if (!seen_value)
                return entry_bad(e, &start, "tag has no value");
        if (e->bad)
                return 0;
        if (e->e.n_tags >= TAG_PARSE_MAX_TAGS)
                return entry_bad(e, &start, "more than %d tags", TAG_PARSE_MAX_TAGS);

        /* The array never exceeds TAG_PARSE_MAX_TAGS: allocate it once at that size. */
        if (!e->e.tags) {
                e->e.tags = calloc(TAG_PARSE_MAX_TAGS, sizeof(TagPair));
                if (!e->e.tags)
                        return -ENOMEM;
        }
        e->e.tags[e->e.n_tags++] = (TagPair){.key = TAKE_PTR(key), .value = TAKE_PTR(value)};
        return 0;
}

/* Current event: the SEQUENCE_START of `tags`. Consumes through its SEQUENCE_END. */
static int parse_tags(Parser *p, Entry *e) {
        int r;

        for (;;) {
                r = next(p);
                if (r < 0)
                        return r;
                if (p->ev.type == YAML_SEQUENCE_END_EVENT)
                        return 0;
                if (p->ev.type == YAML_MAPPING_START_EVENT)
                        r = parse_tag(p, e);
                else {
                        r = entry_bad(e, &p->ev.start_mark, "tag is %s, not a mapping of key and value",
                                      node_kind(&p->ev));
                        if (r >= 0)
                                r = skip_node(p);
                }
                if (r < 0)
                        return r;
        }
}

static int compare_pair(const void *a, const void *b) {
        return strcmp(((const TagPair *) a)->key, ((const TagPair *) b)->key);
}

/* Sorts the tags by key; of equal keys the later one (a stable order is kept by the index in the array)
 * wins. */
static void entry_normalize(TagEntry *t) {
        size_t w = 0;

        /* Stable: insertion sort, n_tags <= TAG_PARSE_MAX_TAGS. */
        for (size_t i = 1; i < t->n_tags; i++) {
                TagPair x = t->tags[i];
                size_t j = i;

                for (; j > 0 && compare_pair(&t->tags[j - 1], &x) > 0; j--)
                        t->tags[j] = t->tags[j - 1];
                t->tags[j] = x;
        }
        for (size_t i = 0; i < t->n_tags; i++) {
                if (i + 1 < t->n_tags && streq(t->tags[i].key, t->tags[i + 1].key)) {
                        free(t->tags[i].key);
                        free(t->tags[i].value);
                        continue;
                }
                t->tags[w++] = t->tags[i];
        }
        t->n_tags = w;
}

/* Current event: the MAPPING_START of one entry. Consumes through its MAPPING_END. */
static int parse_entry(Parser *p, Entry *e) {
        yaml_mark_t start = p->ev.start_mark;
        int r;

        for (;;) {
                bool is_pid, is_tags;

                r = next(p);
                if (r < 0)
                        return r;
                if (p->ev.type == YAML_MAPPING_END_EVENT)
                        break;

                is_pid = scalar_is(&p->ev, "pid");
                is_tags = scalar_is(&p->ev, "tags");
                if ((is_pid && e->have_pid) || (is_tags && e->have_tags)) {
                        r = entry_bad(e, &p->ev.start_mark, "'%s' given twice", is_pid ? "pid" : "tags");
                        if (r < 0)
                                return r;
                        is_pid = is_tags = false;
                }
                r = skip_node(p);
                if (r >= 0)
                        r = next(p);
                if (r < 0)
                        return r;

                if (is_pid) {
                        e->have_pid = true;
                        r = parse_pid(p, e);
                        if (r >= 0)
                                r = skip_node(p);
                } else if (is_tags) {
                        e->have_tags = true;
                        if (p->ev.type == YAML_SEQUENCE_START_EVENT)
                                r = parse_tags(p, e);
                        else {
                                r = entry_bad(e, &p->ev.start_mark, "tags is %s, not a sequence",
                                              node_kind(&p->ev));
                                if (r >= 0)
                                        r = skip_node(p);
                        }
                } else
                        r = skip_node(p);
                if (r < 0)
                        return r;
        }

        if (!e->have_pid)
                return entry_bad(e, &start, "entry has no pid");
        if (!e->have_tags)
                return entry_bad(e, &start, "entry has no tags");
        return 0;
}

static void entry_done(Entry *e) {
        pairs_free(e->e.tags, e->e.n_tags);
        free(e->bad);
        *e = (Entry){};
}

static int compare_entry(const void *a, const void *b) {
        const Entry *x = a, *y = b;

        if (x->e.pid != y->e.pid)
                return x->e.pid < y->e.pid ? -1 : 1;
        return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Current event: the document's SEQUENCE_START. Consumes through its SEQUENCE_END. */
static int parse_entries(Parser *p, TagList *l) {
        Entry *entries = NULL;
        size_t n = 0, allocated = 0, seen = 0, w = 0;
        int r = 0;

        for (;;) {
                Entry e = {};

                r = next(p);
                if (r < 0)
                        break;
                if (p->ev.type == YAML_SEQUENCE_END_EVENT)
                        break;
                if (++seen > TAG_PARSE_MAX_ENTRIES) {
                        r = fail(p, &p->ev.start_mark, "more than %d entries", TAG_PARSE_MAX_ENTRIES);
                        break;
                }

                e.seq = seen;
                if (p->ev.type == YAML_MAPPING_START_EVENT)
                        r = parse_entry(p, &e);
                else {
                        r = entry_bad(&e, &p->ev.start_mark, "entry is %s, not a mapping of pid and tags",
                                      node_kind(&p->ev));
                        if (r >= 0)
                                r = skip_node(p);
                }
                if (r < 0) {
                        entry_done(&e);
                        break;
                }
                if (e.bad) {
                        l->n_skipped++;
                        if (!l->skip_reason)
                                l->skip_reason = TAKE_PTR(e.bad);
                        entry_done(&e);
                        continue;
                }
                if (n >= allocated) {
                        size_t a = MAX(allocated * 2, (size_t) 64);
                        Entry *x = reallocarray(entries, a, sizeof(Entry));

                        if (!x) {
                                entry_done(&e);
                                r = -ENOMEM;
                                break;
                        }
                        entries = x;
                        allocated = a;
                }
                entries[n++] = e;
        }

        if (r >= 0 && n > 0) {
                l->entries = calloc(n, sizeof(TagEntry));
                if (!l->entries)
                        r = -ENOMEM;
        }
        if (r < 0) {
                for (size_t i = 0; i < n; i++)
                        entry_done(&entries[i]);
                free(entries);
                return r;
        }

        /* Sorted by (pid, position): of a run of equal pids the last is the later entry, which wins. */
        if (n > 0)
                qsort(entries, n, sizeof(Entry), compare_entry);
        for (size_t i = 0; i < n; i++) {
                if (i + 1 < n && entries[i].e.pid == entries[i + 1].e.pid) {
                        entry_done(&entries[i]);
                        continue;
                }
                entry_normalize(&entries[i].e);
                l->entries[w++] = entries[i].e;
        }
        l->n_entries = w;
        free(entries);
        return 0;
}

/* Only blank lines and comments. libyaml refuses a tab at the start of a line in block context, and a
 * command printing "\t\n" for "nothing" is not worth a failure. */
static bool is_blank(const char *buf, size_t len) {
        bool comment = false;

        for (size_t i = 0; i < len; i++) {
                if (buf[i] == '\n')
                        comment = false;
                else if (comment || buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r')
                        continue;
                else if (buf[i] == '#')
                        comment = true;
                else
                        return false;
        }
        return true;
}

static void parser_done(Parser *p) {
        if (p->have_ev)
                yaml_event_delete(&p->ev);
        yaml_parser_delete(&p->yaml);
        free(p->error);
}

int tag_parse(const char *buf, size_t len, TagList **ret, char **ret_error) {
        _cleanup_(parser_done) Parser p = {.buf = buf, .len = len};
        _cleanup_(tag_list_freep) TagList *l = NULL;
        int r;

        if (!yaml_parser_initialize(&p.yaml))
                return -ENOMEM;
        yaml_parser_set_input_string(&p.yaml, (const unsigned char *) buf, len);
        yaml_parser_set_encoding(&p.yaml, YAML_UTF8_ENCODING);

        l = calloc(1, sizeof(TagList));
        if (!l)
                return -ENOMEM;
        if (is_blank(buf, len)) {
                *ret = TAKE_PTR(l);
                return 0;
        }

        r = next(&p); /* STREAM_START */
        if (r >= 0)
                r = next(&p);
        if (r >= 0 && p.ev.type == YAML_DOCUMENT_START_EVENT) {
                r = next(&p);
                if (r >= 0) {
                        if (p.ev.type == YAML_SEQUENCE_START_EVENT)
                                r = parse_entries(&p, l);
                        else if (!scalar_is_null(&p.ev))
                                r = fail(&p, &p.ev.start_mark,
                                         "expected a sequence of {pid, tags} entries, found %s",
                                         node_kind(&p.ev));
                }
                if (r >= 0)
                        r = next(&p); /* DOCUMENT_END */
                if (r >= 0)
                        r = next(&p);
                if (r >= 0 && p.ev.type != YAML_STREAM_END_EVENT)
                        r = fail(&p, &p.ev.start_mark, "more than one document");
        }
        if (r == -EBADMSG && ret_error)
                *ret_error = TAKE_PTR(p.error);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(l);
        return 0;
}
