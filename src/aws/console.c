/* SPDX-License-Identifier: MIT */
/*
 * The console sign-in exchange: AssumeRole (sts.c) with the external ID,
 * then a GET to the federation endpoint for a sign-in token (the temporary
 * credentials travel as the Session JSON, built with jansson), then the login
 * URL. URLs are built with libcurl's CURLU so every value is encoded; every
 * string that holds credentials is wiped before it is freed.
 */
#include "xacct/console.h"

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xacct/sts.h"

typedef struct console_op {
    xacct_http_t *http;     /* borrowed */
    char *federation_url;   /* owned */
    char *destination;      /* owned */
    char *issuer;           /* owned */
    char *external_id;      /* owned, secret */
    int duration_s;         /* SessionDuration; 0: not sent (role chaining) */
    xacct_console_cb cb;
    void *arg;
} console_op_t;

static void op_finish(console_op_t *op, int status, const char *detail, const char *url)
{
    op->cb(status, detail, url, op->arg);
    free(op->federation_url);
    free(op->destination);
    free(op->issuer);
    xacct_free_secret(op->external_id);
    free(op);
}

static void free_wiped(char *s)
{
    if (s != NULL) {
        OPENSSL_cleanse(s, strlen(s));
        curl_free(s);
    }
}

int xacct__console_url(const char *base, const char *const *names, const char *const *values,
                       size_t n, char **out)
{
    *out = NULL;
    CURLU *u = curl_url();
    if (u == NULL)
        return XACCT_ENOMEM;
    int rc = XACCT_EINVAL;
    char *scheme = NULL, *full = NULL;
    if (base == NULL || curl_url_set(u, CURLUPART_URL, base, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        (strcmp(scheme, "https") != 0 && strcmp(scheme, "http") != 0))
        goto out;
    for (size_t i = 0; i < n; i++) {
        char *pair = xacct_asprintf("%s=%s", names[i], values[i]);
        CURLUcode uc = curl_url_set(u, CURLUPART_QUERY, pair, CURLU_APPENDQUERY | CURLU_URLENCODE);
        xacct_free_secret(pair);
        if (uc != CURLUE_OK)
            goto out;
    }
    if (curl_url_get(u, CURLUPART_URL, &full, 0) != CURLUE_OK)
        goto out;
    *out = xacct_strdup(full);
    rc = 0;
out:
    free_wiped(full);
    curl_free(scheme);
    curl_url_cleanup(u);
    return rc;
}

static void token_done(int status, const char *detail, const xacct_http_response_t *resp,
                       void *arg)
{
    console_op_t *op = arg;
    if (status != 0) {
        char d[512];
        snprintf(d, sizeof(d), "federation endpoint: %s", detail ? detail : xacct_strerror(status));
        op_finish(op, status, d, NULL);
        return;
    }
    if (resp->status != 200) {
        char d[512];
        /* The endpoint's error text never echoes the credentials. */
        int len = (int)strcspn(resp->body, "\r\n");
        snprintf(d, sizeof(d), "federation endpoint refused the sign-in token request: HTTP %ld%s%.*s",
                 resp->status, len ? ": " : "", len > 200 ? 200 : len, resp->body);
        op_finish(op, XACCT_EAWS, d, NULL);
        return;
    }
    json_t *doc = json_loadb(resp->body, resp->body_len, 0, NULL);
    const char *token = json_string_value(json_object_get(doc, "SigninToken"));
    if (token == NULL || token[0] == '\0') {
        json_decref(doc);
        op_finish(op, XACCT_EPARSE, "federation endpoint: no SigninToken in the answer", NULL);
        return;
    }
    const char *names[] = {"Action", "Issuer", "Destination", "SigninToken"};
    const char *values[] = {"login", op->issuer, op->destination, token};
    char *url = NULL;
    int rc = xacct__console_url(op->federation_url, names, values, 4, &url);
    json_decref(doc);
    if (rc != 0)
        op_finish(op, rc, "cannot build the login URL", NULL);
    else
        op_finish(op, 0, NULL, url);
    xacct_free_secret(url);
}

static void assumed(int status, const char *detail, const xacct_sts_credentials_t *creds,
                    void *arg)
{
    console_op_t *op = arg;
    if (status != 0) {
        char d[512];
        snprintf(d, sizeof(d), "AssumeRole with the external ID: %s",
                 detail ? detail : xacct_strerror(status));
        op_finish(op, status, d, NULL);
        return;
    }
    json_t *session = json_pack("{s:s, s:s, s:s}", "sessionId", creds->access_key_id,
                                "sessionKey", creds->secret_access_key, "sessionToken",
                                creds->session_token);
    char *session_text = session ? json_dumps(session, JSON_COMPACT) : NULL;
    json_decref(session);
    if (session_text == NULL) {
        op_finish(op, XACCT_ENOMEM, "cannot build the Session document", NULL);
        return;
    }
    char duration[16];
    snprintf(duration, sizeof(duration), "%d", op->duration_s);
    const char *names[] = {"Action", "Session", "SessionDuration"};
    const char *values[] = {"getSigninToken", session_text, duration};
    char *url = NULL;
    int rc = xacct__console_url(op->federation_url, names, values, op->duration_s ? 3 : 2, &url);
    OPENSSL_cleanse(session_text, strlen(session_text));
    free(session_text);
    if (rc == 0) {
        xacct_http_request_t req = {.method = "GET", .url = url, .max_body = 64 * 1024};
        rc = xacct_http_submit(op->http, &req, token_done, op, NULL);
    }
    xacct_free_secret(url);
    if (rc != 0)
        op_finish(op, rc, "cannot request a sign-in token", NULL);
}

int xacct_console_signin_url(xacct_aws_t *aws, xacct_http_t *http,
                             const xacct_console_params_t *p, xacct_console_cb cb, void *arg)
{
    if (aws == NULL || http == NULL || p == NULL || cb == NULL || p->role_arn == NULL ||
        p->external_id == NULL || p->federation_url == NULL || p->destination == NULL)
        return XACCT_EINVAL;
    int duration = p->session_duration_s ? p->session_duration_s : XACCT_CONSOLE_DEFAULT_DURATION;
    if (duration < 900 || duration > 43200)
        return XACCT_EINVAL;
    char *probe = NULL;
    if (xacct__console_url(p->federation_url, NULL, NULL, 0, &probe) != 0)
        return XACCT_EINVAL;
    free(probe);
    if (xacct__console_url(p->destination, NULL, NULL, 0, &probe) != 0)
        return XACCT_EINVAL;
    free(probe);

    console_op_t *op = xacct_calloc(1, sizeof(*op));
    op->http = http;
    op->federation_url = xacct_strdup(p->federation_url);
    op->destination = xacct_strdup(p->destination);
    op->issuer = xacct_strdup(p->issuer ? p->issuer : "xacct");
    op->external_id = xacct_strdup(p->external_id);
    op->cb = cb;
    op->arg = arg;
    /* The role credentials only buy the sign-in token, so they live the
     * shortest time STS allows; the console session length is asked for
     * separately (SessionDuration). Except when xacct's own credentials are
     * a role session: the federation endpoint then refuses SessionDuration
     * ("Invalid credentials parameter") and the console session lasts as
     * long as the role session, which role chaining caps at one hour. */
    bool chained = xacct_aws_role_session(aws);
    op->duration_s = chained ? 0 : duration;
    xacct_sts_assume_params_t ap = {
        .role_arn = p->role_arn,
        .session_name = p->session_name ? p->session_name : "xacct-console",
        .external_id = op->external_id,
        .source_identity = p->source_identity,
        .duration_s = chained ? (duration < 3600 ? duration : 3600) : 900,
        .region = p->region,
    };
    int rc = xacct_sts_assume_role(aws, &ap, assumed, op, NULL);
    if (rc != 0) {
        free(op->federation_url);
        free(op->destination);
        free(op->issuer);
        xacct_free_secret(op->external_id);
        free(op);
    }
    return rc;
}
