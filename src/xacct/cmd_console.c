/* SPDX-License-Identifier: MIT */
/*
 * `xacct console ACCOUNT [--destination URL] [--duration S] [--operator
 * NAME] [--reason TEXT]`: a federated console sign-in URL for the customer's
 * role (console.h), printed alone on stdout so it can be piped; a warning on
 * stderr says what it is — a credential, good for 15 minutes. The session
 * names the operator (RoleSessionName and SourceIdentity, as `xacct
 * credentials` does, and with the same fallback for roles from templates
 * older than sts:SetSourceIdentity), and the sign-in is recorded in the
 * audit trail with the operator and reason (never the URL) before the URL
 * is printed.
 */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "commands.h"
#include "xacct/arn.h"
#include "xacct/console.h"
#include "xacct/operator.h"

typedef struct console_op {
    cli_res_t r;
    char *url; /* owned, secret */
} console_op_t;

static void console_done(int status, const char *detail, const char *login_url, void *arg)
{
    console_op_t *op = arg;
    if (status == 0)
        op->url = xacct_strdup(login_url);
    cli_res_set(&op->r, status, detail);
}

int xacct_cmd_console(cli_t *c, int argc, char **argv)
{
    const char *dest = NULL;
    cli_access_args_t a = {.duration = XACCT_CONSOLE_DEFAULT_DURATION};
    const char *pos[1];
    cli_opt_t opts[] = {{"destination", true, &dest, NULL},
                        {"duration", true, &a.duration_flag, NULL},
                        {"operator", true, &a.operator_flag, NULL},
                        {"reason", true, &a.reason, NULL},
                        {NULL, false, NULL, NULL}};
    int rc = cli_args(c, argc, argv, opts, pos, 1, 1);
    if (rc != 0)
        return rc;
    if (dest != NULL && strncmp(dest, "https://", 8) != 0)
        return cli_usage(c, "invalid --destination '%s': an https:// URL", dest);
    xacct_customer_t *cust;
    if ((rc = cli_access_prepare(c, pos[0], &a, &cust)) != 0)
        return rc;
    const char *op_name = a.operator_name, *reason = a.reason;
    size_t duration = a.duration;
    const char *role = cust->role_arn, *region = cust->region;
    xacct_console_params_t p = {
        .role_arn = role,
        /* During a rotation, the ID the role trusts now (cmd.h). */
        .external_id = cli_trusted_external_id(c, cust, op_name),
        .region = xacct_region_valid(region) ? region : NULL,
        .federation_url = c->ctx->cfg->console_federation_url,
        .destination = dest ? dest : c->ctx->cfg->console_destination,
        .issuer = c->ctx->cfg->console_issuer,
        .session_duration_s = (int)duration,
        .session_name = op_name,
        .source_identity = op_name,
    };
    console_op_t op = {0};
    for (int attempt = 0; attempt < 2; attempt++) {
        rc = xacct_console_signin_url(c->ctx->aws, c->ctx->http, &p, console_done, &op);
        if (rc != 0) {
            xacct_customer_free(cust);
            return cli_fail(c, "cannot start the sign-in: %s (check console.federation_url and "
                               "console.destination)",
                            xacct_strerror(rc));
        }
        cli_wait(c, &op.r.done);
        if (op.r.status != XACCT_EACCESSDENIED || p.source_identity == NULL)
            break;
        /* Perhaps only SourceIdentity was refused (a template from before
         * sts:SetSourceIdentity): once more without it. */
        cli_res_clear(&op.r);
        p.source_identity = NULL;
    }
    char why[XACCT_CLI_REASON_MAX + 96];
    snprintf(why, sizeof(why), "console sign-in URL issued: %s%s",
             reason ? reason : "no reason given",
             p.source_identity ? "" : " (without SourceIdentity: older template)");
    if (op.r.status != 0) {
        rc = cli_fail_aws(c, op.r.status, op.r.detail, "console sign-in");
    } else if ((rc = cli_audit_access(c, pos[0], "console", op_name, why)) == 0) {
        if (xacct_aws_role_session(c->ctx->aws) && duration > 3600) {
            fprintf(c->err, "xacct console: note: xacct signs with a role session's "
                            "credentials, and AWS limits a session assumed from one to an "
                            "hour: the console session lasts one hour, not %zu seconds\n",
                    duration);
            duration = 3600;
        }
        if (p.source_identity == NULL)
            fprintf(c->err,
                    "xacct console: warning: the role of %s does not allow sts:SetSourceIdentity "
                    "(its stack runs an older template; see xacct outdated): the session is "
                    "named %s but carries no SourceIdentity\n",
                    pos[0], op_name);
        fprintf(c->err, "xacct console: warning: this URL signs in to account %s as %s for 15 "
                        "minutes; treat it as a password.\n",
                pos[0], role);
        if (c->json)
            cli_print_json(c, json_pack("{s:s, s:s, s:s, s:i, s:i, s:s}", "account_id", pos[0],
                                        "role_arn", role, "login_url", op.url, "valid_seconds",
                                        900, "session_duration", (int)duration, "operator",
                                        op_name));
        else
            fprintf(c->out, "%s\n", op.url);
    }
    xacct_free_secret(op.url);
    cli_res_clear(&op.r);
    xacct_customer_free(cust);
    return rc;
}
