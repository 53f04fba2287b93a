/* SPDX-License-Identifier: MIT */
/*
 * The start-rate limit (rate.h): a token bucket sized so that no one-second
 * window holds more than the rate.
 */
#include "xacct/rate.h"

/* A tenth of a second's worth, at least one. */
static double bucket(double rate)
{
    double b = rate / 10.0;
    return b < 1.0 ? 1.0 : b;
}

/* What the bucket gains a second: with a full bucket of b at the start of a
 * window, b + refill - 1 more (a fraction short of refill) fit in it. */
static double refill(double rate)
{
    return rate - bucket(rate) + 1.0;
}

void xacct_rate_init(xacct_rate_t *r, uint64_t now_ms)
{
    r->tokens = 1.0;
    r->at_ms = now_ms;
}

static void update(xacct_rate_t *r, double rate, uint64_t now_ms)
{
    if (now_ms > r->at_ms) {
        r->tokens += (double)(now_ms - r->at_ms) * refill(rate) / 1000.0;
        r->at_ms = now_ms;
    }
    if (r->tokens > bucket(rate))
        r->tokens = bucket(rate);
}

size_t xacct_rate_allowed(xacct_rate_t *r, double rate, uint64_t now_ms, size_t want)
{
    update(r, rate, now_ms);
    if (r->tokens < 1.0)
        return 0;
    return (double)want > r->tokens ? (size_t)r->tokens : want;
}

void xacct_rate_take(xacct_rate_t *r)
{
    r->tokens -= 1.0;
}

uint64_t xacct_rate_wait_ms(const xacct_rate_t *r, double rate)
{
    if (r->tokens >= 1.0)
        return 0;
    return (uint64_t)((1.0 - r->tokens) * 1000.0 / refill(rate)) + 1;
}
