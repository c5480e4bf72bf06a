/* The rewrite-name template expander: see template.h for the syntax.
 *
 * One left-to-right pass over the template writes into a buffer of TEMPLATE_MAX_OUTPUT bytes; environment
 * values and capture groups are copied in verbatim, so a value that contains '$' or '%' is never expanded a
 * second time (a single pass is what keeps an environment value from reaching into the capture groups).
 * Writing stops at the cap and the tail is cut back to a UTF-8 character boundary. */
#include "template.h"

#include <limits.h>

#include "macro.h"

typedef struct Out {
        char *data; /* TEMPLATE_MAX_OUTPUT + 1 bytes */
        size_t len;
        bool truncated;
} Out;

static void out_put(Out *o, const char *s, size_t n) {
        size_t room = TEMPLATE_MAX_OUTPUT - o->len;

        if (n > room) {
                n = room;
                o->truncated = true;
        }
        memcpy(o->data + o->len, s, n);
        o->len += n;
}

/* After a cut at the cap, drop a trailing multi-byte UTF-8 sequence that lost its last bytes. Bytes that
 * were not valid UTF-8 to begin with are left alone: the cut must not make the name worse than it was. */
static void out_trim_utf8(Out *o) {
        size_t i = o->len, cont = 0, need;
        unsigned char lead;

        while (i > 0 && cont < 3 && ((unsigned char) o->data[i - 1] & 0xC0) == 0x80) {
                i--;
                cont++;
        }
        if (i == 0)
                return;
        lead = (unsigned char) o->data[i - 1];
        if (lead >= 0xF0)
                need = 4;
        else if (lead >= 0xE0)
                need = 3;
        else if (lead >= 0xC0)
                need = 2;
        else
                return;
        if (cont + 1 < need)
                o->len = i - 1;
}

static int out_init(Out *o) {
        *o = (Out) {};
        o->data = malloc(TEMPLATE_MAX_OUTPUT + 1);
        return o->data ? 0 : -ENOMEM;
}

/* Hands the result over shrunk to its length: decisions for every process are kept, 4 KiB each would add
 * up. Returns 1 when the result was cut. */
static int out_finish(Out *o, char **ret) {
        char *shrunk;

        if (o->truncated)
                out_trim_utf8(o);
        o->data[o->len] = 0;
        shrunk = realloc(o->data, o->len + 1);
        *ret = shrunk ?: o->data;
        return o->truncated ? 1 : 0;
}

static bool is_name_char(char c) {
        return c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static size_t name_span(const char *s) {
        size_t n = 0;

        while (is_name_char(s[n]))
                n++;
        return n;
}

const char *template_env_getenv(const char *name, void *userdata) {
        return getenv(name);
}

const char *template_env_strv(const char *name, void *userdata) {
        size_t n = strlen(name);

        for (char **e = userdata; e && *e; e++)
                if (strneq(*e, name, n) && (*e)[n] == '=')
                        return *e + n + 1;
        return NULL;
}

/* Copies capture group `group` (if it exists and took part in the match) to the output. */
static void put_group(Out *o, const pcre2_code *code, pcre2_match_data *md, const char *subject,
                      uint32_t group) {
        uint32_t captures = 0;
        PCRE2_SIZE *ov;

        if (pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &captures) < 0)
                return;
        /* Only pairs 0..capture count are written by pcre2_match(); anything past them is stale. */
        if (group > captures || group >= pcre2_get_ovector_count(md))
                return;
        ov = pcre2_get_ovector_pointer(md);
        if (ov[2 * group] == PCRE2_UNSET || ov[2 * group] > ov[2 * group + 1])
                return;
        out_put(o, subject + ov[2 * group], ov[2 * group + 1] - ov[2 * group]);
}

/* A name may belong to several groups under (?J); like pcre2_substring_copy_byname(), take the first one
 * that is set. */
static void put_named_group(Out *o, const pcre2_code *code, pcre2_match_data *md, const char *subject,
                            const char *name) {
        PCRE2_SPTR first = NULL, last = NULL;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        uint32_t count = pcre2_get_ovector_count(md);
        int entry_size;

        entry_size = pcre2_substring_nametable_scan(code, (PCRE2_SPTR) name, &first, &last);
        if (entry_size <= 0 || !first)
                return;
        for (PCRE2_SPTR e = first; e <= last; e += entry_size) {
                uint32_t g = ((uint32_t) e[0] << 8) | e[1];

                if (g < count && ov[2 * g] != PCRE2_UNSET) {
                        put_group(o, code, md, subject, g);
                        return;
                }
        }
}

static bool parse_group_number(const char *s, size_t n, uint32_t *ret) {
        uint32_t v = 0;

        if (n == 0)
                return false;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return false;
                /* No pattern has this many groups: anything larger is simply a missing group. */
                if (v > 65535)
                        return true;
                v = v * 10 + (uint32_t) (s[i] - '0');
        }
        *ret = v;
        return true;
}

/* Expands a group reference whose name or number is s[0..n). */
static void put_reference(Out *o, const pcre2_code *code, pcre2_match_data *md, const char *subject,
                          const char *s, size_t n) {
        char name[TEMPLATE_MAX_VAR_NAME + 1];
        uint32_t g = UINT32_MAX;

        if (parse_group_number(s, n, &g)) {
                put_group(o, code, md, subject, g);
                return;
        }
        if (n > TEMPLATE_MAX_VAR_NAME)
                return; /* longer than any group name PCRE2 allows (32): missing */
        memcpy(name, s, n);
        name[n] = 0;
        put_named_group(o, code, md, subject, name);
}

/* Handles the text after a '%'; returns how many template bytes were consumed after it. */
static size_t expand_percent(Out *o, const char *p, TemplateEnvLookup env, void *userdata) {
        char name[TEMPLATE_MAX_VAR_NAME + 1];
        char host[HOST_NAME_MAX + 1];
        const char *v;
        size_t n;

        if (*p == '%') {
                out_put(o, "%", 1);
                return 1;
        }
        n = name_span(p);
        if (n == 0 || p[n] != '%' || n > TEMPLATE_MAX_VAR_NAME) {
                out_put(o, "%", 1);
                return 0;
        }
        memcpy(name, p, n);
        name[n] = 0;
        v = env(name, userdata);
        if (!v && streq(name, "HOSTNAME") && gethostname(host, sizeof(host)) >= 0) {
                host[sizeof(host) - 1] = 0;
                v = host;
        }
        if (v)
                out_put(o, v, strlen(v));
        else
                out_put(o, p - 1, n + 2);
        return n + 1;
}

/* Handles the text after a '$'; returns how many template bytes were consumed after it. */
static size_t expand_dollar(Out *o, const char *p, const pcre2_code *code, pcre2_match_data *md,
                            const char *subject) {
        size_t n;

        if (*p == '$') {
                out_put(o, "$", 1);
                return 1;
        }
        if (*p == '{') {
                n = name_span(p + 1);
                if (n > 0 && p[1 + n] == '}') {
                        put_reference(o, code, md, subject, p + 1, n);
                        return n + 2;
                }
                out_put(o, "$", 1);
                return 0;
        }
        n = name_span(p);
        if (n == 0) {
                out_put(o, "$", 1);
                return 0;
        }
        put_reference(o, code, md, subject, p, n);
        return n;
}

int template_expand(const char *tmpl, const pcre2_code *code, pcre2_match_data *match_data,
                    const char *subject, TemplateEnvLookup env, void *env_userdata, char **ret) {
        const char *p = tmpl;
        Out o;

        if (out_init(&o) < 0)
                return -ENOMEM;
        if (!env)
                env = template_env_getenv;

        while (*p && !o.truncated) {
                size_t lit = strcspn(p, "%$");

                out_put(&o, p, lit);
                p += lit;
                if (*p == '%')
                        p += 1 + expand_percent(&o, p + 1, env, env_userdata);
                else if (*p == '$')
                        p += 1 + expand_dollar(&o, p + 1, code, match_data, subject);
        }
        return out_finish(&o, ret);
}

int template_copy_bounded(const char *s, char **ret) {
        Out o;

        if (out_init(&o) < 0)
                return -ENOMEM;
        out_put(&o, s, strlen(s));
        return out_finish(&o, ret);
}
