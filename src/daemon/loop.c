/* SPDX-License-Identifier: MIT */
/*
 * Signals go through uv_signal_t so their handlers run on the loop like any
 * other callback. Shutdown order: stop polling → wait for in-flight work up
 * to shutdown.grace_seconds → release the rest (visibility 0) → stop the
 * health endpoint and free the worker; xacct_ctx_free then frees the clients
 * while the loop still runs, closes every handle and the loop.
 */
#include "xacct/loop.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xacct/api.h"
#include "xacct/census_gauge.h"
#include "xacct/expirer.h"
#include "xacct/health.h"
#include "xacct/notify.h"
#include "xacct/reverifier.h"
#include "xacct/sweeper.h"
#include "xacct/webhook.h"
#include "xacct/worker.h"

static void stop_signals(xacct_ctx_t *ctx)
{
    uv_signal_stop(&ctx->sig_term);
    uv_signal_stop(&ctx->sig_int);
    uv_signal_stop(&ctx->sig_hup);
    uv_signal_stop(&ctx->sig_tstp);
    uv_signal_stop(&ctx->sig_cont);
}

/* Before READY=1 the start lasts as long as Redis stays away (SPEC §4: an
 * outage is transient). Left to TimeoutStartSec (90 s by default) systemd
 * would fail the start and restart it, again and again for as long as the
 * outage lasts; instead every START_WAIT_PERIOD_MS the start is extended by
 * START_EXTEND_USEC from then, three times the period, so one lost datagram
 * costs nothing. A loop that hangs still fails the start, that much later. */
#define START_WAIT_PERIOD_MS 10000
#define START_EXTEND_USEC 30000000ULL

static bool waiting_for_redis(const xacct_ctx_t *ctx)
{
    return !ctx->ready_sent && ctx->state == XACCT_RUNNING;
}

static void status_line(xacct_ctx_t *ctx, char *out, size_t outlen)
{
    if (waiting_for_redis(ctx)) {
        snprintf(out, outlen, "waiting for Redis%s%s", ctx->wait_why[0] ? "; last error: " : "",
                 ctx->wait_why);
        return;
    }
    xacct_worker_stats_t st;
    memset(&st, 0, sizeof(st));
    if (ctx->worker != NULL)
        xacct_worker_get_stats(ctx->worker, &st);
    snprintf(out, outlen, "%s; in_flight=%u processed=%llu failed=%llu%s",
             ctx->state == XACCT_RUNNING ? (st.quiet ? "quiet" : "polling") : "draining",
             st.in_flight, (unsigned long long)st.processed, (unsigned long long)st.failed,
             (ctx->store != NULL && !xacct_store_is_up(ctx->store)) ? " redis=down" : "");
}

static void on_watchdog(uv_timer_t *t)
{
    xacct_ctx_t *ctx = xacct_container_of(t, xacct_ctx_t, watchdog);
    char status[320];
    status_line(ctx, status, sizeof(status));
    /* The timer firing is the proof that the loop is not stuck. */
    xacct_notifyf("WATCHDOG=1\nSTATUS=%s", status);
}

void xacct_loop_ready(xacct_ctx_t *ctx)
{
    uv_timer_stop(&ctx->start_wait);
    char status[320];
    status_line(ctx, status, sizeof(status));
    xacct_notifyf("READY=1\nSTATUS=%s", status);
    XACCT_LOG_INFO(&ctx->log, "daemon.ready", "worker", ctx->worker_id, NULL);
}

static void send_waiting(xacct_ctx_t *ctx)
{
    char status[320];
    status_line(ctx, status, sizeof(status));
    xacct_notifyf("EXTEND_TIMEOUT_USEC=%llu\nSTATUS=%s", START_EXTEND_USEC, status);
}

static void on_start_wait(uv_timer_t *t)
{
    xacct_ctx_t *ctx = xacct_container_of(t, xacct_ctx_t, start_wait);
    if (waiting_for_redis(ctx))
        send_waiting(ctx);
    else
        uv_timer_stop(t);
}

void xacct_loop_waiting(xacct_ctx_t *ctx, const char *why)
{
    if (!waiting_for_redis(ctx))
        return;
    if (why != NULL)
        snprintf(ctx->wait_why, sizeof(ctx->wait_why), "%s", why);
    send_waiting(ctx);
}

static void finish_shutdown(void *arg)
{
    xacct_ctx_t *ctx = arg;
    if (ctx->state == XACCT_STOPPED)
        return;
    ctx->state = XACCT_STOPPED;
    uv_timer_stop(&ctx->grace);
    uv_timer_stop(&ctx->watchdog);
    uv_timer_stop(&ctx->start_wait);
    stop_signals(ctx);
    XACCT_LOG_INFO(&ctx->log, "daemon.stopped", "worker", ctx->worker_id, NULL);
    /* Nothing keeps the loop alive past this point except handles that are
     * closing; main() then runs xacct_loop_teardown. */
    uv_stop(ctx->loop);
}

static void on_grace(uv_timer_t *t)
{
    xacct_ctx_t *ctx = xacct_container_of(t, xacct_ctx_t, grace);
    XACCT_LOG_WARN(&ctx->log, "daemon.grace_expired", "action", "releasing in-flight messages",
                   NULL);
    if (ctx->worker != NULL)
        xacct_worker_release(ctx->worker, finish_shutdown, ctx);
    else
        finish_shutdown(ctx);
}

void xacct_loop_shutdown(xacct_ctx_t *ctx)
{
    if (ctx->state != XACCT_RUNNING)
        return;
    ctx->state = XACCT_DRAINING;
    /* A start still waiting for Redis ends here: the stop's own extension
     * follows. */
    uv_timer_stop(&ctx->start_wait);
    /* The unit's TimeoutStopSec is fixed, the grace is configured (and
     * reloadable): systemd is told how long the stop may take, so it never
     * kills a worker that is still releasing its messages. */
    xacct_notifyf("STOPPING=1\nEXTEND_TIMEOUT_USEC=%llu",
                  ((unsigned long long)ctx->cfg->shutdown_grace_seconds + 30ULL) * 1000000ULL);
    /* No new portal requests while draining; those under way are cut (a
     * portal's retry then reads the outcome: an onboarding repeated returns
     * the same record, a cancel done answers 409). */
    xacct_api_stop(ctx);
    char grace[32];
    snprintf(grace, sizeof(grace), "%d", ctx->cfg->shutdown_grace_seconds);
    XACCT_LOG_INFO(&ctx->log, "daemon.draining", "grace_seconds", grace, NULL);
    uv_timer_start(&ctx->grace, on_grace, (uint64_t)ctx->cfg->shutdown_grace_seconds * 1000, 0);
    /* Re-verification takes no more accounts and hands back those in
     * flight; the customers gauge stops counting. */
    xacct_sweeper_stop(ctx->reverifier);
    xacct_sweeper_stop(ctx->expirer);
    xacct_census_gauge_stop(ctx->census);
    if (ctx->worker != NULL)
        xacct_worker_drain(ctx->worker, finish_shutdown, ctx);
    else
        finish_shutdown(ctx);
}

/* The API tokens and the webhook secret are read again on every SIGHUP, from
 * the running configuration's files when the new configuration is refused:
 * revoking a token must not wait for an unrelated edit to be fixed. */
static void reload_secrets(xacct_ctx_t *ctx)
{
    char err[512];
    xacct_webhook_reload(ctx);
    if (xacct_api_reload(ctx, err, sizeof(err)) != 0)
        XACCT_LOG_WARN(&ctx->log, "api.tokens_reload_failed", "reason", err, "action",
                       "keeping the previous tokens", NULL);
    else
        xacct_api_warn_no_tokens(ctx);
}

/* After a reload: READY=1 again, but only if it was ever sent (a SIGHUP
 * while Redis is still away must not mark the start done). */
static void reload_done(xacct_ctx_t *ctx)
{
    if (ctx->ready_sent)
        xacct_loop_ready(ctx);
}

int xacct_loop_reload(xacct_ctx_t *ctx)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    xacct_notifyf("RELOADING=1\nMONOTONIC_USEC=%llu",
                  (unsigned long long)ts.tv_sec * 1000000ULL +
                      (unsigned long long)ts.tv_nsec / 1000ULL);
    char err[1024]; /* every missing required key, a line each */
    xacct_config_t *next = NULL;
    int rc = xacct_config_load(ctx->config_path, &next, err, sizeof(err));
    if (rc == 0)
        rc = xacct_config_check_reload(ctx->cfg, next, err, sizeof(err));
    if (rc != 0) {
        XACCT_LOG_WARN(&ctx->log, "config.reload_failed", "reason", err, "action",
                       "keeping the running configuration", NULL);
        xacct_config_free(next);
        reload_secrets(ctx);
        reload_done(ctx);
        return XACCT_ECONFIG;
    }
    xacct_config_t *old = ctx->cfg;
    ctx->cfg = next;
    ctx->log.level = next->log_level;
    ctx->log.format = next->log_format;
    if (ctx->worker != NULL)
        xacct_worker_reconfigure(ctx->worker);
    xacct_sweeper_reconfigured(ctx->reverifier);
    xacct_sweeper_reconfigured(ctx->expirer);
    xacct_config_free(old);
    reload_secrets(ctx);
    XACCT_LOG_INFO(&ctx->log, "config.reloaded", "path", ctx->config_path, NULL);
    reload_done(ctx);
    return 0;
}

static void on_signal(uv_signal_t *s, int signum)
{
    xacct_ctx_t *ctx = s->data;
    switch (signum) {
    case SIGTERM:
    case SIGINT:
        if (ctx->state == XACCT_RUNNING) {
            xacct_loop_shutdown(ctx);
        } else if (ctx->state == XACCT_DRAINING) {
            /* "You insist": release what is left now instead of at the
             * grace's end. Still an orderly stop (nothing is left
             * invisible), so still exit 0 as SPEC §4 asks of a SIGTERM. */
            XACCT_LOG_WARN(&ctx->log, "daemon.forced_exit", "signal", strsignal(signum), NULL);
            uv_timer_stop(&ctx->grace);
            on_grace(&ctx->grace);
        }
        break;
    case SIGHUP:
        if (ctx->state == XACCT_RUNNING)
            (void)xacct_loop_reload(ctx);
        break;
    case SIGTSTP:
        if (ctx->worker != NULL)
            xacct_worker_quiet(ctx->worker);
        XACCT_LOG_INFO(&ctx->log, "daemon.quiet", "action",
                       "no new messages are fetched (SIGCONT fetches again)", NULL);
        break;
    case SIGCONT:
        /* The way back from SIGTSTP, as in job control. systemd sends one
         * right after its SIGTERM: a worker that drains stays stopped. */
        if (ctx->state == XACCT_RUNNING && ctx->worker != NULL) {
            xacct_worker_stats_t st;
            xacct_worker_get_stats(ctx->worker, &st);
            if (st.quiet) {
                xacct_worker_resume(ctx->worker);
                XACCT_LOG_INFO(&ctx->log, "daemon.resumed", "action", "fetching messages again",
                               NULL);
            }
        }
        break;
    default:
        break;
    }
}

/* Before the loop waits, the lines of this turn go out in one write: a
 * line is never held while the worker sleeps, nor lost to a later kill. */
static void on_log_check(uv_prepare_t *p)
{
    xacct_ctx_t *ctx = xacct_container_of(p, xacct_ctx_t, log_check);
    if (xacct_log_pending(&ctx->log))
        xacct_log_flush(&ctx->log);
}

void xacct_loop_setup(xacct_ctx_t *ctx)
{
    /* A peer closing a socket must give EPIPE, not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    uv_signal_t *sigs[] = {&ctx->sig_term, &ctx->sig_int, &ctx->sig_hup, &ctx->sig_tstp,
                           &ctx->sig_cont};
    int nums[] = {SIGTERM, SIGINT, SIGHUP, SIGTSTP, SIGCONT};
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(sigs); i++) {
        uv_signal_init(ctx->loop, sigs[i]);
        sigs[i]->data = ctx;
        uv_signal_start(sigs[i], on_signal, nums[i]);
    }
    uv_timer_init(ctx->loop, &ctx->grace);
    uv_timer_init(ctx->loop, &ctx->watchdog);
    uv_timer_init(ctx->loop, &ctx->start_wait);
    long wd = xacct_notify_watchdog_ms();
    const char *sock = getenv("NOTIFY_SOCKET");
    bool notify = sock != NULL && sock[0] != '\0';
    if (wd > 0)
        uv_timer_start(&ctx->watchdog, on_watchdog, (uint64_t)wd / 2, (uint64_t)wd / 2);
    else if (notify)
        uv_timer_start(&ctx->watchdog, on_watchdog, 10000, 10000); /* STATUS= only */
    /* Stops itself at READY=1; a failed attempt says so at once too
     * (xacct_loop_waiting). */
    if (notify)
        uv_timer_start(&ctx->start_wait, on_start_wait, START_WAIT_PERIOD_MS, START_WAIT_PERIOD_MS);
    /* Without systemd nobody listens: no timer, no idle wake-ups. */
    uv_unref((uv_handle_t *)&ctx->watchdog);
    uv_unref((uv_handle_t *)&ctx->start_wait);
}

void xacct_loop_run(xacct_ctx_t *ctx)
{
    /* A busy worker logs a few lines a message: while the loop runs, the
     * lines of one turn go out together instead of a write each
     * (xacct/log.h). Start-up and teardown write theirs at once. */
    xacct_log_batch_start(&ctx->log);
    uv_prepare_init(ctx->loop, &ctx->log_check);
    uv_prepare_start(&ctx->log_check, on_log_check);
    uv_unref((uv_handle_t *)&ctx->log_check);
    uv_run(ctx->loop, UV_RUN_DEFAULT);
    uv_prepare_stop(&ctx->log_check);
    xacct_log_batch_stop(&ctx->log);
}

void xacct_loop_teardown(xacct_ctx_t *ctx)
{
    /* After a failed start the signal handles are still active and would
     * keep the loop running. */
    stop_signals(ctx);
    uv_timer_stop(&ctx->grace);
    uv_timer_stop(&ctx->watchdog);
    uv_timer_stop(&ctx->start_wait);
    /* The daemon's own parts, in the reverse of main's start order; the
     * context's subsystems follow in xacct_ctx_free. */
    xacct_api_stop(ctx);
    xacct_health_stop(ctx);
    xacct_webhook_stop(ctx);
    xacct_census_gauge_free(ctx->census);
    ctx->census = NULL;
    xacct_sweeper_free(ctx->expirer);
    ctx->expirer = NULL;
    xacct_sweeper_free(ctx->reverifier);
    ctx->reverifier = NULL;
    xacct_worker_free(ctx->worker);
    ctx->worker = NULL;
}
