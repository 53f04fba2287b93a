/* SPDX-License-Identifier: MIT */
/*
 * Create and Update share one decision: the ownership rules, then the safety
 * check, then active or rejected.
 *
 * Physical IDs: a successful answer always carries the stable
 * "xacct-<account>", so an Update never replaces the resource. A FAILED
 * Create carries a per-request id instead: CloudFormation's rollback then
 * sends a Delete naming that id, which can never be mistaken for the active
 * customer's resource and so never offboards it.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "xacct/handlers.h"
#include "xacct/utf8.h"

/* Ids are cut on character boundaries: half a character would make the
 * answer impossible to build. */
static void failed_id(const xacct_cfn_request_t *req, xacct_decision_t *out)
{
    if (req->type == XACCT_CFN_UPDATE && req->physical_id != NULL) {
        xacct_utf8_copy(out->physical_id, sizeof(out->physical_id), req->physical_id);
        return;
    }
    int n = snprintf(out->physical_id, sizeof(out->physical_id), "xacct-%s-failed-",
                     req->stack_account);
    size_t room = sizeof(out->physical_id) - (size_t)n;
    xacct_utf8_copy(out->physical_id + n, room < 201 ? room : 201, req->request_id);
}

static void fail(const xacct_cfn_request_t *req, xacct_decision_t *out, const char *event,
                 const char *reason)
{
    out->action = XACCT_ACT_ANSWER;
    out->status = XACCT_CFN_FAILED;
    out->event = event;
    out->outcome = "failed";
    snprintf(out->reason, sizeof(out->reason), "%s", reason);
    failed_id(req, out);
}

void xacct__handler_activate_decide(const xacct_cfn_request_t *req,
                                    const xacct_customer_t *customer,
                                    xacct_decision_t *out)
{
    memset(out, 0, sizeof(*out));
    const char *event = req->type == XACCT_CFN_CREATE ? "create" : "update";
    char reason[512];
    if (!xacct_cfn_check_ownership(req, customer != NULL,
                                   customer ? customer->external_id : NULL, reason,
                                   sizeof(reason))) {
        fail(req, out, event, reason);
        return;
    }
    xacct_customer_state_t st = customer->state;
    /* degraded: re-verification found the role broken; an Update that fixes
     * it makes the customer active again. */
    bool connected = st == XACCT_CUSTOMER_ACTIVE || st == XACCT_CUSTOMER_DEGRADED;
    /* An abandoned onboarding (SPEC §9.4): its link is dead; only a new
     * onboarding (a new external ID) can connect the account. */
    if (req->type == XACCT_CFN_CREATE &&
        (st == XACCT_CUSTOMER_EXPIRED || st == XACCT_CUSTOMER_CANCELLED)) {
        fail(req, out, event, XACCT_HANDLER_EXPIRED_REASON);
        return;
    }
    if (st != XACCT_CUSTOMER_PENDING && !connected && st != XACCT_CUSTOMER_REJECTED) {
        snprintf(reason, sizeof(reason),
                 "account %s is %s; the partner must onboard it again before a stack can "
                 "connect",
                 req->stack_account, xacct_customer_state_name(st));
        fail(req, out, event, reason);
        return;
    }
    if (connected && customer->stack_id[0] != '\0' &&
        strcmp(customer->stack_id, req->stack_id) != 0) {
        snprintf(reason, sizeof(reason),
                 "account %s is already connected through stack %.300s; update or delete that "
                 "stack instead",
                 req->stack_account, customer->stack_id);
        fail(req, out, event, reason);
        return;
    }
    out->action = XACCT_ACT_CHECK;
    out->event = event;
}

void xacct__handler_activate_after_check(const xacct_cfn_request_t *req,
                                         const xacct_customer_t *customer,
                                         xacct_check_result_t result, const char *detail,
                                         xacct_decision_t *out)
{
    memset(out, 0, sizeof(*out));
    const char *event = req->type == XACCT_CFN_CREATE ? "create" : "update";
    out->action = XACCT_ACT_ANSWER;
    out->event = event;
    switch (result) {
    case XACCT_CHECK_SECURE:
        out->status = XACCT_CFN_SUCCESS;
        out->outcome = "success";
        /* active -> active is an Update's transition; a repeated Create of
         * the same stack (a new RequestId) is answered and audited only. */
        if (!(req->type == XACCT_CFN_CREATE && customer->state == XACCT_CUSTOMER_ACTIVE)) {
            out->transition = true;
            out->to_state = XACCT_CUSTOMER_ACTIVE;
            out->connect_stack = true;
            /* The template has served its purpose once a Create connected. */
            out->cleanup_template = req->type == XACCT_CFN_CREATE;
        }
        snprintf(out->physical_id, sizeof(out->physical_id), "xacct-%s", req->stack_account);
        snprintf(out->reason, sizeof(out->reason), "%s", detail ? detail : "verified");
        return;
    case XACCT_CHECK_INSECURE:
    case XACCT_CHECK_NOT_ASSUMABLE:
        fail(req, out, "rejected", detail ? detail : "safety check failed");
        /* Only a pending customer becomes rejected. An active one stays
         * active when an Update breaks its role (CloudFormation rolls the
         * FAILED Update back to the verified role), and a rejected one
         * simply stays rejected. */
        if (customer->state == XACCT_CUSTOMER_PENDING) {
            out->transition = true;
            out->to_state = XACCT_CUSTOMER_REJECTED;
        }
        return;
    case XACCT_CHECK_ERROR:
    case XACCT_CHECK_TRANSIENT:
    case XACCT_CHECK_CANCELED:
        fail(req, out, event, detail ? detail : "safety check could not run");
        return;
    }
}
