/* SPDX-License-Identifier: MIT */
/*
 * xacctd: boot order only. Parse the command line, load the configuration,
 * start the subsystems in a fixed order (metrics, HTTP, credentials, AWS,
 * Redis, SNS verifier, worker, the metrics endpoint, the portal API), run the
 * loop, and tear
 * down in reverse.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "xacct/api.h"
#include "xacct/cli.h"
#include "xacct/ctx.h"
#include "xacct/health.h"
#include "xacct/loop.h"
#include "xacct/metrics.h"
#include "xacct/worker.h"

static void on_store_state(int up, int status, const char *detail, void *arg)
{
    xacct_ctx_t *ctx = arg;
    if (up) {
        XACCT_LOG_INFO(&ctx->log, "redis.up", "worker", ctx->worker_id, NULL);
        if (!ctx->ready_sent && ctx->worker != NULL && ctx->state == XACCT_RUNNING) {
            ctx->ready_sent = true;
            xacct_loop_ready(ctx);
        }
    } else
        XACCT_LOG_WARN(&ctx->log, "redis.down", "error", xacct_errname(status), "detail",
                       detail ? detail : "", "action", "reconnecting with backoff", NULL);
}

static int start(xacct_ctx_t *ctx)
{
    char err[512];
    const char *ca = getenv("AWS_CA_BUNDLE");
    xacct_http_options_t hopts = {.ca_bundle = (ca && ca[0]) ? ca : NULL};
    int rc = xacct_http_new(ctx->loop, &hopts, &ctx->http);
    if (rc != 0) {
        fprintf(stderr, "xacctd: HTTP client: %s\n", xacct_strerror(rc));
        return rc;
    }
    xacct_creds_options_t copts = {.region = ctx->cfg->aws_region};
    rc = xacct_creds_new(ctx->loop, ctx->http, &copts, &ctx->creds, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "xacctd: AWS credentials: %s\n", err);
        return rc;
    }
    xacct_aws_options_t aopts = {.region = ctx->cfg->aws_region, .metrics = ctx->metrics};
    rc = xacct_aws_new(ctx->loop, ctx->http, ctx->creds, &aopts, &ctx->aws);
    if (rc != 0) {
        fprintf(stderr, "xacctd: AWS client: %s\n", xacct_strerror(rc));
        return rc;
    }
    xacct_store_options_t sopts = {
        .url = ctx->cfg->redis_url,
        .prefix = ctx->cfg->redis_prefix,
        .reconnect = 1,
        .on_state = on_store_state,
        .state_arg = ctx,
    };
    rc = xacct_store_new(ctx->loop, &sopts, &ctx->store, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "xacctd: redis.url: %s\n", err);
        return rc;
    }
    ctx->verifier = xacct_sns_verifier_new(ctx->http, 64);
    rc = xacct_worker_new(ctx, &ctx->worker);
    if (rc != 0) {
        fprintf(stderr, "xacctd: worker: %s\n", xacct_strerror(rc));
        return rc;
    }
    xacct_worker_start(ctx->worker);
    rc = xacct_health_start(ctx, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "xacctd: %s\n", err);
        return rc;
    }
    rc = xacct_api_start(ctx, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "xacctd: %s\n", err);
        return rc;
    }
    if (xacct_store_is_up(ctx->store) && !ctx->ready_sent) {
        ctx->ready_sent = true;
        xacct_loop_ready(ctx);
    }
    return 0;
}

int main(int argc, char **argv)
{
    xacct_cli_opts_t opts;
    if (xacct_cli_parse(argc, argv, &opts, stderr) != 0) {
        xacct_cli_usage(stderr);
        return 2;
    }
    if (opts.help) {
        xacct_cli_usage(stdout);
        return 0;
    }
    if (opts.version) {
        printf("xacctd %s\n", XACCT_VERSION);
        return 0;
    }
    char err[512];
    xacct_config_t *cfg = NULL;
    if (xacct_config_load(opts.config_path, &cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "xacctd: %s\n", err);
        return 1;
    }
    if (opts.check_config) {
        xacct_config_dump(cfg, stdout);
        printf("configuration ok: %s\n", opts.config_path);
        xacct_config_free(cfg);
        return 0;
    }

    uv_loop_t loop;
    uv_loop_init(&loop);
    xacct_ctx_t ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.loop = &loop;
    ctx.cfg = cfg;
    ctx.config_path = xacct_strdup(opts.config_path);
    ctx.started_at = (uint64_t)time(NULL);
    ctx.metrics = xacct_metrics_new();
    xacct_log_init(&ctx.log, cfg->log_level, cfg->log_format, stderr);
    char host[128] = "localhost";
    gethostname(host, sizeof(host) - 1);
    snprintf(ctx.worker_id, sizeof(ctx.worker_id), "%s:%d", host, (int)getpid());

    xacct_loop_setup(&ctx);
    XACCT_LOG_INFO(&ctx.log, "daemon.starting", "version", XACCT_VERSION, "worker", ctx.worker_id,
                   "config", ctx.config_path, NULL);
    if (start(&ctx) == 0) {
        uv_run(&loop, UV_RUN_DEFAULT);
    } else {
        ctx.exit_code = 1;
    }
    int closed = xacct_loop_teardown(&ctx);
    if (closed != 0)
        XACCT_LOG_ERROR(&ctx.log, "daemon.leak", "detail", "handles left open at exit", NULL);
    xacct_config_free(ctx.cfg);
    free(ctx.config_path);
    return ctx.exit_code;
}
