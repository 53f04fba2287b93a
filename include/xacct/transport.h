/* SPDX-License-Identifier: MIT */
/*
 * The transport: one SQS queue seen as receive, extend visibility, delete
 * and release. A receive loop keeps one long poll outstanding while its
 * owner has room, asking for no more than that room, with jittered backoff
 * after errors and nothing at all while stopped (no busy loop when idle: the
 * long poll is the only wake-up). With queue.receivers above 1, while
 * receives come back full it keeps more of them outstanding (doubling up to
 * queue.receivers, each for a whole batch of room, all but one short polls)
 * and drops back to one on the first empty answer or error: one round trip
 * per ten messages caps a worker at 200 messages a second against an
 * endpoint 50 ms away. Deletes are collected and sent in batches of up to
 * ten. The transport knows nothing of what a message means: what it
 * receives goes up through the callbacks it was given, and it is told what
 * to do with a receipt handle.
 */
#ifndef XACCT_TRANSPORT_H
#define XACCT_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "xacct/ctx.h"
#include "xacct/sqs.h"

typedef struct xacct_transport xacct_transport_t;

/* A receive answered: msgs[0..n) (n may be 0) pass to the callback, which
 * frees each with xacct_sqs_message_free; the array is borrowed. */
typedef void (*xacct_transport_receive_cb)(xacct_transport_t *t, xacct_sqs_message_t **msgs,
                                           size_t n, void *arg);
/* How many more messages the owner can take now (0: do not poll). */
typedef unsigned (*xacct_transport_room_cb)(void *arg);
/* One visibility change or delete finished: status 0, or the call's or the
 * entry's error (detail borrowed for the callback). */
typedef void (*xacct_transport_done_cb)(int status, const char *detail, void *arg);

typedef struct xacct_transport_options {
    const char *queue_url;                 /* copied */
    xacct_transport_receive_cb on_receive; /* required */
    xacct_transport_room_cb room;          /* required */
    void *arg;                             /* passed to both */
} xacct_transport_options_t;

/* A delete waiting for its batch; storage the caller provides and keeps
 * until cb has fired (fields are the transport's). */
typedef struct xacct_transport_delete {
    const char *_receipt;                  /* borrowed until cb */
    xacct_transport_done_cb _cb;
    void *_arg;
    struct xacct_transport_delete *_next;  /* in the batch being collected */
} xacct_transport_delete_t;

/* ctx (loop, aws, cfg, log, metrics) is borrowed and must outlive it. */
xacct_transport_t *xacct_transport_new(xacct_ctx_t *ctx, const xacct_transport_options_t *opts);

const char *xacct_transport_queue_url(const xacct_transport_t *t); /* borrowed */
const char *xacct_transport_region(const xacct_transport_t *t);    /* borrowed */
/* A receive is outstanding (also after a pause or stop, until it answers). */
bool xacct_transport_polling(const xacct_transport_t *t);

/* Polls if there is room and none is outstanding. */
void xacct_transport_start(xacct_transport_t *t);
/* Polls if there is room, unless paused or stopped (room freed up, config
 * reloaded). */
void xacct_transport_kick(xacct_transport_t *t);
/* Polls no more (SIGTSTP). Receives on the wire are not cancelled (SQS
 * would go on with them): their answers still reach on_receive, n 0 when
 * one failed. */
void xacct_transport_pause(xacct_transport_t *t);
/* Polls again after a pause (SIGCONT); a stopped transport stays stopped. */
void xacct_transport_resume(xacct_transport_t *t);
/* Pauses, and from now on deletes go out at once instead of waiting for a
 * batch (shutdown). */
void xacct_transport_stop(xacct_transport_t *t);

/* Deletes receipt_handle in the next batch (at once when ten are waiting or
 * the transport is stopped); cb fires exactly once. receipt_handle is
 * borrowed until then. */
void xacct_transport_delete(xacct_transport_t *t, xacct_transport_delete_t *d,
                            const char *receipt_handle, xacct_transport_done_cb cb, void *arg);

/* Sets one message's visibility to seconds (extend: the visibility timeout;
 * release: 0). cb may be NULL (fire and forget: a failure only means the
 * message reappears later); otherwise it fires exactly once unless this
 * returns an error. The receipt handle is copied. */
int xacct_transport_visibility(xacct_transport_t *t, const char *receipt_handle, int seconds,
                               xacct_transport_done_cb cb, void *arg);

/* Stops and frees once its handles have closed (run the loop). Receives on
 * the wire are cancelled; deletes still collected fire with
 * XACCT_ECANCELED. NULL is a no-op. */
void xacct_transport_free(xacct_transport_t *t);

#endif
