/* libFuzzer harness of the /proc/<pid>/stat parser (common/proc-stat.h), which reads a line whose comm a
 * process chooses itself (prctl(PR_SET_NAME), or the name of the file it execs): spaces, parentheses,
 * newlines. A successful parse must give a positive pid and a NUL-terminated comm. */
#include <stdlib.h>
#include <string.h>

#include "proc-stat.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        ProcStat st;

        if (proc_stat_parse((const char *) data, size, &st) < 0)
                return 0;
        if (st.pid <= 0 || st.ppid < 0 || memchr(st.comm, 0, sizeof(st.comm)) == NULL)
                abort();
        return 0;
}
