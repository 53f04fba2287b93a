/* SPDX-License-Identifier: MIT */
/*
 * Digests and HMAC-SHA-256 with algorithms fetched once (see xacct/digest.h
 * for why), run in contexts each thread keeps for its next call: a digest or
 * HMAC context costs more to allocate, set up and free than hashing the few
 * hundred bytes a SigV4 string holds. The HMAC context starts as a copy of a
 * template with its digest already set and is keyed afresh on every call.
 * A thread's contexts are freed (and wiped) when it exits.
 */
#include "xacct/digest.h"

#include <openssl/core_names.h>
#include <openssl/params.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "xacct/common.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static EVP_MD *mds[3];          /* indexed by xacct_digest_alg_t */
static EVP_MAC_CTX *hmac_proto; /* HMAC with digest SHA256, not keyed */
static pthread_key_t tls_key;   /* a thread's thread_ctx_t */
static bool tls_key_ok;

typedef struct thread_ctx {
    EVP_MD_CTX *md;    /* re-initialised for each digest */
    EVP_MAC_CTX *mac;  /* a copy of hmac_proto, re-keyed for each HMAC */
} thread_ctx_t;

static void thread_ctx_free(void *p)
{
    thread_ctx_t *t = p;
    EVP_MD_CTX_free(t->md);
    EVP_MAC_CTX_free(t->mac); /* wipes the last key's state */
    free(t);
}

static void fetch_all(void)
{
    tls_key_ok = pthread_key_create(&tls_key, thread_ctx_free) == 0;
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

/* This thread's contexts, made at its first call; NULL when out of memory. */
static thread_ctx_t *thread_ctx(void)
{
    pthread_once(&once, fetch_all);
    if (!tls_key_ok)
        return NULL;
    thread_ctx_t *t = pthread_getspecific(tls_key);
    if (t != NULL)
        return t;
    t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->md = EVP_MD_CTX_new();
    t->mac = hmac_proto != NULL ? EVP_MAC_CTX_dup(hmac_proto) : NULL;
    if (t->md == NULL || (hmac_proto != NULL && t->mac == NULL) ||
        pthread_setspecific(tls_key, t) != 0) {
        thread_ctx_free(t);
        return NULL;
    }
    return t;
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
    thread_ctx_t *t = thread_ctx();
    if (md == NULL || t == NULL || EVP_DigestInit_ex2(t->md, md, NULL) != 1 ||
        EVP_DigestUpdate(t->md, data, len) != 1 || EVP_DigestFinal_ex(t->md, out, outlen) != 1)
        return XACCT_ECRYPTO;
    return 0;
}

int xacct_hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen,
                      unsigned char out[32])
{
    thread_ctx_t *t = thread_ctx();
    size_t outlen = 0;
    if (t == NULL || t->mac == NULL || EVP_MAC_init(t->mac, key, klen, NULL) != 1 ||
        EVP_MAC_update(t->mac, msg, mlen) != 1 || EVP_MAC_final(t->mac, out, &outlen, 32) != 1 ||
        outlen != 32)
        return XACCT_ECRYPTO;
    return 0;
}

EVP_MAC_CTX *xacct_hmac_sha256_keyed(const void *key, size_t klen)
{
    pthread_once(&once, fetch_all);
    EVP_MAC_CTX *ctx = hmac_proto != NULL ? EVP_MAC_CTX_dup(hmac_proto) : NULL;
    if (ctx != NULL && EVP_MAC_init(ctx, key, klen, NULL) != 1) {
        EVP_MAC_CTX_free(ctx);
        ctx = NULL;
    }
    return ctx;
}

int xacct_hmac_sha256_again(EVP_MAC_CTX *ctx, const void *msg, size_t mlen,
                            unsigned char out[32])
{
    size_t outlen = 0;
    /* No key: OpenSSL restarts from the state the last key left. */
    if (ctx == NULL || EVP_MAC_init(ctx, NULL, 0, NULL) != 1 ||
        EVP_MAC_update(ctx, msg, mlen) != 1 || EVP_MAC_final(ctx, out, &outlen, 32) != 1 ||
        outlen != 32)
        return XACCT_ECRYPTO;
    return 0;
}
