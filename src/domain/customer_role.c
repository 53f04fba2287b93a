/* SPDX-License-Identifier: MIT */
/*
 * AssumeRole on a customer's role with the current external ID and, only
 * when the role refused it with AccessDenied while a rotation is pending,
 * once more with the pending ID (customer_role.h). The second call is made
 * from the first one's callback, so the parameters are kept as copies; the
 * two IDs are wiped when the operation ends.
 */
#include "xacct/customer_role.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xacct/extid.h"

struct xacct_customer_role_op {
    xacct_aws_t *aws;            /* borrowed */
    xacct_sts_assume_params_t p; /* points at the copies below */
    char *role_arn;
    char *session_name;
    char *source_identity;
    char *region;
    char *external_id;             /* secret */
    char *pending_external_id;     /* secret; NULL = no rotation pending */
    xacct_customer_role_id_t used; /* the ID of the call in flight */
    xacct_aws_call_t *call;        /* in flight, or NULL */
    xacct_customer_role_cb cb;
    void *arg;
};

/* The copy below must follow xacct_sts_assume_params_t: a field added there
 * (a string especially) has to be copied here too, or the second call would
 * read the caller's memory after it is gone. */
struct sts_params_shape {
    const char *role_arn, *session_name, *external_id, *source_identity;
    int duration_s;
    const char *region;
    int max_attempts;
};
_Static_assert(sizeof(xacct_sts_assume_params_t) == sizeof(struct sts_params_shape),
               "xacct_sts_assume_params_t changed: copy its new fields in customer_role.c");

const char *xacct_customer_role_id_name(xacct_customer_role_id_t id)
{
    return id == XACCT_CUSTOMER_ROLE_PENDING ? "pending" : "current";
}

static void op_free(xacct_customer_role_op_t *op)
{
    free(op->role_arn);
    free(op->session_name);
    free(op->source_identity);
    free(op->region);
    xacct_free_secret(op->external_id);
    xacct_free_secret(op->pending_external_id);
    free(op);
}

static void finish(xacct_customer_role_op_t *op, int status, const char *detail,
                   const xacct_sts_credentials_t *creds)
{
    op->cb(status, detail, creds, op->used, op->arg);
    op_free(op);
}

static int start_call(xacct_customer_role_op_t *op);

static void on_assumed(int status, const char *detail, const xacct_sts_credentials_t *creds,
                       void *arg)
{
    xacct_customer_role_op_t *op = arg;
    op->call = NULL;
    if (status == XACCT_EACCESSDENIED && op->used == XACCT_CUSTOMER_ROLE_CURRENT &&
        op->pending_external_id != NULL) {
        /* The stack's update may already have moved the role to the
         * pending ID, ahead of the Update message that swaps the IDs. */
        op->used = XACCT_CUSTOMER_ROLE_PENDING;
        int rc = start_call(op);
        if (rc != 0)
            finish(op, rc, "AssumeRole with the pending external ID could not be sent", NULL);
        return;
    }
    if (status == XACCT_EACCESSDENIED && op->used == XACCT_CUSTOMER_ROLE_PENDING) {
        char why[512];
        snprintf(why, sizeof(why), "refused with the current and with the pending external ID: %s",
                 detail ? detail : xacct_strerror(status));
        finish(op, status, why, NULL);
        return;
    }
    finish(op, status, detail, creds);
}

static int start_call(xacct_customer_role_op_t *op)
{
    op->p.external_id =
        op->used == XACCT_CUSTOMER_ROLE_PENDING ? op->pending_external_id : op->external_id;
    return xacct_sts_assume_role(op->aws, &op->p, on_assumed, op, &op->call);
}

int xacct_customer_role_assume(xacct_aws_t *aws, const xacct_sts_assume_params_t *p,
                               const char *pending_external_id, xacct_customer_role_cb cb,
                               void *arg, xacct_customer_role_op_t **handle)
{
    if (handle != NULL)
        *handle = NULL;
    if (aws == NULL || p == NULL || cb == NULL || p->role_arn == NULL || p->session_name == NULL ||
        p->external_id == NULL || p->external_id[0] == '\0')
        return XACCT_EINVAL;
    xacct_customer_role_op_t *op = xacct_calloc(1, sizeof(*op));
    op->aws = aws;
    op->role_arn = xacct_strdup(p->role_arn);
    op->session_name = xacct_strdup(p->session_name);
    op->source_identity = p->source_identity ? xacct_strdup(p->source_identity) : NULL;
    op->region = p->region ? xacct_strdup(p->region) : NULL;
    op->external_id = xacct_strdup(p->external_id);
    /* A pending ID equal to the current one is no rotation: one call. */
    if (pending_external_id != NULL && pending_external_id[0] != '\0' &&
        !xacct_secret_equal(pending_external_id, p->external_id))
        op->pending_external_id = xacct_strdup(pending_external_id);
    op->p = *p;
    op->p.role_arn = op->role_arn;
    op->p.session_name = op->session_name;
    op->p.source_identity = op->source_identity;
    op->p.region = op->region;
    op->used = XACCT_CUSTOMER_ROLE_CURRENT;
    op->cb = cb;
    op->arg = arg;
    int rc = start_call(op);
    if (rc != 0) {
        op_free(op);
        return rc;
    }
    if (handle != NULL)
        *handle = op;
    return 0;
}

void xacct_customer_role_cancel(xacct_customer_role_op_t *op)
{
    if (op == NULL || op->call == NULL)
        return;
    xacct_aws_call_t *call = op->call;
    op->call = NULL;
    xacct_aws_cancel(call); /* fires on_assumed with XACCT_ECANCELED -> finish */
}
