/* See table.h. */
#include "table.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include "macro.h"

struct Table {
        size_t n_columns;
        char **cells; /* (1 + n_rows) * n_columns: the header row first */
        size_t n_rows;
        bool *shrink; /* per column: may be cut to fit */
};

/* UTF-8 characters in s (continuation bytes do not count). */
static size_t text_width(const char *s) {
        size_t n = 0;

        for (; *s; s++)
                if (((unsigned char) *s & 0xC0) != 0x80)
                        n++;
        return n;
}

/* The byte length of s's first `chars` characters. */
static size_t prefix_bytes(const char *s, size_t chars) {
        size_t i = 0, n = 0;

        for (; s[i]; i++) {
                if (((unsigned char) s[i] & 0xC0) != 0x80) {
                        if (n == chars)
                                break;
                        n++;
                }
        }
        return i;
}

Table *table_new(size_t n_columns, const char *const *headers) {
        Table *t = calloc(1, sizeof(Table));

        if (!t)
                return NULL;
        t->n_columns = n_columns;
        t->shrink = calloc(n_columns, sizeof(bool));
        if (!t->shrink || table_add_row(t, headers) < 0)
                return table_free(t);
        t->n_rows = 0; /* the header is row -1 */
        return t;
}

Table *table_free(Table *t) {
        if (!t)
                return NULL;
        for (size_t i = 0; i < (t->n_rows + 1) * t->n_columns; i++)
                free(t->cells[i]);
        free(t->cells);
        free(t->shrink);
        free(t);
        return NULL;
}

int table_add_row(Table *t, const char *const *cells) {
        size_t have = t->cells ? (t->n_rows + 1) * t->n_columns : 0;
        char **m = reallocarray(t->cells, have + t->n_columns, sizeof(char *));

        if (!m)
                return -ENOMEM;
        t->cells = m;
        for (size_t i = 0; i < t->n_columns; i++) {
                /* Control characters (a newline in a cmdline) would break the table: shown as '?'. */
                char *c = strdup(isempty(cells[i]) ? "-" : cells[i]);

                if (!c) {
                        for (size_t j = 0; j < i; j++)
                                free(m[have + j]);
                        return -ENOMEM;
                }
                for (char *p = c; *p; p++)
                        if ((unsigned char) *p < 0x20 || *p == 0x7f)
                                *p = '?';
                m[have + i] = c;
        }
        if (have > 0)
                t->n_rows++;
        return 0;
}

void table_set_shrink_column(Table *t, size_t column) {
        if (column < t->n_columns)
                t->shrink[column] = true;
}

size_t table_n_rows(const Table *t) {
        return t->n_rows;
}

int table_print(const Table *t, FILE *f, size_t width) {
        _cleanup_free_ size_t *w = calloc(t->n_columns, sizeof(size_t));
        size_t total = 0;

        if (!w)
                return -ENOMEM;
        for (size_t r = 0; r <= t->n_rows; r++)
                for (size_t c = 0; c < t->n_columns; c++) {
                        size_t n = text_width(t->cells[r * t->n_columns + c]);
                        if (n > w[c])
                                w[c] = n;
                }
        for (size_t c = 0; c < t->n_columns; c++)
                total += w[c] + (c > 0 ? 2 : 0);
        /* The widest cuttable column gives up a character until the line fits; none goes below its header's
         * width (a table is still readable when it overflows). */
        while (width > 0 && total > width) {
                ssize_t widest = -1;

                for (size_t c = 0; c < t->n_columns; c++)
                        if (t->shrink[c] && w[c] > text_width(t->cells[c]) &&
                            (widest < 0 || w[c] > w[widest]))
                                widest = (ssize_t) c;
                if (widest < 0)
                        break;
                w[widest]--;
                total--;
        }

        for (size_t r = 0; r <= t->n_rows; r++) {
                for (size_t c = 0; c < t->n_columns; c++) {
                        const char *s = t->cells[r * t->n_columns + c];
                        size_t n = text_width(s);
                        bool last = c + 1 == t->n_columns;

                        if (c > 0)
                                fputs("  ", f);
                        if (t->shrink[c] && n > w[c]) {
                                fwrite(s, 1, prefix_bytes(s, w[c] - 1), f);
                                fputs("…", f);
                                n = w[c];
                        } else
                                fputs(s, f);
                        if (!last)
                                for (size_t i = n; i < w[c]; i++)
                                        fputc(' ', f);
                }
                fputc('\n', f);
        }
        return 0;
}

size_t ctl_terminal_width(void) {
        struct winsize ws = {};
        const char *e;
        char *end;
        unsigned long v;

        if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) >= 0 && ws.ws_col > 0)
                return ws.ws_col;
        e = getenv("COLUMNS");
        if (isempty(e))
                return 0;
        errno = 0;
        v = strtoul(e, &end, 10);
        if (errno != 0 || *end != 0 || v == 0 || v > 100000)
                return 0;
        return v;
}
