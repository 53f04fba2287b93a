/* SPDX-License-Identifier: MIT */
/*
 * Update: the same checks as Create (a new role ARN must pass the safety
 * check too); the physical id stays "xacct-<account>" so CloudFormation
 * never replaces the resource.
 */
#include "xacct/handlers.h"

const xacct_handler_t xacct_handler_update = {
    .type = XACCT_CFN_UPDATE,
    .decide = xacct__handler_activate_decide,
    .after_check = xacct__handler_activate_after_check,
};
