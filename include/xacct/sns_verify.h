/* SPDX-License-Identifier: MIT */
/*
 * Amazon SNS message authenticity: parsing the JSON envelope, the canonical
 * string SNS signs, SignatureVersion 1 (SHA1withRSA) and 2 (SHA256withRSA)
 * verification with OpenSSL, the SigningCertURL rules (https, host on
 * sns.cert_hosts), and a bounded cache of signing certificates fetched
 * asynchronously by URL.
 */
#ifndef XACCT_SNS_VERIFY_H
#define XACCT_SNS_VERIFY_H

#include <stdbool.h>
#include <stddef.h>

#include "xacct/buf.h"
#include "xacct/common.h"
#include "xacct/config.h"
#include "xacct/http.h"

#define XACCT_SNS_MAX_ENVELOPE (300 * 1024) /* 256 KiB message plus the envelope */

typedef enum xacct_sns_type {
    XACCT_SNS_NOTIFICATION = 1,
    XACCT_SNS_SUBSCRIPTION_CONFIRMATION = 2,
    XACCT_SNS_UNSUBSCRIBE_CONFIRMATION = 3,
} xacct_sns_type_t;

/* All strings owned by the envelope; NULL when absent (Subject also when
 * JSON null). */
typedef struct xacct_sns_envelope {
    xacct_sns_type_t type;
    char *type_name;         /* "Notification", ... */
    char *message_id;
    char *topic_arn;
    char *subject;
    char *message;           /* JSON escapes decoded */
    size_t message_len;
    char *timestamp;
    char *signature_version; /* "1" or "2" */
    char *signature;         /* base64 */
    char *signing_cert_url;  /* SigningCertURL or SigningCertUrl */
    char *subscribe_url;     /* confirmations only */
    char *token;             /* confirmations only */
} xacct_sns_envelope_t;

/*
 * Parses an SNS JSON envelope. Returns 0 with *out (free with
 * xacct_sns_envelope_free), or XACCT_EPARSE / XACCT_ETOOBIG with a reason in
 * err. Fields required for the envelope's type must be present.
 */
int xacct_sns_envelope_parse(const char *json, size_t len, xacct_sns_envelope_t **out, char *err,
                             size_t errlen) XACCT_MUSTCHECK;
void xacct_sns_envelope_free(xacct_sns_envelope_t *env);

/* Appends the canonical string SNS signs for env's type to out. */
int xacct_sns_string_to_sign(const xacct_sns_envelope_t *env, xacct_buf_t *out) XACCT_MUSTCHECK;

/* Verifies env's signature with the certificate in pem (PEM text).
 * Returns 0, XACCT_ESIGNATURE (bad signature or unknown SignatureVersion)
 * or XACCT_ECERT (the PEM does not hold an RSA certificate). */
int xacct_sns_verify_pem(const xacct_sns_envelope_t *env, const char *pem,
                         size_t pem_len) XACCT_MUSTCHECK;

/* A certificate's key kept with its verification contexts (sns_verify.c). */
typedef struct xacct__sns_key xacct__sns_key_t;

#ifdef XACCT_UNIT_TESTING
/* sns_verify.c internals reached by tests/unit/test_sns_verify.c: the key as
 * the cache keeps it (NULL when the PEM holds no certificate). */
xacct__sns_key_t *xacct__sns_key_from_pem(const char *pem, size_t len);
int xacct__sns_key_verify(xacct__sns_key_t *k, const xacct_sns_envelope_t *env);
void xacct__sns_key_free(xacct__sns_key_t *k);
/* What a signing certificate fetch answered with HTTP status http (not 200)
 * means: XACCT_EAGAIN when it may work later (5xx, 408, 429), else
 * XACCT_ECERT. */
int xacct__sns_cert_http_status(long http);
/* Whether a certificate DNS name (n bytes) is one AWS issues SNS signing
 * certificates to: sns.amazonaws.com[.cn], sns-<region>.amazonaws.com[.cn],
 * sns-signing.<region>.amazonaws.com[.cn] or sns.<region>.amazonaws.com[.cn]. */
bool xacct__sns_cert_name_ok(const char *name, size_t n);
/* The key of a fetched certificate: NULL with the reason in why unless it
 * is a certificate whose names (its subjectAltName DNS names, else its
 * common name) include an SNS signing name. */
xacct__sns_key_t *xacct__sns_key_from_fetched(const char *pem, size_t len, char *why,
                                              size_t whylen);
#endif

/* Checks a SigningCertURL or SubscribeURL: https, no user information, host
 * on hosts (port rules as in SPEC §6), and for certificates a path ending
 * in ".pem". Returns 0 or XACCT_ECERT with the reason in err. */
int xacct_sns_url_check(const char *url, const xacct_strlist_t *hosts, bool want_pem, char *err,
                        size_t errlen) XACCT_MUSTCHECK;

typedef struct xacct_sns_verifier xacct_sns_verifier_t;

/* A certificate cache (at most max_certs entries, least recently used
 * evicted) fetching through http. Free with xacct_sns_verifier_free, which
 * completes pending verifications with XACCT_ECANCELED. */
xacct_sns_verifier_t *xacct_sns_verifier_new(xacct_http_t *http, size_t max_certs);
void xacct_sns_verifier_free(xacct_sns_verifier_t *v);

/*
 * Final status: 0 verified; XACCT_ESIGNATURE; XACCT_ECERT (URL not allowed,
 * or what it served is not a valid SNS signing certificate: permanent); XACCT_EAGAIN (the
 * certificate could not be fetched now: transient); XACCT_ECANCELED.
 */
typedef void (*xacct_sns_verify_cb)(int status, const char *detail, void *arg);

/*
 * Verifies env. When the answer is known at once (certificate cached, or the
 * URL refused) it is returned and cb is NOT called. Otherwise returns
 * XACCT_EAGAIN and cb fires exactly once later with the final status. env
 * must stay alive until then.
 */
int xacct_sns_verify(xacct_sns_verifier_t *v, const xacct_sns_envelope_t *env,
                     const xacct_strlist_t *cert_hosts, xacct_sns_verify_cb cb, void *arg);

/* Certificates fetched over the verifier's lifetime (for metrics/tests). */
size_t xacct_sns_verifier_fetches(const xacct_sns_verifier_t *v);

#endif
