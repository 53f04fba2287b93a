/* SPDX-License-Identifier: MIT */
/*
 * The lifecycle-event webhook signature (SPEC §8): X-Xacct-Signature is
 * "v1=" + hex(HMAC-SHA256(secret, timestamp + "." + body)), timestamp being
 * the X-Xacct-Timestamp header (Unix seconds, decimal). Pure: no I/O, no
 * clock reads; OpenSSL EVP_MAC does the HMAC.
 */
#ifndef XACCT_WEBHOOK_SIGN_H
#define XACCT_WEBHOOK_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "xacct/common.h"

#define XACCT_WEBHOOK_SIG_LEN (3 + 64) /* "v1=" and 64 hex digits */

/* Writes the header value ("v1=<hex>", NUL-terminated) into out. key must
 * not be empty. Returns 0, XACCT_EINVAL (no key) or XACCT_ECRYPTO (OpenSSL
 * failed). */
int xacct_webhook_sign(const void *key, size_t key_len, int64_t timestamp, const void *body,
                       size_t body_len, char out[XACCT_WEBHOOK_SIG_LEN + 1]) XACCT_MUSTCHECK;

#endif
