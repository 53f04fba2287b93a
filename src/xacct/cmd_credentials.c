/* SPDX-License-Identifier: MIT */
/*
 * `xacct credentials ACCOUNT [--operator NAME] [--reason TEXT] [--duration
 * S]` (SPEC §9.7): temporary credentials for the customer's role, printed
 * as the JSON the AWS CLI and SDKs read from a `credential_process`
 * ({"Version": 1, AccessKeyId, SecretAccessKey, SessionToken, Expiration}).
 * The session is named after the operator (RoleSessionName and
 * SourceIdentity), so the customer's CloudTrail shows who acted; the access
 * is recorded in the customer's audit trail before the keys are printed.
 * The keys are printed once and never stored or logged; every copy is wiped.
 *
 * A role from a template older than sts:SetSourceIdentity refuses a
 * SourceIdentity; the command then asks once more without it (the session
 * name still names the operator) and says so, so older customers keep
 * working until they update their stack (`xacct outdated`). While a rotation
 * is pending, the role may already trust only the pending ID: AssumeRole
 * goes through customer_role.h, which tries it when the current one is
 * refused.
 */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "commands.h"
#include "xacct/arn.h"
#include "xacct/customer_role.h"
#include "xacct/operator.h"
#include "xacct/sts.h"

#define DEFAULT_DURATION 3600

typedef struct creds_op {
    cli_res_t r;
    char *access_key_id;     /* owned, secret */
    char *secret_access_key; /* owned, secret */
    char *session_token;     /* owned, secret */
    char *expiration;        /* owned */
    char *assumed_role_arn;  /* owned */
} creds_op_t;

static void creds_op_clear(creds_op_t *op)
{
    xacct_free_secret(op->access_key_id);
    xacct_free_secret(op->secret_access_key);
    xacct_free_secret(op->session_token);
    free(op->expiration);
    free(op->assumed_role_arn);
    cli_res_clear(&op->r);
    memset(op, 0, sizeof(*op));
}

static void assumed(int status, const char *detail, const xacct_sts_credentials_t *creds,
                    xacct_customer_role_id_t used, void *arg)
{
    (void)used;
    creds_op_t *op = arg;
    if (status == 0) {
        op->access_key_id = xacct_strdup(creds->access_key_id);
        op->secret_access_key = xacct_strdup(creds->secret_access_key);
        op->session_token = xacct_strdup(creds->session_token);
        op->expiration = xacct_strdup(creds->expiration);
        op->assumed_role_arn = xacct_strdup(creds->assumed_role_arn);
    }
    cli_res_set(&op->r, status, detail);
}

static int assume(cli_t *c, const xacct_sts_assume_params_t *p, const char *pending_id,
                  creds_op_t *op)
{
    int rc = xacct_customer_role_assume(c->ctx->aws, p, pending_id, assumed, op, NULL);
    if (rc != 0) {
        cli_res_set(&op->r, rc, "cannot start AssumeRole");
        return rc;
    }
    cli_wait(c, &op->r.done);
    return op->r.status;
}

/* Wipes a JSON string's bytes in place (jansson keeps them in the value). */
static void wipe_member(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (json_is_string(v))
        OPENSSL_cleanse((char *)json_string_value(v), json_string_length(v));
}

static int print_process_json(cli_t *c, const creds_op_t *op)
{
    json_t *o = json_pack("{s:i, s:s, s:s, s:s, s:s}", "Version", 1, "AccessKeyId",
                          op->access_key_id, "SecretAccessKey", op->secret_access_key,
                          "SessionToken", op->session_token, "Expiration", op->expiration);
    if (o == NULL)
        return cli_fail(c, "AssumeRole answered credentials that are not valid UTF-8");
    char *text = json_dumps(o, JSON_INDENT(2));
    wipe_member(o, "AccessKeyId");
    wipe_member(o, "SecretAccessKey");
    wipe_member(o, "SessionToken");
    json_decref(o);
    if (text == NULL)
        return cli_fail(c, "out of memory");
    fprintf(c->out, "%s\n", text);
    xacct_free_secret(text);
    return CLI_OK;
}

int xacct_cmd_credentials(cli_t *c, int argc, char **argv)
{
    cli_access_args_t a = {.duration = DEFAULT_DURATION};
    const char *pos[1];
    cli_opt_t opts[] = {{"operator", true, &a.operator_flag, NULL},
                        {"reason", true, &a.reason, NULL},
                        {"duration", true, &a.duration_flag, NULL},
                        {NULL, false, NULL, NULL}};
    xacct_customer_t *cust;
    int rc = cli_args(c, argc, argv, opts, pos, 1, 1);
    if (rc != 0 || (rc = cli_access_prepare(c, pos[0], &a, &cust)) != 0)
        return rc;
    const char *op_name = a.operator_name, *reason = a.reason;
    size_t duration = a.duration;
    if (duration > 3600 && xacct_aws_role_session(c->ctx->aws)) {
        /* Role chaining: STS refuses more than an hour. */
        fprintf(c->err, "xacct credentials: note: xacct signs with a role session's "
                        "credentials, and AWS limits a session assumed from one to an hour: "
                        "these last one hour, not %zu seconds\n",
                duration);
        duration = 3600;
    }
    xacct_sts_assume_params_t p = {
        .role_arn = cust->role_arn,
        .session_name = op_name,
        .external_id = cust->external_id,
        .source_identity = op_name,
        .duration_s = (int)duration,
        .region = xacct_region_valid(cust->region) ? cust->region : NULL,
    };
    creds_op_t op = {0};
    int st = assume(c, &p, cust->pending_external_id, &op);
    if (st == XACCT_EACCESSDENIED) {
        /* Perhaps only SourceIdentity was refused (a template from before
         * sts:SetSourceIdentity): once more without it. */
        creds_op_clear(&op);
        p.source_identity = NULL;
        if ((st = assume(c, &p, cust->pending_external_id, &op)) == 0)
            fprintf(c->err,
                    "xacct credentials: warning: the role of %s does not allow "
                    "sts:SetSourceIdentity (its stack runs an older template; see xacct "
                    "outdated): the session is named %s but carries no SourceIdentity\n",
                    pos[0], op_name);
    }
    char why[XACCT_CLI_REASON_MAX + 96];
    if (st != 0) {
        rc = cli_fail_aws(c, op.r.status, op.r.detail, "AssumeRole on the customer's role");
    } else {
        snprintf(why, sizeof(why), "%s%s", reason ? reason : "no reason given",
                 p.source_identity ? "" : " (without SourceIdentity: older template)");
        rc = cli_audit_access(c, pos[0], "credentials", op_name, why);
        if (rc == 0)
            rc = print_process_json(c, &op);
    }
    creds_op_clear(&op);
    xacct_customer_free(cust);
    return rc;
}
