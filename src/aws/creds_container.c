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
#define CONTAINER_DEFAULT_TIMEOUT_MS 5000L

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

int xacct__creds_container_start(const xacct__creds_link_ctx_t *ctx, xacct__creds_fetch_cb cb,
                                 void *arg, xacct__creds_fetch_t **out)
{
    int rc;
    char *file_token = NULL;

    *out = NULL;
    if (ctx == NULL || ctx->http == NULL || ctx->cfg == NULL || ctx->cfg->url == NULL ||
        cb == NULL)
        return XACCT_EINVAL;
    const xacct__creds_config_t *cfg = ctx->cfg;
    const char *token = cfg->token;
    long timeout_ms = ctx->fetch_timeout_ms > 0 ? ctx->fetch_timeout_ms
                                                : CONTAINER_DEFAULT_TIMEOUT_MS;
    if (cfg->token_file != NULL) {
        if ((rc = xacct__creds_read_token_file(cfg->token_file, &file_token)) != 0)
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
        .url = cfg->url,
        .headers = &hdr,
        .nheaders = token != NULL ? 1 : 0,
        .timeout_ms = timeout_ms,
        .connect_timeout_ms = timeout_ms,
        .max_body = CONTAINER_MAX_BODY,
    };
    container_fetch_t *f = xacct_calloc(1, sizeof(*f));
    f->cb = cb;
    f->arg = arg;
    rc = xacct_http_submit(ctx->http, &req, on_done, f, &f->base.req);
    xacct_free_secret(file_token);
    if (rc != 0) {
        free(f);
        return rc;
    }
    *out = &f->base;
    return 0;
}
