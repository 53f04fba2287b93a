/* SPDX-License-Identifier: MIT */
/*
 * The daemon's loop glue: signal handling (SIGTERM/SIGINT drain and a second
 * one exits at once, SIGHUP reloads, SIGTSTP goes quiet and SIGCONT brings
 * it back, SIGPIPE ignored),
 * the shutdown state machine with its grace deadline, sd_notify, and the
 * teardown of the daemon's own parts.
 */
#ifndef XACCT_LOOP_H
#define XACCT_LOOP_H

#include "xacct/ctx.h"

/* Installs the signal handlers and the watchdog timer on ctx->loop. */
void xacct_loop_setup(xacct_ctx_t *ctx);

/* Runs the loop until the daemon stops, its log lines batched per turn of
 * the loop meanwhile (xacct/log.h). */
void xacct_loop_run(xacct_ctx_t *ctx);

/* Tells systemd the daemon is ready (READY=1 and a STATUS= line). */
void xacct_loop_ready(xacct_ctx_t *ctx);

/* Before READY=1, while Redis is not reached: tells systemd the start is
 * still under way (EXTEND_TIMEOUT_USEC) and why (STATUS=waiting for Redis;
 * last error: why). why (borrowed; NULL keeps the last one) is the store's
 * detail of a failed attempt, which names host and port, never the password.
 * A timer of xacct_loop_setup says it again until READY=1 or the drain.
 * Does nothing once READY=1 went out or the daemon drains. */
void xacct_loop_waiting(xacct_ctx_t *ctx, const char *why);

/* Begins the drain (as SIGTERM does). */
void xacct_loop_shutdown(xacct_ctx_t *ctx);

/* Applies a configuration reload (as SIGHUP does). Returns 0 or
 * XACCT_ECONFIG (the old snapshot stays in force; the reason is logged). */
int xacct_loop_reload(xacct_ctx_t *ctx);

/* Stops the signals and timers, the health endpoint and the worker, in the
 * reverse of their start order; xacct_ctx_free does the rest. */
void xacct_loop_teardown(xacct_ctx_t *ctx);

#endif
