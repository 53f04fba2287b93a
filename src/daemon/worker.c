/* SPDX-License-Identifier: MIT */
/*
 * The worker: one transport per queue URL feeding the set of messages in
 * flight (at most queue.max_in_flight), each driven through the pipeline and
 * finished through its completion callback: deleted (ack, dead), left to
 * reappear, or handed back (release). It wakes a transport when room frees
 * up, drains on SIGTERM, releases what is left when the grace period ends,
 * and publishes the heartbeat `worker:<id>` every few seconds. The set keeps
 * its own links; the pipeline and the transports know nothing of it.
 */
#include <stdio.h>
#include <stdlib.h>
#ifdef __GLIBC__ /* defined once a libc header is in */
#include <malloc.h>
#endif
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "xacct/codec.h"
#include "xacct/metrics.h"
#include "xacct/pipeline.h"
#include "xacct/transport.h"
#include "xacct/worker.h"
#include "xacct/heartbeats.h"

#define HEARTBEAT_MS 5000
#define HEARTBEAT_TTL_S 30   /* beyond the longest gap between two heartbeats */

/* One message of the set, from its receipt until its queue is done with it. */
typedef struct inflight {
    struct inflight *prev, *next;  /* in w->msgs or w->releasing */
    xacct_worker_t *w;             /* NULL once detached (worker freed) */
    xacct_transport_t *t;          /* the queue it came from */
    xacct_sqs_message_t *m;        /* owned */
    xacct_pipeline_msg_t *msg;     /* the pipeline's handle; NULL once done */
    xacct_transport_delete_t del;  /* its delete, after ack or dead */
} inflight_t;

typedef struct inflight_list {
    inflight_t *head;
} inflight_list_t;

struct xacct_worker {
    xacct_ctx_t *ctx;                    /* borrowed */
    xacct_pipeline_t pl;                 /* what every message shares */
    xacct_transport_t **transports;      /* one per queue URL */
    size_t ntransports;
    inflight_list_t msgs;                /* messages in flight */
    unsigned in_flight;                  /* length of msgs */
    inflight_list_t releasing;           /* released messages whose visibility reset
                                            has not answered */
    xacct_worker_stats_t stats;
    uv_timer_t heartbeat;                /* worker:<id> in Redis */
    uint64_t last_beat;                  /* uv_now() of the last heartbeat */
    bool stopping;                       /* drain or release began: no new receives */
    bool releasing_all;                  /* inside xacct_worker_release's loop */
    void (*drained_cb)(void *);          /* fires when in_flight reaches 0 */
    void *drained_arg;
    void (*released_cb)(void *);         /* fires when releases have finished */
    void *released_arg;
    bool freeing;
};

static void touch(xacct_worker_t *w);

/* ---- the set ----------------------------------------------------------------- */

static void list_add(inflight_list_t *l, inflight_t *e)
{
    e->prev = NULL;
    e->next = l->head;
    if (l->head != NULL)
        l->head->prev = e;
    l->head = e;
}

static void list_remove(inflight_list_t *l, inflight_t *e)
{
    if (e->prev != NULL)
        e->prev->next = e->next;
    else
        l->head = e->next;
    if (e->next != NULL)
        e->next->prev = e->prev;
    e->prev = e->next = NULL;
}

static void inflight_free(inflight_t *e)
{
    xacct_sqs_message_free(e->m);
    free(e);
}

static unsigned room(void *arg)
{
    xacct_worker_t *w = arg;
    unsigned max = (unsigned)w->ctx->cfg->queue_max_in_flight;
    return w->in_flight >= max ? 0 : max - w->in_flight;
}

static void kick_all(xacct_worker_t *w)
{
    for (size_t i = 0; i < w->ntransports; i++)
        xacct_transport_kick(w->transports[i]);
}

/* Nothing of the worker's is left on the wire: no message in the set, no
 * visibility reset unanswered, and no receive whose answer may still bring
 * messages to hand back. */
static bool settled(const xacct_worker_t *w)
{
    if (w->in_flight > 0 || w->releasing.head != NULL)
        return false;
    for (size_t i = 0; i < w->ntransports; i++)
        if (xacct_transport_polling(w->transports[i]))
            return false;
    return true;
}

static void release_done(xacct_worker_t *w)
{
    if (w->released_cb != NULL && !w->releasing_all && settled(w)) {
        void (*cb)(void *) = w->released_cb;
        w->released_cb = NULL;
        cb(w->released_arg);
    }
}

/* While stopping: fires the drain's or the release's callback once
 * everything has settled. */
static void stop_progress(xacct_worker_t *w)
{
    if (w->freeing)
        return;
    if (w->drained_cb != NULL) {
        if (settled(w)) {
            void (*cb)(void *) = w->drained_cb;
            w->drained_cb = NULL;
            cb(w->drained_arg);
        }
        return;
    }
    release_done(w);
}

/* One message fewer in the set (already unlinked): room for another. */
static void left_set(xacct_worker_t *w)
{
    w->in_flight--;
    if (w->freeing)
        return;
    if (w->stopping)
        stop_progress(w);
    else
        kick_all(w);
}

/* A message leaves the set. */
static void leave_set(xacct_worker_t *w, inflight_t *e)
{
    list_remove(&w->msgs, e);
    left_set(w);
}

static void on_deleted(int status, const char *detail, void *arg)
{
    inflight_t *e = arg;
    xacct_worker_t *w = e->w;
    if (w != NULL) {
        const char *url = xacct_transport_queue_url(e->t);
        if (status != 0 && !w->freeing)
            XACCT_LOG_WARN(&w->ctx->log, "sqs.delete_failed", "message_id", e->m->message_id,
                           "error", xacct_errname(status), "detail", detail ? detail : "",
                           "effect", "the message reappears and its stored answer is sent again",
                           NULL);
        else if (status == 0) {
            w->stats.processed++;
            xacct_metrics_inc(w->ctx->metrics, XACCT_M_MSG_ACKED, url, NULL);
        }
        leave_set(w, e);
    }
    inflight_free(e);
}

static void on_released(int status, const char *detail, void *arg)
{
    (void)status;
    (void)detail;
    inflight_t *e = arg;
    xacct_worker_t *w = e->w;
    if (w != NULL) {
        list_remove(&w->releasing, e);
        stop_progress(w);
    }
    inflight_free(e);
}

/* A message received while quiet or stopping is handed back at once
 * (visibility 0), tracked like a release so the shutdown waits for it. */
static void hand_back(xacct_worker_t *w, xacct_transport_t *t, xacct_sqs_message_t *m)
{
    inflight_t *e = xacct_calloc(1, sizeof(*e));
    e->w = w;
    e->t = t;
    e->m = m;
    XACCT_LOG_INFO(&w->ctx->log, "message.released", "message_id", m->message_id, NULL);
    w->stats.released++;
    xacct_metrics_inc(w->ctx->metrics, XACCT_M_MSG_RELEASED, xacct_transport_queue_url(t), NULL);
    if (xacct_transport_visibility(t, m->receipt_handle, 0, on_released, e) == 0)
        list_add(&w->releasing, e);
    else
        inflight_free(e);
}

static void on_done(const xacct_pipeline_result_t *r, void *arg)
{
    inflight_t *e = arg;
    xacct_worker_t *w = e->w;
    const char *url = xacct_transport_queue_url(e->t);
    e->msg = NULL;
    if (r->failed)
        w->stats.failed++;
    switch (r->outcome) {
    case XACCT_PIPELINE_DEAD: /* recorded in the dead set: deleted like an ack */
    case XACCT_PIPELINE_ACK:
        if (r->outcome == XACCT_PIPELINE_DEAD)
            w->stats.dead++;
        xacct_transport_delete(e->t, &e->del, e->m->receipt_handle, on_deleted, e);
        return;
    case XACCT_PIPELINE_RELEASE:
        XACCT_LOG_INFO(&w->ctx->log, "message.released", "message_id", e->m->message_id, NULL);
        w->stats.released++;
        xacct_metrics_inc(w->ctx->metrics, XACCT_M_MSG_RELEASED, url, NULL);
        /* The visibility reset is under way before the message leaves the
         * set, so the set cannot look finished while it is still going. */
        list_remove(&w->msgs, e);
        if (xacct_transport_visibility(e->t, e->m->receipt_handle, 0, on_released, e) == 0)
            list_add(&w->releasing, e);
        else
            inflight_free(e);
        left_set(w);
        return;
    case XACCT_PIPELINE_LEAVE:
        leave_set(w, e);
        inflight_free(e);
        return;
    }
}

static void on_receive(xacct_transport_t *t, xacct_sqs_message_t **msgs, size_t n, void *arg)
{
    xacct_worker_t *w = arg;
    touch(w);
    for (size_t i = 0; i < n; i++) {
        w->stats.received++;
        if (w->stopping || w->stats.quiet) {
            /* The answer of a receive sent before SIGTERM or SIGTSTP. */
            hand_back(w, t, msgs[i]);
            continue;
        }
        inflight_t *e = xacct_calloc(1, sizeof(*e));
        e->w = w;
        e->t = t;
        e->m = msgs[i];
        list_add(&w->msgs, e);
        w->in_flight++;
        if (w->in_flight == 1)
            touch(w); /* back to the busy pace */
        xacct_pipeline_start(&w->pl, e->m, t, xacct_transport_queue_url(t), on_done, e, &e->msg);
    }
    if (w->stopping)
        stop_progress(w); /* that receive may have been the last thing out */
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
 * long polls' completions (touch, at most wait_seconds apart)
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

static void touch(xacct_worker_t *w)
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
#ifdef __GLIBC__
    /* glibc keeps what a burst freed (a batch of receives, a pool of new
     * TLS connections) and never gives it back below the top of the heap;
     * trimming once per heartbeat returns it (about 2 MB of 22 with 256 in
     * flight) for a heap walk every few seconds. */
    malloc_trim(0);
#endif
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
    w->pl.ctx = ctx;
    w->pl.ops = &xacct_pipeline_production_ops;
    w->pl.ops_arg = ctx;
    w->ntransports = ctx->cfg->queue_urls.n;
    w->transports = xacct_calloc(w->ntransports, sizeof(*w->transports));
    for (size_t i = 0; i < w->ntransports; i++) {
        xacct_transport_options_t o = {
            .queue_url = ctx->cfg->queue_urls.items[i],
            .on_receive = on_receive,
            .room = room,
            .arg = w,
        };
        w->transports[i] = xacct_transport_new(ctx, &o);
    }
    uv_timer_init(ctx->loop, &w->heartbeat);
    *out = w;
    return 0;
}

void xacct_worker_start(xacct_worker_t *w)
{
    uv_timer_start(&w->heartbeat, on_heartbeat, 0, 0);
    for (size_t i = 0; i < w->ntransports; i++)
        XACCT_LOG_INFO(&w->ctx->log, "sqs.polling", "queue",
                       xacct_transport_queue_url(w->transports[i]), "region",
                       xacct_transport_region(w->transports[i]), NULL);
    for (size_t i = 0; i < w->ntransports; i++)
        xacct_transport_start(w->transports[i]);
}

void xacct_worker_quiet(xacct_worker_t *w)
{
    w->stats.quiet = true;
    for (size_t i = 0; i < w->ntransports; i++)
        xacct_transport_pause(w->transports[i]);
}

void xacct_worker_resume(xacct_worker_t *w)
{
    if (w->stopping || !w->stats.quiet)
        return;
    w->stats.quiet = false;
    for (size_t i = 0; i < w->ntransports; i++)
        xacct_transport_resume(w->transports[i]);
}

void xacct_worker_reconfigure(xacct_worker_t *w)
{
    /* Queue URLs cannot change on reload; limits and lists are read from
     * ctx->cfg at each use, so waking the transports is all that is needed. */
    if (!w->stopping)
        kick_all(w);
}

static void stop_all(xacct_worker_t *w)
{
    w->stopping = true;
    for (size_t i = 0; i < w->ntransports; i++)
        xacct_transport_stop(w->transports[i]);
}

void xacct_worker_drain(xacct_worker_t *w, void (*cb)(void *arg), void *arg)
{
    stop_all(w);
    if (settled(w)) {
        cb(arg);
        return;
    }
    w->drained_cb = cb;
    w->drained_arg = arg;
}

void xacct_worker_release(xacct_worker_t *w, void (*cb)(void *arg), void *arg)
{
    stop_all(w);
    w->drained_cb = NULL;
    w->released_cb = cb;
    w->released_arg = arg;
    /* Messages being deleted finish on their own; the rest are released. */
    w->releasing_all = true;
    inflight_t *e = w->msgs.head;
    while (e != NULL) {
        inflight_t *next = e->next;
        if (e->msg != NULL)
            xacct_pipeline_release(e->msg);
        e = next;
    }
    w->releasing_all = false;
    release_done(w);
}

void xacct_worker_get_stats(const xacct_worker_t *w, xacct_worker_stats_t *out)
{
    *out = w->stats;
    out->in_flight = w->in_flight;
    out->polling = false;
    for (size_t i = 0; i < w->ntransports; i++)
        if (xacct_transport_polling(w->transports[i]))
            out->polling = true;
}

static void on_closed(uv_handle_t *h)
{
    xacct_worker_t *w = h->data;
    free(w->transports);
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
    /* Deletes still collected answer ECANCELED now; then every message is
     * aborted, and those whose delete or visibility reset is on the wire
     * are detached: their callbacks find no worker and only free them. */
    for (size_t i = 0; i < w->ntransports; i++)
        xacct_transport_free(w->transports[i]);
    while (w->msgs.head != NULL) {
        inflight_t *e = w->msgs.head;
        if (e->msg != NULL) {
            xacct_pipeline_abort(e->msg);
        } else {
            list_remove(&w->msgs, e);
            w->in_flight--;
            e->w = NULL;
        }
    }
    while (w->releasing.head != NULL) {
        inflight_t *e = w->releasing.head;
        list_remove(&w->releasing, e);
        e->w = NULL;
    }
    w->heartbeat.data = w;
    uv_close((uv_handle_t *)&w->heartbeat, on_closed);
}
