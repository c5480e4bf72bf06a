/* Unit tests of the parsers procsync-api applies to what clients send: the strict request-target decoder
 * (api-uri.c), the IP:PORT endpoints of /v1/lookup (doc-lookup.c), the Prometheus label helpers
 * (doc-metrics.c) and procctl's table cutting (table.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "api-listen.h"
#include "api-uri.h"
#include "doc-lookup.h"
#include "doc-metrics.h"
#include "table.h"

static void test_uri_ok(void **state) {
        _cleanup_(api_uri_done) ApiUri u = {};
        const char *error = NULL;

        assert_int_equal(api_uri_parse("/v1/pro%63esses?all=1&tag=a%3Ab+c&&name=&x", &u, &error), 0);
        assert_string_equal(u.path, "/v1/processes");
        assert_int_equal(u.n_args, 4);
        assert_string_equal(u.args[0].key, "all");
        assert_string_equal(u.args[0].value, "1");
        assert_string_equal(u.args[1].value, "a:b c");
        assert_string_equal(u.args[2].key, "name");
        assert_string_equal(u.args[2].value, "");
        assert_string_equal(u.args[3].key, "x");
        assert_string_equal(u.args[3].value, "");
        assert_string_equal(api_uri_arg(&u, "tag"), "a:b c");
        assert_null(api_uri_arg(&u, "nope"));
}

static void test_uri_plus_in_path(void **state) {
        _cleanup_(api_uri_done) ApiUri u = {};
        const char *error = NULL;

        /* '+' is a space only in the query. */
        assert_int_equal(api_uri_parse("/a+b?q=%2B%C3%A9", &u, &error), 0);
        assert_string_equal(u.path, "/a+b");
        assert_string_equal(u.args[0].value, "+\xc3\xa9");
}

static void test_uri_bad(void **state) {
        static const char *const bad[] = {
                "",         "v1/status", "http://x/v1", "*",         "/%",
                "/%4",      "/%zz",      "/%00",        "/a?b=%",    "/a?b=%0",
                "/a?b=%g0", "/a?%00=1",  "/a?b=%ff",    "/a?b=%c3",  "/a b",
                "/a\x01",   "/a#frag",   "/a?b=\x7f",   "/\xc3\xa9", "/a?b=%ed%a0%80",
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                ApiUri u = {};
                const char *error = NULL;

                assert_int_equal(api_uri_parse(bad[i], &u, &error), -EINVAL);
                assert_non_null(error);
                assert_null(u.path);
        }
        assert_int_equal(api_uri_parse(NULL, &(ApiUri){}, &(const char *){NULL}), -EINVAL);
}

static void test_uri_too_many_args(void **state) {
        char buf[4096] = "/v1/processes?";
        ApiUri u = {};
        const char *error = NULL;

        for (int i = 0; i < API_URI_MAX_ARGS; i++)
                strcat(buf, "a=1&");
        assert_int_equal(api_uri_parse(buf, &u, &error), 0);
        assert_int_equal(u.n_args, API_URI_MAX_ARGS);
        api_uri_done(&u);
        strcat(buf, "b=2");
        assert_int_equal(api_uri_parse(buf, &u, &error), -E2BIG);
}

static void test_endpoint(void **state) {
        LookupEndpoint e;

        assert_int_equal(lookup_endpoint_parse("10.0.0.1:80", &e), 0);
        assert_int_equal(e.family, 4);
        assert_string_equal(e.addr, "10.0.0.1");
        assert_int_equal(e.port, 80);
        assert_int_equal(lookup_endpoint_parse("[2001:0db8:0::1]:65535", &e), 0);
        assert_int_equal(e.family, 6);
        assert_string_equal(e.addr, "2001:db8::1");
        assert_int_equal(e.port, 65535);
        assert_int_equal(lookup_endpoint_parse("[::ffff:1.2.3.4]:0", &e), 0);
        assert_int_equal(e.family, 4);
        assert_string_equal(e.addr, "1.2.3.4");

        static const char *const bad[] = {"10.0.0.1",    "10.0.0.1:",   "10.0.0.1:65536", "10.0.0.1:-1",
                                          "10.0.0.1:+1", "10.0.0.1:1x", "::1:80",         "[::1]",
                                          "[::1]80",     "[]:80",       "[1.2.3.4]:80",   "a.b.c.d:80",
                                          "1.2.3:80",    ":80",         "10.0.0.1:123456"};
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_int_equal(lookup_endpoint_parse(bad[i], &e), -EINVAL);
}

static void test_listen_spec(void **state) {
        assert_int_equal(api_listen_spec_check("127.0.0.1:9930"), 0);
        assert_int_equal(api_listen_spec_check("[::1]:9930"), 0);
        assert_int_equal(api_listen_spec_check("unix:/run/procsync/api.sock"), 0);
        assert_int_equal(api_listen_spec_check("unix:relative.sock"), -EINVAL);
        assert_int_equal(api_listen_spec_check("localhost:9930"), -EINVAL);
        assert_int_equal(api_listen_spec_check("127.0.0.1"), -EINVAL);
        assert_int_equal(api_listen_spec_check("127.0.0.1:99999"), -EINVAL);
        assert_true(api_fd_name_ok("api"));
        assert_true(api_fd_name_ok("api-unix"));
        assert_true(api_fd_name_ok("procsync-api.socket"));
        assert_false(api_fd_name_ok("apix"));
        assert_false(api_fd_name_ok("metrics"));
}

static void test_metrics_labels(void **state) {
        _cleanup_free_ char *a = metrics_tag_label("app.name-x/y");
        _cleanup_free_ char *b = metrics_tag_label("ünï");
        char *text = NULL;
        size_t len = 0;
        FILE *f;

        assert_string_equal(a, "os_app_app_name_x_y");
        assert_string_equal(b, "os_app___n__"); /* every byte of a multi-byte character */
        f = open_memstream(&text, &len);
        assert_non_null(f);
        assert_int_equal(metrics_write_label_value(f, "a\\b\"c\nd\xff"), 0);
        fclose(f);
        assert_string_equal(text, "a\\\\b\\\"c\\nd\xef\xbf\xbd");
        free(text);
}

static void test_table_cut(void **state) {
        static const char *const headers[] = {"ID", "CMDLINE"};
        static const char *const row1[] = {"1", "ééééééééééééééééééééé"};
        static const char *const row2[] = {"22", NULL};
        Table *t = table_new(2, headers);
        char *text = NULL;
        size_t len = 0;
        FILE *f;

        assert_non_null(t);
        assert_int_equal(table_add_row(t, row1), 0);
        assert_int_equal(table_add_row(t, row2), 0);
        table_set_shrink_column(t, 1);
        f = open_memstream(&text, &len);
        assert_int_equal(table_print(t, f, 14), 0);
        fclose(f);
        /* 2 + 2 + 10 characters: the cmdline cut to 9 characters and "…", counted in characters. */
        assert_string_equal(text, "ID  CMDLINE\n1   ééééééééé…\n22  -\n");
        free(text);
        table_free(t);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_uri_ok),         cmocka_unit_test(test_uri_plus_in_path),
                cmocka_unit_test(test_uri_bad),        cmocka_unit_test(test_uri_too_many_args),
                cmocka_unit_test(test_endpoint),       cmocka_unit_test(test_listen_spec),
                cmocka_unit_test(test_metrics_labels), cmocka_unit_test(test_table_cut),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
