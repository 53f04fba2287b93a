/* SPDX-License-Identifier: MIT */
/*
 * doctor: the template bucket (cloudformation.template_bucket, when set)
 * takes a write and a delete under templates/, where onboarding puts the
 * per-customer templates: a small probe object is put and deleted again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "doctor.h"
#include "xacct/s3.h"

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
    cli_res_t r = {0};
    const char *step = "writing";
    if (run(d, true, &o, &r) == 0) {
        cli_res_clear(&r);
        step = "deleting";
        run(d, false, &o, &r);
    }
    if (r.status != 0) {
        char what[160];
        snprintf(what, sizeof(what), "%s a probe object in s3://%s", step, bucket);
        char *msg = xacct_ctx_aws_error(r.status, r.detail, what);
        doctor_add(d, "bucket", DOCTOR_FAIL,
                   "create the bucket (deploy/aws/partner-core.json) or fix "
                   "cloudformation.template_bucket; allow s3:PutObject and s3:DeleteObject on "
                   "templates/*",
                   "%s", msg);
        free(msg);
    } else {
        doctor_add(d, "bucket", DOCTOR_OK, NULL, "s3://%s/templates/ writable", bucket);
    }
    cli_res_clear(&r);
}
