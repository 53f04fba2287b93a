/* SPDX-License-Identifier: MIT */
/*
 * Presigned template URLs for launch and update links: how long one may
 * live (the onboarding's remaining life, seven days at most, the signing
 * credentials' remaining life at most) and the signature itself, made with
 * the credentials the AWS client is using right now, dated by its clock.
 */
#include "xacct/template_link.h"

#include <stdio.h>

#include "xacct/s3.h"

long xacct_template_link_expires(long life_s, int64_t creds_expiry_ms, time_t now)
{
    long e = life_s < XACCT_TEMPLATE_LINK_MAX_EXPIRES ? life_s : XACCT_TEMPLATE_LINK_MAX_EXPIRES;
    if (creds_expiry_ms > 0) {
        /* Rounded down: a URL must not claim a second its session lacks. */
        int64_t left = creds_expiry_ms / 1000 - (int64_t)now;
        if (left < e)
            e = left < 0 ? 0 : (long)left;
    }
    return e < 1 ? 0 : e;
}

long xacct_template_link_life(long pending_ttl, time_t created, time_t now)
{
    if (pending_ttl <= 0)
        return XACCT_TEMPLATE_LINK_MAX_EXPIRES;
    if (created <= 0 || created > now)
        created = now;
    int64_t left = (int64_t)created + pending_ttl - (int64_t)now;
    if (left <= 0)
        return 0;
    return left < XACCT_TEMPLATE_LINK_MAX_EXPIRES ? (long)left : XACCT_TEMPLATE_LINK_MAX_EXPIRES;
}

long xacct_template_link_pending_ttl(const xacct_config_t *cfg)
{
    /* onboard.pending_ttl: after it the expirer closes the onboarding and
     * deletes the template, so a longer link would only point at nothing. */
    return cfg != NULL && cfg->onboard_pending_ttl > 0 ? cfg->onboard_pending_ttl : 0;
}

int xacct_template_link_presign(xacct_ctx_t *ctx, const char *key, long life_s, char **url,
                                char *err, size_t errlen)
{
    *url = NULL;
    const char *bucket = ctx != NULL ? ctx->cfg->cfn_template_bucket : NULL;
    if (bucket == NULL || bucket[0] == '\0' || key == NULL || key[0] == '\0') {
        snprintf(err, errlen, "cannot name the template object");
        return XACCT_EINVAL;
    }
    if (life_s < 1) {
        snprintf(err, errlen, "the onboarding is over: its template link is not renewed");
        return XACCT_EINVAL;
    }
    const xacct_sigv4_credentials_t *creds =
        ctx->creds != NULL ? xacct_creds_current(ctx->creds) : NULL;
    if (creds == NULL) {
        snprintf(err, errlen, "no valid AWS credentials to sign the template link");
        return XACCT_ENOCREDS;
    }
    /* S3 judges X-Amz-Date by its own clock, and the credentials' expiry
     * is AWS's time too: both are taken with the offset the AWS client
     * learnt from a refusal (none: the host's clock). */
    time_t now = xacct_aws_clock_now(&ctx->aws_clock);
    long expires = xacct_template_link_expires(life_s, xacct_creds_expiry(ctx->creds), now);
    if (expires < 1) {
        snprintf(err, errlen, "the AWS credentials expire now: cannot sign the template link");
        return XACCT_EAGAIN;
    }
    xacct_s3_presign_t p = {
        .region = ctx->cfg->aws_region,
        .bucket = bucket,
        .key = key,
        .creds = creds,
        .now = now,
        .expires = expires,
        .getenv = xacct_endpoints_profile_getenv, /* the profile's endpoint_url too */
        .getenv_arg = ctx->endpoints,
    };
    int rc = xacct_s3_presign_get(&p, url);
    if (rc != 0)
        snprintf(err, errlen, "cannot presign the template URL: %s", xacct_strerror(rc));
    return rc;
}
