/* SPDX-License-Identifier: MIT */
/*
 * Amazon SNS client for the topic policy (query protocol, Version
 * 2010-03-31, the topic's own region): GetTopicAttributes to read a topic's
 * Policy and SetTopicAttributes to replace it. Calls go through xacct_aws_call
 * (signing, retries); responses are read with expat.
 */
#ifndef XACCT_SNS_H
#define XACCT_SNS_H

#include "xacct/aws.h"
#include "xacct/common.h"

/* Completion of GetTopicAttributes: status 0 with the policy text (borrowed
 * for the callback), or an aws.h status (XACCT_EAWS with detail "NotFound:
 * Topic does not exist", XACCT_EACCESSDENIED, ...), XACCT_EPARSE (a 2xx
 * without a Policy attribute), XACCT_EINVAL (not an SNS topic ARN). */
typedef void (*xacct_sns_policy_cb)(int status, const char *detail, const char *policy,
                                    void *arg);

/* Completion of SetTopicAttributes: status 0 or as above. */
typedef void (*xacct_sns_done_cb)(int status, const char *detail, void *arg);

/* Reads the Policy attribute of topic_arn (copied). The callback fires
 * exactly once, never from inside this call; a nonzero return means it never
 * will: XACCT_EINVAL, or xacct_aws_call's errors. */
int xacct_sns_get_policy(xacct_aws_t *aws, const char *topic_arn, xacct_sns_policy_cb cb,
                         void *arg) XACCT_MUSTCHECK;

/* Replaces the Policy attribute of topic_arn with policy (both copied). Same
 * contract as xacct_sns_get_policy. guard (or NULL) is asked with arg before
 * each attempt is sent, as xacct_aws_request_t's: its non-zero status ends
 * the call, that attempt unsent. */
int xacct_sns_set_policy(xacct_aws_t *aws, const char *topic_arn, const char *policy,
                         xacct_aws_send_guard_fn guard, xacct_sns_done_cb cb,
                         void *arg) XACCT_MUSTCHECK;

/* Finds attribute name in a GetTopicAttributesResponse body; *value is a
 * heap string the caller frees. Returns 0, XACCT_ENOTFOUND (no such entry)
 * or XACCT_EPARSE (not well-formed XML). Exposed for tests. */
int xacct__sns_parse_attribute(const char *xml, size_t len, const char *name,
                               char **value) XACCT_MUSTCHECK;

/* ---- ListSubscriptionsByTopic (sns_subscriptions.c) --------------------- */

typedef struct xacct_sns_subscription {
    const char *protocol;         /* "sqs", "https", ... */
    const char *endpoint;         /* the queue ARN for sqs */
    const char *subscription_arn; /* "PendingConfirmation" until confirmed */
} xacct_sns_subscription_t;

/* status 0 with subs[0..n) (borrowed for the callback), or as
 * xacct_sns_policy_cb; XACCT_ETOOBIG past 5000 subscriptions. */
typedef void (*xacct_sns_subscriptions_cb)(int status, const char *detail,
                                           const xacct_sns_subscription_t *subs, size_t n,
                                           void *arg);

/* Every subscription of topic_arn (copied), page after page. Same contract
 * as xacct_sns_get_policy. */
int xacct_sns_list_subscriptions(xacct_aws_t *aws, const char *topic_arn,
                                 xacct_sns_subscriptions_cb cb, void *arg) XACCT_MUSTCHECK;

#endif
