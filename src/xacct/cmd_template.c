/* SPDX-License-Identifier: MIT */
/*
 * `xacct template ACCOUNT`: the customer's CloudFormation template as it is
 * handed out (rendered by deliver.h from the record's external ID and
 * topic), printed as JSON — with or without --json, since it is JSON
 * already. While a rotation is pending (SPEC §9.3) the template handed out
 * is the one trusting the pending ID, which the customer's stack update
 * needs; --current renders the one of the ID in use instead. A closed
 * onboarding (offboarding, offboarded, expired, cancelled) has no template
 * to hand out: its ID is retired, and a stack launched from it would fail.
 */
#include <stdlib.h>

#include "cmd.h"
#include "commands.h"
#include "xacct/deliver.h"

int xacct_cmd_template(cli_t *c, int argc, char **argv)
{
    const char *pos[1];
    bool current = false;
    cli_opt_t opts[] = {{"current", false, NULL, &current}, {NULL, false, NULL, NULL}};
    int rc = cli_account_args(c, argc, argv, opts, pos);
    if (rc != 0)
        return rc;
    const char *need[] = {"partner", NULL};
    if ((rc = cli_config_need(c, need)) != 0 || (rc = cli_store(c)) != 0)
        return rc;
    xacct_customer_t *cust = NULL;
    if ((rc = cli_load_customer(c, pos[0], &cust)) != 0)
        return rc;
    xacct_customer_state_t st = cust->state;
    if (st != XACCT_CUSTOMER_PENDING && st != XACCT_CUSTOMER_ACTIVE &&
        st != XACCT_CUSTOMER_DEGRADED && st != XACCT_CUSTOMER_REJECTED) {
        xacct_customer_free(cust);
        return cli_fail(c, "customer %s is %s: its external ID is retired; run xacct onboard %s "
                        "for a new one and its template",
                        pos[0], xacct_customer_state_name(st), pos[0]);
    }
    char *text = NULL;
    char err[512];
    const char *id = !current && cust->pending_external_id[0] != '\0' ? cust->pending_external_id
                                                                      : cust->external_id;
    rc = xacct_deliver_render(c->ctx->cfg, pos[0], id, cust->topic_arn, &text, err, sizeof(err));
    xacct_customer_free(cust);
    if (rc == XACCT_ENOTFOUND)
        return cli_fail(c, "%s: run xacct rotate-external-id %s", err, pos[0]);
    if (rc != 0)
        return cli_fail(c, "%s", err);
    fprintf(c->out, "%s\n", text);
    xacct_free_secret(text);
    return CLI_OK;
}
