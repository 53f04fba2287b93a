/* SPDX-License-Identifier: MIT */
/*
 * Signing a lifecycle event for its webhook receiver: HMAC-SHA256 over
 * "<timestamp>.<body>" with OpenSSL's EVP_MAC, rendered as "v1=<hex>". The
 * timestamp is inside the MAC so a receiver can refuse replays of old
 * deliveries; "v1=" leaves room for another scheme next to it.
 */
#include "xacct/webhook_sign.h"

#include <inttypes.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdio.h>
#include <string.h>

int xacct_webhook_sign(const void *key, size_t key_len, int64_t timestamp, const void *body,
                       size_t body_len, char out[XACCT_WEBHOOK_SIG_LEN + 1])
{
    EVP_MAC *mac = NULL;
    EVP_MAC_CTX *ctx = NULL;
    unsigned char md[32];
    size_t md_len = 0;
    char ts[24];
    int rc = XACCT_ECRYPTO;

    out[0] = '\0';
    if (key == NULL || key_len == 0 || (body == NULL && body_len > 0))
        return XACCT_EINVAL;
    int n = snprintf(ts, sizeof(ts), "%" PRId64 ".", timestamp);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    if ((mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL ||
        (ctx = EVP_MAC_CTX_new(mac)) == NULL ||
        EVP_MAC_init(ctx, key, key_len, params) != 1 ||
        EVP_MAC_update(ctx, (const unsigned char *)ts, (size_t)n) != 1 ||
        (body_len > 0 && EVP_MAC_update(ctx, body, body_len) != 1) ||
        EVP_MAC_final(ctx, md, &md_len, sizeof(md)) != 1 || md_len != sizeof(md))
        goto out;
    memcpy(out, "v1=", 3);
    for (size_t i = 0; i < sizeof(md); i++)
        snprintf(out + 3 + 2 * i, 3, "%02x", md[i]);
    rc = 0;
out:
    OPENSSL_cleanse(md, sizeof(md));
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return rc;
}
