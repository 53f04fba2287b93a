/* SPDX-License-Identifier: MIT */
/*
 * The STS request both role links make (AssumeRole for a profile's role,
 * AssumeRoleWithWebIdentity for web identity): a query-protocol form POST
 * whose 2xx answer a link-specific parser turns into a credentials set, and
 * whose error answer is read by aws_error and sorted the same way for both:
 * throttling, transient errors and server errors are worth retrying, access
 * denied is said as such, anything else is STS refusing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xacct/aws_error.h"
#include "xacct/creds.h"

typedef struct sts_fetch {
    xacct__creds_fetch_t base;       /* handed to the provider */
    xacct__creds_sts_parse_fn parse; /* the 2xx answer's reader */
    xacct_aws_clock_t *clock;        /* the signing clock, borrowed, or NULL (unsigned) */
    xacct__creds_fetch_cb cb;        /* fires once */
    void *arg;
} sts_fetch_t;

static int sts_error(const xacct_http_response_t *resp, xacct_aws_clock_t *clock, char *msg,
                     size_t msglen)
{
    xacct_aws_error_t err;
    int parsed = xacct_aws_error_parse(resp, &err);
    /* Signed with a clock STS disagrees with: the clock learns STS's time,
     * for the provider to sign again with. */
    if (clock != NULL && xacct_aws_error_is_clock_skew(&err))
        (void)xacct_aws_clock_learn(clock, resp, "sts");
    if (parsed == 0)
        snprintf(msg, msglen, "STS: %s: %s", err.code, err.message);
    else
        snprintf(msg, msglen, "STS: HTTP %ld", resp->status);
    /* IDPCommunicationError (web identity's provider unreachable) is among
     * the transient errors. */
    if (xacct_aws_error_is_throttling(&err) || xacct_aws_error_is_transient(&err) ||
        resp->status == 429 || resp->status >= 500)
        return XACCT_EAGAIN;
    if (xacct_aws_error_is_access_denied(&err))
        return XACCT_EACCESSDENIED;
    return XACCT_EAWS;
}

static void on_done(int status, const char *detail, const xacct_http_response_t *resp, void *arg)
{
    sts_fetch_t *f = arg;
    xacct__creds_sts_parse_fn parse = f->parse;
    xacct_aws_clock_t *clock = f->clock;
    xacct__creds_fetch_cb cb = f->cb;
    void *cb_arg = f->arg;
    xacct__creds_set_t *set = NULL;
    char msg[XACCT_AWS_ERROR_CODE_MAX + XACCT_AWS_ERROR_MESSAGE_MAX + 32];
    int rc;

    free(f);
    if (status != 0) {
        rc = status;
        snprintf(msg, sizeof(msg), "STS: %s", detail != NULL ? detail : xacct_strerror(status));
    } else if (resp->status >= 200 && resp->status <= 299) {
        rc = parse(resp->body, resp->body_len, &set, msg, sizeof(msg));
    } else {
        rc = sts_error(resp, clock, msg, sizeof(msg));
    }
    cb(rc, rc == 0 ? NULL : msg, set, cb_arg);
}

int xacct__creds_sts_param(xacct_buf_t *form, const char *name, const char *value)
{
    int rc;
    if ((rc = xacct_buf_printf(form, "%s%s=", form->len > 0 ? "&" : "", name)) != 0)
        return rc;
    return xacct_sigv4_uri_encode(form, value, strlen(value), true);
}

int xacct__creds_sts_post(xacct_http_t *http, const xacct_http_request_t *req,
                          xacct__creds_sts_parse_fn parse, xacct_aws_clock_t *clock,
                          xacct__creds_fetch_cb cb, void *arg, xacct__creds_fetch_t **out)
{
    *out = NULL;
    sts_fetch_t *f = xacct_calloc(1, sizeof(*f));
    f->parse = parse;
    f->clock = clock;
    f->cb = cb;
    f->arg = arg;
    int rc = xacct_http_submit(http, req, on_done, f, &f->base.req);
    if (rc != 0) {
        free(f);
        return rc;
    }
    *out = &f->base;
    return 0;
}
