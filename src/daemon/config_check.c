/* SPDX-License-Identifier: MIT */
/*
 * `xacctd --check-config` beyond the file: the checks the start (ctx.c,
 * store.c, webhook.c, api.c) makes on what the configuration names, in the
 * same order, each through the code the start uses, so that the unit's
 * ExecStartPre refuses what the daemon would refuse a moment later. Nothing
 * here connects, binds or runs a credential_process; a port already taken
 * or Redis being down is the start's to report.
 */
#include "xacct/config_check.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xacct/api_tokens.h"
#include "xacct/creds.h"
#include "xacct/endpoints.h"
#include "xacct/secret_file.h"
#include "xacct/store.h"
#include "xacct/tls_bridge.h"
#include "xacct/webhook.h"

/* What start_aws (ctx.c) refuses before any request: the profile's
 * endpoints, an endpoint variant xacct cannot honour, a credentials chain
 * that cannot be set up. */
static int check_aws(const xacct_config_t *cfg, char *err, size_t errlen)
{
    xacct_endpoints_profile_t *ep = NULL;
    xacct__creds_config_t cc = {0};
    char why[256] = "";
    int rc = xacct_endpoints_profile_new(NULL, NULL, &ep, err, errlen);
    if (rc != 0)
        return XACCT_ECONFIG;
    const char *variant = xacct_endpoints_unsupported_variant(xacct_endpoints_profile_getenv, ep);
    if (variant != NULL) {
        snprintf(err, errlen,
                 "%s=true is not supported: give the endpoints to use with "
                 "AWS_ENDPOINT_URL_SQS, _STS, _SNS and _S3 (or AWS_ENDPOINT_URL)",
                 variant);
        rc = XACCT_ECONFIG;
        goto out;
    }
    if (xacct__creds_config_from_env(xacct_endpoints_profile_getenv, ep, cfg->aws_region,
                                     (int64_t)time(NULL), &cc, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "AWS credentials: %s", why);
        rc = XACCT_ECONFIG;
    }
out:
    xacct__creds_config_destroy(&cc);
    xacct_endpoints_profile_free(ep);
    return rc;
}

/* What xacct_store_new refuses: the URL, TLS files without rediss://, TLS
 * files that do not load, a key file every user may write. */
static int check_redis(const xacct_config_t *cfg, const xacct_log_t *log, char *err,
                       size_t errlen)
{
    char *host = NULL, *user = NULL, *pw = NULL, why[256] = "";
    int port, db, tls;
    if (xacct__store_parse_url(cfg->redis_url, &host, &port, &user, &pw, &db, &tls, why,
                               sizeof(why)) != 0) {
        snprintf(err, errlen, "redis.url: %s", why);
        return XACCT_ECONFIG;
    }
    free(host);
    free(user);
    xacct_free_secret(pw);
    if (xacct_secret_file_check(log, "redis.tls_key_file", cfg->redis_tls_key_file, err,
                                errlen) != 0)
        return XACCT_ECONFIG;
    bool files = cfg->redis_tls_ca_file[0] || cfg->redis_tls_cert_file[0] ||
                 cfg->redis_tls_key_file[0];
    if (!tls) {
        if (files) {
            snprintf(err, errlen, "redis.tls_*_file are set but redis.url is not rediss://");
            return XACCT_ECONFIG;
        }
        return 0;
    }
    xacct_tls_config_t *t = NULL;
    if (xacct_tls_config_new(cfg->redis_tls_ca_file, cfg->redis_tls_cert_file,
                             cfg->redis_tls_key_file, &t, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "redis TLS: %s", why);
        return XACCT_ECONFIG;
    }
    xacct_tls_config_free(t);
    return 0;
}

/* The webhook's secret, read as webhook.c reads it (only its size kept). */
static int check_webhook(const xacct_config_t *cfg, const xacct_log_t *log, char *err,
                         size_t errlen)
{
    const char *path = cfg->events_webhook_secret_file;
    char *s = NULL;
    if (cfg->events_webhook_url[0] == '\0')
        return 0;
    if (path[0] == '\0') {
        snprintf(err, errlen, "events.webhook_secret_file: required when events.webhook_url "
                              "is set");
        return XACCT_ECONFIG;
    }
    size_t n;
    int rc = xacct_webhook_secret_read(log, path, &s, &n, err, errlen);
    if (rc != 0)
        return rc;
    xacct_free_secret(s);
    return 0;
}

static int check_api(const xacct_config_t *cfg, const xacct_log_t *log, char *err,
                     size_t errlen)
{
    xacct_api_tokens_t *t = NULL;
    char why[256] = "";
    if (cfg->api_listen[0] == '\0')
        return 0;
    if (cfg->api_tokens_file[0] == '\0') {
        snprintf(err, errlen, "api.tokens_file: required when api.listen is set");
        return XACCT_ECONFIG;
    }
    if (xacct_secret_file_check(log, "api.tokens_file", cfg->api_tokens_file, err, errlen) != 0)
        return XACCT_ECONFIG;
    if (xacct_api_tokens_load(cfg->api_tokens_file, &t, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "api.tokens_file: %s", why);
        return XACCT_ECONFIG;
    }
    xacct_api_tokens_free(t);
    return 0;
}

int xacct_config_check_start(const xacct_config_t *cfg, const xacct_log_t *log, char *err,
                             size_t errlen)
{
    if (errlen > 0)
        err[0] = '\0';
    if (check_aws(cfg, err, errlen) != 0 || check_redis(cfg, log, err, errlen) != 0 ||
        check_webhook(cfg, log, err, errlen) != 0 || check_api(cfg, log, err, errlen) != 0)
        return XACCT_ECONFIG;
    return 0;
}
