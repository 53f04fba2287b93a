/* SPDX-License-Identifier: MIT */
/*
 * The handler table: one row per CloudFormation RequestType; the decisions
 * every handler shares (the answer's Data, the answer at the deadline).
 */
#include <stdio.h>
#include <string.h>

#include "xacct/handlers.h"
#include "xacct/utf8.h"

static const xacct_handler_t *const handlers[] = {
    &xacct_handler_create,
    &xacct_handler_update,
    &xacct_handler_delete,
};

const xacct_handler_t *xacct_handler_for(xacct_cfn_type_t type)
{
    for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
        if (handlers[i]->type == type)
            return handlers[i];
    return NULL;
}

int xacct_handler_answer_data(const xacct_cfn_request_t *req,
                              const xacct_customer_view_t *customer,
                              const xacct_decision_t *decision, char **json_out)
{
    *json_out = NULL;
    if (customer == NULL)
        return 0;
    const char *state = decision->new_state ? decision->new_state : customer->state;
    bool activates = decision->new_state != NULL && strcmp(decision->new_state, "active") == 0;
    const char *role = activates ? req->role_arn : customer->role_arn;
    return xacct_cfn_response_data(role, state, json_out);
}

void xacct_handler_deadline(const xacct_cfn_request_t *req, const char *why,
                            xacct_decision_t *out)
{
    memset(out, 0, sizeof(*out));
    out->action = XACCT_ACT_ANSWER;
    out->event = "deadline";
    if (req->type == XACCT_CFN_DELETE) {
        /* A stack must never hang in DELETE. */
        out->status = XACCT_CFN_SUCCESS;
        out->outcome = "ignored";
        xacct_utf8_copy(out->physical_id, sizeof(out->physical_id), req->physical_id);
        snprintf(out->reason, sizeof(out->reason),
                 "acknowledged without recording: %s", why);
        return;
    }
    out->status = XACCT_CFN_FAILED;
    out->outcome = "failed";
    snprintf(out->reason, sizeof(out->reason),
             "xacct could not complete the request before the CloudFormation deadline: %s", why);
    /* Ids are cut on character boundaries, as in activate.c. */
    if (req->type == XACCT_CFN_UPDATE) {
        xacct_utf8_copy(out->physical_id, sizeof(out->physical_id), req->physical_id);
        return;
    }
    int n = snprintf(out->physical_id, sizeof(out->physical_id), "xacct-%s-failed-",
                     req->stack_account);
    size_t room = sizeof(out->physical_id) - (size_t)n;
    xacct_utf8_copy(out->physical_id + n, room < 201 ? room : 201, req->request_id);
}
