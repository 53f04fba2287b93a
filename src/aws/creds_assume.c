/* SPDX-License-Identifier: MIT */
/*
 * A profile's role: STS AssumeRole over the query protocol, signed with SigV4
 * by the source profile's static keys. It sits below the generic AWS call
 * (aws.c waits on this provider, so it cannot be used to fill it) and makes
 * the one request itself (through creds_sts.c, shared with web identity); the
 * provider's refresh timer does the retrying. It signs with the provider's
 * clock (aws_clock.h), which STS's refusal for the signing time corrects;
 * the provider then starts the fetch again at once. The XML answer is read
 * by sts.c's parser.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xacct/buf.h"
#include "xacct/creds.h"
#include "xacct/sts_parse.h"

#define ASSUME_MAX_BODY (256u * 1024u)
#define ASSUME_MAX_FORM (16u * 1024u)
#define ASSUME_DEFAULT_TIMEOUT_MS 5000L

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

static int parse_answer(const char *body, size_t len, xacct__creds_set_t **out, char *msg,
                        size_t msglen)
{
    xacct_sts_credentials_t sc;
    xacct__sts_store_t *store = NULL;
    int rc;

    *out = NULL;
    if (xacct__sts_parse_assume(body, len, &sc, &store) != 0) {
        rc = XACCT_EPARSE;
        snprintf(msg, msglen, "STS AssumeRole answer carries no credentials");
    } else {
        rc = to_set(&sc, out, msg, msglen);
    }
    xacct__sts_store_free(store);
    return rc;
}

int xacct__creds_assume_start(const xacct__creds_link_ctx_t *ctx, xacct__creds_fetch_cb cb,
                              void *arg, xacct__creds_fetch_t **out)
{
    int rc;
    char *url = NULL;
    char duration[16];
    xacct_buf_t form;
    xacct_sigv4_result_t sig;

    *out = NULL;
    memset(&sig, 0, sizeof(sig));
    const xacct__creds_config_t *cfg = ctx != NULL ? ctx->cfg : NULL;
    if (cfg == NULL || ctx->http == NULL || cfg->url == NULL || cfg->sts_region == NULL ||
        cfg->keys == NULL || cfg->role_arn == NULL || cfg->session_name == NULL || cb == NULL)
        return XACCT_EINVAL;
    xacct_buf_init(&form, ASSUME_MAX_FORM);
    if ((rc = xacct__creds_sts_param(&form, "Action", "AssumeRole")) != 0 ||
        (rc = xacct__creds_sts_param(&form, "Version", "2011-06-15")) != 0 ||
        (rc = xacct__creds_sts_param(&form, "RoleArn", cfg->role_arn)) != 0 ||
        (rc = xacct__creds_sts_param(&form, "RoleSessionName", cfg->session_name)) != 0)
        goto out;
    if (cfg->external_id != NULL &&
        (rc = xacct__creds_sts_param(&form, "ExternalId", cfg->external_id)) != 0)
        goto out;
    if (cfg->duration_s > 0) {
        snprintf(duration, sizeof(duration), "%d", cfg->duration_s);
        if ((rc = xacct__creds_sts_param(&form, "DurationSeconds", duration)) != 0)
            goto out;
    }
    url = xacct_asprintf("%s/", cfg->url);
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
        .region = cfg->sts_region,
        .service = "sts",
        .now = xacct_aws_clock_now(ctx->clock),
    };
    const xacct_sigv4_credentials_t keys = {.access_key_id = cfg->keys->access_key_id,
                                            .secret_access_key = cfg->keys->secret_access_key,
                                            .session_token = cfg->keys->session_token};
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
        .timeout_ms =
            ctx->fetch_timeout_ms > 0 ? ctx->fetch_timeout_ms : ASSUME_DEFAULT_TIMEOUT_MS,
        .max_body = ASSUME_MAX_BODY,
    };
    rc = xacct__creds_sts_post(ctx->http, &req, parse_answer, ctx->clock, cb, arg, out);
out:
    free(url);
    xacct_sigv4_result_destroy(&sig);
    xacct_buf_destroy_secret(&form);
    return rc;
}
