/* SPDX-License-Identifier: MIT */
/*
 * One receive loop per queue: a single long poll outstanding while there is
 * room for more messages, asking for no more than that room; jittered
 * backoff after errors; nothing at all while the worker is full, quiet or
 * stopping (no busy loop when idle: the long poll is the only wake-up).
 * Finished messages' receipt handles are collected and deleted in batches
 * of up to ten.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker_int.h"
#include "xacct/metrics.h"

#define FLUSH_DELAY_MS 20

static void poll_now(xacct_poller_t *p);

static void on_timer(uv_timer_t *t)
{
    poll_now(xacct_container_of(t, xacct_poller_t, timer));
}

static void on_receive(int status, const char *detail, xacct_sqs_message_t **msgs, size_t n,
                       size_t corrupt, void *arg)
{
    xacct_poller_t *p = arg;
    xacct_worker_t *w = p->w;
    p->receive = NULL;
    if (status == XACCT_ECANCELED) {
        for (size_t i = 0; i < n; i++)
            xacct_sqs_message_free(msgs[i]);
        return;
    }
    if (status != 0) {
        uint64_t delay = xacct_backoff_next(&p->backoff);
        char ms[32];
        snprintf(ms, sizeof(ms), "%llu", (unsigned long long)delay);
        XACCT_LOG_WARN(&w->ctx->log, "sqs.receive_failed", "queue", p->queue_url, "error",
                       xacct_errname(status), "detail", detail ? detail : "", "retry_ms", ms,
                       NULL);
        uv_timer_start(&p->timer, on_timer, delay, 0);
        return;
    }
    xacct_backoff_reset(&p->backoff);
    xacct__worker_touch(w);
    if (corrupt > 0)
        XACCT_LOG_WARN(&w->ctx->log, "sqs.corrupt_message", "queue", p->queue_url, "detail",
                       "body does not match MD5OfBody; left to reappear", NULL);
    for (size_t i = 0; i < n; i++) {
        w->stats.received++;
        xacct_metrics_inc(w->ctx->metrics, XACCT_M_MSG_RECEIVED, p->queue_url, NULL);
        if (w->stopping) {
            /* Received while a shutdown began: hand it back at once. */
            (void)xacct__poller_visibility(p, msgs[i]->receipt_handle, 0, NULL, NULL);
            xacct_sqs_message_free(msgs[i]);
            continue;
        }
        xacct__msg_start(w, p, msgs[i]);
    }
    xacct__poller_kick(p);
}

static void poll_now(xacct_poller_t *p)
{
    xacct_worker_t *w = p->w;
    if (p->receive != NULL || w->stopping || w->stats.quiet || uv_is_active((uv_handle_t *)&p->timer))
        return;
    unsigned room = xacct__worker_room(w);
    if (room == 0)
        return;
    const xacct_config_t *cfg = w->ctx->cfg;
    int max = cfg->queue_max_messages < (int)room ? cfg->queue_max_messages : (int)room;
    int rc = xacct_sqs_receive(w->ctx->aws, p->queue_url, p->region, max, cfg->queue_wait_seconds,
                               cfg->queue_visibility_timeout, on_receive, p, &p->receive);
    if (rc != 0) {
        p->receive = NULL;
        if (rc == XACCT_ESHUTDOWN)
            return;
        XACCT_LOG_ERROR(&w->ctx->log, "sqs.receive_not_sent", "queue", p->queue_url, "error",
                        xacct_errname(rc), NULL);
        uv_timer_start(&p->timer, on_timer, xacct_backoff_next(&p->backoff), 0);
    }
}

void xacct__poller_kick(xacct_poller_t *p)
{
    poll_now(p);
}

xacct_poller_t *xacct__poller_new(xacct_worker_t *w, const char *queue_url)
{
    xacct_poller_t *p = xacct_calloc(1, sizeof(*p));
    p->w = w;
    p->queue_url = xacct_strdup(queue_url);
    xacct_sqs_queue_region(queue_url, w->ctx->cfg->aws_region, p->region);
    xacct_backoff_init(&p->backoff, 500, 30000, NULL, NULL);
    uv_timer_init(w->ctx->loop, &p->timer);
    uv_timer_init(w->ctx->loop, &p->flush);
    return p;
}

void xacct__poller_stop(xacct_poller_t *p)
{
    uv_timer_stop(&p->timer);
    if (p->receive != NULL) {
        xacct_aws_call_t *call = p->receive;
        p->receive = NULL;
        xacct_aws_cancel(call);
    }
}

static void on_close(uv_handle_t *h)
{
    xacct_poller_t *p = h->data;
    if (--p->closing > 0)
        return;
    free(p->queue_url);
    free(p);
}

void xacct__poller_close(xacct_poller_t *p)
{
    xacct__poller_stop(p);
    p->closing = 2;
    p->timer.data = p;
    p->flush.data = p;
    uv_close((uv_handle_t *)&p->timer, on_close);
    uv_close((uv_handle_t *)&p->flush, on_close);
}

/* ---- batched deletes ---------------------------------------------------- */

typedef struct delete_batch {
    xacct_poller_t *p;
    xacct_msg_t *msgs[XACCT_SQS_MAX_BATCH];
    size_t n;
} delete_batch_t;

static void on_deleted(int status, const char *detail, const int *results,
                       const char *const *codes, size_t n, void *arg)
{
    delete_batch_t *b = arg;
    b->p->deletes_in_flight--;
    for (size_t i = 0; i < b->n; i++) {
        int rc = status != 0 ? status : (i < n ? results[i] : XACCT_EAWS);
        const char *d = status != 0 ? detail : (i < n ? codes[i] : "missing");
        xacct__msg_deleted(b->msgs[i], rc, d);
    }
    free(b);
}

static void flush(xacct_poller_t *p)
{
    while (p->deletes != NULL) {
        delete_batch_t *b = xacct_calloc(1, sizeof(*b));
        b->p = p;
        const char *handles[XACCT_SQS_MAX_BATCH];
        while (p->deletes != NULL && b->n < XACCT_SQS_MAX_BATCH) {
            xacct_pending_delete_t *d = p->deletes;
            p->deletes = d->next;
            p->ndeletes--;
            b->msgs[b->n] = d->msg;
            free(d);
            b->n++;
        }
        for (size_t i = 0; i < b->n; i++)
            handles[i] = xacct__msg_receipt(b->msgs[i]);
        int rc = xacct_sqs_delete_batch(p->w->ctx->aws, p->queue_url, p->region, handles, b->n,
                                        on_deleted, b);
        if (rc != 0) {
            for (size_t i = 0; i < b->n; i++)
                xacct__msg_deleted(b->msgs[i], rc, "DeleteMessageBatch not sent");
            free(b);
        } else {
            p->deletes_in_flight++;
        }
    }
}

static void on_flush(uv_timer_t *t)
{
    flush(xacct_container_of(t, xacct_poller_t, flush));
}

void xacct__poller_delete(xacct_poller_t *p, xacct_msg_t *msg)
{
    xacct_pending_delete_t *d = xacct_calloc(1, sizeof(*d));
    d->msg = msg;
    d->next = p->deletes;
    p->deletes = d;
    p->ndeletes++;
    /* A full batch goes at once; otherwise wait a moment for company. */
    if (p->ndeletes >= XACCT_SQS_MAX_BATCH || p->w->stopping)
        flush(p);
    else if (!uv_is_active((uv_handle_t *)&p->flush))
        uv_timer_start(&p->flush, on_flush, FLUSH_DELAY_MS, 0);
}

typedef struct vis_op {
    xacct_sqs_batch_cb cb;
    void *arg;
} vis_op_t;

static void on_visibility(int status, const char *detail, const int *results,
                          const char *const *codes, size_t n, void *arg)
{
    vis_op_t *op = arg;
    if (op->cb != NULL)
        op->cb(status, detail, results, codes, n, op->arg);
    free(op);
}

int xacct__poller_visibility(xacct_poller_t *p, const char *receipt_handle, int seconds,
                             xacct_sqs_batch_cb cb, void *arg)
{
    vis_op_t *op = xacct_calloc(1, sizeof(*op));
    op->cb = cb;
    op->arg = arg;
    const char *handles[1] = {receipt_handle};
    int rc = xacct_sqs_change_visibility_batch(p->w->ctx->aws, p->queue_url, p->region, handles, 1,
                                               seconds, on_visibility, op);
    if (rc != 0)
        free(op);
    return rc;
}
