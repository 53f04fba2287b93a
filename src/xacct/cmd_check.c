/* SPDX-License-Identifier: MIT */
/*
 * `xacct check ACCOUNT [--wait S]`: run the three-probe safety check
 * (check.h) against the customer's role now — assumable with its external ID,
 * refused without one and with a wrong one — and report secure, insecure,
 * not-assumable, error or transient. Exit 0 only when secure. The outcome is added to the audit
 * trail; the credentials obtained are dropped by the check at once. While a
 * rotation is pending, a role that already trusts the pending ID instead of
 * the current one is secure too (customer_role.h), and the output says so.
 */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "commands.h"
#include "xacct/arn.h"
#include "xacct/check.h"

typedef struct check_op {
    bool done;
    xacct_check_result_t result;
    char *detail;
    unsigned attempts;
} check_op_t;

static void check_done(xacct_check_result_t result, const char *detail, unsigned attempts,
                       void *arg)
{
    check_op_t *op = arg;
    op->result = result;
    op->detail = xacct_strdup(detail ? detail : "");
    op->attempts = attempts;
    op->done = true;
}

int xacct_cmd_check(cli_t *c, int argc, char **argv)
{
    const char *wait_s = NULL;
    const char *pos[1];
    cli_opt_t opts[] = {{"wait", true, &wait_s, NULL}, {NULL, false, NULL, NULL}};
    int rc = cli_account_args(c, argc, argv, opts, pos);
    if (rc != 0)
        return rc;
    size_t wait = 15;
    if (wait_s != NULL && (wait = cli_parse_limit(wait_s, 3600)) == 0)
        return cli_usage(c, "invalid --wait '%s': seconds from 1 to 3600", wait_s);
    if ((rc = cli_store(c)) != 0)
        return rc;
    xacct_customer_t *cust = NULL;
    if ((rc = cli_load_customer_role(c, pos[0], &cust)) != 0)
        return rc;
    const char *role = cust->role_arn, *region = cust->region;
    xacct_check_params_t p = {
        .role_arn = role,
        .external_id = cust->external_id,
        .region = xacct_region_valid(region) ? region : NULL,
        .session_name = "xacct-cli-check",
        .propagation_timeout_ms = (uint64_t)wait * 1000,
        /* An operator is waiting: transient failures (AWS unreachable) end
         * the check shortly after the propagation window, not minutes later. */
        .deadline_ms = uv_now(c->ctx->loop) + (uint64_t)wait * 1000 + 15000,
        .pending_external_id = cust->pending_external_id,
    };
    check_op_t op = {0};
    xacct_customer_role_id_t trusted = XACCT_CUSTOMER_ROLE_CURRENT;
    p.trusted = &trusted;
    rc = xacct_check_start(c->ctx->loop, c->ctx->aws, &p, check_done, &op, NULL);
    if (rc != 0) {
        xacct_customer_free(cust);
        return cli_fail(c, "cannot start the check: %s", xacct_strerror(rc));
    }
    cli_wait(c, &op.done);
    const char *name = xacct_check_result_name(op.result);
    cli_audit(c, pos[0], "check", name, op.detail);
    if (c->json) {
        /* Which of the customer's IDs got in (never the ID itself); null
         * when none did. */
        bool in = op.result == XACCT_CHECK_SECURE || op.result == XACCT_CHECK_INSECURE;
        cli_print_json(
            c, json_pack("{s:s, s:s, s:s, s:b, s:s, s:i, s:o}", "account_id", pos[0], "role_arn",
                         role, "result", name, "secure", op.result == XACCT_CHECK_SECURE, "detail",
                         op.detail, "attempts", (int)op.attempts, "external_id_used",
                         in ? json_string(xacct_customer_role_id_name(trusted)) : json_null()));
    } else {
        fprintf(c->out, "%s: %s%s%s\n", role, name, op.detail[0] ? ": " : "", op.detail);
    }
    rc = op.result == XACCT_CHECK_SECURE ? CLI_OK : CLI_FAIL;
    free(op.detail);
    xacct_customer_free(cust);
    return rc;
}
