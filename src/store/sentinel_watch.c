/* SPDX-License-Identifier: MIT */
/*
 * Watches Sentinel for failovers while a store is connected through it, as
 * the Sentinel client guidelines advise: one connection to one sentinel (the
 * one that answered last), subscribed to +switch-master. Without it the store
 * learns of a failover only when the old master drops it or answers READONLY,
 * and a partition that keeps the sentinels from the old master withholds
 * both: the old master takes writes that vanish when it rejoins as a replica.
 * The connection is a fail-fast store of its own, so TLS, name lookup, AUTH
 * (redis.sentinel_password) and timeouts work as for the Sentinel questions.
 * A heartbeat catches a sentinel that went silent: every command timeout the
 * same SUBSCRIBE is sent again, and Redis confirms it again (hiredis 0.14
 * cannot hand PING's answer on a subscribed connection to its callback; the
 * confirmation reaches the channel's). Its loss moves the watch to the next
 * sentinel after a backoff and is reported once per episode; the data
 * connection never waits for it.
 */
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

#define WATCH_CHANNEL "+switch-master"

struct xacct__sentinel_watch {
    xacct_store_t *owner; /* the data store; it frees the watch (borrowed) */
    uv_timer_t timer;     /* delay before the next attempt, then the heartbeat */
    xacct_store_t *conn;  /* the subscription's connection, or NULL */
    size_t cur;           /* index of the sentinel watched */
    unsigned failures;    /* attempts failed in a row, for the backoff */
    int down;             /* this failure episode was reported */
    int subscribed;       /* the subscription is confirmed on conn */
    int awaiting;         /* a SUBSCRIBE sent on conn is not confirmed yet */
};

static void watch_connect(xacct__sentinel_watch_t *w);

static void retry_cb(uv_timer_t *t)
{
    xacct__sentinel_watch_t *w = xacct_container_of(t, xacct__sentinel_watch_t, timer);
    watch_connect(w);
}

/* The subscription is gone or was never made: the next sentinel, later. */
static void watch_failed(xacct__sentinel_watch_t *w, const char *why)
{
    xacct_store_t *o = w->owner;
    xacct_store_t *c = w->conn;
    w->conn = NULL;
    w->subscribed = 0;
    w->awaiting = 0;
    xacct_store_free(c); /* deferred when inside its callback */
    uv_timer_stop(&w->timer);
    if (!w->down) {
        w->down = 1;
        char msg[512];
        snprintf(msg, sizeof(msg), "sentinel %s: %s", o->_sentinels[w->cur],
                 why != NULL && why[0] ? why : "connection lost");
        xacct__store_watch_news(o, XACCT_STORE_WATCH_DOWN, msg);
    }
    w->cur = (w->cur + 1) % o->_nsentinels;
    long d = xacct__store_retry_delay(o, w->failures);
    if (w->failures < 64)
        w->failures++;
    uv_timer_start(&w->timer, retry_cb, (uint64_t)d, 0);
}

/* A sentinel names the master's address, in a message or an answer. */
static void master_at(xacct__sentinel_watch_t *w, const char *host, size_t hlen, const char *port)
{
    char h[256], *end = NULL;
    long p = strtol(port, &end, 10);
    if (hlen == 0 || hlen >= sizeof(h) || end == port || *end != '\0' || p <= 0 || p > 65535)
        return;
    memcpy(h, host, hlen);
    h[hlen] = '\0';
    xacct__store_master_moved(w->owner, h, (int)p, w->cur);
}

/* A +switch-master message's text: "<name> <old-ip> <old-port> <new-ip>
 * <new-port>"; other masters' failovers are not ours. */
static void switch_message(xacct__sentinel_watch_t *w, const xacct_store_reply_t *text)
{
    char buf[640], *f[6], *save = NULL;
    size_t n = 0;
    if (text == NULL || text->type != XACCT_STORE_REPLY_STRING || text->len >= sizeof(buf))
        return;
    memcpy(buf, text->str, text->len);
    buf[text->len] = '\0';
    for (char *t = strtok_r(buf, " ", &save); t != NULL && n < 6; t = strtok_r(NULL, " ", &save))
        f[n++] = t;
    if (n != 5 || strcmp(f[0], w->owner->_master_name) != 0)
        return;
    master_at(w, f[3], strlen(f[3]), f[4]);
}

/* A push of the channel: the confirmation, or a message. */
static void on_push(xacct__sentinel_watch_t *w, const xacct_store_reply_t *r)
{
    if (r == NULL || r->type != XACCT_STORE_REPLY_ARRAY || r->elements != 3)
        return;
    const xacct_store_reply_t *kind = xacct_store_reply_at(r, 0);
    if (xacct_store_reply_is(kind, "message")) {
        switch_message(w, xacct_store_reply_at(r, 2));
        return;
    }
    if (!xacct_store_reply_is(kind, "subscribe"))
        return;
    w->awaiting = 0;
    if (w->subscribed)
        return; /* a heartbeat */
    /* A connection only follows a failure (or the start): report each. */
    w->subscribed = 1;
    w->failures = 0;
    w->down = 0;
    char msg[400];
    snprintf(msg, sizeof(msg), "subscribed to " WATCH_CHANNEL " on sentinel %s",
             w->owner->_sentinels[w->cur]);
    xacct__store_watch_news(w->owner, XACCT_STORE_WATCH_UP, msg);
}

static void push_cb(int status, const char *detail, const xacct_store_reply_t *r, void *arg)
{
    XACCT_UNUSED(detail);
    if (status == 0)
        on_push(arg, r);
}

/* Where the master is as the subscription starts: a failover announced
 * while no subscription was in place is not missed. */
static void where_cb(int status, const char *detail, const xacct_store_reply_t *r, void *arg)
{
    XACCT_UNUSED(detail);
    if (status != 0 || r->type != XACCT_STORE_REPLY_ARRAY)
        return;
    const xacct_store_reply_t *h = xacct_store_reply_at(r, 0), *p = xacct_store_reply_at(r, 1);
    if (h == NULL || p == NULL || h->type != XACCT_STORE_REPLY_STRING ||
        p->type != XACCT_STORE_REPLY_STRING)
        return;
    master_at(arg, h->str, h->len, p->str);
}

/* Every command timeout: a SUBSCRIBE still unconfirmed from the last tick
 * means the sentinel went silent; otherwise send the next one. */
static void heartbeat_tick(uv_timer_t *t)
{
    xacct__sentinel_watch_t *w = xacct_container_of(t, xacct__sentinel_watch_t, timer);
    if (w->conn == NULL)
        return;
    if (w->awaiting) {
        char why[96];
        snprintf(why, sizeof(why), "no answer within %ld ms", w->owner->_command_timeout_ms);
        watch_failed(w, why);
        return;
    }
    w->awaiting = 1;
    if (xacct__store_subscribe(w->conn, WATCH_CHANNEL, push_cb, w) != 0)
        watch_failed(w, "cannot subscribe to " WATCH_CHANNEL);
}

static void conn_state_cb(int up, int status, const char *detail, void *arg)
{
    xacct__sentinel_watch_t *w = arg;
    if (!up) {
        watch_failed(w, detail != NULL && detail[0] ? detail : xacct_strerror(status));
        return;
    }
    /* The question and SUBSCRIBE go out in one write and Sentinel runs them
     * back to back: no failover falls between the answer and the
     * subscription. */
    if (xacct_store_cmd(w->conn, where_cb, w, "SENTINEL", "get-master-addr-by-name",
                        w->owner->_master_name, NULL) != 0 ||
        xacct__store_subscribe(w->conn, WATCH_CHANNEL, push_cb, w) != 0) {
        watch_failed(w, "cannot subscribe to " WATCH_CHANNEL);
        return;
    }
    w->awaiting = 1;
    uint64_t every = (uint64_t)w->owner->_command_timeout_ms;
    uv_timer_start(&w->timer, heartbeat_tick, every, every);
}

static void watch_connect(xacct__sentinel_watch_t *w)
{
    xacct_store_t *o = w->owner;
    char url[1024], err[256];
    char *pw = NULL;
    if (o->_sentinel_password != NULL) {
        pw = curl_easy_escape(NULL, o->_sentinel_password, 0);
        if (pw == NULL) {
            watch_failed(w, "out of memory");
            return;
        }
    }
    snprintf(url, sizeof(url), "%s://%s%s%s%s", o->_tls ? "rediss" : "redis", pw ? ":" : "",
             pw ? pw : "", pw ? "@" : "", o->_sentinels[w->cur]);
    if (pw != NULL) {
        OPENSSL_cleanse(pw, strlen(pw));
        curl_free(pw);
    }
    xacct_store_options_t opts = {
        .url = url,
        .prefix = "",
        .reconnect = 0,
        .connect_timeout_ms = o->_connect_timeout_ms,
        .command_timeout_ms = o->_command_timeout_ms,
        .on_state = conn_state_cb,
        .state_arg = w,
        .tls_ca_file = o->_ca_file,
        .tls_cert_file = o->_cert_file,
        .tls_key_file = o->_key_file,
    };
    int rc = xacct_store_new(o->_loop, &opts, &w->conn, err, sizeof(err));
    OPENSSL_cleanse(url, sizeof(url));
    if (rc != 0)
        watch_failed(w, err);
}

xacct__sentinel_watch_t *xacct__sentinel_watch_new(xacct_store_t *owner)
{
    xacct__sentinel_watch_t *w = xacct_calloc(1, sizeof(*w));
    w->owner = owner;
    w->cur = owner->_sentinel_first % owner->_nsentinels;
    uv_timer_init(owner->_loop, &w->timer);
    watch_connect(w);
    return w;
}

static void close_cb(uv_handle_t *h)
{
    free(xacct_container_of(h, xacct__sentinel_watch_t, timer));
}

void xacct__sentinel_watch_free(xacct__sentinel_watch_t *w)
{
    if (w == NULL)
        return;
    xacct_store_t *c = w->conn;
    w->conn = NULL;
    /* Its commands complete with XACCT_ECANCELED, which the callbacks above
     * ignore without looking at w; its state callback no longer fires. */
    xacct_store_free(c);
    uv_timer_stop(&w->timer);
    uv_close((uv_handle_t *)&w->timer, close_cb);
}
