/* SPDX-License-Identifier: MIT */
/*
 * The set of messages in flight and its lifecycle: start one poller per
 * queue, keep at most queue.max_in_flight messages, wake a poller when room
 * frees up, drain on SIGTERM, release what is left when the grace period
 * ends, and publish the heartbeat `worker:<id>` every few seconds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "worker_int.h"
#include "xacct/codec.h"

#define HEARTBEAT_MS 5000
#define HEARTBEAT_TTL_S 30   /* beyond the longest gap between two heartbeats */

unsigned xacct__worker_room(const xacct_worker_t *w)
{
    unsigned max = (unsigned)w->ctx->cfg->queue_max_in_flight;
    return w->in_flight >= max ? 0 : max - w->in_flight;
}

void xacct__worker_add(xacct_worker_t *w, xacct_msg_t *msg)
{
    *xacct__msg_next(msg) = w->msgs;
    *xacct__msg_prev(msg) = NULL;
    if (w->msgs != NULL)
        *xacct__msg_prev(w->msgs) = msg;
    w->msgs = msg;
    w->in_flight++;
    if (w->in_flight == 1)
        xacct__worker_touch(w); /* back to the busy pace */
}

static void kick_all(xacct_worker_t *w)
{
    for (size_t i = 0; i < w->npollers; i++)
        xacct__poller_kick(w->pollers[i]);
}

void xacct__worker_remove(xacct_worker_t *w, xacct_msg_t *msg)
{
    xacct_msg_t *next = *xacct__msg_next(msg);
    xacct_msg_t *prev = *xacct__msg_prev(msg);
    if (prev != NULL)
        *xacct__msg_next(prev) = next;
    else
        w->msgs = next;
    if (next != NULL)
        *xacct__msg_prev(next) = prev;
    w->in_flight--;
    if (w->freeing)
        return;
    if (w->in_flight == 0 && w->drained_cb != NULL) {
        void (*cb)(void *) = w->drained_cb;
        w->drained_cb = NULL;
        cb(w->drained_arg);
        return;
    }
    if (!w->stopping)
        kick_all(w);
}

/* ---- heartbeat ------------------------------------------------------------ */

static long rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    if (f == NULL)
        return 0;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = 0;
    fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

static void on_heartbeat_done(int status, const char *detail, void *arg)
{
    (void)status;
    (void)detail;
    (void)arg;
}

/*
 * While messages are in flight the heartbeat goes out every HEARTBEAT_MS. An
 * idle worker would wake up for nothing but that, so then it rides on the
 * long polls' completions (xacct__worker_touch, at most wait_seconds apart)
 * and the timer, set beyond the next completion, only covers stalled polls.
 */
static uint64_t idle_gap_ms(const xacct_worker_t *w)
{
    return (uint64_t)w->ctx->cfg->queue_wait_seconds * 1000 + HEARTBEAT_MS;
}

static void send_heartbeat(xacct_worker_t *w);

static void on_heartbeat(uv_timer_t *t)
{
    send_heartbeat(xacct_container_of(t, xacct_worker_t, heartbeat));
}

void xacct__worker_touch(xacct_worker_t *w)
{
    if (w->freeing || !uv_is_active((uv_handle_t *)&w->heartbeat))
        return;
    uint64_t now = uv_now(w->ctx->loop);
    uint64_t due = w->last_beat + HEARTBEAT_MS;
    if (now >= due)
        send_heartbeat(w);
    else if (w->in_flight > 0 && uv_timer_get_due_in(&w->heartbeat) > due - now)
        uv_timer_start(&w->heartbeat, on_heartbeat, due - now, 0);
}

static void send_heartbeat(xacct_worker_t *w)
{
    w->last_beat = uv_now(w->ctx->loop);
    uv_timer_start(&w->heartbeat, on_heartbeat, w->in_flight > 0 ? HEARTBEAT_MS : idle_gap_ms(w),
                   0);
    char host[128] = "";
    gethostname(host, sizeof(host) - 1);
    xacct_heartbeat_t hb = {
        .host = host,
        .pid = getpid(),
        .version = XACCT_VERSION,
        .started_at = (int64_t)w->ctx->started_at * 1000,
        .concurrency = w->ctx->cfg->queue_max_in_flight,
        .in_flight = w->in_flight,
        .processed = (int64_t)w->stats.processed,
        .failed = (int64_t)(w->stats.failed + w->stats.dead),
        .rss = rss_bytes(),
        .quiet = w->stats.quiet || w->stopping,
    };
    /* A heartbeat that cannot be queued is simply skipped: the next one
     * follows in HEARTBEAT_MS and the key's TTL covers the gap. */
    long ttl_s = (long)(idle_gap_ms(w) / 1000) + HEARTBEAT_TTL_S;
    if (xacct_heartbeats_put(w->ctx->store, w->ctx->worker_id, &hb, ttl_s,
                                on_heartbeat_done, w) != 0)
        XACCT_LOG_DEBUG(&w->ctx->log, "heartbeat.skipped", "worker", w->ctx->worker_id, NULL);
}

/* ---- lifecycle ------------------------------------------------------------- */

int xacct_worker_new(xacct_ctx_t *ctx, xacct_worker_t **out)
{
    *out = NULL;
    if (ctx->cfg->queue_urls.n == 0)
        return XACCT_ECONFIG;
    xacct_worker_t *w = xacct_calloc(1, sizeof(*w));
    w->ctx = ctx;
    w->npollers = ctx->cfg->queue_urls.n;
    w->pollers = xacct_calloc(w->npollers, sizeof(*w->pollers));
    for (size_t i = 0; i < w->npollers; i++)
        w->pollers[i] = xacct__poller_new(w, ctx->cfg->queue_urls.items[i]);
    uv_timer_init(ctx->loop, &w->heartbeat);
    *out = w;
    return 0;
}

void xacct_worker_start(xacct_worker_t *w)
{
    uv_timer_start(&w->heartbeat, on_heartbeat, 0, 0);
    for (size_t i = 0; i < w->npollers; i++)
        XACCT_LOG_INFO(&w->ctx->log, "sqs.polling", "queue", w->pollers[i]->queue_url, "region",
                       w->pollers[i]->region, NULL);
    kick_all(w);
}

void xacct_worker_quiet(xacct_worker_t *w)
{
    w->stats.quiet = true;
    for (size_t i = 0; i < w->npollers; i++)
        xacct__poller_stop(w->pollers[i]);
}

void xacct_worker_reconfigure(xacct_worker_t *w)
{
    /* Queue URLs cannot change on reload; limits and lists are read from
     * ctx->cfg at each use, so waking the pollers is all that is needed. */
    if (!w->stopping)
        kick_all(w);
}

void xacct_worker_drain(xacct_worker_t *w, void (*cb)(void *arg), void *arg)
{
    w->stopping = true;
    for (size_t i = 0; i < w->npollers; i++)
        xacct__poller_stop(w->pollers[i]);
    if (w->in_flight == 0) {
        cb(arg);
        return;
    }
    w->drained_cb = cb;
    w->drained_arg = arg;
}

void xacct__worker_release_done(xacct_worker_t *w)
{
    if (w->released_cb != NULL && w->releases == 0 && w->in_flight == 0) {
        void (*cb)(void *) = w->released_cb;
        w->released_cb = NULL;
        cb(w->released_arg);
    }
}

void xacct_worker_release(xacct_worker_t *w, void (*cb)(void *arg), void *arg)
{
    w->stopping = true;
    w->drained_cb = NULL;
    w->released_cb = cb;
    w->released_arg = arg;
    for (size_t i = 0; i < w->npollers; i++)
        xacct__poller_stop(w->pollers[i]);
    xacct_msg_t *m = w->msgs;
    while (m != NULL) {
        xacct_msg_t *next = *xacct__msg_next(m);
        xacct__msg_release(m);
        m = next;
    }
    /* Messages being deleted finish on their own; the rest are released. */
    if (w->in_flight == 0)
        xacct__worker_release_done(w);
}

void xacct_worker_get_stats(const xacct_worker_t *w, xacct_worker_stats_t *out)
{
    *out = w->stats;
    out->in_flight = w->in_flight;
    out->polling = false;
    for (size_t i = 0; i < w->npollers; i++)
        if (w->pollers[i]->receive != NULL)
            out->polling = true;
}

static void on_closed(uv_handle_t *h)
{
    xacct_worker_t *w = h->data;
    free(w->pollers);
    free(w);
}

void xacct_worker_free(xacct_worker_t *w)
{
    if (w == NULL)
        return;
    w->freeing = true;
    w->stopping = true;
    w->drained_cb = NULL;
    w->released_cb = NULL;
    while (w->msgs != NULL)
        xacct__msg_abort(w->msgs);
    for (size_t i = 0; i < w->npollers; i++)
        xacct__poller_close(w->pollers[i]);
    w->heartbeat.data = w;
    uv_close((uv_handle_t *)&w->heartbeat, on_closed);
}
