/* SPDX-License-Identifier: MIT */
/*
 * Random bits for spreading timers (backoff delays, re-verification dates),
 * where nothing depends on them being unpredictable: a small generator
 * per thread, seeded once from OpenSSL's RAND_bytes. Each RAND_bytes call
 * costs a DRBG generation and a getpid() (OpenSSL's fork check), several
 * per message; this costs a few instructions. Never for secrets, tokens or
 * external IDs: those keep RAND_bytes.
 */
#ifndef XACCT_JITTER_H
#define XACCT_JITTER_H

#include <stdint.h>

/* 64 random bits; never fails (a generator RAND_bytes could not seed is
 * seeded from the clock). */
uint64_t xacct_jitter_u64(void);

#endif
