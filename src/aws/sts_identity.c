/* SPDX-License-Identifier: MIT */
/*
 * STS GetCallerIdentity over the query protocol: which account and principal
 * the configured credentials are. The answer's Date header goes to the caller
 * too, so a clock check can compare it with the local clock even when the
 * call failed because the signature was out of date.
 */
#include "xacct/sts.h"

#include <stdlib.h>
#include <string.h>

#include "xacct/buf.h"
#include "xacct/query.h"

enum { I_ACCOUNT, I_ARN, I_USER, I_COUNT };

struct xacct__sts_identity_store {
    xacct_buf_t field[I_COUNT]; /* text of each wanted element */
    int capture;                /* field being captured, or -1 */
    bool overflow;              /* a field exceeded its cap */
};

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
    (void)attrs;
    xacct__sts_identity_store_t *p = ud;
    const char *n = xacct_query_xml_name(name);
    p->capture = strcmp(n, "Account") == 0 ? I_ACCOUNT
                 : strcmp(n, "Arn") == 0   ? I_ARN
                 : strcmp(n, "UserId") == 0 ? I_USER
                                            : -1;
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    (void)name;
    ((xacct__sts_identity_store_t *)ud)->capture = -1;
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
    xacct__sts_identity_store_t *p = ud;
    if (p->capture >= 0 && xacct_buf_append(&p->field[p->capture], s, (size_t)len) != 0)
        p->overflow = true;
}

void xacct__sts_identity_free(xacct__sts_identity_store_t *s)
{
    if (s == NULL)
        return;
    for (int i = 0; i < I_COUNT; i++)
        xacct_buf_destroy(&s->field[i]);
    free(s);
}

int xacct__sts_parse_identity(const char *xml, size_t len, xacct_sts_identity_t *out,
                              xacct__sts_identity_store_t **store)
{
    *store = NULL;
    out->account = out->arn = out->user_id = NULL;
    xacct__sts_identity_store_t *p = xacct_calloc(1, sizeof(*p));
    p->capture = -1;
    for (int i = 0; i < I_COUNT; i++)
        xacct_buf_init(&p->field[i], 2048);
    if (xacct_query_xml_parse(xml, len, p, on_start, on_end, on_text) != 0 || p->overflow ||
        p->field[I_ACCOUNT].len != 12 || p->field[I_ARN].len == 0) {
        xacct__sts_identity_free(p);
        return XACCT_EPARSE;
    }
    out->account = p->field[I_ACCOUNT].data;
    out->arn = p->field[I_ARN].data;
    out->user_id = p->field[I_USER].len ? p->field[I_USER].data : NULL;
    *store = p;
    return 0;
}

typedef struct identity_op {
    xacct_sts_identity_cb cb;
    void *arg;
} identity_op_t;

static void identity_done(int status, const char *detail, const xacct_http_response_t *resp,
                          const xacct_aws_error_t *err, void *arg)
{
    (void)err;
    identity_op_t *op = arg;
    xacct_sts_identity_t id = {0};
    xacct__sts_identity_store_t *store = NULL;
    if (status == 0 && xacct__sts_parse_identity(resp->body, resp->body_len, &id, &store) != 0) {
        status = XACCT_EPARSE;
        detail = "GetCallerIdentity answer names no account";
    }
    id.date = resp ? xacct_http_response_header(resp, "date") : NULL;
    op->cb(status, detail, &id, op->arg);
    xacct__sts_identity_free(store);
    free(op);
}

int xacct_sts_get_caller_identity(xacct_aws_t *aws, const char *region, xacct_sts_identity_cb cb,
                                  void *arg)
{
    if (aws == NULL || cb == NULL)
        return XACCT_EINVAL;
    xacct_buf_t body;
    xacct_buf_init(&body, 256);
    int rc = xacct_buf_puts(&body, "Action=GetCallerIdentity&Version=2011-06-15");
    if (rc != 0) {
        xacct_buf_destroy(&body);
        return rc;
    }
    identity_op_t *op = xacct_calloc(1, sizeof(*op));
    op->cb = cb;
    op->arg = arg;
    xacct_aws_request_t req = xacct_query_request("sts", region, &body);
    req.max_body = 64 * 1024;
    req.max_attempts = 1;
    rc = xacct_aws_call(aws, &req, identity_done, op, NULL);
    xacct_buf_destroy(&body);
    if (rc != 0)
        free(op);
    return rc;
}
