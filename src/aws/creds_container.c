/* SPDX-License-Identifier: MIT */
/*
 * Container credentials (ECS task roles, EKS Pod Identity): one GET to the
 * configured URI, with the Authorization token from the token file (read at
 * each fetch, since the agent rotates it) or the inline token, answered by
 * the same JSON document as instance metadata.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xacct/creds.h"

#define CONTAINER_MAX_BODY (64u * 1024u)

typedef struct container_fetch {
    xacct__creds_fetch_t base;      /* handed to the provider */
    xacct__creds_fetch_cb cb;       /* fires once */
    void *arg;
} container_fetch_t;

static void on_done(int status, const char *detail, const xacct_http_response_t *resp, void *arg)
{
    container_fetch_t *f = arg;
    xacct__creds_fetch_cb cb = f->cb;
    void *cb_arg = f->arg;
    xacct__creds_set_t *set = NULL;
    char msg[256];
    int rc;

    free(f);
    if (status != 0) {
        rc = status;
        snprintf(msg, sizeof(msg), "%s", detail != NULL ? detail : xacct_strerror(status));
    } else if (resp->status < 200 || resp->status > 299) {
        rc = xacct__creds_http_error(resp->status);
        snprintf(msg, sizeof(msg), "HTTP %ld", resp->status);
    } else {
        rc = xacct__creds_parse_json(resp->body, resp->body_len, &set, msg, sizeof(msg));
    }
    cb(rc, rc == 0 ? NULL : msg, set, cb_arg);
}

int xacct__creds_container_start(xacct_http_t *http, const xacct__creds_container_params_t *p,
                                 xacct__creds_fetch_cb cb, void *arg, xacct__creds_fetch_t **out)
{
    int rc;
    char *file_token = NULL;
    const char *token = p != NULL ? p->auth_token : NULL;

    *out = NULL;
    if (http == NULL || p == NULL || p->url == NULL || cb == NULL)
        return XACCT_EINVAL;
    if (p->auth_token_file != NULL) {
        if ((rc = xacct__creds_read_token_file(p->auth_token_file, &file_token)) != 0)
            return rc;
        if (strpbrk(file_token, "\r\n") != NULL) {
            xacct_free_secret(file_token);
            return XACCT_EPARSE;
        }
        token = file_token;
    }
    xacct_header_t hdr = {"Authorization", token};
    xacct_http_request_t req = {
        .method = "GET",
        .url = p->url,
        .headers = &hdr,
        .nheaders = token != NULL ? 1 : 0,
        .timeout_ms = p->timeout_ms,
        .connect_timeout_ms = p->timeout_ms,
        .max_body = CONTAINER_MAX_BODY,
    };
    container_fetch_t *f = xacct_calloc(1, sizeof(*f));
    f->cb = cb;
    f->arg = arg;
    rc = xacct_http_submit(http, &req, on_done, f, &f->base.req);
    xacct_free_secret(file_token);
    if (rc != 0) {
        free(f);
        return rc;
    }
    *out = &f->base;
    return 0;
}
