/* SPDX-License-Identifier: MIT */
/*
 * A leaderless sweeper of a shared due-zset, the part the re-verifier and the
 * expirer have in common: one timer per worker that, once per start, walks
 * the customers zset in batches to enrol what the zset is missing, then
 * takes due work in batches (the owner's take callback: a leased take, so no
 * other worker takes the same entries meanwhile), keeps at most max_running
 * jobs in flight, optionally paced by a token bucket (starts per second),
 * and sleeps until the next due time (at most a minute) when nothing is due,
 * so an idle worker does not poll Redis. SIGTERM stops taking; the sweeper
 * frees its owner (release) once the last store reply, job and handle close
 * have come back. The owner keeps only its own job: what to take, what to do
 * with it, what to log.
 */
#ifndef XACCT_SWEEPER_H
#define XACCT_SWEEPER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xacct/common.h"
#include "xacct/ctx.h"

typedef struct xacct_sweeper xacct_sweeper_t;

/* The owner's part. Every callback gets the owner pointer given to
 * xacct_sweeper_new and runs on the loop. The table is borrowed and must
 * outlive the sweeper (a static const). */
typedef struct xacct_sweeper_ops {
    const char *name; /* log event prefix, e.g. "expiry": "<name>.enrol_failed" */
    /* Starts one enrolment batch of at most `batch` customers from cursor;
     * 0 when started: its reply then calls xacct_sweeper_enrolled exactly
     * once. Not called again once a batch answered cursor 0, until the
     * sweeper has been switched off (paused_ms) and is back on, or rewalk
     * says so. */
    int (*enrol)(void *owner, long long cursor, size_t batch);
    /* NULL, or true when the customers must be walked again from the start
     * (a reload shortened the interval the schedule was made with); asked
     * before every take and between enrolment batches. */
    bool (*rewalk)(void *owner);
    /* Starts one take of at most `want` entries; 0 when started: exactly one
     * of xacct_sweeper_done / xacct_sweeper_failed follows (perhaps from
     * inside take). Without a rate, take is called even when want is 0 (all
     * job slots busy), for work that starts no job. */
    int (*take)(void *owner, size_t want);
    unsigned (*max_running)(void *owner); /* jobs in flight at most */
    double (*rate)(void *owner);          /* NULL: no pacing; else starts per second (> 0) */
    uint64_t (*paused_ms)(void *owner);   /* NULL, or > 0: switched off, look again then */
    uint64_t (*max_sleep_ms)(void *owner); /* NULL, or > 0: the longest idle sleep */
    void (*cancel)(void *owner);          /* NULL, or stop: cancel the jobs in flight */
    void (*release)(void *owner);         /* all is in: free the owner */
    uint64_t again_ms; /* least wait before a take when more is due at once */
    size_t enrol_batch; /* customers looked at per enrolment batch */
} xacct_sweeper_ops_t;

/* Creates a sweeper on ctx's loop (ctx, its store, AWS client and config are
 * borrowed and must outlive it) whose first tick comes after a second, so a
 * starting worker answers its messages first. The sweeper is freed with
 * xacct_sweeper_free, after which it calls ops->release; when it cannot be
 * made, ops->release is called at once. */
int xacct_sweeper_new(xacct_ctx_t *ctx, const xacct_sweeper_ops_t *ops, void *owner,
                      xacct_sweeper_t **out) XACCT_MUSTCHECK;

/* The reply of an enrolment batch: n customers enrolled, next the cursor of
 * the next batch (0: done). Returns true when the owner may go on (log what
 * it enrolled); false when the batch failed (logged, retried) or the sweeper
 * was stopped. */
bool xacct_sweeper_enrolled(xacct_sweeper_t *s, int status, const char *detail, long long next);

/* Ends a take: next_due_ms is when the next entry is due (-1: none known);
 * more says a batch was full and more is due at once. */
void xacct_sweeper_done(xacct_sweeper_t *s, int64_t next_due_ms, bool more);

/* Ends a take that failed: event names the failure to log (with status and
 * detail) and the sweeper retries after a while; event NULL means the store
 * call could not be made (the store is down) and nothing is logged. Quiet
 * when the sweeper was stopped meanwhile. */
void xacct_sweeper_failed(xacct_sweeper_t *s, const char *event, int status, const char *detail);

/* A job is started (it uses a token) / has finished, whatever its result. */
void xacct_sweeper_job_started(xacct_sweeper_t *s);
void xacct_sweeper_job_done(xacct_sweeper_t *s);

/* SIGTERM (or free) has come: take no more, and leave taken entries to their
 * lease. */
bool xacct_sweeper_stopped(const xacct_sweeper_t *s);

/* Job slots free now (0 when full). */
size_t xacct_sweeper_room(const xacct_sweeper_t *s);

/* Jobs in flight now. NULL: 0. */
unsigned xacct_sweeper_running(const xacct_sweeper_t *s);

/* The configuration was reloaded: looks again at once (a sweeper switched
 * off may be back on, a rate or interval changed) instead of at the next
 * tick it had planned. NULL or a stopped sweeper: nothing. */
void xacct_sweeper_reconfigured(xacct_sweeper_t *s);

/* Takes nothing more and calls ops->cancel. NULL or a second call does
 * nothing. */
void xacct_sweeper_stop(xacct_sweeper_t *s);

/* Stops (as above); once the last reply, job and the timer's close are in,
 * calls ops->release and frees the sweeper. Keep running the loop. NULL or a
 * second call does nothing. */
void xacct_sweeper_free(xacct_sweeper_t *s);

#endif
