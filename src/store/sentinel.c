/* SPDX-License-Identifier: MIT */
/*
 * Asks Sentinel where the master is. Each sentinel is tried over a fresh
 * fail-fast store (no key prefix, no reconnects), one at a time, starting
 * with the one that answered last time, as the Sentinel client guidelines
 * suggest; the first sentinel that names an address wins. The store module
 * keeps all hiredis knowledge; this file only sends one command.
 */
#include "xacct/sentinel.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xacct/store.h"

struct xacct_sentinel_query {
    uv_loop_t *loop;          /* borrowed */
    char **sentinels;         /* owned copies */
    size_t n;
    size_t first;             /* asked first */
    size_t tried;             /* sentinels asked so far */
    size_t cur;               /* the one being asked */
    char *master_name;        /* owned */
    int tls;
    char *ca, *cert, *key;    /* owned, or NULL */
    char *password;           /* percent-encoded for the URL (owned, wiped), or NULL */
    long timeout_ms;          /* to reach each sentinel */
    long command_timeout_ms;  /* for each one's handshake, and for its answer */
    xacct_store_t *store;     /* connection to the current sentinel */
    int cancelled;
    xacct_sentinel_cb cb;
    void *arg;
    char why[768];            /* what the sentinels said, for the failure detail */
};

static char *dup_or_null(const char *s)
{
    return s && s[0] ? xacct_strdup(s) : NULL;
}

static void query_free(xacct_sentinel_query_t *q)
{
    for (size_t i = 0; i < q->n; i++)
        free(q->sentinels[i]);
    free(q->sentinels);
    free(q->master_name);
    free(q->ca);
    free(q->cert);
    free(q->key);
    xacct_free_secret(q->password);
    free(q);
}

static void note(xacct_sentinel_query_t *q, const char *fmt, ...) XACCT_PRINTF(2, 3);
static void note(xacct_sentinel_query_t *q, const char *fmt, ...)
{
    size_t used = strlen(q->why);
    if (used + 3 >= sizeof(q->why))
        return;
    if (used > 0) {
        memcpy(q->why + used, "; ", 3);
        used += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q->why + used, sizeof(q->why) - used, fmt, ap);
    va_end(ap);
}

static void reply_cb(int status, const char *detail, const xacct_store_reply_t *r, void *arg);

/* A sentinel that refuses us wants its own password (its requirepass), not
 * the master's from redis.url: say which setting to look at. */
static const char *auth_hint(const char *detail)
{
    if (strstr(detail, "NOAUTH") != NULL)
        return " (the sentinels want a password: set redis.sentinel_password)";
    if (strstr(detail, "WRONGPASS") != NULL || strstr(detail, "invalid password") != NULL ||
        strstr(detail, "without any password configured") != NULL)
        return " (check redis.sentinel_password)";
    return "";
}

/* The store words a refused password as redis.url's to fix; a sentinel's is
 * redis.sentinel_password (auth_hint): keep only the server's words. */
static const char *server_words(const char *detail)
{
    const char *p = strstr(detail, XACCT_STORE_AUTH_HINT ": ");
    return p != NULL ? p + strlen(XACCT_STORE_AUTH_HINT ": ") : detail;
}

/* Starts asking the next sentinel; 0 if one is being asked, else -1. */
static int ask_next(xacct_sentinel_query_t *q)
{
    while (q->tried < q->n) {
        size_t i = (q->first + q->tried) % q->n;
        q->tried++;
        char url[1024], err[256];
        snprintf(url, sizeof(url), "%s://%s%s%s%s", q->tls ? "rediss" : "redis",
                 q->password ? ":" : "", q->password ? q->password : "", q->password ? "@" : "",
                 q->sentinels[i]);
        xacct_store_options_t o = {
            .url = url,
            .prefix = "",
            .reconnect = 0,
            .connect_timeout_ms = q->timeout_ms,
            .command_timeout_ms = q->command_timeout_ms,
            .tls_ca_file = q->ca,
            .tls_cert_file = q->cert,
            .tls_key_file = q->key,
        };
        xacct_store_t *s = NULL;
        int rc = xacct_store_new(q->loop, &o, &s, err, sizeof(err));
        OPENSSL_cleanse(url, sizeof(url));
        if (rc != 0) {
            note(q, "sentinel %s: %s", q->sentinels[i], err);
            continue;
        }
        if (xacct_store_cmd(s, reply_cb, q, "SENTINEL", "get-master-addr-by-name",
                            q->master_name, NULL) != 0) {
            xacct_store_free(s);
            note(q, "sentinel %s: cannot send the question", q->sentinels[i]);
            continue;
        }
        q->store = s;
        q->cur = i;
        return 0;
    }
    return -1;
}

static void reply_cb(int status, const char *detail, const xacct_store_reply_t *r, void *arg)
{
    xacct_sentinel_query_t *q = arg;
    /* Freed from inside its own callback: the store finishes that later. */
    xacct_store_free(q->store);
    q->store = NULL;
    if (q->cancelled) {
        query_free(q);
        return;
    }
    const char *name = q->sentinels[q->cur];
    if (status != 0) {
        const char *d = detail && detail[0] ? server_words(detail) : xacct_strerror(status);
        note(q, "sentinel %s: %s%s", name, d, auth_hint(d));
    } else if (r->type == XACCT_STORE_REPLY_NIL) {
        note(q, "sentinel %s does not know master '%s'", name, q->master_name);
    } else {
        const xacct_store_reply_t *h = xacct_store_reply_at(r, 0), *p = xacct_store_reply_at(r, 1);
        long long port = 0;
        if (h != NULL && h->type == XACCT_STORE_REPLY_STRING && h->len > 0 && h->len < 256 &&
            xacct_store_reply_ll(p, &port) == 0 && port > 0 && port <= 65535) {
            char host[256];
            memcpy(host, h->str, h->len);
            host[h->len] = '\0';
            q->cb(0, NULL, host, (int)port, q->cur, q->arg);
            query_free(q);
            return;
        }
        note(q, "sentinel %s: malformed answer", name);
    }
    if (ask_next(q) == 0)
        return;
    q->cb(XACCT_EDISCONNECTED, q->why, NULL, 0, 0, q->arg);
    query_free(q);
}

int xacct_sentinel_query_start(uv_loop_t *loop, const xacct_sentinel_options_t *opts,
                               xacct_sentinel_cb cb, void *arg, xacct_sentinel_query_t **out)
{
    *out = NULL;
    if (opts->nsentinels == 0 || opts->master_name == NULL || opts->master_name[0] == '\0')
        return XACCT_EINVAL;
    xacct_sentinel_query_t *q = xacct_calloc(1, sizeof(*q));
    q->loop = loop;
    q->n = opts->nsentinels;
    q->sentinels = xacct_calloc(q->n, sizeof(*q->sentinels));
    for (size_t i = 0; i < q->n; i++)
        q->sentinels[i] = xacct_strdup(opts->sentinels[i]);
    q->first = opts->first % q->n;
    q->master_name = xacct_strdup(opts->master_name);
    q->tls = opts->tls;
    q->ca = dup_or_null(opts->tls_ca_file);
    q->cert = dup_or_null(opts->tls_cert_file);
    q->key = dup_or_null(opts->tls_key_file);
    if (opts->password != NULL && opts->password[0] != '\0') {
        char *enc = curl_easy_escape(NULL, opts->password, 0);
        q->password = enc != NULL ? xacct_strdup(enc) : NULL;
        if (enc != NULL) {
            OPENSSL_cleanse(enc, strlen(enc));
            curl_free(enc);
        }
    }
    q->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : 5000;
    q->command_timeout_ms = opts->command_timeout_ms > 0 ? opts->command_timeout_ms : q->timeout_ms;
    q->cb = cb;
    q->arg = arg;
    if (ask_next(q) != 0) {
        query_free(q);
        return XACCT_EINVAL;
    }
    *out = q;
    return 0;
}

void xacct_sentinel_query_cancel(xacct_sentinel_query_t *q)
{
    if (q == NULL)
        return;
    q->cancelled = 1;
    /* Completes the outstanding question with XACCT_ECANCELED, whose
     * callback (above) releases q. */
    xacct_store_free(q->store);
}
