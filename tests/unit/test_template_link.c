/* SPDX-License-Identifier: MIT */
/* Presigned template URLs (template_link.h, xacct_s3_presign_get): how long
 * they live, what they carry, and how the console links carry them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "xacct/config.h"
#include "xacct/creds.h"
#include "xacct/ctx.h"
#include "xacct/launch_url.h"
#include "xacct/s3.h"
#include "xacct/sigv4.h"
#include "xacct/template_link.h"

#define AKID "AKIAIOSFODNN7EXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define TOKEN "FQoGZXIvYXdzE+session/token=="
#define NOW ((time_t)1369353600) /* 20130524T000000Z */
#define KEY "templates/123456789012/0a1b2c3d.json"
#define STACK                                                                                      \
    "arn:aws:cloudformation:eu-west-1:123456789012:stack/xacct-onboarding/"                       \
    "5b6e1f50-0000-11ee-8a4c-0a1b2c3d4e5f"

/* No endpoint overrides: the real S3 endpoint of the region. */
static const char *no_env(const char *name, void *arg)
{
    (void)name;
    (void)arg;
    return NULL;
}

static void test_expires(void **state)
{
    (void)state;
    static const struct {
        long life;
        int64_t creds_ms;
        long want;
    } cases[] = {
        {604800, 0, 604800},                        /* long-term keys: the whole week */
        {10 * 86400, 0, 604800},                    /* never past SigV4's week */
        {3600, 0, 3600},                            /* a short onboarding */
        {604800, (NOW + 5400) * 1000LL, 5400},      /* a session: until it ends */
        {604800, (NOW + 5400) * 1000LL + 999, 5400}, /* rounded down */
        {600, (NOW + 5400) * 1000LL, 600},          /* the onboarding ends first */
        {604800, NOW * 1000LL, 0},                  /* the session ends now */
        {604800, (NOW - 10) * 1000LL, 0},           /* already over */
        {0, 0, 0},
        {-5, 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(xacct_template_link_expires(cases[i].life, cases[i].creds_ms, NOW),
                         cases[i].want);
}

static void test_life(void **state)
{
    (void)state;
    assert_int_equal(xacct_template_link_life(0, NOW - 100, NOW), 604800); /* never expires */
    assert_int_equal(xacct_template_link_life(86400, NOW, NOW), 86400);
    assert_int_equal(xacct_template_link_life(86400, NOW - 3600, NOW), 82800);
    assert_int_equal(xacct_template_link_life(86400, NOW - 86400, NOW), 0);
    assert_int_equal(xacct_template_link_life(86400, NOW - 90000, NOW), 0);
    assert_int_equal(xacct_template_link_life(30 * 86400, NOW - 86400, NOW), 604800);
    assert_int_equal(xacct_template_link_life(3600, 0, NOW), 3600); /* unknown start: now */

    /* onboard.pending_ttl is the life; 0 means onboardings never expire. */
    xacct_config_t cfg = {0};
    cfg.onboard_pending_ttl = 3600;
    assert_int_equal(xacct_template_link_pending_ttl(&cfg), 3600);
    cfg.onboard_pending_ttl = 0;
    assert_int_equal(xacct_template_link_pending_ttl(&cfg), 0);
    assert_int_equal(xacct_template_link_pending_ttl(NULL), 0);
}

/* The value of query parameter name in url (decoded), or NULL; caller frees. */
static char *param(const char *url, const char *name)
{
    const char *q = strchr(url, '?');
    size_t n = strlen(name);
    for (const char *p = q; p != NULL; p = strchr(p + 1, '&')) {
        if (strncmp(p + 1, name, n) == 0 && p[1 + n] == '=') {
            const char *v = p + 2 + n;
            int len = 0;
            char *dec = curl_easy_unescape(NULL, v, (int)strcspn(v, "&"), &len);
            char *out = strdup(dec);
            curl_free(dec);
            return out;
        }
    }
    return NULL;
}

static void assert_param(const char *url, const char *name, const char *want)
{
    char *v = param(url, name);
    assert_non_null(v);
    assert_string_equal(v, want);
    free(v);
}

static void test_presign_get(void **state)
{
    (void)state;
    xacct_sigv4_credentials_t creds = {AKID, SECRET, NULL, NULL};
    xacct_s3_presign_t p = {
        .getenv = no_env,
        .region = "eu-west-1",
        .bucket = "xacct-templates",
        .key = KEY,
        .creds = &creds,
        .now = NOW,
        .expires = 604800,
    };
    char *url = NULL;
    assert_int_equal(xacct_s3_presign_get(&p, &url), 0);
    const char *base = "https://s3.eu-west-1.amazonaws.com/xacct-templates/" KEY "?";
    assert_int_equal(strncmp(url, base, strlen(base)), 0);
    assert_param(url, "X-Amz-Algorithm", "AWS4-HMAC-SHA256");
    assert_param(url, "X-Amz-Credential", AKID "/20130524/eu-west-1/s3/aws4_request");
    assert_param(url, "X-Amz-Date", "20130524T000000Z");
    assert_param(url, "X-Amz-Expires", "604800");
    assert_param(url, "X-Amz-SignedHeaders", "host");
    assert_null(param(url, "X-Amz-Security-Token"));
    assert_null(strstr(url, SECRET));

    /* It is the signer's GET of that object URL, nothing else. */
    xacct_sigv4_request_t req = {
        .method = "GET",
        .url = "https://s3.eu-west-1.amazonaws.com/xacct-templates/" KEY,
        .region = "eu-west-1",
        .service = "s3",
        .now = NOW,
        .s3 = true,
    };
    char *direct = NULL;
    assert_int_equal(xacct_sigv4_presign(NULL, &req, &creds, 604800, &direct), 0);
    assert_string_equal(url, direct);
    free(direct);
    xacct_free_secret(url);

    /* Temporary credentials: the session token rides in the query. */
    xacct_sigv4_credentials_t session = {AKID, SECRET, TOKEN, NULL};
    p.creds = &session;
    p.expires = 900;
    assert_int_equal(xacct_s3_presign_get(&p, &url), 0);
    assert_param(url, "X-Amz-Security-Token", TOKEN);
    assert_param(url, "X-Amz-Expires", "900");
    xacct_free_secret(url);

    /* SigV4's bounds, and what is not an object. */
    p.expires = 604801;
    assert_int_equal(xacct_s3_presign_get(&p, &url), XACCT_EINVAL);
    assert_null(url);
    p.expires = 0;
    assert_int_equal(xacct_s3_presign_get(&p, &url), XACCT_EINVAL);
    p.expires = 60;
    p.key = "";
    assert_int_equal(xacct_s3_presign_get(&p, &url), XACCT_EINVAL);
    p.key = KEY;
    p.creds = NULL;
    assert_int_equal(xacct_s3_presign_get(&p, &url), XACCT_EINVAL);
    assert_null(url);
}

/* The console link carries the presigned URL percent-encoded exactly once:
 * one decoding gives it back byte for byte, with its own escapes (%2F in the
 * credential, the token's +, / and =) intact. */
static void check_carried(const char *link, const char *marker, const char *presigned)
{
    const char *at = strstr(link, marker);
    assert_non_null(at);
    const char *enc = at + strlen(marker);
    size_t n = strcspn(enc, "&");
    char *raw = strndup(enc, n);
    assert_null(strpbrk(raw, "/:?&#=+")); /* no separator the console could split on */
    assert_non_null(strstr(raw, "X-Amz-Signature%3D"));
    assert_non_null(strstr(raw, "X-Amz-Credential%3D" AKID "%252F20130524%252F"));
    assert_null(strstr(raw, "%25252F")); /* not encoded twice */
    int len = 0;
    char *dec = curl_easy_unescape(NULL, raw, (int)n, &len);
    assert_string_equal(dec, presigned);
    curl_free(dec);
    free(raw);
}

static void test_links_carry_presigned_url(void **state)
{
    (void)state;
    xacct_sigv4_credentials_t session = {AKID, SECRET, TOKEN, NULL};
    xacct_s3_presign_t p = {
        .getenv = no_env,
        .region = "us-east-1",
        .bucket = "xacct-templates",
        .key = KEY,
        .creds = &session,
        .now = NOW,
        .expires = 3600,
    };
    char *presigned = NULL, *launch = NULL, *update = NULL;
    assert_int_equal(xacct_s3_presign_get(&p, &presigned), 0);

    assert_int_equal(xacct_launch_url_build("eu-west-1", presigned, "xacct-onboarding", &launch),
                     0);
    const char *prefix = "https://eu-west-1.console.aws.amazon.com/cloudformation/home"
                         "?region=eu-west-1#/stacks/quickcreate?templateURL=";
    assert_int_equal(strncmp(launch, prefix, strlen(prefix)), 0);
    check_carried(launch, "templateURL=", presigned);
    /* The stack name still follows the whole template URL. */
    const char *tail = "&stackName=xacct-onboarding";
    assert_string_equal(launch + strlen(launch) - strlen(tail), tail);

    assert_int_equal(xacct_launch_update_url(STACK, presigned, &update), 0);
    check_carried(update, "&templateURL=", presigned);
    assert_null(strchr(strstr(update, "&templateURL=") + 1, '&'));

    xacct_free_secret(presigned);
    xacct_free_secret(launch);
    xacct_free_secret(update);
}

static const char *pairs_getenv(const char *name, void *arg)
{
    const char *const *pairs = arg;
    for (size_t i = 0; pairs[i] != NULL; i += 2)
        if (strcmp(pairs[i], name) == 0)
            return pairs[i + 1];
    return NULL;
}

/* Through a context: the credentials in use sign, and what cannot be signed
 * is refused rather than handed out unsigned. */
static void test_presign_with_context(void **state)
{
    (void)state;
    xacct_config_t cfg = {0};
    cfg.cfn_template_bucket = "xacct-templates";
    cfg.aws_region = "us-east-1";
    xacct_ctx_t ctx = {0};
    ctx.cfg = &cfg;
    char *url = NULL;
    char err[256];

    /* No credentials at hand. */
    assert_int_equal(xacct_template_link_presign(&ctx, KEY, 3600, &url, err, sizeof(err)),
                     XACCT_ENOCREDS);
    assert_null(url);
    assert_non_null(strstr(err, "credentials"));

    uv_loop_t loop;
    uv_loop_init(&loop);
    const char *const env[] = {"AWS_ACCESS_KEY_ID", AKID, "AWS_SECRET_ACCESS_KEY", SECRET,
                               NULL};
    xacct_creds_options_t opts = {.getenv = pairs_getenv, .getenv_arg = (void *)env};
    assert_int_equal(xacct_creds_new(&loop, NULL, &opts, &ctx.creds, NULL, 0), 0);

    assert_int_equal(xacct_template_link_presign(&ctx, KEY, 3600, &url, err, sizeof(err)), 0);
    assert_non_null(strstr(url, "/xacct-templates/" KEY "?"));
    assert_param(url, "X-Amz-Expires", "3600");
    char *cred = param(url, "X-Amz-Credential");
    assert_int_equal(strncmp(cred, AKID "/", strlen(AKID) + 1), 0);
    assert_non_null(strstr(cred, "/us-east-1/s3/aws4_request"));
    free(cred);
    xacct_free_secret(url);
    url = NULL;

    /* Long-term keys and a life past SigV4's week: the week. */
    assert_int_equal(xacct_template_link_presign(&ctx, KEY, 30 * 86400, &url, err, sizeof(err)),
                     0);
    assert_param(url, "X-Amz-Expires", "604800");
    xacct_free_secret(url);
    url = NULL;

    /* An onboarding that is over gets no link; nor does a missing bucket. */
    assert_int_equal(xacct_template_link_presign(&ctx, KEY, 0, &url, err, sizeof(err)),
                     XACCT_EINVAL);
    assert_null(url);
    cfg.cfn_template_bucket = "";
    assert_int_equal(xacct_template_link_presign(&ctx, KEY, 3600, &url, err, sizeof(err)),
                     XACCT_EINVAL);
    assert_null(url);

    xacct_creds_free(ctx.creds);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expires),
        cmocka_unit_test(test_life),
        cmocka_unit_test(test_presign_get),
        cmocka_unit_test(test_links_carry_presigned_url),
        cmocka_unit_test(test_presign_with_context),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
