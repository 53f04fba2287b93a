/* SPDX-License-Identifier: MIT */
/*
 * The signing clock of a daemon context against fakeaws with its clock 20
 * minutes behind the host's: S3 refuses the first PutObject
 * (RequestTimeTooSkewed), the context's clock takes AWS's time from the
 * answer, logs one aws.clock_skew warning (naming the service, without URLs
 * or keys) and shows the offset as xacct_aws_clock_offset_seconds; a
 * template link presigned afterwards is dated by AWS's clock, so S3 serves
 * it at once instead of calling it not valid yet.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "aws_test_util.h"
#include "xacct/ctx.h"
#include "xacct/metrics.h"
#include "xacct/s3.h"
#include "xacct/template_link.h"

#define BUCKET "xacct-clock-templates"
#define KEY "templates/clock.json"
#define SKEW (-1200)

typedef struct fixture {
    xacct_ctx_t *ctx;
    FILE *log; /* the context's log lines */
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    char text[1024], err[512];
    snprintf(text, sizeof(text),
             "[aws]\nregion = %s\n[redis]\nurl = %s\n"
             "[cloudformation]\ntemplate_bucket = " BUCKET "\n",
             must_env("AWS_REGION"), must_env("XACCT_TEST_REDIS_URL"));
    xacct_config_t *cfg = NULL;
    assert_int_equal(config_load_from("clock.conf", text, NULL, NULL, true, &cfg, err,
                                      sizeof(err)), 0);
    int rc = xacct_ctx_new(cfg, XACCT_CTX_DAEMON | XACCT_CTX_AWS, &f->ctx, err, sizeof(err));
    if (rc != 0)
        fail_msg("context: %s %s", xacct_errname(rc), err);
    f->log = tmpfile();
    assert_non_null(f->log);
    f->ctx->log.out = f->log;
    xacct_ctx_t *ctx = f->ctx;
    assert_int_equal(fake_ctl(ctx->loop, ctx->http, "DELETE", "/_fake/records", NULL, NULL), 200);
    char spec[128];
    snprintf(spec, sizeof(spec), "{\"name\": \"" BUCKET "\", \"region\": \"%s\"}",
             must_env("AWS_REGION"));
    long st = fake_ctl(ctx->loop, ctx->http, "POST", "/_fake/s3/buckets", spec, NULL);
    assert_true(st == 201 || st == 200 || st == 409);
    snprintf(spec, sizeof(spec), "{\"clock_skew\": %d}", SKEW);
    assert_int_equal(fake_ctl(ctx->loop, ctx->http, "POST", "/_fake/server", spec, NULL), 200);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    xacct_ctx_t *ctx = f->ctx;
    assert_int_equal(fake_ctl(ctx->loop, ctx->http, "POST", "/_fake/server",
                              "{\"clock_skew\": 0}", NULL), 200);
    assert_int_equal(xacct_ctx_free(f->ctx), 0);
    fclose(f->log);
    free(f);
    return 0;
}

typedef struct result {
    bool done;
    int calls;
    int status;
    char detail[512];
    char body[256];
} result_t;

static void on_s3(int status, const char *detail, void *arg)
{
    result_t *r = arg;
    r->calls++;
    r->status = status;
    snprintf(r->detail, sizeof(r->detail), "%s", detail ? detail : "");
    r->done = true;
}

static void on_get(int status, const char *detail, const xacct_http_response_t *resp,
                   const xacct_aws_error_t *err, void *arg)
{
    result_t *r = arg;
    XACCT_UNUSED(err);
    r->calls++;
    r->status = status;
    snprintf(r->detail, sizeof(r->detail), "%s", detail ? detail : "");
    if (resp != NULL)
        snprintf(r->body, sizeof(r->body), "%.*s", (int)resp->body_len, resp->body);
    r->done = true;
}

/* Everything the context logged so far. */
static char *log_text(fixture_t *f)
{
    fflush(f->log);
    long n = ftell(f->log);
    assert_true(n >= 0);
    char *text = calloc(1, (size_t)n + 1);
    rewind(f->log);
    assert_int_equal(fread(text, 1, (size_t)n, f->log), (size_t)n);
    return text;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

static bool near_skew(double v)
{
    return v >= SKEW - 10 && v <= SKEW + 10;
}

/* S3 teaches the offset: one warning line, the gauge, and the call done. */
static void put_template(fixture_t *f, const char *body)
{
    xacct_s3_object_t o = {.bucket = BUCKET, .key = KEY, .body = body, .len = strlen(body),
                           .content_type = "application/json"};
    result_t r = {0};
    assert_int_equal(xacct_s3_put(f->ctx->aws, &o, on_s3, &r), 0);
    assert_true(run_until(f->ctx->loop, &r.done, 20000));
    assert_int_equal(r.calls, 1);
    if (r.status != 0)
        fail_msg("PutObject: %s %s", xacct_errname(r.status), r.detail);
}

static void test_correction_logged_and_shown(void **state)
{
    fixture_t *f = *state;
    xacct_ctx_t *ctx = f->ctx;
    assert_int_equal(xacct_metrics_get(ctx->metrics, XACCT_M_AWS_CLOCK_OFFSET, NULL, NULL), 0);
    put_template(f, "{\"Resources\": {}}");
    assert_int_equal(fake_count_records(ctx->loop, ctx->http, "auth_failure", "code",
                                        "RequestTimeTooSkewed"), 1);
    int64_t offset = xacct_aws_clock_offset(ctx->aws);
    if (!near_skew((double)offset))
        fail_msg("offset %lld", (long long)offset);
    assert_true(near_skew(xacct_metrics_get(ctx->metrics, XACCT_M_AWS_CLOCK_OFFSET, NULL, NULL)));

    /* A second call is on time: nothing more is learnt or logged. */
    put_template(f, "{\"Resources\": {\"Again\": {}}}");
    char *text = log_text(f);
    assert_int_equal(count(text, "event=aws.clock_skew"), 1);
    const char *line = strstr(text, "event=aws.clock_skew");
    assert_non_null(strstr(text, "level=warn"));
    assert_non_null(strstr(line, "service=s3"));
    const char *field = strstr(line, " offset_s=");
    assert_non_null(field);
    assert_true(near_skew((double)strtoll(field + strlen(" offset_s="), NULL, 10)));
    assert_non_null(strstr(line, "previous_offset_s=0"));
    /* No keys, no URLs. */
    assert_null(strstr(text, must_env("AWS_ACCESS_KEY_ID")));
    assert_null(strstr(text, must_env("AWS_SECRET_ACCESS_KEY")));
    assert_null(strstr(text, "http"));
    free(text);
}

static time_t amz_date(const char *url)
{
    const char *p = strstr(url, "X-Amz-Date=");
    assert_non_null(p);
    struct tm tm = {0};
    const char *end = strptime(p + strlen("X-Amz-Date="), "%Y%m%dT%H%M%SZ", &tm);
    assert_non_null(end);
    return timegm(&tm);
}

static void test_link_dated_by_aws_clock(void **state)
{
    fixture_t *f = *state;
    xacct_ctx_t *ctx = f->ctx;
    const char *body = "{\"Resources\": {\"Linked\": {}}}";
    put_template(f, body);

    char *url = NULL, err[256] = "";
    int rc = xacct_template_link_presign(ctx, KEY, 900, &url, err, sizeof(err));
    if (rc != 0)
        fail_msg("presign: %s %s", xacct_errname(rc), err);
    time_t aws_now = time(NULL) + SKEW;
    time_t signed_at = amz_date(url);

    /* Fetched as the customer would: without credentials, at once. */
    xacct_aws_request_t req = {.service = "s3", .method = "GET", .url = url,
                               .unsigned_request = true, .max_attempts = 1};
    result_t r = {0};
    rc = xacct_aws_call(ctx->aws, &req, on_get, &r, NULL);
    xacct_free_secret(url);
    assert_int_equal(rc, 0);
    assert_true(run_until(ctx->loop, &r.done, 20000));
    if (r.status != 0)
        fail_msg("GET: %s %s", xacct_errname(r.status), r.detail);
    assert_string_equal(r.body, body);
    if (signed_at < aws_now - 10 || signed_at > aws_now + 10)
        fail_msg("X-Amz-Date %lld, AWS's time %lld", (long long)signed_at, (long long)aws_now);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_correction_logged_and_shown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_link_dated_by_aws_clock, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
