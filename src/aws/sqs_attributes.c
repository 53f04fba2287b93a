/* SPDX-License-Identifier: MIT */
/*
 * SQS GetQueueAttributes (AWS JSON 1.0) for the two attributes the setup
 * checks read: the queue's ARN and its access policy.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "xacct/sqs.h"

typedef struct attrs_op {
    xacct_sqs_attributes_cb cb;
    void *arg;
} attrs_op_t;

static void attrs_done(int status, const char *detail, const xacct_http_response_t *resp,
                       const xacct_aws_error_t *err, void *arg)
{
    (void)err;
    attrs_op_t op = *(attrs_op_t *)arg;
    free(arg);
    if (status != 0) {
        op.cb(status, detail, NULL, NULL, op.arg);
        return;
    }
    json_t *doc = json_loadb(resp->body, resp->body_len, 0, NULL);
    json_t *attrs = json_object_get(doc, "Attributes");
    const char *arn = json_string_value(json_object_get(attrs, "QueueArn"));
    if (arn == NULL)
        op.cb(XACCT_EPARSE, "GetQueueAttributes answer without a QueueArn", NULL, NULL, op.arg);
    else
        op.cb(0, NULL, arn, json_string_value(json_object_get(attrs, "Policy")), op.arg);
    json_decref(doc);
}

int xacct_sqs_get_attributes(xacct_aws_t *aws, const char *queue_url, const char *region,
                             xacct_sqs_attributes_cb cb, void *arg)
{
    if (aws == NULL || queue_url == NULL || cb == NULL)
        return XACCT_EINVAL;
    json_t *body = json_pack("{s:s, s:[s,s]}", "QueueUrl", queue_url, "AttributeNames",
                             "QueueArn", "Policy");
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (text == NULL)
        return XACCT_EINVAL;
    xacct_header_t headers[] = {
        {"Content-Type", "application/x-amz-json-1.0"},
        {"X-Amz-Target", "AmazonSQS.GetQueueAttributes"},
    };
    xacct_aws_request_t req = {.service = "sqs", .region = region, .method = "POST", .path = "/",
                               .headers = headers, .nheaders = 2, .body = text,
                               .body_len = strlen(text), .max_body = 256 * 1024};
    attrs_op_t *op = xacct_calloc(1, sizeof(*op));
    op->cb = cb;
    op->arg = arg;
    int rc = xacct_aws_call(aws, &req, attrs_done, op, NULL);
    free(text);
    if (rc != 0)
        free(op);
    return rc;
}
