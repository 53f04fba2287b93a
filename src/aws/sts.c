/* SPDX-License-Identifier: MIT */
/*
 * STS AssumeRole over the query protocol. The request is a form-encoded POST;
 * the response is read by sts_parse.c. The
 * credentials are handed to the callback and wiped as soon as it returns:
 * nothing keeps them.
 */
#include "xacct/sts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xacct/buf.h"
#include "xacct/query.h"

typedef struct assume_op {
    xacct_sts_assume_cb cb;
    void *arg;
} assume_op_t;

int xacct_sts_assume_status(int status, const xacct_aws_error_t *err)
{
    /* STS refusing the key, the signature or the token of the caller says
     * nothing about the role being probed. */
    static const char *const caller[] = {"InvalidClientTokenId", "SignatureDoesNotMatch",
                                         "IncompleteSignature", "MissingAuthenticationToken",
                                         "InvalidAccessKeyId"};
    if (status != XACCT_EAWS || err == NULL)
        return status;
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(caller); i++)
        if (xacct_aws_error_is(err, caller[i]))
            return XACCT_ENOCREDS;
    return status;
}

static void assume_done(int status, const char *detail, const xacct_http_response_t *resp,
                        const xacct_aws_error_t *err, void *arg)
{
    assume_op_t *op = arg;
    if (status != 0) {
        op->cb(xacct_sts_assume_status(status, err), detail, NULL, op->arg);
        free(op);
        return;
    }
    xacct_sts_credentials_t creds;
    xacct__sts_store_t *store = NULL;
    if (xacct__sts_parse_assume(resp->body, resp->body_len, &creds, &store) != 0)
        op->cb(XACCT_EPARSE, "AssumeRole response carries no credentials", NULL, op->arg);
    else
        op->cb(0, "assumed", &creds, op->arg);
    xacct__sts_store_free(store);
    free(op);
}

int xacct_sts_assume_role(xacct_aws_t *aws, const xacct_sts_assume_params_t *p,
                          xacct_sts_assume_cb cb, void *arg, xacct_aws_call_t **handle)
{
    if (p->role_arn == NULL || p->session_name == NULL)
        return XACCT_EINVAL;
    int duration = p->duration_s ? p->duration_s : 900;
    if (duration < 900 || duration > 43200)
        return XACCT_EINVAL;
    xacct_buf_t body;
    xacct_buf_init(&body, 16384);
    int rc = xacct_buf_puts(&body, "Action=AssumeRole&Version=2011-06-15");
    if (rc == 0)
        rc = xacct_query_param(&body, "RoleArn", p->role_arn);
    if (rc == 0)
        rc = xacct_query_param(&body, "RoleSessionName", p->session_name);
    if (rc == 0)
        rc = xacct_buf_printf(&body, "&DurationSeconds=%d", duration);
    if (rc == 0 && p->external_id != NULL)
        rc = xacct_query_param(&body, "ExternalId", p->external_id);
    if (rc == 0 && p->source_identity != NULL)
        rc = xacct_query_param(&body, "SourceIdentity", p->source_identity);
    if (rc != 0) {
        xacct_buf_destroy_secret(&body);
        return rc;
    }
    assume_op_t *op = xacct_calloc(1, sizeof(*op));
    op->cb = cb;
    op->arg = arg;
    xacct_aws_request_t req = xacct_query_request("sts", p->region, &body);
    req.max_body = 64 * 1024;
    req.max_attempts = p->max_attempts;
    rc = xacct_aws_call(aws, &req, assume_done, op, handle);
    /* The body holds the external ID. */
    xacct_buf_destroy_secret(&body);
    if (rc != 0)
        free(op);
    return rc;
}
