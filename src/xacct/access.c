/* SPDX-License-Identifier: MIT */
/*
 * What `xacct credentials` and `xacct console` share (SPEC §9.7): naming the
 * operator who acts on a customer's role, the customers such access is for
 * (active or degraded: a verified role behind a connected stack), and the
 * audit event that attributes the access. The event is appended before
 * anything is printed, and its failure fails the command, so no access goes
 * out unrecorded.
 */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "xacct/onboard.h"
#include "xacct/operator.h"
#include "xacct/utf8.h"

int cli_operator(cli_t *c, const char *flag, char *out, size_t outlen)
{
    char name[XACCT_OPERATOR_NAME_MAX + 1];
    xacct_operator_source_t src = 0;
    const char *raw = NULL;
    bool changed = false;
    int rc = xacct_operator_resolve(flag, getenv("XACCT_OPERATOR"), name, &src, &raw, &changed);
    static const char *const where[] = {"", "--operator", "XACCT_OPERATOR", "the login name"};
    const char *from = where[src >= XACCT_OPERATOR_FLAG && src <= XACCT_OPERATOR_LOGIN ? src : 0];
    if (rc == XACCT_ENOTFOUND)
        return cli_fail(c, "cannot find the login name: name the operator with --operator or "
                           "XACCT_OPERATOR");
    if (rc != 0) {
        /* raw may hold anything: shown only as far as it is printable UTF-8. */
        char *shown = xacct_utf8_sanitize(raw ? raw : "");
        int ret = src == XACCT_OPERATOR_LOGIN
                      ? cli_fail(c, "the login name '%.80s' gives no usable operator name; name "
                                    "the operator with --operator or XACCT_OPERATOR",
                                 shown)
                      : cli_usage(c, "invalid operator name '%.80s' (%s): STS needs 2 to 64 of "
                                     "the characters A-Z a-z 0-9 _+=,.@-",
                                  shown, from);
        free(shown);
        return ret;
    }
    if (changed) {
        char *shown = xacct_utf8_sanitize(raw);
        fprintf(c->err, "xacct %s: note: operator '%.80s' (%s) is named '%s' in the session (STS "
                        "allows only A-Z a-z 0-9 _+=,.@-, at most 64)\n",
                c->command, shown, from, name);
        free(shown);
    }
    snprintf(out, outlen, "%s", name);
    return 0;
}

int cli_check_reason(cli_t *c, const char *reason)
{
    if (reason == NULL)
        return 0;
    size_t n = strlen(reason);
    if (n == 0 || n > XACCT_CLI_REASON_MAX || !xacct_utf8_valid(reason, n))
        return cli_usage(c, "invalid --reason: UTF-8 text of 1 to %d bytes",
                         XACCT_CLI_REASON_MAX);
    return 0;
}

/* cli_load_customer_role for operator access: only an active or degraded
 * customer (a connected stack whose role was verified). 0 or CLI_FAIL. */
static int load_access_customer(cli_t *c, const char *account, xacct_customer_t **customer)
{
    int rc = cli_load_customer(c, account, customer);
    if (rc != 0)
        return rc;
    xacct_customer_state_t st = (*customer)->state;
    if (st != XACCT_CUSTOMER_ACTIVE && st != XACCT_CUSTOMER_DEGRADED) {
        rc = cli_fail(c, "customer %s is %s: access is only for active or degraded customers",
                      account, xacct_customer_state_name(st));
    } else if ((*customer)->role_arn[0] == '\0') {
        rc = cli_fail(c, "customer %s has no role yet (state %s)", account,
                      xacct_customer_state_name(st));
    } else {
        rc = cli_aws(c);
    }
    if (rc != 0) {
        xacct_customer_free(*customer);
        *customer = NULL;
    }
    return rc;
}

int cli_access_prepare(cli_t *c, const char *account, cli_access_args_t *a,
                       xacct_customer_t **customer)
{
    *customer = NULL;
    int rc;
    if ((rc = cli_check_account(c, account)) != 0 || (rc = cli_check_reason(c, a->reason)) != 0)
        return rc;
    if (a->duration_flag != NULL && ((a->duration = cli_parse_limit(a->duration_flag, 43200)) == 0 ||
                                     a->duration < 900))
        return cli_usage(c, "invalid --duration '%s': seconds from 900 to 43200 (and at most the "
                            "role's maximum session duration)",
                         a->duration_flag);
    if ((rc = cli_operator(c, a->operator_flag, a->operator_name, sizeof(a->operator_name))) != 0)
        return rc;
    if ((rc = cli_config(c)) != 0 || (rc = cli_store(c)) != 0)
        return rc;
    return load_access_customer(c, account, customer);
}

int cli_audit_access(cli_t *c, const char *account, const char *type, const char *operator_name,
                     const char *reason)
{
    xacct_event_t ev = xacct_onboard_event(type, "ok", reason ? reason : "no reason given",
                                           operator_name);
    cli_res_t r = {0};
    cli_audit_append(c, account, &ev, &r);
    int rc = r.status == 0 ? 0
                       : cli_fail_store(c, r.status, r.detail,
                                        "recording the access in the audit trail (nothing "
                                        "was handed out)");
    cli_res_clear(&r);
    return rc;
}
