/* SPDX-License-Identifier: MIT */
/*
 * The CloudFormation console links an operator hands to a customer: the
 * quick-create link opens the console on the stack-creation page with the
 * customer's template (stored in S3) and the stack name filled in; the
 * update link opens the update-stack flow of the customer's existing stack
 * with a new template (a rotated external ID, a newer template version).
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

/*
 * https://console.aws.amazon.com/cloudformation/home?region=R#/stacks/
 * update/template?stackId=<percent-encoded>&templateURL=<percent-encoded>
 * (console.amazonaws.cn in China regions): the console's "Update stack ->
 * Replace existing template" page of that stack, the template's Amazon S3
 * URL filled in. stack_id must be a CloudFormation stack ARN; R is its
 * region (a stack is updated where it lives). template_url must be an https
 * URL. *out is a heap string the caller frees. Returns 0 or XACCT_EINVAL.
 */
int xacct_launch_update_url(const char *stack_id, const char *template_url,
                            char **out) XACCT_MUSTCHECK;

/* True when name is a valid CloudFormation stack name. */
bool xacct_launch_url_stack_name_valid(const char *name);

#endif
