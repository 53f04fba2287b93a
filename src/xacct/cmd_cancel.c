/* SPDX-License-Identifier: MIT */
/*
 * xacct cancel ACCOUNT: withdraw a pending onboarding at once (SPEC §9.4),
 * through the same library call as DELETE /v1/customers/{account_id}:
 * state cancelled, external ID retired, template deleted, account taken off
 * its topic's allow-list. When AWS fails during the clean-up the cancel
 * stands (exit 0) and a warning says the workers finish the clean-up;
 * repeating it for a cancelled customer finishes it at once. Any other
 * state is refused (exit 1).
 */
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "xacct/cancel.h"

typedef struct cancel_op {
    cli_res_t r;
    char state[32];  /* the customer's state after the call */
    bool already;    /* cancelled before */
    bool cleaned;    /* template and topic policy clean */
} cancel_op_t;

static void cancel_done(int status, const char *detail, const xacct_cancel_result_t *res,
                        void *arg)
{
    cancel_op_t *op = arg;
    if (res != NULL) {
        snprintf(op->state, sizeof(op->state), "%s", res->state ? res->state : "");
        op->already = res->already;
        op->cleaned = res->cleaned;
    }
    cli_res_set(&op->r, status, detail);
}

int xacct_cmd_cancel(cli_t *c, int argc, char **argv)
{
    const char *pos[1];
    int rc = cli_account_args(c, argc, argv, NULL, pos);
    if (rc != 0)
        return rc;
    if ((rc = cli_store(c)) != 0 || (rc = cli_aws(c)) != 0)
        return rc;
    cancel_op_t op = {0};
    rc = xacct_cancel_onboarding(c->ctx, pos[0], "cli", cancel_done, &op);
    if (rc != 0)
        return cli_fail(c, "%s", xacct_strerror(rc));
    cli_wait(c, &op.r.done);
    if (op.r.status != 0) {
        rc = cli_fail(c, "%s", op.r.detail ? op.r.detail : xacct_strerror(op.r.status));
        cli_res_clear(&op.r);
        return rc;
    }
    if (!op.cleaned)
        fprintf(c->err, "warning: %s\n", op.r.detail ? op.r.detail : "the clean-up is not done");
    cli_res_clear(&op.r);
    if (c->json) {
        cli_print_json(c, json_pack("{s:s, s:s, s:b, s:b}", "account_id", pos[0], "state",
                                    op.state, "already_cancelled", op.already, "cleaned_up",
                                    op.cleaned));
    } else if (op.already) {
        fprintf(c->out, "Customer %s was already cancelled; %s.\n", pos[0],
                op.cleaned ? "its clean-up is finished" : "xacctd finishes its clean-up");
    } else if (op.cleaned) {
        fprintf(c->out,
                "Customer %s cancelled: its external ID no longer works, its template is "
                "deleted and its account may no longer publish to the partner topic.\n",
                pos[0]);
    } else {
        fprintf(c->out,
                "Customer %s cancelled: its external ID no longer works; xacctd deletes its "
                "template and takes its account off the partner topic's allow-list.\n",
                pos[0]);
    }
    return CLI_OK;
}
