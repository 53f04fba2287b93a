/* SPDX-License-Identifier: MIT */
/*
 * The two SNS query-protocol calls xacct makes, both about the topic policy.
 * Requests are form-encoded POSTs to the topic's regional endpoint; the
 * GetTopicAttributes answer is an XML map (Attributes/entry/{key,value}) read
 * with expat, keeping only the value whose key was asked for.
 */
#include "xacct/sns.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "xacct/arn.h"
#include "xacct/buf.h"
#include "xacct/query.h"

#define SNS_VERSION "2010-03-31"
#define MAX_RESPONSE (1024u * 1024u)
#define MAX_FIELD (256u * 1024u)

/* ---- parsing ------------------------------------------------------------ */

enum { CAP_NONE, CAP_KEY, CAP_VALUE };

typedef struct attr_parse {
    const char *want;  /* attribute name looked for */
    xacct_buf_t key;   /* current entry's key */
    xacct_buf_t value; /* current entry's value */
    int capture;       /* CAP_* */
    bool in_entry;     /* inside <entry> */
    bool found;        /* the wanted entry was seen */
    bool overflow;     /* a field went over MAX_FIELD */
    char *result;      /* the wanted value, owned */
} attr_parse_t;

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
    (void)attrs;
    attr_parse_t *p = ud;
    const char *n = xacct_query_xml_name(name);
    p->capture = CAP_NONE;
    if (strcmp(n, "entry") == 0) {
        p->in_entry = true;
        xacct_buf_reset(&p->key);
        xacct_buf_reset(&p->value);
    } else if (p->in_entry && strcmp(n, "key") == 0) {
        p->capture = CAP_KEY;
    } else if (p->in_entry && strcmp(n, "value") == 0) {
        p->capture = CAP_VALUE;
    }
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    attr_parse_t *p = ud;
    p->capture = CAP_NONE;
    if (strcmp(xacct_query_xml_name(name), "entry") != 0)
        return;
    p->in_entry = false;
    if (!p->found && p->key.data != NULL && strcmp(p->key.data, p->want) == 0) {
        p->found = true;
        p->result = xacct_strdup(p->value.data ? p->value.data : "");
    }
}

static void XMLCALL on_text(void *ud, const XML_Char *text, int len)
{
    attr_parse_t *p = ud;
    xacct_buf_t *b = p->capture == CAP_KEY ? &p->key : p->capture == CAP_VALUE ? &p->value : NULL;
    if (b != NULL && xacct_buf_append(b, text, (size_t)len) != 0)
        p->overflow = true;
}

int xacct__sns_parse_attribute(const char *xml, size_t len, const char *name, char **value)
{
    *value = NULL;
    attr_parse_t p = {.want = name};
    xacct_buf_init(&p.key, 1024);
    xacct_buf_init(&p.value, MAX_FIELD);
    int rc = len <= MAX_RESPONSE
                 ? xacct_query_xml_parse(xml, len, &p, on_start, on_end, on_text)
                 : XACCT_EPARSE;
    if (rc == XACCT_ENOMEM) {
        xacct_buf_destroy(&p.key);
        xacct_buf_destroy(&p.value);
        return rc;
    }
    int ok = rc == 0;
    xacct_buf_destroy(&p.key);
    xacct_buf_destroy(&p.value);
    if (!ok || p.overflow) {
        free(p.result);
        return XACCT_EPARSE;
    }
    if (!p.found)
        return XACCT_ENOTFOUND;
    *value = p.result;
    return 0;
}

/* ---- calls -------------------------------------------------------------- */

typedef struct sns_op {
    bool get;                      /* GetTopicAttributes (else Set) */
    xacct_sns_policy_cb get_cb;    /* for get */
    xacct_sns_done_cb set_cb;      /* for set */
    xacct_aws_send_guard_fn guard; /* for set: the caller's, or NULL */
    void *arg;
} sns_op_t;

static int guard_op(void *arg)
{
    const sns_op_t *op = arg;
    return op->guard(op->arg);
}

static void call_done(int status, const char *detail, const xacct_http_response_t *resp,
                      const xacct_aws_error_t *err, void *arg)
{
    (void)err;
    sns_op_t op = *(sns_op_t *)arg;
    free(arg);
    if (!op.get) {
        op.set_cb(status, detail, op.arg);
        return;
    }
    if (status != 0) {
        op.get_cb(status, detail, NULL, op.arg);
        return;
    }
    char *policy = NULL;
    int rc = xacct__sns_parse_attribute(resp->body, resp->body_len, "Policy", &policy);
    if (rc != 0)
        op.get_cb(XACCT_EPARSE, "GetTopicAttributes response without a Policy", NULL, op.arg);
    else
        op.get_cb(0, NULL, policy, op.arg);
    free(policy);
}

static int start(xacct_aws_t *aws, const char *topic_arn, const char *policy, sns_op_t *op)
{
    xacct_arn_t arn;
    if (topic_arn == NULL || xacct_arn_parse(topic_arn, &arn) != 0 ||
        strcmp(arn.service, "sns") != 0 || !xacct_region_valid(arn.region)) {
        free(op);
        return XACCT_EINVAL;
    }
    xacct_buf_t body;
    xacct_buf_init(&body, 4 * MAX_FIELD);
    int rc = xacct_buf_printf(&body, "Action=%s&Version=" SNS_VERSION,
                              op->get ? "GetTopicAttributes" : "SetTopicAttributes");
    if (rc == 0)
        rc = xacct_query_param(&body, "TopicArn", topic_arn);
    if (rc == 0 && !op->get)
        rc = xacct_query_param(&body, "AttributeName", "Policy");
    if (rc == 0 && !op->get)
        rc = xacct_query_param(&body, "AttributeValue", policy);
    if (rc != 0) {
        xacct_buf_destroy(&body);
        free(op);
        return rc;
    }
    xacct_aws_request_t req = xacct_query_request("sns", arn.region, &body);
    req.max_body = MAX_RESPONSE;
    if (op->guard != NULL)
        req.guard = guard_op;
    rc = xacct_aws_call(aws, &req, call_done, op, NULL);
    xacct_buf_destroy(&body);
    if (rc != 0)
        free(op);
    return rc;
}

int xacct_sns_get_policy(xacct_aws_t *aws, const char *topic_arn, xacct_sns_policy_cb cb,
                         void *arg)
{
    if (aws == NULL || cb == NULL)
        return XACCT_EINVAL;
    sns_op_t *op = xacct_calloc(1, sizeof(*op));
    op->get = true;
    op->get_cb = cb;
    op->arg = arg;
    return start(aws, topic_arn, NULL, op);
}

int xacct_sns_set_policy(xacct_aws_t *aws, const char *topic_arn, const char *policy,
                         xacct_aws_send_guard_fn guard, xacct_sns_done_cb cb, void *arg)
{
    if (aws == NULL || cb == NULL || policy == NULL)
        return XACCT_EINVAL;
    sns_op_t *op = xacct_calloc(1, sizeof(*op));
    op->set_cb = cb;
    op->guard = guard;
    op->arg = arg;
    return start(aws, topic_arn, policy, op);
}
