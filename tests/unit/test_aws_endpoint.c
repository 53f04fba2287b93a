/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for endpoint resolution, from a table: the real AWS default,
 * China partitions, IAM's global endpoint, AWS_ENDPOINT_URL and the
 * per-service overrides (per-service wins), the opt-out variable, invalid
 * overrides, S3 path-style URLs and the region from the environment.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "xacct/endpoints.h"

typedef struct fake_env {
    const char *const *pairs; /* name, value, name, value, ..., NULL */
} fake_env_t;

static const char *fake_getenv(const char *name, void *arg)
{
    const fake_env_t *e = arg;
    for (size_t i = 0; e->pairs[i] != NULL; i += 2)
        if (strcmp(e->pairs[i], name) == 0)
            return e->pairs[i + 1];
    return NULL;
}

typedef struct row {
    const char *name;
    const char *const *env;
    const char *service;
    const char *region;
    int rc;
    const char *want;
} row_t;

static const char *const NO_ENV[] = {NULL};
static const char *const GLOBAL[] = {"AWS_ENDPOINT_URL", "https://127.0.0.1:4443/", NULL};
static const char *const PER_SERVICE[] = {
    "AWS_ENDPOINT_URL", "https://127.0.0.1:4443",
    "AWS_ENDPOINT_URL_SQS", "http://localhost:9324//",
    "AWS_ENDPOINT_URL_STS", "https://sts.internal.example/prefix/",
    NULL};
static const char *const EMPTY_OVERRIDE[] = {"AWS_ENDPOINT_URL_SNS", "", NULL};
static const char *const IGNORED[] = {
    "AWS_ENDPOINT_URL", "https://127.0.0.1:4443",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true", NULL};
static const char *const BAD_SCHEME[] = {"AWS_ENDPOINT_URL_S3", "ftp://x.example", NULL};
static const char *const BAD_QUERY[] = {"AWS_ENDPOINT_URL", "https://x.example/?a=b", NULL};
static const char *const NOT_URL[] = {"AWS_ENDPOINT_URL", "localhost:4566", NULL};
static const char *const DASHED[] = {"AWS_ENDPOINT_URL_RESOURCE_GROUPS", "https://rg.example",
                                     NULL};

static const row_t ROWS[] = {
    {"default sqs", NO_ENV, "sqs", "us-east-1", 0, "https://sqs.us-east-1.amazonaws.com"},
    {"default sts regional", NO_ENV, "sts", "eu-west-1", 0, "https://sts.eu-west-1.amazonaws.com"},
    {"default s3", NO_ENV, "s3", "ap-southeast-2", 0, "https://s3.ap-southeast-2.amazonaws.com"},
    {"default sns", NO_ENV, "sns", "us-west-2", 0, "https://sns.us-west-2.amazonaws.com"},
    {"china sts", NO_ENV, "sts", "cn-north-1", 0, "https://sts.cn-north-1.amazonaws.com.cn"},
    {"china sqs", NO_ENV, "sqs", "cn-northwest-1", 0,
     "https://sqs.cn-northwest-1.amazonaws.com.cn"},
    {"iam global", NO_ENV, "iam", "eu-central-1", 0, "https://iam.amazonaws.com"},
    {"iam china", NO_ENV, "iam", "cn-northwest-1", 0, "https://iam.cn-north-1.amazonaws.com.cn"},
    {"global override", GLOBAL, "sqs", "us-east-1", 0, "https://127.0.0.1:4443"},
    {"global override iam", GLOBAL, "iam", "us-east-1", 0, "https://127.0.0.1:4443"},
    {"per-service beats global", PER_SERVICE, "sqs", "us-east-1", 0, "http://localhost:9324"},
    {"per-service keeps path", PER_SERVICE, "sts", "us-east-1", 0,
     "https://sts.internal.example/prefix"},
    {"global for the others", PER_SERVICE, "sns", "us-east-1", 0, "https://127.0.0.1:4443"},
    {"empty override ignored", EMPTY_OVERRIDE, "sns", "us-east-1", 0,
     "https://sns.us-east-1.amazonaws.com"},
    {"overrides ignored", IGNORED, "sqs", "us-east-1", 0, "https://sqs.us-east-1.amazonaws.com"},
    {"bad scheme", BAD_SCHEME, "s3", "us-east-1", XACCT_ECONFIG, NULL},
    {"query in override", BAD_QUERY, "s3", "us-east-1", XACCT_ECONFIG, NULL},
    {"no scheme", NOT_URL, "s3", "us-east-1", XACCT_ECONFIG, NULL},
    {"dashed service env name", DASHED, "resource-groups", "us-east-1", 0, "https://rg.example"},
    {"bad region", NO_ENV, "sqs", "us-east-1/../x", XACCT_EINVAL, NULL},
    {"empty region", NO_ENV, "sqs", "", XACCT_EINVAL, NULL},
    {"bad service", NO_ENV, "SQS", "us-east-1", XACCT_EINVAL, NULL},
};

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(ROWS); i++) {
        const row_t *r = &ROWS[i];
        fake_env_t e = {r->env};
        char *out = (char *)"sentinel";
        int rc = xacct_endpoints_resolve(fake_getenv, &e, r->service, r->region, &out);
        if (rc != r->rc)
            fail_msg("%s: rc %d, want %d", r->name, rc, r->rc);
        if (r->want == NULL) {
            assert_null(out);
            continue;
        }
        if (strcmp(out, r->want) != 0)
            fail_msg("%s: got %s, want %s", r->name, out, r->want);
        free(out);
    }
}

static void test_signing_region(void **state)
{
    (void)state;
    assert_string_equal(xacct_endpoints_signing_region("iam", "eu-west-1"), "us-east-1");
    assert_string_equal(xacct_endpoints_signing_region("iam", "cn-north-1"), "cn-north-1");
    assert_string_equal(xacct_endpoints_signing_region("iam", "cn-northwest-1"), "cn-north-1");
    assert_string_equal(xacct_endpoints_signing_region("sts", "eu-west-1"), "eu-west-1");
}

static void test_s3_path_style(void **state)
{
    (void)state;
    fake_env_t none = {NO_ENV};
    char *url = NULL;
    assert_int_equal(xacct_endpoints_s3_url(fake_getenv, &none, "eu-west-1", "my-bucket",
                                      "templates/123456789012 v1.json", &url), 0);
    assert_string_equal(url, "https://s3.eu-west-1.amazonaws.com/my-bucket/"
                             "templates/123456789012%20v1.json");
    free(url);

    const char *const s3env[] = {"AWS_ENDPOINT_URL_S3", "https://127.0.0.1:4443/", NULL};
    fake_env_t e = {s3env};
    assert_int_equal(xacct_endpoints_s3_url(fake_getenv, &e, "us-east-1", "b.example", "a/b+c", &url),
                     0);
    assert_string_equal(url, "https://127.0.0.1:4443/b.example/a/b%2Bc");
    free(url);

    assert_int_equal(xacct_endpoints_s3_url(fake_getenv, &none, "us-east-1", "Bad_Bucket", "k", &url),
                     XACCT_EINVAL);
    assert_null(url);
    assert_int_equal(xacct_endpoints_s3_url(fake_getenv, &none, "us-east-1", "ok-bucket", "", &url),
                     XACCT_EINVAL);
}

static void test_region_from_env(void **state)
{
    (void)state;
    const char *const both[] = {"AWS_REGION", "eu-west-3", "AWS_DEFAULT_REGION", "us-west-1",
                                NULL};
    const char *const dflt[] = {"AWS_REGION", "", "AWS_DEFAULT_REGION", "us-west-1", NULL};
    fake_env_t e1 = {both}, e2 = {dflt}, e3 = {NO_ENV};
    assert_string_equal(xacct_endpoints_region_from_env(fake_getenv, &e1), "eu-west-3");
    assert_string_equal(xacct_endpoints_region_from_env(fake_getenv, &e2), "us-west-1");
    assert_null(xacct_endpoints_region_from_env(fake_getenv, &e3));
}

/* An override accepted once is not parsed again; whatever comes between
 * is still checked on its own, and the accepted one keeps resolving. */
static void test_override_repeated(void **state)
{
    (void)state;
    const char *const good[] = {"AWS_ENDPOINT_URL", "https://127.0.0.1:4443/", NULL};
    const char *const empty[] = {"AWS_ENDPOINT_URL", "", NULL};
    fake_env_t g = {good}, b = {BAD_QUERY}, n = {NOT_URL}, z = {empty};
    char *out = NULL;
    for (int round = 0; round < 3; round++) {
        assert_int_equal(xacct_endpoints_resolve(fake_getenv, &g, "sts", "us-east-1", &out), 0);
        assert_string_equal(out, "https://127.0.0.1:4443");
        free(out);
        assert_int_equal(xacct_endpoints_resolve(fake_getenv, &b, "sts", "us-east-1", &out),
                         XACCT_ECONFIG);
        assert_null(out);
        assert_int_equal(xacct_endpoints_resolve(fake_getenv, &n, "sts", "us-east-1", &out),
                         XACCT_ECONFIG);
        assert_null(out);
    }
    /* An empty override is no override, not the one accepted last. */
    assert_int_equal(xacct_endpoints_resolve(fake_getenv, &z, "sqs", "us-east-1", &out), 0);
    assert_string_equal(out, "https://sqs.us-east-1.amazonaws.com");
    free(out);
}

static void test_unsupported_variants(void **state)
{
    (void)state;
    static const char *const none[] = {NULL};
    static const char *const fips_bare[] = {"AWS_USE_FIPS_ENDPOINT", "TRUE", NULL};
    static const char *const fips_false[] = {"AWS_USE_FIPS_ENDPOINT", "false", NULL};
    static const char *const dual_some[] = {"AWS_USE_DUALSTACK_ENDPOINT", "true",
                                            "AWS_ENDPOINT_URL_SQS", "https://a.example",
                                            "AWS_ENDPOINT_URL_STS", "https://b.example", NULL};
    static const char *const fips_all[] = {
        "AWS_USE_FIPS_ENDPOINT", "true", "AWS_ENDPOINT_URL_SQS", "https://sqs-fips.example",
        "AWS_ENDPOINT_URL", "https://fips.example", NULL};
    static const char *const fips_ignored[] = {
        "AWS_USE_FIPS_ENDPOINT", "true", "AWS_ENDPOINT_URL", "https://fips.example",
        "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true", NULL};
    fake_env_t e = {none};
    assert_null(xacct_endpoints_unsupported_variant(fake_getenv, &e));
    e.pairs = fips_bare;
    assert_string_equal(xacct_endpoints_unsupported_variant(fake_getenv, &e),
                        "AWS_USE_FIPS_ENDPOINT");
    e.pairs = fips_false;
    assert_null(xacct_endpoints_unsupported_variant(fake_getenv, &e));
    e.pairs = dual_some;
    assert_string_equal(xacct_endpoints_unsupported_variant(fake_getenv, &e),
                        "AWS_USE_DUALSTACK_ENDPOINT");
    e.pairs = fips_all;
    assert_null(xacct_endpoints_unsupported_variant(fake_getenv, &e));
    e.pairs = fips_ignored;
    assert_string_equal(xacct_endpoints_unsupported_variant(fake_getenv, &e),
                        "AWS_USE_FIPS_ENDPOINT");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_signing_region),
        cmocka_unit_test(test_s3_path_style),
        cmocka_unit_test(test_region_from_env),
        cmocka_unit_test(test_override_repeated),
        cmocka_unit_test(test_unsupported_variants),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
