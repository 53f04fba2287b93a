/* SPDX-License-Identifier: MIT */
/*
 * Endpoint and environment resolution (endpoints.h): the service endpoint for
 * a region or its override from the environment, the signing region, the
 * default region and S3 object URLs. Pure functions of their arguments and
 * the environment lookup they are given; no I/O.
 */
#include "xacct/endpoints.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xacct/buf.h"
#include "xacct/sigv4.h"

#define MAX_URL_LEN 8192

const char *xacct_endpoints_getenv(const char *name, void *arg)
{
    XACCT_UNUSED(arg);
    /* The profile's settings are never taken from the environment. */
    if (name[0] == '@')
        return NULL;
    return secure_getenv(name);
}

const char *xacct_endpoints_env(xacct_getenv_fn getenv_fn, void *getenv_arg, const char *name)
{
    if (getenv_fn == NULL)
        getenv_fn = xacct_endpoints_getenv;
    const char *v = getenv_fn(name, getenv_arg);
    return v != NULL && *v != '\0' ? v : NULL;
}

bool xacct_endpoints_valid_id(const char *s)
{
    if (s == NULL || *s == '\0' || strlen(s) > 64)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return false;
    return true;
}

static bool is_china(const char *region)
{
    return strncmp(region, "cn-", 3) == 0;
}

/* Checks an endpoint override with CURLU: absolute http(s), a host, no
 * credentials, query or fragment. */
static bool url_ok(const char *url)
{
    bool ok = false;
    char *scheme = NULL, *host = NULL, *part = NULL;
    CURLU *u = NULL;
    if (strlen(url) > MAX_URL_LEN || (u = curl_url()) == NULL)
        return false;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
        goto out;
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        (strcmp(scheme, "https") != 0 && strcmp(scheme, "http") != 0))
        goto out;
    if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || *host == '\0')
        goto out;
    /* A user name or password would go out as Basic auth and into every
     * log line that names the endpoint. */
    static const CURLUPart refused[] = {CURLUPART_USER, CURLUPART_PASSWORD, CURLUPART_QUERY,
                                        CURLUPART_FRAGMENT};
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(refused); i++) {
        if (curl_url_get(u, refused[i], &part, 0) == CURLUE_OK)
            goto out;
        curl_free(part);
        part = NULL;
    }
    ok = true;
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(part);
    curl_url_cleanup(u);
    return ok;
}

bool xacct_endpoints_url_ok(const char *url)
{
    return url != NULL && url_ok(url);
}

/* Returns the override without trailing slashes in *out. */
static int check_override(const char *url, char **out)
{
    /* The override is read for every call and is nearly always the one
     * accepted last time: a pure check of the string, it is not repeated. */
    static _Thread_local char last_ok[256];
    if (strlen(url) > MAX_URL_LEN)
        return XACCT_ECONFIG;
    if (url[0] == '\0' || strcmp(url, last_ok) != 0) {
        if (!url_ok(url))
            return XACCT_ECONFIG;
        if (strlen(url) < sizeof(last_ok))
            strcpy(last_ok, url);
    }
    /* The URL as given (not curl's normalised form), minus trailing slashes,
     * so a path prefix survives exactly. */
    size_t len = strlen(url);
    while (len > 0 && url[len - 1] == '/')
        len--;
    *out = xacct_strndup(url, len);
    return 0;
}

static bool env_true(xacct_getenv_fn getenv_fn, void *getenv_arg, const char *name)
{
    const char *v = xacct_endpoints_env(getenv_fn, getenv_arg, name);
    return v != NULL && strcasecmp(v, "true") == 0;
}

/* The configured endpoint URL of service, in the SDKs' order:
 * AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL, the profile's services
 * section, the profile's endpoint_url; or NULL: none, or ignored
 * (AWS_IGNORE_CONFIGURED_ENDPOINT_URLS, else the profile's setting). */
static const char *configured_url(xacct_getenv_fn getenv_fn, void *getenv_arg,
                                  const char *service)
{
    const char *ignore = xacct_endpoints_env(getenv_fn, getenv_arg,
                                             "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
    if (ignore == NULL)
        ignore = xacct_endpoints_env(getenv_fn, getenv_arg,
                                     XACCT_ENDPOINTS_PROFILE_PREFIX
                                     "ignore_configured_endpoint_urls");
    if (ignore != NULL && strcasecmp(ignore, "true") == 0)
        return NULL;
    char name[96], key[96];
    size_t n = (size_t)snprintf(name, sizeof(name), "AWS_ENDPOINT_URL_");
    size_t k = (size_t)snprintf(key, sizeof(key), XACCT_ENDPOINTS_PROFILE_PREFIX "endpoint_url.");
    for (const char *p = service; *p && n + 1 < sizeof(name) && k + 1 < sizeof(key); p++) {
        name[n++] = *p == '-' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
        key[k++] = *p == '-' ? '_' : *p;
    }
    name[n] = '\0';
    key[k] = '\0';
    const char *url = xacct_endpoints_env(getenv_fn, getenv_arg, name);
    if (url == NULL)
        url = xacct_endpoints_env(getenv_fn, getenv_arg, "AWS_ENDPOINT_URL");
    if (url == NULL)
        url = xacct_endpoints_env(getenv_fn, getenv_arg, key);
    if (url == NULL)
        url = xacct_endpoints_env(getenv_fn, getenv_arg,
                                  XACCT_ENDPOINTS_PROFILE_PREFIX "endpoint_url");
    return url;
}

const char *xacct_endpoints_unsupported_variant(xacct_getenv_fn getenv_fn, void *getenv_arg)
{
    static const char *const variants[] = {"AWS_USE_FIPS_ENDPOINT",
                                           "AWS_USE_DUALSTACK_ENDPOINT"};
    static const char *const services[] = {"sqs", "sts", "sns", "s3"};
    if (getenv_fn == NULL)
        getenv_fn = xacct_endpoints_getenv;
    for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
        if (!env_true(getenv_fn, getenv_arg, variants[i]))
            continue;
        for (size_t k = 0; k < sizeof(services) / sizeof(services[0]); k++)
            if (configured_url(getenv_fn, getenv_arg, services[k]) == NULL)
                return variants[i];
    }
    return NULL;
}

int xacct_endpoints_resolve(xacct_getenv_fn getenv_fn, void *getenv_arg, const char *service,
                               const char *region, char **out)
{
    *out = NULL;
    if (getenv_fn == NULL)
        getenv_fn = xacct_endpoints_getenv;
    if (!xacct_endpoints_valid_id(service) || !xacct_endpoints_valid_id(region))
        return XACCT_EINVAL;

    const char *url = configured_url(getenv_fn, getenv_arg, service);
    if (url != NULL)
        return check_override(url, out);

    const char *suffix = is_china(region) ? "amazonaws.com.cn" : "amazonaws.com";
    if (strcmp(service, "iam") == 0)
        *out = is_china(region) ? xacct_strdup("https://iam.cn-north-1.amazonaws.com.cn")
                                : xacct_strdup("https://iam.amazonaws.com");
    else
        *out = xacct_asprintf("https://%s.%s.%s", service, region, suffix);
    return 0;
}

const char *xacct_endpoints_signing_region(const char *service, const char *region)
{
    if (service != NULL && strcmp(service, "iam") == 0)
        return region != NULL && is_china(region) ? "cn-north-1" : "us-east-1";
    return region;
}

const char *xacct_endpoints_region_from_env(xacct_getenv_fn getenv_fn, void *getenv_arg)
{
    if (getenv_fn == NULL)
        getenv_fn = xacct_endpoints_getenv;
    const char *r = xacct_endpoints_env(getenv_fn, getenv_arg, "AWS_REGION");
    return r != NULL ? r : xacct_endpoints_env(getenv_fn, getenv_arg, "AWS_DEFAULT_REGION");
}

static bool valid_bucket(const char *b)
{
    size_t n = b != NULL ? strlen(b) : 0;
    if (n < 3 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((b[i] >= 'a' && b[i] <= 'z') || (b[i] >= '0' && b[i] <= '9') || b[i] == '-' ||
              b[i] == '.'))
            return false;
    return true;
}

int xacct_endpoints_s3_url(xacct_getenv_fn getenv_fn, void *getenv_arg, const char *region,
                     const char *bucket, const char *key, char **out)
{
    int rc;
    char *endpoint = NULL;
    xacct_buf_t b;

    *out = NULL;
    xacct_buf_init(&b, MAX_URL_LEN);
    if (!valid_bucket(bucket) || key == NULL || *key == '\0' || strlen(key) > 1024) {
        rc = XACCT_EINVAL;
        goto out;
    }
    if ((rc = xacct_endpoints_resolve(getenv_fn, getenv_arg, "s3", region, &endpoint)) != 0)
        goto out;
    if ((rc = xacct_buf_printf(&b, "%s/%s/", endpoint, bucket)) != 0 ||
        (rc = xacct_sigv4_uri_encode(&b, key, strlen(key), false)) != 0)
        goto out;
    *out = xacct_buf_steal(&b);
out:
    free(endpoint);
    xacct_buf_destroy(&b);
    return rc;
}
