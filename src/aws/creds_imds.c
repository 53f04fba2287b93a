/* SPDX-License-Identifier: MIT */
/*
 * EC2 instance metadata, IMDSv2: PUT /latest/api/token with the TTL header
 * for a session token, GET the role name from
 * /latest/meta-data/iam/security-credentials/, then GET that role's
 * credentials document (JSON). One request in flight at a time; each step is
 * submitted from the previous step's callback. The session token is kept by
 * the provider and reused by later fetches until shortly before its TTL ends;
 * a 401 to a reused token (the instance was stopped, say) gets a fresh one.
 * Each request is tried metadata_service_num_attempts times while it fails
 * in transit or with a 5xx, within metadata_service_timeout each.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xacct/creds.h"

#define IMDS_TOKEN_TTL "21600"
#define IMDS_TOKEN_TTL_MS (21600u * 1000u)
/* A kept token is not reused in the last minutes of its life. */
#define IMDS_TOKEN_MARGIN_MS (300u * 1000u)
#define IMDS_MAX_BODY (64u * 1024u)
/* The metadata service is on the host: a short wait tells its absence. */
#define IMDS_DEFAULT_TIMEOUT_MS 2000L
#define CREDS_PATH "/latest/meta-data/iam/security-credentials/"

enum imds_step { STEP_TOKEN, STEP_ROLE, STEP_CREDS };

typedef struct imds_fetch {
    xacct__creds_fetch_t base;      /* handed to the provider */
    xacct_http_t *http;             /* borrowed */
    uv_loop_t *loop;                /* borrowed, for uv_now() */
    xacct__creds_imds_token_t *kept; /* the provider's token, borrowed; may be NULL */
    bool reused;                    /* token came from kept, not from this fetch */
    char *endpoint;                 /* owned, no trailing slash */
    char *token;                    /* IMDSv2 session token, owned secret */
    char *role;                     /* instance profile role name, owned */
    long timeout_ms;                /* per request */
    int attempts;                   /* tries per request (metadata_service_num_attempts) */
    int tried;                      /* tries of the request in flight so far */
    enum imds_step step;            /* request in flight */
    xacct__creds_fetch_cb cb;       /* fires once */
    void *arg;
} imds_fetch_t;

static const char *step_name(enum imds_step s)
{
    switch (s) {
    case STEP_TOKEN:
        return "token";
    case STEP_ROLE:
        return "role name";
    default:
        return "credentials";
    }
}

static void finish(imds_fetch_t *f, int status, const char *detail, xacct__creds_set_t *set)
{
    xacct__creds_fetch_cb cb = f->cb;
    void *arg = f->arg;
    free(f->endpoint);
    xacct_free_secret(f->token);
    free(f->role);
    free(f);
    cb(status, detail, set, arg);
}

static void on_done(int status, const char *detail, const xacct_http_response_t *resp, void *arg);

static int submit(imds_fetch_t *f)
{
    char *url;
    xacct_header_t hdr;
    const char *method = "GET";
    switch (f->step) {
    case STEP_TOKEN:
        url = xacct_asprintf("%s/latest/api/token", f->endpoint);
        hdr = (xacct_header_t){"X-aws-ec2-metadata-token-ttl-seconds", IMDS_TOKEN_TTL};
        method = "PUT";
        break;
    case STEP_ROLE:
        url = xacct_asprintf("%s" CREDS_PATH, f->endpoint);
        hdr = (xacct_header_t){"X-aws-ec2-metadata-token", f->token};
        break;
    default:
        url = xacct_asprintf("%s" CREDS_PATH "%s", f->endpoint, f->role);
        hdr = (xacct_header_t){"X-aws-ec2-metadata-token", f->token};
        break;
    }
    xacct_http_request_t req = {
        .method = method,
        .url = url,
        .headers = &hdr,
        .nheaders = 1,
        .timeout_ms = f->timeout_ms,
        .connect_timeout_ms = f->timeout_ms,
        .max_body = IMDS_MAX_BODY,
    };
    int rc = xacct_http_submit(f->http, &req, on_done, f, &f->base.req);
    free(url);
    return rc;
}

/* A role name goes into a URL path: only IAM's name characters are taken. */
static char *first_role(const char *body)
{
    size_t n = strcspn(body, "\r\n");
    if (n == 0 || n > 128)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        char ch = body[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              strchr("_+=,.@-", ch) != NULL))
            return NULL;
    }
    return xacct_strndup(body, n);
}

/* Hands a fresh token to the provider for later fetches. */
static void keep_token(imds_fetch_t *f)
{
    if (f->kept == NULL)
        return;
    xacct_free_secret(f->kept->token);
    f->kept->token = xacct_strdup(f->token);
    f->kept->expires_ms = uv_now(f->loop) + IMDS_TOKEN_TTL_MS - IMDS_TOKEN_MARGIN_MS;
}

static void forget_token(imds_fetch_t *f)
{
    if (f->kept != NULL) {
        xacct_free_secret(f->kept->token);
        f->kept->token = NULL;
    }
    xacct_free_secret(f->token);
    f->token = NULL;
    f->reused = false;
}

static void on_done(int status, const char *detail, const xacct_http_response_t *resp, void *arg)
{
    imds_fetch_t *f = arg;
    char msg[256];
    f->base.req = NULL;
    /* The SDKs try a request again, up to the configured attempts, when it
     * failed on the way or with a 5xx; an answer like 404 stays final. */
    bool transient = (status != 0 && status != XACCT_ECANCELED && status != XACCT_ESHUTDOWN) ||
                     (status == 0 && resp->status >= 500);
    if (transient && ++f->tried < f->attempts)
        goto again;
    if (status != 0) {
        snprintf(msg, sizeof(msg), "%s: %s", step_name(f->step),
                 detail != NULL ? detail : xacct_strerror(status));
        finish(f, status, msg, NULL);
        return;
    }
    if (resp->status == 401 && f->reused) {
        /* The kept token is no longer accepted: forget it and start over. */
        forget_token(f);
        f->step = STEP_TOKEN;
        f->tried = 0;
        goto again;
    }
    if (resp->status < 200 || resp->status > 299) {
        snprintf(msg, sizeof(msg), "%s: HTTP %ld", step_name(f->step), resp->status);
        finish(f, xacct__creds_http_error(resp->status), msg, NULL);
        return;
    }
    switch (f->step) {
    case STEP_TOKEN:
        if (resp->body_len == 0 || strcspn(resp->body, "\r\n") != resp->body_len) {
            finish(f, XACCT_EPARSE, "token: empty or malformed", NULL);
            return;
        }
        f->token = xacct_strndup(resp->body, resp->body_len);
        keep_token(f);
        f->step = STEP_ROLE;
        break;
    case STEP_ROLE:
        f->role = first_role(resp->body);
        if (f->role == NULL) {
            finish(f, XACCT_ENOTFOUND, "role name: no instance profile role", NULL);
            return;
        }
        f->step = STEP_CREDS;
        break;
    case STEP_CREDS: {
        xacct__creds_set_t *set = NULL;
        int rc = xacct__creds_parse_json(resp->body, resp->body_len, &set, msg, sizeof(msg));
        finish(f, rc, rc == 0 ? NULL : msg, set);
        return;
    }
    }
    f->tried = 0;
again:;
    int rc = submit(f);
    if (rc != 0) {
        snprintf(msg, sizeof(msg), "%s: %s", step_name(f->step), xacct_strerror(rc));
        finish(f, rc, msg, NULL);
    }
}

int xacct__creds_imds_start(const xacct__creds_link_ctx_t *ctx, xacct__creds_fetch_cb cb,
                            void *arg, xacct__creds_fetch_t **out)
{
    *out = NULL;
    if (ctx == NULL || ctx->http == NULL || ctx->cfg == NULL || ctx->cfg->url == NULL ||
        cb == NULL)
        return XACCT_EINVAL;
    imds_fetch_t *f = xacct_calloc(1, sizeof(*f));
    f->http = ctx->http;
    f->loop = ctx->loop;
    f->kept = ctx->loop != NULL ? ctx->imds_token : NULL;
    f->endpoint = xacct_strdup(ctx->cfg->url);
    /* metadata_service_timeout is the operator's word for this link. */
    f->timeout_ms = ctx->cfg->imds_timeout_ms > 0 ? ctx->cfg->imds_timeout_ms
                    : ctx->fetch_timeout_ms > 0   ? ctx->fetch_timeout_ms
                                                  : IMDS_DEFAULT_TIMEOUT_MS;
    f->attempts = ctx->cfg->imds_attempts > 0 ? ctx->cfg->imds_attempts : 1;
    f->step = STEP_TOKEN;
    if (f->kept != NULL && f->kept->token != NULL && uv_now(f->loop) < f->kept->expires_ms) {
        f->token = xacct_strdup(f->kept->token);
        f->reused = true;
        f->step = STEP_ROLE;
    }
    f->cb = cb;
    f->arg = arg;
    int rc = submit(f);
    if (rc != 0) {
        free(f->endpoint);
        xacct_free_secret(f->token);
        free(f);
        return rc;
    }
    *out = &f->base;
    return 0;
}
