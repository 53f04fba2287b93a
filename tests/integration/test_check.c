/* SPDX-License-Identifier: MIT */
/*
 * The safety check (check.c) against fakeaws's IAM and STS: a role that
 * trusts only the external ID is secure after three AssumeRole calls, and
 * the check's deadline also ends it while an AssumeRole call is still out
 * (STS holding its answer): the call is cancelled, the check ends
 * transient at the deadline, not when the call would have given up, and
 * its callback fires once; with STS failing until the deadline it ends
 * saying so.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "aws_test_util.h"
#include "xacct/aws.h"
#include "xacct/check.h"

#define EXTERNAL_ID "3f2c1b9a-0d4e-4c2b-9a7f-333333333333"
#define CUSTOMER "530000000001"
#define STS_HOLD_MS 20000 /* how long fakeaws holds each STS answer when told to */

typedef struct fixture {
    uv_loop_t loop;
    xacct_http_t *http;
    tenv_t env;
    xacct_creds_t *creds;
    xacct_aws_t *aws;
    char role_arn[128];
    uint64_t retry_ms; /* the checks' retry ceiling; 0: 50 ms doubling to 100 */
} fixture_t;

static int role_seq;

/* A role of CUSTOMER trusting the partner account with EXTERNAL_ID only. */
static void make_role(fixture_t *f)
{
    char name[64];
    snprintf(name, sizeof(name), "XacctCheckRole%d", ++role_seq);
    snprintf(f->role_arn, sizeof(f->role_arn), "arn:aws:iam::%s:role/%s", CUSTOMER, name);
    json_t *ready = json_load_file(must_env("FAKEAWS_READY"), 0, NULL);
    const char *partner = json_string_value(json_object_get(ready, "partner_account"));
    assert_non_null(partner);
    char principal[64];
    snprintf(principal, sizeof(principal), "arn:aws:iam::%s:root", partner);
    json_decref(ready);
    json_t *body = json_pack(
        "{s:s, s:s, s:{s:s, s:[{s:s, s:{s:s}, s:s, s:{s:{s:s}}}]}}", "account_id", CUSTOMER,
        "role_name", name, "trust_policy", "Version", "2012-10-17", "Statement", "Effect",
        "Allow", "Principal", "AWS", principal, "Action", "sts:AssumeRole", "Condition",
        "StringEquals", "sts:ExternalId", EXTERNAL_ID);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    assert_int_equal(fake_ctl(&f->loop, f->http, "POST", "/_fake/iam/roles", text, NULL), 201);
    free(text);
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    aws_test_probe_start(&f->loop, &f->http, &f->env, 0, &f->creds, &f->aws);
    make_role(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    aws_test_probe_stop(&f->loop, f->http, &f->env, f->creds, f->aws);
    free(f);
    return 0;
}

typedef struct result {
    bool done;
    int calls;
    xacct_check_result_t result;
    uint64_t at_ms; /* uv_now when the callback fired */
    uv_loop_t *loop;
    char detail[1024];
} result_t;

static void on_check(xacct_check_result_t result, const char *detail, unsigned attempts,
                     void *arg)
{
    (void)attempts;
    result_t *r = arg;
    r->calls++;
    r->result = result;
    r->at_ms = uv_now(r->loop);
    snprintf(r->detail, sizeof(r->detail), "%s", detail ? detail : "");
    r->done = true;
}

/* Runs a check of f's role with the deadline deadline_ms after now. */
static uint64_t check(fixture_t *f, uint64_t deadline_ms, result_t *r)
{
    r->loop = &f->loop;
    uv_update_time(&f->loop);
    uint64_t start = uv_now(&f->loop);
    xacct_check_params_t p = {
        .role_arn = f->role_arn,
        .external_id = EXTERNAL_ID,
        .session_name = "xacct-test",
        .propagation_timeout_ms = 1000,
        .deadline_ms = start + deadline_ms,
        .retry_base_ms = f->retry_ms ? f->retry_ms : 50,
        .retry_max_ms = f->retry_ms ? f->retry_ms : 100,
    };
    xacct_check_t *c = NULL;
    assert_int_equal(xacct_check_start(&f->loop, f->aws, &p, on_check, r, &c), 0);
    assert_non_null(c);
    assert_false(r->done); /* never from inside the call */
    assert_true(run_until(&f->loop, &r->done, 60000));
    run_for(&f->loop, 200); /* a second callback would come by now */
    assert_int_equal(r->calls, 1);
    return start;
}

static void test_secure(void **state)
{
    fixture_t *f = *state;
    result_t r = {0};
    check(f, 30000, &r);
    if (r.result != XACCT_CHECK_SECURE)
        fail_msg("%s: %s", xacct_check_result_name(r.result), r.detail);
    assert_int_equal(xacct_aws_in_flight(f->aws), 0);
}

/* STS holds every answer far past the deadline: the check ends at the
 * deadline with the call cancelled, not when the call gives up. */
static void test_deadline_ends_a_call_in_flight(void **state)
{
    fixture_t *f = *state;
    char faults[96];
    snprintf(faults, sizeof(faults), "{\"service\": \"sts\", \"latency_ms\": %d}", STS_HOLD_MS);
    assert_int_equal(fake_ctl(&f->loop, f->http, "POST", "/_fake/faults", faults, NULL), 200);
    result_t r = {0};
    uint64_t start = check(f, 1500, &r);
    assert_int_equal(r.result, XACCT_CHECK_TRANSIENT);
    assert_non_null(strstr(r.detail, "deadline reached with an AssumeRole call in flight"));
    assert_true(r.at_ms >= start + 1500);
    assert_true(r.at_ms < start + STS_HOLD_MS / 2);
    assert_int_equal(xacct_aws_in_flight(f->aws), 0);
}

/* STS answers every call 5xx: the check retries until the deadline and
 * ends with what it was waiting out, without a last call sent at the
 * deadline only to be cancelled there. */
static void test_deadline_while_sts_fails(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(fake_ctl(&f->loop, f->http, "POST", "/_fake/faults",
                              "{\"service\": \"sts\", \"error_rate\": 1.0}", NULL),
                     200);
    /* Retries drawn below an hour: the one after the first failure is all
     * but certainly due past the deadline, so it is timed for the deadline
     * (with short ones, one could be out then, and end as in the test
     * above). */
    f->retry_ms = 3600 * 1000;
    result_t r = {0};
    uint64_t start = check(f, 3000, &r);
    assert_int_equal(r.result, XACCT_CHECK_TRANSIENT);
    if (strstr(r.detail, "STS unavailable until the deadline: ") != r.detail)
        fail_msg("detail: %s", r.detail);
    assert_true(r.at_ms >= start + 3000);
    assert_true(r.at_ms < start + 3000 + 5000);
    assert_int_equal(xacct_aws_in_flight(f->aws), 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_secure),
        T(test_deadline_ends_a_call_in_flight),
        T(test_deadline_while_sts_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
