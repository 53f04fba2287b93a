/* SPDX-License-Identifier: MIT */
/*
 * The CLI's runtime: the context (ctx.h) created with the configuration, its
 * Redis and AWS clients started when a command first needs them, a helper
 * that runs the loop until a callback has fired, the one-line failure
 * messages, and the teardown, which is the context's (clients in reverse
 * start order, then the loop, which must close cleanly).
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "xacct/arn.h"

void cli_init(cli_t *c)
{
    memset(c, 0, sizeof(*c));
    c->out = stdout;
    c->err = stderr;
    c->command = "";
}

void cli_destroy(cli_t *c)
{
    if (xacct_ctx_free(c->ctx) != 0)
        fprintf(c->err, "xacct: internal error: handles left open at exit\n");
    c->ctx = NULL;
}

void cli_wait(cli_t *c, const bool *done)
{
    while (!*done) {
        if (uv_run(c->ctx->loop, UV_RUN_ONCE) == 0 && !*done) {
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

int cli_fail_store(cli_t *c, int status, const char *detail, const char *what)
{
    char *msg = xacct_ctx_store_error(c->ctx, status, detail, what);
    cli_fail(c, "%s", msg);
    free(msg);
    return CLI_FAIL;
}

int cli_fail_aws(cli_t *c, int status, const char *detail, const char *what)
{
    char *msg = xacct_ctx_aws_error(status, detail, what);
    cli_fail(c, "%s", msg);
    free(msg);
    return CLI_FAIL;
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
    if (c->ctx != NULL)
        return 0;
    char err[512];
    xacct_config_t *cfg = NULL;
    if (xacct_config_load_partial(c->config_path, &cfg, err, sizeof(err)) != 0)
        return cli_fail(c, "configuration: %s", err);
    /* Nothing is started yet: each command starts the clients it uses. */
    if (xacct_ctx_new(cfg, 0, &c->ctx, err, sizeof(err)) != 0)
        return cli_fail(c, "%s", err);
    return 0;
}

int cli_config_need(cli_t *c, const char *const *keys)
{
    int rc = cli_config(c);
    if (rc != 0)
        return rc;
    const xacct_config_t *cfg = c->ctx->cfg;
    for (; *keys != NULL; keys++) {
        if (strcmp(*keys, "partner") == 0 &&
            (cfg->aws_partner_account_id == NULL || cfg->aws_partner_account_id[0] == '\0'))
            return cli_fail(c, "configuration: aws.partner_account_id is not set (%s)",
                            c->config_path);
        if (strcmp(*keys, "topics") == 0 && cfg->sns_topic_arns.n == 0)
            return cli_fail(c, "configuration: sns.topic_arns is not set (%s)", c->config_path);
        if (strcmp(*keys, "region") == 0 && (cfg->aws_region == NULL || cfg->aws_region[0] == '\0'))
            return cli_fail(c, "configuration: aws.region is not set and AWS_REGION is empty (%s)",
                            c->config_path);
    }
    return 0;
}

static int cli_start(cli_t *c, unsigned part, const char *prefix)
{
    int rc = cli_config(c);
    if (rc != 0)
        return rc;
    char err[512];
    if (xacct_ctx_start(c->ctx, part, err, sizeof(err)) != 0)
        return cli_fail(c, "%s%s", prefix, err);
    return 0;
}

int cli_store(cli_t *c)
{
    return cli_start(c, XACCT_CTX_STORE, "configuration: ");
}

int cli_aws(cli_t *c)
{
    return cli_start(c, XACCT_CTX_AWS, "");
}
