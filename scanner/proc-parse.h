/* Parsers of the /proc files the process scan reads, each from a buffer (tests feed strings; the scan feeds
 * what it read). /proc/<pid>/stat has its own parser in common/proc-stat.h. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The raw cmdline is read up to this many bytes; a longer argv is cut there (possibly inside an argument).
 * 4 KiB keeps every real command line we know of (Java class paths are the long ones) while bounding what
 * one process can make us store and sync. */
#define PROC_CMDLINE_MAX 4096

/* Text after UTF-8 repair can grow: every invalid byte becomes U+FFFD (3 bytes). */
#define PROC_TEXT_REPAIRED_SIZE(n) (3 * (n) + 1)

#define PROC_CONTAINER_ID_LEN 64

/* The "Uid:" line of /proc/<pid>/status: its first field, the real uid. -EBADMSG when missing or bad. */
int proc_status_parse_uid(const char *buf, size_t len, uid_t *ret);

/* The container id in /proc/<pid>/cgroup (v1 "ID:controllers:path" lines and the v2 "0::path" line): a run
 * of exactly 64 hex digits in a path, as in "/docker/<id>", "docker-<id>.scope",
 * "cri-containerd-<id>.scope", "crio-<id>.scope" or "...:cri-containerd:<id>". Within a path the last
 * such run wins (the innermost of nested containers); the first line that has one decides. Writes the id
 * in lowercase and returns 1, or returns 0 and writes "" when no line has one. `ret` holds
 * PROC_CONTAINER_ID_LEN + 1 bytes. */
int proc_cgroup_container_id(const char *buf, size_t len, char *ret);

/* /proc/<pid>/cmdline: NUL-separated arguments joined by single spaces, trailing NULs dropped, at most
 * `len` input bytes (the caller reads at most PROC_CMDLINE_MAX). Invalid UTF-8 is repaired as by
 * text_repair_utf8(). `ret` holds PROC_TEXT_REPAIRED_SIZE(len) bytes. Returns the length written. */
size_t proc_cmdline_join(const char *buf, size_t len, char *ret);

/* Copies `len` bytes to `ret` replacing every byte that is not part of a valid UTF-8 sequence (overlong
 * forms, surrogates, code points above U+10FFFF, NUL) with U+FFFD, so that every string stored in the
 * database is valid text for SQLite, PCRE2's UTF mode and JSON. `ret` holds PROC_TEXT_REPAIRED_SIZE(len)
 * bytes; it is NUL-terminated. Returns the length written. */
size_t text_repair_utf8(const char *buf, size_t len, char *ret);

/* Finds the user name of `uid` in a passwd(5) buffer: "name:password:uid:gid:gecos:home:shell" lines;
 * comments, NIS "+"/"-" entries and malformed lines are skipped; the first match wins. Returns 1 and sets
 * *ret_name and *ret_len to the name inside `buf`, 0 when not found. */
int passwd_find_uid(const char *buf, size_t len, uid_t uid, const char **ret_name, size_t *ret_len);

/* The "btime N" line of /proc/stat: boot time in epoch seconds. -EBADMSG when missing. */
int proc_stat_parse_btime(const char *buf, size_t len, uint64_t *ret);

/* A namespace link's target, e.g. "net:[4026531840]" with type "net": the inode. -EBADMSG otherwise. */
int proc_ns_link_parse(const char *buf, size_t len, const char *type, uint64_t *ret);
