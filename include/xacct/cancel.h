/* SPDX-License-Identifier: MIT */
/*
 * Closing an onboarding (SPEC §9.4), the core that `xacct cancel`, the
 * portal API's DELETE /v1/customers/{account_id} and the daemon's expiry run:
 *
 *  cancel: a pending customer becomes cancelled in one Redis script
 *  (expiry.h: external ID unindexed, account out of its topic set, events),
 *  then is cleaned up at once. Repeating it for a cancelled customer only
 *  finishes a clean-up that is still due, so `xacct cancel` can be retried;
 *  the API's DELETE refuses it instead (SPEC §7: 409 unless pending).
 *
 *  cleanup: what AWS must do after an expiry or a cancel, for one entry of
 *  the cleanup zset: delete the template from cloudformation.template_bucket
 *  (when set), rewrite the topic's policy from its Redis set under the
 *  region's lock (publish.h: other statements kept), then take the entry off
 *  the zset. A failure leaves the entry due again after a backoff, for any
 *  worker.
 *
 * Both run on ctx's loop with its store and AWS client (started). They
 * return 0 and then call cb exactly once, never from inside the call, or
 * XACCT_EINVAL (missing or malformed argument) without calling it.
 */
#ifndef XACCT_CANCEL_H
#define XACCT_CANCEL_H

#include <stdbool.h>

#include "xacct/common.h"
#include "xacct/ctx.h"

/* What a cancel did; strings borrowed for the callback. */
typedef struct xacct_cancel_result {
    const char *account_id;
    const char *state;   /* "cancelled", or the state that refused (XACCT_ESTATE) */
    bool already;        /* it was cancelled before: no new event */
    bool cleaned;        /* template and topic policy are clean */
} xacct_cancel_result_t;

/*
 * status 0: the customer is cancelled; res->cleaned false when the clean-up
 * failed (detail says why; the cleanup entry stays due and workers finish
 * it). Otherwise nothing changed: XACCT_ENOTFOUND; XACCT_ESTATE (not
 * pending: res->state says what it is); a store error. detail is one line.
 */
typedef void (*xacct_cancel_cb)(int status, const char *detail, const xacct_cancel_result_t *res,
                                void *arg);

/* Cancels account's pending onboarding; actor names who asked in the
 * audit trail ("cli", an API token's name). */
int xacct_cancel_onboarding(xacct_ctx_t *ctx, const char *account, const char *actor,
                            xacct_cancel_cb cb, void *arg) XACCT_MUSTCHECK;

/* The same, except that a customer already cancelled is refused like every
 * other state but pending (XACCT_ESTATE, res->state "cancelled"), and nothing
 * is done for it: a clean-up still due is left to the workers. */
int xacct_cancel_pending_only(xacct_ctx_t *ctx, const char *account, const char *actor,
                              xacct_cancel_cb cb, void *arg) XACCT_MUSTCHECK;

typedef void (*xacct_cancel_done_cb)(int status, const char *detail, void *arg);

/* Cleans up after one cleanup member (expiry.h). status 0, or the failing
 * step's status with a one-line detail (the entry was rescheduled). */
int xacct_cancel_cleanup(xacct_ctx_t *ctx, const char *member, xacct_cancel_done_cb cb,
                         void *arg) XACCT_MUSTCHECK;

#endif
