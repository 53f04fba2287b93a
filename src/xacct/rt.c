/* SPDX-License-Identifier: MIT */
/*
 * The CLI's runtime: one libuv loop per run, the configuration and the Redis
 * and AWS clients created when a command first needs them, a helper that runs
 * the loop until a callback has fired, and an orderly teardown (AWS, then
 * HTTP, then Redis, then the loop, which must close cleanly).
 */
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "xacct/arn.h"

void cli_init(cli_t *c)
{
    memset(c, 0, sizeof(*c));
    if (uv_loop_init(&c->loop) != 0)
        abort();
    c->out = stdout;
    c->err = stderr;
    c->command = "";
}

void cli_destroy(cli_t *c)
{
    xacct_aws_free(c->aws);
    c->aws = NULL;
    xacct_creds_free(c->creds);
    c->creds = NULL;
    xacct_http_free(c->http);
    c->http = NULL;
    xacct_store_free(c->store);
    c->store = NULL;
    uv_run(&c->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&c->loop) != 0)
        fprintf(c->err, "xacct: internal error: handles left open at exit\n");
    xacct_config_free(c->cfg);
    c->cfg = NULL;
}

void cli_wait(cli_t *c, const bool *done)
{
    while (!*done) {
        if (uv_run(&c->loop, UV_RUN_ONCE) == 0 && !*done) {
            /* Nothing left that could complete the call: a bug, not a
             * condition an operator can act on. */
            fprintf(c->err, "xacct %s: internal error: the call never completed\n", c->command);
            abort();
        }
    }
}

static void vmessage(cli_t *c, const char *fmt, va_list ap)
{
    fprintf(c->err, "xacct%s%s: ", c->command[0] ? " " : "", c->command);
    vfprintf(c->err, fmt, ap);
    if (c->hint != NULL)
        fprintf(c->err, "; %s", c->hint);
    c->hint = NULL;
    fputc('\n', c->err);
}

int cli_usage(cli_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(c, fmt, ap);
    va_end(ap);
    return CLI_USAGE;
}

int cli_fail(cli_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(c, fmt, ap);
    va_end(ap);
    return CLI_FAIL;
}

/* The Redis URL without its password, for messages. */
static char *redis_url_safe(const char *url)
{
    CURLU *u = curl_url();
    char *out = NULL, *pw = NULL;
    if (u != NULL && curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK) {
        if (curl_url_get(u, CURLUPART_PASSWORD, &pw, 0) == CURLUE_OK)
            curl_url_set(u, CURLUPART_PASSWORD, "***", 0);
        char *s = NULL;
        if (curl_url_get(u, CURLUPART_URL, &s, 0) == CURLUE_OK) {
            out = xacct_strdup(s);
            curl_free(s);
        }
    }
    if (pw != NULL) {
        OPENSSL_cleanse(pw, strlen(pw));
        curl_free(pw);
    }
    curl_url_cleanup(u);
    return out ? out : xacct_strdup("(the configured redis.url)");
}

int cli_fail_store(cli_t *c, int status, const char *detail, const char *what)
{
    if (status == XACCT_EDISCONNECTED || status == XACCT_ETIMEOUT) {
        char *url = redis_url_safe(c->cfg && c->cfg->redis_url ? c->cfg->redis_url
                                                               : XACCT_STORE_DEFAULT_URL);
        cli_fail(c, "cannot reach Redis at %s: %s", url, detail ? detail : xacct_strerror(status));
        free(url);
        return CLI_FAIL;
    }
    return cli_fail(c, "%s: %s", what, detail ? detail : xacct_strerror(status));
}

int cli_fail_aws(cli_t *c, int status, const char *detail, const char *what)
{
    const char *d = detail ? detail : xacct_strerror(status);
    switch (status) {
    case XACCT_EAGAIN:
    case XACCT_ETIMEOUT:
    case XACCT_ECONNREFUSED:
    case XACCT_EHTTP:
    case XACCT_ETLS:
        return cli_fail(c, "%s: cannot reach AWS: %s", what, d);
    case XACCT_ENOCREDS:
        return cli_fail(c, "%s: no AWS credentials: %s", what, d);
    default:
        return cli_fail(c, "%s: %s", what, d);
    }
}

int cli_check_account(cli_t *c, const char *account)
{
    if (!xacct_account_id_valid(account))
        return cli_usage(c, "invalid account ID '%s': an AWS account ID is 12 digits", account);
    return 0;
}

/* ---- configuration and clients ----------------------------------------- */

int cli_config(cli_t *c)
{
    if (c->cfg != NULL)
        return 0;
    char err[512];
    if (xacct_config_load_partial(c->config_path, &c->cfg, err, sizeof(err)) != 0)
        return cli_fail(c, "configuration: %s", err);
    return 0;
}

int cli_config_need(cli_t *c, const char *const *keys)
{
    int rc = cli_config(c);
    if (rc != 0)
        return rc;
    for (; *keys != NULL; keys++) {
        if (strcmp(*keys, "partner") == 0 &&
            (c->cfg->aws_partner_account_id == NULL || c->cfg->aws_partner_account_id[0] == '\0'))
            return cli_fail(c, "configuration: aws.partner_account_id is not set (%s)",
                            c->config_path);
        if (strcmp(*keys, "topics") == 0 && c->cfg->sns_topic_arns.n == 0)
            return cli_fail(c, "configuration: sns.topic_arns is not set (%s)", c->config_path);
        if (strcmp(*keys, "region") == 0 &&
            (c->cfg->aws_region == NULL || c->cfg->aws_region[0] == '\0'))
            return cli_fail(c, "configuration: aws.region is not set and AWS_REGION is empty (%s)",
                            c->config_path);
    }
    return 0;
}

int cli_store(cli_t *c)
{
    if (c->store != NULL)
        return 0;
    int rc = cli_config(c);
    if (rc != 0)
        return rc;
    char err[256];
    xacct_store_options_t opts = {
        .url = c->cfg->redis_url,
        .prefix = c->cfg->redis_prefix,
        .reconnect = 0,
        .connect_timeout_ms = 3000,
        .command_timeout_ms = (long)c->cfg->redis_command_timeout * 1000,
        .tls_ca_file = c->cfg->redis_tls_ca_file,
        .tls_cert_file = c->cfg->redis_tls_cert_file,
        .tls_key_file = c->cfg->redis_tls_key_file,
        .sentinels = (const char *const *)c->cfg->redis_sentinels.items,
        .nsentinels = c->cfg->redis_sentinels.n,
        .master_name = c->cfg->redis_master_name,
    };
    if (xacct_store_new(&c->loop, &opts, &c->store, err, sizeof(err)) != 0)
        return cli_fail(c, "configuration: redis: %s", err);
    return 0;
}

int cli_aws(cli_t *c)
{
    if (c->aws != NULL)
        return 0;
    int rc = cli_config(c);
    if (rc != 0)
        return rc;
    char err[256];
    const char *ca = getenv("AWS_CA_BUNDLE");
    xacct_http_options_t hopts = {.ca_bundle = (ca != NULL && ca[0] != '\0') ? ca : NULL};
    if ((rc = xacct_http_new(&c->loop, &hopts, &c->http)) != 0)
        return cli_fail(c, "cannot set up HTTPS (AWS_CA_BUNDLE=%s): %s", ca ? ca : "",
                        xacct_strerror(rc));
    xacct_creds_options_t copts = {.region = c->cfg->aws_region};
    if ((rc = xacct_creds_new(&c->loop, c->http, &copts, &c->creds, err, sizeof(err))) != 0)
        return cli_fail(c, "AWS credentials: %s", err);
    xacct_aws_options_t aopts = {
        .region = c->cfg->aws_region,
        .max_attempts = 3,
        .backoff_base_ms = 200,
        .backoff_max_ms = 2000,
    };
    if ((rc = xacct_aws_new(&c->loop, c->http, c->creds, &aopts, &c->aws)) != 0)
        return cli_fail(c, "cannot set up the AWS client: %s", xacct_strerror(rc));
    return 0;
}
