/* SPDX-License-Identifier: MIT */
/*
 * Full-jitter exponential backoff. The ceiling doubles per attempt up to the
 * cap; the delay is uniform below it. Uniformity uses rejection sampling so
 * that small ceilings are not biased by the modulo.
 */
#include "xacct/backoff.h"

#include "xacct/jitter.h"

static int default_rand(void *arg, uint64_t *out)
{
    XACCT_UNUSED(arg);
    *out = xacct_jitter_u64();
    return 0;
}

void xacct_backoff_init(xacct_backoff_t *b, uint64_t base_ms, uint64_t cap_ms,
                        xacct_backoff_rand_fn rand, void *rand_arg)
{
    if (base_ms == 0)
        base_ms = 1;
    if (base_ms > XACCT_BACKOFF_MAX_CAP_MS)
        base_ms = XACCT_BACKOFF_MAX_CAP_MS;
    if (cap_ms < base_ms)
        cap_ms = base_ms;
    if (cap_ms > XACCT_BACKOFF_MAX_CAP_MS)
        cap_ms = XACCT_BACKOFF_MAX_CAP_MS;
    b->base_ms = base_ms;
    b->cap_ms = cap_ms;
    b->attempt = 0;
    b->rand = rand ? rand : default_rand;
    b->rand_arg = rand_arg;
}

uint64_t xacct_backoff_ceiling(const xacct_backoff_t *b, unsigned attempt)
{
    uint64_t c = b->base_ms;
    /* Doubling stops as soon as the cap is reached, so c never overflows:
     * both base and cap are at most a day in milliseconds. */
    for (unsigned i = 0; i < attempt && c < b->cap_ms; i++)
        c *= 2;
    return c < b->cap_ms ? c : b->cap_ms;
}

/* Uniform in [0, bound]. */
static uint64_t uniform(xacct_backoff_t *b, uint64_t bound)
{
    uint64_t n = bound + 1; /* bound <= a day in ms, so no overflow */
    uint64_t limit = UINT64_MAX - (UINT64_MAX % n);
    for (int tries = 0; tries < 64; tries++) {
        uint64_t r;
        if (b->rand(b->rand_arg, &r) != 0)
            return bound;
        if (r < limit)
            return r % n;
    }
    return bound;
}

uint64_t xacct_backoff_next(xacct_backoff_t *b)
{
    uint64_t ceiling = xacct_backoff_ceiling(b, b->attempt);
    if (b->attempt < UINT32_MAX)
        b->attempt++;
    return uniform(b, ceiling);
}

void xacct_backoff_reset(xacct_backoff_t *b)
{
    b->attempt = 0;
}

unsigned xacct_backoff_attempts(const xacct_backoff_t *b)
{
    return b->attempt;
}
