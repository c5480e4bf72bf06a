/* Tests of the cmdline reader: the join on buffers, and a real read of a child whose argv we chose. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <signal.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "proc-cmdline.h"
#include "macro.h"

#define S(x) x, sizeof(x) - 1

static void test_join(void **state) {
        static const struct {
                const char *in;
                size_t len;
                const char *out;
        } cases[] = {
                { S("python3\0/srv/app/foo.py\0--port\0" "80\0"), "python3 /srv/app/foo.py --port 80" },
                { S("nginx: worker process\0\0\0\0"), "nginx: worker process" },
                { S("a\0\0b\0"), "a  b" },
                { S(""), "" },
                { S("\0\0"), "" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char buf[64];

                memcpy(buf, cases[i].in, cases[i].len);
                assert_int_equal(proc_cmdline_join_inplace(buf, cases[i].len), strlen(cases[i].out));
                assert_string_equal(buf, cases[i].out);
        }
}

static void test_read_live(void **state) {
        _cleanup_free_ char *cmdline = NULL, *gone = NULL, *big = NULL;
        /* sh stays sh (its last command is a builtin) with a long sleep under it. */
        char *argv[] = { (char *) "sh", (char *) "-c", (char *) "sleep 1000; :", (char *) "with space",
                         NULL };
        pid_t pid;

        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                /* Its own process group, so that killing the group also ends the sleep under sh. */
                (void) setpgid(0, 0);
                execvp(argv[0], argv);
                _exit(127);
        }
        /* Until exec has happened the child still shows our cmdline: poll with a deadline. */
        for (int i = 0; i < 2000; i++) {
                free(cmdline);
                cmdline = NULL;
                assert_int_equal(proc_read_cmdline("/proc", pid, &cmdline), 0);
                if (streq(cmdline, "sh -c sleep 1000; : with space"))
                        break;
                usleep(1000);
        }
        assert_string_equal(cmdline, "sh -c sleep 1000; : with space");
        (void) kill(-pid, SIGKILL);
        (void) waitpid(pid, NULL, 0);

        /* Reaped: gone. */
        assert_int_equal(proc_read_cmdline("/proc", pid, &gone), -ESRCH);
        assert_null(gone);

        /* A kernel thread (kthreadd is pid 2 where the kernel has one, and no cmdline). */
        if (proc_read_cmdline("/proc", 2, &big) == 0)
                assert_string_equal(big, "");
}

static void test_read_bound(void **state) {
        char *argv[] = { (char *) "sh", (char *) "-c", (char *) "sleep 1000; :", NULL, NULL };
        _cleanup_free_ char *arg = NULL, *cmdline = NULL;
        pid_t pid;

        arg = malloc(3 * PROC_CMDLINE_READ_MAX);
        assert_non_null(arg);
        memset(arg, 'x', 3 * PROC_CMDLINE_READ_MAX - 1);
        arg[3 * PROC_CMDLINE_READ_MAX - 1] = 0;
        argv[3] = arg;

        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                /* Its own process group, so that killing the group also ends the sleep under sh. */
                (void) setpgid(0, 0);
                execvp(argv[0], argv);
                _exit(127);
        }
        for (int i = 0; i < 2000; i++) {
                free(cmdline);
                cmdline = NULL;
                assert_int_equal(proc_read_cmdline("/proc", pid, &cmdline), 0);
                if (strneq(cmdline, "sh -c sleep 1000; : x", 21))
                        break;
                usleep(1000);
        }
        (void) kill(-pid, SIGKILL);
        (void) waitpid(pid, NULL, 0);
        assert_true(strneq(cmdline, "sh -c sleep 1000; : xxx", 23));
        assert_int_equal(strlen(cmdline), PROC_CMDLINE_READ_MAX);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_join),
                cmocka_unit_test(test_read_live),
                cmocka_unit_test(test_read_bound),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
