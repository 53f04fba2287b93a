/* SPDX-License-Identifier: MIT */
/*
 * Blocking forms of the library calls several commands share: each starts
 * the asynchronous call with a small result struct as its argument and runs
 * the loop until the callback has filled it in. Everything a callback hands
 * over is borrowed, so it is copied here (records into jansson objects whose
 * external ID is wiped on release).
 */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "xacct/arn.h"
#include "xacct/customer_role.h"
#include "xacct/customers.h"
#include "xacct/onboard.h"

void cli_res_set(cli_res_t *r, int status, const char *detail)
{
    r->status = status;
    free(r->detail);
    r->detail = detail ? xacct_strdup(detail) : NULL;
    r->done = true;
}

void cli_res_clear(cli_res_t *r)
{
    free(r->detail);
    memset(r, 0, sizeof(*r));
}

void cli_res_cb(int status, const char *detail, void *arg)
{
    cli_res_set(arg, status, detail);
}

void cli_await(cli_t *c, int rc, cli_res_t *r)
{
    if (rc == 0)
        cli_wait(c, &r->done);
    else
        cli_res_set(r, rc, NULL);
}

/* ---- customer record ---------------------------------------------------- */

typedef struct get_op {
    cli_res_t *r;
    xacct_customer_t *customer;
} get_op_t;

static void get_done(int status, const char *detail, const xacct_customer_t *customer,
                     void *arg)
{
    get_op_t *op = arg;
    if (status == 0)
        op->customer = xacct_customer_dup(customer);
    cli_res_set(op->r, status, detail);
}

int cli_customer_get(cli_t *c, const char *account, xacct_customer_t **customer, cli_res_t *r)
{
    *customer = NULL;
    cli_res_clear(r);
    get_op_t op = {.r = r};
    int rc = xacct_customers_get(c->ctx->store, account, get_done, &op);
    if (rc != 0) {
        cli_res_set(r, rc, NULL);
        return rc;
    }
    cli_wait(c, &r->done);
    *customer = op.customer;
    return r->status;
}

int cli_load_customer(cli_t *c, const char *account, xacct_customer_t **customer)
{
    cli_res_t r = {0};
    int rc = 0;
    if (cli_customer_get(c, account, customer, &r) != 0)
        rc = r.status == XACCT_ENOTFOUND
                 ? cli_fail(c, "no customer %s", account)
                 : cli_fail_store(c, r.status, r.detail, "reading the customer");
    cli_res_clear(&r);
    return rc;
}

int cli_load_customer_role(cli_t *c, const char *account, xacct_customer_t **customer)
{
    int rc = cli_load_customer(c, account, customer);
    if (rc != 0)
        return rc;
    if ((*customer)->role_arn[0] == '\0')
        rc = cli_fail(c, "customer %s has no role yet (state %s)", account,
                      xacct_customer_state_name((*customer)->state));
    else
        rc = cli_aws(c);
    if (rc != 0) {
        xacct_customer_free(*customer);
        *customer = NULL;
    }
    return rc;
}

typedef struct trusted_op {
    bool done;
    int status;
    xacct_customer_role_id_t used;
} trusted_op_t;

static void trusted_done(int status, const char *detail, const xacct_sts_credentials_t *creds,
                         xacct_customer_role_id_t used, void *arg)
{
    (void)detail;
    (void)creds; /* only which ID got in matters; the keys are dropped */
    trusted_op_t *op = arg;
    op->status = status;
    op->used = used;
    op->done = true;
}

const char *cli_trusted_external_id(cli_t *c, const xacct_customer_t *cust,
                                    const char *session_name)
{
    const char *pending = cust->pending_external_id;
    if (pending == NULL || pending[0] == '\0')
        return cust->external_id;
    xacct_sts_assume_params_t p = {
        .role_arn = cust->role_arn,
        .session_name = session_name,
        .external_id = cust->external_id,
        .region = xacct_region_valid(cust->region) ? cust->region : NULL,
    };
    trusted_op_t op = {0};
    if (xacct_customer_role_assume(c->ctx->aws, &p, pending, trusted_done, &op, NULL) != 0)
        return cust->external_id; /* the caller's own call reports the failure */
    cli_wait(c, &op.done);
    return op.status == 0 && op.used == XACCT_CUSTOMER_ROLE_PENDING ? pending : cust->external_id;
}

void cli_audit_append(cli_t *c, const char *account, const xacct_event_t *ev, cli_res_t *r)
{
    cli_await(c, xacct_customers_audit(c->ctx->store, account, ev, cli_res_cb, r), r);
}

void cli_audit(cli_t *c, const char *account, const char *type, const char *outcome,
               const char *reason)
{
    xacct_event_t ev = xacct_onboard_event(type, outcome, reason, "cli");
    cli_res_t r = {0};
    cli_audit_append(c, account, &ev, &r);
    if (r.status != 0)
        fprintf(c->err, "xacct %s: warning: the audit event was not recorded: %s\n", c->command,
                r.detail ? r.detail : xacct_strerror(r.status));
    cli_res_clear(&r);
}


void cli_record_free(json_t *record)
{
    json_t *id = json_object_get(record, "external_id");
    if (json_is_string(id)) {
        /* jansson keeps the string's bytes in the value: wipe them. */
        char *p = (char *)json_string_value(id);
        OPENSSL_cleanse(p, json_string_length(id));
    }
    json_decref(record);
}
