/* SPDX-License-Identifier: MIT */
/*
 * Closing abandoned onboardings in Redis (SPEC §9.4). Three keys besides the
 * customer records:
 *
 *   pending        zset: account -> Unix ms its current onboarding began
 *                  (written by the onboard script; entries of customers that
 *                  left `pending` are dropped when they are next looked at)
 *   cleanup        zset: "<account>|<external_id>|<topic_arn>" -> Unix ms the
 *                  clean-up is next due: the template and the topic policy
 *                  still to be cleaned after an expiry or a cancel, an
 *                  onboarding given up or a rejected one started again, or
 *                  a topic the account left ('' for the part with nothing
 *                  to clean)
 *   cleanup:tries  hash: the same members -> failed clean-up attempts
 *
 * Closing a pending customer (expired or cancelled) is one script: the state
 * and updated_at, the external ID unindexed, the account taken out of its
 * topic:<arn> set, the customers zset, the audit event, the lifecycle event
 * in the outbox (XACCT_OUTBOX_LUA) and the cleanup entry, together or not at
 * all. What AWS must do afterwards (delete the template from S3, rewrite the
 * topic policy) is then durable work in the cleanup zset: workers take due
 * entries with a lease, like the reverify schedule (reverify.h), and an entry
 * leaves the zset only once both are done, so a worker killed half-way leaves
 * it to another.
 *
 * All strings passed in are copied; everything handed to callbacks is
 * borrowed for the duration of the callback.
 */
#ifndef XACCT_EXPIRY_H
#define XACCT_EXPIRY_H

#include <stddef.h>
#include <stdint.h>

#include "xacct/arn.h"
#include "xacct/codec.h"
#include "xacct/common.h"
#include "xacct/store.h"

#define XACCT_EXPIRY_MEMBER_MAX (16 + 64 + XACCT_ARN_MAX) /* a cleanup member, at most */
#define XACCT_EXPIRY_CANCEL_LEASE_MS 300000 /* a cancel's clean-up is left to its caller
                                               this long before workers take it */

/* ---- pure helpers ---------------------------------------------------------- */

/* The latest pending-since time that has expired at now_ms with a TTL of
 * ttl_s seconds; -1 when ttl_s is 0 or less (expiry is off). */
int64_t xacct_expiry_cutoff_ms(int64_t now_ms, long ttl_s);

/* One cleanup member, split. */
typedef struct xacct_expiry_cleanup {
    char account_id[16];      /* 12 digits */
    char external_id[64];     /* secret: names the template's S3 key; "" if none */
    char topic_arn[XACCT_ARN_MAX + 1]; /* the topic whose policy to rewrite; "" if none */
} xacct_expiry_cleanup_t;

/* Splits "<account>|<external_id>|<topic_arn>" into *out. XACCT_EINVAL when
 * it is not one (the account must be 12 digits). */
int xacct_expiry_cleanup_parse(const char *member, xacct_expiry_cleanup_t *out) XACCT_MUSTCHECK;

/* ---- expiry (xacctd) --------------------------------------------------------- */

/* status 0 with the number of customers expired, the number of pending
 * entries looked at (== max: more may be due) and the earliest pending-since
 * time left (-1: none); or a store error. */
typedef void (*xacct_expiry_take_cb)(int status, const char *detail, long long expired,
                                     long long looked_at, int64_t next_pending_ms, void *arg);

/*
 * Atomically expires up to max customers whose onboarding began at or before
 * cutoff_ms and that are still pending (others are dropped from the pending
 * zset), each with event (audit, required) and reason (the lifecycle event's
 * reason). Their cleanup entries are due at now_ms.
 */
int xacct_expiry_take(xacct_store_t *s, int64_t now_ms, int64_t cutoff_ms, size_t max,
                      const xacct_event_t *event, const char *reason, xacct_expiry_take_cb cb,
                      void *arg) XACCT_MUSTCHECK;

/* status 0 with the number of pending customers missing from the pending
 * zset that were put on it and the cursor to continue from (0: done). */
typedef void (*xacct_expiry_enrol_cb)(int status, const char *detail, long long enrolled,
                                      long long next_cursor, void *arg);

/* Puts pending customers missing from the pending zset (onboarded before
 * expiry existed) on it, with their last update as the start of their
 * onboarding; about batch customers per call, from cursor (a scan's: 0 to
 * start). Idempotent (ZADD NX). */
int xacct_expiry_enrol_missing(xacct_store_t *s, long long cursor, long long batch,
                               xacct_expiry_enrol_cb cb, void *arg) XACCT_MUSTCHECK;

/* ---- cancel (xacct cancel, DELETE /v1/customers/{id}) ------------------------ */

typedef enum xacct_expiry_cancel_result {
    XACCT_EXPIRY_CANCELLED = 1, /* pending -> cancelled now */
    XACCT_EXPIRY_ALREADY,       /* it was cancelled before: nothing changed */
} xacct_expiry_cancel_result_t;

/*
 * status 0 with the result and the cleanup member still outstanding for it
 * ("" when there is none: the clean-up was finished before); XACCT_ENOTFOUND;
 * XACCT_ESTATE with state naming the customer's state (anything but pending
 * or cancelled); or a store error.
 */
typedef void (*xacct_expiry_cancel_cb)(int status, const char *detail,
                                       xacct_expiry_cancel_result_t result, const char *state,
                                       const char *cleanup, void *arg);

/* Cancels account's pending onboarding in one script (see above), with the
 * audit event (required) and reason for the lifecycle event. The cleanup
 * entry is due after XACCT_EXPIRY_CANCEL_LEASE_MS: the caller cleans up at
 * once (cancel.h) and workers take over only if it could not. */
int xacct_expiry_cancel(xacct_store_t *s, const char *account_id, const xacct_event_t *event,
                        const char *reason, xacct_expiry_cancel_cb cb, void *arg) XACCT_MUSTCHECK;

/* ---- the cleanup zset ------------------------------------------------------- */

/* status 0 with up to max members due and the earliest due time left (-1:
 * none); or a store error. */
typedef void (*xacct_expiry_cleanup_take_cb)(int status, const char *detail,
                                             const char *const *members, size_t n,
                                             int64_t next_due_ms, void *arg);

/* Atomically takes up to max cleanup entries due at now_ms and moves them to
 * lease_until_ms, so that no other worker takes them meanwhile. */
int xacct_expiry_cleanup_take(xacct_store_t *s, int64_t now_ms, size_t max,
                              int64_t lease_until_ms, xacct_expiry_cleanup_take_cb cb,
                              void *arg) XACCT_MUSTCHECK;

/* status 0 (retry: with the delay chosen, -1 when the entry was gone). */
typedef void (*xacct_expiry_done_cb)(int status, const char *detail, long long delay_ms,
                                     void *arg);

/* The clean-up of member is finished: off the zset, its tries forgotten. */
int xacct_expiry_cleanup_done(xacct_store_t *s, const char *member, xacct_expiry_done_cb cb,
                              void *arg) XACCT_MUSTCHECK;

/* The clean-up of member failed: due again after a jittered exponential
 * backoff (1 s doubling to 10 min, from its count of tries). An entry
 * finished meanwhile by another worker is left alone. */
int xacct_expiry_cleanup_retry(xacct_store_t *s, const char *member, int64_t now_ms,
                               xacct_expiry_done_cb cb, void *arg) XACCT_MUSTCHECK;

#endif
