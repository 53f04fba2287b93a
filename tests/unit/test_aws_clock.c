/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for src/aws/aws_clock.c: an answer without a usable Date, or
 * with one closer to the corrected clock than a refusal allows, teaches
 * nothing; a Date minutes away moves the offset, logs one aws.clock_skew
 * warning (the offsets and the service, nothing else) and sets the gauge;
 * the same Date again changes and logs nothing; the signing time carries
 * the offset.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "xacct/aws_clock.h"
#include "xacct/metrics.h"

typedef struct fixture {
    FILE *out;          /* the log's sink */
    xacct_log_t log;
    xacct_metrics_t *metrics;
    xacct_aws_clock_t clock;
    char date[64];      /* the answer's Date */
    xacct_header_t hdr; /* ... as its one header */
    xacct_http_response_t resp;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    f->out = tmpfile();
    assert_non_null(f->out);
    xacct_log_init(&f->log, XACCT_LOG_INFO, XACCT_LOG_LOGFMT, f->out);
    f->metrics = xacct_metrics_new();
    xacct_aws_clock_init(&f->clock, &f->log, f->metrics);
    f->hdr = (xacct_header_t){"date", f->date};
    f->resp = (xacct_http_response_t){.status = 403, .headers = &f->hdr, .nheaders = 1,
                                      .body = ""};
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    xacct_metrics_free(f->metrics);
    fclose(f->out);
    free(f);
    return 0;
}

/* The answer's Date: AWS's clock ahead of ours by ahead_s. */
static void answer_at(fixture_t *f, int64_t ahead_s)
{
    time_t t = time(NULL) + (time_t)ahead_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(f->date, sizeof(f->date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static char *logged(fixture_t *f)
{
    fflush(f->out);
    long n = ftell(f->out);
    char *text = calloc(1, (size_t)n + 1);
    rewind(f->out);
    assert_int_equal(fread(text, 1, (size_t)n, f->out), (size_t)n);
    return text;
}

static bool near(double v, double want)
{
    return v >= want - 5 && v <= want + 5;
}

static void test_nothing_learnt(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(xacct_metrics_get(f->metrics, XACCT_M_AWS_CLOCK_OFFSET, NULL, NULL), 0);
    f->resp.nheaders = 0; /* no Date */
    assert_int_equal(xacct_aws_clock_learn(&f->clock, &f->resp, "sts"), 0);
    f->resp.nheaders = 1;
    snprintf(f->date, sizeof(f->date), "not a date");
    assert_int_equal(xacct_aws_clock_learn(&f->clock, &f->resp, "sts"), 0);
    answer_at(f, 200); /* within what a refusal allows: another cause */
    assert_int_equal(xacct_aws_clock_learn(&f->clock, &f->resp, "sts"), 0);
    assert_int_equal(f->clock.offset_s, 0);
    char *text = logged(f);
    assert_string_equal(text, "");
    free(text);
}

static void test_offset_learnt_once(void **state)
{
    fixture_t *f = *state;
    answer_at(f, -1000);
    int64_t got = xacct_aws_clock_learn(&f->clock, &f->resp, "sqs");
    assert_true(near((double)got, -1000));
    assert_int_equal(f->clock.offset_s, got);
    assert_true(near(xacct_metrics_get(f->metrics, XACCT_M_AWS_CLOCK_OFFSET, NULL, NULL), -1000));
    time_t now = xacct_aws_clock_now(&f->clock);
    assert_true(near((double)(now - time(NULL)), -1000));
    assert_int_equal(xacct_aws_clock_now(NULL) - time(NULL), 0);

    /* Other calls refused with the old clock bring the same Date. */
    assert_int_equal(xacct_aws_clock_learn(&f->clock, &f->resp, "sqs"), got);
    char *text = logged(f);
    const char *line = strstr(text, "event=aws.clock_skew");
    assert_non_null(line);
    assert_null(strstr(line + 1, "event=aws.clock_skew"));
    assert_non_null(strstr(text, "level=warn"));
    char want[64];
    snprintf(want, sizeof(want), " offset_s=%lld ", (long long)got);
    assert_non_null(strstr(line, want));
    assert_non_null(strstr(line, "previous_offset_s=0 "));
    assert_non_null(strstr(line, "service=sqs"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_nothing_learnt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offset_learnt_once, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
