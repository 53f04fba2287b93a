/* SPDX-License-Identifier: MIT */
/*
 * External IDs: generated as UUID v4 from OpenSSL's CSPRNG and compared in
 * constant time, so neither their value nor a prefix of it can be learned
 * from how long a comparison takes.
 */
#ifndef XACCT_EXTID_H
#define XACCT_EXTID_H

#include <stdbool.h>
#include <stddef.h>

#include "xacct/common.h"

#define XACCT_EXTID_LEN 36 /* 8-4-4-4-12 hex digits and dashes */

/* Writes a fresh lower-case UUID v4 into out[37]. Returns 0 or
 * XACCT_ECRYPTO when the RNG fails (never falls back to a weaker one). */
int xacct_extid_generate(char out[XACCT_EXTID_LEN + 1]) XACCT_MUSTCHECK;

/* A random UUID v4 that is not meant to be issued: the wrong external ID
 * of the safety check's third probe (SPEC §9.1). Drawn from a per-thread
 * pool of CSPRNG output refilled 32 at a time, so a probe costs no RNG call
 * of its own; IDs that are issued come from xacct_extid_generate, one call
 * each, so no future one waits in memory. Returns 0 or XACCT_ECRYPTO. */
int xacct_extid_decoy(char out[XACCT_EXTID_LEN + 1]) XACCT_MUSTCHECK;

/* True when s is a well-formed lower-case UUID v4. */
bool xacct_extid_valid(const char *s);

/*
 * Constant-time equality of two NUL-terminated secrets of any length: both
 * are hashed with SHA-256 and the digests compared with CRYPTO_memcmp, so
 * the time depends on neither the contents nor where they differ. NULL
 * never equals anything.
 */
bool xacct_secret_equal(const char *a, const char *b);

#endif
