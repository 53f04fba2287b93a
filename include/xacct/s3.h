/* SPDX-License-Identifier: MIT */
/*
 * Amazon S3 client for per-customer templates: PutObject and DeleteObject,
 * path-style (<endpoint>/<bucket>/<key>), signed with SigV4 through
 * xacct_aws_call (which adds x-amz-content-sha256 and retries transient
 * failures).
 */
#ifndef XACCT_S3_H
#define XACCT_S3_H

#include <stdbool.h>
#include <stddef.h>

#include <time.h>

#include "xacct/aws.h"
#include "xacct/common.h"
#include "xacct/sigv4.h"

/* Completion: status 0, or an aws.h status (XACCT_EAWS with detail such as
 * "NoSuchBucket: ...", XACCT_EACCESSDENIED, XACCT_EAGAIN, ...). detail is
 * borrowed for the callback. */
typedef void (*xacct_s3_done_cb)(int status, const char *detail, void *arg);

typedef struct xacct_s3_object {
    const char *region;       /* bucket region; NULL = the client's */
    const char *bucket;       /* required */
    const char *key;          /* required, at most 1024 bytes */
    const void *body;         /* PutObject only; copied */
    size_t len;
    const char *content_type; /* PutObject only; NULL = application/octet-stream */
} xacct_s3_object_t;

/* Stores the object (everything copied) with a Content-MD5 header, which S3
 * checks and a bucket with Object Lock requires. The callback fires exactly once,
 * never from inside this call; a nonzero return (XACCT_EINVAL: bad bucket or
 * key, or xacct_aws_call's errors) means it never will. */
int xacct_s3_put(xacct_aws_t *aws, const xacct_s3_object_t *o, xacct_s3_done_cb cb,
                 void *arg) XACCT_MUSTCHECK;

/* Deletes the object (a missing key is success, as in S3). Same contract. */
int xacct_s3_delete(xacct_aws_t *aws, const xacct_s3_object_t *o, xacct_s3_done_cb cb,
                    void *arg) XACCT_MUSTCHECK;

/* The object's https URL as CloudFormation fetches it (the same endpoint the
 * calls use: AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL apply), in *out (caller
 * frees). Returns 0, XACCT_EINVAL or XACCT_ECONFIG. */
int xacct_s3_object_url(xacct_getenv_fn getenv_fn, void *getenv_arg, const char *region,
                        const char *bucket, const char *key, char **out) XACCT_MUSTCHECK;

/* A GetObject URL anyone holding it may use until it expires: SigV4 query
 * authentication (X-Amz-Algorithm ... X-Amz-Signature). */
typedef struct xacct_s3_presign {
    xacct_getenv_fn getenv;       /* endpoint overrides; NULL = the process environment */
    void *getenv_arg;             /* borrowed */
    const char *region;           /* the bucket's region (the signing region) */
    const char *bucket;
    const char *key;
    const xacct_sigv4_credentials_t *creds; /* borrowed; a session token goes into the
                                     query and the URL dies with the session */
    time_t now;                   /* signing time (X-Amz-Date) */
    long expires;                 /* X-Amz-Expires: 1..604800 seconds */
} xacct_s3_presign_t;

/* The object's URL (as xacct_s3_object_url) presigned for GET, host the
 * only signed header, UNSIGNED-PAYLOAD. *out is a heap string holding a
 * credential (free with xacct_free_secret, never log it). Returns 0,
 * XACCT_EINVAL (bad argument, expires out of range) or XACCT_ECONFIG. */
int xacct_s3_presign_get(const xacct_s3_presign_t *p, char **out) XACCT_MUSTCHECK;

#endif
