/* procctl's human tables: aligned columns with a header line, chosen columns (the cmdline, the tags) cut to
 * fit the terminal with "…". Widths count UTF-8 characters, not bytes, so non-ASCII names stay aligned. */
#pragma once

#include <stddef.h>
#include <stdio.h>

typedef struct Table Table;

/* headers: n_columns strings. */
Table *table_new(size_t n_columns, const char *const *headers);
Table *table_free(Table *t);

/* Copies the n_columns cells (NULL and "" print as "-"). -ENOMEM */
int table_add_row(Table *t, const char *const *cells);

/* Marks a column that may be cut so that lines fit the width (default: none is cut); when several are,
 * the widest is cut first. */
void table_set_shrink_column(Table *t, size_t column);

size_t table_n_rows(const Table *t);

/* width 0: no limit. Columns are separated by two spaces; the last column is not padded. */
int table_print(const Table *t, FILE *f, size_t width);

/* stdout's terminal width; $COLUMNS when stdout is not a terminal; 0 (no limit) otherwise. */
size_t ctl_terminal_width(void);

static inline void table_freep(Table **t) {
        if (*t)
                table_free(*t);
}
