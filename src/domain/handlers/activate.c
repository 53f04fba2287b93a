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
 *
 * Rotation (SPEC §9.3): while a connected customer has a pending external ID,
 * an Update may carry either ID. With the current one it is handled exactly
 * as before; with the pending one the check runs with the pending ID and a
 * pass swaps it in (the store does that atomically), while a failure leaves
 * the current ID in place. Only an Update can prove the new ID: a Create or a
 * Delete (delete.c) is checked against the current ID alone.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "xacct/extid.h"
#include "xacct/handlers.h"

static void fail(const xacct_cfn_request_t *req, xacct_decision_t *out, const char *event,
                 const char *reason)
{
    out->action = XACCT_ACT_ANSWER;
    out->status = XACCT_CFN_FAILED;
    out->event = event;
    out->outcome = "failed";
    snprintf(out->reason, sizeof(out->reason), "%s", reason);
    xacct__handler_failed_id(req, out);
}

/* Whether req is an Update carrying the customer's pending external ID. Both
 * IDs are compared, in constant time, whenever a rotation is pending, so the
 * time taken does not tell which one matched. */
static bool carries_pending_id(const xacct_cfn_request_t *req, const xacct_customer_t *customer)
{
    if (customer == NULL || req->type != XACCT_CFN_UPDATE ||
        customer->pending_external_id == NULL || customer->pending_external_id[0] == '\0')
        return false;
    bool current = xacct_secret_equal(req->external_id, customer->external_id);
    bool pending = xacct_secret_equal(req->external_id, customer->pending_external_id);
    return pending && !current;
}

void xacct__handler_activate_decide(const xacct_cfn_request_t *req,
                                    const xacct_customer_t *customer, xacct_decision_t *out)
{
    memset(out, 0, sizeof(*out));
    const char *event = req->type == XACCT_CFN_CREATE ? "create" : "update";
    char reason[512];
    bool rotating = carries_pending_id(req, customer);
    const char *issued = customer == NULL ? NULL
                         : rotating       ? customer->pending_external_id
                                          : customer->external_id;
    if (!xacct_cfn_check_ownership(req, customer != NULL, issued, reason, sizeof(reason))) {
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
    /* Another stack's request. Only a Create may connect the customer
     * through it, when the recorded stack is gone: the template launched
     * again after the first stack rolled back (its answer could not reach
     * CloudFormation in time, say) or was deleted without its Delete being
     * heard. The recorded role is checked first (probe_recorded_role) and
     * must no longer open with the ID. The new role must be another one:
     * templates name no role, so a stack of its own has a role of its own,
     * and a request naming the recorded role from a stack that is not the
     * recorded one is no such launch (any onboarded account may publish).
     * During a rotation the recorded role may trust only the pending ID, so
     * its stack is kept. */
    if (connected && customer->stack_id[0] != '\0' &&
        strcmp(customer->stack_id, req->stack_id) != 0) {
        bool replaceable =
            req->type == XACCT_CFN_CREATE && customer->role_arn[0] != '\0' &&
            strcmp(customer->role_arn, req->role_arn) != 0 &&
            (customer->pending_external_id == NULL || customer->pending_external_id[0] == '\0');
        if (!replaceable) {
            xacct_handler_recorded_role_alive(req, customer, out);
            return;
        }
        out->probe_recorded_role = true;
    }
    out->action = XACCT_ACT_CHECK;
    out->event = event;
    out->rotate_external_id = rotating;
}

void xacct_handler_recorded_role_alive(const xacct_cfn_request_t *req,
                                       const xacct_customer_t *customer, xacct_decision_t *out)
{
    char reason[512];
    memset(out, 0, sizeof(*out));
    snprintf(reason, sizeof(reason),
             "account %s is already connected through stack %.300s; update or delete that "
             "stack instead",
             req->stack_account, customer->stack_id);
    fail(req, out, req->type == XACCT_CFN_CREATE ? "create" : "update", reason);
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
        /* active -> active and degraded -> active are an Update's
         * transitions; a repeated Create of a connected customer's own stack
         * (a new RequestId) is answered and audited only (a degraded one
         * recovers by re-verification or an Update). */
        bool connected =
            customer->state == XACCT_CUSTOMER_ACTIVE || customer->state == XACCT_CUSTOMER_DEGRADED;
        bool own_stack =
            customer->stack_id[0] == '\0' || strcmp(customer->stack_id, req->stack_id) == 0;
        if (!(req->type == XACCT_CFN_CREATE && connected && own_stack)) {
            out->transition = true;
            /* A Create from another stack (activate_decide let it through
             * only when the recorded stack is gone) replaces that stack. */
            out->replace_stack = connected && !own_stack;
            out->to_state = XACCT_CUSTOMER_ACTIVE;
            out->connect_stack = true;
            /* The template has served its purpose once a Create or an
             * Update connected (the one `xacct outdated` uploaded for the
             * Update, or a rotation's, would otherwise stay in the bucket). */
            out->rotate_external_id = carries_pending_id(req, customer);
            out->cleanup_template = true;
        }
        snprintf(out->physical_id, sizeof(out->physical_id), "xacct-%s", req->stack_account);
        snprintf(out->reason, sizeof(out->reason), "%.600s%s", detail ? detail : "verified",
                 out->rotate_external_id ? "; the new external ID replaces the old one" : "");
        return;
    case XACCT_CHECK_INSECURE:
    case XACCT_CHECK_NOT_ASSUMABLE:
        fail(req, out, "rejected", detail ? detail : "safety check failed");
        /* With a rotation's new ID, the current ID stays in use. */
        if (carries_pending_id(req, customer)) {
            char why[sizeof(out->reason)];
            snprintf(why, sizeof(why), "%s", out->reason);
            snprintf(out->reason, sizeof(out->reason),
                     "the role does not pass the check with the new external ID; the "
                     "current ID stays in use: %.600s",
                     why);
        }
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
