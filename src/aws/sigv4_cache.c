/* SPDX-License-Identifier: MIT */
/*
 * The SigV4 signing-key cache. A signing key (four HMACs from the secret,
 * the date, the region and the service) lives in one of a few fixed slots
 * together with an HMAC context keyed with it, so that a signature under a
 * cached key costs one HMAC of the string to sign and no key set-up. A slot
 * is found by access key id, date, region, service and the SHA-256 of the
 * secret (a rotated secret under the same id must not hit), which
 * credentials may bring precomputed (xacct_sigv4_credentials_t's
 * secret_sha256). Keys, contexts and digests are wiped when a slot is
 * reused and when the cache is freed.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sigv4_int.h"
#include "xacct/digest.h"

typedef struct cache_entry {
    bool used;                   /* slot holds a key */
    uint64_t last_used;          /* cache tick of the last hit, for LRU */
    char akid[129];              /* access key id */
    unsigned char secret_fp[32]; /* SHA-256 of the secret */
    char date[9];                /* YYYYMMDD */
    char region[65];
    char service[65];
    unsigned char key[32];       /* the signing key (secret) */
    EVP_MAC_CTX *mac;            /* keyed with key; NULL until first needed */
} cache_entry_t;

struct xacct_sigv4_cache {
    cache_entry_t e[XACCT_SIGV4_CACHE_SLOTS]; /* fixed: the cache never grows */
    uint64_t tick;                            /* bumps on every lookup */
    unsigned long hits;                       /* lookups answered from a slot */
    unsigned long misses;                     /* keys derived */
};

xacct_sigv4_cache_t *xacct_sigv4_cache_new(void)
{
    return xacct_calloc(1, sizeof(xacct_sigv4_cache_t));
}

static void entry_clear(cache_entry_t *e)
{
    EVP_MAC_CTX_free(e->mac); /* wipes the keyed state */
    OPENSSL_cleanse(e, sizeof(*e));
}

void xacct_sigv4_cache_free(xacct_sigv4_cache_t *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < XACCT_SIGV4_CACHE_SLOTS; i++)
        entry_clear(&c->e[i]);
    xacct_freezero(c, sizeof(*c));
}

/* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service),
 * "aws4_request"). Intermediate keys are wiped on every path. */
static int derive_key(const char *secret, const char *date, const char *region,
                      const char *service, unsigned char key[32])
{
    int rc;
    size_t slen = strlen(secret);
    char *k0 = xacct_malloc(slen + 5);
    unsigned char k1[32], k2[32], k3[32];
    memcpy(k0, "AWS4", 4);
    memcpy(k0 + 4, secret, slen + 1);

    if ((rc = xacct_hmac_sha256(k0, slen + 4, date, strlen(date), k1)) != 0 ||
        (rc = xacct_hmac_sha256(k1, 32, region, strlen(region), k2)) != 0 ||
        (rc = xacct_hmac_sha256(k2, 32, service, strlen(service), k3)) != 0 ||
        (rc = xacct_hmac_sha256(k3, 32, "aws4_request", 12, key)) != 0)
        goto out;
out:
    xacct_freezero(k0, slen + 5);
    OPENSSL_cleanse(k1, sizeof(k1));
    OPENSSL_cleanse(k2, sizeof(k2));
    OPENSSL_cleanse(k3, sizeof(k3));
    if (rc != 0)
        OPENSSL_cleanse(key, 32);
    return rc;
}

static bool copy_field(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    if (n >= size)
        return false;
    memcpy(dst, src, n + 1);
    return true;
}

/* The signing key for these inputs into key, from the cache or derived (and
 * then cached); *slot gets the entry holding it, or NULL when there is no
 * cache or the inputs are too long to keep. */
static int signing_key(xacct_sigv4_cache_t *cache, const xacct_sigv4_credentials_t *creds,
                       const char *date, const char *region, const char *service,
                       unsigned char key[32], cache_entry_t **slot)
{
    int rc = 0;
    unsigned char fp[32];
    unsigned int fplen = 0;

    *slot = NULL;
    if (cache == NULL)
        return derive_key(creds->secret_access_key, date, region, service, key);
    if (creds->secret_sha256 != NULL) {
        memcpy(fp, creds->secret_sha256, sizeof(fp));
    } else if (xacct_digest(XACCT_DIGEST_SHA256, creds->secret_access_key,
                            strlen(creds->secret_access_key), fp, &fplen) != 0 ||
               fplen != sizeof(fp)) {
        rc = XACCT_ECRYPTO;
        goto out;
    }

    cache->tick++;
    cache_entry_t *victim = &cache->e[0];
    for (size_t i = 0; i < XACCT_SIGV4_CACHE_SLOTS; i++) {
        cache_entry_t *e = &cache->e[i];
        if (e->used && strcmp(e->akid, creds->access_key_id) == 0 &&
            strcmp(e->date, date) == 0 && strcmp(e->region, region) == 0 &&
            strcmp(e->service, service) == 0 &&
            CRYPTO_memcmp(e->secret_fp, fp, sizeof(fp)) == 0) {
            e->last_used = cache->tick;
            memcpy(key, e->key, 32);
            cache->hits++;
            *slot = e;
            goto out;
        }
        /* Prefer an empty slot, else the least recently used one. */
        if (victim->used && (!e->used || e->last_used < victim->last_used))
            victim = e;
    }

    if ((rc = derive_key(creds->secret_access_key, date, region, service, key)) != 0)
        goto out;
    cache->misses++;
    entry_clear(victim);
    if (copy_field(victim->akid, sizeof(victim->akid), creds->access_key_id) &&
        copy_field(victim->date, sizeof(victim->date), date) &&
        copy_field(victim->region, sizeof(victim->region), region) &&
        copy_field(victim->service, sizeof(victim->service), service)) {
        memcpy(victim->secret_fp, fp, sizeof(fp));
        memcpy(victim->key, key, 32);
        victim->last_used = cache->tick;
        victim->used = true;
        *slot = victim;
    } else {
        /* Too long to cache: the key was derived and is simply not kept. */
        entry_clear(victim);
    }
out:
    OPENSSL_cleanse(fp, sizeof(fp));
    return rc;
}

int xacct__sigv4_cache_mac(xacct_sigv4_cache_t *cache, const xacct_sigv4_credentials_t *creds,
                           const char *date, const char *region, const char *service,
                           const void *msg, size_t len, unsigned char out[32])
{
    unsigned char key[32];
    cache_entry_t *e = NULL;
    int rc = signing_key(cache, creds, date, region, service, key, &e);

    if (rc == 0) {
        if (e != NULL && e->mac == NULL)
            e->mac = xacct_hmac_sha256_keyed(key, sizeof(key)); /* NULL: one-shot below */
        rc = e != NULL && e->mac != NULL ? xacct_hmac_sha256_again(e->mac, msg, len, out)
                                         : xacct_hmac_sha256(key, sizeof(key), msg, len, out);
    }
    OPENSSL_cleanse(key, sizeof(key));
    return rc;
}

#ifdef XACCT_UNIT_TESTING
int xacct__sigv4_signing_key(xacct_sigv4_cache_t *cache, const char *akid, const char *secret,
                             const char *date, const char *region, const char *service,
                             unsigned char key[32])
{
    const xacct_sigv4_credentials_t creds = {akid, secret, NULL, NULL};
    cache_entry_t *e = NULL;
    return signing_key(cache, &creds, date, region, service, key, &e);
}

void xacct__sigv4_cache_stats(const xacct_sigv4_cache_t *cache, unsigned long *hits,
                              unsigned long *misses, size_t *used)
{
    *hits = cache->hits;
    *misses = cache->misses;
    *used = 0;
    for (size_t i = 0; i < XACCT_SIGV4_CACHE_SLOTS; i++)
        *used += cache->e[i].used;
}
#endif
