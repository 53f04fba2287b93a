/* SPDX-License-Identifier: MIT */
/*
 * splitmix64 (Steele, Lea and Flood, 2014) per thread, seeded at first use
 * from RAND_bytes. Statistically good enough for jitter, and cheap: the
 * state is one counter. A forked child inherits its parent's state, which is
 * harmless here: xacctd forks only to exec a credential process.
 */
#include "xacct/jitter.h"

#include <openssl/rand.h>
#include <time.h>

static _Thread_local uint64_t state;
static _Thread_local int seeded;

static void seed(void)
{
    if (RAND_bytes((unsigned char *)&state, (int)sizeof(state)) != 1) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        state = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    }
    seeded = 1;
}

uint64_t xacct_jitter_u64(void)
{
    if (!seeded)
        seed();
    uint64_t z = (state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}
