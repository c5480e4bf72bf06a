/* Logger implementation: formats into a bounded buffer and writes the line with one write(2) so lines of
 * concurrent processes sharing stderr never interleave. See log.h. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static const char *log_program = "procsync";
static int log_max_level = LOG_LEVEL_INFO;
static int log_to_journal = -1;

void log_setup(const char *program_name) {
        const char *e;

        log_program = program_name;
        e = getenv("PROCSYNC_LOG_LEVEL");
        if (e) {
                if (streq(e, "debug"))
                        log_max_level = LOG_LEVEL_DEBUG;
                else if (streq(e, "info"))
                        log_max_level = LOG_LEVEL_INFO;
                else if (streq(e, "notice"))
                        log_max_level = LOG_LEVEL_NOTICE;
                else if (streq(e, "warning"))
                        log_max_level = LOG_LEVEL_WARNING;
                else if (streq(e, "err") || streq(e, "error"))
                        log_max_level = LOG_LEVEL_ERR;
        }
}

void log_set_max_level(int level) {
        log_max_level = level;
}

int log_get_max_level(void) {
        return log_max_level;
}

/* JOURNAL_STREAM is "DEV:INO" of the journal's stream; prefix "<level>" only when stderr is that stream. */
static bool stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
}

static const char *level_name(int level) {
        switch (level) {
        case LOG_LEVEL_ERR:
                return "error";
        case LOG_LEVEL_WARNING:
                return "warning";
        case LOG_LEVEL_NOTICE:
                return "notice";
        case LOG_LEVEL_INFO:
                return "info";
        default:
                return "debug";
        }
}

int log_internal(int level, int error, const char *file, int line, const char *func, const char *format, ...) {
        char msg[4096], out[4352];
        int saved_errno = errno;
        va_list ap;
        int n;

        if (error < 0)
                error = -error;
        if (level > log_max_level)
                return -error;
        if (log_to_journal < 0)
                log_to_journal = stderr_is_journal();

        errno = error; /* so %m names the error we were given */
        va_start(ap, format);
        vsnprintf(msg, sizeof(msg), format, ap);
        va_end(ap);

        if (log_to_journal)
                n = snprintf(out, sizeof(out), "<%d>%s\n", level, msg);
        else if (log_max_level >= LOG_LEVEL_DEBUG)
                n = snprintf(out, sizeof(out), "%s[%d]: %s: %s (%s:%d %s)\n", log_program, (int) getpid(),
                             level_name(level), msg, file, line, func);
        else
                n = snprintf(out, sizeof(out), "%s[%d]: %s: %s\n", log_program, (int) getpid(), level_name(level),
                             msg);
        if (n < 0)
                n = 0;
        if ((size_t) n >= sizeof(out))
                n = sizeof(out) - 1;
        (void) !write(STDERR_FILENO, out, (size_t) n);

        errno = saved_errno;
        return -error;
}
