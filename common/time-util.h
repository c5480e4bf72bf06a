/* Time in microseconds (usec_t), the one unit the suite passes around. Wall-clock for what is stored and
 * shown, monotonic for intervals and timeouts. */
#pragma once

#include <stdint.h>
#include <time.h>

typedef uint64_t usec_t;

#define USEC_PER_SEC ((usec_t) 1000000ULL)
#define USEC_PER_MSEC ((usec_t) 1000ULL)
#define NSEC_PER_USEC ((usec_t) 1000ULL)
#define USEC_INFINITY ((usec_t) UINT64_MAX)

static inline usec_t timespec_to_usec(const struct timespec *ts) {
        return (usec_t) ts->tv_sec * USEC_PER_SEC + (usec_t) ts->tv_nsec / NSEC_PER_USEC;
}

static inline usec_t now_usec(clockid_t clock) {
        struct timespec ts;
        clock_gettime(clock, &ts);
        return timespec_to_usec(&ts);
}

/* Wall-clock milliseconds since the epoch: the unit of every *_at column in state.db. */
static inline int64_t now_epoch_ms(void) {
        return (int64_t) (now_usec(CLOCK_REALTIME) / USEC_PER_MSEC);
}
