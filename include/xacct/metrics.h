/* SPDX-License-Identifier: MIT */
/*
 * The daemon's counters, gauges and histograms, and their rendering in the
 * Prometheus text exposition format (version 0.0.4).
 *
 * Every metric family is a row of XACCT_METRICS_MAP: its id, type, name,
 * help text and up to two label names. A series is one family plus its label
 * values; series are created on first use, their label values copied. A
 * family holds at most XACCT_METRICS_MAX_SERIES series so that label values
 * that come from outside (a queue URL, a request type) cannot grow memory
 * without bound, and a label value must be valid UTF-8 of at most
 * XACCT_METRICS_MAX_LABEL_LEN bytes (else Prometheus would refuse the whole
 * scrape); updates beyond that are counted in xacct_metrics_dropped_total.
 *
 * Every function accepts m == NULL and then does nothing, so modules shared
 * with the CLI can be instrumented unconditionally. Single-threaded: call
 * from the loop only.
 */
#ifndef XACCT_METRICS_H
#define XACCT_METRICS_H

#include <stddef.h>

#include "xacct/buf.h"
#include "xacct/common.h"

/* X(id, type, name, help, label1, label2) — NULL for an unused label. */
#define XACCT_METRICS_MAP(X)                                                                     \
    X(MSG_RECEIVED, COUNTER, "xacct_messages_received_total",                                    \
      "SQS messages received.", "queue", NULL)                                                   \
    X(MSG_ACKED, COUNTER, "xacct_messages_acked_total",                                          \
      "SQS messages deleted from the queue after they were handled.", "queue", NULL)             \
    X(MSG_DEAD, COUNTER, "xacct_messages_dead_total",                                            \
      "Messages moved to the dead set.", "queue", NULL)                                          \
    X(MSG_RELEASED, COUNTER, "xacct_messages_released_total",                                    \
      "Messages handed back to the queue (visibility 0) on shutdown.", "queue", NULL)            \
    X(REQUESTS, COUNTER, "xacct_requests_total",                                                 \
      "CloudFormation custom-resource requests handled, by request type and outcome.", "type",   \
      "outcome")                                                                                 \
    X(CFN_ANSWERS, COUNTER, "xacct_cfn_answers_total",                                           \
      "Responses PUT to CloudFormation, by response status and delivery result.", "status",      \
      "result")                                                                                  \
    X(SAFETY_CHECKS, COUNTER, "xacct_safety_checks_total",                                       \
      "Confused-deputy checks of customer roles, by outcome.", "outcome", NULL)                  \
    X(REVERIFICATIONS, COUNTER, "xacct_reverifications_total",                                   \
      "Re-verifications of active and degraded customers' roles, by check outcome.", "outcome",  \
      NULL)                                                                                      \
    X(EXPIRATIONS, COUNTER, "xacct_expirations_total",                                       \
      "Abandoned onboardings expired, lapsed reservations released, and clean-ups of closed "    \
      "onboardings (template, topic policy) by result: expired, released, cleaned, "             \
      "cleanup_failed.", "outcome", NULL)                                                        \
    X(CUSTOMERS, GAUGE, "xacct_customers",                                                       \
      "Customers by state, as last counted in Redis (every 30 s).", "state", NULL)               \
    X(AWS_REQUESTS, COUNTER, "xacct_aws_requests_total",                                         \
      "AWS API requests (each attempt) by service and HTTP status; status=\"error\" when no "    \
      "response arrived.", "service", "status")                                                  \
    X(AWS_DURATION, HISTOGRAM, "xacct_aws_request_duration_seconds",                             \
      "AWS API request latency (each attempt) by service.", "service", NULL)                    \
    X(AWS_CLOCK_OFFSET, GAUGE, "xacct_aws_clock_offset_seconds",                                \
      "Seconds AWS's clock is ahead of the host's (negative: behind), as learnt from a "         \
      "signature AWS refused for its time; every signing time is corrected by it.", NULL, NULL)  \
    X(HTTP_CONNECTIONS, COUNTER, "xacct_http_connections_total",                                 \
      "HTTP connections opened, by TLS handshake: full, resumed (a session of an earlier "       \
      "connection), none (plain http).", "tls", NULL)                                            \
    X(HTTP_WAITS, COUNTER, "xacct_http_waits_total",                                             \
      "HTTP requests held before they were started, by reason: tls_gate (the host's first TLS "  \
      "handshake under way), connection_cap (the host had aws.max_host_connections requests "   \
      "out).", "reason", NULL)                                                                   \
    X(REDIS_ERRORS, COUNTER, "xacct_redis_errors_total",                                         \
      "Redis connection failures and command errors.", NULL, NULL)                               \
    X(REDIS_RECONNECTS, COUNTER, "xacct_redis_reconnects_total",                                 \
      "Redis connections made after the first one.", NULL, NULL)                                 \
    X(REDIS_UP, GAUGE, "xacct_redis_up", "1 when the Redis connection is ready.", NULL, NULL)     \
    X(IN_FLIGHT, GAUGE, "xacct_in_flight_messages", "Messages being worked on now.", NULL, NULL)  \
    X(MAX_IN_FLIGHT, GAUGE, "xacct_max_in_flight_messages",                                      \
      "queue.max_in_flight: the most messages worked on at once.", NULL, NULL)                   \
    X(POLLING, GAUGE, "xacct_polling",                                                           \
      "1 while the worker fetches new messages (the readiness check's polling).", NULL,  \
      NULL)          \
    X(CREDS_VALID, GAUGE, "xacct_credentials_valid",                                             \
      "1 when valid AWS credentials are cached.", NULL, NULL)                                    \
    X(CREDS_EXPIRY, GAUGE, "xacct_credentials_expiry_timestamp_seconds",                         \
      "Expiry of the cached AWS credentials in Unix time; 0 when they never expire.", NULL,      \
      NULL)                                                                                      \
    X(START_TIME, GAUGE, "xacct_process_start_time_seconds",                                     \
      "Start time of the process in Unix time.", NULL, NULL)                                     \
    X(BUILD_INFO, GAUGE, "xacct_build_info", "Always 1; the version is a label.", "version",     \
      NULL)                                                                                      \
    X(WEBHOOK_DELIVERIES, COUNTER, "xacct_webhook_deliveries_total",                           \
      "Lifecycle event deliveries to the webhook, by result: delivered (2xx), rejected (another " \
      "status), error (no answer), dead (given up, moved to outbox:dead).", "result", NULL)       \
    X(OUTBOX_PENDING, GAUGE, "xacct_outbox_pending",                                             \
      "Lifecycle events not yet delivered to the webhook (all workers).", NULL, NULL)            \
    X(DROPPED, COUNTER, "xacct_metrics_dropped_total",                                           \
      "Metric updates dropped because a family reached its series limit or a label value was "   \
      "not short UTF-8.", NULL, NULL)

typedef enum xacct_metric_id {
#define XACCT_METRICS_ENUM(id, type, name, help, l1, l2) XACCT_M_##id,
    XACCT_METRICS_MAP(XACCT_METRICS_ENUM)
#undef XACCT_METRICS_ENUM
    XACCT_M__COUNT
} xacct_metric_id_t;

#define XACCT_METRICS_MAX_SERIES 256
#define XACCT_METRICS_MAX_LABEL_LEN 256

/* Upper bounds of the histogram buckets, in seconds (+Inf is implied). */
#define XACCT_METRICS_BUCKETS \
    {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

typedef struct xacct_metrics xacct_metrics_t;

xacct_metrics_t *xacct_metrics_new(void);
void xacct_metrics_free(xacct_metrics_t *m); /* NULL is a no-op */

/*
 * Label values l1 and l2 are borrowed for the call (copied when a series is
 * created); pass NULL for a label the family does not have. Wrong use (a
 * missing label value, a counter decreased, observe on a non-histogram) is
 * ignored in release builds and asserts in debug builds.
 */
void xacct_metrics_inc(xacct_metrics_t *m, xacct_metric_id_t id, const char *l1, const char *l2);
void xacct_metrics_add(xacct_metrics_t *m, xacct_metric_id_t id, const char *l1, const char *l2,
                       double v);
/* Gauges, and counters whose source keeps its own monotonic count. */
void xacct_metrics_set(xacct_metrics_t *m, xacct_metric_id_t id, const char *l1, const char *l2,
                       double v);
/* Removes a series (a gauge with no value right now). */
void xacct_metrics_unset(xacct_metrics_t *m, xacct_metric_id_t id, const char *l1,
                         const char *l2);
void xacct_metrics_observe(xacct_metrics_t *m, xacct_metric_id_t id, const char *l1,
                           const char *l2, double v);

/* A series' value (for a histogram: its observation count); 0 if absent. */
double xacct_metrics_get(const xacct_metrics_t *m, xacct_metric_id_t id, const char *l1,
                         const char *l2);

/* Appends every family (HELP, TYPE, series) in text format 0.0.4. */
int xacct_metrics_render(const xacct_metrics_t *m, xacct_buf_t *out) XACCT_MUSTCHECK;

#define XACCT_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
