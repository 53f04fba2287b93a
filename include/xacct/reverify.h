/* SPDX-License-Identifier: MIT */
/*
 * The re-verification schedule in Redis (SPEC §5, §9.2): the `reverify` zset
 * maps each active or degraded account to the Unix millisecond time its role
 * is due to be checked again. Workers share it without a leader: one script
 * takes the due accounts atomically and moves their scores forward (a lease,
 * so no other worker takes them meanwhile, and a worker that dies only
 * delays them), another records the outcome and schedules the next check.
 * The customer's state, verified_at, last_error and audit event change in
 * that same script.
 *
 * All strings passed in are copied; everything handed to callbacks is
 * borrowed for the duration of the callback.
 */
#ifndef XACCT_REVERIFY_H
#define XACCT_REVERIFY_H

#include <stddef.h>
#include <stdint.h>

#include "xacct/codec.h"
#include "xacct/common.h"
#include "xacct/store.h"

/*
 * Lua for other scripts that change a customer's state (customers_apply.c):
 * reverify_enroll(zset_key, account, due_ms) puts an activated account on the
 * schedule (due_ms '' does nothing: re-verification is off);
 * reverify_drop(zset_key, account) takes it off (offboarding).
 */
#define XACCT__REVERIFY_LUA                                                      \
    "local function reverify_enroll(zkey, account, due)\n"                      \
    "  if due ~= '' then redis.call('ZADD', zkey, due, account) end\n"          \
    "end\n"                                                                      \
    "local function reverify_drop(zkey, account) redis.call('ZREM', zkey, account) end\n"

/*
 * The next due time: now_ms + interval_s seconds scaled by a random factor
 * in [1 - spread, 1 + spread] (spread 0..1), so that customers activated
 * together are not all due together. 0 when interval_s is 0 (off).
 */
int64_t xacct_reverify_next_due(int64_t now_ms, long interval_s, double spread);

/* One account taken for re-verification (every string borrowed). */
typedef struct xacct_reverify_item {
    const char *account_id;
    const char *state;       /* active or degraded */
    const char *role_arn;
    const char *external_id; /* secret: never log it */
    const char *region;      /* "" when unknown */
    const char *pending_external_id; /* secret: a rotation's pending ID, "" when none */
    const char *last_request_id; /* the record's, "" when none (xacct_reverify_record_t) */
} xacct_reverify_item_t;

/* status 0 with up to max items and the score of the earliest account still
 * on the schedule (-1 when it is empty); or a store error. */
typedef void (*xacct_reverify_take_cb)(int status, const char *detail,
                                       const xacct_reverify_item_t *items, size_t n,
                                       int64_t next_due_ms, void *arg);

/*
 * Atomically takes at most max accounts due at now_ms and moves each one's
 * score to lease_until_ms. Accounts whose record is gone or no longer active
 * or degraded are removed from the schedule instead of being returned.
 */
int xacct_reverify_take(xacct_store_t *s, int64_t now_ms, size_t max, int64_t lease_until_ms,
                        xacct_reverify_take_cb cb, void *arg) XACCT_MUSTCHECK;

typedef enum xacct_reverify_outcome {
    XACCT_REVERIFY_SECURE = 0, /* the three probes passed: verified_at (degraded -> active) */
    XACCT_REVERIFY_DRIFTED,    /* deleted, not assumable, or open to a probe: -> degraded */
    XACCT_REVERIFY_UNKNOWN,    /* transient or our own error: only the next due time */
} xacct_reverify_outcome_t;

typedef enum xacct_reverify_result {
    XACCT_REVERIFY_VERIFIED = 1,   /* active and secure: verified_at written */
    XACCT_REVERIFY_RECOVERED,      /* degraded -> active */
    XACCT_REVERIFY_DEGRADED,       /* active -> degraded */
    XACCT_REVERIFY_STILL_DEGRADED, /* degraded, last_error refreshed */
    XACCT_REVERIFY_RESCHEDULED,    /* UNKNOWN: nothing but the due time changed */
    XACCT_REVERIFY_STALE,          /* role or external ID changed during the check: due now */
    XACCT_REVERIFY_GONE,           /* no longer active or degraded: off the schedule */
} xacct_reverify_result_t;

typedef struct xacct_reverify_record {
    const char *account_id;      /* required */
    const char *role_arn;        /* the role that was checked (required) */
    const char *external_id;     /* the record's external_id when it was taken
                                    (required, secret) */
    const char *pending_external_id; /* its pending_external_id then (secret; NULL or ""
                                        = none): the check may have got in with it
                                        (customer_role.h) */
    const char *last_request_id; /* the record's last_request_id when it was taken
                                    (item's); NULL = not compared. An Update that
                                    verified the role meanwhile changed it, and the
                                    outcome of the older check is then STALE */
    xacct_reverify_outcome_t outcome;
    const char *reason;          /* DRIFTED: written as last_error */
    int64_t next_due_ms;         /* the account's next score (required > 0) */
    const xacct_event_t *degraded_event;  /* audit event for active -> degraded */
    const xacct_event_t *recovered_event; /* audit event for degraded -> active */
    const xacct_event_t *pending_trusted_event; /* SECURE with the pending ID (the role
                                                   already trusts it instead of the current
                                                   one): audit event, nothing else is
                                                   recorded for it; NULL = with the current
                                                   ID */
    int64_t now_ms;              /* 0 = now */
} xacct_reverify_record_t;

/* status 0 with the result; or a store error. */
typedef void (*xacct_reverify_record_cb)(int status, const char *detail,
                                         xacct_reverify_result_t result, void *arg);

/* Records the outcome of one re-verification in one script (see the result
 * values). The change applies only while the record still has the role ARN,
 * external ID, pending external ID and (when given) last request id it had
 * when it was taken (else STALE).
 * XACCT_EINVAL for missing fields. */
int xacct_reverify_record(xacct_store_t *s, const xacct_reverify_record_t *in,
                          xacct_reverify_record_cb cb, void *arg) XACCT_MUSTCHECK;

const char *xacct_reverify_result_name(xacct_reverify_result_t r);

/* status 0 with the number of accounts put on the schedule (or brought
 * forward) and the cursor to continue from (0 when the customers zset has
 * been walked to its end). */
typedef void (*xacct_reverify_enrol_cb)(int status, const char *detail, long long enrolled,
                                        long long next_cursor, void *arg);

/*
 * Puts connected customers that are missing from the schedule (activated
 * before re-verification existed, or while the schedule was lost) on it,
 * due at a random time within the next interval_s seconds. A connected
 * customer already on it but due after latest_due_ms (> 0) — scheduled under
 * a longer interval than today's — is brought forward the same way, so a
 * shortened interval applies to it now rather than after the old one; 0
 * leaves scheduled customers alone. Scans the customers zset from cursor
 * (0 to start), about batch accounts per call. Idempotent, so workers that
 * start together may all run it.
 */
int xacct_reverify_enrol_missing(xacct_store_t *s, long long cursor, long long batch,
                                 long interval_s, int64_t latest_due_ms,
                                 xacct_reverify_enrol_cb cb, void *arg) XACCT_MUSTCHECK;

#endif
