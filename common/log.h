/* The logger: one line per message on stderr, "procsync-scanner[1234]: <level>: message".
 *
 * Under systemd, stderr goes to the journal; the "<N>" syslog prefix is added when JOURNAL_STREAM says
 * stderr is the journal, so levels survive. The logger is one of the two kinds of globals allowed (see
 * STYLE.md): set the program name once with log_setup(). Code in common/ never logs (it returns errors);
 * daemons and procctl do. Every log_*_errno() returns the negative error so callers can
 * `return log_error_errno(r, "...");`. %m in the format prints strerror of that error. */
#pragma once

#include "macro.h"

enum {
        LOG_LEVEL_ERR = 3,
        LOG_LEVEL_WARNING = 4,
        LOG_LEVEL_NOTICE = 5,
        LOG_LEVEL_INFO = 6,
        LOG_LEVEL_DEBUG = 7,
};

void log_setup(const char *program_name);
void log_set_max_level(int level);
int log_get_max_level(void);

/* Returns -abs(error) (or 0 when error is 0), so it can end a function. */
int log_internal(int level, int error, const char *file, int line, const char *func, const char *format, ...)
        _printf_(6, 7);

#define log_full_errno(level, error, ...) log_internal((level), (error), __FILE__, __LINE__, __func__, __VA_ARGS__)

#define log_debug(...) log_full_errno(LOG_LEVEL_DEBUG, 0, __VA_ARGS__)
#define log_info(...) log_full_errno(LOG_LEVEL_INFO, 0, __VA_ARGS__)
#define log_notice(...) log_full_errno(LOG_LEVEL_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_full_errno(LOG_LEVEL_WARNING, 0, __VA_ARGS__)
#define log_error(...) log_full_errno(LOG_LEVEL_ERR, 0, __VA_ARGS__)

#define log_debug_errno(e, ...) log_full_errno(LOG_LEVEL_DEBUG, (e), __VA_ARGS__)
#define log_info_errno(e, ...) log_full_errno(LOG_LEVEL_INFO, (e), __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_LEVEL_WARNING, (e), __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_LEVEL_ERR, (e), __VA_ARGS__)
