/* SPDX-License-Identifier: MIT */
/*
 * One SQS queue as a transport (transport.h): the receive loop, batched
 * deletes and single visibility changes. Received messages go up through
 * the owner's callback; the transport never looks inside them.
 */
#include "xacct/transport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xacct/backoff.h"
#include "xacct/metrics.h"

#define FLUSH_DELAY_MS 20
/* Receives outstanding at once while the queue keeps answering full batches
 * (queue.receivers, at most this): one receive takes a round trip for at
 * most ten messages, so against an endpoint 50 ms away one poller alone
 * cannot pass 200 messages a second. */
#define MAX_RECEIVES 16

typedef struct receive_slot {
    struct xacct_transport *t;
    xacct_aws_call_t *call; /* ReceiveMessage in flight (NULL while being sent) */
    unsigned asked;         /* MaxNumberOfMessages it asked for (room reserved) */
    bool busy;              /* a receive was started and has not completed */
} receive_slot_t;

struct xacct_transport {
    xacct_ctx_t *_ctx;                    /* borrowed */
    char *_queue_url;                     /* owned */
    char _region[32];                     /* the queue's region */
    xacct_transport_receive_cb _on_receive;
    xacct_transport_room_cb _room;
    void *_arg;                           /* for both */
    receive_slot_t _recv[MAX_RECEIVES];   /* receives in flight */
    unsigned _nrecv;                      /* slots with a call */
    unsigned _reserved;                   /* room asked for by those calls */
    unsigned _want;                       /* receives to keep outstanding: 1 when
                                             the queue is quiet, doubled by each
                                             full batch, back to 1 on an empty one */
    uv_timer_t _timer;                    /* backoff after errors */
    xacct_backoff_t _backoff;
    uv_timer_t _flush;                    /* sends the delete batch */
    xacct_transport_delete_t *_deletes;   /* batch being collected */
    size_t _ndeletes;
    bool _paused;                         /* no receives */
    bool _stopped;                        /* deletes at once too */
    int _closing;                         /* handles still closing */
};

static void poll_now(xacct_transport_t *t);

static void on_timer(uv_timer_t *timer)
{
    poll_now(xacct_container_of(timer, xacct_transport_t, _timer));
}

static void slot_release(receive_slot_t *slot)
{
    xacct_transport_t *t = slot->t;
    if (!slot->busy)
        return;
    slot->busy = false;
    slot->call = NULL;
    t->_reserved -= slot->asked;
    t->_nrecv--;
    slot->asked = 0;
}

static void on_receive(int status, const char *detail, xacct_sqs_message_t **msgs, size_t n,
                       size_t corrupt, void *arg)
{
    receive_slot_t *slot = arg;
    xacct_transport_t *t = slot->t;
    unsigned asked = slot->asked;
    slot_release(slot); /* a no-op when pause cancelled it */
    if (status == XACCT_ECANCELED) {
        for (size_t i = 0; i < n; i++)
            xacct_sqs_message_free(msgs[i]);
        return;
    }
    if (status != 0 && t->_paused) {
        /* Nothing to retry; the owner may be waiting for this answer. */
        t->_on_receive(t, NULL, 0, t->_arg);
        return;
    }
    if (status != 0) {
        t->_want = 1;
        uint64_t delay = xacct_backoff_next(&t->_backoff);
        char ms[32];
        snprintf(ms, sizeof(ms), "%llu", (unsigned long long)delay);
        XACCT_LOG_WARN(&t->_ctx->log, "sqs.receive_failed", "queue", t->_queue_url, "error",
                       xacct_errname(status), "detail", detail ? detail : "", "retry_ms", ms,
                       NULL);
        uv_timer_start(&t->_timer, on_timer, delay, 0);
        return;
    }
    xacct_backoff_reset(&t->_backoff);
    if (n + corrupt == 0)
        t->_want = 1; /* quiet: one long poll, no more wake-ups than that */
    else if (n + corrupt >= asked)
        t->_want *= 2; /* capped by queue.receivers in poll_now */
    if (corrupt > 0)
        XACCT_LOG_WARN(&t->_ctx->log, "sqs.corrupt_message", "queue", t->_queue_url, "detail",
                       "body does not match MD5OfBody; left to reappear", NULL);
    for (size_t i = 0; i < n; i++)
        xacct_metrics_inc(t->_ctx->metrics, XACCT_M_MSG_RECEIVED, t->_queue_url, NULL);
    t->_on_receive(t, msgs, n, t->_arg);
    poll_now(t);
}

/* Starts receives while fewer than _want are outstanding and the owner has
 * room beyond what those already asked for. */
static void poll_now(xacct_transport_t *t)
{
    unsigned cap = (unsigned)t->_ctx->cfg->queue_receivers;
    if (cap < 1)
        cap = 1;
    if (cap > MAX_RECEIVES)
        cap = MAX_RECEIVES;
    if (t->_want > cap)
        t->_want = cap;
    while (t->_nrecv < t->_want && !t->_paused && !uv_is_active((uv_handle_t *)&t->_timer)) {
        unsigned room = t->_room(t->_arg);
        if (room <= t->_reserved)
            return;
        room -= t->_reserved;
        const xacct_config_t *cfg = t->_ctx->cfg;
        /* An extra receive only for a whole batch: as messages finish one at
         * a time, asking for each freed slot would cost a round trip (a
         * signature, a TLS record, a JSON parse) per message. */
        if (t->_nrecv > 0 && room < (unsigned)cfg->queue_max_messages)
            return;
        unsigned max = (unsigned)cfg->queue_max_messages < room ? (unsigned)cfg->queue_max_messages
                                                                : room;
        receive_slot_t *slot = NULL;
        for (size_t i = 0; i < MAX_RECEIVES && slot == NULL; i++)
            if (!t->_recv[i].busy)
                slot = &t->_recv[i];
        if (slot == NULL)
            return;
        /* Reserved before the call: its callback finds the slot taken. */
        slot->busy = true;
        slot->asked = max;
        t->_reserved += max;
        t->_nrecv++;
        /* Only one long poll at a time: the others are short (wait 0), so
         * they come back at once when the backlog is gone instead of
         * lingering as long polls (a stopped worker would leave them
         * waiting in SQS, and an idle one would wake for each). */
        int wait_s = t->_nrecv == 1 ? cfg->queue_wait_seconds : 0;
        xacct_aws_call_t *call = NULL;
        int rc = xacct_sqs_receive(t->_ctx->aws, t->_queue_url, t->_region, (int)max, wait_s,
                                   cfg->queue_visibility_timeout, on_receive, slot, &call);
        if (rc != 0) {
            slot_release(slot);
            if (rc == XACCT_ESHUTDOWN)
                return;
            XACCT_LOG_ERROR(&t->_ctx->log, "sqs.receive_not_sent", "queue", t->_queue_url,
                            "error", xacct_errname(rc), NULL);
            uv_timer_start(&t->_timer, on_timer, xacct_backoff_next(&t->_backoff), 0);
            return;
        }
        if (slot->busy)
            slot->call = call;
    }
}

xacct_transport_t *xacct_transport_new(xacct_ctx_t *ctx, const xacct_transport_options_t *opts)
{
    xacct_transport_t *t = xacct_calloc(1, sizeof(*t));
    t->_ctx = ctx;
    t->_queue_url = xacct_strdup(opts->queue_url);
    t->_on_receive = opts->on_receive;
    t->_room = opts->room;
    t->_arg = opts->arg;
    t->_want = 1;
    for (size_t i = 0; i < MAX_RECEIVES; i++)
        t->_recv[i].t = t;
    xacct_sqs_queue_region(opts->queue_url, ctx->cfg->aws_region, t->_region);
    xacct_backoff_init(&t->_backoff, 500, 30000, NULL, NULL);
    uv_timer_init(ctx->loop, &t->_timer);
    uv_timer_init(ctx->loop, &t->_flush);
    return t;
}

const char *xacct_transport_queue_url(const xacct_transport_t *t)
{
    return t->_queue_url;
}

const char *xacct_transport_region(const xacct_transport_t *t)
{
    return t->_region;
}

bool xacct_transport_polling(const xacct_transport_t *t)
{
    return t->_nrecv > 0;
}

void xacct_transport_start(xacct_transport_t *t)
{
    poll_now(t);
}

void xacct_transport_kick(xacct_transport_t *t)
{
    poll_now(t);
}

void xacct_transport_stop(xacct_transport_t *t)
{
    t->_stopped = true;
    xacct_transport_pause(t);
}

/* The receives on the wire are left to answer: SQS goes on with a long
 * poll whose client hung up, and the messages it returns then would stay
 * invisible for the whole visibility timeout. Their answers still go to the
 * owner, which hands back what it does not want. */
void xacct_transport_pause(xacct_transport_t *t)
{
    t->_paused = true;
    uv_timer_stop(&t->_timer);
    t->_want = 1;
}

void xacct_transport_resume(xacct_transport_t *t)
{
    if (t->_stopped || !t->_paused)
        return;
    t->_paused = false;
    poll_now(t);
}

/* ---- batched deletes ---------------------------------------------------- */

typedef struct delete_batch {
    xacct_transport_delete_t *items[XACCT_SQS_MAX_BATCH];
    size_t n;
} delete_batch_t;

static void batch_done(delete_batch_t *b, int status, const char *detail, const int *results,
                       const char *const *codes, size_t n)
{
    for (size_t i = 0; i < b->n; i++) {
        int rc = status != 0 ? status : (i < n ? results[i] : XACCT_EAWS);
        const char *d = status != 0 ? detail : (i < n ? codes[i] : "missing");
        xacct_transport_delete_t *item = b->items[i];
        item->_cb(rc, d, item->_arg);
    }
    free(b);
}

static void on_deleted(int status, const char *detail, const int *results,
                       const char *const *codes, size_t n, void *arg)
{
    batch_done(arg, status, detail, results, codes, n);
}

static void flush(xacct_transport_t *t)
{
    while (t->_deletes != NULL) {
        delete_batch_t *b = xacct_calloc(1, sizeof(*b));
        const char *handles[XACCT_SQS_MAX_BATCH];
        while (t->_deletes != NULL && b->n < XACCT_SQS_MAX_BATCH) {
            xacct_transport_delete_t *d = t->_deletes;
            t->_deletes = d->_next;
            t->_ndeletes--;
            handles[b->n] = d->_receipt;
            b->items[b->n++] = d;
        }
        int rc = xacct_sqs_delete_batch(t->_ctx->aws, t->_queue_url, t->_region, handles, b->n,
                                        on_deleted, b);
        if (rc != 0)
            batch_done(b, rc, "DeleteMessageBatch not sent", NULL, NULL, 0);
    }
}

static void on_flush(uv_timer_t *timer)
{
    flush(xacct_container_of(timer, xacct_transport_t, _flush));
}

void xacct_transport_delete(xacct_transport_t *t, xacct_transport_delete_t *d,
                            const char *receipt_handle, xacct_transport_done_cb cb, void *arg)
{
    d->_receipt = receipt_handle;
    d->_cb = cb;
    d->_arg = arg;
    d->_next = t->_deletes;
    t->_deletes = d;
    t->_ndeletes++;
    /* A full batch goes at once; otherwise wait a moment for company. */
    if (t->_ndeletes >= XACCT_SQS_MAX_BATCH || t->_stopped)
        flush(t);
    else if (!uv_is_active((uv_handle_t *)&t->_flush))
        uv_timer_start(&t->_flush, on_flush, FLUSH_DELAY_MS, 0);
}

/* ---- visibility ----------------------------------------------------------- */

typedef struct vis_op {
    xacct_transport_done_cb cb;
    void *arg;
} vis_op_t;

static void on_visibility(int status, const char *detail, const int *results,
                          const char *const *codes, size_t n, void *arg)
{
    (void)codes;
    vis_op_t *op = arg;
    if (op->cb != NULL) {
        if (status == 0 && (n < 1 || results[0] != 0)) {
            status = XACCT_EAWS;
            detail = "entry failed";
        }
        op->cb(status, detail, op->arg);
    }
    free(op);
}

int xacct_transport_visibility(xacct_transport_t *t, const char *receipt_handle, int seconds,
                               xacct_transport_done_cb cb, void *arg)
{
    vis_op_t *op = xacct_calloc(1, sizeof(*op));
    op->cb = cb;
    op->arg = arg;
    const char *handles[1] = {receipt_handle};
    int rc = xacct_sqs_change_visibility_batch(t->_ctx->aws, t->_queue_url, t->_region, handles,
                                               1, seconds, on_visibility, op);
    if (rc != 0)
        free(op);
    return rc;
}

/* ---- lifetime ----------------------------------------------------------- */

static void on_close(uv_handle_t *h)
{
    xacct_transport_t *t = h->data;
    if (--t->_closing > 0)
        return;
    free(t->_queue_url);
    free(t);
}

void xacct_transport_free(xacct_transport_t *t)
{
    if (t == NULL)
        return;
    xacct_transport_stop(t);
    /* Only here are receives cancelled (their messages freed unseen). */
    for (size_t i = 0; i < MAX_RECEIVES; i++) {
        xacct_aws_call_t *call = t->_recv[i].call;
        slot_release(&t->_recv[i]);
        if (call != NULL)
            xacct_aws_cancel(call);
    }
    while (t->_deletes != NULL) {
        xacct_transport_delete_t *d = t->_deletes;
        t->_deletes = d->_next;
        t->_ndeletes--;
        d->_cb(XACCT_ECANCELED, "transport closed", d->_arg);
    }
    t->_closing = 2;
    t->_timer.data = t;
    t->_flush.data = t;
    uv_close((uv_handle_t *)&t->_timer, on_close);
    uv_close((uv_handle_t *)&t->_flush, on_close);
}
