/* SPDX-License-Identifier: MIT */
/*
 * doctor: the template bucket (cloudformation.template_bucket, when set)
 * takes a write and a delete under templates/, where onboarding puts the
 * per-customer templates, and hands an object back through a presigned URL
 * without credentials, as a customer's CloudFormation reads a template
 * (template_link.h): a small probe object is put, read through a short-lived
 * presigned link, and deleted again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "doctor.h"
#include "xacct/s3.h"
#include "xacct/template_link.h"

static void s3_done(int status, const char *detail, void *arg)
{
    cli_res_set(arg, status, detail);
}

static int run(doctor_t *d, bool put, const xacct_s3_object_t *o, cli_res_t *r)
{
    int rc = put ? xacct_s3_put(d->c->ctx->aws, o, s3_done, r)
                 : xacct_s3_delete(d->c->ctx->aws, o, s3_done, r);
    if (rc != 0)
        cli_res_set(r, rc, NULL);
    else
        cli_wait(d->c, &r->done);
    return r->status;
}

static void get_done(int status, const char *detail, const xacct_http_response_t *resp,
                     const xacct_aws_error_t *err, void *arg)
{
    (void)resp;
    (void)err;
    cli_res_set(arg, status, detail);
}

/* GET of the object through a presigned URL, sent unsigned: S3 authorizes
 * it as the signer's s3:GetObject. */
static int read_presigned(doctor_t *d, const char *key, cli_res_t *r)
{
    char *url = NULL;
    char why[256];
    /* S3 judges expiry by its own clock: 15 minutes outlast any skew the
     * clock check lets pass. */
    int rc = xacct_template_link_presign(d->c->ctx, key, 900, &url, why, sizeof(why));
    if (rc != 0) {
        cli_res_set(r, rc, why);
        return rc;
    }
    xacct_aws_request_t req = {
        .service = "s3",
        .method = "GET",
        .url = url,
        .unsigned_request = true,
        .max_body = 4096,
    };
    rc = xacct_aws_call(d->c->ctx->aws, &req, get_done, r, NULL);
    xacct_free_secret(url); /* copied by the call */
    if (rc != 0)
        cli_res_set(r, rc, NULL);
    else
        cli_wait(d->c, &r->done);
    return r->status;
}

void doctor_check_bucket(doctor_t *d)
{
    const char *bucket = d->c->ctx->cfg->cfn_template_bucket;
    if (bucket == NULL || bucket[0] == '\0') {
        doctor_add(d, "bucket", DOCTOR_OK, NULL,
                   "cloudformation.template_bucket not set: templates are written to files");
        return;
    }
    char key[96];
    snprintf(key, sizeof(key), "templates/xacct-doctor-probe-%ld-%ld.json", (long)getpid(),
             (long)time(NULL));
    static const char body[] = "{}";
    xacct_s3_object_t o = {.bucket = bucket, .key = key, .body = body, .len = sizeof(body) - 1,
                           .content_type = "application/json"};
    cli_res_t r = {0}, got = {0};
    const char *step = "writing";
    if (run(d, true, &o, &r) == 0) {
        /* Read it back as a customer would; delete it whatever came of that. */
        read_presigned(d, key, &got);
        cli_res_clear(&r);
        step = "deleting";
        run(d, false, &o, &r);
    }
    if (r.status != 0 || got.status != 0) {
        bool get = r.status == 0;
        char what[200];
        snprintf(what, sizeof(what), "%s a probe object in s3://%s",
                 get ? "reading (through a presigned URL)" : step, bucket);
        doctor_fail_aws(d, "bucket",
                        get ? "allow s3:GetObject on templates/* to the credentials xacct uses: "
                              "customers read their template through links those credentials "
                              "presign"
                            : "create the bucket (deploy/aws/partner-core.json) or fix "
                              "cloudformation.template_bucket; allow s3:PutObject, "
                              "s3:GetObject and s3:DeleteObject on templates/*",
                        NULL, get ? got.status : r.status, get ? got.detail : r.detail, what);
    } else {
        doctor_add(d, "bucket", DOCTOR_OK, NULL,
                   "s3://%s/templates/ writable, readable through presigned links", bucket);
    }
    cli_res_clear(&r);
    cli_res_clear(&got);
}
