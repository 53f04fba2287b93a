/* SPDX-License-Identifier: MIT */
/*
 * AWS Signature Version 4. A pure function from the request (method, URL,
 * headers, payload hash), the credentials and a *given* time to the headers
 * that sign it, or to a presigned URL. No I/O and no clock reads, so the
 * official test suite can drive it.
 *
 * The derived signing key is cached per (access key, date, region, service)
 * in a caller-owned cache; cached keys are wiped when replaced or freed.
 */
#ifndef XACCT_SIGV4_H
#define XACCT_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "xacct/buf.h"
#include "xacct/common.h"

#define XACCT_SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

/* Borrowed credentials; session_token is NULL for long-term keys.
 * secret_sha256, when not NULL, is the SHA-256 of secret_access_key (32
 * bytes), computed once by whoever holds the credentials: the signing-key
 * cache finds a key by it, and would otherwise hash the secret for every
 * signature. */
typedef struct xacct_sigv4_credentials {
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token;
    const unsigned char *secret_sha256;
} xacct_sigv4_credentials_t;

typedef struct xacct_sigv4_request {
    const char *method;            /* "GET", "POST", ... */
    const char *url;               /* scheme://host[:port]/path[?query], as it will be sent */
    const xacct_header_t *headers; /* headers that will be sent; all are signed. Host is
                                      taken from the URL when not given here. */
    size_t nheaders;
    const char *payload_hash;      /* lower-case hex SHA-256 of the body, or
                                      XACCT_SIGV4_UNSIGNED_PAYLOAD; NULL = hash body */
    const void *body;
    size_t body_len;
    const char *region;            /* "us-east-1" */
    const char *service;           /* "sqs", "s3", ... */
    time_t now;                    /* signing time (UTC seconds) */
    bool s3;                       /* S3 rules: no path normalisation, single encoding,
                                      and an X-Amz-Content-Sha256 header */
} xacct_sigv4_request_t;

/* The headers to add to the request, owned by the result. */
typedef struct xacct_sigv4_result {
    char *authorization;           /* "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=..." */
    char *amz_date;                /* X-Amz-Date value: 20150830T123600Z */
    char *security_token;          /* X-Amz-Security-Token value, or NULL */
    char *content_sha256;          /* X-Amz-Content-Sha256 value (s3 only), or NULL */
    char *canonical_request;       /* for tests and debugging (no secrets in it) */
    char *string_to_sign;
} xacct_sigv4_result_t;

/* A small fixed-size cache of signing keys (least recently used goes
 * first); use one per thread or loop, it has no locking. */
typedef struct xacct_sigv4_cache xacct_sigv4_cache_t;

xacct_sigv4_cache_t *xacct_sigv4_cache_new(void); /* never NULL; xacct_sigv4_cache_free */
void xacct_sigv4_cache_free(xacct_sigv4_cache_t *c); /* wipes keys; NULL is a no-op */

/*
 * Signs req. cache may be NULL. On success fills *out (release with
 * xacct_sigv4_result_destroy); on failure *out is left zeroed. Returns 0,
 * XACCT_EINVAL (bad URL, missing field), XACCT_ETOOBIG (more than 128
 * headers, URL over 64 KiB, ...) or XACCT_ECRYPTO.
 *
 * The signer owns X-Amz-Date, X-Amz-Security-Token (when creds carry a
 * token: it is signed, as STS, SQS, SNS and S3 accept) and, for s3,
 * X-Amz-Content-Sha256: it signs them and hands their values back in *out
 * for the caller to send. A copy of one of them in req->headers must carry
 * the same value (it is then not repeated), else XACCT_EINVAL; so must an
 * Authorization header, always. UNSIGNED-PAYLOAD is accepted only with s3.
 * The URL is taken as sent: a '#' is data, not a fragment.
 */
int xacct_sigv4_sign(xacct_sigv4_cache_t *cache, const xacct_sigv4_request_t *req,
                     const xacct_sigv4_credentials_t *creds,
                     xacct_sigv4_result_t *out) XACCT_MUSTCHECK;
void xacct_sigv4_result_destroy(xacct_sigv4_result_t *r);

/*
 * Presigned query form: returns in *url_out (caller frees) the URL with
 * X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date, X-Amz-Expires,
 * X-Amz-SignedHeaders, X-Amz-Security-Token (if any) and X-Amz-Signature
 * appended. expires_seconds must be 1..604800. The signed headers are host
 * plus req->headers (which the eventual request must then send). For s3 a
 * NULL payload_hash signs UNSIGNED-PAYLOAD. A URL that already carries one
 * of those X-Amz-* parameters is refused (XACCT_EINVAL). *url_out is NULL
 * on failure.
 */
int xacct_sigv4_presign(xacct_sigv4_cache_t *cache, const xacct_sigv4_request_t *req,
                        const xacct_sigv4_credentials_t *creds, long expires_seconds,
                        char **url_out) XACCT_MUSTCHECK;

/* RFC 3986 percent-encoding as SigV4 wants it (unreserved kept, upper-case
 * hex); '/' is kept when encode_slash is false. */
int xacct_sigv4_uri_encode(xacct_buf_t *out, const char *s, size_t len,
                           bool encode_slash) XACCT_MUSTCHECK;

/* Lower-case hex SHA-256 of data into hex[65]; data may be NULL when len
 * is 0. Should the crypto library fail, hex is set to "" (which no AWS
 * service accepts as a hash). */
void xacct_sha256_hex(const void *data, size_t len, char hex[65]);

#endif
