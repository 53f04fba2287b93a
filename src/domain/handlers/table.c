/* SPDX-License-Identifier: MIT */
/*
 * The handler table: one row per CloudFormation RequestType.
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
