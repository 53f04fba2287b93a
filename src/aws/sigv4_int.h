/* SPDX-License-Identifier: MIT */
/*
 * Internal interface between the two halves of the SigV4 signer:
 * sigv4_canon.c turns a request into its canonical pieces (URI, query,
 * headers) and sigv4.c hashes, derives keys and assembles the results. Not
 * part of the public contract; only src/sigv4*.c and the unit test include it.
 */
#ifndef XACCT_SIGV4_INT_H
#define XACCT_SIGV4_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "xacct/buf.h"
#include "xacct/common.h"
#include "xacct/sigv4.h"

/* Hard limits: a request beyond them is refused with XACCT_ETOOBIG. */
#define XACCT_SIGV4_MAX_URL (64u * 1024u)           /* whole URL */
#define XACCT_SIGV4_MAX_QUERY_PARAMS 512u           /* name=value pairs */
#define XACCT_SIGV4_MAX_HEADERS 128u                /* headers to sign */
#define XACCT_SIGV4_MAX_HEADER_VALUE (16u * 1024u)  /* one header value */
#define XACCT_SIGV4_MAX_CANONICAL (1024u * 1024u)   /* canonical request */
#define XACCT_SIGV4_CACHE_SLOTS 4                   /* signing keys per cache */

/* The pieces of an absolute http(s) URL; every pointer borrows from the URL. */
typedef struct xacct__sigv4_url {
    const char *host;  /* host[:port], the default port removed */
    size_t host_len;
    const char *path;  /* "/..." as given; "/" when the URL has none */
    size_t path_len;
    const char *query; /* after the first '?', or "" */
    size_t query_len;
    bool has_query;    /* the URL contains a '?' */
} xacct__sigv4_url_t;

/* Splits url. Returns 0, XACCT_EINVAL (not http(s), no host, user info) or
 * XACCT_ETOOBIG. */
int xacct__sigv4_url_parse(const char *url, xacct__sigv4_url_t *out) XACCT_MUSTCHECK;

/* Appends the canonical URI of path: for s3, percent-decoded then encoded
 * once, never normalised; otherwise dot segments and repeated slashes are
 * removed and each segment is encoded as given (an encoded path is thus
 * encoded twice, as AWS wants for every service but S3). */
int xacct__sigv4_canonical_uri(xacct_buf_t *out, const char *path, size_t len,
                               bool s3) XACCT_MUSTCHECK;

/* Appends the canonical query string of a raw query (without the '?'). */
int xacct__sigv4_canonical_query(xacct_buf_t *out, const char *query,
                                 size_t len) XACCT_MUSTCHECK;

/* True when the raw query has a parameter whose decoded name is name. */
bool xacct__sigv4_query_has(const char *query, size_t len, const char *name);

/*
 * Appends the canonical headers block ("name:value\n" per distinct name,
 * sorted, duplicates joined with ',') to canon and the signed-headers list
 * ("a;b;c") to signed_names. Returns 0, XACCT_EINVAL (empty or non-token
 * name, CR/LF in a value) or XACCT_ETOOBIG.
 */
int xacct__sigv4_canonical_headers(xacct_buf_t *canon, xacct_buf_t *signed_names,
                                   const xacct_header_t *h, size_t n) XACCT_MUSTCHECK;

/* Writes into out the value trimmed with inner runs of blanks collapsed. */
int xacct__sigv4_trim_value(xacct_buf_t *out, const char *v) XACCT_MUSTCHECK;

/* HMAC-SHA-256 of msg under the signing key for (creds, date "YYYYMMDD",
 * region, service): the signature of a string to sign. The key comes from
 * cache (which may be NULL) or is derived and kept there. Returns 0 or
 * XACCT_ECRYPTO. (sigv4_cache.c) */
int xacct__sigv4_cache_mac(xacct_sigv4_cache_t *cache, const xacct_sigv4_credentials_t *creds,
                           const char *date, const char *region, const char *service,
                           const void *msg, size_t len, unsigned char out[32]) XACCT_MUSTCHECK;

#ifdef XACCT_UNIT_TESTING
/* sigv4.c and sigv4_cache.c internals reached by tests/unit/test_sigv4.c. */

/* Derives (or takes from cache, which may be NULL) the signing key for
 * (akid, secret, date "YYYYMMDD", region, service) into key. */
int xacct__sigv4_signing_key(xacct_sigv4_cache_t *cache, const char *akid,
                             const char *secret, const char *date, const char *region,
                             const char *service, unsigned char key[32]) XACCT_MUSTCHECK;

/* Cache counters: lookups answered from the cache, keys derived, slots in use. */
void xacct__sigv4_cache_stats(const xacct_sigv4_cache_t *cache, unsigned long *hits,
                              unsigned long *misses, size_t *used);
#endif

#endif
