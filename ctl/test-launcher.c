/* Unit tests of the launcher's pieces that need no daemon: the restart backoff, the sd_notify parser and
 * a real notify round trip through sd_notify(3), and the /proc/<pid>/status signal masks. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>

#include <cmocka.h>

#include "launcher.h"
#include "proc-signals.h"

static void test_backoff(void **state) {
        usec_t b = 0;

        /* 1 s, doubled up to 30 s. */
        assert_int_equal(launcher_backoff(&b, 0), 1 * USEC_PER_SEC);
        assert_int_equal(launcher_backoff(&b, 0), 2 * USEC_PER_SEC);
        assert_int_equal(launcher_backoff(&b, 5 * USEC_PER_SEC), 4 * USEC_PER_SEC);
        assert_int_equal(launcher_backoff(&b, 0), 8 * USEC_PER_SEC);
        assert_int_equal(launcher_backoff(&b, 0), 16 * USEC_PER_SEC);
        assert_int_equal(launcher_backoff(&b, 0), 30 * USEC_PER_SEC);
        assert_int_equal(launcher_backoff(&b, 59 * USEC_PER_SEC), 30 * USEC_PER_SEC);
        /* Up for a minute: back to 1 s. */
        assert_int_equal(launcher_backoff(&b, 60 * USEC_PER_SEC), 1 * USEC_PER_SEC);
        assert_int_equal(launcher_backoff(&b, 0), 2 * USEC_PER_SEC);
}

static void test_notify_parse(void **state) {
        static const char msg[] = "READY=1\nSTATUS=Running,\tgeneration 3\x1b[31m\nMAINPID=1\nX";
        NotifyMessage m = {};

        assert_int_equal(notify_parse(msg, sizeof(msg) - 1, &m), 0);
        assert_true(m.ready);
        assert_false(m.reloading);
        assert_false(m.stopping);
        assert_string_equal(m.status, "Running, generation 3 [31m");
        notify_message_done(&m);

        assert_int_equal(notify_parse("RELOADING=1\nSTATUS=a\nSTATUS=b\n", 30, &m), 0);
        assert_true(m.reloading);
        assert_false(m.ready);
        assert_string_equal(m.status, "b");
        notify_message_done(&m);

        /* Only the exact assignments count. */
        assert_int_equal(notify_parse("READY=10\nSTOPPING=1", 19, &m), 0);
        assert_false(m.ready);
        assert_true(m.stopping);
        assert_null(m.status);
        notify_message_done(&m);

        assert_int_equal(notify_parse("", 0, &m), 0);
        assert_false(m.ready);
        notify_message_done(&m);
}

static void test_notify_round_trip(void **state) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *address = NULL;
        NotifyMessage m = {};

        assert_int_equal(notify_socket_open(&fd, &address), 0);
        assert_int_equal(address[0], '@');
        assert_true(strlen(address) > 1);

        assert_int_equal(notify_receive(fd, &m), 0); /* nothing queued */

        assert_int_equal(setenv("NOTIFY_SOCKET", address, 1), 0);
        assert_true(sd_notify(0, "READY=1\nSTATUS=hello") > 0);
        assert_int_equal(unsetenv("NOTIFY_SOCKET"), 0);

        assert_int_equal(notify_receive(fd, &m), 1);
        assert_int_equal(m.sender, getpid());
        assert_true(m.ready);
        assert_string_equal(m.status, "hello");
        notify_message_done(&m);
        assert_int_equal(notify_receive(fd, &m), 0);
}

static void test_proc_signals_parse(void **state) {
        static const char status[] = "Name:\tsleep\n"
                                     "SigQ:\t0/63422\n"
                                     "SigPnd:\t0000000000000000\n"
                                     "ShdPnd:\t0000000000000001\n"
                                     "SigBlk:\t0000000000004001\n"
                                     "SigIgn:\t0000000000000000\n"
                                     "SigCgt:\t0000000180000000\n"
                                     "CapInh:\t0000000000000000\n";
        ProcSignals s;

        assert_int_equal(proc_signals_parse(status, sizeof(status) - 1, &s), 0);
        assert_int_equal(s.shared_pending, 1);
        assert_int_equal(s.blocked, 0x4001);
        assert_int_equal(s.caught, 0x180000000ULL);
        assert_true(proc_signals_handles(&s, SIGHUP));
        assert_true(proc_signals_handles(&s, SIGTERM));
        assert_false(proc_signals_handles(&s, SIGINT));
        assert_true(proc_signals_is_pending(&s, SIGHUP));
        assert_false(proc_signals_is_pending(&s, SIGTERM));

        /* A missing line or a bad value is not a status file. */
        assert_int_equal(proc_signals_parse(status, 60, &s), -EBADMSG);
        assert_int_equal(
                proc_signals_parse("SigPnd:\tzz\nShdPnd:\t0\nSigBlk:\t0\nSigIgn:\t0\nSigCgt:\t0\n", 51, &s),
                -EBADMSG);
        assert_int_equal(
                proc_signals_parse("SigPnd:\t00000000000000000\nShdPnd:\t0\nSigBlk:\t0\nSigIgn:\t0\n"
                                   "SigCgt:\t0\n",
                                   68, &s),
                -EBADMSG);
}

static void test_proc_signals_live(void **state) {
        sigset_t mask, old;
        ProcSignals s;

        sigemptyset(&mask);
        sigaddset(&mask, SIGHUP);
        assert_int_equal(sigprocmask(SIG_BLOCK, &mask, &old), 0);
        assert_int_equal(proc_signals_read("/proc", getpid(), &s), 0);
        assert_true(proc_signals_handles(&s, SIGHUP));
        assert_false(proc_signals_is_pending(&s, SIGHUP));

        assert_int_equal(kill(getpid(), SIGHUP), 0);
        assert_int_equal(proc_signals_read("/proc", getpid(), &s), 0);
        assert_true(proc_signals_is_pending(&s, SIGHUP));

        assert_int_equal(signal(SIGHUP, SIG_IGN) != SIG_ERR, 1); /* discards the pending one */
        assert_int_equal(sigprocmask(SIG_SETMASK, &old, NULL), 0);
        assert_int_equal(proc_signals_read("/proc", getpid(), &s), 0);
        assert_false(proc_signals_is_pending(&s, SIGHUP));
        assert_true(proc_signals_handles(&s, SIGHUP)); /* ignored */
        (void) signal(SIGHUP, SIG_DFL);

        assert_int_equal(proc_signals_read("/proc", 0x7ffffff0, &s), -ESRCH);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_backoff),
                cmocka_unit_test(test_notify_parse),
                cmocka_unit_test(test_notify_round_trip),
                cmocka_unit_test(test_proc_signals_parse),
                cmocka_unit_test(test_proc_signals_live),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
