/* UTF-8 validation edge cases (overlong, surrogates, truncated, above U+10FFFF) and the repair. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "macro.h"
#include "utf8.h"

static void test_valid(void **state) {
        static const char *const ok[] = {"",
                                         "plain",
                                         "caf\xc3\xa9",
                                         "\xe2\x82\xac",
                                         "\xf0\x9f\x98\x80",
                                         "\xf4\x8f\xbf\xbf",
                                         "\xed\x9f\xbf"};
        static const char *const bad[] = {
                "\x80",
                "\xc0\xaf",
                "\xc1\xbf",
                "\xe0\x80\xaf",
                "\xed\xa0\x80",
                "\xf4\x90\x80\x80",
                "\xf5\x80\x80\x80",
                "\xc3",
                "\xe2\x82",
                "\xff",
                "ab\xfe",
        };

        for (size_t i = 0; i < ELEMENTSOF(ok); i++)
                assert_true(utf8_is_valid(ok[i], strlen(ok[i])));
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_false(utf8_is_valid(bad[i], strlen(bad[i])));
}

static void test_make_valid(void **state) {
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;

        a = utf8_make_valid("caf\xc3\xa9", 5);
        assert_string_equal(a, "caf\xc3\xa9");
        b = utf8_make_valid("a\xff"
                            "b\xc3",
                            4);
        assert_string_equal(b, "a\xef\xbf\xbd"
                               "b\xef\xbf\xbd");
        assert_true(utf8_is_valid(b, strlen(b)));
        c = utf8_make_valid("\xed\xa0\x80", 3);
        assert_string_equal(c, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_valid),
                cmocka_unit_test(test_make_valid),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
