/* SPDX-License-Identifier: MIT */
/*
 * The profile link of the credentials chain: turns the selected profile of
 * the shared config files into what the provider needs, with no I/O beyond
 * reading the two files. Within a profile botocore's order applies: role_arn
 * (AssumeRole with the source_profile's static keys) before static keys before
 * credential_process. Role chains (a source profile that is itself a role) and
 * SSO are refused with a reason rather than half-supported, and so is a
 * credential_process inside one xacct started, which would never end.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xacct/aws.h"
#include "xacct/aws_profile.h"
#include "xacct/creds.h"

static int fail(char *err, size_t errlen, const char *fmt, ...) XACCT_PRINTF(3, 4);
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (err != NULL && errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return XACCT_ECONFIG;
}

static bool has_keys(const xacct_aws_profile_t *p)
{
    return p->access_key_id != NULL || p->secret_access_key != NULL;
}

/* Static keys of profile p into a fresh set, or XACCT_ECONFIG when half a pair. */
static int keys_of(const xacct_aws_profile_t *p, xacct__creds_set_t **out, char *err,
                   size_t errlen)
{
    *out = NULL;
    if (p->access_key_id == NULL || p->secret_access_key == NULL)
        return fail(err, errlen,
                    "profile %s: aws_access_key_id and aws_secret_access_key must both be set",
                    p->name);
    if (!xacct__creds_value_ok(p->access_key_id) || !xacct__creds_value_ok(p->secret_access_key) ||
        (p->session_token != NULL && !xacct__creds_value_ok(p->session_token)))
        return fail(err, errlen,
                    "profile %s: a key or session token holds a space or control character, "
                    "which no AWS key or token has",
                    p->name);
    xacct__creds_set_t *s = xacct_calloc(1, sizeof(*s));
    s->access_key_id = xacct_strdup(p->access_key_id);
    s->secret_access_key = xacct_strdup(p->secret_access_key);
    s->session_token = p->session_token != NULL ? xacct_strdup(p->session_token) : NULL;
    *out = s;
    return 0;
}

static int role_link(xacct_getenv_fn g, void *ga, const char *region, int64_t now_s,
                     const xacct_aws_profile_t *p, xacct__creds_config_t *cfg, char *err,
                     size_t errlen)
{
    int rc;
    xacct_aws_profile_t src;
    const xacct_aws_profile_t *sp = p;

    memset(&src, 0, sizeof(src));
    if (p->source_profile == NULL)
        return fail(err, errlen,
                    "profile %s: role_arn needs source_profile (credential_source is not "
                    "supported)",
                    p->name);
    if (strcmp(p->source_profile, p->name) != 0) {
        if ((rc = xacct_aws_profile_load(g, ga, p->source_profile, &src, err, errlen)) != 0)
            goto out;
        if (!src.found) {
            rc = fail(err, errlen, "profile %s: source_profile %s does not exist", p->name,
                      p->source_profile);
            goto out;
        }
        if (src.role_arn != NULL) {
            rc = fail(err, errlen,
                      "profile %s: source_profile %s is itself a role; role chains are not "
                      "supported, give the source profile static keys",
                      p->name, p->source_profile);
            goto out;
        }
        sp = &src;
    }
    if (!has_keys(sp)) {
        rc = fail(err, errlen, "profile %s: source_profile %s has no static keys", p->name,
                  sp->name);
        goto out;
    }
    if ((rc = keys_of(sp, &cfg->keys, err, errlen)) != 0)
        goto out;

    cfg->role_arn = xacct_strdup(p->role_arn);
    cfg->session_name = p->role_session_name != NULL
                            ? xacct_strdup(p->role_session_name)
                            : xacct_asprintf("xacct-%lld", (long long)now_s);
    if (!xacct__creds_session_name_ok(cfg->session_name)) {
        rc = fail(err, errlen,
                  "profile %s: role_session_name must be 2-64 characters of [A-Za-z0-9_+=,.@-]",
                  p->name);
        goto out;
    }
    if (p->external_id != NULL) {
        /* Refused here, by name, rather than by STS on every fetch. */
        if (!xacct__creds_external_id_ok(p->external_id)) {
            rc = fail(err, errlen,
                      "profile %s: external_id must be 2-1224 characters of "
                      "[A-Za-z0-9_+=,.@:/-]",
                      p->name);
            goto out;
        }
        cfg->external_id = xacct_strdup(p->external_id);
    }
    if (p->duration_seconds != NULL) {
        char *end;
        long d = strtol(p->duration_seconds, &end, 10);
        if (*end != '\0' || d < 900 || d > 43200) {
            rc = fail(err, errlen, "profile %s: duration_seconds must be 900..43200",
                      p->name);
            goto out;
        }
        cfg->duration_s = (int)d;
    }
    /* STS is regional: the configured region, the environment's, the
     * profile's, then us-east-1, as the SDKs do for the source session. */
    if (region == NULL || *region == '\0')
        region = xacct_endpoints_region_from_env(g, ga);
    if (region == NULL)
        region = p->region;
    if (region == NULL)
        region = "us-east-1";
    cfg->sts_region = xacct_strdup(region);
    if (xacct_endpoints_resolve(g, ga, "sts", region, &cfg->url) != 0) {
        rc = fail(err, errlen,
                  "profile %s: no usable STS endpoint (check AWS_ENDPOINT_URL_STS and the "
                  "region)",
                  p->name);
        goto out;
    }
    cfg->source = XACCT_CREDS_SOURCE_PROFILE_ROLE;
    rc = 0;
out:
    xacct_aws_profile_destroy(&src);
    return rc;
}

/* An xacct running inside a credential_process that an xacct started does
 * not run one itself. The usual way there: `credential_process = xacct
 * credentials ...` in a customer's profile and AWS_PROFILE exported to
 * select it, which the AWS CLI passes on to xacct, whose chain selects the
 * same profile and runs xacct again, and so on without end. Only this
 * link is refused: environment keys or another profile still serve an
 * xacct started that way (a wrapper giving it the partner's keys). */
static int process_allowed(xacct_getenv_fn g, void *ga, const xacct_aws_profile_t *p, bool named,
                           char *err, size_t errlen)
{
    if (xacct_endpoints_env(g, ga, XACCT__CREDS_PROCESS_MARKER) == NULL)
        return 0;
    if (!named)
        return fail(err, errlen,
                    "profile %s has a credential_process, but this xacct already runs inside "
                    "one that xacct started, so running it would start xacct again without "
                    "end; xacct needs the partner's own credentials: give it "
                    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile in AWS_PROFILE",
                    p->name);
    const char *var =
        xacct_endpoints_env(g, ga, "AWS_PROFILE") != NULL ? "AWS_PROFILE" : "AWS_DEFAULT_PROFILE";
    return fail(err, errlen,
                "profile %s (%s) has a credential_process, but this xacct already runs inside "
                "one that xacct started, so running it would start xacct again without end; "
                "xacct needs the partner's own credentials: use `aws --profile %s` instead of "
                "exporting %s, or give xacct AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
                "another profile",
                p->name, var, p->name, var);
}

int xacct__creds_config_from_profile(xacct_getenv_fn g, void *ga, const char *region,
                                     int64_t now_s, xacct__creds_config_t *cfg, char *err,
                                     size_t errlen)
{
    int rc;
    xacct_aws_profile_t p;
    bool named = xacct_aws_profile_explicit(g, ga);

    cfg->source = XACCT_CREDS_SOURCE_NONE;
    if ((rc = xacct_aws_profile_load(g, ga, NULL, &p, err, errlen)) != 0)
        goto out;
    if (!p.found) {
        if (named)
            rc = fail(err, errlen, "profile %s (AWS_PROFILE) is in neither the config nor the "
                                   "credentials file",
                      p.name);
        goto out;
    }
    cfg->profile = xacct_strdup(p.name);
    if (p.role_arn != NULL) {
        rc = role_link(g, ga, region, now_s, &p, cfg, err, errlen);
    } else if (has_keys(&p)) {
        if ((rc = keys_of(&p, &cfg->keys, err, errlen)) == 0)
            cfg->source = XACCT_CREDS_SOURCE_PROFILE;
    } else if (p.credential_process != NULL) {
        if ((rc = process_allowed(g, ga, &p, named, err, errlen)) != 0)
            goto out;
        cfg->process = xacct_strdup(p.credential_process);
        cfg->source = XACCT_CREDS_SOURCE_PROCESS;
    } else if (p.unsupported != NULL) {
        rc = fail(err, errlen,
                  "profile %s uses %s, which xacct does not support; use credential_process "
                  "(for SSO: credential_process = aws configure export-credentials --format process "
                  "--profile "
                  "NAME)",
                  p.name, p.unsupported);
    }
    /* A profile that holds no credentials of its own (only a region or
     * endpoints, as on an instance or in a container picking one) leaves
     * the chain going on to the container and the instance, as in the
     * SDKs' default chains; a profile that names no file at all stopped
     * the start above. */
out:
    xacct_aws_profile_destroy(&p);
    return rc;
}
