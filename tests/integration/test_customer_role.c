/* SPDX-License-Identifier: MIT */
/*
 * customer_role against fakeaws's IAM and STS: AssumeRole with whichever of a
 * customer's external IDs its role trusts. With a role trusting the current
 * ID, the pending one is never sent; with a role that has moved to the
 * pending ID, the current one is tried first, refused, and the pending one
 * gets in, asked exactly as the first call was (session name,
 * SourceIdentity, duration); a role trusting neither is refused after both; without a rotation
 * pending (or a pending ID equal to the current one) there is never a second
 * AssumeRole. Any other error with the current ID ends the operation as it
 * is: a transient one (throttling) stays transient, a validation error stays
 * that. A cancel fires the callback once, with XACCT_ECANCELED.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "aws_test_util.h"
#include "xacct/aws.h"
#include "xacct/customer_role.h"

#define CURRENT_ID "3f2c1b9a-0d4e-4c2b-9a7f-111111111111"
#define PENDING_ID "8e7d6c5b-4a39-4821-b0f1-222222222222"
#define CUSTOMER "520000000001"

typedef struct fixture {
    uv_loop_t loop;
    xacct_http_t *http;
    tenv_t env;
    xacct_creds_t *creds;
    xacct_aws_t *aws;
    char role_arn[128];
} fixture_t;

static int role_seq; /* a fresh role per test: trust changes never carry over */

/* Creates a role of CUSTOMER trusting the partner account with the external
 * IDs given (StringEquals, one value or a list), visible to STS at once. */
static void make_role(fixture_t *f, const char *const *ids, size_t n)
{
    char name[64];
    snprintf(name, sizeof(name), "XacctRole%d", ++role_seq);
    snprintf(f->role_arn, sizeof(f->role_arn), "arn:aws:iam::%s:role/%s", CUSTOMER, name);
    json_t *values = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(values, json_string(ids[i]));
    json_t *ready = json_load_file(must_env("FAKEAWS_READY"), 0, NULL);
    const char *partner = json_string_value(json_object_get(ready, "partner_account"));
    assert_non_null(partner);
    char principal[64];
    snprintf(principal, sizeof(principal), "arn:aws:iam::%s:root", partner);
    json_decref(ready);
    /* Sessions may carry a SourceIdentity, as the templates allow. */
    json_t *body =
        json_pack("{s:s, s:s, s:{s:s, s:[{s:s, s:{s:s}, s:[s, s], s:{s:{s:o}}}]}}", "account_id",
                  CUSTOMER, "role_name", name, "trust_policy", "Version", "2012-10-17", "Statement",
                  "Effect", "Allow", "Principal", "AWS", principal, "Action", "sts:AssumeRole",
                  "sts:SetSourceIdentity", "Condition", "StringEquals", "sts:ExternalId", values);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    assert_int_equal(fake_ctl(&f->loop, f->http, "POST", "/_fake/iam/roles", text, NULL), 201);
    free(text);
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    /* One attempt per AssumeRole: every request fakeaws records is one call. */
    aws_test_probe_start(&f->loop, &f->http, &f->env, 1, &f->creds, &f->aws);
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
    int status;
    bool creds;
    char akid[128];
    xacct_customer_role_id_t used;
    char detail[1024];
} result_t;

static void on_done(int status, const char *detail, const xacct_sts_credentials_t *creds,
                    xacct_customer_role_id_t used, void *arg)
{
    result_t *r = arg;
    r->calls++;
    r->status = status;
    r->creds = creds != NULL && creds->access_key_id != NULL && creds->access_key_id[0] != '\0';
    if (r->creds)
        snprintf(r->akid, sizeof(r->akid), "%s", creds->access_key_id);
    r->used = used;
    snprintf(r->detail, sizeof(r->detail), "%s", detail ? detail : "");
    r->done = true;
}

static void assume(fixture_t *f, const char *session, const char *pending, result_t *r)
{
    xacct_sts_assume_params_t p = {
        .role_arn = f->role_arn,
        .session_name = session,
        .external_id = CURRENT_ID,
    };
    assert_int_equal(
        fake_ctl(&f->loop, f->http, "DELETE", "/_fake/sts/assume-role-counts", NULL, NULL), 200);
    assert_int_equal(fake_ctl(&f->loop, f->http, "DELETE", "/_fake/records", NULL, NULL), 200);
    assert_int_equal(xacct_customer_role_assume(f->aws, &p, pending, on_done, r, NULL), 0);
    assert_false(r->done); /* never from inside the call */
    assert_true(run_until(&f->loop, &r->done, 30000));
    run_for(&f->loop, 50);
    assert_int_equal(r->calls, 1);
}

/* AssumeRole calls fakeaws's STS answered on f's role with id (-1 on error). */
static int calls_with(fixture_t *f, const char *id)
{
    char *body = NULL;
    if (fake_ctl(&f->loop, f->http, "GET", "/_fake/sts/assume-role-counts", NULL, &body) != 200)
        return -1;
    json_t *doc = json_loads(body, 0, NULL);
    free(body);
    json_t *role = json_object_get(json_object_get(doc, "roles"), f->role_arn);
    json_t *n = json_object_get(json_object_get(role, "external_ids"), id);
    int v = json_is_integer(n) ? (int)json_integer_value(n) : 0;
    json_decref(doc);
    return v;
}

/* STS requests fakeaws received since the last reset (faulted ones too). */
static int sts_requests(fixture_t *f)
{
    return fake_count_records(&f->loop, f->http, "request", "service", "sts");
}

/* ------------------------------------------------------------------ */

static void test_current_trusted_pending_never_sent(void **state)
{
    fixture_t *f = *state;
    const char *ids[] = {CURRENT_ID};
    make_role(f, ids, 1);
    result_t r = {0};
    assume(f, "xacct-test", PENDING_ID, &r);
    if (r.status != 0)
        fail_msg("%s %s", xacct_errname(r.status), r.detail);
    assert_true(r.creds);
    assert_int_equal(r.used, XACCT_CUSTOMER_ROLE_CURRENT);
    assert_int_equal(calls_with(f, CURRENT_ID), 1);
    assert_int_equal(calls_with(f, PENDING_ID), 0);
    assert_int_equal(sts_requests(f), 1);
}

/* A role trusting both: the current ID goes first, so it is the one used. */
static void test_current_goes_first(void **state)
{
    fixture_t *f = *state;
    const char *ids[] = {PENDING_ID, CURRENT_ID};
    make_role(f, ids, 2);
    result_t r = {0};
    assume(f, "xacct-test", PENDING_ID, &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.used, XACCT_CUSTOMER_ROLE_CURRENT);
    assert_int_equal(calls_with(f, PENDING_ID), 0);
    assert_int_equal(sts_requests(f), 1);
}

static void test_pending_trusted_after_current_refused(void **state)
{
    fixture_t *f = *state;
    const char *ids[] = {PENDING_ID};
    make_role(f, ids, 1);
    result_t r = {0};
    assume(f, "xacct-test", PENDING_ID, &r);
    if (r.status != 0)
        fail_msg("%s %s", xacct_errname(r.status), r.detail);
    assert_true(r.creds);
    assert_int_equal(r.used, XACCT_CUSTOMER_ROLE_PENDING);
    assert_string_equal(xacct_customer_role_id_name(r.used), "pending");
    assert_int_equal(calls_with(f, CURRENT_ID), 1);
    assert_int_equal(calls_with(f, PENDING_ID), 1);
    assert_int_equal(sts_requests(f), 2);
}

/* The second call is the first one with the other ID: same session name,
 * SourceIdentity and duration. */
static void test_pending_call_keeps_the_parameters(void **state)
{
    fixture_t *f = *state;
    const char *ids[] = {PENDING_ID};
    make_role(f, ids, 1);
    assert_int_equal(
        fake_ctl(&f->loop, f->http, "DELETE", "/_fake/sts/assume-role-counts", NULL, NULL), 200);
    char session[32], source[32];
    snprintf(session, sizeof(session), "alice");
    snprintf(source, sizeof(source), "alice");
    xacct_sts_assume_params_t p = {.role_arn = f->role_arn,
                                   .session_name = session,
                                   .external_id = CURRENT_ID,
                                   .source_identity = source,
                                   .duration_s = 1800};
    result_t r = {0};
    assert_int_equal(xacct_customer_role_assume(f->aws, &p, PENDING_ID, on_done, &r, NULL), 0);
    /* Everything was copied: the caller's strings may go at once. */
    memset(session, 'x', sizeof(session) - 1);
    memset(source, 'x', sizeof(source) - 1);
    assert_true(run_until(&f->loop, &r.done, 30000));
    if (r.status != 0)
        fail_msg("%s %s", xacct_errname(r.status), r.detail);
    assert_int_equal(r.used, XACCT_CUSTOMER_ROLE_PENDING);
    assert_int_equal(calls_with(f, CURRENT_ID), 1);
    char path[256], *body = NULL;
    snprintf(path, sizeof(path), "/_fake/sts/issued-credentials?access_key_id=%s", r.akid);
    assert_int_equal(fake_ctl(&f->loop, f->http, "GET", path, NULL, &body), 200);
    json_t *doc = json_loads(body, 0, NULL);
    free(body);
    json_t *issued = json_array_get(json_object_get(doc, "credentials"), 0);
    assert_non_null(issued);
    assert_string_equal(json_string_value(json_object_get(issued, "session_name")), "alice");
    assert_string_equal(json_string_value(json_object_get(issued, "source_identity")), "alice");
    assert_int_equal(json_integer_value(json_object_get(issued, "duration")), 1800);
    json_decref(doc);
}

static void test_neither_trusted(void **state)
{
    fixture_t *f = *state;
    const char *ids[] = {"5a5a5a5a-5a5a-4a5a-8a5a-5a5a5a5a5a5a"};
    make_role(f, ids, 1);
    result_t r = {0};
    assume(f, "xacct-test", PENDING_ID, &r);
    assert_int_equal(r.status, XACCT_EACCESSDENIED);
    assert_false(r.creds);
    assert_int_equal(r.used, XACCT_CUSTOMER_ROLE_PENDING);
    assert_non_null(strstr(r.detail, "current and with the pending external ID"));
    assert_null(strstr(r.detail, CURRENT_ID));
    assert_null(strstr(r.detail, PENDING_ID));
    assert_int_equal(calls_with(f, CURRENT_ID), 1);
    assert_int_equal(calls_with(f, PENDING_ID), 1);
}

/* No rotation pending: a refusal of the current ID is the answer, even by a
 * role that would take another ID. */
static void test_no_pending_no_second_call(void **state)
{
    fixture_t *f = *state;
    const char *ids[] = {PENDING_ID};
    make_role(f, ids, 1);
    const char *none[] = {NULL, ""};
    for (size_t i = 0; i < 2; i++) {
        result_t r = {0};
        assume(f, "xacct-test", none[i], &r);
        assert_int_equal(r.status, XACCT_EACCESSDENIED);
        assert_int_equal(r.used, XACCT_CUSTOMER_ROLE_CURRENT);
        assert_null(strstr(r.detail, "pending"));
        assert_int_equal(calls_with(f, CURRENT_ID), 1);
        assert_int_equal(sts_requests(f), 1);
    }
    /* A "pending" ID equal to the current one is no rotation either. */
    result_t r = {0};
    assume(f, "xacct-test", CURRENT_ID, &r);
    assert_int_equal(r.status, XACCT_EACCESSDENIED);
    assert_int_equal(r.used, XACCT_CUSTOMER_ROLE_CURRENT);
    assert_int_equal(sts_requests(f), 1);
}

/* Throttled with the current ID: transient, reported as such, and the
 * pending ID is not tried (the caller's retry starts over with the current). */
static void test_transient_stays_transient(void **state)
{
    fixture_t *f = *state;
    const char *ids[] = {PENDING_ID};
    make_role(f, ids, 1);
    assert_int_equal(fake_ctl(&f->loop, f->http, "POST", "/_fake/faults",
                              "{\"service\": \"sts\", \"throttle_rate\": 1.0}", NULL),
                     200);
    result_t r = {0};
    assume(f, "xacct-test", PENDING_ID, &r);
    assert_int_equal(r.status, XACCT_ETHROTTLED);
    assert_int_equal(r.used, XACCT_CUSTOMER_ROLE_CURRENT);
    assert_false(r.creds);
    assert_int_equal(sts_requests(f), 1);
    assert_int_equal(fake_count_records(&f->loop, f->http, "fault", "fault", "throttle"), 1);
}

/* Another AWS error with the current ID (a session name STS refuses) is no
 * reason to try the pending ID. */
static void test_other_error_no_fallback(void **state)
{
    fixture_t *f = *state;
    const char *ids[] = {PENDING_ID};
    make_role(f, ids, 1);
    result_t r = {0};
    assume(f, "not a valid session name", PENDING_ID, &r);
    assert_int_equal(r.status, XACCT_EAWS);
    assert_int_equal(r.used, XACCT_CUSTOMER_ROLE_CURRENT);
    assert_non_null(strstr(r.detail, "ValidationError"));
    assert_int_equal(sts_requests(f), 1);
}

static void test_cancel(void **state)
{
    fixture_t *f = *state;
    const char *ids[] = {PENDING_ID};
    make_role(f, ids, 1);
    assert_int_equal(fake_ctl(&f->loop, f->http, "POST", "/_fake/faults",
                              "{\"service\": \"sts\", \"latency_ms\": 2000}", NULL),
                     200);
    xacct_sts_assume_params_t p = {
        .role_arn = f->role_arn, .session_name = "xacct-test", .external_id = CURRENT_ID};
    result_t r = {0};
    xacct_customer_role_op_t *op = NULL;
    assert_int_equal(xacct_customer_role_assume(f->aws, &p, PENDING_ID, on_done, &r, &op), 0);
    assert_non_null(op);
    run_for(&f->loop, 100);
    assert_false(r.done);
    xacct_customer_role_cancel(op);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.status, XACCT_ECANCELED);
    assert_int_equal(r.used, XACCT_CUSTOMER_ROLE_CURRENT);
    run_for(&f->loop, 200);
    assert_int_equal(r.calls, 1);
}

static void test_invalid(void **state)
{
    fixture_t *f = *state;
    result_t r = {0};
    xacct_customer_role_op_t *op = (xacct_customer_role_op_t *)&r;
    xacct_sts_assume_params_t p = {.role_arn = "arn:aws:iam::520000000001:role/x",
                                   .session_name = "xacct-test"};
    /* The current ID is required: the pending one is never tried alone. */
    assert_int_equal(xacct_customer_role_assume(f->aws, &p, PENDING_ID, on_done, &r, &op),
                     XACCT_EINVAL);
    assert_null(op);
    p.external_id = "";
    assert_int_equal(xacct_customer_role_assume(f->aws, &p, PENDING_ID, on_done, &r, NULL),
                     XACCT_EINVAL);
    p.external_id = CURRENT_ID;
    assert_int_equal(xacct_customer_role_assume(f->aws, &p, PENDING_ID, NULL, &r, NULL),
                     XACCT_EINVAL);
    run_for(&f->loop, 50);
    assert_int_equal(r.calls, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_current_trusted_pending_never_sent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_current_goes_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pending_trusted_after_current_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pending_call_keeps_the_parameters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_neither_trusted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_pending_no_second_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transient_stays_transient, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_error_no_fallback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
