/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the metric registry and its Prometheus text rendering:
 * HELP/TYPE lines for every family, labelled series, escaping of label
 * values, cumulative histogram buckets with _sum and _count, gauges set and
 * unset, the series limit, and NULL registries doing nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "xacct/metrics.h"

static char *render(const xacct_metrics_t *m)
{
    xacct_buf_t b;
    xacct_buf_init(&b, 0);
    assert_int_equal(xacct_metrics_render(m, &b), 0);
    char *s = xacct_buf_steal(&b);
    xacct_buf_destroy(&b);
    return s ? s : strdup("");
}

/* True when text holds line as a whole line. */
static int has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
            return 1;
    return 0;
}

static void test_every_family_has_help_and_type(void **state)
{
    (void)state;
    xacct_metrics_t *m = xacct_metrics_new();
    char *t = render(m);
    assert_true(has_line(t, "# TYPE xacct_messages_received_total counter"));
    assert_true(has_line(t, "# TYPE xacct_aws_request_duration_seconds histogram"));
    assert_true(has_line(t, "# TYPE xacct_in_flight_messages gauge"));
    assert_true(has_line(t, "# HELP xacct_redis_up 1 when the Redis connection is ready."));
    /* Unlabelled counters exist from the start, at zero. */
    assert_true(has_line(t, "xacct_redis_errors_total 0"));
    assert_true(has_line(t, "xacct_redis_reconnects_total 0"));
    /* Labelled families have no series until used. */
    assert_null(strstr(t, "xacct_requests_total{"));
    /* The text format ends every line with a newline. */
    assert_int_equal(t[strlen(t) - 1], '\n');
    free(t);
    xacct_metrics_free(m);
}

static void test_labelled_counters(void **state)
{
    (void)state;
    xacct_metrics_t *m = xacct_metrics_new();
    xacct_metrics_inc(m, XACCT_M_REQUESTS, "Create", "success");
    xacct_metrics_inc(m, XACCT_M_REQUESTS, "Create", "success");
    xacct_metrics_inc(m, XACCT_M_REQUESTS, "Create", "failed");
    xacct_metrics_add(m, XACCT_M_MSG_RECEIVED, "https://sqs.example/1/q", NULL, 10);
    assert_true(xacct_metrics_get(m, XACCT_M_REQUESTS, "Create", "success") == 2);
    assert_true(xacct_metrics_get(m, XACCT_M_REQUESTS, "Delete", "success") == 0);
    char *t = render(m);
    assert_true(has_line(t, "xacct_requests_total{type=\"Create\",outcome=\"success\"} 2"));
    assert_true(has_line(t, "xacct_requests_total{type=\"Create\",outcome=\"failed\"} 1"));
    assert_true(has_line(t, "xacct_messages_received_total{queue=\"https://sqs.example/1/q\"} 10"));
    free(t);
    xacct_metrics_free(m);
}

static void test_label_values_escaped(void **state)
{
    (void)state;
    xacct_metrics_t *m = xacct_metrics_new();
    xacct_metrics_inc(m, XACCT_M_SAFETY_CHECKS, "a\"b\\c\nd", NULL);
    char *t = render(m);
    assert_true(has_line(t, "xacct_safety_checks_total{outcome=\"a\\\"b\\\\c\\nd\"} 1"));
    free(t);
    xacct_metrics_free(m);
}

static void test_histogram_cumulative(void **state)
{
    (void)state;
    xacct_metrics_t *m = xacct_metrics_new();
    xacct_metrics_observe(m, XACCT_M_AWS_DURATION, "sqs", NULL, 0.004);
    xacct_metrics_observe(m, XACCT_M_AWS_DURATION, "sqs", NULL, 0.02);
    xacct_metrics_observe(m, XACCT_M_AWS_DURATION, "sqs", NULL, 0.02);
    xacct_metrics_observe(m, XACCT_M_AWS_DURATION, "sqs", NULL, 0.5);   /* on a bound: le is inclusive */
    xacct_metrics_observe(m, XACCT_M_AWS_DURATION, "sqs", NULL, 120);   /* beyond the last bound */
    xacct_metrics_observe(m, XACCT_M_AWS_DURATION, "sts", NULL, 1);
    assert_true(xacct_metrics_get(m, XACCT_M_AWS_DURATION, "sqs", NULL) == 5);
    char *t = render(m);
    assert_true(has_line(t, "xacct_aws_request_duration_seconds_bucket{service=\"sqs\",le=\"0.005\"} 1"));
    assert_true(has_line(t, "xacct_aws_request_duration_seconds_bucket{service=\"sqs\",le=\"0.01\"} 1"));
    assert_true(has_line(t, "xacct_aws_request_duration_seconds_bucket{service=\"sqs\",le=\"0.025\"} 3"));
    assert_true(has_line(t, "xacct_aws_request_duration_seconds_bucket{service=\"sqs\",le=\"0.25\"} 3"));
    assert_true(has_line(t, "xacct_aws_request_duration_seconds_bucket{service=\"sqs\",le=\"0.5\"} 4"));
    assert_true(has_line(t, "xacct_aws_request_duration_seconds_bucket{service=\"sqs\",le=\"60\"} 4"));
    assert_true(has_line(t, "xacct_aws_request_duration_seconds_bucket{service=\"sqs\",le=\"+Inf\"} 5"));
    assert_true(has_line(t, "xacct_aws_request_duration_seconds_count{service=\"sqs\"} 5"));
    assert_true(has_line(t, "xacct_aws_request_duration_seconds_sum{service=\"sqs\"} 120.544"));
    assert_true(has_line(t, "xacct_aws_request_duration_seconds_count{service=\"sts\"} 1"));
    assert_true(has_line(t, "xacct_aws_request_duration_seconds_bucket{service=\"sts\",le=\"0.5\"} 0"));
    free(t);
    xacct_metrics_free(m);
}

static void test_gauges_set_and_unset(void **state)
{
    (void)state;
    xacct_metrics_t *m = xacct_metrics_new();
    xacct_metrics_set(m, XACCT_M_IN_FLIGHT, NULL, NULL, 7);
    xacct_metrics_set(m, XACCT_M_IN_FLIGHT, NULL, NULL, 3);
    xacct_metrics_set(m, XACCT_M_CREDS_EXPIRY, NULL, NULL, 1790000000.5);
    xacct_metrics_set(m, XACCT_M_BUILD_INFO, "1.2.3", NULL, 1);
    char *t = render(m);
    assert_true(has_line(t, "xacct_in_flight_messages 3"));
    assert_true(has_line(t, "xacct_credentials_expiry_timestamp_seconds 1790000000.5"));
    assert_true(has_line(t, "xacct_build_info{version=\"1.2.3\"} 1"));
    free(t);
    xacct_metrics_unset(m, XACCT_M_CREDS_EXPIRY, NULL, NULL);
    xacct_metrics_unset(m, XACCT_M_CREDS_EXPIRY, NULL, NULL); /* absent: nothing happens */
    t = render(m);
    assert_null(strstr(t, "xacct_credentials_expiry_timestamp_seconds 1"));
    assert_true(has_line(t, "# TYPE xacct_credentials_expiry_timestamp_seconds gauge"));
    free(t);
    xacct_metrics_free(m);
}

static void test_counter_set_from_source(void **state)
{
    (void)state;
    xacct_metrics_t *m = xacct_metrics_new();
    xacct_metrics_set(m, XACCT_M_REDIS_RECONNECTS, NULL, NULL, 4);
    char *t = render(m);
    assert_true(has_line(t, "xacct_redis_reconnects_total 4"));
    free(t);
    xacct_metrics_free(m);
}

static void test_series_limit(void **state)
{
    (void)state;
    xacct_metrics_t *m = xacct_metrics_new();
    char q[32];
    for (int i = 0; i < XACCT_METRICS_MAX_SERIES + 10; i++) {
        snprintf(q, sizeof(q), "q%d", i);
        xacct_metrics_inc(m, XACCT_M_MSG_RECEIVED, q, NULL);
    }
    assert_true(xacct_metrics_get(m, XACCT_M_MSG_RECEIVED, "q0", NULL) == 1);
    snprintf(q, sizeof(q), "q%d", XACCT_METRICS_MAX_SERIES - 1);
    assert_true(xacct_metrics_get(m, XACCT_M_MSG_RECEIVED, q, NULL) == 1);
    snprintf(q, sizeof(q), "q%d", XACCT_METRICS_MAX_SERIES);
    assert_true(xacct_metrics_get(m, XACCT_M_MSG_RECEIVED, q, NULL) == 0);
    assert_true(xacct_metrics_get(m, XACCT_M_DROPPED, NULL, NULL) == 10);
    /* Existing series still count once the family is full. */
    xacct_metrics_inc(m, XACCT_M_MSG_RECEIVED, "q0", NULL);
    assert_true(xacct_metrics_get(m, XACCT_M_MSG_RECEIVED, "q0", NULL) == 2);
    xacct_metrics_free(m);
}

/* One label value that is not UTF-8 would make Prometheus refuse the whole
 * scrape ("invalid label value"), and a huge one could push the page past
 * its cap: such an update is dropped and counted, the rest still renders. */
static void test_label_values_must_be_short_utf8(void **state)
{
    (void)state;
    xacct_metrics_t *m = xacct_metrics_new();
    char big[XACCT_METRICS_MAX_LABEL_LEN + 2];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    xacct_metrics_set(m, XACCT_M_CUSTOMERS, "act\xffive", NULL, 3);
    xacct_metrics_inc(m, XACCT_M_REQUESTS, "Create", "\xc3\x28");
    xacct_metrics_inc(m, XACCT_M_MSG_RECEIVED, big, NULL);
    big[XACCT_METRICS_MAX_LABEL_LEN] = '\0';
    xacct_metrics_inc(m, XACCT_M_MSG_RECEIVED, big, NULL);
    xacct_metrics_set(m, XACCT_M_CUSTOMERS, "d\xc3\xa9j\xc3\xa0", NULL, 2);
    char *t = render(m);
    assert_null(strstr(t, "\xff"));
    assert_null(strstr(t, "\xc3\x28"));
    assert_true(has_line(t, "xacct_customers{state=\"d\xc3\xa9j\xc3\xa0\"} 2"));
    assert_true(xacct_metrics_get(m, XACCT_M_MSG_RECEIVED, big, NULL) == 1);
    assert_true(xacct_metrics_get(m, XACCT_M_DROPPED, NULL, NULL) == 3);
    free(t);
    xacct_metrics_free(m);
}

static void test_null_registry_is_a_no_op(void **state)
{
    (void)state;
    xacct_metrics_inc(NULL, XACCT_M_REQUESTS, "Create", "success");
    xacct_metrics_set(NULL, XACCT_M_IN_FLIGHT, NULL, NULL, 1);
    xacct_metrics_observe(NULL, XACCT_M_AWS_DURATION, "sqs", NULL, 1);
    xacct_metrics_unset(NULL, XACCT_M_IN_FLIGHT, NULL, NULL);
    assert_true(xacct_metrics_get(NULL, XACCT_M_IN_FLIGHT, NULL, NULL) == 0);
    xacct_buf_t b;
    xacct_buf_init(&b, 0);
    assert_int_equal(xacct_metrics_render(NULL, &b), 0);
    assert_int_equal(b.len, 0);
    xacct_buf_destroy(&b);
    xacct_metrics_free(NULL);
}

static void test_render_respects_buffer_limit(void **state)
{
    (void)state;
    xacct_metrics_t *m = xacct_metrics_new();
    xacct_buf_t b;
    xacct_buf_init(&b, 64);
    assert_int_equal(xacct_metrics_render(m, &b), XACCT_ETOOBIG);
    xacct_buf_destroy(&b);
    xacct_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_family_has_help_and_type),
        cmocka_unit_test(test_labelled_counters),
        cmocka_unit_test(test_label_values_escaped),
        cmocka_unit_test(test_histogram_cumulative),
        cmocka_unit_test(test_gauges_set_and_unset),
        cmocka_unit_test(test_counter_set_from_source),
        cmocka_unit_test(test_series_limit),
        cmocka_unit_test(test_label_values_must_be_short_utf8),
        cmocka_unit_test(test_null_registry_is_a_no_op),
        cmocka_unit_test(test_render_respects_buffer_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
