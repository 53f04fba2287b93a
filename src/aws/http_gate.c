/* SPDX-License-Identifier: MIT */
/*
 * The TLS origin gate (see http_int.h). libcurl opens the connections of a
 * burst to a new host side by side, and each one, finding no TLS session in
 * the share yet, pays a full handshake: certificate chain parsed and
 * verified, key exchange, several times the CPU of a resumption. A worker
 * that starts with hundreds of messages in flight would open tens of
 * connections to each AWS endpoint that way. Holding the burst until the
 * first transfer is answered costs them one round trip and makes every
 * later connection a resumption. Verification is unchanged: a session is
 * only ever offered to the host it was made with.
 */
#include "http_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

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
    return o;
}

static int add(struct xacct_http *h, struct xacct_http_req *r)
{
    if (curl_multi_add_handle(h->_multi, r->_easy) != CURLM_OK)
        return XACCT_EHTTP;
    r->_added = true;
    return 0;
}

static void hold(xacct_http_origin_t *o, struct xacct_http_req *r)
{
    r->_origin = o;
    r->_held = true;
    r->_held_next = NULL;
    if (o->_held_tail != NULL)
        o->_held_tail->_held_next = r;
    else
        o->_held = r;
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

/* Arms the gate timer for the oldest probe that has transfers waiting. */
static void gate_arm(struct xacct_http *h)
{
    uint64_t now = uv_now(h->_loop), due = UINT64_MAX;

    for (size_t i = 0; i < h->_norigins; i++) {
        const xacct_http_origin_t *o = &h->_origins[i];
        if (o->_held != NULL && o->_probe != NULL && o->_probe_since + h->_gate_ms < due)
            due = o->_probe_since + h->_gate_ms;
    }
    if (due == UINT64_MAX)
        uv_timer_stop(&h->_gate_timer);
    else
        uv_timer_start(&h->_gate_timer, xacct__http_on_gate_timer, due > now ? due - now : 0, 0);
}

/* Lets every transfer held at o go (each after the one before, in order). */
static void release_all(struct xacct_http *h, xacct_http_origin_t *o)
{
    struct xacct_http_req *r;

    while (!h->_freeing && (r = unhold_first(o)) != NULL)
        if (add(h, r) != 0)
            xacct__http_finish(r, XACCT_EHTTP);
}

/* The oldest held transfer becomes o's probe. */
static void promote(struct xacct_http *h, xacct_http_origin_t *o)
{
    struct xacct_http_req *r;

    while (!h->_freeing && o->_probe == NULL && (r = unhold_first(o)) != NULL) {
        if (add(h, r) != 0) {
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

    /* A ticket has come (and the session is stored: that happened inside
     * the same read of curl's): nothing to wait for. */
    if (o == NULL || o->_warm || o->_ticket)
        return add(h, r);
    if (o->_probe != NULL) {
        hold(o, r);
        gate_arm(h);
        return 0;
    }
    if ((rc = add(h, r)) != 0)
        return rc;
    r->_origin = o;
    o->_probe = r;
    o->_probe_since = uv_now(h->_loop);
    return 0;
}

void xacct__http_gate_done(struct xacct_http_req *r, int status)
{
    struct xacct_http *h = r->_h;
    xacct_http_origin_t *o = r->_origin;

    if (o == NULL)
        return;
    if (r->_held) {
        unhold(o, r);
    } else {
        r->_origin = NULL;
        o->_probe = NULL;
        if (status == 0) {
            o->_warm = true;
            release_all(h, o);
        } else {
            promote(h, o);
        }
    }
    if (!h->_freeing)
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
            release_all(h, o);
        } else if (o->_held != NULL && o->_probe != NULL &&
                   now >= o->_probe_since + h->_gate_ms) {
            release_all(h, o);
        }
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
