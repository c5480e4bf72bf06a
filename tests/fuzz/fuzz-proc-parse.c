/* libFuzzer harness of the process scan's /proc file parsers (scanner/proc-parse.h): status (Uid:),
 * cgroup (container id), cmdline (join and UTF-8 repair), /proc/stat's btime, namespace links and passwd(5)
 * lines. Every one of them reads what a process (or the rootfs of a container) controls.
 *
 * Each parser gets the whole input, so a seed of one file type exercises the others' rejection paths too.
 * The output buffers are allocated at exactly the size the header promises, so that ASan sees a write one
 * byte past it; the results are checked against the header's promises (64 lowercase hex digits, a name
 * inside the buffer without ':' or newline, the join's length and termination). The scanner's UTF-8 repair
 * is also checked against common/utf8.h's (same policy: each invalid byte becomes U+FFFD), so that text
 * the scanner stores is text every reader accepts. */
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "proc-parse.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_cmdline(const char *buf, size_t len) {
        _cleanup_free_ char *out = NULL, *repaired = NULL, *again = NULL;
        size_t n;

        if (len > PROC_CMDLINE_MAX)
                len = PROC_CMDLINE_MAX;
        out = malloc(PROC_TEXT_REPAIRED_SIZE(len));
        repaired = malloc(PROC_TEXT_REPAIRED_SIZE(len));
        if (!out || !repaired)
                abort();

        n = proc_cmdline_join(buf, len, out);
        if (n >= PROC_TEXT_REPAIRED_SIZE(len) || out[n] != 0 || strlen(out) != n)
                abort();
        n = text_repair_utf8(buf, len, repaired);
        if (n >= PROC_TEXT_REPAIRED_SIZE(len) || repaired[n] != 0 || strlen(repaired) != n)
                abort();
        if (!utf8_is_valid(repaired, n))
                abort();
        /* NUL is the one byte on which the two differ on purpose (utf8.h keeps it, the scanner cannot). */
        if (!memchr(buf, 0, len)) {
                again = utf8_make_valid(buf, len);
                if (!again || !streq(again, repaired) || utf8_is_valid(buf, len) != (n == len))
                        abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *buf = (const char *) data;
        char id[PROC_CONTAINER_ID_LEN + 1];
        static const uid_t uids[] = { 0, 1000, 65534 };
        uint64_t v;
        uid_t uid;

        (void) proc_status_parse_uid(buf, size, &uid);
        (void) proc_stat_parse_btime(buf, size, &v);
        if (proc_ns_link_parse(buf, size, "net", &v) >= 0 && v == 0)
                abort();

        if (proc_cgroup_container_id(buf, size, id) > 0) {
                if (strlen(id) != PROC_CONTAINER_ID_LEN || strspn(id, "0123456789abcdef") != PROC_CONTAINER_ID_LEN)
                        abort();
        } else if (id[0] != 0)
                abort();

        for (size_t i = 0; i < ELEMENTSOF(uids); i++) {
                const char *name;
                size_t n;

                if (passwd_find_uid(buf, size, uids[i], &name, &n) <= 0)
                        continue;
                if (name < buf || name + n > buf + size || n == 0 || memchr(name, ':', n) ||
                    memchr(name, '\n', n))
                        abort();
        }

        check_cmdline(buf, size);
        return 0;
}
