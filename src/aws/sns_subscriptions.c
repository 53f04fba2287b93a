/* SPDX-License-Identifier: MIT */
/*
 * SNS ListSubscriptionsByTopic (query protocol, the topic's own region):
 * every subscription of a topic with its protocol, endpoint and ARN
 * ("PendingConfirmation" until confirmed), following NextToken from page to
 * page up to a bound. The XML is read with expat.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xacct/arn.h"
#include "xacct/buf.h"
#include "xacct/query.h"
#include "xacct/sns.h"

#define MAX_PAGES 50         /* 100 subscriptions a page */
#define MAX_FIELD 2048       /* bytes of one element's text */
#define MAX_RESPONSE (1024 * 1024)

enum { S_PROTOCOL, S_ENDPOINT, S_ARN, S_TOKEN, S_COUNT };

typedef struct list_op {
    xacct_aws_t *aws;
    char *topic_arn;
    char region[32];
    xacct_sns_subscriptions_cb cb;
    void *arg;
    xacct_sns_subscription_t *subs; /* collected so far */
    size_t n;
    int pages;
    /* parsing */
    xacct_buf_t text[S_COUNT];
    int capture;
    bool in_member;
    bool overflow;
} list_op_t;

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
    (void)attrs;
    list_op_t *op = ud;
    const char *n = xacct_query_xml_name(name);
    op->capture = -1;
    if (strcmp(n, "member") == 0) {
        op->in_member = true;
        for (int i = S_PROTOCOL; i <= S_ARN; i++)
            xacct_buf_reset(&op->text[i]);
    } else if (op->in_member && strcmp(n, "Protocol") == 0) {
        op->capture = S_PROTOCOL;
    } else if (op->in_member && strcmp(n, "Endpoint") == 0) {
        op->capture = S_ENDPOINT;
    } else if (op->in_member && strcmp(n, "SubscriptionArn") == 0) {
        op->capture = S_ARN;
    } else if (!op->in_member && strcmp(n, "NextToken") == 0) {
        op->capture = S_TOKEN;
    }
}

static const char *text_of(const xacct_buf_t *b)
{
    return b->data ? b->data : "";
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    list_op_t *op = ud;
    op->capture = -1;
    if (strcmp(xacct_query_xml_name(name), "member") != 0 || !op->in_member)
        return;
    op->in_member = false;
    op->subs = xacct_realloc(op->subs, (op->n + 1) * sizeof(*op->subs));
    op->subs[op->n++] = (xacct_sns_subscription_t){
        .protocol = xacct_strdup(text_of(&op->text[S_PROTOCOL])),
        .endpoint = xacct_strdup(text_of(&op->text[S_ENDPOINT])),
        .subscription_arn = xacct_strdup(text_of(&op->text[S_ARN])),
    };
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
    list_op_t *op = ud;
    if (op->capture >= 0 && xacct_buf_append(&op->text[op->capture], s, (size_t)len) != 0)
        op->overflow = true;
}

static void finish(list_op_t *op, int status, const char *detail)
{
    op->cb(status, detail, status == 0 ? op->subs : NULL, status == 0 ? op->n : 0, op->arg);
    for (size_t i = 0; i < op->n; i++) {
        free((char *)op->subs[i].protocol);
        free((char *)op->subs[i].endpoint);
        free((char *)op->subs[i].subscription_arn);
    }
    free(op->subs);
    for (int i = 0; i < S_COUNT; i++)
        xacct_buf_destroy(&op->text[i]);
    free(op->topic_arn);
    free(op);
}

static int request_page(list_op_t *op, const char *token);

static void page_done(int status, const char *detail, const xacct_http_response_t *resp,
                      const xacct_aws_error_t *err, void *arg)
{
    (void)err;
    list_op_t *op = arg;
    if (status != 0) {
        finish(op, status, detail);
        return;
    }
    xacct_buf_reset(&op->text[S_TOKEN]);
    if (xacct_query_xml_parse(resp->body, resp->body_len, op, on_start, on_end, on_text) != 0 ||
        op->overflow) {
        finish(op, XACCT_EPARSE, "ListSubscriptionsByTopic answer is not well-formed");
        return;
    }
    if (op->text[S_TOKEN].len == 0) {
        finish(op, 0, NULL);
        return;
    }
    if (++op->pages >= MAX_PAGES) {
        finish(op, XACCT_ETOOBIG, "more than 5000 subscriptions");
        return;
    }
    char *token = xacct_strdup(op->text[S_TOKEN].data);
    int rc = request_page(op, token);
    free(token);
    if (rc != 0)
        finish(op, rc, xacct_strerror(rc));
}

static int request_page(list_op_t *op, const char *token)
{
    xacct_buf_t body;
    xacct_buf_init(&body, 8192);
    int rc = xacct_buf_puts(&body, "Action=ListSubscriptionsByTopic&Version=2010-03-31");
    if (rc == 0)
        rc = xacct_query_param(&body, "TopicArn", op->topic_arn);
    if (rc == 0 && token != NULL)
        rc = xacct_query_param(&body, "NextToken", token);
    if (rc == 0) {
        xacct_aws_request_t req = xacct_query_request("sns", op->region, &body);
        req.max_body = MAX_RESPONSE;
        rc = xacct_aws_call(op->aws, &req, page_done, op, NULL);
    }
    xacct_buf_destroy(&body);
    return rc;
}

int xacct_sns_list_subscriptions(xacct_aws_t *aws, const char *topic_arn,
                                 xacct_sns_subscriptions_cb cb, void *arg)
{
    xacct_arn_t arn;
    if (aws == NULL || cb == NULL || topic_arn == NULL || xacct_arn_parse(topic_arn, &arn) != 0 ||
        strcmp(arn.service, "sns") != 0 || !xacct_region_valid(arn.region))
        return XACCT_EINVAL;
    list_op_t *op = xacct_calloc(1, sizeof(*op));
    op->aws = aws;
    op->topic_arn = xacct_strdup(topic_arn);
    snprintf(op->region, sizeof(op->region), "%s", arn.region);
    op->cb = cb;
    op->arg = arg;
    op->capture = -1;
    for (int i = 0; i < S_COUNT; i++)
        xacct_buf_init(&op->text[i], MAX_FIELD);
    int rc = request_page(op, NULL);
    if (rc != 0) {
        for (int i = 0; i < S_COUNT; i++)
            xacct_buf_destroy(&op->text[i]);
        free(op->topic_arn);
        free(op);
    }
    return rc;
}
