/* SPDX-License-Identifier: MIT */
/*
 * doctor: credentials were found and STS says whose they are
 * (GetCallerIdentity, which needs no permission). The answer's Date header is
 * kept for the clock check, also when the call failed.
 */
#include <stdlib.h>
#include <string.h>

#include "doctor.h"
#include "xacct/sts.h"

typedef struct identity_res {
    cli_res_t r;
    char *account;
    char *arn;
    char *date;
} identity_res_t;

static void identity_done(int status, const char *detail, const xacct_sts_identity_t *id,
                          void *arg)
{
    identity_res_t *o = arg;
    if (id->date != NULL)
        o->date = xacct_strdup(id->date);
    if (status == 0) {
        o->account = xacct_strdup(id->account);
        o->arn = xacct_strdup(id->arn);
    }
    cli_res_set(&o->r, status, detail);
}

void doctor_check_identity(doctor_t *d)
{
    identity_res_t o = {0};
    int rc = xacct_sts_get_caller_identity(d->c->ctx->aws, NULL, identity_done, &o);
    if (rc != 0) {
        o.r.status = rc;
        o.r.done = true;
    } else {
        cli_wait(d->c, &o.r.done);
    }
    const char *partner = d->c->ctx->cfg->aws_partner_account_id;
    if (o.r.status != 0) {
        doctor_fail_aws(d, "identity",
                        "give xacct credentials of the partner account (AWS_PROFILE, "
                        "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, an instance or task role)",
                        NULL, o.r.status, o.r.detail, "calling STS GetCallerIdentity");
    } else if (partner != NULL && partner[0] != '\0' && strcmp(partner, o.account) != 0) {
        doctor_add(d, "identity", DOCTOR_FAIL,
                   "use credentials of the partner account, or fix aws.partner_account_id",
                   "credentials are %s (account %s), not of aws.partner_account_id %s", o.arn,
                   o.account, partner);
    } else {
        doctor_add(d, "identity", DOCTOR_OK, NULL, "%s (account %s)", o.arn, o.account);
    }
    free(d->server_date);
    d->server_date = o.date;
    free(o.account);
    free(o.arn);
    cli_res_clear(&o.r);
}
