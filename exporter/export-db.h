/* The exporter's own tables in state.db: export_state (the current version and its digest), export_sinks
 * (per sink: what it acknowledged, its errors, its next attempt) and the gpids a DeepFlow server assigned
 * (export_gpids, export_socket_gpids). The exporter is their only writer. */
#pragma once

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "sink.h"
#include "sync-state.h"

/* The version rule (DESIGN.md "Sinks", reference/deepflow-sync.md): the first version ever is the
 * exporter's first start time in epoch seconds; afterwards the version grows by exactly 1 when the digest
 * changes and stays when it does not. Never 0 (DeepFlow ignores version 0). */
uint64_t export_next_version(bool have_stored, uint64_t stored_version, const char *stored_digest,
                             const char *digest, uint64_t first_version);

/* Assigns st->version from export_state and st->digest by the rule above and stores (version, digest,
 * match_generation, built_at) in one write transaction, so that a version exists in the database before
 * any sink can see it: after a crash the same content gets the same version again, and a new content
 * can never reuse a version a receiver already holds. *ret_new (optional) tells whether the version
 * changed (or is the first one). */
int export_state_commit(sqlite3 *db, SyncState *st, uint64_t first_version, bool *ret_new);

/* Reads export_state; -ENOENT when no state was ever built. */
int export_state_read(sqlite3 *db, uint64_t *ret_version, char ret_digest[65]);

typedef struct ExportSinkRow {
        uint64_t acked_version;  /* 0: nothing acknowledged */
        int64_t last_attempt_at; /* epoch ms; 0 = never */
        int64_t last_ok_at;
        char *last_error;  /* NULL: the last attempt succeeded */
        uint64_t failures; /* consecutive, drives the backoff */
        uint64_t errors_total;
        int64_t next_attempt_at; /* epoch ms; 0 = now */
} ExportSinkRow;

void export_sink_row_done(ExportSinkRow *row);

/* Reads the row of sink `name`, inserting a fresh one when it is missing. A row left by a sink of another
 * type or with another target (url, path, controllers: see export_sink_target()) under the same name is
 * reset: what it acknowledged was another receiver. */
int export_sink_load(sqlite3 *db, const char *name, SinkType type, const char *target, ExportSinkRow *ret);

/* Writes every column of the row of sink `name`. */
int export_sink_save(sqlite3 *db, const char *name, const ExportSinkRow *row);

/* Deletes the rows (and gpids) of sinks that are no longer configured. */
int export_sinks_prune(sqlite3 *db, const ConfigSink *sinks, size_t n_sinks);

/* Replaces the gpids stored for `sink` with those of a GPIDSync answer, in one transaction. */
int export_gpids_store(sqlite3 *db, const char *sink, const SinkSocketResult *result);
