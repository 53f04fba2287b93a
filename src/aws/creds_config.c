/* SPDX-License-Identifier: MIT */
/*
 * Which link of the credentials chain applies, read from the environment
 * once (no I/O beyond the profile files): static keys, web identity, the
 * shared config profile (creds_profile.c), container credentials, instance
 * metadata. It checks what each link needs (whole key pairs, a role with its
 * token file, a container URI that is https or a local agent's) and fills
 * the plain xacct__creds_config_t the provider runs from.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xacct/aws_profile.h"
#include "xacct/creds.h"
#include "xacct/endpoints.h"

#define DEFAULT_IMDS_ENDPOINT "http://169.254.169.254"
#define DEFAULT_IMDS_ENDPOINT_V6 "http://[fd00:ec2::254]"
#define ECS_AGENT "http://169.254.170.2"

static bool header_safe(const char *s)
{
    for (; *s; s++)
        if (*s == '\r' || *s == '\n')
            return false;
    return true;
}

bool xacct__creds_container_uri_allowed(const char *uri)
{
    bool ok = false;
    char *scheme = NULL, *host = NULL;
    CURLU *u = curl_url();
    if (u == NULL)
        return false;
    if (curl_url_set(u, CURLUPART_URL, uri, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
        goto out;
    if (strcmp(scheme, "https") == 0) {
        ok = true;
        goto out;
    }
    if (strcmp(scheme, "http") != 0)
        goto out;
    /* CURLU gives IPv6 hosts in brackets and IPv4 in dotted form. */
    static const char *const allowed[] = {"localhost", "[::1]", "169.254.170.2", "169.254.170.23",
                                          "[fd00:ec2::23]"};
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(allowed); i++)
        if (strcasecmp(host, allowed[i]) == 0)
            ok = true;
    /* 127.0.0.0/8, written as a dotted quad (CURLU normalises other forms). */
    unsigned a, b, c, d;
    char tail;
    if (sscanf(host, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) == 4 && a == 127 && b <= 255 &&
        c <= 255 && d <= 255)
        ok = true;
out:
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return ok;
}

static int config_error(char *err, size_t errlen, const char *msg)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", msg);
    return XACCT_ECONFIG;
}

/* Variables that only work together: one without the other is refused. */
static int both_or_neither(const char *a, const char *a_name, const char *b, const char *b_name,
                           char *err, size_t errlen)
{
    if ((a == NULL) == (b == NULL))
        return 0;
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s is set but %s is not", a != NULL ? a_name : b_name,
                 a != NULL ? b_name : a_name);
    return XACCT_ECONFIG;
}

/* A key or token that could not go into a header stops the start, the
 * setting named and its value never shown. */
static int printable(const char *value, const char *name, char *err, size_t errlen)
{
    if (value == NULL || xacct__creds_value_ok(value))
        return 0;
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s holds a space or control character, which no AWS key or "
                 "token has", name);
    return XACCT_ECONFIG;
}

static char *strip_slashes(const char *s)
{
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '/')
        n--;
    return xacct_strndup(s, n);
}

/* A number of seconds or attempts as the SDKs take it: digits, for a timeout
 * also a decimal fraction; at least 1 and at most max. */
static bool parse_setting(const char *s, bool fraction, long max, long *out_milli)
{
    long whole = 0, milli = 0;
    const char *p = s;
    if (*p < '0' || *p > '9')
        return false;
    for (; *p >= '0' && *p <= '9'; p++)
        if ((whole = whole * 10 + (*p - '0')) > max)
            return false;
    if (*p == '.' && fraction) {
        p++;
        if (*p < '0' || *p > '9')
            return false;
        for (long scale = 100; *p >= '0' && *p <= '9'; p++, scale /= 10)
            milli += scale * (*p - '0');
    }
    if (*p != '\0' || whole < 1 || (whole == max && milli > 0))
        return false;
    *out_milli = whole * 1000 + milli;
    return true;
}

/* One IMDS setting: the environment variable, else the profile's key; name
 * says which one, for the error about a bad value. */
static const char *setting(xacct_getenv_fn g, void *ga, const char *var, const char *profile,
                           const char *key, const char *profile_value, char *name,
                           size_t namelen)
{
    const char *v = xacct_endpoints_env(g, ga, var);
    if (v != NULL) {
        snprintf(name, namelen, "%s", var);
        return v;
    }
    snprintf(name, namelen, "profile %s: %s", profile, key);
    return profile_value;
}

#define MAX_IMDS_TIMEOUT_S 3600
#define MAX_IMDS_ATTEMPTS 100

/* 5. The instance metadata link: its endpoint (or endpoint mode), timeout
 * and attempts, each from the environment, else the selected profile. A bad
 * value stops the start with the setting named, as in the SDKs. */
static int imds_link(xacct_getenv_fn g, void *ga, xacct__creds_config_t *cfg, char *err,
                     size_t errlen)
{
    int rc;
    long v;
    char name[128];
    xacct_aws_profile_t p;
    if ((rc = xacct_aws_profile_load(g, ga, NULL, &p, err, errlen)) != 0)
        goto out;
    rc = XACCT_ECONFIG;
#define SETTING(var, field)                                                                       \
    setting(g, ga, var, p.name, #field, p.field, name, sizeof(name))
    const char *endpoint = SETTING("AWS_EC2_METADATA_SERVICE_ENDPOINT",
                                   ec2_metadata_service_endpoint);
    if (endpoint != NULL && ((strncasecmp(endpoint, "http://", 7) != 0 &&
                              strncasecmp(endpoint, "https://", 8) != 0) ||
                             !xacct_endpoints_url_ok(endpoint))) {
        snprintf(err, errlen, "%s must be an http(s) URL", name);
        goto out;
    }
    const char *mode = SETTING("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
                               ec2_metadata_service_endpoint_mode);
    /* IPv4 or IPv6 only: the SDKs refuse any other mode rather than guess. */
    if (mode != NULL && strcasecmp(mode, "IPv4") != 0 && strcasecmp(mode, "IPv6") != 0) {
        snprintf(err, errlen, "%s must be IPv4 or IPv6", name);
        goto out;
    }
    const char *timeout = SETTING("AWS_METADATA_SERVICE_TIMEOUT", metadata_service_timeout);
    if (timeout != NULL) {
        if (!parse_setting(timeout, true, MAX_IMDS_TIMEOUT_S, &v)) {
            snprintf(err, errlen, "%s must be a number of seconds from 1 to %d", name,
                     MAX_IMDS_TIMEOUT_S);
            goto out;
        }
        cfg->imds_timeout_ms = v;
    }
    const char *attempts = SETTING("AWS_METADATA_SERVICE_NUM_ATTEMPTS",
                                   metadata_service_num_attempts);
    if (attempts != NULL) {
        if (!parse_setting(attempts, false, MAX_IMDS_ATTEMPTS, &v)) {
            snprintf(err, errlen, "%s must be a whole number from 1 to %d", name,
                     MAX_IMDS_ATTEMPTS);
            goto out;
        }
        cfg->imds_attempts = (int)(v / 1000);
    }
#undef SETTING
    cfg->source = XACCT_CREDS_SOURCE_IMDS;
    if (endpoint != NULL)
        cfg->url = strip_slashes(endpoint);
    else if (mode != NULL && strcasecmp(mode, "IPv6") == 0)
        cfg->url = xacct_strdup(DEFAULT_IMDS_ENDPOINT_V6);
    else
        cfg->url = xacct_strdup(DEFAULT_IMDS_ENDPOINT);
    rc = 0;
out:
    xacct_aws_profile_destroy(&p);
    return rc;
}

int xacct__creds_config_from_env(xacct_getenv_fn g, void *ga, const char *region, int64_t now_s,
                                 xacct__creds_config_t *cfg, char *err, size_t errlen)
{
    int rc;
    memset(cfg, 0, sizeof(*cfg));
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (g == NULL)
        g = xacct_endpoints_getenv;

    /* 1. Static keys. Half a pair is a mistake worth stopping for: falling
     * through to another link would run with an identity nobody chose. */
    const char *akid = xacct_endpoints_env(g, ga, "AWS_ACCESS_KEY_ID");
    const char *secret = xacct_endpoints_env(g, ga, "AWS_SECRET_ACCESS_KEY");
    if ((rc = both_or_neither(akid, "AWS_ACCESS_KEY_ID", secret, "AWS_SECRET_ACCESS_KEY", err,
                              errlen)) != 0)
        return rc;
    if (akid != NULL) {
        const char *token = xacct_endpoints_env(g, ga, "AWS_SESSION_TOKEN");
        if ((rc = printable(akid, "AWS_ACCESS_KEY_ID", err, errlen)) != 0 ||
            (rc = printable(secret, "AWS_SECRET_ACCESS_KEY", err, errlen)) != 0 ||
            (rc = printable(token, "AWS_SESSION_TOKEN", err, errlen)) != 0)
            return rc;
        cfg->source = XACCT_CREDS_SOURCE_ENV;
        cfg->keys = xacct_calloc(1, sizeof(*cfg->keys));
        cfg->keys->access_key_id = xacct_strdup(akid);
        cfg->keys->secret_access_key = xacct_strdup(secret);
        cfg->keys->session_token = token != NULL ? xacct_strdup(token) : NULL;
        return 0;
    }

    /* 2. Web identity. */
    const char *token_file = xacct_endpoints_env(g, ga, "AWS_WEB_IDENTITY_TOKEN_FILE");
    const char *role_arn = xacct_endpoints_env(g, ga, "AWS_ROLE_ARN");
    /* As the SDKs do: the token file selects this link (and then needs the
     * role); AWS_ROLE_ARN alone is not about it, and the chain goes on. */
    if (token_file != NULL && role_arn == NULL) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not");
        return XACCT_ECONFIG;
    }
    if (token_file != NULL) {
        const char *session = xacct_endpoints_env(g, ga, "AWS_ROLE_SESSION_NAME");
        if (region == NULL || *region == '\0')
            region = xacct_endpoints_region_from_env(g, ga);
        if (region == NULL)
            region = "us-east-1";
        cfg->source = XACCT_CREDS_SOURCE_WEB_IDENTITY;
        cfg->token_file = xacct_strdup(token_file);
        cfg->role_arn = xacct_strdup(role_arn);
        cfg->session_name = session != NULL ? xacct_strdup(session)
                                            : xacct_asprintf("xacct-%lld", (long long)now_s);
        if (!xacct__creds_session_name_ok(cfg->session_name))
            return config_error(
                err, errlen, "AWS_ROLE_SESSION_NAME must be 2-64 characters of [A-Za-z0-9_+=,.@-]");
        rc = xacct_endpoints_resolve(g, ga, "sts", region, &cfg->url);
        if (rc != 0)
            return config_error(err, errlen,
                                "no usable STS endpoint for web identity "
                                "(check AWS_ENDPOINT_URL_STS and the region)");
        return 0;
    }

    /* 3. The shared config files' profile. */
    if ((rc = xacct__creds_config_from_profile(g, ga, region, now_s, cfg, err, errlen)) != 0)
        return rc;
    if (cfg->source != XACCT_CREDS_SOURCE_NONE)
        return 0;

    /* 4. Container credentials; the relative URI wins over the full one, and
     * a token file over an inline token, as in the SDKs. */
    const char *rel = xacct_endpoints_env(g, ga, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const char *full = xacct_endpoints_env(g, ga, "AWS_CONTAINER_CREDENTIALS_FULL_URI");
    if (rel != NULL || full != NULL) {
        cfg->source = XACCT_CREDS_SOURCE_CONTAINER;
        if (rel != NULL) {
            if (rel[0] != '/')
                return config_error(err, errlen,
                                    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must start with '/'");
            cfg->url = xacct_asprintf(ECS_AGENT "%s", rel);
        } else {
            if (!xacct__creds_container_uri_allowed(full))
                return config_error(err, errlen,
                                    "AWS_CONTAINER_CREDENTIALS_FULL_URI must be https, or http to "
                                    "a loopback or ECS/EKS agent address");
            cfg->url = xacct_strdup(full);
        }
        const char *tfile = xacct_endpoints_env(g, ga, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
        const char *tok = xacct_endpoints_env(g, ga, "AWS_CONTAINER_AUTHORIZATION_TOKEN");
        if (tfile != NULL) {
            cfg->token_file = xacct_strdup(tfile);
        } else if (tok != NULL) {
            if (!header_safe(tok))
                return config_error(err, errlen,
                                    "AWS_CONTAINER_AUTHORIZATION_TOKEN contains a line break");
            cfg->token = xacct_strdup(tok);
        }
        return 0;
    }

    /* 5. Instance metadata, unless switched off. */
    const char *disabled = xacct_endpoints_env(g, ga, "AWS_EC2_METADATA_DISABLED");
    if (disabled != NULL && strcasecmp(disabled, "true") == 0) {
        cfg->source = XACCT_CREDS_SOURCE_NONE;
        return 0;
    }
    return imds_link(g, ga, cfg, err, errlen);
}

void xacct__creds_config_destroy(xacct__creds_config_t *cfg)
{
    xacct__creds_set_free(cfg->keys);
    free(cfg->url);
    xacct_free_secret(cfg->token);
    free(cfg->token_file);
    free(cfg->role_arn);
    free(cfg->session_name);
    free(cfg->external_id);
    free(cfg->sts_region);
    free(cfg->process);
    free(cfg->profile);
    memset(cfg, 0, sizeof(*cfg));
}
