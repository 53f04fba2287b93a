/* SPDX-License-Identifier: MIT */
/*
 * Internals shared by worker.c (the set of messages in flight), poller.c
 * (one receive loop per queue) and queue.c (one message's pipeline).
 */
#ifndef XACCT_WORKER_INT_H
#define XACCT_WORKER_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "xacct/backoff.h"
#include "xacct/cfn.h"
#include "xacct/check.h"
#include "xacct/handlers.h"
#include "xacct/claims.h"
#include "xacct/customers.h"
#include "xacct/dead.h"
#include "xacct/jobs.h"
#include "xacct/heartbeats.h"
#include "xacct/sns_verify.h"
#include "xacct/sqs.h"
#include "xacct/worker.h"

typedef struct xacct_poller xacct_poller_t;
typedef struct xacct_msg xacct_msg_t;

/* A receipt handle waiting to be deleted in the next DeleteMessageBatch. */
typedef struct xacct_pending_delete {
    xacct_msg_t *msg;                    /* finished when the delete answers */
    struct xacct_pending_delete *next;
} xacct_pending_delete_t;

struct xacct_poller {
    xacct_worker_t *w;
    char *queue_url;                     /* owned */
    char region[32];                     /* queue's region */
    xacct_aws_call_t *receive;           /* ReceiveMessage in flight, or NULL */
    uv_timer_t timer;                    /* backoff after errors / restart */
    xacct_backoff_t backoff;
    uv_timer_t flush;                    /* sends the delete batch */
    xacct_pending_delete_t *deletes;     /* batch being collected */
    size_t ndeletes;
    unsigned deletes_in_flight;          /* DeleteMessageBatch calls outstanding */
    int closing;                         /* handles still closing */
};

struct xacct_worker {
    xacct_ctx_t *ctx;                    /* borrowed */
    xacct_poller_t **pollers;            /* one per queue URL */
    size_t npollers;
    xacct_msg_t *msgs;                   /* messages in flight (doubly linked) */
    unsigned in_flight;
    xacct_worker_stats_t stats;
    uv_timer_t heartbeat;                /* worker:<id> in Redis */
    uint64_t last_beat;                  /* uv_now() of the last heartbeat */
    bool stopping;                       /* drain or release began: no new receives */
    void (*drained_cb)(void *);          /* fires when in_flight reaches 0 */
    void *drained_arg;
    void (*released_cb)(void *);         /* fires when releases have finished */
    void *released_arg;
    unsigned releases;                   /* release calls outstanding */
    bool freeing;
    int closing;                         /* handles still closing */
};

/* poller.c */
xacct_poller_t *xacct__poller_new(xacct_worker_t *w, const char *queue_url);
void xacct__poller_kick(xacct_poller_t *p);   /* poll if there is room */
void xacct__poller_stop(xacct_poller_t *p);   /* cancel the receive in flight */
void xacct__poller_close(xacct_poller_t *p);  /* frees once its handles closed */
/* Queues msg's receipt handle for deletion; xacct__msg_deleted follows. */
void xacct__poller_delete(xacct_poller_t *p, xacct_msg_t *msg);
/* Sets the visibility of one message (heartbeat, release). */
int xacct__poller_visibility(xacct_poller_t *p, const char *receipt_handle, int seconds,
                             xacct_sqs_batch_cb cb, void *arg);

/* queue.c */
void xacct__msg_start(xacct_worker_t *w, xacct_poller_t *p, xacct_sqs_message_t *m);
void xacct__msg_deleted(xacct_msg_t *msg, int status, const char *detail);
const char *xacct__msg_receipt(const xacct_msg_t *msg);
/* Cancels the message's work, releases its claim and visibility. */
void xacct__msg_release(xacct_msg_t *msg);
/* Cancels without releasing (worker freed). */
void xacct__msg_abort(xacct_msg_t *msg);

/* worker.c */
unsigned xacct__worker_room(const xacct_worker_t *w);
void xacct__worker_add(xacct_worker_t *w, xacct_msg_t *msg);
void xacct__worker_remove(xacct_worker_t *w, xacct_msg_t *msg);
void xacct__worker_release_done(xacct_worker_t *w);
/* A receive completed or work arrived: sends the heartbeat if one is due
 * and sets the timer to the pace that fits the work in flight. */
void xacct__worker_touch(xacct_worker_t *w);
/* Intrusive list links, kept in queue.c's struct. */
xacct_msg_t **xacct__msg_next(xacct_msg_t *m);
xacct_msg_t **xacct__msg_prev(xacct_msg_t *m);

#endif
