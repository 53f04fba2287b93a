/* SPDX-License-Identifier: MIT */
/*
 * doctor: each queue of queue.urls is reachable with these credentials
 * (SQS GetQueueAttributes QueueArn and Policy). The ARN and policy of every
 * reachable queue are kept for the topic checks.
 */
#include <stdlib.h>
#include <string.h>

#include "doctor.h"
#include "xacct/sqs.h"

static void check_queue(doctor_t *d, const char *url)
{
    char region[32];
    xacct_sqs_queue_region(url, d->c->ctx->cfg->aws_region, region);
    json_t *body = json_pack("{s:s, s:[s,s]}", "QueueUrl", url, "AttributeNames", "QueueArn",
                             "Policy");
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    xacct_header_t headers[] = {
        {"Content-Type", "application/x-amz-json-1.0"},
        {"X-Amz-Target", "AmazonSQS.GetQueueAttributes"},
    };
    xacct_aws_request_t req = {.service = "sqs", .region = region, .method = "POST", .path = "/",
                               .headers = headers, .nheaders = 2, .body = text,
                               .body_len = strlen(text), .max_attempts = 2};
    doctor_resp_t r;
    doctor_call(d, &req, &r);
    free(text);
    json_t *doc = r.status == 0 ? json_loads(r.body, 0, NULL) : NULL;
    json_t *attrs = json_object_get(doc, "Attributes");
    const char *arn = json_string_value(json_object_get(attrs, "QueueArn"));
    const char *policy = json_string_value(json_object_get(attrs, "Policy"));
    if (r.status != 0 || arn == NULL) {
        char *msg = xacct_ctx_aws_error(r.status ? r.status : XACCT_EPARSE, r.detail,
                                        "reading the queue's attributes");
        doctor_add(d, "queue", DOCTOR_FAIL,
                   "create the queue (deploy/aws/partner-core.json) or fix queue.urls, and "
                   "attach the xacct policy (sqs:GetQueueAttributes, sqs:ReceiveMessage, ...)",
                   "%s: %s", url, msg);
        free(msg);
    } else {
        json_object_set_new(d->queues, arn, json_string(policy ? policy : ""));
        doctor_add(d, "queue", DOCTOR_OK, NULL, "%s reachable (%s)", url, arn);
    }
    json_decref(doc);
    doctor_resp_clear(&r);
}

void doctor_check_queues(doctor_t *d)
{
    const xacct_strlist_t *urls = &d->c->ctx->cfg->queue_urls;
    for (size_t i = 0; i < urls->n; i++)
        check_queue(d, urls->items[i]);
}
