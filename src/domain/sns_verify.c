/* SPDX-License-Identifier: MIT */
/*
 * SNS envelope verification. The envelope is read as a JSON document
 * (xacct/jdoc.h: escapes, surrogate pairs included, decoded as SNS signed
 * them; duplicate keys rejected),
 * the canonical string is built from the fields AWS documents for each
 * message type, and the signature is checked with the public key of the
 * certificate named by SigningCertURL — fetched only over https from an
 * allowed host, taken only when issued to Amazon SNS (as AWS asks of a
 * verifier), then cached by URL so a busy worker fetches each certificate
 * once. Validity dates are not enforced, as AWS's own validators do not:
 * what proves the message is the signature by a key SNS certified.
 */
#include "xacct/sns_verify.h"
#include "xacct/digest.h"
#include "xacct/jdoc.h"
#include "xacct/url.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xacct/arn.h"

#define MAX_CERT_BYTES (64 * 1024)

void xacct_sns_envelope_free(xacct_sns_envelope_t *env)
{
    if (env == NULL)
        return;
    free(env->type_name);
    free(env->message_id);
    free(env->topic_arn);
    free(env->subject);
    free(env->message);
    free(env->timestamp);
    free(env->signature_version);
    free(env->signature);
    free(env->signing_cert_url);
    free(env->subscribe_url);
    free(env->token);
    free(env);
}

static char *member(const xacct_jval_t *o, const char *key, size_t *len)
{
    size_t n = 0;
    const char *v = xacct_jval_string(xacct_jval_get(o, key), &n);
    if (v == NULL)
        return NULL;
    if (len != NULL)
        *len = n;
    return xacct_strndup(v, n);
}

int xacct_sns_envelope_parse(const char *json, size_t len, xacct_sns_envelope_t **out, char *err,
                             size_t errlen)
{
    *out = NULL;
    if (len > XACCT_SNS_MAX_ENVELOPE) {
        snprintf(err, errlen, "envelope larger than %d bytes", XACCT_SNS_MAX_ENVELOPE);
        return XACCT_ETOOBIG;
    }
    xacct_jdoc_t *doc;
    const xacct_jval_t *root;
    if (xacct_jdoc_parse_object(json, len, &doc, &root) != 0) {
        snprintf(err, errlen, "envelope is not a JSON object");
        return XACCT_EPARSE;
    }
    int rc = XACCT_EPARSE;
    xacct_sns_envelope_t *env = xacct_calloc(1, sizeof(*env));
    env->type_name = member(root, "Type", NULL);
    if (env->type_name == NULL) {
        snprintf(err, errlen, "envelope has no Type");
        goto out;
    }
    if (strcmp(env->type_name, "Notification") == 0)
        env->type = XACCT_SNS_NOTIFICATION;
    else if (strcmp(env->type_name, "SubscriptionConfirmation") == 0)
        env->type = XACCT_SNS_SUBSCRIPTION_CONFIRMATION;
    else if (strcmp(env->type_name, "UnsubscribeConfirmation") == 0)
        env->type = XACCT_SNS_UNSUBSCRIBE_CONFIRMATION;
    else {
        snprintf(err, errlen, "unknown envelope Type");
        goto out;
    }
    env->message_id = member(root, "MessageId", NULL);
    env->topic_arn = member(root, "TopicArn", NULL);
    env->subject = member(root, "Subject", NULL);
    env->message = member(root, "Message", &env->message_len);
    env->timestamp = member(root, "Timestamp", NULL);
    env->signature_version = member(root, "SignatureVersion", NULL);
    env->signature = member(root, "Signature", NULL);
    env->signing_cert_url = member(root, "SigningCertURL", NULL);
    if (env->signing_cert_url == NULL)
        env->signing_cert_url = member(root, "SigningCertUrl", NULL);
    env->subscribe_url = member(root, "SubscribeURL", NULL);
    if (env->subscribe_url == NULL)
        env->subscribe_url = member(root, "SubscribeUrl", NULL);
    env->token = member(root, "Token", NULL);
    if (env->message_id == NULL || env->topic_arn == NULL || env->message == NULL ||
        env->timestamp == NULL || env->signature_version == NULL || env->signature == NULL ||
        env->signing_cert_url == NULL) {
        snprintf(err, errlen, "envelope lacks a required field");
        goto out;
    }
    if (env->type != XACCT_SNS_NOTIFICATION && (env->subscribe_url == NULL || env->token == NULL)) {
        snprintf(err, errlen, "confirmation lacks SubscribeURL or Token");
        goto out;
    }
    *out = env;
    env = NULL;
    rc = 0;
out:
    xacct_sns_envelope_free(env);
    xacct_jdoc_free(doc);
    return rc;
}

static int field(xacct_buf_t *out, const char *key, const char *value, size_t len)
{
    int rc = xacct_buf_puts(out, key);
    if (rc == 0)
        rc = xacct_buf_putc(out, '\n');
    if (rc == 0)
        rc = xacct_buf_append(out, value, len);
    if (rc == 0)
        rc = xacct_buf_putc(out, '\n');
    return rc;
}

int xacct_sns_string_to_sign(const xacct_sns_envelope_t *env, xacct_buf_t *out)
{
    int rc = field(out, "Message", env->message, env->message_len);
    if (rc == 0)
        rc = field(out, "MessageId", env->message_id, strlen(env->message_id));
    if (env->type == XACCT_SNS_NOTIFICATION) {
        if (rc == 0 && env->subject != NULL)
            rc = field(out, "Subject", env->subject, strlen(env->subject));
    } else if (rc == 0) {
        rc = field(out, "SubscribeURL", env->subscribe_url, strlen(env->subscribe_url));
    }
    if (rc == 0)
        rc = field(out, "Timestamp", env->timestamp, strlen(env->timestamp));
    if (rc == 0 && env->type != XACCT_SNS_NOTIFICATION)
        rc = field(out, "Token", env->token, strlen(env->token));
    if (rc == 0)
        rc = field(out, "TopicArn", env->topic_arn, strlen(env->topic_arn));
    if (rc == 0)
        rc = field(out, "Type", env->type_name, strlen(env->type_name));
    return rc;
}

/* Decodes base64 (newlines tolerated); returns the length or -1. */
static int base64_decode(const char *in, unsigned char *out, int outcap)
{
    EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
    if (ctx == NULL)
        return -1;
    int n = 0, fin = 0;
    int inlen = (int)strlen(in);
    EVP_DecodeInit(ctx);
    if (inlen / 4 * 3 + 3 > outcap || EVP_DecodeUpdate(ctx, out, &n, (const unsigned char *)in, inlen) < 0 ||
        EVP_DecodeFinal(ctx, out + n, &fin) != 1)
        n = -1;
    else
        n += fin;
    EVP_ENCODE_CTX_free(ctx);
    return n;
}

/* A certificate's public key with a verification context for each
 * SignatureVersion, made at its first use and kept: setting one up (the
 * provider's key management, the padding, the digest) costs as much as the
 * RSA operation and a dozen allocations, and a busy worker checks every
 * message with the same few keys. */
struct xacct__sns_key {
    EVP_PKEY *pkey;
    EVP_PKEY_CTX *verify[2]; /* [0] SignatureVersion 1 (SHA1), [1] 2 (SHA256) */
};

XACCT_STATIC void xacct__sns_key_free(xacct__sns_key_t *k)
{
    if (k == NULL)
        return;
    EVP_PKEY_CTX_free(k->verify[0]);
    EVP_PKEY_CTX_free(k->verify[1]);
    EVP_PKEY_free(k->pkey);
    free(k);
}

static X509 *cert_from_pem(const char *pem, size_t len)
{
    if (len > MAX_CERT_BYTES)
        return NULL;
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL)
        return NULL;
    X509 *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    return cert;
}

static xacct__sns_key_t *key_from_cert(X509 *cert)
{
    EVP_PKEY *pkey = X509_get_pubkey(cert);
    if (pkey == NULL)
        return NULL;
    xacct__sns_key_t *k = xacct_calloc(1, sizeof(*k));
    k->pkey = pkey;
    return k;
}

XACCT_STATIC xacct__sns_key_t *xacct__sns_key_from_pem(const char *pem, size_t len)
{
    X509 *cert = cert_from_pem(pem, len);
    if (cert == NULL)
        return NULL;
    xacct__sns_key_t *k = key_from_cert(cert);
    X509_free(cert);
    return k;
}

/* "<region>.amazonaws.com" or "<region>.amazonaws.com.cn" (n bytes of s). */
static bool region_domain(const char *s, size_t n)
{
    const char *dot = memchr(s, '.', n);
    char region[32];
    if (dot == NULL || (size_t)(dot - s) >= sizeof(region))
        return false;
    memcpy(region, s, (size_t)(dot - s));
    region[dot - s] = '\0';
    size_t rest = n - (size_t)(dot - s) - 1;
    return xacct_region_valid(region) &&
           ((rest == 13 && strncasecmp(dot + 1, "amazonaws.com", 13) == 0) ||
            (rest == 16 && strncasecmp(dot + 1, "amazonaws.com.cn", 16) == 0));
}

XACCT_STATIC bool xacct__sns_cert_name_ok(const char *name, size_t n)
{
    /* The names AWS issues its SNS signing certificates to:
     * sns.amazonaws.com (and .com.cn), sns-<region>.amazonaws.com[.cn]
     * (GovCloud, China) and sns-signing.<region>.amazonaws.com[.cn] (opt-in
     * regions); the regional host itself is taken too. */
    if ((n == 17 && strncasecmp(name, "sns.amazonaws.com", 17) == 0) ||
        (n == 20 && strncasecmp(name, "sns.amazonaws.com.cn", 20) == 0))
        return true;
    if (n > 4 && strncasecmp(name, "sns.", 4) == 0)
        return region_domain(name + 4, n - 4);
    if (n > 12 && strncasecmp(name, "sns-signing.", 12) == 0)
        return region_domain(name + 12, n - 12);
    if (n > 4 && strncasecmp(name, "sns-", 4) == 0) {
        /* sns-<region>.amazonaws.com[.cn]: the region's dot is a dash. */
        char buf[64];
        if (n - 4 >= sizeof(buf))
            return false;
        memcpy(buf, name + 4, n - 4);
        buf[n - 4] = '\0';
        char *dot = strchr(buf, '.');
        if (dot == NULL)
            return false;
        *dot = '\0';
        const char *rest = dot + 1;
        return xacct_region_valid(buf) &&
               (strcasecmp(rest, "amazonaws.com") == 0 || strcasecmp(rest, "amazonaws.com.cn") == 0);
    }
    return false;
}

/* True when one of cert's DNS names (its subjectAltName, else its common
 * name, as RFC 6125 reads a certificate) is an SNS signing name. */
static bool cert_names_sns(X509 *cert)
{
    GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    bool any_dns = false, ok = false;
    for (int i = 0; sans != NULL && i < sk_GENERAL_NAME_num(sans) && !ok; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
        if (g->type != GEN_DNS)
            continue;
        any_dns = true;
        const char *s = (const char *)ASN1_STRING_get0_data(g->d.dNSName);
        int n = ASN1_STRING_length(g->d.dNSName);
        ok = n > 0 && memchr(s, '\0', (size_t)n) == NULL && xacct__sns_cert_name_ok(s, (size_t)n);
    }
    GENERAL_NAMES_free(sans);
    if (any_dns)
        return ok;
    const X509_NAME *subject = X509_get_subject_name(cert);
    for (int i = -1; (i = X509_NAME_get_index_by_NID(subject, NID_commonName, i)) >= 0;) {
        const ASN1_STRING *cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i));
        const char *s = (const char *)ASN1_STRING_get0_data(cn);
        int n = ASN1_STRING_length(cn);
        if (n > 0 && memchr(s, '\0', (size_t)n) == NULL && xacct__sns_cert_name_ok(s, (size_t)n))
            return true;
    }
    return false;
}

XACCT_STATIC xacct__sns_key_t *xacct__sns_key_from_fetched(const char *pem, size_t len,
                                                            char *why, size_t whylen)
{
    X509 *cert = cert_from_pem(pem, len);
    xacct__sns_key_t *k = NULL;
    if (cert == NULL)
        snprintf(why, whylen, "signing certificate URL did not serve a certificate");
    else if (!cert_names_sns(cert))
        snprintf(why, whylen, "signing certificate is not issued to Amazon SNS");
    else if ((k = key_from_cert(cert)) == NULL)
        snprintf(why, whylen, "signing certificate holds no usable key");
    X509_free(cert);
    return k;
}

/* k's context for RSA PKCS#1 v1.5 over a digest of alg, made on first use. */
static EVP_PKEY_CTX *verify_ctx(xacct__sns_key_t *k, int slot, xacct_digest_alg_t alg)
{
    if (k->verify[slot] != NULL)
        return k->verify[slot];
    const EVP_MD *md = xacct_digest_md(alg);
    EVP_PKEY_CTX *ctx = md != NULL ? EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL) : NULL;
    if (ctx == NULL || EVP_PKEY_verify_init(ctx) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) != 1 ||
        EVP_PKEY_CTX_set_signature_md(ctx, md) != 1) {
        EVP_PKEY_CTX_free(ctx);
        return NULL;
    }
    k->verify[slot] = ctx;
    return ctx;
}

XACCT_STATIC int xacct__sns_key_verify(xacct__sns_key_t *k, const xacct_sns_envelope_t *env)
{
    int slot;
    xacct_digest_alg_t alg;
    if (strcmp(env->signature_version, "1") == 0) {
        slot = 0;
        alg = XACCT_DIGEST_SHA1;
    } else if (strcmp(env->signature_version, "2") == 0) {
        slot = 1;
        alg = XACCT_DIGEST_SHA256;
    } else {
        return XACCT_ESIGNATURE;
    }
    if (EVP_PKEY_base_id(k->pkey) != EVP_PKEY_RSA)
        return XACCT_ECERT;
    EVP_PKEY_CTX *ctx = verify_ctx(k, slot, alg);
    if (ctx == NULL)
        return XACCT_ESIGNATURE;

    unsigned char sig[1024];
    int siglen = base64_decode(env->signature, sig, sizeof(sig));
    if (siglen <= 0)
        return XACCT_ESIGNATURE;
    xacct_buf_t canon;
    xacct_buf_init(&canon, XACCT_SNS_MAX_ENVELOPE * 2);
    unsigned char dgst[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    int rc = XACCT_ESIGNATURE;
    if (xacct_sns_string_to_sign(env, &canon) == 0 &&
        xacct_digest(alg, canon.data, canon.len, dgst, &dlen) == 0 &&
        EVP_PKEY_verify(ctx, sig, (size_t)siglen, dgst, dlen) == 1)
        rc = 0;
    xacct_buf_destroy(&canon);
    return rc;
}

int xacct_sns_verify_pem(const xacct_sns_envelope_t *env, const char *pem, size_t pem_len)
{
    xacct__sns_key_t *k = xacct__sns_key_from_pem(pem, pem_len);
    if (k == NULL)
        return XACCT_ECERT;
    int rc = xacct__sns_key_verify(k, env);
    xacct__sns_key_free(k);
    return rc;
}

int xacct_sns_url_check(const char *url, const xacct_strlist_t *hosts, bool want_pem, char *err,
                        size_t errlen)
{
    char *path = NULL;
    char why[300];
    if (xacct_url_check_allowed(url, hosts, XACCT_HOSTPAT_REGION, "sns.cert_hosts", NULL, &path,
                                why, sizeof(why)) != 0) {
        snprintf(err, errlen, "URL %s", why);
        return XACCT_ECERT;
    }
    size_t plen = strlen(path);
    int rc = 0;
    if (want_pem && (plen < 5 || strcmp(path + plen - 4, ".pem") != 0)) {
        snprintf(err, errlen, "certificate URL does not name a .pem file");
        rc = XACCT_ECERT;
    }
    free(path);
    return rc;
}

/* ---- the certificate cache ------------------------------------------- */

typedef struct cert_entry {
    char *url;
    xacct__sns_key_t *key;
    unsigned long long used; /* tick of the last use, for LRU eviction */
    struct cert_entry *next;
} cert_entry_t;

typedef struct waiter {
    const xacct_sns_envelope_t *env;
    xacct_sns_verify_cb cb;
    void *arg;
    struct waiter *next;
} waiter_t;

typedef struct fetch {
    xacct_sns_verifier_t *v;
    char *url;
    xacct_http_req_t *req;
    waiter_t *waiters;
    struct fetch *next;
} fetch_t;

struct xacct_sns_verifier {
    xacct_http_t *http;      /* borrowed */
    size_t max_certs;        /* cache bound */
    size_t ncerts;           /* entries in certs */
    cert_entry_t *certs;     /* cached keys */
    fetch_t *fetches;        /* certificate downloads in flight */
    unsigned long long tick; /* use counter */
    size_t fetch_count;      /* downloads started, for metrics */
};

xacct_sns_verifier_t *xacct_sns_verifier_new(xacct_http_t *http, size_t max_certs)
{
    xacct_sns_verifier_t *v = xacct_calloc(1, sizeof(*v));
    v->http = http;
    v->max_certs = max_certs ? max_certs : 32;
    return v;
}

size_t xacct_sns_verifier_fetches(const xacct_sns_verifier_t *v)
{
    return v->fetch_count;
}

static void cache_drop(xacct_sns_verifier_t *v, cert_entry_t **pp)
{
    cert_entry_t *e = *pp;
    *pp = e->next;
    xacct__sns_key_free(e->key);
    free(e->url);
    free(e);
    v->ncerts--;
}

static cert_entry_t *cache_find(xacct_sns_verifier_t *v, const char *url)
{
    for (cert_entry_t *e = v->certs; e != NULL; e = e->next)
        if (strcmp(e->url, url) == 0) {
            e->used = ++v->tick;
            return e;
        }
    return NULL;
}

static void cache_put(xacct_sns_verifier_t *v, const char *url, xacct__sns_key_t *key)
{
    if (v->ncerts >= v->max_certs) {
        cert_entry_t **victim = &v->certs;
        for (cert_entry_t **pp = &v->certs; *pp != NULL; pp = &(*pp)->next)
            if ((*pp)->used < (*victim)->used)
                victim = pp;
        cache_drop(v, victim);
    }
    cert_entry_t *e = xacct_calloc(1, sizeof(*e));
    e->url = xacct_strdup(url);
    e->key = key;
    e->used = ++v->tick;
    e->next = v->certs;
    v->certs = e;
    v->ncerts++;
}

int xacct__sns_cert_http_status(long http)
{
    return http >= 500 || http == 408 || http == 429 ? XACCT_EAGAIN : XACCT_ECERT;
}

static void fetch_done(int status, const char *detail, const xacct_http_response_t *resp, void *arg)
{
    fetch_t *f = arg;
    xacct_sns_verifier_t *v = f->v;
    for (fetch_t **pp = &v->fetches; *pp != NULL; pp = &(*pp)->next)
        if (*pp == f) {
            *pp = f->next;
            break;
        }
    xacct__sns_key_t *key = NULL;
    int fail = 0;
    char why[160];
    why[0] = '\0';
    if (status == XACCT_ECANCELED) {
        fail = XACCT_ECANCELED;
        snprintf(why, sizeof(why), "canceled");
    } else if (status != 0) {
        fail = XACCT_EAGAIN;
        snprintf(why, sizeof(why), "signing certificate fetch failed: %s", detail ? detail : xacct_strerror(status));
    } else if (resp->status != 200) {
        fail = xacct__sns_cert_http_status(resp->status);
        snprintf(why, sizeof(why), "signing certificate fetch returned HTTP %ld", resp->status);
    } else if ((key = xacct__sns_key_from_fetched(resp->body, resp->body_len, why,
                                                  sizeof(why))) == NULL) {
        fail = XACCT_ECERT;
    }
    if (key != NULL)
        cache_put(v, f->url, key);
    waiter_t *w = f->waiters;
    while (w != NULL) {
        waiter_t *next = w->next;
        int rc = fail;
        const char *d = why;
        if (rc == 0) {
            rc = xacct__sns_key_verify(key, w->env);
            d = rc == 0 ? "verified" : "signature does not verify";
        }
        w->cb(rc, d, w->arg);
        free(w);
        w = next;
    }
    free(f->url);
    free(f);
}

int xacct_sns_verify(xacct_sns_verifier_t *v, const xacct_sns_envelope_t *env,
                     const xacct_strlist_t *cert_hosts, xacct_sns_verify_cb cb, void *arg)
{
    char err[256];
    int rc = xacct_sns_url_check(env->signing_cert_url, cert_hosts, true, err, sizeof(err));
    if (rc != 0)
        return rc;
    cert_entry_t *e = cache_find(v, env->signing_cert_url);
    if (e != NULL)
        return xacct__sns_key_verify(e->key, env);

    waiter_t *w = xacct_calloc(1, sizeof(*w));
    w->env = env;
    w->cb = cb;
    w->arg = arg;
    for (fetch_t *f = v->fetches; f != NULL; f = f->next)
        if (strcmp(f->url, env->signing_cert_url) == 0) {
            w->next = f->waiters;
            f->waiters = w;
            return XACCT_EAGAIN;
        }
    fetch_t *f = xacct_calloc(1, sizeof(*f));
    f->v = v;
    f->url = xacct_strdup(env->signing_cert_url);
    f->waiters = w;
    xacct_http_request_t req = {
        .method = "GET",
        .url = f->url,
        .timeout_ms = 10000,
        .max_body = MAX_CERT_BYTES,
        .untrusted_url = true,
    };
    rc = xacct_http_submit(v->http, &req, fetch_done, f, &f->req);
    if (rc != 0) {
        free(w);
        free(f->url);
        free(f);
        return rc == XACCT_ESHUTDOWN ? XACCT_ECANCELED : XACCT_ECERT;
    }
    f->next = v->fetches;
    v->fetches = f;
    v->fetch_count++;
    return XACCT_EAGAIN;
}

void xacct_sns_verifier_free(xacct_sns_verifier_t *v)
{
    if (v == NULL)
        return;
    /* Cancelling fires fetch_done synchronously, which unlinks the fetch. */
    while (v->fetches != NULL)
        xacct_http_cancel(v->fetches->req);
    cert_entry_t *e = v->certs;
    while (e != NULL) {
        cert_entry_t *next = e->next;
        xacct__sns_key_free(e->key);
        free(e->url);
        free(e);
        e = next;
    }
    free(v);
}
