/* SPDX-License-Identifier: MIT */
/*
 * The publish allow-list (SPEC §1): which partner topic a customer's stack
 * phones home through, and the topic policies that let the customer's
 * account publish to it. Redis holds the accounts of each topic
 * (topic:<arn>); the managed statements of the topic's policy are rewritten
 * from that set (topic_policy.h). Writers serialise on one Redis lock per
 * region, so concurrent onboardings from any process never lose each
 * other's accounts, and a topic whose policy would exceed SNS's quotas is
 * passed over for the next topic of the region.
 *
 * Both calls run on ctx's loop with ctx's store and AWS client (both must
 * be started). They return 0 and then call cb exactly once, never from
 * inside the call; or return XACCT_EINVAL (missing argument) without calling
 * it. detail and topic_arn are borrowed for the callback; detail is one line
 * naming what failed ("GetTopicAttributes <arn>: cannot reach AWS: ...").
 */
#ifndef XACCT_PUBLISH_H
#define XACCT_PUBLISH_H

#include "xacct/common.h"
#include "xacct/ctx.h"

typedef void (*xacct_publish_allow_cb)(int status, const char *detail, const char *topic_arn,
                                       void *arg);
typedef void (*xacct_publish_done_cb)(int status, const char *detail, void *arg);

/*
 * Under the region's lock, picks the first topic of sns.topic_arns in
 * region whose policy still fits with the account added (the account's
 * current topic first, so it keeps it across rotations), writes that topic's
 * policy, records the topic on the customer; then, if the account moved,
 * rewrites its old topic's policy. status 0 with the topic; XACCT_ENOTFOUND
 * (no topic in region, or no such customer), XACCT_ETOOBIG (every topic of
 * the region is full), XACCT_ETIMEOUT (the lock stayed taken), XACCT_ESTATE
 * (the customer was closed, or external_id replaced, meanwhile: the policy
 * is written again without the account), or the failing Redis or AWS call's
 * status.
 */
int xacct_publish_allow(xacct_ctx_t *ctx, const char *account, const char *external_id,
                        const char *region, xacct_publish_allow_cb cb,
                        void *arg) XACCT_MUSTCHECK;

/* Whether sns.topic_arns has a topic in region: onboarding there can
 * only succeed if it does. */
bool xacct_publish_region_has_topic(const xacct_config_t *cfg, const char *region);

/* Rewrites topic_arn's policy from its Redis set (after accounts left it),
 * under its region's lock. XACCT_EINVAL in the callback when topic_arn is
 * not an SNS topic ARN. */
int xacct_publish_sync(xacct_ctx_t *ctx, const char *topic_arn, xacct_publish_done_cb cb,
                       void *arg) XACCT_MUSTCHECK;

#endif
