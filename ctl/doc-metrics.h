/* `GET /metrics`: the state of the suite in the Prometheus text exposition format (version 0.0.4).
 *
 * One `procsync_process_info{name, pid, process_name, os_app_<key>...} 1` series per synced process (its
 * tags as labels, so a PromQL join can put business tags on any per-pid metric), then gauges and counters
 * of the daemons (up, last cycle duration and time, generation), the scan and match counts, the tag
 * command (ok, failures, duration) and every sink (acked version, in sync, errors). Every family has its
 * HELP and TYPE lines. Label values are escaped (\\, \", \n) and UTF-8; a tag key becomes a label name by
 * replacing every character outside [A-Za-z0-9_] with '_' (two keys that come out the same: the first in
 * sorted order wins, so a series never has a label twice). */
#pragma once

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define DOC_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* *ret is malloc'd text of *ret_len bytes. */
int doc_metrics(sqlite3 *db, const Config *c, int64_t now_ms, char **ret, size_t *ret_len);

/* "os_app_" + the key sanitized as above, malloc'd. */
char *metrics_tag_label(const char *key);

/* Writes the value escaped for a label value (between the quotes) to f; invalid UTF-8 becomes U+FFFD. */
int metrics_write_label_value(FILE *f, const char *value);
