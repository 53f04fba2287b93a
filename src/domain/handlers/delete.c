/* SPDX-License-Identifier: MIT */
/*
 * Delete: always answered SUCCESS, so a stack never hangs in DELETE.
 * Offboarding happens only when the Delete names the customer's current
 * physical id and stack, carries the customer's ExternalID, and the record is
 * active or degraded; a Delete from a rolled-back Create, an older stack or a replaced
 * resource is acknowledged and audited only.
 *
 * The ExternalID is what proves the Delete comes from the customer's own
 * stack: every onboarded account may publish to the topic and the SNS
 * envelope does not say who published, so anyone who learnt a StackId could
 * otherwise offboard that customer.
 *
 * While a rotation is pending (SPEC §9.3) only the current ID proves the
 * owner: the stack carries the pending ID only after an Update with it
 * passed the check, and that Update swaps it in. A Delete with the pending ID
 * before then comes from no stack xacct verified, so it is acknowledged and
 * audited, never offboarding.
 */
#include <stdio.h>
#include <string.h>

#include "xacct/extid.h"
#include "xacct/handlers.h"
#include "xacct/utf8.h"

static void decide(const xacct_cfn_request_t *req, const xacct_customer_t *customer,
                   xacct_decision_t *out)
{
    memset(out, 0, sizeof(*out));
    out->action = XACCT_ACT_ANSWER;
    out->status = XACCT_CFN_SUCCESS;
    out->event = "delete";
    /* Cut on a character boundary: half a character would make the answer
     * impossible to build, and a Delete must always be answered. */
    xacct_utf8_copy(out->physical_id, sizeof(out->physical_id), req->physical_id);
    if (customer == NULL) {
        out->outcome = "ignored";
        snprintf(out->reason, sizeof(out->reason), "no customer record for account %s",
                 req->stack_account);
        return;
    }
    bool current = strcmp(customer->physical_id, req->physical_id) == 0 &&
                   strcmp(customer->stack_id, req->stack_id) == 0;
    if (current && !xacct_secret_equal(req->external_id, customer->external_id)) {
        out->outcome = "refused";
        snprintf(out->reason, sizeof(out->reason),
                 "Delete does not carry the ExternalID issued to account %s: nothing to "
                 "offboard",
                 req->stack_account);
        return;
    }
    if (current && (customer->state == XACCT_CUSTOMER_ACTIVE ||
                    customer->state == XACCT_CUSTOMER_DEGRADED)) {
        out->outcome = "success";
        out->transition = true;
        out->to_state = XACCT_CUSTOMER_OFFBOARDING;
        out->enqueue_offboard = true;
        out->cleanup_template = true;
        out->event = "offboarding";
        snprintf(out->reason, sizeof(out->reason), "stack deleted; offboarding job enqueued");
        return;
    }
    out->outcome = "ignored";
    /* A copy of the Delete that offboarded it: the templates it removes
     * once answered are removed again, in case a failure left one. */
    out->cleanup_template = current && customer->state == XACCT_CUSTOMER_OFFBOARDING;
    snprintf(out->reason, sizeof(out->reason),
             current ? "customer is %s, not active or degraded: nothing to offboard"
                     : "Delete names another resource (%s): nothing to offboard",
             current ? xacct_customer_state_name(customer->state) : req->physical_id);
}

const xacct_handler_t xacct_handler_delete = {
    .type = XACCT_CFN_DELETE,
    .decide = decide,
    .after_check = NULL,
};
