/* SPDX-License-Identifier: MIT */
/*
 * The CloudFormation console quick-create link an operator hands to a
 * customer: it opens the console on the stack-creation page with the
 * customer's template (stored in S3) and the stack name filled in.
 */
#ifndef XACCT_LAUNCH_URL_H
#define XACCT_LAUNCH_URL_H

#include <stdbool.h>

#include "xacct/common.h"

/*
 * https://console.aws.amazon.com/cloudformation/home?region=R#/stacks/
 * quickcreate?templateURL=<percent-encoded>&stackName=<name>
 * (console.amazonaws.cn in China regions). template_url must be an https URL
 * (checked with CURLU); stack_name follows CloudFormation's rule (a letter,
 * then letters, digits and dashes, at most 128). *out is a heap string the
 * caller frees. Returns 0 or XACCT_EINVAL.
 */
int xacct_launch_url_build(const char *region, const char *template_url, const char *stack_name,
                           char **out) XACCT_MUSTCHECK;

/* True when name is a valid CloudFormation stack name. */
bool xacct_launch_url_stack_name_valid(const char *name);

#endif
