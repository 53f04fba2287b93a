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
#include <unistd.h>

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

/* The shared config file's endpoint settings ("Service-specific endpoints"
 * in the SDKs and Tools reference guide): AWS_ENDPOINT_URL_<SERVICE> >
 * AWS_ENDPOINT_URL > the profile's [services NAME] entry > the profile's
 * endpoint_url; ignore_configured_endpoint_urls from the environment, else
 * the profile, switches them all off. */
static const char PROFILE_CONFIG[] =
    "[default]\n"
    "endpoint_url = https://global.profile.example\n"
    "services = local\n"
    "[profile plain]\n"
    "endpoint_url = https://plain.profile.example/base/\n"
    "[profile ignoring]\n"
    "endpoint_url = https://global.profile.example\n"
    "ignore_configured_endpoint_urls = true\n"
    "[services local]\n"
    "endpoint_url = https://not-for-a-service.example\n"
    "sqs =\n"
    "  endpoint_url = https://sqs.profile.example:8443\n"
    "  region = ignored\n"
    "S3 =\n"
    "  endpoint_url = http://127.0.0.1:9000\n"
    "[services unused]\n"
    "sts =\n"
    "  endpoint_url = https://wrong.example\n"
    "[profile broken]\n"
    "endpoint_url = https://user:secret@host.example\n"
    "[profile broken-service]\n"
    "services = bad\n"
    "[services bad]\n"
    "sns =\n"
    "  endpoint_url = not a url\n";

static char *resolve_with(xacct_endpoints_profile_t *p, const char *service)
{
    char *url = NULL;
    int rc = xacct_endpoints_resolve(xacct_endpoints_profile_getenv, p, service, "eu-west-1",
                                     &url);
    assert_int_equal(rc, 0);
    return url;
}

static void expect(xacct_endpoints_profile_t *p, const char *service, const char *want)
{
    char *url = resolve_with(p, service);
    assert_string_equal(url, want);
    free(url);
}

static xacct_endpoints_profile_t *profile_over(fake_env_t *e, char *err, size_t errlen, int want)
{
    xacct_endpoints_profile_t *p = NULL;
    assert_int_equal(xacct_endpoints_profile_new(fake_getenv, e, &p, err, errlen), want);
    return p;
}

static void test_profile_endpoints(void **state)
{
    (void)state;
    char path[] = "/tmp/xacct-aws-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, PROFILE_CONFIG, strlen(PROFILE_CONFIG)),
                     (ssize_t)strlen(PROFILE_CONFIG));
    close(fd);
    char err[256];

    /* default: the services section, then the profile's endpoint_url. */
    const char *const dflt[] = {"AWS_CONFIG_FILE", path, NULL};
    fake_env_t e = {dflt};
    xacct_endpoints_profile_t *p = profile_over(&e, err, sizeof(err), 0);
    expect(p, "sqs", "https://sqs.profile.example:8443");
    expect(p, "s3", "http://127.0.0.1:9000");
    expect(p, "sts", "https://global.profile.example");
    expect(p, "sns", "https://global.profile.example");
    assert_null(xacct_endpoints_unsupported_variant(xacct_endpoints_profile_getenv, p));
    xacct_endpoints_profile_free(p);

    /* The environment comes first: per service, then global. */
    const char *const env_global[] = {"AWS_CONFIG_FILE", path,
                                      "AWS_ENDPOINT_URL", "https://global.env.example", NULL};
    e.pairs = env_global;
    p = profile_over(&e, err, sizeof(err), 0);
    expect(p, "sqs", "https://global.env.example");
    expect(p, "sts", "https://global.env.example");
    xacct_endpoints_profile_free(p);
    const char *const env_sts[] = {"AWS_CONFIG_FILE", path,
                                   "AWS_ENDPOINT_URL_STS", "https://sts.env.example", NULL};
    e.pairs = env_sts;
    p = profile_over(&e, err, sizeof(err), 0);
    expect(p, "sts", "https://sts.env.example");
    expect(p, "sqs", "https://sqs.profile.example:8443");
    expect(p, "sns", "https://global.profile.example");
    xacct_endpoints_profile_free(p);

    /* Another profile: its own endpoint_url, no services. */
    const char *const plain[] = {"AWS_CONFIG_FILE", path, "AWS_PROFILE", "plain", NULL};
    e.pairs = plain;
    p = profile_over(&e, err, sizeof(err), 0);
    expect(p, "sqs", "https://plain.profile.example/base");
    expect(p, "s3", "https://plain.profile.example/base");
    xacct_endpoints_profile_free(p);

    /* ignore_configured_endpoint_urls: the profile's, unless the
     * environment says otherwise; the environment's switches off both. */
    const char *const ignoring[] = {"AWS_CONFIG_FILE", path, "AWS_PROFILE", "ignoring",
                                    "AWS_ENDPOINT_URL", "https://global.env.example", NULL};
    e.pairs = ignoring;
    p = profile_over(&e, err, sizeof(err), 0);
    expect(p, "sqs", "https://sqs.eu-west-1.amazonaws.com");
    xacct_endpoints_profile_free(p);
    const char *const not_ignoring[] = {"AWS_CONFIG_FILE", path, "AWS_PROFILE", "ignoring",
                                        "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "false", NULL};
    e.pairs = not_ignoring;
    p = profile_over(&e, err, sizeof(err), 0);
    expect(p, "sqs", "https://global.profile.example");
    xacct_endpoints_profile_free(p);
    const char *const env_ignores[] = {"AWS_CONFIG_FILE", path,
                                       "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "TRUE", NULL};
    e.pairs = env_ignores;
    p = profile_over(&e, err, sizeof(err), 0);
    expect(p, "sqs", "https://sqs.eu-west-1.amazonaws.com");
    expect(p, "sts", "https://sts.eu-west-1.amazonaws.com");
    xacct_endpoints_profile_free(p);

    /* Bad URLs stop the start, naming the setting and never the secret. */
    const char *const broken[] = {"AWS_CONFIG_FILE", path, "AWS_PROFILE", "broken", NULL};
    e.pairs = broken;
    assert_null(profile_over(&e, err, sizeof(err), XACCT_ECONFIG));
    assert_non_null(strstr(err, "profile broken: endpoint_url"));
    assert_null(strstr(err, "secret"));
    const char *const broken_service[] = {"AWS_CONFIG_FILE", path, "AWS_PROFILE",
                                          "broken-service", NULL};
    e.pairs = broken_service;
    assert_null(profile_over(&e, err, sizeof(err), XACCT_ECONFIG));
    assert_non_null(strstr(err, "[services bad] sns endpoint_url"));

    /* The process environment never answers the profile's names. */
    assert_null(xacct_endpoints_getenv(XACCT_ENDPOINTS_PROFILE_PREFIX "endpoint_url", NULL));
    unlink(path);
}

/* Credentials in an endpoint URL would go out as Basic auth and into logs. */
static void test_override_with_credentials(void **state)
{
    (void)state;
    const char *const userinfo[] = {"AWS_ENDPOINT_URL", "https://user:pw@sqs.example", NULL};
    const char *const user_only[] = {"AWS_ENDPOINT_URL_SQS", "https://user@sqs.example", NULL};
    fake_env_t e = {userinfo};
    char *url = NULL;
    assert_int_equal(xacct_endpoints_resolve(fake_getenv, &e, "sqs", "us-east-1", &url),
                     XACCT_ECONFIG);
    assert_null(url);
    e.pairs = user_only;
    assert_int_equal(xacct_endpoints_resolve(fake_getenv, &e, "sqs", "us-east-1", &url),
                     XACCT_ECONFIG);
    assert_false(xacct_endpoints_url_ok("https://a:b@x.example"));
    assert_true(xacct_endpoints_url_ok("https://x.example:8443/p"));
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
        cmocka_unit_test(test_profile_endpoints),
        cmocka_unit_test(test_override_with_credentials),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
