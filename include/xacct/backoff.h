/* SPDX-License-Identifier: MIT */
/*
 * Jittered exponential backoff ("full jitter"): the n-th delay is drawn
 * uniformly from [0, min(cap, base * 2^n)] milliseconds, so many workers that
 * failed together do not retry together. The state is a small struct the
 * caller embeds; randomness comes from xacct_jitter_u64 (jitter.h) unless a
 * generator is passed in (tests pass a deterministic one).
 */
#ifndef XACCT_BACKOFF_H
#define XACCT_BACKOFF_H

#include <stdint.h>

#include "xacct/common.h"

/* Fills *out with 64 random bits; returns 0, or non-zero on failure (the
 * backoff then uses the full ceiling, which is safe if not spread). */
typedef int (*xacct_backoff_rand_fn)(void *arg, uint64_t *out);

typedef struct xacct_backoff {
    uint64_t base_ms;             /* ceiling of the first delay; > 0 */
    uint64_t cap_ms;              /* no delay ever exceeds this */
    unsigned attempt;             /* delays handed out since the last reset */
    xacct_backoff_rand_fn rand;   /* NULL = xacct_jitter_u64 */
    void *rand_arg;               /* passed to rand, borrowed */
} xacct_backoff_t;

#define XACCT_BACKOFF_MAX_CAP_MS (24u * 3600u * 1000u) /* caps are clamped to a day */

/*
 * Storage is the caller's; nothing to destroy. base_ms 0 is taken as 1;
 * cap_ms is raised to base_ms if lower and clamped to XACCT_BACKOFF_MAX_CAP_MS.
 * rand (optional) and rand_arg are borrowed for the life of b.
 */
void xacct_backoff_init(xacct_backoff_t *b, uint64_t base_ms, uint64_t cap_ms,
                        xacct_backoff_rand_fn rand, void *rand_arg);

/* The upper bound of the delay for a given attempt number (0-based):
 * min(cap, base * 2^attempt), without overflow. */
uint64_t xacct_backoff_ceiling(const xacct_backoff_t *b, unsigned attempt);

/* Returns the next delay in milliseconds, uniform in [0, ceiling(attempt)],
 * and counts the attempt. */
uint64_t xacct_backoff_next(xacct_backoff_t *b);

/* Starts over after a success. */
void xacct_backoff_reset(xacct_backoff_t *b);

/* Delays handed out since init or the last reset. */
unsigned xacct_backoff_attempts(const xacct_backoff_t *b);

#endif
