/* SPDX-License-Identifier: MIT */
/*
 * STS AssumeRole over the query protocol. The request is a form-encoded POST;
 * the response is XML read with expat into the few fields xacct uses. The
 * credentials are handed to the callback and wiped as soon as it returns:
 * nothing keeps them.
 */
#include "xacct/sts.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xacct/buf.h"
#include "xacct/query.h"

enum { F_AKID, F_SECRET, F_TOKEN, F_EXPIRATION, F_ARN, F_COUNT };

struct xacct__sts_store {
    xacct_buf_t field[F_COUNT]; /* text of each wanted element */
    int depth;                  /* element depth */
    int capture;                /* field being captured, or -1 */
    bool in_credentials;        /* inside <Credentials> */
    bool in_assumed_user;       /* inside <AssumedRoleUser> */
    bool overflow;              /* a field exceeded its cap */
};

void xacct__sts_store_free(xacct__sts_store_t *s)
{
    if (s == NULL)
        return;
    for (int i = 0; i < F_COUNT; i++)
        xacct_buf_destroy_secret(&s->field[i]);
    OPENSSL_cleanse(s, sizeof(*s));
    free(s);
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
    (void)attrs;
    xacct__sts_store_t *s = ud;
    const char *n = xacct_query_xml_name(name);
    s->depth++;
    s->capture = -1;
    if (strcmp(n, "Credentials") == 0)
        s->in_credentials = true;
    else if (strcmp(n, "AssumedRoleUser") == 0)
        s->in_assumed_user = true;
    else if (s->in_credentials && strcmp(n, "AccessKeyId") == 0)
        s->capture = F_AKID;
    else if (s->in_credentials && strcmp(n, "SecretAccessKey") == 0)
        s->capture = F_SECRET;
    else if (s->in_credentials && strcmp(n, "SessionToken") == 0)
        s->capture = F_TOKEN;
    else if (s->in_credentials && strcmp(n, "Expiration") == 0)
        s->capture = F_EXPIRATION;
    else if (s->in_assumed_user && strcmp(n, "Arn") == 0)
        s->capture = F_ARN;
    if (s->capture >= 0)
        xacct_buf_reset(&s->field[s->capture]);
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    xacct__sts_store_t *s = ud;
    const char *n = xacct_query_xml_name(name);
    s->depth--;
    s->capture = -1;
    if (strcmp(n, "Credentials") == 0)
        s->in_credentials = false;
    else if (strcmp(n, "AssumedRoleUser") == 0)
        s->in_assumed_user = false;
}

static void XMLCALL on_text(void *ud, const XML_Char *text, int len)
{
    xacct__sts_store_t *s = ud;
    if (s->capture >= 0 && xacct_buf_append(&s->field[s->capture], text, (size_t)len) != 0)
        s->overflow = true;
}

int xacct__sts_parse_assume(const char *xml, size_t len, xacct_sts_credentials_t *out,
                            xacct__sts_store_t **store)
{
    memset(out, 0, sizeof(*out));
    *store = NULL;
    xacct__sts_store_t *s = xacct_calloc(1, sizeof(*s));
    for (int i = 0; i < F_COUNT; i++)
        xacct_buf_init(&s->field[i], 8192);
    s->capture = -1;
    int rc = xacct_query_xml_parse(xml, len, s, on_start, on_end, on_text);
    if (rc == XACCT_ENOMEM) {
        xacct__sts_store_free(s);
        return rc;
    }
    int ok = rc == 0;
    for (int i = 0; i < F_COUNT; i++)
        if (s->field[i].len == 0 && i != F_ARN)
            ok = 0;
    if (!ok || s->overflow) {
        xacct__sts_store_free(s);
        return XACCT_EPARSE;
    }
    out->access_key_id = s->field[F_AKID].data;
    out->secret_access_key = s->field[F_SECRET].data;
    out->session_token = s->field[F_TOKEN].data;
    out->expiration = s->field[F_EXPIRATION].data;
    out->assumed_role_arn = s->field[F_ARN].data ? s->field[F_ARN].data : "";
    *store = s;
    return 0;
}

typedef struct assume_op {
    xacct_sts_assume_cb cb;
    void *arg;
} assume_op_t;

static void assume_done(int status, const char *detail, const xacct_http_response_t *resp,
                        const xacct_aws_error_t *err, void *arg)
{
    (void)err;
    assume_op_t *op = arg;
    if (status != 0) {
        op->cb(status, detail, NULL, op->arg);
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
