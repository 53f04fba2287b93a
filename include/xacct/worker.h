/* SPDX-License-Identifier: MIT */
/*
 * The worker: one transport per queue URL (transport.h) and the set of
 * messages in flight (at most queue.max_in_flight), each driven through the
 * pipeline (pipeline.h). It also writes the heartbeat `worker:<id>` to Redis.
 */
#ifndef XACCT_WORKER_H
#define XACCT_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include "xacct/common.h"
#include "xacct/ctx.h"

typedef struct xacct_worker xacct_worker_t;

typedef struct xacct_worker_stats {
    uint64_t received;   /* messages received */
    uint64_t processed;  /* messages finished and acknowledged */
    uint64_t failed;     /* requests answered FAILED */
    uint64_t dead;       /* messages moved to the dead set */
    uint64_t released;   /* messages released on shutdown */
    unsigned in_flight;  /* messages being worked on now */
    bool polling;        /* at least one receive is outstanding or scheduled */
    bool quiet;          /* SIGTSTP: no new receives */
} xacct_worker_stats_t;

/* Creates the worker from ctx (config, aws, store, verifier, log). */
int xacct_worker_new(xacct_ctx_t *ctx, xacct_worker_t **out) XACCT_MUSTCHECK;

/* Starts polling every queue. */
void xacct_worker_start(xacct_worker_t *w);

/* Stops fetching new messages; what is in flight finishes (SIGTSTP). */
void xacct_worker_quiet(xacct_worker_t *w);

/* Fetches again after xacct_worker_quiet (SIGCONT); nothing once draining. */
void xacct_worker_resume(xacct_worker_t *w);

/* Picks up a new configuration snapshot (SIGHUP); ctx->cfg already points
 * to it. */
void xacct_worker_reconfigure(xacct_worker_t *w);

/* Stops polling and calls cb once no message is in flight any more. */
void xacct_worker_drain(xacct_worker_t *w, void (*cb)(void *arg), void *arg);

/* Ends every message still in flight now: its work is cancelled, its
 * Redis claim released and its visibility set to 0 so another worker takes
 * it at once; cb fires when those calls have finished (or failed). */
void xacct_worker_release(xacct_worker_t *w, void (*cb)(void *arg), void *arg);

void xacct_worker_get_stats(const xacct_worker_t *w, xacct_worker_stats_t *out);

/* Cancels everything without waiting and frees the worker (its handles close
 * on the loop). NULL is a no-op. */
void xacct_worker_free(xacct_worker_t *w);

#endif
