/* SPDX-License-Identifier: MIT */
/*
 * The credentials provider: picks the chain link from the environment once,
 * keeps the last good credentials, refreshes them from a timer before they
 * expire, and queues callers while nothing valid is cached. The fetchers in
 * creds_imds.c, creds_container.c, creds_webid.c, creds_assume.c and
 * creds_process.c do the work, creds_profile.c reads the profile link; this
 * file owns the policy (when to fetch, what to hand out, how failures reach
 * waiters) and the parsing helpers they share.
 *
 * Two timers: _refresh starts the next fetch (refresh before expiry, or retry
 * after a failure with jittered backoff); _dispatch releases waiters on the
 * next loop turn, so no wait callback fires from inside xacct_creds_wait. The
 * provider's memory goes when both have closed.
 */
#include "xacct/creds.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "xacct/endpoints.h"

#define DEFAULT_MARGIN_MS (5u * 60u * 1000u)
#define DEFAULT_RETRY_BASE_MS 1000u
#define DEFAULT_RETRY_MAX_MS 60000u
#define DEFAULT_FETCH_TIMEOUT_MS 5000L
#define DEFAULT_IMDS_TIMEOUT_MS 2000L
#define DEFAULT_PROCESS_TIMEOUT_MS 120000L
#define MAX_SKEW_MS 10000
#define MAX_TOKEN_FILE (16u * 1024u)
#define DEFAULT_IMDS_ENDPOINT "http://169.254.169.254"
#define DEFAULT_IMDS_ENDPOINT_V6 "http://[fd00:ec2::254]"
#define ECS_AGENT "http://169.254.170.2"

typedef struct waiter_list {
    struct xacct_creds_waiter *head, *tail;
} waiter_list_t;

struct xacct_creds_waiter {
    xacct_creds_t *_c;                       /* provider */
    waiter_list_t *_list;                    /* list it is in */
    struct xacct_creds_waiter *_prev, *_next;
    xacct_creds_wait_cb _cb;                 /* fires exactly once */
    void *_arg;
};

struct xacct_creds {
    uv_loop_t *_loop;                        /* borrowed */
    xacct_http_t *_http;                     /* borrowed, may be NULL for env/none */
    xacct__creds_config_t _cfg;              /* the chain link and its parameters */
    long _fetch_timeout_ms;                  /* per HTTP request */
    long _process_timeout_ms;                /* per credential_process run */
    uint64_t _margin_ms;                     /* refresh this long before expiry */
    uint64_t _retry_base_ms;                 /* smallest spacing of fetches after a failure */
    xacct_backoff_t _backoff;                /* delays after failed fetches */
    xacct__creds_set_t *_cached;             /* last good credentials, owned, or NULL */
    int64_t _obtained_ms;                    /* wall clock when _cached arrived */
    xacct_sigv4_credentials_t _view;         /* borrowed view of _cached */
    xacct__creds_fetch_t *_fetch;            /* fetch in flight, or NULL */
    uint64_t _fetches;                       /* successful fetches */
    uint64_t _last_fail;                     /* uv_now() of the last failed fetch; 0 = none */
    uv_timer_t _refresh;                     /* next fetch */
    uv_timer_t _dispatch;                    /* releases waiters asynchronously */
    int _open_handles;                       /* timers not yet closed */
    waiter_list_t _waiters;                  /* queued callers */
    waiter_list_t _releasing;                /* callers being released right now */
    bool _freeing;                           /* xacct_creds_free began */
    char _detail[512];                       /* why the last fetch failed */
};

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --------------------------------------------------------- shared helpers */

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
        (p++, digits(&p, 2, &h)) || expect(&p, ':') || digits(&p, 2, &mi) ||
        expect(&p, ':') || digits(&p, 2, &sec))
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

int xacct__creds_parse_json(const char *body, size_t len, xacct__creds_set_t **out,
                            char *detail, size_t detail_len)
{
    int rc = XACCT_EPARSE;
    json_error_t jerr;
    xacct__creds_set_t *set = NULL;

    *out = NULL;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL || !json_is_object(root)) {
        snprintf(detail, detail_len, "credentials document is not a JSON object");
        goto out;
    }
    const char *code = json_str(root, "Code");
    if (json_object_get(root, "Code") != NULL && (code == NULL || strcmp(code, "Success") != 0)) {
        /* The code is an enum-like word from AWS, safe to show. */
        snprintf(detail, detail_len, "credentials endpoint answered Code %.64s",
                 code != NULL ? code : "(not a string)");
        goto out;
    }
    const char *akid = json_str(root, "AccessKeyId");
    const char *secret = json_str(root, "SecretAccessKey");
    const char *token = json_str(root, "Token");
    const char *exp = json_str(root, "Expiration");
    if (akid == NULL || secret == NULL) {
        snprintf(detail, detail_len, "credentials document lacks AccessKeyId or SecretAccessKey");
        goto out;
    }
    set = xacct_calloc(1, sizeof(*set));
    if (exp != NULL && xacct__creds_parse_time(exp, &set->expiry_ms) != 0) {
        snprintf(detail, detail_len, "credentials Expiration is not an ISO 8601 time");
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
        wipe_json_string(json_object_get(root, "Token"));
        json_decref(root);
    }
    return rc;
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
    while (start < len && (buf[start] == ' ' || buf[start] == '\t' || buf[start] == '\r' ||
                           buf[start] == '\n'))
        start++;
    while (len > start && (buf[len - 1] == ' ' || buf[len - 1] == '\t' || buf[len - 1] == '\r' ||
                           buf[len - 1] == '\n'))
        len--;
    if (len == start) {
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

/* ------------------------------------------------------------ the chain */

bool xacct__creds_session_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 2 || n > 64)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr("_+=,.@-", *s) != NULL))
            return false;
    return true;
}

static bool header_safe(const char *s)
{
    for (; *s; s++)
        if (*s == '\r' || *s == '\n')
            return false;
    return true;
}

bool xacct__creds_container_uri_allowed(const char *uri)
{
    bool ok = false;
    char *scheme = NULL, *host = NULL;
    CURLU *u = curl_url();
    if (u == NULL)
        return false;
    if (curl_url_set(u, CURLUPART_URL, uri, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
        goto out;
    if (strcmp(scheme, "https") == 0) {
        ok = true;
        goto out;
    }
    if (strcmp(scheme, "http") != 0)
        goto out;
    /* CURLU gives IPv6 hosts in brackets and IPv4 in dotted form. */
    static const char *const allowed[] = {"localhost", "[::1]", "169.254.170.2",
                                          "169.254.170.23", "[fd00:ec2::23]"};
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(allowed); i++)
        if (strcasecmp(host, allowed[i]) == 0)
            ok = true;
    /* 127.0.0.0/8, written as a dotted quad (CURLU normalises other forms). */
    unsigned a, b, c, d;
    char tail;
    if (sscanf(host, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) == 4 && a == 127 && b <= 255 &&
        c <= 255 && d <= 255)
        ok = true;
out:
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return ok;
}

static int config_error(char *err, size_t errlen, const char *msg)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", msg);
    return XACCT_ECONFIG;
}

static char *strip_slashes(const char *s)
{
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '/')
        n--;
    return xacct_strndup(s, n);
}

int xacct__creds_config_from_env(xacct_getenv_fn g, void *ga, const char *region, int64_t now_s,
                                 xacct__creds_config_t *cfg, char *err, size_t errlen)
{
    int rc;
    memset(cfg, 0, sizeof(*cfg));
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (g == NULL)
        g = xacct_endpoints_getenv;

    /* 1. Static keys. Half a pair is a mistake worth stopping for: falling
     * through to another link would run with an identity nobody chose. */
    const char *akid = xacct_endpoints_env(g, ga, "AWS_ACCESS_KEY_ID");
    const char *secret = xacct_endpoints_env(g, ga, "AWS_SECRET_ACCESS_KEY");
    if (akid != NULL && secret == NULL)
        return config_error(err, errlen, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
    if (akid == NULL && secret != NULL)
        return config_error(err, errlen, "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not");
    if (akid != NULL) {
        const char *token = xacct_endpoints_env(g, ga, "AWS_SESSION_TOKEN");
        cfg->source = XACCT_CREDS_SOURCE_ENV;
        cfg->keys = xacct_calloc(1, sizeof(*cfg->keys));
        cfg->keys->access_key_id = xacct_strdup(akid);
        cfg->keys->secret_access_key = xacct_strdup(secret);
        cfg->keys->session_token = token != NULL ? xacct_strdup(token) : NULL;
        return 0;
    }

    /* 2. Web identity. */
    const char *token_file = xacct_endpoints_env(g, ga, "AWS_WEB_IDENTITY_TOKEN_FILE");
    const char *role_arn = xacct_endpoints_env(g, ga, "AWS_ROLE_ARN");
    if (token_file != NULL && role_arn == NULL)
        return config_error(err, errlen, "AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not");
    if (token_file == NULL && role_arn != NULL)
        return config_error(err, errlen, "AWS_ROLE_ARN is set but AWS_WEB_IDENTITY_TOKEN_FILE is not");
    if (token_file != NULL) {
        const char *session = xacct_endpoints_env(g, ga, "AWS_ROLE_SESSION_NAME");
        if (region == NULL || *region == '\0')
            region = xacct_endpoints_region_from_env(g, ga);
        if (region == NULL)
            region = "us-east-1";
        cfg->source = XACCT_CREDS_SOURCE_WEB_IDENTITY;
        cfg->token_file = xacct_strdup(token_file);
        cfg->role_arn = xacct_strdup(role_arn);
        cfg->session_name = session != NULL ? xacct_strdup(session)
                                            : xacct_asprintf("xacct-%lld", (long long)now_s);
        if (!xacct__creds_session_name_ok(cfg->session_name))
            return config_error(err, errlen,
                                "AWS_ROLE_SESSION_NAME must be 2-64 characters of [A-Za-z0-9_+=,.@-]");
        rc = xacct_endpoints_resolve(g, ga, "sts", region, &cfg->url);
        if (rc != 0)
            return config_error(err, errlen, "no usable STS endpoint for web identity "
                                             "(check AWS_ENDPOINT_URL_STS and the region)");
        return 0;
    }

    /* 3. The shared config files' profile. */
    if ((rc = xacct__creds_config_from_profile(g, ga, region, now_s, cfg, err, errlen)) != 0)
        return rc;
    if (cfg->source != XACCT_CREDS_SOURCE_NONE)
        return 0;

    /* 4. Container credentials; the relative URI wins over the full one, and
     * a token file over an inline token, as in the SDKs. */
    const char *rel = xacct_endpoints_env(g, ga, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const char *full = xacct_endpoints_env(g, ga, "AWS_CONTAINER_CREDENTIALS_FULL_URI");
    if (rel != NULL || full != NULL) {
        cfg->source = XACCT_CREDS_SOURCE_CONTAINER;
        if (rel != NULL) {
            if (rel[0] != '/')
                return config_error(err, errlen,
                                    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must start with '/'");
            cfg->url = xacct_asprintf(ECS_AGENT "%s", rel);
        } else {
            if (!xacct__creds_container_uri_allowed(full))
                return config_error(err, errlen,
                                    "AWS_CONTAINER_CREDENTIALS_FULL_URI must be https, or http to "
                                    "a loopback or ECS/EKS agent address");
            cfg->url = xacct_strdup(full);
        }
        const char *tfile = xacct_endpoints_env(g, ga, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
        const char *tok = xacct_endpoints_env(g, ga, "AWS_CONTAINER_AUTHORIZATION_TOKEN");
        if (tfile != NULL) {
            cfg->token_file = xacct_strdup(tfile);
        } else if (tok != NULL) {
            if (!header_safe(tok))
                return config_error(err, errlen,
                                    "AWS_CONTAINER_AUTHORIZATION_TOKEN contains a line break");
            cfg->token = xacct_strdup(tok);
        }
        return 0;
    }

    /* 5. Instance metadata, unless switched off. */
    const char *disabled = xacct_endpoints_env(g, ga, "AWS_EC2_METADATA_DISABLED");
    if (disabled != NULL && strcasecmp(disabled, "true") == 0) {
        cfg->source = XACCT_CREDS_SOURCE_NONE;
        return 0;
    }
    const char *endpoint = xacct_endpoints_env(g, ga, "AWS_EC2_METADATA_SERVICE_ENDPOINT");
    const char *mode = xacct_endpoints_env(g, ga, "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
    if (endpoint != NULL && strncasecmp(endpoint, "http://", 7) != 0 &&
        strncasecmp(endpoint, "https://", 8) != 0)
        return config_error(err, errlen, "AWS_EC2_METADATA_SERVICE_ENDPOINT must be an http(s) URL");
    cfg->source = XACCT_CREDS_SOURCE_IMDS;
    if (endpoint != NULL)
        cfg->url = strip_slashes(endpoint);
    else if (mode != NULL && strcasecmp(mode, "IPv6") == 0)
        cfg->url = xacct_strdup(DEFAULT_IMDS_ENDPOINT_V6);
    else
        cfg->url = xacct_strdup(DEFAULT_IMDS_ENDPOINT);
    return 0;
}

void xacct__creds_config_destroy(xacct__creds_config_t *cfg)
{
    xacct__creds_set_free(cfg->keys);
    free(cfg->url);
    xacct_free_secret(cfg->token);
    free(cfg->token_file);
    free(cfg->role_arn);
    free(cfg->session_name);
    free(cfg->external_id);
    free(cfg->sts_region);
    free(cfg->process);
    free(cfg->profile);
    memset(cfg, 0, sizeof(*cfg));
}

const char *xacct_creds_source_name(xacct_creds_source_t s)
{
    switch (s) {
    case XACCT_CREDS_SOURCE_ENV:
        return "environment";
    case XACCT_CREDS_SOURCE_WEB_IDENTITY:
        return "web identity";
    case XACCT_CREDS_SOURCE_PROFILE:
        return "profile";
    case XACCT_CREDS_SOURCE_PROFILE_ROLE:
        return "profile role";
    case XACCT_CREDS_SOURCE_PROCESS:
        return "credential process";
    case XACCT_CREDS_SOURCE_CONTAINER:
        return "container";
    case XACCT_CREDS_SOURCE_IMDS:
        return "instance metadata";
    case XACCT_CREDS_SOURCE_NONE:
    default:
        return "none";
    }
}

/* ----------------------------------------------------- timing decisions */

/* When to refresh: expiry minus the margin, the margin never more than half
 * the lifetime (short-lived credentials would otherwise be refreshed at
 * once, forever). 0 means now. */
XACCT_STATIC uint64_t xacct__creds_refresh_delay(int64_t now_ms, int64_t obtained_ms,
                                                 int64_t expiry_ms, uint64_t margin_ms)
{
    int64_t lifetime = expiry_ms - obtained_ms;
    if (lifetime <= 0)
        return 0;
    int64_t margin = (int64_t)(margin_ms < (uint64_t)lifetime / 2 ? margin_ms
                                                                  : (uint64_t)lifetime / 2);
    int64_t at = expiry_ms - margin;
    return at > now_ms ? (uint64_t)(at - now_ms) : 0;
}

/* Usable while a little time is left: a request signed now must still
 * arrive before the expiry. The skew is 10 s, or a quarter of the lifetime
 * if that is shorter. */
XACCT_STATIC bool xacct__creds_usable(int64_t now_ms, int64_t obtained_ms, int64_t expiry_ms)
{
    if (expiry_ms == 0)
        return true;
    int64_t lifetime = expiry_ms - obtained_ms;
    int64_t skew = lifetime / 4 < MAX_SKEW_MS ? lifetime / 4 : MAX_SKEW_MS;
    if (skew < 0)
        skew = 0;
    return now_ms + skew < expiry_ms;
}

static bool valid(const xacct_creds_t *c)
{
    return c->_cached != NULL &&
           xacct__creds_usable(wall_ms(), c->_obtained_ms, c->_cached->expiry_ms);
}

/* --------------------------------------------------------------- waiters */

static void list_push(waiter_list_t *l, struct xacct_creds_waiter *w)
{
    w->_list = l;
    w->_next = NULL;
    w->_prev = l->tail;
    if (l->tail != NULL)
        l->tail->_next = w;
    else
        l->head = w;
    l->tail = w;
}

static void list_remove(struct xacct_creds_waiter *w)
{
    waiter_list_t *l = w->_list;
    if (w->_prev != NULL)
        w->_prev->_next = w->_next;
    else
        l->head = w->_next;
    if (w->_next != NULL)
        w->_next->_prev = w->_prev;
    else
        l->tail = w->_prev;
    w->_list = NULL;
    w->_prev = w->_next = NULL;
}

/* Releases every waiter queued so far. They are moved to _releasing first,
 * so a callback that waits again joins the next round instead of looping,
 * and a free or cancel from inside a callback still finds the rest. */
static void release_waiters(xacct_creds_t *c, int status, const char *detail)
{
    while (c->_waiters.head != NULL) {
        struct xacct_creds_waiter *w = c->_waiters.head;
        list_remove(w);
        list_push(&c->_releasing, w);
    }
    while (c->_releasing.head != NULL) {
        struct xacct_creds_waiter *w = c->_releasing.head;
        list_remove(w);
        const xacct_sigv4_credentials_t *creds = NULL;
        int st = status;
        const char *dt = detail;
        if (st == 0) {
            /* A callback may have freed the provider or the keys may have
             * expired meanwhile; hand out only what is valid now. */
            if (!c->_freeing && valid(c)) {
                creds = &c->_view;
            } else {
                st = c->_freeing ? XACCT_ECANCELED : XACCT_EAGAIN;
                dt = c->_freeing ? "credentials provider closed" : "credentials expired";
            }
        }
        w->_cb(st, st == 0 ? NULL : dt, creds, w->_arg);
        free(w);
    }
}

static void on_dispatch(uv_timer_t *t)
{
    xacct_creds_t *c = xacct_container_of(t, xacct_creds_t, _dispatch);
    if (c->_cfg.source == XACCT_CREDS_SOURCE_NONE)
        release_waiters(c, XACCT_ENOCREDS,
                        "no credentials: no environment keys, web identity, profile or "
                        "container credentials, and instance metadata is disabled");
    else if (valid(c))
        release_waiters(c, 0, NULL);
}

/* ----------------------------------------------------------------- fetch */

static void start_fetch(xacct_creds_t *c);

static void on_refresh(uv_timer_t *t)
{
    start_fetch(xacct_container_of(t, xacct_creds_t, _refresh));
}

/* The status a waiter sees for a failed fetch. */
static int waiter_status(const xacct_creds_t *c, int status)
{
    switch (status) {
    case XACCT_ETIMEOUT:
    case XACCT_ECONNREFUSED:
    case XACCT_EHTTP:
        /* No metadata service is simply "no credentials here"; for the
         * explicitly configured links it is a transient network problem. */
        return c->_cfg.source == XACCT_CREDS_SOURCE_IMDS ? XACCT_ENOCREDS : XACCT_EAGAIN;
    case XACCT_ENOTFOUND:
        return XACCT_ENOCREDS;
    case XACCT_ETOOBIG:
        return XACCT_EPARSE;
    default:
        return status;
    }
}

static void fetch_done(xacct_creds_t *c, int status, const char *detail, xacct__creds_set_t *set)
{
    if (c->_freeing) {
        xacct__creds_set_free(set);
        return;
    }
    if (status == 0) {
        xacct__creds_set_free(c->_cached);
        c->_cached = set;
        c->_obtained_ms = wall_ms();
        c->_view.access_key_id = set->access_key_id;
        c->_view.secret_access_key = set->secret_access_key;
        c->_view.session_token = set->session_token;
        c->_fetches++;
        c->_last_fail = 0;
        c->_detail[0] = '\0';
        xacct_backoff_reset(&c->_backoff);
        if (set->expiry_ms != 0)
            uv_timer_start(&c->_refresh, on_refresh,
                           xacct__creds_refresh_delay(c->_obtained_ms, c->_obtained_ms,
                                                      set->expiry_ms, c->_margin_ms),
                           0);
        release_waiters(c, 0, NULL);
        return;
    }

    snprintf(c->_detail, sizeof(c->_detail), "%s: %s", xacct_creds_source_name(c->_cfg.source),
             detail != NULL ? detail : xacct_strerror(status));
    c->_last_fail = uv_now(c->_loop);
    if (c->_last_fail == 0)
        c->_last_fail = 1;
    uint64_t delay = xacct_backoff_next(&c->_backoff);
    if (valid(c) && c->_cached->expiry_ms != 0) {
        /* Keep using what we have, but try again well before it runs out. */
        int64_t left = c->_cached->expiry_ms - wall_ms();
        if (left > 0 && delay > (uint64_t)left / 2)
            delay = (uint64_t)left / 2;
        uv_timer_start(&c->_refresh, on_refresh, delay, 0);
        return;
    }
    uv_timer_start(&c->_refresh, on_refresh, delay, 0);
    release_waiters(c, waiter_status(c, status), c->_detail);
}

static void on_fetch(int status, const char *detail, xacct__creds_set_t *set, void *arg)
{
    xacct_creds_t *c = arg;
    c->_fetch = NULL;
    fetch_done(c, status, detail, set);
}

/* Runs only from the refresh timer or xacct_creds_new, never from inside
 * xacct_creds_wait, so a failure may release waiters directly. */
static void start_fetch(xacct_creds_t *c)
{
    int rc;
    char detail[128];
    if (c->_fetch != NULL || c->_freeing)
        return;
    uv_timer_stop(&c->_refresh);
    const xacct__creds_config_t *cfg = &c->_cfg;
    switch (cfg->source) {
    case XACCT_CREDS_SOURCE_IMDS: {
        xacct__creds_imds_params_t p = {cfg->url, c->_fetch_timeout_ms > 0
                                                      ? c->_fetch_timeout_ms
                                                      : DEFAULT_IMDS_TIMEOUT_MS};
        rc = xacct__creds_imds_start(c->_http, &p, on_fetch, c, &c->_fetch);
        break;
    }
    case XACCT_CREDS_SOURCE_CONTAINER: {
        xacct__creds_container_params_t p = {cfg->url, cfg->token, cfg->token_file,
                                             c->_fetch_timeout_ms > 0 ? c->_fetch_timeout_ms
                                                                      : DEFAULT_FETCH_TIMEOUT_MS};
        rc = xacct__creds_container_start(c->_http, &p, on_fetch, c, &c->_fetch);
        break;
    }
    case XACCT_CREDS_SOURCE_WEB_IDENTITY: {
        xacct__creds_webid_params_t p = {cfg->url, cfg->role_arn, cfg->session_name,
                                         cfg->token_file,
                                         c->_fetch_timeout_ms > 0 ? c->_fetch_timeout_ms
                                                                  : DEFAULT_FETCH_TIMEOUT_MS};
        rc = xacct__creds_webid_start(c->_http, &p, on_fetch, c, &c->_fetch);
        break;
    }
    case XACCT_CREDS_SOURCE_PROFILE_ROLE: {
        xacct__creds_assume_params_t p = {
            .sts_url = cfg->url,
            .region = cfg->sts_region,
            .source = cfg->keys,
            .role_arn = cfg->role_arn,
            .session_name = cfg->session_name,
            .external_id = cfg->external_id,
            .duration_s = cfg->duration_s,
            .timeout_ms = c->_fetch_timeout_ms > 0 ? c->_fetch_timeout_ms
                                                   : DEFAULT_FETCH_TIMEOUT_MS,
        };
        rc = xacct__creds_assume_start(c->_http, &p, on_fetch, c, &c->_fetch);
        break;
    }
    case XACCT_CREDS_SOURCE_PROCESS: {
        xacct__creds_process_params_t p = {c->_loop, cfg->process, c->_process_timeout_ms};
        rc = xacct__creds_process_start(&p, on_fetch, c, &c->_fetch);
        break;
    }
    default:
        return;
    }
    if (rc != 0) {
        c->_fetch = NULL;
        snprintf(detail, sizeof(detail), "cannot start: %s", xacct_strerror(rc));
        fetch_done(c, rc, detail, NULL);
    }
}

/* ------------------------------------------------------------ public API */

int xacct_creds_new(uv_loop_t *loop, xacct_http_t *http, const xacct_creds_options_t *opts,
                    xacct_creds_t **out, char *err, size_t errlen)
{
    int rc;
    xacct__creds_config_t cfg;
    xacct_creds_options_t def = {0};

    *out = NULL;
    if (opts == NULL)
        opts = &def;
    if (loop == NULL)
        return XACCT_EINVAL;
    rc = xacct__creds_config_from_env(opts->getenv, opts->getenv_arg, opts->region,
                                      (int64_t)time(NULL), &cfg, err, errlen);
    if (rc != 0)
        goto fail;
    bool fixed = cfg.source == XACCT_CREDS_SOURCE_ENV || cfg.source == XACCT_CREDS_SOURCE_PROFILE;
    bool remote = !fixed && cfg.source != XACCT_CREDS_SOURCE_NONE;
    if (remote && cfg.source != XACCT_CREDS_SOURCE_PROCESS && http == NULL) {
        (void)config_error(err, errlen, "remote credentials need an HTTP client");
        rc = XACCT_EINVAL;
        goto fail;
    }

    xacct_creds_t *c = xacct_calloc(1, sizeof(*c));
    c->_loop = loop;
    c->_http = http;
    c->_cfg = cfg;
    c->_fetch_timeout_ms = opts->fetch_timeout_ms;
    c->_process_timeout_ms =
        opts->process_timeout_ms > 0 ? opts->process_timeout_ms : DEFAULT_PROCESS_TIMEOUT_MS;
    c->_margin_ms = opts->refresh_margin_ms ? opts->refresh_margin_ms : DEFAULT_MARGIN_MS;
    c->_retry_base_ms = opts->retry_base_ms ? opts->retry_base_ms : DEFAULT_RETRY_BASE_MS;
    xacct_backoff_init(&c->_backoff, c->_retry_base_ms,
                       opts->retry_max_ms ? opts->retry_max_ms : DEFAULT_RETRY_MAX_MS, opts->rand,
                       opts->rand_arg);
    uv_timer_init(loop, &c->_refresh);
    uv_timer_init(loop, &c->_dispatch);
    c->_open_handles = 2;

    if (fixed) {
        c->_cached = cfg.keys;
        c->_cfg.keys = NULL;
        c->_obtained_ms = wall_ms();
        c->_view.access_key_id = c->_cached->access_key_id;
        c->_view.secret_access_key = c->_cached->secret_access_key;
        c->_view.session_token = c->_cached->session_token;
        c->_fetches = 1;
    } else if (remote) {
        start_fetch(c);
    }
    *out = c;
    return 0;
fail:
    xacct__creds_config_destroy(&cfg);
    return rc;
}

static void creds_close_cb(uv_handle_t *h)
{
    xacct_creds_t *c = h->data;
    if (--c->_open_handles > 0)
        return;
    xacct__creds_config_destroy(&c->_cfg);
    free(c);
}

void xacct_creds_free(xacct_creds_t *c)
{
    if (c == NULL || c->_freeing)
        return;
    c->_freeing = true;
    if (c->_fetch != NULL)
        xacct__creds_fetch_cancel(c->_fetch); /* on_fetch sees _freeing */
    while (c->_waiters.head != NULL || c->_releasing.head != NULL) {
        struct xacct_creds_waiter *w =
            c->_releasing.head != NULL ? c->_releasing.head : c->_waiters.head;
        list_remove(w);
        w->_cb(XACCT_ECANCELED, "credentials provider closed", NULL, w->_arg);
        free(w);
    }
    xacct__creds_set_free(c->_cached);
    c->_cached = NULL;
    memset(&c->_view, 0, sizeof(c->_view));
    c->_refresh.data = c;
    c->_dispatch.data = c;
    uv_close((uv_handle_t *)&c->_refresh, creds_close_cb);
    uv_close((uv_handle_t *)&c->_dispatch, creds_close_cb);
}

xacct_creds_source_t xacct_creds_source(const xacct_creds_t *c)
{
    return c->_cfg.source;
}

const xacct_sigv4_credentials_t *xacct_creds_current(xacct_creds_t *c)
{
    return c != NULL && !c->_freeing && valid(c) ? &c->_view : NULL;
}

int64_t xacct_creds_expiry(const xacct_creds_t *c)
{
    return c->_cached != NULL ? c->_cached->expiry_ms : -1;
}

uint64_t xacct_creds_fetch_count(const xacct_creds_t *c)
{
    return c->_fetches;
}

int xacct_creds_wait(xacct_creds_t *c, xacct_creds_wait_cb cb, void *arg,
                     xacct_creds_waiter_t **handle)
{
    if (handle != NULL)
        *handle = NULL;
    if (c == NULL || cb == NULL)
        return XACCT_EINVAL;
    if (c->_freeing)
        return XACCT_ESHUTDOWN;
    struct xacct_creds_waiter *w = xacct_calloc(1, sizeof(*w));
    w->_c = c;
    w->_cb = cb;
    w->_arg = arg;
    list_push(&c->_waiters, w);
    if (handle != NULL)
        *handle = w;

    if (c->_cfg.source == XACCT_CREDS_SOURCE_NONE || valid(c)) {
        uv_timer_start(&c->_dispatch, on_dispatch, 0, 0);
    } else if (c->_fetch == NULL) {
        /* Nothing valid and nothing in flight: a retry is pending. Bring it
         * forward unless the last failure is very recent, so callers get a
         * fresh attempt without being able to hammer the endpoint. */
        uint64_t now = uv_now(c->_loop);
        if (!uv_is_active((uv_handle_t *)&c->_refresh) || c->_last_fail == 0 ||
            now - c->_last_fail >= c->_retry_base_ms)
            uv_timer_start(&c->_refresh, on_refresh, 0, 0);
    }
    return 0;
}

void xacct_creds_wait_cancel(xacct_creds_waiter_t *w)
{
    if (w == NULL || w->_list == NULL)
        return;
    list_remove(w);
    w->_cb(XACCT_ECANCELED, "wait canceled", NULL, w->_arg);
    free(w);
}
