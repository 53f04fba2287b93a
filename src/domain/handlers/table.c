/* SPDX-License-Identifier: MIT */
/*
 * The handler table: one row per CloudFormation RequestType; the decisions
 * every handler shares (the answer's Data).
 */
#include <stddef.h>

#include "xacct/extid.h"
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

xacct_cfn_data_t xacct_handler_answer_data(const xacct_cfn_request_t *req,
                                           const xacct_customer_t *customer,
                                           const xacct_decision_t *decision)
{
    xacct_cfn_data_t data = {0};
    /* Every onboarded account may publish to the topic, and the answer goes
     * to whatever allowed ResponseURL the message names: only a request that
     * carries the customer's external ID (its current or pending one) hears
     * about the record. */
    if (customer == NULL || req->external_id == NULL ||
        !(xacct_secret_equal(req->external_id, customer->external_id) ||
          (customer->pending_external_id != NULL && customer->pending_external_id[0] != '\0' &&
           xacct_secret_equal(req->external_id, customer->pending_external_id))))
        return data;
    xacct_customer_state_t st = decision->transition ? decision->to_state : customer->state;
    data.role_arn = decision->connect_stack ? req->role_arn : customer->role_arn;
    data.state = xacct_customer_state_name(st);
    return data;
}

