/* SPDX-License-Identifier: MIT */
/*
 * The handler table: one row per CloudFormation RequestType.
 */
#include <stddef.h>

#include "xacct/handlers.h"

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
