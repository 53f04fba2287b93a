/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the observability routes on a context whose subsystems are
 * absent: /metrics renders the registry plus the gauges read at scrape time,
 * /healthz answers, /readyz names every failing check, unknown paths are
 * 404 and a body that does not fit is a 500.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "xacct/health.h"
#include "xacct/metrics.h"

typedef struct fixture {
    xacct_config_t cfg;
    xacct_ctx_t ctx;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    f->cfg.queue_max_in_flight = 8;
    f->ctx.cfg = &f->cfg;
    f->ctx.metrics = xacct_metrics_new();
    f->ctx.started_at = 1700000000;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    xacct_metrics_free(f->ctx.metrics);
    free(f);
    return 0;
}

typedef struct answer {
    int status;
    const char *type;
    xacct_buf_t body;
} answer_t;

static void get(fixture_t *f, const char *path, answer_t *a, size_t max)
{
    xacct_buf_init(&a->body, max);
    a->type = NULL;
    a->status = xacct_health_route(&f->ctx, path, &a->body, &a->type);
}

static void test_metrics_route(void **state)
{
    fixture_t *f = *state;
    char err[64];
    /* Empty metrics.listen: nothing listens, but the static gauges are set. */
    f->cfg.metrics_listen = "";
    assert_int_equal(xacct_health_start(&f->ctx, err, sizeof(err)), 0);
    assert_null(f->ctx.metrics_http);
    xacct_metrics_inc(f->ctx.metrics, XACCT_M_REQUESTS, "Create", "success");
    answer_t a;
    get(f, "/metrics", &a, 0);
    assert_int_equal(a.status, 200);
    assert_string_equal(a.type, "text/plain; version=0.0.4; charset=utf-8");
    assert_non_null(strstr(a.body.data, "\nxacct_max_in_flight_messages 8\n"));
    assert_non_null(strstr(a.body.data, "\nxacct_in_flight_messages 0\n"));
    assert_non_null(strstr(a.body.data, "\nxacct_polling 0\n"));
    assert_non_null(strstr(a.body.data, "\nxacct_process_start_time_seconds 1700000000\n"));
    assert_non_null(strstr(a.body.data, "\nxacct_build_info{version=\"" XACCT_VERSION "\"} 1\n"));
    assert_non_null(strstr(a.body.data,
                           "\nxacct_requests_total{type=\"Create\",outcome=\"success\"} 1\n"));
    /* No Redis client, no credentials chain: no such samples. */
    assert_null(strstr(a.body.data, "\nxacct_redis_up "));
    assert_null(strstr(a.body.data, "\nxacct_credentials_valid "));
    xacct_buf_destroy(&a.body);
    xacct_health_stop(&f->ctx);
}

/* A counter that first appears at 1 shows Prometheus no increase(): the
 * alert on the first insecure role or dead message after a start would
 * never fire. Series whose labels are known start at 0. */
static void test_known_series_start_at_zero(void **state)
{
    fixture_t *f = *state;
    char err[64];
#define Q "https://sqs.us-east-1.amazonaws.com/123456789012/q"
    char *queues[] = {Q};
    f->cfg.metrics_listen = "";
    f->cfg.queue_urls.items = queues;
    f->cfg.queue_urls.n = 1;
    assert_int_equal(xacct_health_start(&f->ctx, err, sizeof(err)), 0);
    answer_t a;
    get(f, "/metrics", &a, 0);
    assert_int_equal(a.status, 200);
    static const char *const want[] = {
        "xacct_messages_received_total{queue=\"" Q "\"} 0",
        "xacct_messages_dead_total{queue=\"" Q "\"} 0",
        "xacct_requests_total{type=\"Update\",outcome=\"refused\"} 0",
        "xacct_cfn_answers_total{status=\"FAILED\",result=\"refused\"} 0",
        "xacct_safety_checks_total{outcome=\"insecure\"} 0",
        "xacct_reverifications_total{outcome=\"not_assumable\"} 0",
        "xacct_expirations_total{outcome=\"cleanup_failed\"} 0",
    };
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(want); i++)
        if (strstr(a.body.data, want[i]) == NULL)
            fail_msg("missing: %s", want[i]);
#undef Q
    assert_null(strstr(a.body.data, "outcome=\"canceled\""));
    /* No webhook: no delivery series. */
    assert_null(strstr(a.body.data, "xacct_webhook_deliveries_total{"));
    xacct_buf_destroy(&a.body);
    xacct_health_stop(&f->ctx);

    f->cfg.events_webhook_url = "https://hooks.example.com/x";
    assert_int_equal(xacct_health_start(&f->ctx, err, sizeof(err)), 0);
    get(f, "/metrics", &a, 0);
    assert_non_null(strstr(a.body.data, "\nxacct_webhook_deliveries_total{result=\"dead\"} 0\n"));
    xacct_buf_destroy(&a.body);
    xacct_health_stop(&f->ctx);
}

static void test_metrics_too_big_is_500(void **state)
{
    fixture_t *f = *state;
    answer_t a;
    get(f, "/metrics", &a, 100);
    assert_int_equal(a.status, 500);
    assert_int_equal(a.body.len, 0);
    xacct_buf_destroy(&a.body);
}

static void test_healthz_and_not_found(void **state)
{
    fixture_t *f = *state;
    answer_t a;
    get(f, "/healthz", &a, 0);
    assert_int_equal(a.status, 200);
    assert_string_equal(a.body.data, "ok\n");
    xacct_buf_destroy(&a.body);
    get(f, "/metrics/extra", &a, 0);
    assert_int_equal(a.status, 404);
    assert_non_null(strstr(a.body.data, "/readyz"));
    xacct_buf_destroy(&a.body);
}

static void test_readyz_names_every_failing_check(void **state)
{
    fixture_t *f = *state;
    answer_t a;
    get(f, "/readyz", &a, 0);
    assert_int_equal(a.status, 503);
    assert_string_equal(a.body.data, "redis not connected\n"
                                     "credentials no valid AWS credentials cached\n"
                                     "polling not started\n");
    xacct_buf_destroy(&a.body);
    f->ctx.state = XACCT_DRAINING;
    get(f, "/readyz", &a, 0);
    assert_int_equal(a.status, 503);
    assert_non_null(strstr(a.body.data, "polling shutting down\n"));
    xacct_buf_destroy(&a.body);
    assert_false(xacct_health_ready(&f->ctx, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_metrics_route, setup, teardown),
        cmocka_unit_test_setup_teardown(test_known_series_start_at_zero, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics_too_big_is_500, setup, teardown),
        cmocka_unit_test_setup_teardown(test_healthz_and_not_found, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readyz_names_every_failing_check, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
