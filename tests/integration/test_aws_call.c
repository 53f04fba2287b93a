/* SPDX-License-Identifier: MIT */
/*
 * The generic AWS call against fakeaws: a signed STS GetCallerIdentity
 * succeeds (with environment keys, and with instance-metadata keys the call
 * waits for); a wrong secret ends in XACCT_EAWS SignatureDoesNotMatch;
 * AccessDenied maps to XACCT_EACCESSDENIED; injected 5xx and throttling are
 * retried (re-signed) until success, SQS's own throttling errors too (403
 * RequestThrottled, KmsThrottled); faults that outlast the attempts give
 * XACCT_ETHROTTLED / XACCT_EAGAIN; a clock AWS refuses is corrected from
 * the answer's Date and the request signed again once, and so are keys AWS
 * calls expired, after the provider fetched new ones; network errors are retried; unsigned
 * calls reach STS unsigned; PutObject carries Content-MD5 (an Object Lock
 * bucket wants it); cancellation in flight, during the backoff and
 * by freeing the client fires the callback exactly once; a request's guard
 * is asked before each attempt, and one it withholds is not sent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "aws_test_util.h"
#include "xacct/aws.h"
#include "xacct/s3.h"

static const char GET_CALLER_IDENTITY[] = "Action=GetCallerIdentity&Version=2011-06-15";
static const xacct_header_t FORM[] = {
    {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}};

typedef struct fixture {
    uv_loop_t loop;
    xacct_http_t *http;
    tenv_t env;
    xacct_creds_t *creds;
    xacct_aws_t *aws;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    aws_test_start(&f->loop, &f->http, false);
    tenv_set(&f->env, "AWS_ENDPOINT_URL", must_env("FAKEAWS_URL"));
    tenv_set(&f->env, "AWS_REGION", must_env("AWS_REGION"));
    tenv_set(&f->env, "AWS_ACCESS_KEY_ID", must_env("AWS_ACCESS_KEY_ID"));
    tenv_set(&f->env, "AWS_SECRET_ACCESS_KEY", must_env("AWS_SECRET_ACCESS_KEY"));
    *state = f;
    return 0;
}

/* Creates the provider and client from f->env; backoff_base_ms 0 = 20 ms. */
static void start_client(fixture_t *f, int max_attempts, uint64_t backoff_base_ms)
{
    xacct_creds_options_t co = {.getenv = tenv_get, .getenv_arg = &f->env,
                                .retry_base_ms = 50, .retry_max_ms = 500};
    char err[256] = "";
    int rc = xacct_creds_new(&f->loop, f->http, &co, &f->creds, err, sizeof(err));
    if (rc != 0)
        fail_msg("creds: %s %s", xacct_errname(rc), err);
    xacct_aws_options_t ao = {
        .getenv = tenv_get, .getenv_arg = &f->env, .max_attempts = max_attempts,
        .backoff_base_ms = backoff_base_ms ? backoff_base_ms : 20, .backoff_max_ms = 200,
    };
    assert_int_equal(xacct_aws_new(&f->loop, f->http, f->creds, &ao, &f->aws), 0);
    assert_non_null(xacct_aws_region(f->aws));
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    aws_test_partner_stop(&f->loop, f->http, &f->env, f->creds, f->aws);
    free(f);
    return 0;
}

typedef struct result {
    bool done;
    int calls;
    int status;
    long http_status;
    char detail[1024];
    char body[4096];
    char code[128];
} result_t;

static void on_done(int status, const char *detail, const xacct_http_response_t *resp,
                    const xacct_aws_error_t *err, void *arg)
{
    result_t *r = arg;
    r->calls++;
    r->status = status;
    snprintf(r->detail, sizeof(r->detail), "%s", detail ? detail : "");
    if (resp != NULL) {
        r->http_status = resp->status;
        snprintf(r->body, sizeof(r->body), "%s", resp->body);
    }
    if (err != NULL)
        snprintf(r->code, sizeof(r->code), "%s", err->code);
    r->done = true;
}

static void sts_call(fixture_t *f, const char *body, const xacct_sigv4_credentials_t *keys,
                     result_t *r, xacct_aws_call_t **handle)
{
    xacct_aws_request_t req = {
        .service = "sts", .method = "POST", .path = "/",
        .headers = FORM, .nheaders = 1,
        .body = body, .body_len = strlen(body), .credentials = keys,
    };
    assert_int_equal(xacct_aws_call(f->aws, &req, on_done, r, handle), 0);
    assert_false(r->done); /* never from inside xacct_aws_call */
}

static void finish(fixture_t *f, result_t *r)
{
    assert_true(run_until(&f->loop, &r->done, 20000));
    assert_int_equal(r->calls, 1);
}

static int faults(fixture_t *f, const char *spec)
{
    return (int)fake_ctl(&f->loop, f->http, "POST", "/_fake/faults", spec, NULL);
}

/* A client with max_attempts, the STS faults in spec (NULL: none), and one
 * GetCallerIdentity through them, run to its end. */
static void identity_through(fixture_t *f, int max_attempts, const char *spec, result_t *r)
{
    start_client(f, max_attempts, 0);
    if (spec != NULL)
        assert_int_equal(faults(f, spec), 200);
    sts_call(f, GET_CALLER_IDENTITY, NULL, r, NULL);
    finish(f, r);
}

/* ------------------------------------------------------------- success */

static void test_signed_call(void **state)
{
    fixture_t *f = *state;
    start_client(f, 0, 0);
    result_t r = {0};
    sts_call(f, GET_CALLER_IDENTITY, NULL, &r, NULL);
    assert_int_equal(xacct_aws_in_flight(f->aws), 1);
    finish(f, &r);
    if (r.status != 0)
        fail_msg("%s %s", xacct_errname(r.status), r.detail);
    assert_int_equal(r.http_status, 200);
    char want[64];
    FILE *ready = fopen(must_env("FAKEAWS_READY"), "r");
    assert_non_null(ready);
    char buf[4096] = "";
    size_t n = fread(buf, 1, sizeof(buf) - 1, ready);
    fclose(ready);
    buf[n] = '\0';
    json_error_t jerr;
    json_t *info = json_loads(buf, 0, &jerr);
    snprintf(want, sizeof(want), "<Account>%s</Account>",
             json_string_value(json_object_get(info, "partner_account")));
    json_decref(info);
    assert_non_null(strstr(r.body, want));
    assert_int_equal(xacct_aws_in_flight(f->aws), 0);
}

static void test_waits_for_instance_credentials(void **state)
{
    fixture_t *f = *state;
    tenv_clear(&f->env);
    tenv_set(&f->env, "AWS_ENDPOINT_URL", must_env("FAKEAWS_URL"));
    tenv_set(&f->env, "AWS_REGION", must_env("AWS_REGION"));
    tenv_set(&f->env, "AWS_EC2_METADATA_SERVICE_ENDPOINT", must_env("FAKEAWS_HTTP_URL"));
    start_client(f, 0, 0);
    assert_null(xacct_creds_current(f->creds));
    result_t r = {0};
    sts_call(f, GET_CALLER_IDENTITY, NULL, &r, NULL);
    finish(f, &r);
    if (r.status != 0)
        fail_msg("%s %s", xacct_errname(r.status), r.detail);
    /* Signed with the instance role's temporary keys and session token. */
    assert_non_null(strstr(r.body, ":assumed-role/"));
}

/* AWS answers ExpiredToken for instance keys the provider still takes as
 * valid (its clock behind AWS's): the provider drops them and fetches new
 * ones, and the call is signed again with those, beyond its one attempt. A
 * second call right after uses the new keys at once. */
static void test_expired_keys_refreshed(void **state)
{
    fixture_t *f = *state;
    tenv_clear(&f->env);
    tenv_set(&f->env, "AWS_ENDPOINT_URL", must_env("FAKEAWS_URL"));
    tenv_set(&f->env, "AWS_REGION", must_env("AWS_REGION"));
    tenv_set(&f->env, "AWS_EC2_METADATA_SERVICE_ENDPOINT", must_env("FAKEAWS_HTTP_URL"));
    start_client(f, 1, 0);
    result_t first = {0};
    sts_call(f, GET_CALLER_IDENTITY, NULL, &first, NULL);
    finish(f, &first);
    if (first.status != 0)
        fail_msg("%s %s", xacct_errname(first.status), first.detail);
    assert_int_equal(xacct_creds_fetch_count(f->creds), 1);
    run_for(&f->loop, 200); /* older than the provider's retry base (50 ms here) */
    assert_int_equal(fake_ctl(&f->loop, f->http, "POST", "/_fake/credentials/config",
                              "{\"expire_issued\": true}", NULL),
                     200);

    result_t r = {0};
    sts_call(f, GET_CALLER_IDENTITY, NULL, &r, NULL);
    finish(f, &r);
    if (r.status != 0)
        fail_msg("%s %s", xacct_errname(r.status), r.detail);
    assert_int_equal(xacct_creds_fetch_count(f->creds), 2);
    assert_int_equal(fake_count_records(&f->loop, f->http, "auth_failure", "code", "ExpiredToken"),
                     1);
    result_t again = {0};
    sts_call(f, GET_CALLER_IDENTITY, NULL, &again, NULL);
    finish(f, &again);
    assert_int_equal(again.status, 0);
    assert_int_equal(xacct_creds_fetch_count(f->creds), 2);
}

/* Long-term keys refused as unknown are not fetched again (they cannot
 * change): the call ends with the refusal after its one attempt. */
static void test_unknown_long_term_keys_not_retried(void **state)
{
    fixture_t *f = *state;
    tenv_set(&f->env, "AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7NOTKNOWN");
    start_client(f, 1, 0);
    result_t r = {0};
    sts_call(f, GET_CALLER_IDENTITY, NULL, &r, NULL);
    finish(f, &r);
    assert_int_equal(r.status, XACCT_EAWS);
    assert_string_equal(r.code, "InvalidClientTokenId");
    assert_int_equal(
        fake_count_records(&f->loop, f->http, "auth_failure", "code", "InvalidClientTokenId"), 1);
}

/* -------------------------------------------------------------- errors */

/* The credential provider refused (a container endpoint's 401): the call
 * ends XACCT_ENOCREDS, never the provider's XACCT_EACCESSDENIED, which a
 * caller would read as the service's AccessDenied. */
static void test_credentials_refused(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(fake_ctl(&f->loop, f->http, "POST", "/_fake/credentials/config",
                              "{\"container_token\": \"the-right-one\"}", NULL),
                     200);
    char url[512];
    snprintf(url, sizeof(url), "%s/_creds/container", must_env("FAKEAWS_HTTP_URL"));
    tenv_clear(&f->env);
    tenv_set(&f->env, "AWS_ENDPOINT_URL", must_env("FAKEAWS_URL"));
    tenv_set(&f->env, "AWS_REGION", must_env("AWS_REGION"));
    tenv_set(&f->env, "AWS_CONTAINER_CREDENTIALS_FULL_URI", url);
    tenv_set(&f->env, "AWS_CONTAINER_AUTHORIZATION_TOKEN", "a-wrong-one");
    start_client(f, 0, 0);
    result_t r = {0};
    sts_call(f, GET_CALLER_IDENTITY, NULL, &r, NULL);
    finish(f, &r);
    assert_int_equal(r.status, XACCT_ENOCREDS);
    assert_int_equal(strncmp(r.detail, "credentials: ", 13), 0);
    assert_null(strstr(r.detail, "a-wrong-one"));
}

static int auth_failures(fixture_t *f, const char *code);

static void test_wrong_secret(void **state)
{
    fixture_t *f = *state;
    start_client(f, 0, 0);
    xacct_sigv4_credentials_t bad = {must_env("AWS_ACCESS_KEY_ID"), "not-the-secret", NULL, NULL};
    result_t r = {0};
    sts_call(f, GET_CALLER_IDENTITY, &bad, &r, NULL);
    finish(f, &r);
    assert_int_equal(r.status, XACCT_EAWS);
    assert_string_equal(r.code, "SignatureDoesNotMatch");
    assert_int_equal(strncmp(r.detail, "SignatureDoesNotMatch: ", 23), 0);
    assert_int_equal(r.http_status, 403);
    assert_null(strstr(r.detail, "not-the-secret"));
    /* Not about the time (the clocks agree): no second signature, and the
     * clock stays where it was. */
    assert_int_equal(auth_failures(f, "SignatureDoesNotMatch"), 1);
    assert_int_equal(xacct_aws_clock_offset(f->aws), 0);
}

static void test_access_denied(void **state)
{
    fixture_t *f = *state;
    start_client(f, 0, 0);
    result_t r = {0};
    sts_call(f,
             "Action=AssumeRole&Version=2011-06-15&RoleSessionName=xacct-test"
             "&RoleArn=arn%3Aaws%3Aiam%3A%3A222222222222%3Arole%2Fnobody",
             NULL, &r, NULL);
    finish(f, &r);
    assert_int_equal(r.status, XACCT_EACCESSDENIED);
    assert_string_equal(r.code, "AccessDenied");
    assert_int_equal(strncmp(r.detail, "AccessDenied: ", 14), 0);
}

static void test_unsigned_call(void **state)
{
    fixture_t *f = *state;
    start_client(f, 0, 0);
    const char *body = "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleSessionName=xacct-test"
                       "&RoleArn=arn%3Aaws%3Aiam%3A%3A111111111111%3Arole%2Fr"
                       "&WebIdentityToken=unknown-token";
    xacct_aws_request_t req = {
        .service = "sts", .method = "POST", .path = "/", .headers = FORM, .nheaders = 1,
        .body = body, .body_len = strlen(body), .unsigned_request = true,
    };
    result_t r = {0};
    assert_int_equal(xacct_aws_call(f->aws, &req, on_done, &r, NULL), 0);
    finish(f, &r);
    /* STS judged the token, so the request was accepted as unsigned. */
    assert_int_equal(r.status, XACCT_EAWS);
    assert_string_equal(r.code, "InvalidIdentityToken");
    assert_int_equal(fake_count_records(&f->loop, f->http, "sts.web_identity", "outcome",
                                        "InvalidIdentityToken"), 1);
}

/* ------------------------------------------------------------------ S3 */

static void s3_call(fixture_t *f, const char *method, const char *url, const char *body,
                    result_t *r)
{
    xacct_aws_request_t req = {
        .service = "s3", .method = method, .url = url,
        .body = body, .body_len = body ? strlen(body) : 0,
    };
    assert_int_equal(xacct_aws_call(f->aws, &req, on_done, r, NULL), 0);
    finish(f, r);
}

static void test_s3_path_style(void **state)
{
    fixture_t *f = *state;
    start_client(f, 0, 0);
    char bucket_url[512];
    snprintf(bucket_url, sizeof(bucket_url), "%s/xacct-creds-test", must_env("FAKEAWS_URL"));
    result_t mk = {0};
    s3_call(f, "PUT", bucket_url, NULL, &mk);
    if (mk.status != 0)
        fail_msg("CreateBucket: %s %s", xacct_errname(mk.status), mk.detail);

    char *url = NULL;
    assert_int_equal(xacct_endpoints_s3_url(tenv_get, &f->env, must_env("AWS_REGION"),
                                      "xacct-creds-test", "templates/a b+c.json", &url), 0);
    assert_non_null(strstr(url, "/xacct-creds-test/templates/a%20b%2Bc.json"));
    result_t put = {0}, get = {0}, del = {0}, missing = {0};
    s3_call(f, "PUT", url, "{\"Resources\": {}}", &put);
    if (put.status != 0)
        fail_msg("PutObject: %s %s", xacct_errname(put.status), put.detail);
    s3_call(f, "GET", url, NULL, &get);
    assert_int_equal(get.status, 0);
    assert_string_equal(get.body, "{\"Resources\": {}}");
    s3_call(f, "DELETE", url, NULL, &del);
    assert_int_equal(del.status, 0);
    assert_int_equal(del.http_status, 204);
    s3_call(f, "GET", url, NULL, &missing);
    assert_int_equal(missing.status, XACCT_EAWS);
    assert_string_equal(missing.code, "NoSuchKey");
    assert_int_equal(missing.http_status, 404);
    free(url);
}

typedef struct s3_result {
    bool done;
    int status;
    char detail[512];
} s3_result_t;

static void on_s3(int status, const char *detail, void *arg)
{
    s3_result_t *r = arg;
    r->status = status;
    snprintf(r->detail, sizeof(r->detail), "%s", detail ? detail : "");
    r->done = true;
}

/* A template bucket may have Object Lock (a compliance default retention):
 * S3 then refuses a PutObject without Content-MD5 or x-amz-checksum-*. */
static void test_s3_put_to_object_lock_bucket(void **state)
{
    fixture_t *f = *state;
    start_client(f, 0, 0);
    char spec[256];
    snprintf(spec, sizeof(spec), "{\"name\": \"xacct-locked-templates\", \"region\": \"%s\", "
             "\"object_lock\": true}", must_env("AWS_REGION"));
    assert_int_equal(fake_ctl(&f->loop, f->http, "POST", "/_fake/s3/buckets", spec, NULL), 201);
    const char *body = "{\"Resources\": {}}";
    xacct_s3_object_t o = {.bucket = "xacct-locked-templates", .key = "templates/a.json",
                           .body = body, .len = strlen(body), .content_type = "application/json"};
    s3_result_t r = {0};
    assert_int_equal(xacct_s3_put(f->aws, &o, on_s3, &r), 0);
    assert_true(run_until(&f->loop, &r.done, 20000));
    if (r.status != 0)
        fail_msg("PutObject: %s %s", xacct_errname(r.status), r.detail);
}

/* ---------------------------------------------------------- clock skew */

static void set_clock_skew(fixture_t *f, int seconds)
{
    char spec[64];
    snprintf(spec, sizeof(spec), "{\"clock_skew\": %d}", seconds);
    assert_int_equal(fake_ctl(&f->loop, f->http, "POST", "/_fake/server", spec, NULL), 200);
}

static int auth_failures(fixture_t *f, const char *code)
{
    return fake_count_records(&f->loop, f->http, "auth_failure", "code", code);
}

/* AWS's clock 20 minutes ahead, then 20 minutes behind (past the 15 it
 * allows): STS refuses the
 * first signature of each ("Signature expired" / "not yet current"); the
 * client takes AWS's time from the answer's Date and signs again at once,
 * beyond its one allowed attempt, and the next call is on time at the first. */
static void test_clock_skew_corrected(void **state)
{
    fixture_t *f = *state;
    set_clock_skew(f, 1200);
    result_t r = {0};
    identity_through(f, 1, NULL, &r);
    if (r.status != 0)
        fail_msg("%s %s", xacct_errname(r.status), r.detail);
    int64_t offset = xacct_aws_clock_offset(f->aws);
    if (offset < 1190 || offset > 1210)
        fail_msg("offset %lld", (long long)offset);
    assert_int_equal(auth_failures(f, "SignatureDoesNotMatch"), 1);

    result_t again = {0};
    sts_call(f, GET_CALLER_IDENTITY, NULL, &again, NULL);
    finish(f, &again);
    assert_int_equal(again.status, 0);
    assert_int_equal(auth_failures(f, "SignatureDoesNotMatch"), 1);

    set_clock_skew(f, -1200);
    result_t behind = {0};
    sts_call(f, GET_CALLER_IDENTITY, NULL, &behind, NULL);
    finish(f, &behind);
    if (behind.status != 0)
        fail_msg("%s %s", xacct_errname(behind.status), behind.detail);
    offset = xacct_aws_clock_offset(f->aws);
    if (offset < -1210 || offset > -1190)
        fail_msg("offset %lld", (long long)offset);
    assert_int_equal(auth_failures(f, "SignatureDoesNotMatch"), 2);
}

/* Calls signed together with the old clock: the first answer corrects it,
 * and the others, whose Date agrees with the corrected clock, go again
 * too (they were signed before the correction). */
static void test_clock_skew_concurrent_calls(void **state)
{
    fixture_t *f = *state;
    start_client(f, 1, 0);
    set_clock_skew(f, 1200);
    result_t r[3] = {{0}};
    for (size_t i = 0; i < 3; i++)
        sts_call(f, GET_CALLER_IDENTITY, NULL, &r[i], NULL);
    for (size_t i = 0; i < 3; i++) {
        finish(f, &r[i]);
        if (r[i].status != 0)
            fail_msg("call %zu: %s %s", i, xacct_errname(r[i].status), r[i].detail);
    }
    assert_int_equal(auth_failures(f, "SignatureDoesNotMatch"), 3);
}

/* S3 names the refusal RequestTimeTooSkewed; the same correction applies. */
static void test_clock_skew_corrected_s3(void **state)
{
    fixture_t *f = *state;
    start_client(f, 1, 0);
    set_clock_skew(f, -1200);
    char bucket_url[512];
    snprintf(bucket_url, sizeof(bucket_url), "%s/xacct-skew-test", must_env("FAKEAWS_URL"));
    result_t mk = {0};
    s3_call(f, "PUT", bucket_url, NULL, &mk);
    if (mk.status != 0)
        fail_msg("CreateBucket: %s %s", xacct_errname(mk.status), mk.detail);
    assert_int_equal(auth_failures(f, "RequestTimeTooSkewed"), 1);
    int64_t offset = xacct_aws_clock_offset(f->aws);
    if (offset < -1210 || offset > -1190)
        fail_msg("offset %lld", (long long)offset);
}

/* ------------------------------------------------------------- retries */

static void test_retries_5xx_then_succeeds(void **state)
{
    fixture_t *f = *state;
    result_t r = {0};
    identity_through(f, 5, "{\"service\": \"sts\", \"error_rate\": 1.0, \"count\": 2}", &r);
    if (r.status != 0)
        fail_msg("%s %s", xacct_errname(r.status), r.detail);
    assert_int_equal(fake_count_records(&f->loop, f->http, "fault", "service", "sts"), 2);
    assert_int_equal(fake_count_records(&f->loop, f->http, "fault", "fault", "error500") +
                         fake_count_records(&f->loop, f->http, "fault", "fault", "error503"),
                     2);
}

static void test_retries_throttling_then_succeeds(void **state)
{
    fixture_t *f = *state;
    result_t r = {0};
    identity_through(f, 5, "{\"service\": \"sts\", \"throttle_rate\": 1.0, \"count\": 3}", &r);
    if (r.status != 0)
        fail_msg("%s %s", xacct_errname(r.status), r.detail);
    assert_int_equal(fake_count_records(&f->loop, f->http, "fault", "fault", "throttle"), 3);
}

static void test_throttling_outlasts_attempts(void **state)
{
    fixture_t *f = *state;
    result_t r = {0};
    identity_through(f, 3, "{\"service\": \"sts\", \"throttle_rate\": 1.0}", &r);
    assert_int_equal(r.status, XACCT_ETHROTTLED);
    assert_string_equal(r.code, "Throttling");
    assert_int_equal(r.http_status, 400);
    assert_int_equal(strncmp(r.detail, "Throttling: ", 12), 0);
    /* Exactly max_attempts requests were made. */
    assert_int_equal(fake_count_records(&f->loop, f->http, "fault", "fault", "throttle"), 3);
}

/* One SQS ListQueues through the SQS faults in spec, run to its end. */
static void queues_through(fixture_t *f, int max_attempts, const char *spec, result_t *r)
{
    static const char body[] = "{}";
    static const xacct_header_t json[] = {
        {"Content-Type", "application/x-amz-json-1.0"},
        {"X-Amz-Target", "AmazonSQS.ListQueues"},
    };
    start_client(f, max_attempts, 0);
    assert_int_equal(faults(f, spec), 200);
    xacct_aws_request_t req = {
        .service = "sqs",
        .method = "POST",
        .path = "/",
        .headers = json,
        .nheaders = 2,
        .body = body,
        .body_len = sizeof(body) - 1,
    };
    assert_int_equal(xacct_aws_call(f->aws, &req, on_done, r, NULL), 0);
    finish(f, r);
}

static void test_sqs_throttling_retried(void **state)
{
    fixture_t *f = *state;
    result_t r = {0};
    /* SQS's three throttling errors in turn: ThrottlingException, 403
     * RequestThrottled, 400 KmsThrottled (KMS.ThrottlingException). */
    queues_through(f, 5, "{\"service\": \"sqs\", \"throttle_rate\": 1.0, \"count\": 3}", &r);
    if (r.status != 0)
        fail_msg("%s %s", xacct_errname(r.status), r.detail);
    assert_int_equal(fake_count_records(&f->loop, f->http, "fault", "code", "ThrottlingException"),
                     1);
    assert_int_equal(fake_count_records(&f->loop, f->http, "fault", "code", "RequestThrottled"), 1);
    assert_int_equal(fake_count_records(&f->loop, f->http, "fault", "code", "KmsThrottled"), 1);
}

/* Every attempt throttled with SQS's code: the call ends throttled (never
 * access denied, whatever the HTTP status), with that code, after two. */
static void throttled_through(fixture_t *f, const char *code, long http_status)
{
    result_t r = {0};
    char faults[160];
    snprintf(faults, sizeof(faults),
             "{\"service\": \"sqs\", \"throttle_rate\": 1.0, \"throttle_code\": \"%s\"}", code);
    queues_through(f, 2, faults, &r);
    assert_int_equal(r.status, XACCT_ETHROTTLED);
    assert_int_equal(r.http_status, http_status);
    assert_string_equal(r.code, code);
    assert_int_equal(strncmp(r.detail, code, strlen(code)), 0);
    assert_int_equal(fake_count_records(&f->loop, f->http, "fault", "fault", "throttle"), 2);
}

static void test_sqs_request_throttled_is_not_access_denied(void **state)
{
    throttled_through(*state, "RequestThrottled", 403);
}

static void test_sqs_kms_throttled_outlasts_attempts(void **state)
{
    throttled_through(*state, "KmsThrottled", 400);
}

static void test_5xx_outlasts_attempts(void **state)
{
    fixture_t *f = *state;
    result_t r = {0};
    identity_through(f, 2, "{\"service\": \"sts\", \"error_rate\": 1.0}", &r);
    assert_int_equal(r.status, XACCT_EAGAIN);
    assert_true(r.http_status == 500 || r.http_status == 503);
    assert_int_equal(fake_count_records(&f->loop, f->http, "fault", "service", "sts"), 2);
}

static void test_network_error_retried(void **state)
{
    fixture_t *f = *state;
    char url[64];
    closed_port_url(url, sizeof(url), "https");
    tenv_set(&f->env, "AWS_ENDPOINT_URL_STS", url);
    result_t r = {0};
    identity_through(f, 3, NULL, &r);
    assert_int_equal(r.status, XACCT_EAGAIN);
    assert_int_equal(r.http_status, 0); /* no response */
    assert_true(strlen(r.detail) > 0);
}

static void test_tls_failure_retried(void **state)
{
    fixture_t *f = *state;
    tls_breaker_t b = {0};
    char url[64];
    tls_breaker_start(&f->loop, &b, url, sizeof(url));
    tenv_set(&f->env, "AWS_ENDPOINT_URL_STS", url);
    result_t r = {0};
    identity_through(f, 3, NULL, &r);
    assert_int_equal(r.status, XACCT_EAGAIN); /* transient, not XACCT_ETLS at once */
    assert_int_equal(b.accepted, 3);          /* every attempt made its handshake */
    assert_int_equal(r.http_status, 0);
    assert_non_null(strstr(r.detail, xacct_strerror(XACCT_ETLS)));
    tls_breaker_stop(&b);
    uv_run(&f->loop, UV_RUN_NOWAIT);
}

/* -------------------------------------------------------- cancellation */

typedef struct canceller {
    uv_timer_t timer;
    xacct_aws_call_t *call;
    result_t *r;
    int calls_at_return;  /* r->calls right after xacct_aws_cancel returned */
} canceller_t;

static void cancel_cb(uv_timer_t *t)
{
    canceller_t *c = xacct_container_of(t, canceller_t, timer);
    xacct_aws_cancel(c->call);
    c->calls_at_return = c->r->calls;
}

static void cancel_after(fixture_t *f, xacct_aws_call_t *call, result_t *r, uint64_t ms)
{
    canceller_t c = {.call = call, .r = r, .calls_at_return = -1};
    uv_timer_init(&f->loop, &c.timer);
    uv_timer_start(&c.timer, cancel_cb, ms, 0);
    finish(f, r);
    uv_close((uv_handle_t *)&c.timer, NULL);
    uv_run(&f->loop, UV_RUN_NOWAIT); /* c lives on this stack frame */
    assert_int_equal(c.calls_at_return, 1); /* fired before cancel returned */
    assert_int_equal(r->status, XACCT_ECANCELED);
    run_for(&f->loop, 300);
    assert_int_equal(r->calls, 1);
}

static void test_cancel_in_flight(void **state)
{
    fixture_t *f = *state;
    start_client(f, 0, 0);
    assert_int_equal(faults(f, "{\"service\": \"sts\", \"latency_ms\": 2000}"), 200);
    result_t r = {0};
    xacct_aws_call_t *call = NULL;
    sts_call(f, GET_CALLER_IDENTITY, NULL, &r, &call);
    assert_non_null(call);
    cancel_after(f, call, &r, 200);
    assert_int_equal(xacct_aws_in_flight(f->aws), 0);
}

static void test_cancel_during_backoff(void **state)
{
    fixture_t *f = *state;
    /* One throttled answer, then a long backoff ceiling: the cancel lands
     * while the retry timer is pending (or, rarely, during the retry). */
    start_client(f, 5, 5000);
    assert_int_equal(faults(f, "{\"service\": \"sts\", \"throttle_rate\": 1.0}"), 200);
    result_t r = {0};
    xacct_aws_call_t *call = NULL;
    sts_call(f, GET_CALLER_IDENTITY, NULL, &r, &call);
    cancel_after(f, call, &r, 500);
    assert_true(fake_count_records(&f->loop, f->http, "fault", "fault", "throttle") >= 1);
}

static void test_free_cancels(void **state)
{
    fixture_t *f = *state;
    start_client(f, 0, 0);
    assert_int_equal(faults(f, "{\"service\": \"sts\", \"latency_ms\": 2000}"), 200);
    result_t r1 = {0}, r2 = {0};
    sts_call(f, GET_CALLER_IDENTITY, NULL, &r1, NULL);
    sts_call(f, GET_CALLER_IDENTITY, NULL, &r2, NULL);
    run_for(&f->loop, 100);
    xacct_aws_free(f->aws);
    f->aws = NULL;
    assert_int_equal(r1.calls, 1);
    assert_int_equal(r2.calls, 1);
    assert_int_equal(r1.status, XACCT_ECANCELED);
    assert_int_equal(r2.status, XACCT_ECANCELED);
    run_for(&f->loop, 200);
    assert_int_equal(r1.calls, 1);
    assert_int_equal(r2.calls, 1);
}

/* --------------------------------------------------------------- guard */

typedef struct guarded {
    result_t r;
    int asked; /* times the guard was asked */
    int allow; /* attempts it lets through */
} guarded_t;

static int guard(void *arg)
{
    guarded_t *g = xacct_container_of((result_t *)arg, guarded_t, r);
    return g->asked++ < g->allow ? 0 : XACCT_ETIMEOUT;
}

/* A GetCallerIdentity whose guard lets g->allow attempts through, run to
 * its end; returns how many reached STS. */
static int guarded_call(fixture_t *f, guarded_t *g)
{
    xacct_aws_request_t req = {
        .service = "sts",
        .method = "POST",
        .path = "/",
        .headers = FORM,
        .nheaders = 1,
        .body = GET_CALLER_IDENTITY,
        .body_len = strlen(GET_CALLER_IDENTITY),
        .guard = guard,
    };
    assert_int_equal(xacct_aws_call(f->aws, &req, on_done, &g->r, NULL), 0);
    assert_false(g->r.done);
    finish(f, &g->r);
    return fake_count_records(&f->loop, f->http, "request", "action", "sts:GetCallerIdentity");
}

static void test_guard_withholds_the_request(void **state)
{
    fixture_t *f = *state;
    start_client(f, 3, 0);
    guarded_t g = {0};
    assert_int_equal(guarded_call(f, &g), 0);
    assert_int_equal(g.r.status, XACCT_ETIMEOUT); /* the guard's */
    assert_string_equal(g.r.detail, "withheld by the caller");
    assert_int_equal(g.asked, 1);
}

static void test_guard_asked_before_each_retry(void **state)
{
    fixture_t *f = *state;
    start_client(f, 3, 0);
    assert_int_equal(faults(f, "{\"service\": \"sts\", \"error_rate\": 1.0}"), 200);
    guarded_t g = {.allow = 1};
    assert_int_equal(guarded_call(f, &g), 1); /* the retry was not sent */
    assert_int_equal(g.r.status, XACCT_ETIMEOUT);
    assert_int_equal(g.asked, 2);
}

static void test_guard_lets_every_attempt_through(void **state)
{
    fixture_t *f = *state;
    start_client(f, 3, 0);
    assert_int_equal(faults(f, "{\"service\": \"sts\", \"error_rate\": 1.0, \"count\": 1}"), 200);
    guarded_t g = {.allow = 3};
    assert_int_equal(guarded_call(f, &g), 2);
    if (g.r.status != 0)
        fail_msg("%s %s", xacct_errname(g.r.status), g.r.detail);
    assert_int_equal(g.asked, 2);
}

/* ------------------------------------------------------- bad requests */

static void test_rejected_synchronously(void **state)
{
    fixture_t *f = *state;
    start_client(f, 0, 0);
    result_t r = {0};
    xacct_aws_request_t req = {.service = "sts", .method = "POST", .path = "no-slash"};
    assert_int_equal(xacct_aws_call(f->aws, &req, on_done, &r, NULL), XACCT_EINVAL);
    req.path = "/";
    req.max_attempts = 1000;
    assert_int_equal(xacct_aws_call(f->aws, &req, on_done, &r, NULL), XACCT_EINVAL);
    tenv_set(&f->env, "AWS_ENDPOINT_URL_SNS", "ftp://nope");
    xacct_aws_request_t sns = {.service = "sns", .method = "POST"};
    assert_int_equal(xacct_aws_call(f->aws, &sns, on_done, &r, NULL), XACCT_ECONFIG);
    run_for(&f->loop, 50);
    assert_int_equal(r.calls, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_signed_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_waits_for_instance_credentials, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expired_keys_refreshed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_long_term_keys_not_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_credentials_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_secret, setup, teardown),
        cmocka_unit_test_setup_teardown(test_access_denied, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unsigned_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_s3_path_style, setup, teardown),
        cmocka_unit_test_setup_teardown(test_s3_put_to_object_lock_bucket, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clock_skew_corrected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clock_skew_concurrent_calls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clock_skew_corrected_s3, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retries_5xx_then_succeeds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retries_throttling_then_succeeds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_throttling_outlasts_attempts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqs_throttling_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqs_request_throttled_is_not_access_denied, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sqs_kms_throttled_outlasts_attempts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_5xx_outlasts_attempts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_network_error_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_failure_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_during_backoff, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_cancels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_guard_withholds_the_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_guard_asked_before_each_retry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_guard_lets_every_attempt_through, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rejected_synchronously, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
