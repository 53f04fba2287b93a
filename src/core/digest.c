/* SPDX-License-Identifier: MIT */
/*
 * Digests and HMAC-SHA-256 with algorithms fetched once (see xacct/digest.h
 * for why). The HMAC keeps one context template with its digest already
 * set; each call duplicates it, keys the copy and frees it, so calls never
 * share mutable state and no per-call name lookup is left.
 */
#include "xacct/digest.h"

#include <openssl/core_names.h>
#include <openssl/params.h>
#include <pthread.h>

#include "xacct/common.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static EVP_MD *mds[3];          /* indexed by xacct_digest_alg_t */
static EVP_MAC_CTX *hmac_proto; /* HMAC with digest SHA256, not keyed */

static void fetch_all(void)
{
    mds[XACCT_DIGEST_SHA256] = EVP_MD_fetch(NULL, "SHA256", NULL);
    mds[XACCT_DIGEST_SHA1] = EVP_MD_fetch(NULL, "SHA1", NULL);
    mds[XACCT_DIGEST_MD5] = EVP_MD_fetch(NULL, "MD5", NULL);
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (mac == NULL)
        return;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac); /* the context holds its own reference */
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    if (ctx != NULL && EVP_MAC_CTX_set_params(ctx, params) != 1) {
        EVP_MAC_CTX_free(ctx);
        ctx = NULL;
    }
    hmac_proto = ctx;
}

const EVP_MD *xacct_digest_md(xacct_digest_alg_t alg)
{
    if ((unsigned)alg >= sizeof(mds) / sizeof(mds[0]))
        return NULL;
    pthread_once(&once, fetch_all);
    return mds[alg];
}

int xacct_digest(xacct_digest_alg_t alg, const void *data, size_t len, unsigned char *out,
                 unsigned int *outlen)
{
    const EVP_MD *md = xacct_digest_md(alg);
    if (md == NULL || EVP_Digest(data, len, out, outlen, md, NULL) != 1)
        return XACCT_ECRYPTO;
    return 0;
}

int xacct_hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen,
                      unsigned char out[32])
{
    pthread_once(&once, fetch_all);
    if (hmac_proto == NULL)
        return XACCT_ECRYPTO;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(hmac_proto);
    size_t outlen = 0;
    int rc = XACCT_ECRYPTO;
    if (ctx != NULL && EVP_MAC_init(ctx, key, klen, NULL) == 1 &&
        EVP_MAC_update(ctx, msg, mlen) == 1 && EVP_MAC_final(ctx, out, &outlen, 32) == 1 &&
        outlen == 32)
        rc = 0;
    EVP_MAC_CTX_free(ctx);
    return rc;
}
