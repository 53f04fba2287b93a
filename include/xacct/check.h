/* SPDX-License-Identifier: MIT */
/*
 * The safety check (SPEC §4 step 5, §9.1), the confused-deputy guard, as
 * three AssumeRole probes: (a) WITH the external ID, retried on AccessDenied
 * until the propagation timeout (IAM is eventually consistent, so a new role
 * is not assumable at once); then (b) WITHOUT an external ID and (c) with a
 * random WRONG one, both of which must be denied. (c) catches trust policies
 * such as StringLike "*" or Null "false" that demand some external ID but not
 * this one. The order is the point: a denial before the role has propagated
 * proves nothing. The one module used by Create, Update, re-verification and
 * `xacct check`. Credentials obtained are dropped at once, never kept or
 * logged.
 *
 * While a rotation is pending, re-verification and `xacct check` pass the
 * pending ID too: probe (a) then goes through customer_role.h (the current ID
 * first, the pending one when the role refuses it); (b) and (c) are the same
 * either way. The worker's Create and Update pass none: they check the ID the
 * request carries.
 */
#ifndef XACCT_CHECK_H
#define XACCT_CHECK_H

#include <stdint.h>
#include <uv.h>

#include "xacct/aws.h"
#include "xacct/common.h"
#include "xacct/customer_role.h"

typedef enum xacct_check_result {
    XACCT_CHECK_SECURE = 0,     /* assumable with the ID, denied without and with a wrong one */
    XACCT_CHECK_INSECURE,       /* assumable without an external ID or with a wrong one:
                                   reject; detail names the probe(s) that got in */
    XACCT_CHECK_NOT_ASSUMABLE,  /* never assumable with the ID within the timeout */
    XACCT_CHECK_ERROR,          /* a permanent AWS error (detail says which) */
    XACCT_CHECK_TRANSIENT,      /* transient failures until the deadline */
    XACCT_CHECK_CANCELED,       /* xacct_check_cancel */
} xacct_check_result_t;

const char *xacct_check_result_name(xacct_check_result_t r);

typedef struct xacct_check_params {
    const char *role_arn;          /* copied */
    const char *external_id;       /* copied, wiped when the check ends */
    const char *region;            /* STS region; NULL = the client's */
    const char *session_name;      /* copied; NULL = "xacct-check" */
    uint64_t propagation_timeout_ms; /* how long AccessDenied WITH the ID is retried */
    uint64_t deadline_ms;          /* uv_now() value after which transient failures
                                      give up (0 = propagation timeout + 5 min) */
    uint64_t retry_base_ms;        /* 0 = 500 */
    uint64_t retry_max_ms;         /* 0 = 5000 */
    const char *pending_external_id;   /* a rotation's pending ID (copied, wiped), tried by
                                          probe (a) when the role refuses external_id;
                                          NULL or "" = none */
    xacct_customer_role_id_t *trusted; /* optional, the caller's: set before the callback
                                          fires to the ID probe (a) got in with (CURRENT
                                          when it never got in) */
} xacct_check_params_t;

/* Fires exactly once, never from inside xacct_check_start. attempts is the
 * number of attempts of probe (a) (with a rotation pending, one attempt may
 * be two AssumeRole calls). detail is borrowed. */
typedef void (*xacct_check_cb)(xacct_check_result_t result, const char *detail,
                               unsigned attempts, void *arg);

typedef struct xacct_check xacct_check_t;

/* Starts a check on loop through aws. *out (optional) is valid until the
 * callback fires. Returns 0, XACCT_EINVAL, or XACCT_ECRYPTO (no random wrong
 * ID: the RNG failed). */
int xacct_check_start(uv_loop_t *loop, xacct_aws_t *aws, const xacct_check_params_t *p,
                      xacct_check_cb cb, void *arg, xacct_check_t **out) XACCT_MUSTCHECK;

/* Ends the check: the callback fires with XACCT_CHECK_CANCELED before this
 * returns. Memory is released from a close callback, so keep the loop
 * running afterwards. */
void xacct_check_cancel(xacct_check_t *c);

#endif
