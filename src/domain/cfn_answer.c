/* SPDX-License-Identifier: MIT */
/*
 * Delivering a response to CloudFormation's presigned ResponseURL. The URL
 * is a credential for the stack (whoever holds it can answer), so it is
 * never logged here, and it is used exactly as received: no signing, no
 * Content-Type (the presigned signature covers an empty one).
 */
#include <stdlib.h>
#include <string.h>

#include "xacct/aws.h"
#include "xacct/aws_error.h"
#include "xacct/cfn.h"

typedef struct answer_op {
    xacct_cfn_answer_cb cb;
    void *arg;
} answer_op_t;

bool xacct_cfn_answer_refused(long http_status, const xacct_aws_error_t *err)
{
    return xacct_aws_error_is_refusal(http_status, err) &&
           !(err != NULL && xacct_aws_error_is(err, "OperationAborted"));
}

static void on_put(int status, const char *detail, const xacct_http_response_t *resp,
                   const xacct_aws_error_t *err, void *arg)
{
    answer_op_t *op = arg;
    long http = resp ? resp->status : 0;
    if (status != 0 && xacct_cfn_answer_refused(http, err))
        status = XACCT_EFORBIDDEN;
    op->cb(status, detail, http, op->arg);
    free(op);
}

int xacct_cfn_answer_send(struct xacct_aws *aws, const char *response_url, const char *body,
                          xacct_cfn_answer_cb cb, void *arg, struct xacct_aws_call **handle)
{
    if (response_url == NULL || body == NULL || strlen(body) > XACCT_CFN_MAX_RESPONSE)
        return XACCT_EINVAL;
    xacct_header_t headers[] = {{"Content-Type", ""}};
    xacct_aws_request_t req = {
        .method = "PUT",
        .url = response_url,
        .headers = headers,
        .nheaders = 1,
        .body = body,
        .body_len = strlen(body),
        .unsigned_request = true,
        .service = "cloudformation-response", /* metrics label only */
        .timeout_ms = 30000,
        .max_body = 64 * 1024,
        .max_attempts = 3,
        .untrusted_url = true, /* never IMDS, whatever the name resolves to */
    };
    answer_op_t *op = xacct_calloc(1, sizeof(*op));
    op->cb = cb;
    op->arg = arg;
    int rc = xacct_aws_call(aws, &req, on_put, op, handle);
    if (rc != 0)
        free(op);
    return rc;
}
