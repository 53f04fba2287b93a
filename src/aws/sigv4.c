/* SPDX-License-Identifier: MIT */
/*
 * AWS Signature Version 4: from a request, credentials and a given time to
 * the Authorization header (or a presigned URL). This file holds the
 * hashing, the signer-owned headers (Host, X-Amz-Date, X-Amz-Security-Token,
 * X-Amz-Content-Sha256) and the assembly of canonical request, string to sign
 * and signature; the canonicalisation rules live in sigv4_canon.c, the
 * signing keys and their HMAC contexts in sigv4_cache.c. Pure: no
 * I/O, no clock reads, no logging. Every derived key is wiped after use.
 */
#include "xacct/sigv4.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sigv4_int.h"
#include "xacct/digest.h"

#define ALGORITHM "AWS4-HMAC-SHA256"
#define MAX_EXPIRES 604800L /* seven days, the SigV4 maximum */

static int sha256(const void *data, size_t len, unsigned char md[32])
{
    unsigned int mdlen = 0;
    if (xacct_digest(XACCT_DIGEST_SHA256, data, len, md, &mdlen) != 0 || mdlen != 32)
        return XACCT_ECRYPTO;
    return 0;
}

static void to_hex(const unsigned char *p, size_t n, char *hex)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        hex[2 * i] = digits[p[i] >> 4];
        hex[2 * i + 1] = digits[p[i] & 15];
    }
    hex[2 * n] = '\0';
}

void xacct_sha256_hex(const void *data, size_t len, char hex[65])
{
    unsigned char md[32];
    if (sha256(data != NULL ? data : "", data != NULL ? len : 0, md) != 0) {
        hex[0] = '\0';
        return;
    }
    to_hex(md, sizeof(md), hex);
}

/* Region, service: they go into the credential scope between '/'s, so only
 * a conservative character set is accepted. */
static bool valid_scope_part(const char *s)
{
    if (s == NULL || s[0] == '\0' || strlen(s) > 64)
        return false;
    for (const char *p = s; *p != '\0'; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

/* Printable ASCII without space; extra lists further forbidden characters. */
static bool valid_printable(const char *s, const char *extra)
{
    if (s == NULL || s[0] == '\0')
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
        if (*p <= ' ' || *p >= 0x7f || strchr(extra, *p) != NULL)
            return false;
    return true;
}

static bool valid_method(const char *m)
{
    if (m == NULL || m[0] == '\0' || strlen(m) > 32)
        return false;
    for (const char *p = m; *p != '\0'; p++)
        if (!(*p >= 'A' && *p <= 'Z') && *p != '-' && *p != '_')
            return false;
    return true;
}

static bool valid_hash(const char *h)
{
    if (strlen(h) != 64)
        return false;
    for (const char *p = h; *p != '\0'; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

static int check_request(const xacct_sigv4_request_t *req,
                         const xacct_sigv4_credentials_t *creds)
{
    if (req == NULL || creds == NULL || !valid_method(req->method) || req->url == NULL ||
        !valid_scope_part(req->region) || !valid_scope_part(req->service) ||
        (req->nheaders > 0 && req->headers == NULL) ||
        (req->body == NULL && req->body_len > 0))
        return XACCT_EINVAL;
    if (req->nheaders > XACCT_SIGV4_MAX_HEADERS)
        return XACCT_ETOOBIG;
    if (!valid_printable(creds->access_key_id, "/,;=") || creds->secret_access_key == NULL ||
        creds->secret_access_key[0] == '\0')
        return XACCT_EINVAL;
    if (creds->session_token != NULL && !valid_printable(creds->session_token, ""))
        return XACCT_EINVAL;
    return 0;
}

/* X-Amz-Date and the scope date, from the given time (never the clock). */
static int format_time(time_t now, char amz[17], char date[9])
{
    struct tm tm;
    if (now < 0 || gmtime_r(&now, &tm) == NULL || tm.tm_year + 1900 > 9999)
        return XACCT_EINVAL;
    if (strftime(amz, 17, "%Y%m%dT%H%M%SZ", &tm) != 16)
        return XACCT_EINVAL;
    memcpy(date, amz, 8);
    date[8] = '\0';
    return 0;
}

/* The payload hash to sign: the caller's (validated), or the body's. */
static int payload_hash(const xacct_sigv4_request_t *req, bool presign, char hash[65])
{
    if (req->payload_hash != NULL) {
        if (strcmp(req->payload_hash, XACCT_SIGV4_UNSIGNED_PAYLOAD) == 0) {
            /* Only S3 accepts an unsigned payload. */
            if (!req->s3)
                return XACCT_EINVAL;
        } else if (!valid_hash(req->payload_hash)) {
            return XACCT_EINVAL;
        }
        memcpy(hash, req->payload_hash, strlen(req->payload_hash) + 1);
        return 0;
    }
    if (presign && req->s3) {
        /* A presigned S3 URL does not know the body it will carry. */
        memcpy(hash, XACCT_SIGV4_UNSIGNED_PAYLOAD, sizeof(XACCT_SIGV4_UNSIGNED_PAYLOAD));
        return 0;
    }
    unsigned char md[32];
    int rc = sha256(req->body != NULL ? req->body : "", req->body_len, md);
    if (rc == 0)
        to_hex(md, sizeof(md), hash);
    return rc;
}

/* Compares a caller-given value with ours after SigV4 trimming. */
static int same_value(const char *given, const char *ours)
{
    xacct_buf_t t;
    xacct_buf_init(&t, XACCT_SIGV4_MAX_HEADER_VALUE);
    int rc = xacct__sigv4_trim_value(&t, given);
    if (rc == 0 && strcmp(t.data, ours) != 0)
        rc = XACCT_EINVAL;
    xacct_buf_destroy(&t);
    return rc;
}

/* The state of one signing operation. */
typedef struct signing {
    xacct__sigv4_url_t url;  /* borrowed from the request */
    char *host;              /* Host value from the URL, owned */
    xacct_header_t *hdrs;    /* headers to sign (borrowed strings), owned array */
    size_t nhdrs;
    char amz_date[17];       /* 20150830T123600Z */
    char date[9];            /* 20150830 */
    char payload[65];        /* hex hash or UNSIGNED-PAYLOAD */
    char *scope;             /* date/region/service/aws4_request, owned */
    xacct_buf_t cheaders;    /* canonical headers block */
    xacct_buf_t signed_hdrs; /* "host;x-amz-date" */
    xacct_buf_t creq;        /* canonical request */
    xacct_buf_t sts;         /* string to sign */
    char signature[65];      /* hex */
} signing_t;

static void signing_init(signing_t *s)
{
    memset(s, 0, sizeof(*s));
    xacct_buf_init(&s->cheaders, XACCT_SIGV4_MAX_CANONICAL);
    xacct_buf_init(&s->signed_hdrs, XACCT_SIGV4_MAX_CANONICAL);
    xacct_buf_init(&s->creq, XACCT_SIGV4_MAX_CANONICAL);
    xacct_buf_init(&s->sts, XACCT_SIGV4_MAX_CANONICAL);
}

static void signing_destroy(signing_t *s)
{
    free(s->host);
    free(s->hdrs);
    free(s->scope);
    /* The canonical request may carry the session token. */
    xacct_buf_destroy_secret(&s->cheaders);
    xacct_buf_destroy(&s->signed_hdrs);
    xacct_buf_destroy_secret(&s->creq);
    xacct_buf_destroy(&s->sts);
}

/* Steps shared by both forms: validation, URL, time, payload and the copy
 * of the caller's headers with Host added when missing. */
static int signing_start(signing_t *s, const xacct_sigv4_request_t *req,
                         const xacct_sigv4_credentials_t *creds, bool presign)
{
    int rc;
    if ((rc = check_request(req, creds)) != 0 ||
        (rc = xacct__sigv4_url_parse(req->url, &s->url)) != 0 ||
        (rc = format_time(req->now, s->amz_date, s->date)) != 0 ||
        (rc = payload_hash(req, presign, s->payload)) != 0)
        return rc;
    s->scope = xacct_strjoin(s->date, "/", req->region, "/", req->service, "/aws4_request",
                             (char *)NULL);
    s->host = xacct_strndup(s->url.host, s->url.host_len);

    /* Room for the caller's headers plus Host, X-Amz-Date,
     * X-Amz-Security-Token and X-Amz-Content-Sha256. */
    s->hdrs = xacct_calloc(req->nheaders + 4, sizeof(*s->hdrs));
    bool has_host = false;
    for (size_t i = 0; i < req->nheaders; i++) {
        const xacct_header_t *h = &req->headers[i];
        if (h->name == NULL || h->value == NULL)
            return XACCT_EINVAL;
        if (strcasecmp(h->name, "authorization") == 0)
            return XACCT_EINVAL; /* the signature cannot sign itself */
        if (strcasecmp(h->name, "host") == 0)
            has_host = true;
        if (!presign) {
            /* Headers the signer owns: a caller copy must agree with ours and
             * is then not repeated. */
            const char *ours = NULL;
            if (strcasecmp(h->name, "x-amz-date") == 0)
                ours = s->amz_date;
            else if (creds->session_token != NULL &&
                     strcasecmp(h->name, "x-amz-security-token") == 0)
                ours = creds->session_token;
            else if (req->s3 && strcasecmp(h->name, "x-amz-content-sha256") == 0)
                ours = s->payload;
            if (ours != NULL) {
                if ((rc = same_value(h->value, ours)) != 0)
                    return rc;
                continue;
            }
        }
        s->hdrs[s->nhdrs++] = *h;
    }
    if (!has_host)
        s->hdrs[s->nhdrs++] = (xacct_header_t){"host", s->host};
    return 0;
}

/* Canonical request, string to sign and signature, given the canonical
 * headers already built and the raw query to sign. */
static int signing_finish(signing_t *s, xacct_sigv4_cache_t *cache,
                          const xacct_sigv4_request_t *req,
                          const xacct_sigv4_credentials_t *creds, const char *query,
                          size_t query_len)
{
    int rc;
    unsigned char mac[32];
    char creq_hash[65];

    /* Appended piece by piece: printf's format parsing was a measurable
     * share of signing. */
    if ((rc = xacct_buf_puts(&s->creq, req->method)) != 0 ||
        (rc = xacct_buf_putc(&s->creq, '\n')) != 0 ||
        (rc = xacct__sigv4_canonical_uri(&s->creq, s->url.path, s->url.path_len,
                                         req->s3)) != 0 ||
        (rc = xacct_buf_putc(&s->creq, '\n')) != 0 ||
        (rc = xacct__sigv4_canonical_query(&s->creq, query, query_len)) != 0 ||
        (rc = xacct_buf_putc(&s->creq, '\n')) != 0 ||
        (rc = xacct_buf_append(&s->creq, s->cheaders.data, s->cheaders.len)) != 0 ||
        (rc = xacct_buf_putc(&s->creq, '\n')) != 0 ||
        (rc = xacct_buf_append(&s->creq, s->signed_hdrs.data, s->signed_hdrs.len)) != 0 ||
        (rc = xacct_buf_putc(&s->creq, '\n')) != 0 ||
        (rc = xacct_buf_puts(&s->creq, s->payload)) != 0)
        goto out;

    if ((rc = sha256(s->creq.data, s->creq.len, mac)) != 0)
        goto out;
    to_hex(mac, 32, creq_hash);
    if ((rc = xacct_buf_puts(&s->sts, ALGORITHM "\n")) != 0 ||
        (rc = xacct_buf_puts(&s->sts, s->amz_date)) != 0 ||
        (rc = xacct_buf_putc(&s->sts, '\n')) != 0 ||
        (rc = xacct_buf_puts(&s->sts, s->scope)) != 0 ||
        (rc = xacct_buf_putc(&s->sts, '\n')) != 0 ||
        (rc = xacct_buf_puts(&s->sts, creq_hash)) != 0)
        goto out;

    if ((rc = xacct__sigv4_cache_mac(cache, creds, s->date, req->region, req->service,
                                     s->sts.data, s->sts.len, mac)) != 0)
        goto out;
    to_hex(mac, 32, s->signature);
out:
    return rc;
}

int xacct_sigv4_sign(xacct_sigv4_cache_t *cache, const xacct_sigv4_request_t *req,
                     const xacct_sigv4_credentials_t *creds, xacct_sigv4_result_t *out)
{
    int rc;
    signing_t s;

    if (out == NULL)
        return XACCT_EINVAL;
    memset(out, 0, sizeof(*out));
    signing_init(&s);
    if ((rc = signing_start(&s, req, creds, false)) != 0)
        goto out;

    s.hdrs[s.nhdrs++] = (xacct_header_t){"x-amz-date", s.amz_date};
    if (creds->session_token != NULL)
        s.hdrs[s.nhdrs++] = (xacct_header_t){"x-amz-security-token", creds->session_token};
    if (req->s3)
        s.hdrs[s.nhdrs++] = (xacct_header_t){"x-amz-content-sha256", s.payload};

    if ((rc = xacct__sigv4_canonical_headers(&s.cheaders, &s.signed_hdrs, s.hdrs,
                                             s.nhdrs)) != 0 ||
        (rc = signing_finish(&s, cache, req, creds, s.url.query, s.url.query_len)) != 0)
        goto out;

    out->authorization = xacct_strjoin(ALGORITHM " Credential=", creds->access_key_id, "/",
                                       s.scope, ", SignedHeaders=", s.signed_hdrs.data,
                                       ", Signature=", s.signature, (char *)NULL);
    out->amz_date = xacct_strdup(s.amz_date);
    out->security_token =
        creds->session_token != NULL ? xacct_strdup(creds->session_token) : NULL;
    out->content_sha256 = req->s3 ? xacct_strdup(s.payload) : NULL;
    out->canonical_request = xacct_buf_steal(&s.creq);
    out->string_to_sign = xacct_buf_steal(&s.sts);
out:
    signing_destroy(&s);
    return rc;
}

void xacct_sigv4_result_destroy(xacct_sigv4_result_t *r)
{
    if (r == NULL)
        return;
    free(r->authorization);
    free(r->amz_date);
    xacct_free_secret(r->security_token);
    free(r->content_sha256);
    xacct_free_secret(r->canonical_request);
    free(r->string_to_sign);
    memset(r, 0, sizeof(*r));
}

/* Appends "&name=" and the encoded value to b. */
static int put_param(xacct_buf_t *b, const char *name, const char *value)
{
    int rc;
    if ((b->len > 0 && (rc = xacct_buf_putc(b, '&')) != 0) ||
        (rc = xacct_buf_puts(b, name)) != 0 || (rc = xacct_buf_putc(b, '=')) != 0)
        return rc;
    return xacct_sigv4_uri_encode(b, value, strlen(value), true);
}

int xacct_sigv4_presign(xacct_sigv4_cache_t *cache, const xacct_sigv4_request_t *req,
                        const xacct_sigv4_credentials_t *creds, long expires_seconds,
                        char **url_out)
{
    static const char *const owned[] = {
        "X-Amz-Algorithm", "X-Amz-Credential",     "X-Amz-Date",     "X-Amz-Expires",
        "X-Amz-SignedHeaders", "X-Amz-Security-Token", "X-Amz-Signature",
    };
    int rc;
    signing_t s;
    xacct_buf_t extra, query, url;
    char *credential = NULL;
    char expires[24];

    if (url_out == NULL)
        return XACCT_EINVAL;
    *url_out = NULL;
    signing_init(&s);
    xacct_buf_init(&extra, XACCT_SIGV4_MAX_URL);
    xacct_buf_init(&query, XACCT_SIGV4_MAX_URL);
    xacct_buf_init(&url, XACCT_SIGV4_MAX_URL);

    if (expires_seconds < 1 || expires_seconds > MAX_EXPIRES) {
        rc = XACCT_EINVAL;
        goto out;
    }
    if ((rc = signing_start(&s, req, creds, true)) != 0)
        goto out;
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(owned); i++) {
        if (xacct__sigv4_query_has(s.url.query, s.url.query_len, owned[i])) {
            rc = XACCT_EINVAL; /* already signed, or a conflicting parameter */
            goto out;
        }
    }
    if ((rc = xacct__sigv4_canonical_headers(&s.cheaders, &s.signed_hdrs, s.hdrs,
                                             s.nhdrs)) != 0)
        goto out;

    /* The authentication parameters, encoded as they go on the wire; the
     * canonical query re-encodes them to the same bytes. */
    credential = xacct_asprintf("%s/%s", creds->access_key_id, s.scope);
    snprintf(expires, sizeof(expires), "%ld", expires_seconds);
    if ((rc = put_param(&extra, "X-Amz-Algorithm", ALGORITHM)) != 0 ||
        (rc = put_param(&extra, "X-Amz-Credential", credential)) != 0 ||
        (rc = put_param(&extra, "X-Amz-Date", s.amz_date)) != 0 ||
        (rc = put_param(&extra, "X-Amz-Expires", expires)) != 0 ||
        (rc = put_param(&extra, "X-Amz-SignedHeaders", s.signed_hdrs.data)) != 0)
        goto out;
    if (creds->session_token != NULL &&
        (rc = put_param(&extra, "X-Amz-Security-Token", creds->session_token)) != 0)
        goto out;

    if ((rc = xacct_buf_append(&query, s.url.query, s.url.query_len)) != 0 ||
        (s.url.query_len > 0 && (rc = xacct_buf_putc(&query, '&')) != 0) ||
        (rc = xacct_buf_append(&query, extra.data, extra.len)) != 0)
        goto out;
    if ((rc = signing_finish(&s, cache, req, creds, query.data, query.len)) != 0)
        goto out;

    const char *sep = "&";
    size_t ulen = strlen(req->url);
    if (!s.url.has_query)
        sep = "?";
    else if (ulen > 0 && (req->url[ulen - 1] == '?' || req->url[ulen - 1] == '&'))
        sep = "";
    if ((rc = xacct_buf_puts(&url, req->url)) != 0 || (rc = xacct_buf_puts(&url, sep)) != 0 ||
        (rc = xacct_buf_append(&url, extra.data, extra.len)) != 0 ||
        (rc = xacct_buf_printf(&url, "&X-Amz-Signature=%s", s.signature)) != 0)
        goto out;
    *url_out = xacct_buf_steal(&url);
out:
    free(credential);
    xacct_buf_destroy_secret(&extra);
    xacct_buf_destroy_secret(&query);
    xacct_buf_destroy_secret(&url);
    signing_destroy(&s);
    return rc;
}
