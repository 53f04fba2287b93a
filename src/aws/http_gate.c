/* SPDX-License-Identifier: MIT */
/*
 * When a transfer to an https origin enters libcurl (see http_int.h).
 *
 * The TLS gate: libcurl opens the connections of a burst to a new host side
 * by side, and each one, finding no TLS session in the share yet, pays a
 * full handshake: certificate chain parsed and verified, key exchange,
 * several times the CPU of a resumption. A worker that starts with hundreds
 * of messages in flight would open tens of connections to each AWS endpoint
 * that way. Holding the burst until the first transfer is answered costs
 * them one round trip and makes every later connection a resumption.
 * Verification is unchanged: a session is only ever offered to the host it
 * was made with.
 *
 * The connection cap: an HTTP/1.1 origin with as many transfers inside
 * libcurl as it may have connections holds the next ones here, in order,
 * instead of in libcurl's own pending list. libcurl 7.88 sends the head of
 * that list through a whole connection attempt (URL parsed, a connection
 * made up and searched for in the cache) each time a transfer ends, and
 * then another that finds nothing and goes back to the tail: against slow
 * AWS, with more calls out than connections, that was three wasted attempts
 * for every transfer. A held transfer's time counts against its timeout, as
 * it did in libcurl's list.
 *
 * The connection ramp: a burst of messages puts hundreds of calls out at
 * once, and a cap of 64 would open 64 connections to each host however
 * quickly the host answers — each with its TLS state and buffers, ~80 KB
 * of memory, kept until it idles out. An origin first gets a quarter of
 * its cap (at least 4) and the full cap only as transfers keep waiting:
 * each time transfers have queued for room without a break for _ramp_ms
 * (and as long has passed since the last change) the cap doubles, up to
 * _max_host. A host that
 * answers in a few milliseconds drains a burst through the connections it
 * has; one that takes tens of milliseconds (AWS far away, or slow) reaches
 * the full cap within a few ramp periods. After _ramp_ms times
 * XACCT_HTTP_RAMP_RESET_PERIODS without a wait it starts over.
 */
#include "http_int.h"
#include "xacct/metrics.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where an origin's cap starts: a quarter of the cap, at least 4. */
static unsigned ramp_start(const struct xacct_http *h)
{
    unsigned start = h->_max_host / 4 > 4 ? h->_max_host / 4 : 4;

    return start < h->_max_host ? start : h->_max_host;
}

/* When o's cap may next grow (UINT64_MAX: not now): once transfers have
 * been queued for room without a break for a ramp period. Not the oldest
 * one's wait: a queue that drains just under the period while new
 * transfers keep joining it is the throughput the cap holds back. */
static uint64_t ramp_due(const struct xacct_http *h, const xacct_http_origin_t *o)
{
    if (o->_held == NULL || o->_cap >= h->_max_host || o->_multiplexed)
        return UINT64_MAX;
    uint64_t from = o->_queued_since > o->_grown_at ? o->_queued_since : o->_grown_at;
    return from + h->_ramp_ms;
}

static xacct_http_origin_t *origin_find(struct xacct_http *h, const char *key)
{
    for (size_t i = 0; i < h->_norigins; i++)
        if (strcmp(h->_origins[i]._key, key) == 0)
            return &h->_origins[i];
    return NULL;
}

/* NULL when the table is full: that origin is then simply not gated. */
static xacct_http_origin_t *origin_get(struct xacct_http *h, const char *key)
{
    xacct_http_origin_t *o = origin_find(h, key);

    if (o != NULL || h->_norigins == XACCT_HTTP_MAX_ORIGINS)
        return o;
    if (h->_origins == NULL)
        h->_origins = xacct_calloc(XACCT_HTTP_MAX_ORIGINS, sizeof(*h->_origins));
    o = &h->_origins[h->_norigins++];
    o->_h = h;
    o->_key = xacct_strdup(key);
    o->_held_due = UINT64_MAX;
    o->_cap = ramp_start(h);
    o->_grown_at = uv_now(h->_loop);
    return o;
}

/* Whether transfers to o no longer wait for its first TLS session. */
static bool gate_open(const xacct_http_origin_t *o)
{
    return o->_warm || o->_ticket || o->_gate_passed;
}

/* Whether o may have another transfer inside the multi now. */
static bool has_room(const struct xacct_http *h, const xacct_http_origin_t *o)
{
    return o->_multiplexed || h->_max_host == 0 || o->_active < o->_cap;
}

/* Adds r to the multi, counted against o's cap (o may be NULL: uncounted).
 * A transfer that was held gets what is left of its time limit. */
static int add(struct xacct_http *h, xacct_http_origin_t *o, struct xacct_http_req *r,
               bool was_held)
{
    if (was_held) {
        uint64_t waited = uv_now(h->_loop) - r->_held_since;
        long left = (uint64_t)r->_timeout_ms > waited ? r->_timeout_ms - (long)waited : 1;
        if (curl_easy_setopt(r->_easy, CURLOPT_TIMEOUT_MS, left) != CURLE_OK)
            return XACCT_EHTTP;
    }
    if (curl_multi_add_handle(h->_multi, r->_easy) != CURLM_OK)
        return XACCT_EHTTP;
    r->_added = true;
    if (o != NULL) {
        r->_slot = o;
        o->_active++;
    }
    return 0;
}

/* Holds r at o (why: the label of xacct_http_waits_total). */
static void hold(xacct_http_origin_t *o, struct xacct_http_req *r, const char *why)
{
    if (o->_h->_metrics != NULL)
        xacct_metrics_inc(o->_h->_metrics, XACCT_M_HTTP_WAITS, why, NULL);
    r->_origin = o;
    r->_held = true;
    r->_held_next = NULL;
    r->_held_since = uv_now(o->_h->_loop);
    o->_last_wait = r->_held_since;
    uint64_t due = r->_held_since + (uint64_t)r->_timeout_ms;
    if (due < o->_held_due)
        o->_held_due = due;
    if (o->_held_tail != NULL) {
        o->_held_tail->_held_next = r;
    } else {
        o->_held = r;
        o->_queued_since = r->_held_since; /* the queue was empty until now */
    }
    o->_held_tail = r;
}

static struct xacct_http_req *unhold_first(xacct_http_origin_t *o)
{
    struct xacct_http_req *r = o->_held;

    if (r == NULL)
        return NULL;
    o->_held = r->_held_next;
    if (o->_held == NULL)
        o->_held_tail = NULL;
    r->_held_next = NULL;
    r->_held = false;
    r->_origin = NULL;
    return r;
}

static void unhold(xacct_http_origin_t *o, struct xacct_http_req *r)
{
    struct xacct_http_req *prev = NULL;

    for (struct xacct_http_req *p = o->_held; p != NULL; prev = p, p = p->_held_next) {
        if (p != r)
            continue;
        if (prev != NULL)
            prev->_held_next = r->_held_next;
        else
            o->_held = r->_held_next;
        if (o->_held_tail == r)
            o->_held_tail = prev;
        break;
    }
    r->_held_next = NULL;
    r->_held = false;
    r->_origin = NULL;
}

/* Arms the gate timer for the oldest probe that has transfers waiting, or
 * the first held transfer to run out of time, whichever comes first. */
static void gate_arm(struct xacct_http *h)
{
    uint64_t now = uv_now(h->_loop), due = UINT64_MAX;

    for (size_t i = 0; i < h->_norigins; i++) {
        const xacct_http_origin_t *o = &h->_origins[i];
        if (o->_held == NULL)
            continue;
        if (o->_probe != NULL && !gate_open(o) && o->_probe_since + h->_gate_ms < due)
            due = o->_probe_since + h->_gate_ms;
        if (o->_held_due < due)
            due = o->_held_due;
        if (gate_open(o) && ramp_due(h, o) < due)
            due = ramp_due(h, o);
    }
    if (due == UINT64_MAX)
        uv_timer_stop(&h->_gate_timer);
    else
        uv_timer_start(&h->_gate_timer, xacct__http_on_gate_timer, due > now ? due - now : 0, 0);
}

/* Lets the transfers held at o go, in order, while o has room. */
static void release(struct xacct_http *h, xacct_http_origin_t *o)
{
    struct xacct_http_req *r;

    while (!h->_freeing && has_room(h, o) && (r = unhold_first(o)) != NULL)
        if (add(h, o, r, true) != 0)
            xacct__http_finish(r, XACCT_EHTTP);
    if (o->_held == NULL)
        o->_held_due = UINT64_MAX;
}

/* The oldest held transfer becomes o's probe. */
static void promote(struct xacct_http *h, xacct_http_origin_t *o)
{
    struct xacct_http_req *r;

    while (!h->_freeing && o->_probe == NULL && has_room(h, o) &&
           (r = unhold_first(o)) != NULL) {
        if (add(h, o, r, true) != 0) {
            xacct__http_finish(r, XACCT_EHTTP);
            continue;
        }
        r->_origin = o;
        o->_probe = r;
        o->_probe_since = uv_now(h->_loop);
    }
}

int xacct__http_admit(struct xacct_http *h, struct xacct_http_req *r)
{
    xacct_http_origin_t *o = r->_origin_key != NULL ? origin_get(h, r->_origin_key) : NULL;
    int rc;

    if (o == NULL)
        return add(h, NULL, r, false);
    uint64_t now = uv_now(h->_loop), quiet = o->_last_wait > o->_grown_at ? o->_last_wait
                                                                         : o->_grown_at;
    if (o->_held == NULL && o->_cap > ramp_start(h) &&
        now - quiet >= h->_ramp_ms * XACCT_HTTP_RAMP_RESET_PERIODS) {
        o->_cap = ramp_start(h);
        o->_grown_at = now;
    }
    /* A ticket has come (and the session is stored: that happened inside
     * the same read of curl's), or the probe took too long to wait for:
     * nothing to wait for but a free connection. */
    if (gate_open(o)) {
        if (has_room(h, o) && o->_held == NULL)
            return add(h, o, r, false);
        uint64_t due = o->_held_due;
        hold(o, r, "connection_cap");
        if (o->_held_due != due) /* the timer only moves for an earlier end */
            gate_arm(h);
        return 0;
    }
    if (o->_probe != NULL) {
        hold(o, r, "tls_gate");
        gate_arm(h);
        return 0;
    }
    if ((rc = add(h, o, r, false)) != 0)
        return rc;
    r->_origin = o;
    o->_probe = r;
    o->_probe_since = uv_now(h->_loop);
    return 0;
}

void xacct__http_gate_done(struct xacct_http_req *r, int status)
{
    struct xacct_http *h = r->_h;
    xacct_http_origin_t *o = r->_origin, *slot = r->_slot;

    if (slot != NULL) {
        r->_slot = NULL;
        slot->_active--;
        /* HTTP/2 carries many transfers on one connection: libcurl's own
         * cap on connections is all an origin needs then. Asked of the first
         * answer only: a server speaks the same on every connection. */
        long version = 0;
        if (status == 0 && !slot->_version_known &&
            curl_easy_getinfo(r->_easy, CURLINFO_HTTP_VERSION, &version) == CURLE_OK) {
            slot->_version_known = true;
            slot->_multiplexed = version >= CURL_HTTP_VERSION_2_0;
        }
    }
    if (o != NULL) {
        if (r->_held) {
            unhold(o, r);
        } else {
            r->_origin = NULL;
            o->_probe = NULL;
            if (status == 0)
                o->_warm = true;
            else
                promote(h, o);
        }
    }
    /* A connection came free (or the probe's answer warmed the origin). */
    xacct_http_origin_t *free_at = slot != NULL ? slot : o;
    bool had_held = free_at != NULL && free_at->_held != NULL;
    if (had_held && gate_open(free_at))
        release(h, free_at);
    if (!h->_freeing && (o != NULL || had_held))
        gate_arm(h);
}

/* SSL_CTX msg callback of a probe's connection (arg: its origin). Runs
 * inside curl's read, before OpenSSL stores the session: it only wakes the
 * gate timer, which finds the session stored. */
static void on_tls_message(int write_p, int version, int content_type, const void *buf,
                           size_t len, SSL *ssl, void *arg)
{
    xacct_http_origin_t *o = arg;

    XACCT_UNUSED(version);
    XACCT_UNUSED(ssl);
    if (write_p || content_type != SSL3_RT_HANDSHAKE || len == 0 ||
        ((const unsigned char *)buf)[0] != SSL3_MT_NEWSESSION_TICKET || o->_ticket)
        return;
    o->_ticket = true;
    if (o->_held != NULL && !o->_h->_freeing)
        uv_timer_start(&o->_h->_gate_timer, xacct__http_on_gate_timer, 0, 0);
}

void xacct__http_gate_watch(struct xacct_http_req *r, SSL_CTX *ctx)
{
    xacct_http_origin_t *o = r->_origin;

    /* Only the probe has an origin while it runs; and the SSL_CTX is this
     * connection's own (libcurl 7.88 makes one per connection). */
    if (o == NULL || r->_held || o->_warm || o->_ticket)
        return;
    SSL_CTX_set_msg_callback(ctx, on_tls_message);
    SSL_CTX_set_msg_callback_arg(ctx, o);
}

/* Ends the transfers held at o that have run out of time (as libcurl would
 * have, had they waited in its list) and notes when the next one does. One
 * at a time, each found afresh: a callback may cancel, or hold, others. */
static void expire_held(struct xacct_http *h, xacct_http_origin_t *o, uint64_t now)
{
    struct xacct_http_req *r;

    while (!h->_freeing) {
        for (r = o->_held; r != NULL; r = r->_held_next)
            if (now >= r->_held_since + (uint64_t)r->_timeout_ms)
                break;
        if (r == NULL)
            break;
        unhold(o, r);
        snprintf(r->_errbuf, sizeof(r->_errbuf),
                 "timed out after %ld ms waiting for a connection to %s", r->_timeout_ms,
                 o->_key);
        xacct__http_finish(r, XACCT_ETIMEOUT);
    }
    uint64_t due = UINT64_MAX;
    for (r = o->_held; r != NULL; r = r->_held_next)
        if (r->_held_since + (uint64_t)r->_timeout_ms < due)
            due = r->_held_since + (uint64_t)r->_timeout_ms;
    o->_held_due = due;
}

void xacct__http_gate_expire(struct xacct_http *h)
{
    uint64_t now = uv_now(h->_loop);

    /* A session ticket has come: the others can resume it now. A probe too
     * slow to get that far (a far or struggling server) is no reason to
     * hold the others longer: they go with handshakes of their own. */
    for (size_t i = 0; i < h->_norigins && !h->_freeing; i++) {
        xacct_http_origin_t *o = &h->_origins[i];
        if (o->_ticket && !o->_warm) {
            o->_warm = true;
            release(h, o);
        } else if (o->_held != NULL && o->_probe != NULL && !gate_open(o) &&
                   now >= o->_probe_since + h->_gate_ms) {
            o->_gate_passed = true;
            release(h, o);
        }
        if (o->_held != NULL && gate_open(o) && now >= ramp_due(h, o)) {
            o->_cap = o->_cap > h->_max_host / 2 ? h->_max_host : o->_cap * 2;
            o->_grown_at = now;
            release(h, o);
        }
        if (o->_held != NULL && now >= o->_held_due)
            expire_held(h, o, now);
    }
    if (!h->_freeing)
        gate_arm(h);
}

char *xacct__http_origin_key(const char *host, const char *port)
{
    char *key = xacct_asprintf("%s:%s", host, port);

    for (char *p = key; *p != '\0'; p++)
        *p = (char)tolower((unsigned char)*p);
    return key;
}

void xacct__http_gate_free(struct xacct_http *h)
{
    for (size_t i = 0; i < h->_norigins; i++)
        free(h->_origins[i]._key);
    free(h->_origins);
    h->_origins = NULL;
    h->_norigins = 0;
}
