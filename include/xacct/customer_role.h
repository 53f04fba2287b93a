/* SPDX-License-Identifier: MIT */
/*
 * The partner's access to a customer's role while a rotation is pending
 * (SPEC §9.3): AssumeRole with whichever of the customer's external IDs the
 * role trusts. CloudFormation changes the role's trust policy to the pending
 * ID before it sends the Update that makes xacct swap the IDs, so for a while
 * (seconds, or much longer when that Update waits in the queue or the stack
 * update fails after the role was changed) only the pending ID works.
 *
 * Every path by which the partner uses the role goes through here: the safety
 * check's first probe (check.h, so re-verification and `xacct check`),
 * `xacct console` and `xacct credentials` (call xacct_customer_role_assume
 * instead of xacct_sts_assume_role, with the customer's external_id in
 * p->external_id and its pending_external_id beside it). The rule: the
 * current ID first; the pending ID only when the role answered AccessDenied
 * to the current one and a rotation is pending. Never the pending ID first,
 * never without a rotation pending, and no second call after any other error
 * (a transient error stays transient for the caller's retry). This changes
 * nothing in the store: only the stack's Update swaps the IDs.
 */
#ifndef XACCT_CUSTOMER_ROLE_H
#define XACCT_CUSTOMER_ROLE_H

#include "xacct/aws.h"
#include "xacct/common.h"
#include "xacct/sts.h"

typedef enum xacct_customer_role_id {
    XACCT_CUSTOMER_ROLE_CURRENT = 0, /* the customer's external_id */
    XACCT_CUSTOMER_ROLE_PENDING,     /* the rotation's pending_external_id */
} xacct_customer_role_id_t;

/* "current" or "pending" (static), for logs and output; never the ID. */
const char *xacct_customer_role_id_name(xacct_customer_role_id_t id);

/*
 * Fires exactly once, never from inside xacct_customer_role_assume. status,
 * detail and creds as xacct_sts_assume_cb (creds borrowed, wiped right after
 * the callback returns). used is the ID of the last AssumeRole made: PENDING
 * means the current ID was refused and the pending one was tried, so with
 * status 0 the role already trusts the pending ID; with XACCT_EACCESSDENIED
 * it refused both.
 */
typedef void (*xacct_customer_role_cb)(int status, const char *detail,
                                       const xacct_sts_credentials_t *creds,
                                       xacct_customer_role_id_t used, void *arg);

typedef struct xacct_customer_role_op xacct_customer_role_op_t;

/*
 * Starts AssumeRole as p says, with p->external_id the customer's current
 * external ID (required), falling back to pending_external_id (NULL or "":
 * no rotation pending, one call at most) as above. Everything is copied (the
 * IDs wiped when the operation ends). *handle (optional) may be passed to
 * xacct_customer_role_cancel until the callback has fired. Returns 0,
 * XACCT_EINVAL, or xacct_sts_assume_role's errors; the callback then never
 * fires.
 */
int xacct_customer_role_assume(xacct_aws_t *aws, const xacct_sts_assume_params_t *p,
                               const char *pending_external_id, xacct_customer_role_cb cb,
                               void *arg, xacct_customer_role_op_t **handle) XACCT_MUSTCHECK;

/* Cancels: the callback fires with XACCT_ECANCELED before this returns. */
void xacct_customer_role_cancel(xacct_customer_role_op_t *op);

#endif
