/* SPDX-License-Identifier: MIT */
/*
 * A cmocka assertion on the credentials a provider hands out: their view
 * carries the SHA-256 of its own secret (the signer's cache key).
 * Header-only, like the other helpers; include after <cmocka.h>.
 */
#ifndef XACCT_TEST_CREDS_ASSERT_H
#define XACCT_TEST_CREDS_ASSERT_H

#include <string.h>

#include "xacct/digest.h"
#include "xacct/sigv4.h"

static inline void assert_secret_digest(const xacct_sigv4_credentials_t *cur)
{
    unsigned char want[32];
    unsigned int n = 0;
    assert_non_null(cur->secret_sha256);
    assert_int_equal(xacct_digest(XACCT_DIGEST_SHA256, cur->secret_access_key,
                                  strlen(cur->secret_access_key), want, &n),
                     0);
    assert_memory_equal(cur->secret_sha256, want, sizeof(want));
}

#endif
