/* SPDX-License-Identifier: MIT */
/*
 * The topic-policy lock's lease renewal (publish_lease.h). The lease lives
 * apart from the writer that holds the lock: the writer drops it and goes
 * on, and the lease frees itself once its timer is closed and the last
 * renewal has answered, so neither outlives what it points at.
 *
 * Times are the loop's monotonic clock (uv_hrtime), never the wall clock,
 * and each confirmation dates from when its command was sent, not answered:
 * Redis (re)started the lease somewhere between the two, so the send time
 * can only make the lease look shorter than it is.
 */
#include "publish_lease.h"

#include <stdio.h>
#include <stdlib.h>

#include "xacct/arn.h"
#include "xacct/store.h"

#define NS_PER_MS 1000000u

struct xacct__publish_lease {
    xacct_ctx_t *ctx;
    uv_timer_t timer;
    char name[XACCT_ARN_MAX + 16];
    char token[64];
    long ttl_ms;
    uint64_t valid_ns;     /* how long a confirmation lets the holder write */
    uint64_t confirmed_ns; /* when the last command Redis answered as ours was sent */
    uint64_t sent_ns;      /* when the renewal in flight was sent */
    bool inflight;         /* a renewal is waiting for Redis */
    bool dropped;          /* the holder is done with it */
    bool closed;           /* the timer's handle is closed */
    bool lost;             /* a renewal found the lock not ours */
};

static void maybe_free(xacct__publish_lease_t *l)
{
    if (l->dropped && l->closed && !l->inflight)
        free(l);
}

static void extended(int status, const char *detail, int ours, void *arg)
{
    (void)detail;
    xacct__publish_lease_t *l = arg;
    l->inflight = false;
    /* A Redis error says nothing about who holds the lock: the next tick
     * tries again, and the lease lasts for a few. Meanwhile the last
     * confirmation ages, and the holder stops writing once it is too old. */
    if (status == 0 && ours && l->sent_ns > l->confirmed_ns)
        l->confirmed_ns = l->sent_ns;
    else if (status == 0 && !ours)
        l->lost = true;
    maybe_free(l);
}

static void on_tick(uv_timer_t *t)
{
    xacct__publish_lease_t *l = t->data;
    if (l->inflight || l->lost || l->ctx->store == NULL)
        return;
    l->sent_ns = uv_hrtime();
    if (xacct_store_lock_extend(l->ctx->store, l->name, l->token, l->ttl_ms, extended, l) == 0)
        l->inflight = true;
}

static void on_closed(uv_handle_t *h)
{
    xacct__publish_lease_t *l = h->data;
    l->closed = true;
    maybe_free(l);
}

xacct__publish_lease_t *xacct__publish_lease_keep(xacct_ctx_t *ctx, const char *name,
                                                  const char *token, uint64_t acquired_ns,
                                                  long ttl_ms, long margin_ms, uint64_t every_ms)
{
    xacct__publish_lease_t *l = xacct_calloc(1, sizeof(*l));
    l->ctx = ctx;
    snprintf(l->name, sizeof(l->name), "%s", name);
    snprintf(l->token, sizeof(l->token), "%s", token);
    l->ttl_ms = ttl_ms;
    l->valid_ns = margin_ms < ttl_ms ? (uint64_t)(ttl_ms - margin_ms) * NS_PER_MS : 0;
    l->confirmed_ns = acquired_ns;
    uv_timer_init(ctx->loop, &l->timer);
    l->timer.data = l;
    uv_timer_start(&l->timer, on_tick, every_ms, every_ms);
    return l;
}

/* The lease's state at now_ns (uv_hrtime's clock); apart for tests, which
 * give the time. */
XACCT_STATIC bool xacct__publish_lease_lost_at(const xacct__publish_lease_t *l, uint64_t now_ns)
{
    if (l == NULL)
        return false;
    return l->lost || now_ns >= l->confirmed_ns + l->valid_ns;
}

bool xacct__publish_lease_lost(const xacct__publish_lease_t *l)
{
    return xacct__publish_lease_lost_at(l, uv_hrtime());
}

void xacct__publish_lease_drop(xacct__publish_lease_t *l)
{
    if (l == NULL)
        return;
    l->dropped = true;
    uv_timer_stop(&l->timer);
    uv_close((uv_handle_t *)&l->timer, on_closed);
}
