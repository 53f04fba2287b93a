/* SPDX-License-Identifier: MIT */
/*
 * The daemon's single context: the loop, the configuration snapshot, the log
 * and a pointer to every subsystem. Passed explicitly; there are no mutable
 * globals.
 */
#ifndef XACCT_CTX_H
#define XACCT_CTX_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "xacct/aws.h"
#include "xacct/config.h"
#include "xacct/creds.h"
#include "xacct/http.h"
#include "xacct/log.h"
#include "xacct/sns_verify.h"
#include "xacct/store.h"

struct xacct_worker;
struct xacct_metrics;
struct xacct_metrics_http;
struct xacct_api;

typedef enum xacct_run_state {
    XACCT_RUNNING = 0,  /* polling and working */
    XACCT_DRAINING,     /* SIGTERM: no polling; in-flight work finishing */
    XACCT_STOPPED,      /* everything released; the loop is winding down */
} xacct_run_state_t;

typedef struct xacct_ctx {
    uv_loop_t *loop;                  /* the one loop of the process */
    char *config_path;                /* owned */
    xacct_config_t *cfg;              /* current snapshot, owned; replaced on reload */
    xacct_log_t log;                  /* level and format from cfg */
    char worker_id[160];              /* host:pid, names the heartbeat key */
    uint64_t started_at;              /* epoch seconds */

    xacct_http_t *http;               /* every HTTPS call */
    xacct_creds_t *creds;             /* the credentials chain */
    xacct_aws_t *aws;                 /* signed AWS calls */
    xacct_store_t *store;             /* Redis */
    xacct_sns_verifier_t *verifier;   /* SNS signing certificates */
    struct xacct_worker *worker;      /* pollers and in-flight messages */
    struct xacct_metrics *metrics;    /* counters, gauges and histograms */
    struct xacct_metrics_http *metrics_http; /* /metrics, /healthz, /readyz, or NULL */
    struct xacct_api *api;            /* the portal API on api.listen, or NULL */

    uv_signal_t sig_term;             /* drain, a second one exits at once */
    uv_signal_t sig_int;              /* same as SIGTERM */
    uv_signal_t sig_hup;              /* reload the configuration */
    uv_signal_t sig_tstp;             /* quiet: stop fetching */
    uv_timer_t watchdog;              /* WATCHDOG=1 and STATUS= while healthy */
    uv_timer_t grace;                 /* drain deadline */
    xacct_run_state_t state;
    bool ready_sent;                  /* READY=1 went out (Redis up, polling) */
    int exit_code;                    /* returned by main */
} xacct_ctx_t;

#endif
