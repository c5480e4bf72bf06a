/* See backoff.h. */
#include "backoff.h"

#include <sys/random.h>

usec_t backoff_delay(uint64_t failures, uint32_t random) {
        usec_t base = BACKOFF_FIRST, spread;

        for (uint64_t i = 1; i < failures && base < BACKOFF_MAX; i++)
                base *= 2;
        if (base > BACKOFF_MAX)
                base = BACKOFF_MAX;

        /* base * (1 - j + 2j * random / 2^32), with j = 20%: uniform in [0.8 base, 1.2 base). */
        spread = base * 2 * BACKOFF_JITTER_PERCENT / 100;
        return base - spread / 2 + (usec_t) (((unsigned __int128) spread * random) >> 32);
}

uint32_t backoff_random(void) {
        uint32_t v;

        if (getrandom(&v, sizeof(v), GRND_NONBLOCK) == (ssize_t) sizeof(v))
                return v;
        return (uint32_t) now_usec(CLOCK_MONOTONIC);
}
