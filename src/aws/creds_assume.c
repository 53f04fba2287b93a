/* SPDX-License-Identifier: MIT */
/*
 * A profile's role: STS AssumeRole over the query protocol, signed with SigV4
 * by the source profile's static keys. It sits below the generic AWS call
 * (aws.c waits on this provider, so it cannot be used to fill it) and makes
 * the one request itself; the provider's refresh timer does the retrying. The
 * XML answer is read by sts.c's parser, the error shapes by aws_error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xacct/aws_error.h"
#include "xacct/buf.h"
#include "xacct/creds.h"
#include "xacct/sts.h"

#define ASSUME_MAX_BODY (256u * 1024u)
#define ASSUME_MAX_FORM (16u * 1024u)

typedef struct assume_fetch {
    xacct__creds_fetch_t base;      /* handed to the provider */
    xacct__creds_fetch_cb cb;       /* fires once */
    void *arg;
} assume_fetch_t;

static int to_set(const xacct_sts_credentials_t *sc, xacct__creds_set_t **out, char *msg,
                  size_t msglen)
{
    xacct__creds_set_t *set = xacct_calloc(1, sizeof(*set));
    if (xacct__creds_parse_time(sc->expiration, &set->expiry_ms) != 0) {
        snprintf(msg, msglen, "STS Expiration is not an ISO 8601 time");
        xacct__creds_set_free(set);
        return XACCT_EPARSE;
    }
    set->access_key_id = xacct_strdup(sc->access_key_id);
    set->secret_access_key = xacct_strdup(sc->secret_access_key);
    set->session_token = xacct_strdup(sc->session_token);
    *out = set;
    return 0;
}

static void on_done(int status, const char *detail, const xacct_http_response_t *resp, void *arg)
{
    assume_fetch_t *f = arg;
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
        xacct_sts_credentials_t sc;
        xacct__sts_store_t *store = NULL;
        if (xacct__sts_parse_assume(resp->body, resp->body_len, &sc, &store) != 0) {
            rc = XACCT_EPARSE;
            snprintf(msg, sizeof(msg), "STS AssumeRole answer carries no credentials");
        } else {
            rc = to_set(&sc, &set, msg, sizeof(msg));
        }
        xacct__sts_store_free(store);
    } else {
        xacct_aws_error_t err;
        if (xacct_aws_error_parse(resp, &err) == 0)
            snprintf(msg, sizeof(msg), "STS: %s: %s", err.code, err.message);
        else
            snprintf(msg, sizeof(msg), "STS: HTTP %ld", resp->status);
        if (xacct_aws_error_is_throttling(&err) || xacct_aws_error_is_transient(&err) ||
            resp->status == 429 || resp->status >= 500)
            rc = XACCT_EAGAIN;
        else if (xacct_aws_error_is_access_denied(&err))
            rc = XACCT_EACCESSDENIED;
        else
            rc = XACCT_EAWS;
    }
    cb(rc, rc == 0 ? NULL : msg, set, cb_arg);
}

static int put_param(xacct_buf_t *b, const char *name, const char *value)
{
    int rc;
    if ((rc = xacct_buf_printf(b, "%s%s=", b->len > 0 ? "&" : "", name)) != 0)
        return rc;
    return xacct_sigv4_uri_encode(b, value, strlen(value), true);
}

int xacct__creds_assume_start(xacct_http_t *http, const xacct__creds_assume_params_t *p,
                              xacct__creds_fetch_cb cb, void *arg, xacct__creds_fetch_t **out)
{
    int rc;
    char *url = NULL;
    char duration[16];
    xacct_buf_t form;
    xacct_sigv4_result_t sig;

    *out = NULL;
    memset(&sig, 0, sizeof(sig));
    if (http == NULL || p == NULL || p->sts_url == NULL || p->region == NULL ||
        p->source == NULL || p->role_arn == NULL || p->session_name == NULL || cb == NULL)
        return XACCT_EINVAL;
    xacct_buf_init(&form, ASSUME_MAX_FORM);
    if ((rc = put_param(&form, "Action", "AssumeRole")) != 0 ||
        (rc = put_param(&form, "Version", "2011-06-15")) != 0 ||
        (rc = put_param(&form, "RoleArn", p->role_arn)) != 0 ||
        (rc = put_param(&form, "RoleSessionName", p->session_name)) != 0)
        goto out;
    if (p->external_id != NULL && (rc = put_param(&form, "ExternalId", p->external_id)) != 0)
        goto out;
    if (p->duration_s > 0) {
        snprintf(duration, sizeof(duration), "%d", p->duration_s);
        if ((rc = put_param(&form, "DurationSeconds", duration)) != 0)
            goto out;
    }
    url = xacct_asprintf("%s/", p->sts_url);
    const xacct_header_t base[] = {
        {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
        {"Accept", "text/xml"},
    };
    xacct_sigv4_request_t sreq = {
        .method = "POST",
        .url = url,
        .headers = base,
        .nheaders = XACCT_ARRAY_SIZE(base),
        .body = form.data,
        .body_len = form.len,
        .region = p->region,
        .service = "sts",
        .now = time(NULL),
    };
    const xacct_sigv4_credentials_t keys = {p->source->access_key_id,
                                            p->source->secret_access_key,
                                            p->source->session_token};
    if ((rc = xacct_sigv4_sign(NULL, &sreq, &keys, &sig)) != 0)
        goto out;
    xacct_header_t hdrs[5];
    size_t n = 0;
    hdrs[n++] = base[0];
    hdrs[n++] = base[1];
    hdrs[n++] = (xacct_header_t){"X-Amz-Date", sig.amz_date};
    if (sig.security_token != NULL)
        hdrs[n++] = (xacct_header_t){"X-Amz-Security-Token", sig.security_token};
    hdrs[n++] = (xacct_header_t){"Authorization", sig.authorization};
    xacct_http_request_t req = {
        .method = "POST",
        .url = url,
        .headers = hdrs,
        .nheaders = n,
        .body = form.data,
        .body_len = form.len,
        .timeout_ms = p->timeout_ms,
        .max_body = ASSUME_MAX_BODY,
    };
    assume_fetch_t *f = xacct_calloc(1, sizeof(*f));
    f->cb = cb;
    f->arg = arg;
    if ((rc = xacct_http_submit(http, &req, on_done, f, &f->base.req)) != 0) {
        free(f);
        goto out;
    }
    *out = &f->base;
out:
    free(url);
    xacct_sigv4_result_destroy(&sig);
    xacct_buf_destroy_secret(&form);
    return rc;
}
