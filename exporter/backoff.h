/* The retry delay of a failing sink: capped exponential backoff with jitter. 1 s after the first failure,
 * doubling up to 60 s, each delay spread by ±20% so that many hosts whose receiver came back do not all
 * retry in the same second. */
#pragma once

#include <stdint.h>

#include "time-util.h"

#define BACKOFF_FIRST          (1 * USEC_PER_SEC)
#define BACKOFF_MAX            (60 * USEC_PER_SEC)
#define BACKOFF_JITTER_PERCENT 20

/* The delay before the next attempt after `failures` consecutive failures (≥ 1; 0 is treated as 1).
 * `random` is any uniformly random 32-bit value; it picks the jitter. */
usec_t backoff_delay(uint64_t failures, uint32_t random);

/* A random 32-bit value for the jitter (getrandom(), falling back to the clock). */
uint32_t backoff_random(void);
