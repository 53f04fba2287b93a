/* SPDX-License-Identifier: MIT */
/*
 * The credentials chain against fakeaws: IMDSv2 (token PUT, role, document),
 * container credentials with the right and a wrong token (inline and from a
 * file), web identity through STS, refresh before expiry (short lifetimes set
 * through the control API, a second issuance recorded while the first keys
 * are still valid), valid keys kept while refreshes fail, waiters released
 * together when credentials arrive, and XACCT_ENOCREDS when the chain is
 * empty or the metadata service is absent; AWS_METADATA_SERVICE_NUM_ATTEMPTS
 * and AWS_METADATA_SERVICE_TIMEOUT applied to the metadata requests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "aws_test_util.h"
#include "xacct/creds.h"
#include "creds_assert.h"

#define MAX_PROVIDERS 4

typedef struct fixture {
    uv_loop_t loop;
    xacct_http_t *http;
    tenv_t env;
    /* Providers still open: a failed assertion leaves the test early, and
     * teardown must close them before the HTTP client they borrow. */
    xacct_creds_t *open[MAX_PROVIDERS];
} fixture_t;

static void provider_free(fixture_t *f, xacct_creds_t *c)
{
    for (int i = 0; i < MAX_PROVIDERS; i++)
        if (f->open[i] == c)
            f->open[i] = NULL;
    xacct_creds_free(c);
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    /* Every test starts from fakeaws defaults. */
    aws_test_start(&f->loop, &f->http, true);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    for (int i = 0; i < MAX_PROVIDERS; i++)
        provider_free(f, f->open[i]);
    aws_test_stop(&f->loop, f->http, &f->env);
    free(f);
    return 0;
}

static xacct_creds_t *provider(fixture_t *f, const xacct_creds_options_t *extra)
{
    xacct_creds_options_t o = {0};
    if (extra != NULL)
        o = *extra;
    o.getenv = tenv_get;
    o.getenv_arg = &f->env;
    if (o.fetch_timeout_ms == 0)
        o.fetch_timeout_ms = 3000;
    if (o.retry_base_ms == 0)
        o.retry_base_ms = 50;
    if (o.retry_max_ms == 0)
        o.retry_max_ms = 500;
    xacct_creds_t *c = NULL;
    char err[256] = "";
    int rc = xacct_creds_new(&f->loop, f->http, &o, &c, err, sizeof(err));
    if (rc != 0)
        fail_msg("xacct_creds_new: %s (%s)", xacct_errname(rc), err);
    for (int i = 0; i < MAX_PROVIDERS; i++)
        if (f->open[i] == NULL) {
            f->open[i] = c;
            return c;
        }
    fail_msg("more than %d providers in one test", MAX_PROVIDERS);
    return c;
}

static void wait_for(fixture_t *f, xacct_creds_t *c, creds_wait_t *r)
{
    creds_wait_for(&f->loop, c, r, 15000);
}

static void imds_env(fixture_t *f)
{
    tenv_set(&f->env, "AWS_EC2_METADATA_SERVICE_ENDPOINT", must_env("FAKEAWS_HTTP_URL"));
}

/* ------------------------------------------------------------------ IMDS */

static void test_imds_v2(void **state)
{
    fixture_t *f = *state;
    imds_env(f);
    xacct_creds_t *c = provider(f, NULL);
    assert_int_equal(xacct_creds_source(c), XACCT_CREDS_SOURCE_IMDS);
    creds_wait_t r = {0};
    wait_for(f, c, &r);
    assert_int_equal(r.status, 0);
    assert_true(r.has_token);
    assert_true(strlen(r.akid) >= 16);

    const xacct_sigv4_credentials_t *cur = xacct_creds_current(c);
    assert_non_null(cur);
    assert_string_equal(cur->access_key_id, r.akid);
    assert_secret_digest(cur);
    int64_t exp = xacct_creds_expiry(c);
    int64_t now_ms = (int64_t)time(NULL) * 1000;
    assert_true(exp > now_ms + 3000 * 1000LL);
    assert_true(exp <= now_ms + 3601 * 1000LL);

    /* The IMDSv2 session token was requested with a PUT and the TTL header
     * (fakeaws answers 400 without it), and exactly one issuance happened. */
    assert_int_equal(fake_count_records(&f->loop, f->http, "imds_token", NULL, NULL), 1);
    assert_int_equal(fake_count_records(&f->loop, f->http, "credentials_issued", "access_key_id",
                                        r.akid), 1);
    assert_int_equal(fake_count_records(&f->loop, f->http, "credentials_issued", "source", "imds"),
                     1);
    assert_int_equal(xacct_creds_fetch_count(c), 1);

    /* Cached: a second wait does not fetch again. */
    creds_wait_t again = {0};
    wait_for(f, c, &again);
    assert_int_equal(again.status, 0);
    assert_string_equal(again.akid, r.akid);
    assert_int_equal(xacct_creds_fetch_count(c), 1);
    provider_free(f, c);
}

/* AWS_METADATA_SERVICE_NUM_ATTEMPTS: a request that fails with a 5xx is
 * tried again within the same fetch, so the first wait already succeeds. */
static void test_imds_num_attempts(void **state)
{
    fixture_t *f = *state;
    imds_env(f);
    tenv_set(&f->env, "AWS_METADATA_SERVICE_NUM_ATTEMPTS", "3");
    assert_int_equal(fake_ctl(&f->loop, f->http, "POST", "/_fake/faults",
                              "{\"service\": \"imds\", \"error_rate\": 1.0, \"count\": 2}",
                              NULL),
                     200);
    xacct_creds_t *c = provider(f, NULL);
    creds_wait_t r = {0};
    wait_for(f, c, &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(xacct_creds_fetch_count(c), 1);
    provider_free(f, c);

    /* One attempt (the default): the same fault fails the first fetch. */
    tenv_set(&f->env, "AWS_METADATA_SERVICE_NUM_ATTEMPTS", "");
    assert_int_equal(fake_ctl(&f->loop, f->http, "POST", "/_fake/faults",
                              "{\"service\": \"imds\", \"error_rate\": 1.0, \"count\": 1}",
                              NULL),
                     200);
    c = provider(f, NULL);
    creds_wait_t once = {0};
    wait_for(f, c, &once);
    assert_int_not_equal(once.status, 0);
    provider_free(f, c);
}

/* AWS_METADATA_SERVICE_TIMEOUT bounds each metadata request, over the
 * provider's generic fetch timeout (3 s here). */
static void test_imds_timeout(void **state)
{
    fixture_t *f = *state;
    imds_env(f);
    tenv_set(&f->env, "AWS_METADATA_SERVICE_TIMEOUT", "1");
    assert_int_equal(fake_ctl(&f->loop, f->http, "POST", "/_fake/faults",
                              "{\"service\": \"imds\", \"latency_ms\": 1600}", NULL),
                     200);
    xacct_creds_t *c = provider(f, NULL);
    creds_wait_t r = {0};
    wait_for(f, c, &r);
    assert_int_not_equal(r.status, 0);
    provider_free(f, c);
}

/* ------------------------------------------------------------- container */

static void set_container_token(fixture_t *f, const char *token)
{
    char body[256];
    snprintf(body, sizeof(body), "{\"container_token\": \"%s\"}", token);
    assert_int_equal(fake_ctl(&f->loop, f->http, "POST", "/_fake/credentials/config", body, NULL),
                     200);
}

static void container_env(fixture_t *f)
{
    char url[512];
    snprintf(url, sizeof(url), "%s/_creds/container", must_env("FAKEAWS_HTTP_URL"));
    tenv_set(&f->env, "AWS_CONTAINER_CREDENTIALS_FULL_URI", url);
    imds_env(f); /* present but later in the chain: must not be used */
}

static void test_container_token(void **state)
{
    fixture_t *f = *state;
    set_container_token(f, "task-token-1");
    container_env(f);
    tenv_set(&f->env, "AWS_CONTAINER_AUTHORIZATION_TOKEN", "task-token-1");
    xacct_creds_t *c = provider(f, NULL);
    assert_int_equal(xacct_creds_source(c), XACCT_CREDS_SOURCE_CONTAINER);
    creds_wait_t r = {0};
    wait_for(f, c, &r);
    assert_int_equal(r.status, 0);
    assert_true(r.has_token);
    assert_int_equal(fake_count_records(&f->loop, f->http, "credentials_issued", "access_key_id",
                                        r.akid), 1);
    assert_int_equal(fake_count_records(&f->loop, f->http, "credentials_issued", "source",
                                        "container"), 1);
    assert_int_equal(fake_count_records(&f->loop, f->http, "imds_token", NULL, NULL), 0);
    provider_free(f, c);
}

static void test_container_token_file(void **state)
{
    fixture_t *f = *state;
    set_container_token(f, "eks-pod-token");
    char path[512];
    snprintf(path, sizeof(path), "%s/container-token", must_env("XACCT_TEST_TMPDIR"));
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("eks-pod-token\n", fp);
    fclose(fp);
    container_env(f);
    tenv_set(&f->env, "AWS_CONTAINER_AUTHORIZATION_TOKEN", "stale-inline-token");
    tenv_set(&f->env, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", path);
    xacct_creds_t *c = provider(f, NULL);
    creds_wait_t r = {0};
    wait_for(f, c, &r);
    assert_int_equal(r.status, 0);
    provider_free(f, c);
    unlink(path);
}

static void test_container_wrong_token(void **state)
{
    fixture_t *f = *state;
    set_container_token(f, "the-right-one");
    container_env(f);
    tenv_set(&f->env, "AWS_CONTAINER_AUTHORIZATION_TOKEN", "a-wrong-one");
    xacct_creds_t *c = provider(f, NULL);
    creds_wait_t r = {0};
    wait_for(f, c, &r);
    assert_int_equal(r.status, XACCT_EACCESSDENIED);
    assert_non_null(strstr(r.detail, "401"));
    assert_null(strstr(r.detail, "a-wrong-one")); /* no secret in the detail */
    assert_null(xacct_creds_current(c));
    assert_int_equal(fake_count_records(&f->loop, f->http, "credentials_issued", NULL, NULL), 0);

    /* Without any token at all: the same refusal. */
    provider_free(f, c);
    tenv_clear(&f->env);
    container_env(f);
    c = provider(f, NULL);
    creds_wait_t r2 = {0};
    wait_for(f, c, &r2);
    assert_int_equal(r2.status, XACCT_EACCESSDENIED);
    provider_free(f, c);
}

/* ----------------------------------------------------------- web identity */

static void make_webid_role(fixture_t *f, const char *name, const char *token, char *arn,
                            size_t arnlen)
{
    char body[1024];
    snprintf(body, sizeof(body),
             "{\"role_name\": \"%s\", \"trust_policy\": {\"Version\": \"2012-10-17\", "
             "\"Statement\": [{\"Effect\": \"Allow\", \"Principal\": {\"Federated\": "
             "\"arn:aws:iam::111111111111:oidc-provider/oidc.example.com\"}, "
             "\"Action\": \"sts:AssumeRoleWithWebIdentity\"}]}}",
             name);
    char *resp = NULL;
    long st = fake_ctl(&f->loop, f->http, "POST", "/_fake/iam/roles", body, &resp);
    if (st != 201)
        fail_msg("create role: %ld %s", st, resp ? resp : "");
    json_error_t jerr;
    json_t *j = json_loads(resp, 0, &jerr);
    free(resp);
    assert_non_null(j);
    const char *a = json_string_value(json_object_get(j, "arn"));
    assert_non_null(a);
    snprintf(arn, arnlen, "%s", a);
    json_decref(j);
    snprintf(body, sizeof(body), "{\"token\": \"%s\", \"role_arn\": \"%s\"}", token, arn);
    assert_int_equal(fake_ctl(&f->loop, f->http, "POST", "/_fake/sts/web-identity-tokens", body,
                              NULL), 200);
}

static void webid_env(fixture_t *f, const char *arn, const char *token_in_file)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/web-identity-token", must_env("XACCT_TEST_TMPDIR"));
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(token_in_file, fp);
    fclose(fp);
    tenv_set(&f->env, "AWS_WEB_IDENTITY_TOKEN_FILE", path);
    tenv_set(&f->env, "AWS_ROLE_ARN", arn);
    tenv_set(&f->env, "AWS_ROLE_SESSION_NAME", "xacct-integration");
    tenv_set(&f->env, "AWS_REGION", must_env("AWS_REGION"));
    tenv_set(&f->env, "AWS_ENDPOINT_URL_STS", must_env("FAKEAWS_URL"));
    container_env(f); /* later in the chain */
}

static void test_web_identity(void **state)
{
    fixture_t *f = *state;
    char arn[256];
    make_webid_role(f, "xacct-webid", "oidc-token-abc123", arn, sizeof(arn));
    webid_env(f, arn, "oidc-token-abc123\n");
    xacct_creds_t *c = provider(f, NULL);
    assert_int_equal(xacct_creds_source(c), XACCT_CREDS_SOURCE_WEB_IDENTITY);
    creds_wait_t r = {0};
    wait_for(f, c, &r);
    if (r.status != 0)
        fail_msg("web identity: %s %s", xacct_errname(r.status), r.detail);
    assert_true(r.has_token);
    assert_int_equal(fake_count_records(&f->loop, f->http, "sts.web_identity", "outcome", "Allow"),
                     1);
    assert_int_equal(fake_count_records(&f->loop, f->http, "sts.web_identity", "session_name",
                                        "xacct-integration"), 1);
    assert_int_equal(fake_count_records(&f->loop, f->http, "sts.web_identity", "access_key_id",
                                        r.akid), 1);
    assert_true(xacct_creds_expiry(c) > (int64_t)time(NULL) * 1000);
    provider_free(f, c);
}

static void test_web_identity_rejected(void **state)
{
    fixture_t *f = *state;
    char arn[256];
    make_webid_role(f, "xacct-webid-2", "registered-token", arn, sizeof(arn));
    webid_env(f, arn, "unregistered-token");
    xacct_creds_t *c = provider(f, NULL);
    creds_wait_t r = {0};
    wait_for(f, c, &r);
    assert_int_equal(r.status, XACCT_EAWS);
    assert_non_null(strstr(r.detail, "InvalidIdentityToken"));
    assert_null(strstr(r.detail, "unregistered-token"));
    provider_free(f, c);
}

/* ------------------------------------------------------------- refresh */

typedef struct watch {
    xacct_creds_t *c;
    uv_timer_t timer;
    uint64_t seen_fetches;
    bool gap;          /* current() was NULL at some tick */
    bool refreshed;    /* fetch count reached 2 */
    int64_t first_expiry;
    int64_t refreshed_at;
} watch_t;

static void watch_tick(uv_timer_t *t)
{
    watch_t *w = xacct_container_of(t, watch_t, timer);
    if (xacct_creds_current(w->c) == NULL)
        w->gap = true;
    if (xacct_creds_fetch_count(w->c) >= 2 && !w->refreshed) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        w->refreshed_at = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        w->refreshed = true;
    }
}

/* The emulator's credential endpoints configured with config (JSON), and an
 * instance-metadata provider's first wait on them, into *r. */
static xacct_creds_t *imds_provider_with(fixture_t *f, const char *config,
                                         const xacct_creds_options_t *extra, creds_wait_t *r)
{
    assert_int_equal(fake_ctl(&f->loop, f->http, "POST", "/_fake/credentials/config", config,
                              NULL),
                     200);
    imds_env(f);
    xacct_creds_t *c = provider(f, extra);
    wait_for(f, c, r);
    return c;
}

static xacct_creds_t *imds_provider(fixture_t *f, const char *config, creds_wait_t *r)
{
    return imds_provider_with(f, config, NULL, r);
}

/* No jitter: every backoff delay is its ceiling (the random source fails). */
static int no_jitter(void *arg, uint64_t *out)
{
    (void)arg;
    (void)out;
    return -1;
}

static void test_refresh_before_expiry(void **state)
{
    fixture_t *f = *state;
    creds_wait_t r = {0};
    xacct_creds_t *c = imds_provider(f, "{\"expiry_seconds\": 5}", &r);
    assert_int_equal(r.status, 0);

    watch_t w = {.c = c, .first_expiry = xacct_creds_expiry(c)};
    uv_timer_init(&f->loop, &w.timer);
    uv_timer_start(&w.timer, watch_tick, 20, 20);
    bool refreshed = run_until(&f->loop, &w.refreshed, 10000);
    uv_close((uv_handle_t *)&w.timer, NULL);
    uv_run(&f->loop, UV_RUN_NOWAIT); /* w lives on this stack frame */
    assert_true(refreshed);

    /* Refreshed ahead of the old expiry, and never without valid keys. */
    assert_true(w.refreshed_at < w.first_expiry);
    assert_false(w.gap);
    assert_true(xacct_creds_expiry(c) > w.first_expiry);
    const xacct_sigv4_credentials_t *cur = xacct_creds_current(c);
    assert_non_null(cur);
    assert_string_not_equal(cur->access_key_id, r.akid);
    assert_secret_digest(cur); /* the new secret's */
    assert_true(fake_count_records(&f->loop, f->http, "credentials_issued", "source", "imds") >= 2);
    provider_free(f, c);
}

/* The IMDSv2 session token is asked for once and reused by the refreshes
 * (its TTL is six hours); a token the service no longer accepts (401) is
 * replaced within the same fetch. */
static void test_imds_token_reused(void **state)
{
    fixture_t *f = *state;
    creds_wait_t r = {0};
    xacct_creds_t *c = imds_provider(f, "{\"expiry_seconds\": 4}", &r);
    assert_int_equal(r.status, 0);
    watch_t w = {.c = c};
    uv_timer_init(&f->loop, &w.timer);
    uv_timer_start(&w.timer, watch_tick, 20, 20);
    bool refreshed = run_until(&f->loop, &w.refreshed, 10000);
    long issued = fake_count_records(&f->loop, f->http, "credentials_issued", "source", "imds");
    long tokens = fake_count_records(&f->loop, f->http, "imds_token", NULL, NULL);

    /* The service forgets its tokens: the next refresh gets a new one. */
    long revoked = fake_ctl(&f->loop, f->http, "POST", "/_fake/credentials/config",
                            "{\"revoke_imds_tokens\": true}", NULL);
    uint64_t before = xacct_creds_fetch_count(c);
    for (int i = 0; i < 500 && xacct_creds_fetch_count(c) == before; i++)
        run_for(&f->loop, 20);
    uv_close((uv_handle_t *)&w.timer, NULL);
    uv_run(&f->loop, UV_RUN_NOWAIT); /* w lives on this stack frame */
    assert_true(refreshed);
    assert_true(issued >= 2);
    assert_int_equal(tokens, 1);
    assert_int_equal(revoked, 200);
    assert_true(xacct_creds_fetch_count(c) > before);
    assert_false(w.gap);
    assert_int_equal(fake_count_records(&f->loop, f->http, "imds_token", NULL, NULL), 2);
    provider_free(f, c);
}

/* An endpoint handing out keys that have already expired: a failure, retried
 * with backoff, not a refresh scheduled at once again and again. */
static void test_stale_keys_are_refused(void **state)
{
    fixture_t *f = *state;
    creds_wait_t r = {0};
    /* Delays of 50, 100, 200, 400, 500 ms...: five more fetches at most in
     * 1.5 s (with jitter they are shorter and their number varies). */
    xacct_creds_options_t steady = {.rand = no_jitter};
    xacct_creds_t *c = imds_provider_with(f, "{\"stale_seconds\": 60}", &steady, &r);
    assert_int_not_equal(r.status, 0);
    assert_non_null(strstr(r.detail, "already expired"));
    assert_null(xacct_creds_current(c));
    run_for(&f->loop, 1500);
    long issued = fake_count_records(&f->loop, f->http, "credentials_issued", "source", "imds");
    assert_true(issued >= 2);
    assert_true(issued <= 6); /* backoff: a handful, never a tight loop */
    assert_null(xacct_creds_current(c));
    provider_free(f, c);
    assert_int_equal(fake_ctl(&f->loop, f->http, "POST", "/_fake/credentials/config",
                              "{\"stale_seconds\": 0}", NULL), 200);
}

static void test_refresh_failure_keeps_valid_keys(void **state)
{
    fixture_t *f = *state;
    creds_wait_t r = {0};
    xacct_creds_t *c = imds_provider(f, "{\"expiry_seconds\": 16}", &r);
    assert_int_equal(r.status, 0);
    int64_t first_expiry = xacct_creds_expiry(c);

    /* Every metadata request fails from now on. */
    assert_int_equal(fake_ctl(&f->loop, f->http, "POST", "/_fake/faults",
                              "{\"service\": \"imds\", \"error_rate\": 1.0}", NULL), 200);
    /* Past the refresh point (half of 16 s) the refresh keeps failing, yet
     * the old keys remain in use while they are valid. */
    run_for(&f->loop, 9000);
    assert_int_equal(xacct_creds_fetch_count(c), 1);
    const xacct_sigv4_credentials_t *cur = xacct_creds_current(c);
    assert_non_null(cur);
    assert_string_equal(cur->access_key_id, r.akid);
    assert_int_equal(xacct_creds_expiry(c), first_expiry);

    /* The service recovers: a retry succeeds before the keys run out. */
    assert_int_equal(fake_ctl(&f->loop, f->http, "DELETE", "/_fake/faults", NULL, NULL), 200);
    watch_t w = {.c = c};
    uv_timer_init(&f->loop, &w.timer);
    uv_timer_start(&w.timer, watch_tick, 20, 20);
    bool refreshed = run_until(&f->loop, &w.refreshed, 6500);
    uv_close((uv_handle_t *)&w.timer, NULL);
    uv_run(&f->loop, UV_RUN_NOWAIT); /* w lives on this stack frame */
    assert_true(refreshed);
    assert_false(w.gap);
    assert_true(w.refreshed_at < first_expiry);
    provider_free(f, c);
}

/* --------------------------------------------------------------- waiters */

static void test_waiters_released_on_arrival(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(fake_ctl(&f->loop, f->http, "POST", "/_fake/faults",
                              "{\"service\": \"imds\", \"latency_ms\": 300}", NULL), 200);
    imds_env(f);
    xacct_creds_t *c = provider(f, NULL);
    assert_null(xacct_creds_current(c));
    creds_wait_t r[3] = {{0}};
    for (int i = 0; i < 3; i++)
        assert_int_equal(xacct_creds_wait(c, creds_wait_cb, &r[i], NULL), 0);
    run_for(&f->loop, 150);
    for (int i = 0; i < 3; i++)
        assert_false(r[i].done); /* still waiting, not failed */
    assert_true(run_until(&f->loop, &r[2].done, 10000));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(r[i].calls, 1);
        assert_int_equal(r[i].status, 0);
        assert_string_equal(r[i].akid, r[0].akid);
    }
    /* One fetch served them all. */
    assert_int_equal(fake_count_records(&f->loop, f->http, "credentials_issued", NULL, NULL), 1);
    assert_int_equal(fake_ctl(&f->loop, f->http, "DELETE", "/_fake/faults", NULL, NULL), 200);

    /* A waiter still queued when the provider is freed is cancelled once. */
    provider_free(f, c);
    c = provider(f, NULL);
    creds_wait_t late = {0};
    assert_int_equal(xacct_creds_wait(c, creds_wait_cb, &late, NULL), 0);
    provider_free(f, c);
    assert_int_equal(late.calls, 1);
    assert_int_equal(late.status, XACCT_ECANCELED);
    run_for(&f->loop, 100);
    assert_int_equal(late.calls, 1);
}

/* ------------------------------------------------------------ no creds */

static void test_nothing_configured(void **state)
{
    fixture_t *f = *state;
    tenv_set(&f->env, "AWS_EC2_METADATA_DISABLED", "true");
    tenv_set(&f->env, "AWS_EC2_METADATA_SERVICE_ENDPOINT", must_env("FAKEAWS_HTTP_URL"));
    xacct_creds_t *c = provider(f, NULL);
    assert_int_equal(xacct_creds_source(c), XACCT_CREDS_SOURCE_NONE);
    creds_wait_t r = {0};
    wait_for(f, c, &r);
    assert_int_equal(r.status, XACCT_ENOCREDS);
    assert_int_equal(fake_count_records(&f->loop, f->http, "imds_token", NULL, NULL), 0);
    provider_free(f, c);
}

static void test_no_metadata_service(void **state)
{
    fixture_t *f = *state;
    char url[64];
    closed_port_url(url, sizeof(url), "http");
    tenv_set(&f->env, "AWS_EC2_METADATA_SERVICE_ENDPOINT", url);
    xacct_creds_t *c = provider(f, NULL);
    creds_wait_t r = {0};
    wait_for(f, c, &r);
    assert_int_equal(r.status, XACCT_ENOCREDS);
    assert_non_null(strstr(r.detail, "instance metadata"));
    provider_free(f, c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_imds_v2, setup, teardown),
        cmocka_unit_test_setup_teardown(test_imds_num_attempts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_imds_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_container_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_container_token_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_container_wrong_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_web_identity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_web_identity_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refresh_before_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_imds_token_reused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_keys_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refresh_failure_keeps_valid_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_waiters_released_on_arrival, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nothing_configured, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_metadata_service, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
