/* Unit tests of the /proc/net/{tcp,tcp6,udp,udp6} parser and of the keep filter behind it: exact rows
 * from kernel-formatted text (little-endian words, as on x86-64 and arm64). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "macro.h"
#include "net-table.h"
#include "test-socket-util.h"

#define TCP_HEADER                                                                                          \
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode " \
        "                                                    \n"
#define TCP6_HEADER                                                                                         \
        "  sl  local_address                         remote_address                        st tx_queue "    \
        "rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
#define UDP_HEADER                                                                                          \
        "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout "      \
        "inode "                                                                                            \
        "ref pointer drops            \n"

static void assert_rows(const char *table, bool udp, int family, const char *const *expected, size_t n) {
        SocketList list = {};
        SocketListAdd add = {.list = &list, .netns_inode = 4026531840};

        assert_int_equal(net_table_parse(table, strlen(table), udp, family, socket_list_add_cb, &add), 0);
        for (size_t i = 0; i < list.n && i < n; i++) {
                char *row = test_socket_row(&list.items[i], false);

                assert_string_equal(row, expected[i]);
                assert_int_equal(list.items[i].netns_inode, 4026531840);
                free(row);
        }
        assert_int_equal(list.n, n);
        socket_list_done(&list);
}

static void test_tcp4(void **state) {
        static const char table[] = TCP_HEADER
                "   0: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000   113        0 "
                "24423 1 0000000000000000 100 0 0 10 0                     \n"
                "   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 "
                "1573 1 00000000114d0551 100 0 0 10 0                      \n"
                "   2: 0100007F:0CEA 0100007F:A1B2 01 00000000:00000000 00:00000000 00000000   113        0 "
                "24500 1 0000000000000000 20 4 30 10 -1                    \n"
                "   3: 0100007F:A1B2 0100007F:0CEA 01 00000000:00000000 00:00000000 00000000  1000        0 "
                "24501 1 0000000000000000 20 4 30 10 -1                    \n"
                "   4: 0100007F:A1B4 0100007F:0CEA 06 00000000:00000000 03:00000F5A 00000000     0        0 "
                "0 3 0000000000000000                                      \n"
                "   5: 0A00A8C0:D2F0 22D8B85D:01BB 08 00000000:00000001 00:00000000 00000000  1000        0 "
                "31337 1 0000000000000000 20 4 30 10 -1                    \n"
                "   6: 0100007F:0CEA 0100007F:A1B6 01 00000000:00000000 00:00000000 00000000     0        0 "
                "0 1 0000000000000000 20 4 30 10 -1                        \n";
        static const char *const expected[] = {
                "tcp4 listen 127.0.0.1:3306 0.0.0.0:0 inode=24423",
                "tcp4 listen 0.0.0.0:22 0.0.0.0:0 inode=1573",
                "tcp4 established 127.0.0.1:3306 127.0.0.1:41394 inode=24500",
                "tcp4 established 127.0.0.1:41394 127.0.0.1:3306 inode=24501",
        };

        /* TIME_WAIT (06) and CLOSE_WAIT (08) are dropped; an ESTABLISHED socket still in the accept queue
         * (inode 0) has no owner and is dropped too. */
        assert_rows(table, false, AF_INET, expected, ELEMENTSOF(expected));
}

static void test_tcp6(void **state) {
        static const char table[] = TCP6_HEADER
                "   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A "
                "00000000:00000000 00:00000000 00000000     0        0 5001 1 0000000000000000 100 0 0 10 "
                "0\n"
                "   1: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A "
                "00000000:00000000 00:00000000 00000000     0        0 5002 1 0000000000000000 100 0 0 10 "
                "0\n"
                "   2: 00000000000000000000000001000000:0050 00000000000000000000000001000000:C350 01 "
                "00000000:00000000 00:00000000 00000000     0        0 5003 1 0000000000000000 20 4 30 10 "
                "-1\n"
                "   3: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000100007F:B000 01 "
                "00000000:00000000 00:00000000 00000000     0        0 5004 1 0000000000000000 20 4 30 10 "
                "-1\n"
                "   4: 000080FE00000000FF0E0102030405FF:0050 B80D0120000000000000000001000000:C351 01 "
                "00000000:00000000 00:00000000 00000000     0        0 5005 1 0000000000000000 20 4 30 10 "
                "-1\n"
                "   5: 0000000000000000FFFF00000100007F:1F91 00000000000000000000000000000000:0000 0A "
                "00000000:00000000 00:00000000 00000000     0        0 5006 1 0000000000000000 100 0 0 10 "
                "0\n"
                "   6: 00000000000000000000000001000000:0050 00000000000000000000000001000000:C352 06 "
                "00000000:00000000 03:00000F5A 00000000     0        0 0 3 0000000000000000\n";
        static const char *const expected[] = {
                "tcp6 listen :::8080 :::0 inode=5001",
                "tcp6 listen ::1:80 :::0 inode=5002",
                "tcp6 established ::1:80 ::1:50000 inode=5003",
                /* v4-mapped: shown as IPv4, family 4 */
                "tcp4 established 127.0.0.1:8080 127.0.0.1:45056 inode=5004",
                "tcp6 established fe80::201:eff:ff05:403:80 2001:db8::1:50001 inode=5005",
                "tcp4 listen 127.0.0.1:8081 0.0.0.0:0 inode=5006",
        };

        assert_rows(table, false, AF_INET6, expected, ELEMENTSOF(expected));
}

static void test_udp(void **state) {
        static const char udp4[] = UDP_HEADER "  123: 00000000:14E9 00000000:0000 07 00000000:00000000 "
                                              "00:00000000 00000000   104        0 "
                                              "17543 2 0000000000000000 0        \n"
                                              "  200: 0100007F:E0F0 0100007F:0035 01 00000000:00000000 "
                                              "00:00000000 00000000  1000        0 "
                                              "17544 2 0000000000000000 0        \n"
                                              "  201: 00000000:0000 00000000:0000 07 00000000:00000000 "
                                              "00:00000000 00000000  1000        0 "
                                              "17545 2 0000000000000000 0        \n"
                                              "  202: 3500007F:0035 00000000:0000 07 00000000:00000000 "
                                              "00:00000000 00000000   101        0 "
                                              "17546 2 0000000000000000 12       \n";
        static const char *const expected4[] = {
                "udp4 bound 0.0.0.0:5353 0.0.0.0:0 inode=17543",
                "udp4 connected 127.0.0.1:57584 127.0.0.1:53 inode=17544",
                "udp4 bound 127.0.0.53:53 0.0.0.0:0 inode=17546",
        };
        static const char udp6[] = UDP_HEADER
                "  300: 00000000000000000000000000000000:14E9 00000000000000000000000000000000:0000 07 "
                "00000000:00000000 00:00000000 00000000   104        0 17600 2 0000000000000000 0\n"
                "  301: 0000000000000000FFFF00000100007F:C000 0000000000000000FFFF00000100007F:0035 01 "
                "00000000:00000000 00:00000000 00000000  1000        0 17601 2 0000000000000000 0\n"
                "  302: 00000000000000000000000001000000:C001 00000000000000000000000001000000:1389 01 "
                "00000000:00000000 00:00000000 00000000  1000        0 17602 2 0000000000000000 0\n";
        static const char *const expected6[] = {
                "udp6 bound :::5353 :::0 inode=17600",
                "udp4 connected 127.0.0.1:49152 127.0.0.1:53 inode=17601",
                "udp6 connected ::1:49153 ::1:5001 inode=17602",
        };

        /* The unbound, unconnected socket (local port 0) is dropped. */
        assert_rows(udp4, true, AF_INET, expected4, ELEMENTSOF(expected4));
        assert_rows(udp6, true, AF_INET6, expected6, ELEMENTSOF(expected6));
}

static void test_empty_and_header_only(void **state) {
        assert_rows("", false, AF_INET, NULL, 0);
        assert_rows(TCP_HEADER, false, AF_INET, NULL, 0);
        assert_rows(TCP6_HEADER "\n", false, AF_INET6, NULL, 0);
}

static void test_malformed(void **state) {
        SocketRaw raw;
        static const char *const bad[] = {
                "",
                "   0: 0100007F:0CEA",
                "   0: 0100007X:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1 1",
                "   0: 0100007F0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1 1",
                "   0: 0100007F:0CEA 00000000:0000 A 00000000:00000000 00:00000000 00000000 0 0 1 1",
                "   0: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 -1 1",
                "   0: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 "
                "99999999999999999999999 1",
                /* an IPv6 address in an IPv4 table */
                "   0: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A "
                "00000000:00000000 00:00000000 00000000     0        0 5002 1",
        };
        static const char good[] =
                "   0: 0100007F:0CEA 0100007F:A1B2 01 00000000:00000000 00:00000000 00000000 0 0 42 1";

        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_int_equal(net_table_parse_line(bad[i], strlen(bad[i]), false, AF_INET, &raw),
                                 -EBADMSG);

        assert_int_equal(net_table_parse_line(good, strlen(good), false, AF_INET, &raw), 0);
        assert_int_equal(raw.state, SOCKET_KSTATE_ESTABLISHED);
        assert_int_equal(raw.local_port, 3306);
        assert_int_equal(raw.remote_port, 0xA1B2);
        assert_int_equal(raw.inode, 42);
        assert_memory_equal(raw.local, ((const uint8_t[]){127, 0, 0, 1}), 4);

        /* A malformed line fails the whole table: a file that is not a socket table is not trusted. */
        {
                static const char table[] = TCP_HEADER "garbage\n";
                SocketList list = {};
                SocketListAdd add = {.list = &list};

                assert_int_equal(
                        net_table_parse(table, strlen(table), false, AF_INET, socket_list_add_cb, &add),
                        -EBADMSG);
                socket_list_done(&list);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_tcp4),      cmocka_unit_test(test_tcp6),
                cmocka_unit_test(test_udp),       cmocka_unit_test(test_empty_and_header_only),
                cmocka_unit_test(test_malformed),
        };

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
        printf("SKIP: the fixtures are written for a little-endian host\n");
        return 77;
#endif
        return cmocka_run_group_tests(tests, NULL, NULL);
}
