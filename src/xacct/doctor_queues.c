/* SPDX-License-Identifier: MIT */
/*
 * doctor: each queue of queue.urls is reachable with these credentials
 * (SQS GetQueueAttributes QueueArn and Policy). The ARN and policy of every
 * reachable queue are kept for the topic checks.
 */
#include <stdlib.h>

#include "doctor.h"
#include "xacct/sqs.h"

typedef struct attrs_res {
    cli_res_t r;
    char *arn;
    char *policy;
} attrs_res_t;

static void attrs_done(int status, const char *detail, const char *arn, const char *policy,
                       void *arg)
{
    attrs_res_t *o = arg;
    if (status == 0) {
        o->arn = xacct_strdup(arn);
        o->policy = xacct_strdup(policy ? policy : "");
    }
    cli_res_set(&o->r, status, detail);
}

static void check_queue(doctor_t *d, const char *url)
{
    char region[32];
    xacct_sqs_queue_region(url, d->c->ctx->cfg->aws_region, region);
    attrs_res_t o = {0};
    int rc = xacct_sqs_get_attributes(d->c->ctx->aws, url, region, attrs_done, &o);
    cli_await(d->c, rc, &o.r);
    if (o.r.status != 0) {
        doctor_fail_aws(d, "queue",
                        "create the queue (deploy/aws/partner-core.json) or fix queue.urls, and "
                        "attach the xacct policy (sqs:GetQueueAttributes, sqs:ReceiveMessage, "
                        "...)",
                        url, o.r.status, o.r.detail, "reading the queue's attributes");
    } else {
        json_object_set_new(d->queues, o.arn, json_string(o.policy));
        doctor_add(d, "queue", DOCTOR_OK, NULL, "%s reachable (%s)", url, o.arn);
    }
    free(o.arn);
    free(o.policy);
    cli_res_clear(&o.r);
}

void doctor_check_queues(doctor_t *d)
{
    const xacct_strlist_t *urls = &d->c->ctx->cfg->queue_urls;
    for (size_t i = 0; i < urls->n; i++)
        check_queue(d, urls->items[i]);
}
