/* SPDX-License-Identifier: MIT */
/*
 * A start-rate limit: "at most rate starts per second" as a token bucket
 * whose every one-second window (half-open) holds at most rate starts. A
 * bucket of b tokens refilled at rate per second would let b + rate - 1
 * through one window; so the bucket keeps a tenth of a second's worth (at
 * least one) and refills at rate - b + 1 a second. Below 10 a second that
 * is the rate itself, one start at a time, evenly spread; above, starts may
 * come in small bunches and the steady pace is up to a tenth below the rate.
 * Times are milliseconds of any monotonic clock.
 */
#ifndef XACCT_RATE_H
#define XACCT_RATE_H

#include <stddef.h>
#include <stdint.h>

typedef struct xacct_rate {
    double tokens;  /* starts allowed now (may be fractional) */
    uint64_t at_ms; /* when tokens was last brought up to date */
} xacct_rate_t;

/* A bucket holding one start at now_ms. */
void xacct_rate_init(xacct_rate_t *r, uint64_t now_ms);

/* How many of want starts rate (> 0) allows at now_ms (0 when none). */
size_t xacct_rate_allowed(xacct_rate_t *r, double rate, uint64_t now_ms, size_t want);

/* One start made. */
void xacct_rate_take(xacct_rate_t *r);

/* Milliseconds until the next start is allowed (0: now). */
uint64_t xacct_rate_wait_ms(const xacct_rate_t *r, double rate);

#endif
