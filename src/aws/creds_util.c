/* SPDX-License-Identifier: MIT */
/*
 * What the links of the credentials chain share: the fetched set and its
 * wiping, cancelling a fetch, mapping a credentials endpoint's HTTP status,
 * the ISO 8601 expiry, the two JSON credentials documents (IMDS/container and
 * credential_process), the token files and the RoleSessionName rule. It
 * calls nothing of the chain, so the links and the provider can all use it.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "xacct/creds.h"

#define MAX_TOKEN_FILE (16u * 1024u)

void xacct__creds_set_free(xacct__creds_set_t *s)
{
    if (s == NULL)
        return;
    xacct_free_secret(s->access_key_id);
    xacct_free_secret(s->secret_access_key);
    xacct_free_secret(s->session_token);
    OPENSSL_cleanse(s, sizeof(*s));
    free(s);
}

void xacct__creds_fetch_cancel(xacct__creds_fetch_t *f)
{
    if (f == NULL)
        return;
    if (f->cancel != NULL)
        f->cancel(f);
    else if (f->req != NULL)
        xacct_http_cancel(f->req);
}

int xacct__creds_http_error(long http_status)
{
    if (http_status == 404)
        return XACCT_ENOTFOUND;
    if (http_status == 401 || http_status == 403)
        return XACCT_EACCESSDENIED;
    if (http_status == 429 || (http_status >= 500 && http_status <= 599))
        return XACCT_EAGAIN;
    return XACCT_EHTTP;
}

static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char ch = (*p)[i];
        if (ch < '0' || ch > '9')
            return XACCT_EPARSE;
        v = v * 10 + (ch - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int expect(const char **p, char ch)
{
    if (**p != ch)
        return XACCT_EPARSE;
    (*p)++;
    return 0;
}

int xacct__creds_parse_time(const char *s, int64_t *ms_out)
{
    int y, mo, d, h, mi, sec, ms = 0, off = 0;
    const char *p = s;
    if (s == NULL || digits(&p, 4, &y) || expect(&p, '-') || digits(&p, 2, &mo) ||
        expect(&p, '-') || digits(&p, 2, &d) || (*p != 'T' && *p != 't') ||
        (p++, digits(&p, 2, &h)) || expect(&p, ':') || digits(&p, 2, &mi) || expect(&p, ':') ||
        digits(&p, 2, &sec))
        return XACCT_EPARSE;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return XACCT_EPARSE;
    if (*p == '.') {
        p++;
        int n = 0;
        while (*p >= '0' && *p <= '9') {
            if (n < 3)
                ms = ms * 10 + (*p - '0');
            n++;
            p++;
        }
        if (n == 0)
            return XACCT_EPARSE;
        for (; n < 3; n++)
            ms *= 10;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, oh, om;
        p++;
        if (digits(&p, 2, &oh))
            return XACCT_EPARSE;
        if (*p == ':')
            p++;
        if (digits(&p, 2, &om) || oh > 23 || om > 59)
            return XACCT_EPARSE;
        off = sign * (oh * 60 + om) * 60;
    } else {
        return XACCT_EPARSE;
    }
    if (*p != '\0')
        return XACCT_EPARSE;
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return XACCT_EPARSE;
    *ms_out = ((int64_t)t - off) * 1000 + ms;
    return 0;
}

/* jansson keeps its own copy of every string; wipe the secret ones in place
 * before the document is released. */
static void wipe_json_string(json_t *v)
{
    if (json_is_string(v))
        OPENSSL_cleanse((char *)json_string_value(v), json_string_length(v));
}

static const char *json_str(json_t *root, const char *key)
{
    const char *v = json_string_value(json_object_get(root, key));
    return v != NULL && *v != '\0' ? v : NULL;
}

/* The two JSON credentials documents differ only in a few names: the
 * endpoints' (IMDS, container) carry the session token as "Token" and may
 * carry a "Code"; credential_process output names it "SessionToken" and must
 * say "Version": 1. */
typedef struct json_shape {
    const char *doc;       /* what the document is called in a detail */
    const char *source;    /* who gave it, before "Expiration" in a detail */
    const char *token_key; /* the session token's key */
    bool version_1;        /* "Version": 1 required */
    bool code;             /* a present "Code" must be "Success" */
    bool expiration;       /* "Expiration" required (an endpoint's keys are temporary:
                              without it they would never be refreshed) */
} json_shape_t;

static int parse_json_doc(const json_shape_t *shape, const char *body, size_t len,
                          xacct__creds_set_t **out, char *detail, size_t detail_len)
{
    int rc = XACCT_EPARSE;
    json_error_t jerr;
    xacct__creds_set_t *set = NULL;

    *out = NULL;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL || !json_is_object(root)) {
        snprintf(detail, detail_len, "%s is not a JSON object", shape->doc);
        goto out;
    }
    if (shape->version_1) {
        json_t *version = json_object_get(root, "Version");
        if (!json_is_integer(version) || json_integer_value(version) != 1) {
            snprintf(detail, detail_len, "%s must have \"Version\": 1", shape->doc);
            goto out;
        }
    }
    const char *code = json_str(root, "Code");
    if (shape->code && json_object_get(root, "Code") != NULL &&
        (code == NULL || strcmp(code, "Success") != 0)) {
        /* The code is an enum-like word from AWS, safe to show. */
        snprintf(detail, detail_len, "credentials endpoint answered Code %.64s",
                 code != NULL ? code : "(not a string)");
        goto out;
    }
    const char *akid = json_str(root, "AccessKeyId");
    const char *secret = json_str(root, "SecretAccessKey");
    const char *token = json_str(root, shape->token_key);
    const char *exp = json_str(root, "Expiration");
    if (akid == NULL || secret == NULL) {
        snprintf(detail, detail_len, "%s lacks AccessKeyId or SecretAccessKey", shape->doc);
        goto out;
    }
    if (exp == NULL && shape->expiration) {
        snprintf(detail, detail_len, "%s lacks Expiration", shape->doc);
        goto out;
    }
    set = xacct_calloc(1, sizeof(*set));
    if (exp != NULL && xacct__creds_parse_time(exp, &set->expiry_ms) != 0) {
        snprintf(detail, detail_len, "%s Expiration is not an ISO 8601 time", shape->source);
        goto out;
    }
    set->access_key_id = xacct_strdup(akid);
    set->secret_access_key = xacct_strdup(secret);
    set->session_token = token != NULL ? xacct_strdup(token) : NULL;
    *out = set;
    set = NULL;
    rc = 0;
out:
    xacct__creds_set_free(set);
    if (root != NULL) {
        wipe_json_string(json_object_get(root, "SecretAccessKey"));
        wipe_json_string(json_object_get(root, shape->token_key));
        json_decref(root);
    }
    return rc;
}

int xacct__creds_parse_json(const char *body, size_t len, xacct__creds_set_t **out, char *detail,
                            size_t detail_len)
{
    static const json_shape_t endpoint = {"credentials document", "credentials", "Token", false,
                                          true, true};
    return parse_json_doc(&endpoint, body, len, out, detail, detail_len);
}

int xacct__creds_parse_process_json(const char *body, size_t len, xacct__creds_set_t **out,
                                    char *detail, size_t detail_len)
{
    static const json_shape_t process = {"credential_process output", "credential_process",
                                         "SessionToken", true, false, false};
    return parse_json_doc(&process, body, len, out, detail, detail_len);
}

int xacct__creds_read_token_file(const char *path, char **out)
{
    int rc = XACCT_EIO;
    char *buf = NULL;
    size_t len = 0;

    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return XACCT_EIO;
    buf = xacct_malloc(MAX_TOKEN_FILE + 1);
    for (;;) {
        ssize_t n = read(fd, buf + len, MAX_TOKEN_FILE + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto out;
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > MAX_TOKEN_FILE) {
            rc = XACCT_ETOOBIG;
            goto out;
        }
    }
    size_t start = 0;
    while (start < len &&
           (buf[start] == ' ' || buf[start] == '\t' || buf[start] == '\r' || buf[start] == '\n'))
        start++;
    while (len > start && (buf[len - 1] == ' ' || buf[len - 1] == '\t' || buf[len - 1] == '\r' ||
                           buf[len - 1] == '\n'))
        len--;
    /* Empty, or text that a NUL would silently cut short (a token or a
     * secret used as a C string must be all of the file). */
    if (len == start || memchr(buf + start, '\0', len - start) != NULL) {
        rc = XACCT_EPARSE;
        goto out;
    }
    *out = xacct_strndup(buf + start, len - start);
    rc = 0;
out:
    OPENSSL_cleanse(buf, MAX_TOKEN_FILE + 1);
    free(buf);
    close(fd);
    return rc;
}

bool xacct__creds_value_ok(const char *s)
{
    if (s == NULL || *s == '\0')
        return false;
    for (; *s; s++)
        if (*s < 0x21 || *s > 0x7e)
            return false;
    return true;
}

bool xacct__creds_set_ok(const xacct__creds_set_t *s)
{
    return s != NULL && xacct__creds_value_ok(s->access_key_id) &&
           xacct__creds_value_ok(s->secret_access_key) &&
           (s->session_token == NULL || xacct__creds_value_ok(s->session_token));
}

/* min..max characters, each a letter, a digit or one of extra. */
static bool sts_chars_ok(const char *s, size_t min, size_t max, const char *extra)
{
    size_t n = strlen(s);
    if (n < min || n > max)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr(extra, *s) != NULL))
            return false;
    return true;
}

/* STS AssumeRole: ExternalId is 2-1224 characters of [\w+=,.@:/-]. */
bool xacct__creds_external_id_ok(const char *s)
{
    return sts_chars_ok(s, 2, 1224, "_+=,.@:/-");
}

bool xacct__creds_session_name_ok(const char *s)
{
    return sts_chars_ok(s, 2, 64, "_+=,.@-");
}
