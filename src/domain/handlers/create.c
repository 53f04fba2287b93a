/* SPDX-License-Identifier: MIT */
/*
 * Create: the ownership rules, the safety check, then pending/rejected →
 * active (or → rejected when the role is unsafe).
 */
#include "xacct/handlers.h"

const xacct_handler_t xacct_handler_create = {
    .type = XACCT_CFN_CREATE,
    .decide = xacct__handler_activate_decide,
    .after_check = xacct__handler_activate_after_check,
};
