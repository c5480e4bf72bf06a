/* The migrations of state.db, embedded at build time (schema/embed.py). Migration i (0-based) takes the
 * database from user_version i to i + 1; the binary's schema version is schema_n_migrations. */
#pragma once

extern const char *const schema_migrations[];
extern const unsigned schema_n_migrations;
