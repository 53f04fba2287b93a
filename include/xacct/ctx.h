/* SPDX-License-Identifier: MIT */
/*
 * The single context of a process, daemon or CLI: the loop, the
 * configuration snapshot, the log and a pointer to every subsystem. One
 * constructor serves both: xacct_ctx_new creates the loop and the log,
 * xacct_ctx_start brings up the requested subsystems in one fixed order
 * (metrics, HTTP, credentials, AWS, Redis, SNS verifier) and xacct_ctx_free
 * tears them down in the reverse order while the loop is still alive. The
 * daemon's own parts (worker, health endpoint, signals) are started after
 * and stopped before, by src/daemon. Passed explicitly; there are no mutable
 * globals.
 */
#ifndef XACCT_CTX_H
#define XACCT_CTX_H

#include <stdbool.h>
#include <stddef.h>
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
struct xacct_sweeper;
struct xacct_census_gauge;
struct xacct_metrics;
struct xacct_metrics_http;
struct xacct_webhook;
struct xacct_api;

typedef enum xacct_run_state {
    XACCT_RUNNING = 0,  /* polling and working */
    XACCT_DRAINING,     /* SIGTERM: no polling; in-flight work finishing */
    XACCT_STOPPED,      /* everything released; the loop is winding down */
} xacct_run_state_t;

/* What xacct_ctx_new and xacct_ctx_start bring up (bits). */
#define XACCT_CTX_DAEMON 0x01u   /* long-running: metrics, Redis reconnects forever,
                                    AWS calls with the default retries; without it
                                    (the CLI) Redis fails fast and AWS retries briefly */
#define XACCT_CTX_AWS 0x02u      /* HTTP client, credentials chain, signed AWS calls */
#define XACCT_CTX_STORE 0x04u    /* Redis */
#define XACCT_CTX_VERIFIER 0x08u /* SNS signing certificates (starts AWS's HTTP) */

typedef struct xacct_ctx {
    uv_loop_t *loop;                  /* the one loop of the process (owned: _loop) */
    char *config_path;                /* owned, or NULL */
    xacct_config_t *cfg;              /* current snapshot, owned; replaced on reload */
    xacct_log_t log;                  /* level and format from cfg */
    char worker_id[160];              /* host:pid, names the heartbeat key */
    uint64_t started_at;              /* epoch seconds */
    unsigned flags;                   /* XACCT_CTX_DAEMON and the parts started */

    xacct_http_t *http;               /* every HTTPS call */
    xacct_endpoints_profile_t *endpoints; /* the AWS profile's endpoint settings, read
                                         once; its lookup is the AWS clients' getenv */
    xacct_creds_t *creds;             /* the credentials chain */
    xacct_aws_t *aws;                 /* signed AWS calls */
    xacct_aws_clock_t aws_clock;      /* the signing clock of aws, creds and presigned
                                         links: AWS's time as learnt from a refusal */
    xacct_store_t *store;             /* Redis */
    xacct_store_state_cb on_store_state; /* daemon: Redis up/down (arg ctx), set before
                                            the store starts; or NULL */
    xacct_store_watch_cb on_store_watch; /* daemon: the Sentinel watch's news (arg ctx),
                                            likewise; or NULL */
    xacct_sns_verifier_t *verifier;   /* SNS signing certificates */
    struct xacct_worker *worker;      /* pollers and in-flight messages (daemon) */
    struct xacct_sweeper *reverifier; /* re-verification of connected customers (daemon) */
    struct xacct_sweeper *expirer;    /* expiry of abandoned onboardings (daemon) */
    struct xacct_census_gauge *census; /* the customers-by-state gauge (daemon) */
    struct xacct_metrics *metrics;    /* counters, gauges and histograms (daemon) */
    struct xacct_metrics_http *metrics_http; /* /metrics, /healthz, /readyz, or NULL */
    struct xacct_webhook *webhook;    /* lifecycle-event delivery, or NULL */
    struct xacct_api *api;            /* the portal API on api.listen, or NULL */

    uv_signal_t sig_term;             /* drain, a second one exits at once */
    uv_signal_t sig_int;              /* same as SIGTERM */
    uv_signal_t sig_hup;              /* reload the configuration */
    uv_signal_t sig_tstp;             /* quiet: stop fetching */
    uv_signal_t sig_cont;             /* back from quiet: fetch again */
    uv_timer_t watchdog;              /* WATCHDOG=1 and STATUS= while healthy */
    uv_timer_t start_wait;            /* before READY=1: EXTEND_TIMEOUT_USEC and STATUS= */
    uv_timer_t grace;                 /* drain deadline */
    uv_prepare_t log_check;           /* writes a turn's batched log lines (xacct_loop_run) */
    xacct_run_state_t state;
    bool ready_sent;                  /* READY=1 went out (Redis up, polling) */
    char wait_why[256];               /* before READY=1: the last Redis connection
                                         error (host:port, never the password), or "" */
    int exit_code;                    /* returned by main */

    uv_loop_t _loop;                  /* storage of loop */
    struct xacct__ctx_later *_later;  /* pending xacct_ctx_later calls */
} xacct_ctx_t;

/*
 * Creates the context around cfg (ownership passes to the context, also on
 * failure) with a new loop, then starts the parts named in flags
 * (xacct_ctx_start). On failure *out is NULL, everything is released and err
 * says which part failed. Free with xacct_ctx_free.
 */
int xacct_ctx_new(xacct_config_t *cfg, unsigned flags, xacct_ctx_t **out, char *err,
                  size_t errlen) XACCT_MUSTCHECK;

/*
 * Starts the parts of flags that are not running yet, in the fixed order
 * (HTTP, credentials, AWS, Redis, SNS verifier). Parts started before stay
 * up on a failure; err names the part ("AWS credentials: ...",
 * "redis.url: ..."). XACCT_CTX_DAEMON is ignored here.
 */
int xacct_ctx_start(xacct_ctx_t *ctx, unsigned flags, char *err, size_t errlen) XACCT_MUSTCHECK;

/*
 * Frees every subsystem in the reverse of the start order while the loop is
 * alive (each cancels its own work), closes every handle left (the daemon's
 * signals and timers), runs the loop until nothing is left, closes it, then
 * frees metrics, the configuration and the context. Returns uv_loop_close's
 * result: 0 when every handle was closed. NULL returns 0.
 */
int xacct_ctx_free(xacct_ctx_t *ctx);

/*
 * Runs fn(arg) on the loop after delay_ms (0: on the next iteration), for the
 * asynchronous operations built on the context: a callback never fires
 * inside the call that started it, and a wait between retries does not
 * block the loop. xacct_ctx_free runs the pending ones at once, before it
 * frees the clients.
 */
void xacct_ctx_later(xacct_ctx_t *ctx, uint64_t delay_ms, void (*fn)(void *arg), void *arg);

/*
 * One line for a failed Redis call, e.g. "cannot reach Redis at
 * redis://:***@host:6379/0: connection refused" when Redis is unreachable
 * (the password never appears), else "<what>: <detail>". Heap string.
 */
char *xacct_ctx_store_error(const xacct_ctx_t *ctx, int status, const char *detail,
                            const char *what);
/* The same for an AWS call: "<what>: cannot reach AWS: ...", "<what>: no AWS
 * credentials: ..." or "<what>: <detail>". Heap string. */
char *xacct_ctx_aws_error(int status, const char *detail, const char *what);

#endif
