/* User names of processes: the passwd(5) of the process's own root first (a container's users are not the
 * host's), then the host's NSS, then the uid as text. Lookups are cached per (root, uid) for one cycle. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

/* A container's /etc/passwd is read up to this size; entries past it fall back to the host's NSS. */
#define PASSWD_READ_MAX (1024 * 1024)
/* A user name longer than this (before UTF-8 repair) is cut: passwd names are short, this one is hostile. */
#define USER_NAME_MAX 256

typedef struct UserCache UserCache;

int user_cache_new(UserCache **ret);
UserCache *user_cache_free(UserCache *c);

/* Forgets every cached file and name: called at the start of a cycle so that edits to passwd files show up
 * within one cycle. */
void user_cache_reset(UserCache *c);

/* The name of `uid` for the process whose /proc directory is `pid_fd`. *ret_name is valid UTF-8 and lives
 * until the next reset. *ret_denied is set when the process's root could not be opened (no permission),
 * in which case only the host's NSS was asked. Returns 0, or -ENOMEM. */
int user_cache_lookup(UserCache *c, int pid_fd, uid_t uid, const char **ret_name, bool *ret_denied);

/* How many passwd files were read since the last reset. */
unsigned user_cache_n_files(const UserCache *c);
