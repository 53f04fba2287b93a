/* SPDX-License-Identifier: MIT */
/*
 * The message digests and the HMAC every message needs (SHA-256 and HMAC-
 * SHA-256 for SigV4, SHA-1/SHA-256 for SNS signatures, MD5 for SQS body
 * checks), fetched from OpenSSL once per process instead of on every call:
 * OpenSSL 3 looks an algorithm up in its provider store each time a legacy
 * EVP_sha256() or EVP_Q_mac() is used, which cost more than hashing a
 * SigV4 string. The fetched algorithms live until exit (OpenSSL frees them
 * in its own atexit cleanup); they are immutable, so any thread may use them.
 */
#ifndef XACCT_DIGEST_H
#define XACCT_DIGEST_H

#include <openssl/evp.h>
#include <stddef.h>

typedef enum xacct_digest_alg {
    XACCT_DIGEST_SHA256,
    XACCT_DIGEST_SHA1,
    XACCT_DIGEST_MD5,
} xacct_digest_alg_t;

/* The fetched algorithm (borrowed, never freed by the caller), or NULL when
 * the provider does not offer it (MD5 under a FIPS-only configuration). */
const EVP_MD *xacct_digest_md(xacct_digest_alg_t alg);

/* One-shot digest; *outlen gets its size. Returns 0 or XACCT_ECRYPTO. */
int xacct_digest(xacct_digest_alg_t alg, const void *data, size_t len, unsigned char *out,
                 unsigned int *outlen);

/* HMAC-SHA-256 of msg under key into out[32]. Returns 0 or XACCT_ECRYPTO.
 * The key is only handed to OpenSSL: the calling thread's HMAC context holds
 * its derived state until that thread's next HMAC re-keys it, and OpenSSL
 * wipes it when the context is freed at thread exit. */
int xacct_hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen,
                      unsigned char out[32]);

/* An HMAC-SHA-256 context keyed once with key, for a key that signs many
 * messages (a SigV4 signing key): the key's padding blocks are hashed here
 * and not again. NULL when out of memory. Free with EVP_MAC_CTX_free, which
 * wipes the keyed state. */
EVP_MAC_CTX *xacct_hmac_sha256_keyed(const void *key, size_t klen);

/* HMAC-SHA-256 of msg into out[32] under ctx's key (xacct_hmac_sha256_keyed);
 * every call starts afresh from the keyed state. Returns 0 or XACCT_ECRYPTO. */
int xacct_hmac_sha256_again(EVP_MAC_CTX *ctx, const void *msg, size_t mlen,
                            unsigned char out[32]);

#endif
