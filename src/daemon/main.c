/* SPDX-License-Identifier: MIT */
/*
 * xacctd: boot order only. Parse the command line, load the configuration,
 * create the context and start its clients in their fixed order (metrics,
 * HTTP, credentials, AWS, Redis, SNS verifier), then the worker,
 * re-verification, expiry, the customers gauge, the metrics endpoint and the portal
 * API; run the loop, and tear down in reverse.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "xacct/api.h"
#include "xacct/census_gauge.h"
#include "xacct/cli.h"
#include "xacct/config_check.h"
#include "xacct/expirer.h"
#include "xacct/ctx.h"
#include "xacct/dumps.h"
#include "xacct/health.h"
#include "xacct/http.h"
#include "xacct/loop.h"
#include "xacct/metrics.h"
#include "xacct/reverifier.h"
#include "xacct/webhook.h"
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
    } else {
        XACCT_LOG_WARN(&ctx->log, "redis.down", "error", xacct_errname(status), "detail",
                       detail ? detail : "", "action", "reconnecting with backoff", NULL);
        /* Not ready yet: systemd hears why at once, not at the next tick. */
        xacct_loop_waiting(ctx, detail ? detail : xacct_strerror(status));
    }
}

/* The Sentinel watch: a lost subscription is one warning per episode. */
static void on_store_watch(xacct_store_watch_event_t ev, const char *detail, void *arg)
{
    xacct_ctx_t *ctx = arg;
    if (ev == XACCT_STORE_WATCH_UP)
        XACCT_LOG_INFO(&ctx->log, "redis.sentinel.watching", "detail", detail, NULL);
    else if (ev == XACCT_STORE_WATCH_SWITCH)
        XACCT_LOG_WARN(&ctx->log, "redis.sentinel.switch", "detail", detail, "action",
                       "reconnecting to the new master", NULL);
    else
        XACCT_LOG_WARN(&ctx->log, "redis.sentinel.watch_down", "detail", detail, "action",
                       "trying the next sentinel with backoff; Redis itself is unaffected",
                       NULL);
}

/* The daemon's own parts, after the context's clients (xacct_ctx_new). */
static int start(xacct_ctx_t *ctx)
{
    char err[512];
    int rc = xacct_worker_new(ctx, &ctx->worker);
    if (rc != 0) {
        fprintf(stderr, "xacctd: worker: %s\n", xacct_strerror(rc));
        return rc;
    }
    xacct_worker_start(ctx->worker);
    if ((rc = xacct_reverifier_start(ctx, &ctx->reverifier)) != 0) {
        fprintf(stderr, "xacctd: re-verification: %s\n", xacct_strerror(rc));
        return rc;
    }
    if ((rc = xacct_expirer_start(ctx, &ctx->expirer)) != 0) {
        fprintf(stderr, "xacctd: expiry: %s\n", xacct_strerror(rc));
        return rc;
    }
    if ((rc = xacct_census_gauge_start(ctx, &ctx->census)) != 0) {
        fprintf(stderr, "xacctd: customers gauge: %s\n", xacct_strerror(rc));
        return rc;
    }
    if ((rc = xacct_webhook_start(ctx, err, sizeof(err))) != 0) {
        fprintf(stderr, "xacctd: %s\n", err);
        return rc;
    }
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
    xacct_api_warn_no_tokens(ctx);
    if (xacct_store_is_up(ctx->store) && !ctx->ready_sent) {
        ctx->ready_sent = true;
        xacct_loop_ready(ctx);
    }
    /* Otherwise READY=1 waits for Redis: a failed attempt and the loop's
     * timer extend the start meanwhile (xacct_loop_waiting). */
    return 0;
}

extern char **environ;

static void warn_stray_stderr(const char *name, void *arg)
{
    (void)arg;
    fprintf(stderr, "xacctd: warning: %s names no setting (ignored; see xacctd.conf(5))\n", name);
}

static void warn_stray_log(const char *name, void *arg)
{
    xacct_ctx_t *ctx = arg;
    XACCT_LOG_WARN(&ctx->log, "config.unknown_env", "name", name, "detail",
                   "names no setting; ignored", NULL);
}

/* One "xacctd: " line on stderr for each line of msg. */
static void print_lines(const char *msg)
{
    do {
        size_t n = strcspn(msg, "\n");
        fprintf(stderr, "xacctd: %.*s\n", (int)n, msg);
        msg += n;
    } while (*msg++ != '\0');
}

int main(int argc, char **argv)
{
    xacct_forbid_core_dumps();
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
    /* Room for every missing required key, a line each. */
    char err[1024];
    xacct_config_t *cfg = NULL;
    if (xacct_config_load(opts.config_path, &cfg, err, sizeof(err)) != 0) {
        print_lines(err);
        return 1;
    }
    if (opts.check_config) {
        /* What the start would refuse is refused here too (ExecStartPre). */
        xacct_log_t log;
        xacct_log_init(&log, cfg->log_level, cfg->log_format, stderr);
        if (xacct_config_check_start(cfg, &log, err, sizeof(err)) != 0) {
            fprintf(stderr, "xacctd: %s\n", err);
            xacct_config_free(cfg);
            return 1;
        }
        (void)xacct_config_env_strays(environ, warn_stray_stderr, NULL);
        xacct_config_dump(cfg, stdout);
        printf("configuration ok: %s\n", opts.config_path);
        xacct_config_free(cfg);
        return 0;
    }

#ifdef __GLIBC__
    /* Blocks over 16 KB (OpenSSL's record buffers of every connection,
     * libcurl's receive buffer of every handle) get mappings of their own,
     * unmapped at free(): only the pages they touched are resident, and they
     * never hold the heap up between trims. With 256 messages held ~1.5 MB
     * less RSS (README, "Where the memory goes"). libcurl's upload buffer of
     * exactly 16 KB, allocated and freed by every HTTPS request, stays
     * under the line: from the heap it costs no mmap/munmap and page faults
     * per request (xacct/http.h). */
    mallopt(M_MMAP_THRESHOLD, XACCT_HTTP_MMAP_THRESHOLD);
#endif
    xacct_ctx_t *ctx = NULL;
    if (xacct_ctx_new(cfg, XACCT_CTX_DAEMON, &ctx, err, sizeof(err)) != 0) {
        fprintf(stderr, "xacctd: %s\n", err);
        return 1;
    }
    ctx->config_path = xacct_strdup(opts.config_path);
    ctx->on_store_state = on_store_state;
    ctx->on_store_watch = on_store_watch;
    xacct_loop_setup(ctx);
    XACCT_LOG_INFO(&ctx->log, "daemon.starting", "version", XACCT_VERSION, "worker",
                   ctx->worker_id, "config", ctx->config_path, NULL);
    (void)xacct_config_env_strays(environ, warn_stray_log, ctx);
    /* Clients in the context's fixed order, then the daemon's own parts. */
    int rc = xacct_ctx_start(ctx, XACCT_CTX_AWS | XACCT_CTX_STORE | XACCT_CTX_VERIFIER, err,
                             sizeof(err));
    if (rc != 0)
        fprintf(stderr, "xacctd: %s\n", err);
    else
        rc = start(ctx);
    if (rc == 0)
        xacct_loop_run(ctx);
    else
        ctx->exit_code = 1;
    xacct_loop_teardown(ctx);
    int exit_code = ctx->exit_code;
    xacct_log_t log = ctx->log;
    if (xacct_ctx_free(ctx) != 0)
        XACCT_LOG_ERROR(&log, "daemon.leak", "detail", "handles left open at exit", NULL);
    return exit_code;
}
