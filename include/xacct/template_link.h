/* SPDX-License-Identifier: MIT */
/*
 * The URL CloudFormation reads a customer's uploaded template from. The
 * template bucket is private (the template holds the external ID), and
 * CloudFormation fetches a templateURL with the identity of whoever launches
 * the stack, the customer, who cannot read the partner's objects. So the
 * templateURL of quick-create and update-stack links is a presigned S3
 * GetObject URL, as AWS documents for templates in private buckets: it
 * works for anyone holding it until it expires, and is therefore a secret
 * like the external ID (printed where the link is printed, never logged).
 *
 * It expires with the onboarding it serves (onboard.pending_ttl; seven days,
 * SigV4's maximum, without one), and never outlives the credentials that
 * signed it: a URL signed with temporary credentials stops working when
 * their session ends, so it is cut to the credentials' expiry.
 */
#ifndef XACCT_TEMPLATE_LINK_H
#define XACCT_TEMPLATE_LINK_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "xacct/common.h"
#include "xacct/ctx.h"

#define XACCT_TEMPLATE_LINK_MAX_EXPIRES 604800L /* seven days: SigV4's limit */

/*
 * X-Amz-Expires for a link wanted for life_s seconds: at most seven days,
 * and no longer than credentials expiring at creds_expiry_ms (ms since the
 * epoch; 0 = they never expire) allow at now. 0 when no second is left.
 */
long xacct_template_link_expires(long life_s, int64_t creds_expiry_ms, time_t now);

/*
 * What is left at now of an onboarding's life that began at created (epoch
 * seconds; 0 = now): pending_ttl - (now - created), or seven days when
 * pending_ttl is 0 (onboardings never expire); 0 when it is over.
 */
long xacct_template_link_life(long pending_ttl, time_t created, time_t now);

/* onboard.pending_ttl of cfg (0: onboardings never expire). */
long xacct_template_link_pending_ttl(const xacct_config_t *cfg);

/*
 * The presigned GetObject URL of the template object key (the name
 * xacct_template_s3_key gives it) in cloudformation.template_bucket, valid for life_s seconds
 * as cut by xacct_template_link_expires, signed with ctx's current
 * credentials. *url is a heap string (a secret: free with
 * xacct_free_secret). Returns 0; XACCT_EINVAL (no bucket, bad argument, or
 * life_s < 1: the onboarding is over), XACCT_ENOCREDS (no valid credentials
 * cached), XACCT_EAGAIN (the credentials expire this second) or
 * XACCT_ECONFIG (S3 endpoint override), with one line in err.
 */
int xacct_template_link_presign(xacct_ctx_t *ctx, const char *key, long life_s, char **url,
                                char *err, size_t errlen) XACCT_MUSTCHECK;

#endif
