/* SPDX-License-Identifier: MIT */
/*
 * PutObject and DeleteObject on path-style S3 URLs: the path is
 * /<bucket>/<key> with the key percent-encoded as SigV4 wants it, so what is
 * signed is what goes on the wire; PutObject carries Content-MD5. The
 * endpoint is resolved by the generic AWS call, which also signs (with the
 * S3 payload hash) and retries. A
 * presigned GetObject URL is built on the same object URL, so the path that
 * is signed is the path CloudFormation requests.
 */
#include "xacct/s3.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "xacct/buf.h"
#include "xacct/digest.h"
#include "xacct/sigv4.h"

typedef struct s3_op {
    xacct_s3_done_cb cb;
    void *arg;
} s3_op_t;

static void call_done(int status, const char *detail, const xacct_http_response_t *resp,
                      const xacct_aws_error_t *err, void *arg)
{
    (void)resp;
    (void)err;
    s3_op_t op = *(s3_op_t *)arg;
    free(arg);
    op.cb(status, detail, op.arg);
}

int xacct_s3_object_url(xacct_getenv_fn getenv_fn, void *getenv_arg, const char *region,
                        const char *bucket, const char *key, char **out)
{
    *out = NULL;
    if (region == NULL || bucket == NULL || key == NULL)
        return XACCT_EINVAL;
    return xacct_endpoints_s3_url(getenv_fn ? getenv_fn : xacct_endpoints_getenv, getenv_arg, region,
                            bucket, key, out);
}

int xacct_s3_presign_get(const xacct_s3_presign_t *p, char **out)
{
    *out = NULL;
    if (p == NULL || p->creds == NULL || p->region == NULL)
        return XACCT_EINVAL;
    char *url = NULL;
    int rc = xacct_s3_object_url(p->getenv, p->getenv_arg, p->region, p->bucket, p->key, &url);
    if (rc != 0)
        return rc;
    xacct_sigv4_request_t req = {
        .method = "GET",
        .url = url,
        .region = p->region,
        .service = "s3",
        .now = p->now,
        .s3 = true,
    };
    rc = xacct_sigv4_presign(NULL, &req, p->creds, p->expires, out);
    free(url);
    return rc;
}

/* Content-MD5 of a PutObject body: base64 of the 16-byte MD5. A bucket
 * with Object Lock refuses a PutObject that carries neither it nor an
 * x-amz-checksum-* header (400 InvalidRequest), and S3 checks it against
 * what arrived (BadDigest) whatever the bucket. */
static int content_md5(const void *body, size_t len, char out[25])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (xacct_digest(XACCT_DIGEST_MD5, body != NULL ? body : "", body != NULL ? len : 0, md,
                     &mdlen) != 0 ||
        mdlen != 16)
        return XACCT_ECRYPTO;
    EVP_EncodeBlock((unsigned char *)out, md, 16); /* 24 characters and a NUL */
    return 0;
}

static int start(xacct_aws_t *aws, const char *method, const xacct_s3_object_t *o,
                 xacct_s3_done_cb cb, void *arg)
{
    if (aws == NULL || o == NULL || cb == NULL || o->bucket == NULL || o->key == NULL)
        return XACCT_EINVAL;
    const char *region = o->region ? o->region : xacct_aws_region(aws);
    if (region == NULL)
        return XACCT_EINVAL;
    if (o->bucket[0] == '\0' || strchr(o->bucket, '/') != NULL || strlen(o->bucket) > 63 ||
        o->key[0] == '\0' || strlen(o->key) > 1024)
        return XACCT_EINVAL;
    xacct_buf_t path;
    xacct_buf_init(&path, 8192);
    int rc = xacct_buf_printf(&path, "/%s/", o->bucket);
    if (rc == 0)
        rc = xacct_sigv4_uri_encode(&path, o->key, strlen(o->key), false);
    if (rc != 0) {
        xacct_buf_destroy(&path);
        return rc;
    }
    bool put = strcmp(method, "PUT") == 0;
    char md5[25] = "";
    if (put && (rc = content_md5(o->body, o->len, md5)) != 0) {
        xacct_buf_destroy(&path);
        return rc;
    }
    xacct_header_t headers[] = {
        {"Content-Type", o->content_type ? o->content_type : "application/octet-stream"},
        {"Content-MD5", md5},
    };
    xacct_aws_request_t req = {
        .service = "s3",
        .region = region,
        .method = method,
        .path = path.data,
        .headers = put ? headers : NULL,
        .nheaders = put ? 2 : 0,
        .body = put ? o->body : NULL,
        .body_len = put ? o->len : 0,
        .max_body = 64 * 1024,
    };
    s3_op_t *op = xacct_calloc(1, sizeof(*op));
    op->cb = cb;
    op->arg = arg;
    rc = xacct_aws_call(aws, &req, call_done, op, NULL);
    xacct_buf_destroy(&path);
    if (rc != 0)
        free(op);
    return rc;
}

int xacct_s3_put(xacct_aws_t *aws, const xacct_s3_object_t *o, xacct_s3_done_cb cb, void *arg)
{
    return start(aws, "PUT", o, cb, arg);
}

int xacct_s3_delete(xacct_aws_t *aws, const xacct_s3_object_t *o, xacct_s3_done_cb cb, void *arg)
{
    return start(aws, "DELETE", o, cb, arg);
}
