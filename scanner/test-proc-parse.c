/* Unit tests of the process-file parsers (proc-parse.c) and of the stat parser as the scanner uses it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proc-parse.h"
#include "proc-stat.h"

#define S(s) (s), (sizeof(s) - 1)

static void test_stat_comm(void **state) {
        ProcStat st;

        /* comm with a space and ") " inside: everything up to the LAST ')' is the comm. */
        assert_int_equal(
                proc_stat_parse(S("4242 (a) b) c) S 17 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 "
                                  "987654 1000 100 18446744073709551615\n"),
                                &st),
                0);
        assert_int_equal(st.pid, 4242);
        assert_string_equal(st.comm, "a) b) c");
        assert_int_equal(st.state, 'S');
        assert_int_equal(st.ppid, 17);
        assert_int_equal(st.start_ticks, 987654);

        assert_int_equal(
                proc_stat_parse(S("7 (my prog) R 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 55 0 0\n"), &st), 0);
        assert_string_equal(st.comm, "my prog");
        assert_int_equal(st.start_ticks, 55);

        assert_int_equal(proc_stat_parse(S("7 (x R 1"), &st), -EBADMSG);
        assert_int_equal(proc_stat_parse(S("7 (x) R 1 2 3\n"), &st), -EBADMSG);
}

static void test_status_uid(void **state) {
        uid_t uid = 0;

        assert_int_equal(proc_status_parse_uid(S("Name:\tsleep\nUmask:\t0022\nState:\tS (sleeping)\n"
                                                 "Tgid:\t12\nPid:\t12\nPPid:\t1\nTracerPid:\t0\n"
                                                 "Uid:\t1000\t0\t0\t0\nGid:\t100\t100\t100\t100\n"),
                                               &uid),
                         0);
        assert_int_equal(uid, 1000); /* the real uid, not the effective (0) */

        assert_int_equal(proc_status_parse_uid(S("Uid:\t4294967294\t1\t1\t1"), &uid), 0);
        assert_int_equal(uid, 4294967294u);

        assert_int_equal(proc_status_parse_uid(S("Name:\tx\nGid:\t1\t1\t1\t1\n"), &uid), -EBADMSG);
        assert_int_equal(proc_status_parse_uid(S("Uid:\t\n"), &uid), -EBADMSG);
        assert_int_equal(proc_status_parse_uid(S("Uid:\t12x\t0\n"), &uid), -EBADMSG);
        assert_int_equal(proc_status_parse_uid(S("Uid:\t4294967295\t0\n"), &uid), -EBADMSG);
        /* "Uid:" must start a line. */
        assert_int_equal(proc_status_parse_uid(S("XUid:\t5\n"), &uid), -EBADMSG);
}

#define ID  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define ID2 "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

static void check_cgroup(const char *text, const char *want) {
        char id[PROC_CONTAINER_ID_LEN + 1] = "garbage";
        int r = proc_cgroup_container_id(text, strlen(text), id);

        assert_int_equal(r, want[0] ? 1 : 0);
        assert_string_equal(id, want);
}

static void test_cgroup(void **state) {
        /* cgroup v2, each runtime's systemd scope. */
        check_cgroup("0::/system.slice/docker-" ID ".scope\n", ID);
        check_cgroup("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1b2c.slice/"
                     "cri-containerd-" ID ".scope\n",
                     ID);
        check_cgroup("0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-podaa.slice/crio-" ID
                     ".scope\n",
                     ID);
        /* cgroupfs driver: bare ids as path components; containerd's "slice:runtime:id" form. */
        check_cgroup("0::/docker/" ID "\n", ID);
        check_cgroup("0::/kubepods/burstable/pod0f3e/" ID "\n", ID);
        check_cgroup("0::/system.slice/containerd.service/kubepods-burstable-pod1.slice:cri-containerd:" ID
                     "\n",
                     ID);
        /* cgroup v1: several lines; the first with an id decides; the v2 "0::/" line of a hybrid host has
         * none. */
        check_cgroup("12:pids:/docker/" ID "\n11:memory:/docker/" ID "\n1:name=systemd:/docker/" ID
                     "\n0::/\n",
                     ID);
        check_cgroup("0::/\n4:memory:/system.slice/docker-" ID ".scope\n", ID);
        check_cgroup("5:cpu,cpuacct:/kubepods/besteffort/pod12/crio-" ID ".scope\n", ID);
        check_cgroup("3:devices:/kubepods.slice/cri-containerd-" ID ".scope\n", ID);
        /* Nested (docker in docker): the innermost, i.e. the last id of the path. */
        check_cgroup("0::/docker/" ID2 "/docker/" ID "\n", ID);
        /* Uppercase is normalised. */
        check_cgroup("0::/docker/0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF\n", ID);

        /* Not container ids: the host, a session scope, 63 or 65 hex digits, hex in the controller field. */
        check_cgroup("0::/\n", "");
        check_cgroup("0::/user.slice/user-1000.slice/session-3.scope\n", "");
        check_cgroup("0::/docker/" ID "a\n", "");
        check_cgroup("0::/docker/123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n", "");
        check_cgroup("4:" ID ":/\n", "");
        check_cgroup("", "");
        /* No trailing newline. */
        check_cgroup("0::/docker-" ID ".scope", ID);
        /* The memory:/process_api/<32 hex> of a sandbox is not a container id. */
        check_cgroup("4:memory:/process_api/54c3f89623f652dabfb08292722bfd28\n", "");
}

static void check_cmdline(const char *in, size_t len, const char *want) {
        char out[PROC_TEXT_REPAIRED_SIZE(64)];
        size_t n;

        assert_true(len <= 64);
        n = proc_cmdline_join(in, len, out);
        assert_string_equal(out, want);
        assert_int_equal(n, strlen(want));
}

static void test_cmdline(void **state) {
        check_cmdline(S("sleep\0"
                        "1000\0"),
                      "sleep 1000");
        check_cmdline(S("python3\0-c\0print('a b')\0"), "python3 -c print('a b')");
        /* An empty argument keeps its place: two spaces. */
        check_cmdline(S("a\0\0b\0"), "a  b");
        /* Trailing NULs (a process that rewrote its argv in place, nginx-style) are dropped. */
        check_cmdline(S("nginx: worker process\0\0\0\0\0\0"), "nginx: worker process");
        /* Without the final NUL (a truncated read). */
        check_cmdline(S("java\0-cp\0/a:/b"), "java -cp /a:/b");
        /* Kernel threads and zombies: empty. */
        check_cmdline(S(""), "");
        check_cmdline(S("\0\0"), "");
        /* Invalid UTF-8 is repaired, valid multibyte text kept. */
        check_cmdline(S("caf\xc3\xa9\0\xff\0"), "caf\xc3\xa9 \xef\xbf\xbd");
}

static void test_utf8(void **state) {
        char out[PROC_TEXT_REPAIRED_SIZE(16)];

        assert_int_equal(text_repair_utf8(S("plain"), out), 5);
        assert_string_equal(out, "plain");
        /* 4-byte sequence (U+1F600) kept. */
        text_repair_utf8(S("\xf0\x9f\x98\x80"), out);
        assert_string_equal(out, "\xf0\x9f\x98\x80");
        /* Overlong '/', a surrogate, a lone continuation byte, a cut sequence, NUL: each byte replaced. */
        text_repair_utf8(S("\xc0\xaf"), out);
        assert_string_equal(out, "\xef\xbf\xbd\xef\xbf\xbd");
        text_repair_utf8(S("\xed\xa0\x80"), out);
        assert_string_equal(out, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
        text_repair_utf8(S("a\x80"), out);
        assert_string_equal(out, "a\xef\xbf\xbd");
        text_repair_utf8(S("\xe2\x82"), out);
        assert_string_equal(out, "\xef\xbf\xbd\xef\xbf\xbd");
        text_repair_utf8(S("a\0b"), out);
        assert_string_equal(out, "a\xef\xbf\xbd"
                                 "b");
}

static void check_passwd(const char *buf, uid_t uid, const char *want) {
        const char *name = NULL;
        size_t len = 0;
        int r = passwd_find_uid(buf, strlen(buf), uid, &name, &len);

        if (!want) {
                assert_int_equal(r, 0);
                return;
        }
        assert_int_equal(r, 1);
        assert_int_equal(len, strlen(want));
        assert_memory_equal(name, want, len);
}

static void test_passwd(void **state) {
        const char *pw = "root:x:0:0:root:/root:/bin/bash\n"
                         "# a comment:x:5:5::/:/bin/sh\n"
                         "+nis:x:6:6::/:\n"
                         "broken:x:7\n"
                         "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
                         ":x:8:8::/:\n"
                         "alice:x:1000:1000:Alice A:/home/alice:/bin/bash\n"
                         "alias:x:1000:1000::/:\n"
                         "big:x:4294967294:1::/:\n"
                         "last:x:2000:2000::/:/bin/sh";

        check_passwd(pw, 0, "root");
        check_passwd(pw, 1, "daemon");
        check_passwd(pw, 1000, "alice"); /* first match wins */
        check_passwd(pw, 4294967294u, "big");
        check_passwd(pw, 2000, "last"); /* no trailing newline */
        check_passwd(pw, 5, NULL);
        check_passwd(pw, 6, NULL);
        check_passwd(pw, 7, NULL);
        check_passwd(pw, 8, NULL);
        check_passwd(pw, 3, NULL);
        check_passwd("", 0, NULL);
        check_passwd("x:x:01x:0::/:\n", 1, NULL);
}

static void test_btime(void **state) {
        uint64_t b = 0;

        assert_int_equal(
                proc_stat_parse_btime(S("cpu  1 2 3\ncpu0 1 2 3\nintr 5 0 0\nctxt 99\nbtime 1700000000\n"
                                        "processes 5\n"),
                                      &b),
                0);
        assert_int_equal(b, 1700000000);
        assert_int_equal(proc_stat_parse_btime(S("cpu 1\nbtime x\n"), &b), -EBADMSG);
        assert_int_equal(proc_stat_parse_btime(S("cpu 1\n"), &b), -EBADMSG);
}

static void test_ns_link(void **state) {
        uint64_t ino = 0;

        assert_int_equal(proc_ns_link_parse(S("net:[4026531840]"), "net", &ino), 0);
        assert_int_equal(ino, 4026531840u);
        assert_int_equal(proc_ns_link_parse(S("mnt:[4026531840]"), "net", &ino), -EBADMSG);
        assert_int_equal(proc_ns_link_parse(S("net:[]"), "net", &ino), -EBADMSG);
        assert_int_equal(proc_ns_link_parse(S("net:[12"), "net", &ino), -EBADMSG);
        assert_int_equal(proc_ns_link_parse(S("net:[1a]"), "net", &ino), -EBADMSG);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_stat_comm), cmocka_unit_test(test_status_uid),
                cmocka_unit_test(test_cgroup),    cmocka_unit_test(test_cmdline),
                cmocka_unit_test(test_utf8),      cmocka_unit_test(test_passwd),
                cmocka_unit_test(test_btime),     cmocka_unit_test(test_ns_link),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
