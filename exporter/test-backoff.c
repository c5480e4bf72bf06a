/* The retry delay: 1 s doubling to a 60 s cap, always within ±20% of the step. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "backoff.h"
#include "macro.h"

static void test_steps(void **state) {
        static const struct {
                uint64_t failures;
                usec_t base;
        } v[] = {
                {0, 1},  {1, 1},  {2, 2},  {3, 4},     {4, 8},           {5, 16},
                {6, 32}, {7, 60}, {8, 60}, {1000, 60}, {UINT64_MAX, 60},
        };
        static const uint32_t randoms[] = {0, 1, 0x7fffffff, 0x80000000, UINT32_MAX};

        for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                usec_t base = v[i].base * USEC_PER_SEC;

                for (size_t j = 0; j < ELEMENTSOF(randoms); j++) {
                        usec_t d = backoff_delay(v[i].failures, randoms[j]);

                        assert_true(d >= base * 8 / 10);
                        assert_true(d < base * 12 / 10);
                }
                assert_int_equal(backoff_delay(v[i].failures, 0), base * 8 / 10);
                assert_int_equal(backoff_delay(v[i].failures, 0x80000000), base);
        }
}

static void test_random_spread(void **state) {
        usec_t lo = USEC_INFINITY, hi = 0;

        /* The jitter really spreads: 200 draws cover most of [0.8 s, 1.2 s). */
        for (unsigned i = 0; i < 200; i++) {
                usec_t d = backoff_delay(1, backoff_random());

                lo = d < lo ? d : lo;
                hi = d > hi ? d : hi;
        }
        assert_true(lo < 900 * USEC_PER_MSEC);
        assert_true(hi > 1100 * USEC_PER_MSEC);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_steps),
                cmocka_unit_test(test_random_spread),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
