/* SPDX-License-Identifier: MIT */
/*
 * Where AWS is and which region to use, from the environment: the endpoint of
 * a service in a region (real AWS by default: https://<service>.<region>.
 * amazonaws.com, .amazonaws.com.cn in China regions, IAM global; overridden,
 * as in the SDKs, by AWS_ENDPOINT_URL_<SERVICE>, then AWS_ENDPOINT_URL, then
 * the shared-config profile's "[services NAME]" endpoint_url of the service,
 * then the profile's endpoint_url; none of them when
 * AWS_IGNORE_CONFIGURED_ENDPOINT_URLS, else the profile's
 * ignore_configured_endpoint_urls, is true), the SigV4 signing region, the
 * default region (AWS_REGION, AWS_DEFAULT_REGION) and S3 path-style object
 * URLs. Both the signed call (aws.c) and the credentials chain (creds.c) read
 * it; it reads neither.
 */
#ifndef XACCT_ENDPOINTS_H
#define XACCT_ENDPOINTS_H

#include <stdbool.h>

#include "xacct/common.h"

/* getenv-like lookup, so tests need not touch the process environment.
 * Returns a borrowed string or NULL when unset. */
typedef const char *(*xacct_getenv_fn)(const char *name, void *arg);

/* The process environment (secure_getenv); arg is ignored. */
const char *xacct_endpoints_getenv(const char *name, void *arg);

/* getenv_fn(name) when set and not empty, else NULL (borrowed). getenv_fn
 * NULL = xacct_endpoints_getenv. */
const char *xacct_endpoints_env(xacct_getenv_fn getenv_fn, void *getenv_arg, const char *name);

/*
 * The profile's settings reach the functions below through the getenv
 * lookup under names no environment variable has (they start with '@'):
 * PREFIX "endpoint_url", PREFIX "endpoint_url.<service key>" (the service
 * id with '-' as '_'), PREFIX "ignore_configured_endpoint_urls". The process
 * environment (xacct_endpoints_getenv) never answers them; the lookup of an
 * xacct_endpoints_profile_t does.
 */
#define XACCT_ENDPOINTS_PROFILE_PREFIX "@aws-profile."

typedef struct xacct_endpoints_profile xacct_endpoints_profile_t;

/*
 * Reads the endpoint settings of the selected profile (AWS_PROFILE, else
 * default; see aws_profile.h) through getenv_fn (NULL = the process
 * environment, borrowed with getenv_arg for the object's life) and checks
 * their URLs. Returns 0 and *out (free with xacct_endpoints_profile_free), or
 * XACCT_ECONFIG with the file or setting named in err.
 */
int xacct_endpoints_profile_new(xacct_getenv_fn getenv_fn, void *getenv_arg,
                                xacct_endpoints_profile_t **out, char *err,
                                size_t errlen) XACCT_MUSTCHECK;
void xacct_endpoints_profile_free(xacct_endpoints_profile_t *p); /* NULL is a no-op */

/* The layered lookup: arg is the xacct_endpoints_profile_t; the profile's
 * names are answered from it, every other name from the environment it was
 * created over. arg NULL = the process environment alone. */
const char *xacct_endpoints_profile_getenv(const char *name, void *arg);

/* Whether url is acceptable as an endpoint: an absolute http(s) URL with a
 * host and no user name or password, query or fragment (checked with CURLU). */
bool xacct_endpoints_url_ok(const char *url);

/* A service or region id: 1-64 characters of [a-z0-9-]. */
bool xacct_endpoints_valid_id(const char *s);

/*
 * Endpoint of service ("sqs", "sts", "s3", "sns", "iam", or any other lower
 * case service id) in region, as "scheme://host[:port][/path]" without a
 * trailing slash, in *out (caller frees). An override must be an absolute
 * http(s) URL without query or fragment (checked with CURLU). Returns 0,
 * XACCT_EINVAL (bad service or region) or XACCT_ECONFIG (bad override).
 */
int xacct_endpoints_resolve(xacct_getenv_fn getenv_fn, void *getenv_arg, const char *service,
                            const char *region, char **out) XACCT_MUSTCHECK;

/* AWS_USE_FIPS_ENDPOINT or AWS_USE_DUALSTACK_ENDPOINT set to true asks for
 * endpoints xacct does not derive: the name of the first such variable when
 * one of the services xacct calls (SQS, STS, SNS, S3) has no configured
 * endpoint URL to honour it with, else NULL. Silently calling the standard
 * endpoints instead would break a FIPS requirement unnoticed. */
const char *xacct_endpoints_unsupported_variant(xacct_getenv_fn getenv_fn, void *getenv_arg);

/* The region SigV4 must use for service when the call names region: "us-east-1"
 * for IAM (cn-north-1 in China), region otherwise. Borrowed/static. */
const char *xacct_endpoints_signing_region(const char *service, const char *region);

/* Region from AWS_REGION, then AWS_DEFAULT_REGION; NULL if neither is set.
 * Borrowed from the environment. */
const char *xacct_endpoints_region_from_env(xacct_getenv_fn getenv_fn, void *getenv_arg);

/* "https://s3.eu-west-1.amazonaws.com/<bucket>/<key>" (or the override), the key
 * percent-encoded with '/' kept, in *out (caller frees). */
int xacct_endpoints_s3_url(xacct_getenv_fn getenv_fn, void *getenv_arg, const char *region,
                           const char *bucket, const char *key, char **out) XACCT_MUSTCHECK;

#endif
